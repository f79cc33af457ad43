//! Access tokens: who may call the API, clone and push, and with which scope.
//!
//! Tokens are random (`mgit_` + 256 bits, base64url) and stored only as SHA-256 hashes in the data
//! directory (`access-tokens.json`), outside the repository. A high-entropy token needs no slow hash:
//! SHA-256 of 256 random bits cannot be brute-forced, and a hash lookup leaks nothing useful about
//! the stored tokens. Service tokens are not stored: they are derived from a server key and the
//! service's generation (`mgit_svc_<service>_<mac>`), so rotating one means bumping its generation.
//! Failed authentications are counted per client address and answered with "too many" (429) past a
//! limit, as Mailu does.
//!
//! These are not Mailu's `token` resource (users' mail app passwords), which lives in the model.

pub mod file;
pub mod ratelimit;

use std::fmt;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::model::ServiceName;

pub use file::{Entry, TokenFile};
pub use ratelimit::RateLimiter;

/// What a token may do.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Everything: the API, git clone and push, versioning.
    Admin,
    /// Read the API and clone; no writes, no secrets.
    Read,
    /// The deploy worker: read services and the deployed version, obtain service tokens, report status.
    Worker,
    /// One service's entrypoint: read that service's bundle, nothing else.
    Service(ServiceName),
}

/// What a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    Read,
    Write,
    Worker,
    Bundle(ServiceName),
}

impl Scope {
    pub fn parse(raw: &str) -> Result<Scope, Error> {
        match raw {
            "admin" => Ok(Scope::Admin),
            "read" => Ok(Scope::Read),
            "worker" => Ok(Scope::Worker),
            other => match other.strip_prefix("service:") {
                Some(name) => Ok(Scope::Service(
                    ServiceName::parse(name).map_err(|e| Error::BadScope(format!("{raw}: {e}")))?,
                )),
                None => Err(Error::BadScope(format!(
                    "`{raw}` is not a scope (admin, read, worker or service:<name>)"
                ))),
            },
        }
    }

    /// Whether a token of this scope may do what `need` asks.
    pub fn allows(&self, need: &Need) -> bool {
        match (self, need) {
            (Scope::Admin, _) => true,
            (Scope::Read, Need::Read) => true,
            (Scope::Worker, Need::Worker) => true,
            // Least privilege: containers fetch their own bundles with their service tokens (also
            // on a worker's `refresh`, which runs inside the container), so the worker never needs
            // one, and its token does not open every service's secrets.
            (Scope::Service(own), Need::Bundle(asked)) => own == asked,
            _ => false,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Admin => f.write_str("admin"),
            Scope::Read => f.write_str("read"),
            Scope::Worker => f.write_str("worker"),
            Scope::Service(name) => write!(f, "service:{name}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    BadScope(String),
    #[error("`{0}` is not a valid token name (1-64 printable characters, no newline)")]
    BadName(String),
    #[error("no access token named `{0}`")]
    NoSuchToken(String),
    #[error("an access token named `{0}` exists already")]
    Exists(String),
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid access-token file: {reason}")]
    Corrupt {
        path: std::path::PathBuf,
        reason: String,
    },
}

/// Who a request is, once its token was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's name: the author of the changes made with it.
    pub name: String,
    pub scope: Scope,
}

const PREFIX: &str = "mgit_";
const SERVICE_PREFIX: &str = "mgit_svc_";

/// A new random access token (the plaintext, shown once).
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The stored form of a token.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The token of `service` at `generation`, derived from the server's service key.
pub fn service_token(key: &[u8], service: &ServiceName, generation: u64) -> String {
    let mac = service_mac(key, service, generation);
    format!(
        "{SERVICE_PREFIX}{service}_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac)
    )
}

fn service_mac(key: &[u8], service: &ServiceName, generation: u64) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(format!("mailu-git service token\n{service}\n{generation}").as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Strips the optional `Bearer ` prefix of an `Authorization` header, as Mailu accepts both forms.
pub fn from_header(value: &str) -> &str {
    let value = value.trim();
    match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => value,
    }
}

impl TokenFile {
    /// Who holds `token`, if anyone.
    pub fn authenticate(&self, token: &str) -> Option<Caller> {
        if let Some(rest) = token.strip_prefix(SERVICE_PREFIX) {
            // Service names hold no `_`, while the base64url MAC may: split at the first one.
            let (name, mac) = rest.split_once('_')?;
            let service = ServiceName::parse(name).ok()?;
            let generation = self.service_generation(&service);
            let expected = service_token(self.service_key(), &service, generation);
            let given = format!("{SERVICE_PREFIX}{service}_{mac}");
            return constant_time_eq(expected.as_bytes(), given.as_bytes()).then(|| Caller {
                name: format!("service:{service}"),
                scope: Scope::Service(service),
            });
        }
        let hashed = hash(token);
        self.find_hash(&hashed).map(|e| Caller {
            name: e.name.clone(),
            scope: e.scope.clone(),
        })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_allow_what_the_design_says() {
        let smtp = ServiceName::parse("smtp").unwrap();
        let imap = ServiceName::parse("imap").unwrap();
        assert!(Scope::Admin.allows(&Need::Write));
        assert!(Scope::Read.allows(&Need::Read));
        assert!(!Scope::Read.allows(&Need::Write));
        assert!(!Scope::Read.allows(&Need::Bundle(smtp.clone())));
        assert!(Scope::Worker.allows(&Need::Worker));
        assert!(!Scope::Worker.allows(&Need::Write));
        assert!(!Scope::Worker.allows(&Need::Bundle(smtp.clone())));
        assert!(Scope::Admin.allows(&Need::Bundle(smtp.clone())));
        assert!(Scope::Service(smtp.clone()).allows(&Need::Bundle(smtp.clone())));
        assert!(!Scope::Service(smtp.clone()).allows(&Need::Bundle(imap)));
        assert!(!Scope::Service(smtp).allows(&Need::Read));
    }

    #[test]
    fn scope_parsing() {
        assert_eq!(
            Scope::parse("service:smtp").unwrap().to_string(),
            "service:smtp"
        );
        assert!(Scope::parse("root").is_err());
        assert!(Scope::parse("service:../x").is_err());
    }

    #[test]
    fn bearer_prefix_is_optional() {
        assert_eq!(from_header("Bearer abc"), "abc");
        assert_eq!(from_header("bearer  abc "), "abc");
        assert_eq!(from_header("abc"), "abc");
    }

    #[test]
    fn generated_tokens_are_distinct_and_prefixed() {
        let a = generate();
        assert!(a.starts_with(PREFIX));
        assert_ne!(a, generate());
        assert_eq!(hash(&a).len(), 64);
    }
}
