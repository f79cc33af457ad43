//! `relays/<domain>.toml`: one relayed domain, and [`Target`], Mailu's grammar for where its mail
//! goes: `host`, `host:port`, `[host]:port`, `mx:host`, `lmtp:host:port`, or empty for the MX of the
//! domain itself. Parsed once here, so rendering the postfix transport never meets a bad target.

use std::fmt;

use super::domain::check_comment;
use super::{DomainName, FileType, Problem};

/// A relayed domain (Mailu's `relay` table).
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Relay {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub comment: String,
    /// Where mail for the domain goes; absent or empty means the domain's MX.
    #[serde(skip_serializing_if = "Target::is_domain_mx")]
    pub smtp: Target,
}

impl FileType for Relay {
    fn validate(&self, problems: &mut Vec<Problem>) {
        check_comment(&self.comment, "comment", problems);
    }
}

/// Where relayed mail goes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Target {
    /// Empty: look up the MX of the relayed domain itself.
    #[default]
    DomainMx,
    /// `mx:host[:port]`: look up the MX records of `host`.
    Mx { host: Host, port: Option<u16> },
    /// `host`, `host:port`, `[host]:port`: this host, no MX lookup.
    Smtp { host: Host, port: Option<u16> },
    /// `lmtp:host:port` (or `lmtp:[host]:port`): deliver by LMTP.
    Lmtp { host: Host, port: Option<u16> },
}

/// A host of a relay target: a host name (lower-case ASCII, punycode; one label is allowed, for a
/// container name) or an IP address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Name(String),
    Ip(std::net::IpAddr),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => write!(f, "{n}"),
            Host::Ip(std::net::IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

impl Target {
    /// Parses Mailu's relay target grammar (case-insensitive, as Mailu lower-cases it).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let fail = |why: &str| format!("`{raw}` is not a relay target: {why}");
        let lower = raw.trim().to_lowercase();
        if lower.is_empty() {
            return Ok(Target::DomainMx);
        }
        let (kind, rest) = if let Some(rest) = lower.strip_prefix("mx:") {
            ("mx", rest)
        } else if let Some(rest) = lower.strip_prefix("lmtp:") {
            ("lmtp", rest)
        } else {
            ("smtp", lower.as_str())
        };
        let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
            if kind == "mx" {
                return Err(fail("`mx:` and `[host]` exclude each other"));
            }
            let (host, after) = inner
                .split_once(']')
                .ok_or_else(|| fail("`[` without `]`"))?;
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| fail("expected `:port` after `]`"))?,
                ),
            };
            (host, port)
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            }
        };
        let port = port
            .map(|p| {
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| fail("the port must be a number from 1 to 65535"))
            })
            .transpose()?;
        if host.is_empty() {
            return Err(fail("the host is missing"));
        }
        let host = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => Host::Ip(ip),
            Err(_) => Host::Name(host_name(host).ok_or_else(|| fail("invalid host name"))?),
        };
        Ok(match kind {
            "mx" => Target::Mx { host, port },
            "lmtp" => {
                if port.is_none() {
                    return Err(fail("`lmtp:` needs a port (`lmtp:host:port`)"));
                }
                Target::Lmtp { host, port }
            }
            _ => Target::Smtp { host, port },
        })
    }

    pub fn is_domain_mx(&self) -> bool {
        *self == Target::DomainMx
    }

    /// The postfix transport for mail to `relay` (`smtp:[host]:port`, `smtp:domain`, `lmtp:...`),
    /// as Mailu's `/internal/postfix/transport` answers it.
    pub fn postfix_transport(&self, relay: &DomainName) -> String {
        let suffix = |port: &Option<u16>| port.map(|p| format!(":{p}")).unwrap_or_default();
        match self {
            Target::DomainMx => format!("smtp:{relay}"),
            Target::Mx { host, port } => format!("smtp:{host}{}", suffix(port)),
            Target::Smtp { host, port } => match host {
                Host::Ip(std::net::IpAddr::V6(_)) => format!("smtp:{host}{}", suffix(port)),
                _ => format!("smtp:[{host}]{}", suffix(port)),
            },
            Target::Lmtp { host, port } => format!("lmtp:{host}{}", suffix(port)),
        }
    }
}

/// A host name in ASCII form: labels of `a-z`, `0-9` and `-`, not starting or ending with `-`.
fn host_name(raw: &str) -> Option<String> {
    let ascii = idna::domain_to_ascii_strict(raw).ok()?.to_ascii_lowercase();
    let ok = !ascii.is_empty()
        && ascii.len() <= 253
        && ascii.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    ok.then_some(ascii)
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let port = |p: &Option<u16>| p.map(|p| format!(":{p}")).unwrap_or_default();
        match self {
            Target::DomainMx => Ok(()),
            Target::Mx { host, port: p } => write!(f, "mx:{host}{}", port(p)),
            Target::Smtp { host, port: p } => write!(f, "{host}{}", port(p)),
            Target::Lmtp { host, port: p } => write!(f, "lmtp:{host}{}", port(p)),
        }
    }
}

impl serde::Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Target {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Target::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::toml_file::parse;

    fn relay() -> DomainName {
        DomainName::parse("relayed.example").unwrap()
    }

    #[test]
    fn grammar_and_transports() {
        for (raw, transport) in [
            ("", "smtp:relayed.example"),
            ("mail.example.com", "smtp:[mail.example.com]"),
            ("Mail.Example.com:2525", "smtp:[mail.example.com]:2525"),
            ("[mail.example.com]:25", "smtp:[mail.example.com]:25"),
            ("[2001:db8::1]:25", "smtp:[2001:db8::1]:25"),
            ("mx:example.com", "smtp:example.com"),
            ("lmtp:imap:2525", "lmtp:imap:2525"),
        ] {
            let target = Target::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(target.postfix_transport(&relay()), transport, "{raw}");
            let again = Target::parse(&target.to_string()).unwrap();
            assert_eq!(again, target, "{raw} does not round-trip");
        }
    }

    #[test]
    fn bad_targets_are_refused() {
        for bad in [
            "mx:[host]:25",
            "[host",
            "[host]x",
            "host:port",
            "host:0",
            "host:70000",
            "lmtp:host",
            ":25",
            "bad host",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn relay_file_reports_target_line() {
        let err = parse::<Relay>(
            "relays/r.example.toml",
            "comment = \"c\"\nsmtp = \"mx:[h]\"\n",
        )
        .unwrap_err();
        assert_eq!(err[0].line, Some(2));
        assert_eq!(err[0].field.as_deref(), Some("smtp"));
    }
}
