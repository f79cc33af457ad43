//! [`Settings`]: the typed form of `mailu.toml`, the global settings Mailu keeps in `mailu.env`,
//! grouped in tables, plus mailu-git's own `[debounce]`, `[history]` and `[monitoring]`.
//!
//! Every key has Mailu's default (the value a fresh Mailu install gets) and a one-line doc that
//! `config-repo-template/mailu.toml` repeats. `docs/settings.md` maps every Mailu setting to a key
//! here, or says why it is dropped or derived. Not here: secrets (the secret key, the relay password,
//! the reCAPTCHA private key live encrypted under fixed names, see [`secrets`]), values derived from
//! these settings (methods on [`Settings`]), and rules that need other files (the loader's job).

pub mod mail;
pub mod monitoring;
pub mod network;
pub mod operation;
pub mod value;
pub mod web;

pub use mail::{Compression, Mail, Mailbox, Outbound, OutboundTlsLevel};
pub use monitoring::Monitoring;
pub use network::{Auth, Network, ProxyProtocol};
pub use operation::{
    Antispam, AntivirusAction, Debounce, Dkim, Dmarc, Fetchmail, History, LogLevel, System, Welcome,
};
pub use value::{Cidr, HumanDuration, Rate, RateUnit, SenderMatch};
pub use web::{Antivirus, Features, Tls, TlsFlavor, Web, Webdav, Webmail};

use crate::model::{DomainName, Email, FileType, Problem};
use serde::{Deserialize, Serialize};

/// The only format this version of mailu-git reads and writes.
pub const FORMAT: u32 = 1;

/// The whole of `mailu.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Version of this file's layout; mailu-git migrates older ones. Required.
    pub format: u32,
    #[serde(default)]
    pub mail: Mail,
    #[serde(default)]
    pub mailbox: Mailbox,
    #[serde(default)]
    pub outbound: Outbound,
    #[serde(default)]
    pub network: Network,
    #[serde(default)]
    pub tls: Tls,
    #[serde(default)]
    pub features: Features,
    #[serde(default)]
    pub web: Web,
    #[serde(default)]
    pub auth: Auth,
    #[serde(default)]
    pub antispam: Antispam,
    #[serde(default)]
    pub fetchmail: Fetchmail,
    #[serde(default)]
    pub dmarc: Dmarc,
    #[serde(default)]
    pub welcome: Welcome,
    #[serde(default)]
    pub dkim: Dkim,
    #[serde(default)]
    pub system: System,
    #[serde(default)]
    pub debounce: Debounce,
    #[serde(default)]
    pub history: History,
    #[serde(default)]
    pub monitoring: Monitoring,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            format: FORMAT,
            mail: Mail::default(),
            mailbox: Mailbox::default(),
            outbound: Outbound::default(),
            network: Network::default(),
            tls: Tls::default(),
            features: Features::default(),
            web: Web::default(),
            auth: Auth::default(),
            antispam: Antispam::default(),
            fetchmail: Fetchmail::default(),
            dmarc: Dmarc::default(),
            welcome: Welcome::default(),
            dkim: Dkim::default(),
            system: System::default(),
            debounce: Debounce::default(),
            history: History::default(),
            monitoring: Monitoring::default(),
        }
    }
}

/// Why a `format` above [`FORMAT`] is refused: a newer mailu-git wrote it, and only a newer one
/// reads it (this one would half-understand it).
pub fn newer_format(found: u32) -> String {
    format!(
        "format {found} was made by a newer mailu-git; this mailu-git reads format {FORMAT}: \
         upgrade mailu-git"
    )
}

/// Why a `format` below [`FORMAT`] is refused in a push or a write: the server upgrades main's
/// format once, at the start of a newer mailu-git (`model::migrate`); a tree of an older format
/// arriving later was made before that upgrade and would half-mean something else now.
pub fn older_format(found: u32) -> String {
    format!(
        "format {found} is older than format {FORMAT}, which this mailu-git reads and main has: \
         main was upgraded when this mailu-git first started; make your change on main as it is \
         now (`git pull`, keep `format = {FORMAT}`)"
    )
}

impl FileType for Settings {
    fn validate(&self, problems: &mut Vec<Problem>) {
        if self.format > FORMAT {
            problems.push(Problem::new("format", newer_format(self.format)));
        } else if self.format != FORMAT {
            problems.push(Problem::new("format", older_format(self.format)));
        }
        self.mail.validate(problems);
        self.mailbox.validate(problems);
        self.outbound.validate(problems);
        self.network.validate(problems);
        self.features.validate(problems);
        self.tls.validate(problems);
        self.web.validate(problems);
        self.auth.validate(problems);
        self.antispam.validate(problems);
        self.fetchmail.validate(problems);
        self.welcome.validate(problems);
        self.dkim.validate(problems);
        self.system.validate(problems);
        self.debounce.validate(problems);
        self.history.validate(problems);
        self.monitoring.validate(problems);
        // Rules across groups of this one file.
        check(
            problems,
            self.features.webmail != Webmail::None
                || self.web.webroot_redirect != self.web.webmail_path,
            "web.webroot_redirect",
            "redirects to webmail, but `features.webmail` is \"none\"",
        );
        check(
            problems,
            self.features.webmail == Webmail::Roundcube || self.web.roundcube_plugins.is_none(),
            "web.roundcube_plugins",
            "is set but `features.webmail` is not \"roundcube\"",
        );
    }
}

