//! The web-facing groups of `mailu.toml`: `[features]` (which optional parts of the stack run),
//! `[tls]` (how the front terminates TLS) and `[web]` (paths, branding, sessions, sign-up).
//! Which service files must exist for a feature is a cross-file rule, checked by the loader.

use super::check;
use super::value::HumanDuration;
use crate::model::Problem;
use serde::{Deserialize, Serialize};

/// Which webmail runs, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Webmail {
    Roundcube,
    Snappymail,
    None,
}

/// Which CalDAV/CardDAV server runs, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Webdav {
    Radicale,
    None,
}

/// Which virus scanner runs, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Antivirus {
    Clamav,
    None,
}

/// `[features]`: the optional parts of the stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Features {
    /// Expose the web admin at `web.admin_path`.
    pub admin: bool,
    /// Expose the REST API at `web.api_path`.
    pub api: bool,
    /// Webmail: "roundcube" or "none" ("snappymail", Mailu's other choice, is not available).
    pub webmail: Webmail,
    /// Calendars and contacts: "radicale" or "none".
    pub webdav: Webdav,
    /// Virus scanning: "clamav" or "none".
    pub antivirus: Antivirus,
}

impl Default for Features {
    fn default() -> Self {
        Features {
            admin: true,
            api: false,
            webmail: Webmail::Roundcube,
            webdav: Webdav::None,
            antivirus: Antivirus::None,
        }
    }
}

impl Features {
    pub(super) fn validate(&self, problems: &mut Vec<Problem>) {
        // Mailu's value still parses, so an imported mailu.env gets this message rather than an
        // unknown-variant error; Debian bookworm has no snappymail package for the image.
        check(
            problems,
            self.webmail != Webmail::Snappymail,
            "features.webmail",
            "\"snappymail\" is not available in mailu-git (its image has Roundcube only); use \"roundcube\" or \"none\"",
        );
    }
}

/// How the front gets its certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsFlavor {
    /// A certificate the operator provides.
    Cert,
    /// A certificate from Let's Encrypt (ACME).
    Letsencrypt,
    /// No TLS at all (testing only): the TLS ports are closed.
    Notls,
    /// The operator's certificate for mail only; web is plain HTTP (behind another proxy).
    Mail,
    /// Let's Encrypt for mail only; web is plain HTTP (behind another proxy).
    MailLetsencrypt,
}

/// `[tls]`: TLS at the front.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tls {
    /// Certificate source: "cert", "letsencrypt", "notls", "mail" or "mail-letsencrypt".
    pub flavor: TlsFlavor,
    /// Also accept old TLS versions and ciphers from mail clients.
    pub permissive: bool,
    /// Ask Let's Encrypt for the short chain (drops the cross-signed root; old clients may fail).
    pub letsencrypt_shortchain: bool,
    /// With an ACME flavor, renew the certificate this many days before it expires.
    pub renew_before_days: u32,
}

impl Default for Tls {
    fn default() -> Self {
        Tls {
            flavor: TlsFlavor::Cert,
            permissive: true,
            letsencrypt_shortchain: false,
            renew_before_days: 30,
        }
    }
}

impl Tls {
    pub(super) fn validate(&self, problems: &mut Vec<Problem>) {
        let acme = matches!(
            self.flavor,
            TlsFlavor::Letsencrypt | TlsFlavor::MailLetsencrypt
        );
        check(
            problems,
            acme || !self.letsencrypt_shortchain,
            "tls.letsencrypt_shortchain",
            "only applies when `tls.flavor` is \"letsencrypt\" or \"mail-letsencrypt\"",
        );
        check(
            problems,
            (1..=365).contains(&self.renew_before_days),
            "tls.renew_before_days",
            "must be between 1 and 365 days",
        );
    }
}

/// `[web]`: the web front (nginx), the web admin and webmail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Web {
    /// URL path of the web admin.
    pub admin_path: String,
    /// URL path of webmail.
    pub webmail_path: String,
    /// URL path of the REST API.
    pub api_path: String,
    /// Where `/` redirects, e.g. "/webmail"; "" for no redirect, "none" to serve your own `/` via overrides.
    pub webroot_redirect: String,
    /// Name shown in the web admin and in DMARC reports.
    pub site_name: String,
    /// Link shown in the web admin.
    pub website: String,
    /// Image URL replacing the logo in the web admin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    /// CSS colour behind the logo, e.g. "#33AAFF".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_background: Option<String>,
    /// Idle time after which a web session ends.
    pub session_timeout: HumanDuration,
    /// Longest life of a "remember me" web session (also webmail's session lifetime).
    pub session_lifetime: HumanDuration,
    /// Let visitors register new domains.
    pub domain_registration: bool,
    /// reCAPTCHA site key for sign-up; its private key is the secret `settings/recaptcha_private_key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recaptcha_public_key: Option<String>,
    /// Roundcube plugins to load; unset loads Mailu's standard set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roundcube_plugins: Option<Vec<String>>,
}

