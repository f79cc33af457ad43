//! The mail groups of `mailu.toml`: `[mail]` (identity and SMTP policy), `[mailbox]` (storage and
//! search, dovecot) and `[outbound]` (the relay host and outgoing TLS, postfix). Only in-file rules
//! live here; whether a secret exists is checked by the loader against the tree.

use super::check;
use super::value::{Rate, RateUnit, SenderMatch};
use crate::model::{DomainName, Email, Localpart, Problem};
use serde::{Deserialize, Serialize};

/// `[mail]`: who this server is and what it accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mail {
    /// The main mail domain (postfix `mydomain`, the postmaster's domain, DMARC report addresses).
    pub domain: DomainName,
    /// This server's host names; the first is the primary one (banners, certificates, MX checks).
    pub hostnames: Vec<DomainName>,
    /// Localpart of the postmaster address, at `mail.domain`.
    pub postmaster: Localpart,
    /// Largest message accepted, in bytes (SMTP SIZE; web uploads get 8 MiB more, webmail attachments ~66%).
    pub message_size_limit: u64,
    /// Messages one authenticated sender may send, `COUNT/UNIT`.
    pub message_ratelimit: Rate,
    /// Senders (addresses, or whole domains) exempt from `message_ratelimit`.
    pub message_ratelimit_exemption: Vec<SenderMatch>,
    /// Characters that start an address extension (`user+tag@`); empty turns extensions off.
    pub recipient_delimiter: String,
    /// Users who may send with any sender address.
    pub wildcard_senders: Vec<Email>,
    /// Refuse mail for unknown recipients during the SMTP dialogue instead of bouncing it later.
    pub reject_unlisted_recipient: bool,
    /// Require STARTTLS from servers that deliver to us on port 25.
    pub inbound_tls_enforce: bool,
}

impl Default for Mail {
    fn default() -> Self {
        Mail {
            domain: DomainName::parse("example.com").expect("a valid constant domain"),
            hostnames: vec![
                DomainName::parse("mail.example.com").expect("a valid constant domain"),
            ],
            postmaster: Localpart::parse("postmaster").expect("a valid constant localpart"),
            message_size_limit: 50_000_000,
            message_ratelimit: Rate {
                count: 200,
                per: RateUnit::Day,
            },
            message_ratelimit_exemption: Vec::new(),
            recipient_delimiter: "+".into(),
            wildcard_senders: Vec::new(),
            reject_unlisted_recipient: false,
            inbound_tls_enforce: false,
        }
    }
}

/// The template's example domain: a configuration still on it (or on a name under it) is not
/// deployable (`Mail::placeholders`).
pub const EXAMPLE_DOMAIN: &str = "example.com";

/// Whether `name` is the template's example domain or a name under it.
pub fn is_example(name: &DomainName) -> bool {
    let name = name.as_str();
    name == EXAMPLE_DOMAIN || name.ends_with(&format!(".{EXAMPLE_DOMAIN}"))
}

impl Mail {
    /// The fields still on the template's example values (`example.com`, `mail.example.com`): a
    /// configuration with any is never deployed, so a stack never announces itself as someone
    /// else's domain. Empty when the identity is real.
    pub fn placeholders(&self) -> Vec<Problem> {
        let mut found = Vec::new();
        if is_example(&self.domain) {
            found.push(Problem::new(
                "mail.domain",
                format!(
                    "is still the template's example `{}`: run `mailu-git init` or set your mail domain",
                    self.domain
                ),
            ));
        }
        if let Some(name) = self.hostnames.iter().find(|h| is_example(h)) {
            found.push(Problem::new(
                "mail.hostnames",
                format!("holds the template's example `{name}`: set this server's host names"),
            ));
        }
        found
    }

    pub(super) fn validate(&self, problems: &mut Vec<Problem>) {
        check(
            problems,
            !self.hostnames.is_empty(),
            "mail.hostnames",
            "needs at least one host name (the first is the primary one)",
        );
        for (i, name) in self.hostnames.iter().enumerate() {
            if self.hostnames[..i].contains(name) {
                problems.push(Problem::new(
                    format!("mail.hostnames.{i}"),
                    format!("`{name}` is listed twice"),
                ));
            }
        }
        check(
            problems,
            self.message_size_limit > 0,
            "mail.message_size_limit",
            "must be more than 0 bytes",
        );
        check(
            problems,
            self.message_ratelimit.count > 0,
            "mail.message_ratelimit",
            "a count of 0 would refuse every message; write a large count to lift the limit",
        );
        if let Some(bad) = self.recipient_delimiter.chars().find(|c| {
            c.is_alphanumeric()
                || c.is_whitespace()
                || matches!(c, '@' | '.' | '%' | '_' | '"' | ',')
        }) {
            problems.push(Problem::new(
                "mail.recipient_delimiter",
                format!("`{bad}` cannot be a delimiter (letters, digits, spaces, `@ . % _ \" ,` are refused)"),
            ));
        }
    }
}