impl Settings {
    /// The primary host name (Mailu's `HOSTNAME`): the first of `mail.hostnames`.
    pub fn hostname(&self) -> Option<&DomainName> {
        self.mail.hostnames.first()
    }

    /// The postmaster's address.
    pub fn postmaster(&self) -> Email {
        Email {
            local: self.mail.postmaster.clone(),
            domain: self.mail.domain.clone(),
        }
    }

    /// Whether the front does TLS at all (every flavor but `notls`).
    pub fn tls_enabled(&self) -> bool {
        self.tls.flavor != TlsFlavor::Notls
    }

    /// Whether the web admin's session cookie is `Secure` (Mailu's SESSION_COOKIE_SECURE "auto"):
    /// only when the browser reaches us over HTTPS, which `notls`, `mail` and `mail-letsencrypt` don't.
    pub fn session_cookie_secure(&self) -> bool {
        matches!(self.tls.flavor, TlsFlavor::Cert | TlsFlavor::Letsencrypt)
    }

    /// Mailu's `PORT_<port>`: whether the front listens on `port`.
    pub fn port_open(&self, port: u16) -> bool {
        self.network.port_open(port, self.tls_enabled())
    }

    /// Mailu's `TLS_<port>`: whether `port` speaks TLS from the first byte.
    pub fn port_tls(&self, port: u16) -> bool {
        self.network.port_tls(port, self.tls_enabled())
    }

    /// nginx `client_max_body_size`, in bytes: the message limit plus 8 MiB for encoding overhead.
    pub fn http_body_limit(&self) -> u64 {
        self.mail.message_size_limit.saturating_add(8 * 1024 * 1024)
    }

    /// Webmail's `MAX_FILESIZE` in MiB: about two thirds of the message limit, since base64 makes an
    /// attachment a third larger (Mailu's `int(limit * 0.66 / 1048576)`).
    pub fn webmail_max_filesize_mib(&self) -> u64 {
        self.mail.message_size_limit.saturating_mul(66) / 100 / 1_048_576
    }

    /// The DMARC aggregate and failure report addresses, at `mail.domain`.
    pub fn dmarc_addresses(&self) -> (Option<Email>, Option<Email>) {
        let at = |l: &Option<crate::model::Localpart>| {
            l.as_ref().map(|local| Email {
                local: local.clone(),
                domain: self.mail.domain.clone(),
            })
        };
        (at(&self.dmarc.rua), at(&self.dmarc.ruf))
    }
}

/// The secrets behind settings. They are never values in `mailu.toml`: each lives encrypted at a
/// fixed name, `secrets/settings/<name>`, so an operator sets one with `mailu-git secret encrypt
/// settings <name>` and a clone of the repository never shows it.
pub mod secrets {
    use crate::model::SecretRef;

    /// Mailu's `SECRET_KEY`: signs web sessions and SRS addresses; per-service keys are derived from
    /// it. Generated at first run.
    pub fn secret_key() -> SecretRef {
        SecretRef::new("settings", "secret_key").expect("a valid constant secret name")
    }

    /// Roundcube's `des_key` (Mailu's `ROUNDCUBE_KEY`): encrypts IMAP passwords in webmail sessions.
    /// Generated at first run.
    pub fn roundcube_key() -> SecretRef {
        SecretRef::new("webmail", "roundcube_key").expect("a valid constant secret name")
    }

    /// The secrets the server generates when they are missing, with their length in hex digits.
    pub fn generated() -> [(SecretRef, usize); 2] {
        [(secret_key(), 64), (roundcube_key(), 32)]
    }

    /// Mailu's `RELAYPASSWORD`: the password for `outbound.relay_user`.
    pub fn relay_password() -> SecretRef {
        SecretRef::new("settings", "relay_password").expect("a valid constant secret name")
    }

    /// Mailu's `RECAPTCHA_PRIVATE_KEY`, paired with `web.recaptcha_public_key`.
    pub fn recaptcha_private_key() -> SecretRef {
        SecretRef::new("settings", "recaptcha_private_key").expect("a valid constant secret name")
    }
}

/// Records a problem at `field` unless `ok`.
fn check(problems: &mut Vec<Problem>, ok: bool, field: &str, message: &str) {
    if !ok {
        problems.push(Problem::new(field, message));
    }
}

#[cfg(test)]
#[path = "settings/tests.rs"]
mod tests;
