//! Reading and checking a certificate chain and its key: the PEM chain parsed with `x509-parser`,
//! the key (PKCS#8, or PKCS#1 RSA converted to PKCS#8) loaded with `rcgen`, and the checks an upload
//! must pass: the key belongs to the first certificate, the chain is valid now, and its names cover
//! every configured host name (subject alternative names first; the common name only without them;
//! a wildcard covers exactly one label). No IO.

use sha2::{Digest, Sha256};
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;

use crate::model::DomainName;

/// Why a chain or key is refused. Each message names the problem for the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("the certificate is not PEM: {0}")]
    NotPem(String),
    #[error("the certificate file holds no `BEGIN CERTIFICATE` block")]
    Empty,
    #[error("certificate {index} of the chain does not parse: {reason}")]
    Parse { index: usize, reason: String },
    #[error("the key is not a PEM private key: {0}")]
    KeyNotPem(String),
    #[error(
        "the key is a `{0}` block; give a `PRIVATE KEY` (PKCS#8) or `RSA PRIVATE KEY` (convert with `openssl pkcs8 -topk8 -nocrypt`)"
    )]
    KeyKind(String),
    #[error("the key cannot be used: {0}")]
    Key(String),
    #[error("the key does not match the certificate (its public key differs)")]
    Mismatch,
    #[error("certificate {index} of the chain has expired (not after {not_after})")]
    Expired { index: usize, not_after: String },
    #[error("certificate {index} of the chain is not valid yet (not before {not_before})")]
    NotYetValid { index: usize, not_before: String },
    #[error("the certificate does not cover the host name(s) {missing} (it names {names})")]
    Hostnames { missing: String, names: String },
}

/// What the server shows of a certificate (its leaf) and keeps for checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// DNS names: the subject alternative names, or the common name when there are none.
    pub names: Vec<String>,
    pub subject: String,
    pub issuer: String,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    pub serial: String,
    /// Issuer and subject are the same name (a self-signed certificate).
    pub self_issued: bool,
    /// SHA-256 of the leaf's SubjectPublicKeyInfo, hex: the data of a `TLSA 3 1 1` record.
    pub spki_sha256: String,
    /// How many certificates the chain holds.
    pub chain_len: usize,
}

/// A parsed chain: the leaf's details and every certificate's validity window.
#[derive(Debug, Clone)]
pub struct Chain {
    pub info: Info,
    /// (not before, not after) of each certificate, leaf first.
    windows: Vec<(i64, i64)>,
    /// The leaf's raw public key (the BIT STRING of its SubjectPublicKeyInfo).
    public_key: Vec<u8>,
}

/// Parses a PEM chain, leaf first. Other PEM blocks are refused: a key pasted in the chain file
/// must not end up in the repository in clear.
pub fn parse_chain(pem: &[u8]) -> Result<Chain, CertError> {
    let mut info = None;
    let mut windows = Vec::new();
    let mut public_key = Vec::new();
    for (index, block) in Pem::iter_from_buffer(pem).enumerate() {
        let index = index + 1;
        let block = block.map_err(|e| CertError::NotPem(e.to_string()))?;
        if block.label != "CERTIFICATE" {
            return Err(CertError::NotPem(format!(
                "block {index} is `{}`, only `CERTIFICATE` blocks belong in the chain",
                block.label
            )));
        }
        let cert = block.parse_x509().map_err(|e| CertError::Parse {
            index,
            reason: e.to_string(),
        })?;
        let v = cert.validity();
        windows.push((v.not_before.timestamp(), v.not_after.timestamp()));
        if info.is_none() {
            public_key = cert.public_key().subject_public_key.data.to_vec();
            info = Some(leaf_info(&cert)?);
        }
    }
    let mut info = info.ok_or(CertError::Empty)?;
    info.chain_len = windows.len();
    Ok(Chain {
        info,
        windows,
        public_key,
    })
}

fn leaf_info(cert: &x509_parser::certificate::X509Certificate<'_>) -> Result<Info, CertError> {
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let GeneralName::DNSName(d) = n {
                names.push(d.to_ascii_lowercase());
            }
        }
    }
    if names.is_empty() {
        names.extend(
            cert.subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok())
                .map(str::to_ascii_lowercase),
        );
    }
    let v = cert.validity();
    Ok(Info {
        names,
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_before: v.not_before.timestamp(),
        not_after: v.not_after.timestamp(),
        serial: cert.raw_serial_as_string(),
        self_issued: cert.subject().as_raw() == cert.issuer().as_raw(),
        spki_sha256: hex::encode(Sha256::digest(cert.public_key().raw)),
        chain_len: 0,
    })
}