/// How dovecot compresses stored mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gz,
    Bz2,
    Lz4,
    Zstd,
}

/// `[mailbox]`: storage and search (dovecot).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mailbox {
    /// Quota of a new user, in bytes.
    pub default_quota_bytes: u64,
    /// Compression of stored mail: "none", "gz", "bz2", "lz4" or "zstd".
    pub compression: Compression,
    /// Compression level, 1 (fast) to 9 (small).
    pub compression_level: u8,
    /// Full-text search languages, comma-separated (e.g. "en,de"), or "off".
    pub full_text_search: String,
    /// Also index attachments (runs the tika service).
    pub full_text_search_attachments: bool,
}

impl Default for Mailbox {
    fn default() -> Self {
        Mailbox {
            default_quota_bytes: 1_000_000_000,
            compression: Compression::None,
            compression_level: 6,
            full_text_search: "en".into(),
            full_text_search_attachments: false,
        }
    }
}

impl Mailbox {
    pub(super) fn validate(&self, problems: &mut Vec<Problem>) {
        check(
            problems,
            (1..=9).contains(&self.compression_level),
            "mailbox.compression_level",
            "must be from 1 to 9",
        );
        let fts = self.full_text_search.as_str();
        let languages_ok = fts == "off"
            || fts.split(',').all(|l| {
                let l = l.trim();
                (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_lowercase())
            });
        check(
            problems,
            languages_ok,
            "mailbox.full_text_search",
            "must be \"off\" or language codes separated by commas, e.g. \"en,de\"",
        );
        check(
            problems,
            !(fts == "off" && self.full_text_search_attachments),
            "mailbox.full_text_search_attachments",
            "indexing attachments needs full-text search; it is \"off\"",
        );
    }
}

/// postfix `smtp_tls_security_level` for mail we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutboundTlsLevel {
    None,
    May,
    Encrypt,
    Dane,
    DaneOnly,
    Verify,
    Secure,
}

/// `[outbound]`: how mail leaves (postfix). The relay password is the secret `settings/relay_password`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Outbound {
    /// Send all outgoing mail through this host: "host" (MX lookup) or "[host]:port"; unset sends directly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay_host: Option<String>,
    /// Login at the relay host; its password is the secret `settings/relay_password`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay_user: Option<String>,
    /// TLS required for mail we send: "none", "may", "encrypt", "dane", "dane-only", "verify", "secure".
    pub tls_level: OutboundTlsLevel,
    /// Defer, rather than send in clear, when a TLS policy (DANE, MTA-STS) cannot be met.
    pub defer_on_tls_error: bool,
}

impl Default for Outbound {
    fn default() -> Self {
        Outbound {
            relay_host: None,
            relay_user: None,
            tls_level: OutboundTlsLevel::Dane,
            defer_on_tls_error: true,
        }
    }
}

impl Outbound {
    pub(super) fn validate(&self, problems: &mut Vec<Problem>) {
        if let Some(host) = &self.relay_host
            && let Err(reason) = relay_host(host)
        {
            problems.push(Problem::new("outbound.relay_host", reason));
        }
        if let Some(user) = &self.relay_user {
            check(
                problems,
                self.relay_host.is_some(),
                "outbound.relay_user",
                "is set but `outbound.relay_host` is not",
            );
            check(
                problems,
                !user.trim().is_empty() && !user.contains(char::is_whitespace),
                "outbound.relay_user",
                "must be a login without spaces",
            );
        }
    }
}

/// Checks postfix's `relayhost` grammar: `host`, `host:port`, `[host]` or `[host]:port`, where host
/// is a domain name or, in brackets, an IP address.
fn relay_host(text: &str) -> Result<(), String> {
    let (host, port, bracketed) = match text.strip_prefix('[') {
        Some(rest) => {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("`{text}` opens `[` but never closes it"))?;
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| format!("`{text}`: expected `:PORT` after `]`"))?,
                ),
            };
            (host, port, true)
        }
        None => match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port), false),
            None => (text, None, false),
        },
    };
    if let Some(port) = port {
        port.parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("`{text}`: port `{port}` is not a number from 1 to 65535"))?;
    }
    let is_ip = host.parse::<std::net::IpAddr>().is_ok();
    if is_ip && !bracketed {
        return Err(format!(
            "`{text}`: an IP address must be in brackets, `[{host}]`"
        ));
    }
    if !is_ip {
        DomainName::parse(host).map_err(|e| format!("`{text}`: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_host_grammar() {
        for ok in [
            "smtp.example.com",
            "[smtp.example.com]",
            "[smtp.example.com]:587",
            "smtp.example.com:25",
            "[192.0.2.1]:587",
            "[2001:db8::1]",
        ] {
            assert_eq!(relay_host(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "[smtp.example.com",
            "[smtp.example.com]587",
            "smtp.example.com:0",
            "smtp.example.com:x",
            "smtp",
            "192.0.2.1",
        ] {
            assert!(relay_host(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