impl Default for Web {
    fn default() -> Self {
        Web {
            admin_path: "/admin".into(),
            webmail_path: "/webmail".into(),
            api_path: "/api".into(),
            webroot_redirect: "/webmail".into(),
            site_name: "Mailu".into(),
            website: "https://mailu.io".into(),
            logo_url: None,
            logo_background: None,
            session_timeout: HumanDuration::from_secs(3600),
            session_lifetime: HumanDuration::from_secs(30 * 86_400),
            domain_registration: false,
            recaptcha_public_key: None,
            roundcube_plugins: None,
        }
    }
}

impl Web {
    pub(super) fn validate(&self, problems: &mut Vec<Problem>) {
        let paths = [
            ("web.admin_path", &self.admin_path),
            ("web.webmail_path", &self.webmail_path),
            ("web.api_path", &self.api_path),
        ];
        for (i, (field, path)) in paths.iter().enumerate() {
            if let Err(reason) = url_path(path) {
                problems.push(Problem::new(*field, reason));
            } else if let Some((other, _)) = paths[..i].iter().find(|(_, p)| p == path) {
                problems.push(Problem::new(*field, format!("`{path}` is also `{other}`")));
            }
        }
        let redirect = self.webroot_redirect.as_str();
        if !(redirect.is_empty() || redirect == "none")
            && let Err(reason) = url_path(redirect)
        {
            problems.push(Problem::new(
                "web.webroot_redirect",
                format!("{reason}, \"\" or \"none\""),
            ));
        }
        check(
            problems,
            !self.site_name.trim().is_empty(),
            "web.site_name",
            "cannot be empty",
        );
        check(
            problems,
            is_http_url(&self.website),
            "web.website",
            "must be an http:// or https:// URL",
        );
        if let Some(url) = &self.logo_url {
            check(
                problems,
                is_http_url(url),
                "web.logo_url",
                "must be an http:// or https:// URL",
            );
        }
        if let Some(colour) = &self.logo_background {
            let ok = !colour.is_empty()
                && colour
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '#');
            check(
                problems,
                ok,
                "web.logo_background",
                "must be a CSS colour such as \"#33AAFF\" or \"white\"",
            );
        }
        check(
            problems,
            !self.session_timeout.get().is_zero(),
            "web.session_timeout",
            "must be longer than 0s",
        );
        check(
            problems,
            self.session_lifetime >= self.session_timeout,
            "web.session_lifetime",
            "must not be shorter than `web.session_timeout`",
        );
        if let Some(key) = &self.recaptcha_public_key {
            check(
                problems,
                !key.trim().is_empty(),
                "web.recaptcha_public_key",
                "is empty; remove the key to turn reCAPTCHA off",
            );
        }
        for (i, plugin) in self.roundcube_plugins.iter().flatten().enumerate() {
            let ok = !plugin.is_empty()
                && plugin
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            check(
                problems,
                ok,
                &format!("web.roundcube_plugins.{i}"),
                "a plugin name is letters, digits, `_` and `-`",
            );
        }
    }
}

/// An absolute URL path without a trailing slash: `/admin`, `/mail/web`.
fn url_path(path: &str) -> Result<(), String> {
    let ok = path.len() > 1
        && path.starts_with('/')
        && !path.ends_with('/')
        && !path.contains("//")
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.~".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{path}` must be a path like \"/admin\" (starting with `/`, no trailing `/`, letters, digits, `-_.~`)"
        ))
    }
}

fn is_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.contains(char::is_whitespace))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems_of(features: &Features) -> Vec<Problem> {
        let mut problems = Vec::new();
        features.validate(&mut problems);
        problems
    }

    #[test]
    fn snappymail_is_refused_naming_the_key() {
        let features = Features {
            webmail: Webmail::Snappymail,
            ..Features::default()
        };
        let problems = problems_of(&features);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].field, "features.webmail");
        assert!(problems[0].message.contains("snappymail"), "{problems:?}");
        for webmail in [Webmail::Roundcube, Webmail::None] {
            let features = Features {
                webmail,
                ..Features::default()
            };
            assert_eq!(problems_of(&features), []);
        }
    }
}
