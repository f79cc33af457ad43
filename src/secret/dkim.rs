//! DKIM keys: a new RSA-2048 key in PKCS#8 PEM (what Mailu makes, and what rspamd signs with), and
//! the public half as DNS publishes it (base64 of the DER SubjectPublicKeyInfo, the `p=` of the
//! TXT record). The private key leaves here only to be encrypted into `secrets/dkim/<domain>`.

use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use secrecy::SecretString;

/// The size Mailu uses; 1024 is too weak and 4096 does not fit one DNS string everywhere.
pub const BITS: usize = 2048;

/// A generated key.
pub struct Generated {
    /// PKCS#8 PEM of the private key.
    pub private_pem: SecretString,
    /// base64 of the public key's DER, the `p=` of the DNS record.
    pub public: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot generate an RSA key: {0}")]
    Generate(String),
    #[error("not an RSA private key in PKCS#8 PEM: {0}")]
    NotAKey(String),
}

/// Generates a key. Slow (tens to hundreds of milliseconds): run it off the async threads.
pub fn generate() -> Result<Generated, Error> {
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, BITS)
        .map_err(|e| Error::Generate(e.to_string()))?;
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| Error::Generate(e.to_string()))?;
    Ok(Generated {
        private_pem: SecretString::from(pem.as_str().to_owned()),
        public: public_of_key(&key)?,
    })
}

/// The DNS form of the public half of a PKCS#8 PEM private key (for keys imported from Mailu).
pub fn public_of(private_pem: &str) -> Result<String, Error> {
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(private_pem)
        .map_err(|e| Error::NotAKey(e.to_string()))?;
    public_of_key(&key)
}

fn public_of_key(key: &rsa::RsaPrivateKey) -> Result<String, Error> {
    use base64::Engine as _;
    let der = key
        .to_public_key()
        .to_public_key_der()
        .map_err(|e| Error::Generate(e.to_string()))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(der.as_bytes()))
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn a_generated_key_is_pkcs8_and_its_public_half_matches() {
        let key = generate().unwrap();
        let pem = key.private_pem.expose_secret();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
        assert_eq!(public_of(pem).unwrap(), key.public);
        // An RSA-2048 SubjectPublicKeyInfo is 294 bytes: 392 base64 characters.
        assert_eq!(key.public.len(), 392);
        assert!(
            public_of("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n").is_err()
        );
    }
}
