//! The schemes dovecot verifies itself: bcrypt (`{BLF-CRYPT}`), SHA-crypt (`{SHA512-CRYPT}`,
//! `{SHA256-CRYPT}`) and salted SHA-512 (`{SSHA512}`): checking their syntax, making them, and
//! verifying them the way dovecot does. Not the choice of scheme, which is `password`'s.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha512};

use super::{Error, constant_time_eq};

/// Bytes of password bcrypt reads; the rest would be ignored.
pub(super) const BCRYPT_MAX: usize = 72;
/// glibc's lower bound for SHA-crypt `rounds=` (it raises smaller values; the crate refuses them).
pub(super) const SHA_CRYPT_MIN_ROUNDS: usize = 1_000;
const SHA_CRYPT_DEFAULT_ROUNDS: u32 = 5_000;
const SHA_CRYPT_MAX_ROUNDS: u32 = 999_999_999;
/// The characters of crypt(3)'s base64 (`./0-9A-Za-z`), used by bcrypt and SHA-crypt salts.
const CRYPT_ALPHABET: &[u8; 64] =
    b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const SSHA512_SALT: usize = 16;

/// A scheme dovecot 2.3 verifies with no helper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// bcrypt, `$2y$`/`$2b$`/`$2a$`: what mailu-git writes for user passwords up to 72 bytes.
    BlfCrypt,
    /// SHA-512 crypt, `$6$`: what mailu-git writes for longer user passwords.
    Sha512Crypt,
    /// SHA-256 crypt, `$5$`: accepted (Mailu's old hashes), never written.
    Sha256Crypt,
    /// Salted SHA-512: what mailu-git writes for app tokens.
    Ssha512,
}

impl Scheme {
    /// The name dovecot uses in the `{SCHEME}` prefix.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::BlfCrypt => "BLF-CRYPT",
            Scheme::Sha512Crypt => "SHA512-CRYPT",
            Scheme::Sha256Crypt => "SHA256-CRYPT",
            Scheme::Ssha512 => "SSHA512",
        }
    }
}

fn is_crypt64(s: &str) -> bool {
    s.bytes().all(|b| CRYPT_ALPHABET.contains(&b))
}

/// Classifies a crypt(3) string (no `{SCHEME}` prefix): `Ok(None)` if it is not one of ours.
pub(super) fn classify(inner: &str) -> Result<Option<Scheme>, Error> {
    if inner.starts_with("$2x$") {
        return Err(Error::Unsupported {
            scheme: "BLF-CRYPT $2x$ (the buggy variant)".into(),
        });
    }
    if ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|p| inner.starts_with(p))
    {
        let malformed = |reason: &str| Error::Malformed {
            scheme: "BLF-CRYPT",
            reason: reason.into(),
        };
        let rest = &inner[4..];
        let (cost, body) = rest
            .split_once('$')
            .ok_or_else(|| malformed("no `$` after the cost"))?;
        let cost_ok = cost.len() == 2 && cost.parse::<u32>().is_ok_and(|c| (4..=31).contains(&c));
        if !cost_ok {
            return Err(malformed("the cost must be two digits from 04 to 31"));
        }
        if body.len() != 53 || !is_crypt64(body) {
            return Err(malformed(
                "salt and hash must be 53 characters of ./0-9A-Za-z",
            ));
        }
        return Ok(Some(Scheme::BlfCrypt));
    }
    for (prefix, scheme, hash_len) in [
        ("$6$", Scheme::Sha512Crypt, 86),
        ("$5$", Scheme::Sha256Crypt, 43),
    ] {
        if let Some(rest) = inner.strip_prefix(prefix) {
            check_sha_crypt(scheme.name(), rest, hash_len)?;
            return Ok(Some(scheme));
        }
    }
    Ok(None)
}

