//! TLS certificates as part of the configuration (docs/tls.md). One certificate serves front, smtp
//! and imap: its chain is `certificates/cert.pem`, where it came from `certificates/cert.toml`, and
//! its private key the secret `secrets/tls/cert` (encrypted to the server's key like every secret).
//! All three change in one `Change` through the versioner, so a revert restores the previous
//! certificate with its key. The rendered `cert.pem` is the chain; the rendered `key.pem` is a
//! secret placeholder.
//!
//! `cert.rs` parses and checks chains and keys, `selfsigned.rs` makes the first certificate,
//! `acme.rs` obtains one from an ACME server (HTTP-01), `renew.rs` is the background task that keeps
//! it fresh, `status.rs` what the API and metrics show (renewal attempts live in memory: they are
//! not configuration).

pub mod acme;
pub mod cert;
pub mod renew;
pub mod selfsigned;
pub mod status;

use serde::{Deserialize, Serialize};

use crate::model::{Config, RepoPath, SecretRef};
use crate::store::Edit;

pub use cert::{CertError, Chain, Info, Key};
pub use status::{Shared, Summary};

/// Where the chain lives in the repository.
pub const CHAIN_PATH: &str = "certificates/cert.pem";
/// Where its source is recorded.
pub const META_PATH: &str = "certificates/cert.toml";
/// The secret holding the key (`secrets/tls/cert`).
pub const KEY_KIND: &str = "tls";
pub const KEY_NAME: &str = "cert";

/// The secret reference of the certificate's key.
pub fn key_ref() -> SecretRef {
    SecretRef::new(KEY_KIND, KEY_NAME).expect("a valid constant secret name")
}

/// The path of the key's secret.
pub fn key_path() -> RepoPath {
    RepoPath::parse(&format!("secrets/{KEY_KIND}/{KEY_NAME}")).expect("a valid constant path")
}

pub fn chain_path() -> RepoPath {
    RepoPath::parse(CHAIN_PATH).expect("a valid constant path")
}

pub fn meta_path() -> RepoPath {
    RepoPath::parse(META_PATH).expect("a valid constant path")
}

/// Where a certificate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// Made by the server for the configured host names.
    SelfSigned,
    /// Uploaded by an operator (`PUT /api/v1/certificate`).
    Uploaded,
    /// Obtained from an ACME server (Let's Encrypt).
    Acme,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::SelfSigned => "self-signed",
            Source::Uploaded => "uploaded",
            Source::Acme => "acme",
        }
    }
}

/// `certificates/cert.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    pub source: Source,
}

/// The certificate as the repository holds it: chain, parsed, and its source.
#[derive(Debug, Clone)]
pub struct Stored {
    pub pem: String,
    pub chain: Chain,
    pub source: Source,
}

/// Reads the certificate of a tree (`read` gives a file's bytes). `None` when there is none or it
/// does not parse (which a push could bring; the log says so where it matters).
pub fn stored(read: impl Fn(&RepoPath) -> Option<Vec<u8>>) -> Option<Stored> {
    let pem = read(&chain_path())?;
    let chain = cert::parse_chain(&pem).ok()?;
    let source = read(&meta_path())
        .and_then(|b| toml::from_str::<Meta>(&String::from_utf8_lossy(&b)).ok())
        .map_or(
            if chain.info.self_issued {
                Source::SelfSigned
            } else {
                Source::Uploaded
            },
            |m| m.source,
        );
    Some(Stored {
        pem: String::from_utf8_lossy(&pem).into_owned(),
        chain,
        source,
    })
}

/// The edits that install a certificate: the chain, its source, and the key encrypted by `encrypt`.
pub fn edits(
    chain_pem: &str,
    key: &Key,
    source: Source,
    encrypt: impl FnOnce(&[u8]) -> Result<Vec<u8>, crate::secret::Error>,
) -> Result<Vec<Edit>, crate::secret::Error> {
    let meta = toml::to_string(&Meta { source }).expect("a plain struct serializes");
    let mut chain = chain_pem.trim_end().to_owned();
    chain.push('\n');
    Ok(vec![
        Edit::write(chain_path(), chain.into_bytes()),
        Edit::write(
            meta_path(),
            format!(
                "# Where certificates/cert.pem came from: \"self-signed\", \"uploaded\" or \"acme\".\n{meta}"
            )
            .into_bytes(),
        ),
        Edit::write(key_path(), encrypt(key.to_pem().as_bytes())?),
    ])
}

/// Why the server should make a new self-signed certificate for `config`, if it should: there is
/// none (or its key is missing), or it is self-signed and no longer covers the host names.
pub fn self_signed_needed(config: &Config, stored: Option<&Stored>) -> Option<&'static str> {
    let Some(s) = stored else {
        return Some("there is no certificate");
    };
    if !config.secrets.contains(&key_ref()) {
        return Some("the certificate's key is missing");
    }
    if s.source == Source::SelfSigned
        && s.chain
            .check_hostnames(&config.settings.mail.hostnames)
            .is_err()
    {
        return Some("the host names changed");
    }
    None
}

/// A new self-signed certificate for `config`'s host names, as edits.
pub fn self_signed_edits(
    config: &Config,
    now: i64,
    encrypt: impl FnOnce(&[u8]) -> Result<Vec<u8>, crate::secret::Error>,
) -> Result<Vec<Edit>, Error> {
    let key = Key::generate()?;
    let pem = selfsigned::make(&config.settings.mail.hostnames, &key, now)?;
    Ok(edits(&pem, &key, Source::SelfSigned, encrypt)?)
}

/// Errors of the TLS module outside validation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Cert(#[from] CertError),
    #[error(transparent)]
    Secret(#[from] crate::secret::Error),
}

/// Now, in Unix seconds.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