impl Chain {
    /// Every certificate is valid at `now` (Unix seconds).
    pub fn check_validity(&self, now: i64) -> Result<(), CertError> {
        for (i, (before, after)) in self.windows.iter().enumerate() {
            if now < *before {
                return Err(CertError::NotYetValid {
                    index: i + 1,
                    not_before: format_time(*before),
                });
            }
            if now > *after {
                return Err(CertError::Expired {
                    index: i + 1,
                    not_after: format_time(*after),
                });
            }
        }
        Ok(())
    }

    /// The leaf covers every name of `hostnames`.
    pub fn check_hostnames(&self, hostnames: &[DomainName]) -> Result<(), CertError> {
        let missing: Vec<&str> = hostnames
            .iter()
            .map(|h| h.as_str())
            .filter(|h| !covers(&self.info.names, h))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(CertError::Hostnames {
            missing: missing.join(", "),
            names: if self.info.names.is_empty() {
                "no DNS name".into()
            } else {
                self.info.names.join(", ")
            },
        })
    }

    /// The key belongs to the leaf.
    pub fn check_key(&self, key: &Key) -> Result<(), CertError> {
        if key.public_key() == self.public_key.as_slice() {
            Ok(())
        } else {
            Err(CertError::Mismatch)
        }
    }
}

/// Whether the certificate names `names` cover `host`: an exact name, or `*.rest` where `host` is
/// one label followed by `.rest`.
pub fn covers(names: &[String], host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    names.iter().any(|n| {
        if let Some(rest) = n.strip_prefix("*.") {
            host.split_once('.')
                .is_some_and(|(label, tail)| !label.is_empty() && tail == rest)
        } else {
            *n == host
        }
    })
}

/// A private key in PKCS#8 PEM.
pub struct Key {
    pair: rcgen::KeyPair,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key").finish_non_exhaustive()
    }
}

impl Key {
    /// Reads a `PRIVATE KEY` (PKCS#8) or `RSA PRIVATE KEY` (PKCS#1) PEM block.
    pub fn parse(pem: &[u8]) -> Result<Key, CertError> {
        let text = std::str::from_utf8(pem).map_err(|_| CertError::KeyNotPem("not text".into()))?;
        let block = pem::parse(text).map_err(|e| CertError::KeyNotPem(e.to_string()))?;
        let pkcs8 = match block.tag() {
            "PRIVATE KEY" => text.to_owned(),
            "RSA PRIVATE KEY" => {
                use rsa::pkcs1::DecodeRsaPrivateKey;
                use rsa::pkcs8::EncodePrivateKey;
                let key = rsa::RsaPrivateKey::from_pkcs1_der(block.contents())
                    .map_err(|e| CertError::Key(e.to_string()))?;
                key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
                    .map_err(|e| CertError::Key(e.to_string()))?
                    .to_string()
            }
            other => return Err(CertError::KeyKind(other.to_owned())),
        };
        let pair = rcgen::KeyPair::from_pem(&pkcs8).map_err(|e| CertError::Key(e.to_string()))?;
        Ok(Key { pair })
    }

    /// A new ECDSA P-256 key.
    pub fn generate() -> Result<Key, CertError> {
        rcgen::KeyPair::generate()
            .map(|pair| Key { pair })
            .map_err(|e| CertError::Key(e.to_string()))
    }

    /// The key as PKCS#8 PEM (what `secrets/tls/cert` holds, encrypted).
    pub fn to_pem(&self) -> String {
        self.pair.serialize_pem()
    }

    pub(super) fn pair(&self) -> &rcgen::KeyPair {
        &self.pair
    }

    fn public_key(&self) -> &[u8] {
        self.pair.public_key_raw()
    }
}

/// Unix seconds as RFC 3339 (UTC).
pub fn format_time(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| secs.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn wildcards_cover_exactly_one_label() {
        let n = names(&["*.example.com", "example.org"]);
        assert!(covers(&n, "mail.example.com"));
        assert!(covers(&n, "MAIL.example.com"));
        assert!(!covers(&n, "example.com"));
        assert!(!covers(&n, "a.b.example.com"));
        assert!(covers(&n, "example.org"));
        assert!(!covers(&n, "mail.example.org"));
    }
}