/// Checks `[rounds=N$]salt$hash` of a SHA-crypt string.
fn check_sha_crypt(scheme: &'static str, rest: &str, hash_len: usize) -> Result<(), Error> {
    let malformed = |reason: String| Error::Malformed { scheme, reason };
    let mut parts: Vec<&str> = rest.split('$').collect();
    if parts.first().is_some_and(|p| p.starts_with("rounds=")) {
        let rounds = parts.remove(0)["rounds=".len()..]
            .parse::<u32>()
            .map_err(|_| malformed("`rounds=` must be a number".into()))?;
        if !(SHA_CRYPT_MIN_ROUNDS as u32..=SHA_CRYPT_MAX_ROUNDS).contains(&rounds) {
            return Err(malformed(format!(
                "`rounds=` must be from {SHA_CRYPT_MIN_ROUNDS} to {SHA_CRYPT_MAX_ROUNDS}"
            )));
        }
    }
    match parts.as_slice() {
        [salt, hash] if salt.len() <= 16 && is_crypt64(salt) && !salt.is_empty() => {
            if hash.len() == hash_len && is_crypt64(hash) {
                Ok(())
            } else {
                Err(malformed(format!(
                    "the hash must be {hash_len} characters of ./0-9A-Za-z"
                )))
            }
        }
        _ => Err(malformed(
            "expected `[rounds=N$]<salt of 1-16 characters>$<hash>`".into(),
        )),
    }
}

/// The cost of a bcrypt string.
pub(super) fn bcrypt_cost(inner: &str) -> Option<u32> {
    inner.get(4..6)?.parse().ok()
}

/// The rounds of a SHA-crypt string (5000 when it names none).
pub(super) fn sha_crypt_rounds(inner: &str) -> Option<u32> {
    let rest = inner.get(3..)?;
    match rest.strip_prefix("rounds=") {
        Some(r) => r.split('$').next()?.parse().ok(),
        None => Some(SHA_CRYPT_DEFAULT_ROUNDS),
    }
}

/// Checks the base64 body of a `{SSHA512}` hash: a 64-byte digest followed by a salt.
pub(super) fn check_ssha512(inner: &str) -> Result<(), Error> {
    match STANDARD.decode(inner) {
        Ok(bytes) if bytes.len() > 64 => Ok(()),
        _ => Err(Error::Malformed {
            scheme: "SSHA512",
            reason: "expected base64 of a 64-byte SHA-512 digest followed by a salt".into(),
        }),
    }
}

/// `$2y$<cost>$<salt><hash>`, the form `doveadm pw -s BLF-CRYPT` writes.
pub(super) fn bcrypt_hash(password: &str, cost: u32) -> Result<String, Error> {
    debug_assert!(password.len() <= BCRYPT_MAX);
    bcrypt::hash_with_result(password, cost)
        .map(|parts| parts.format_for_version(bcrypt::Version::TwoY))
        .map_err(|e| Error::Hashing {
            reason: e.to_string(),
        })
}

/// `$6$rounds=<rounds>$<salt>$<hash>` with a random 16-character salt.
pub(super) fn sha512_crypt_hash(password: &str, rounds: u32) -> Result<String, Error> {
    use rand::Rng;
    let mut rng = rand::rng();
    let salt: String = (0..16)
        .map(|_| char::from(CRYPT_ALPHABET[rng.random_range(0..64)]))
        .collect();
    let params = sha_crypt::Sha512Params::new(rounds as usize).map_err(|e| Error::Hashing {
        reason: format!("{e:?}"),
    })?;
    let hash = sha_crypt::sha512_crypt_b64(password.as_bytes(), salt.as_bytes(), &params).map_err(
        |e| Error::Hashing {
            reason: format!("{e:?}"),
        },
    )?;
    Ok(format!("$6$rounds={rounds}${salt}${hash}"))
}

/// base64(SHA-512(token ‖ salt) ‖ salt), dovecot's `{SSHA512}`.
pub(super) fn ssha512_hash(token: &str) -> String {
    use rand::Rng;
    let salt: [u8; SSHA512_SALT] = rand::rng().random();
    let mut out = Sha512::new()
        .chain_update(token.as_bytes())
        .chain_update(salt)
        .finalize()
        .to_vec();
    out.extend_from_slice(&salt);
    STANDARD.encode(out)
}

pub(super) fn verify(scheme: Scheme, inner: &str, password: &str) -> bool {
    match scheme {
        Scheme::BlfCrypt => bcrypt::verify(password, inner).unwrap_or(false),
        Scheme::Sha512Crypt => sha_crypt::sha512_check(password, inner).is_ok(),
        Scheme::Sha256Crypt => sha_crypt::sha256_check(password, inner).is_ok(),
        Scheme::Ssha512 => {
            let Ok(bytes) = STANDARD.decode(inner) else {
                return false;
            };
            if bytes.len() <= 64 {
                return false;
            }
            let (digest, salt) = bytes.split_at(64);
            let computed = Sha512::new()
                .chain_update(password.as_bytes())
                .chain_update(salt)
                .finalize();
            constant_time_eq(&computed, digest)
        }
    }
}
