//! Mailu's passlib hashes, which dovecot cannot verify: accepted from an import or a push, verified
//! here (for the web admin and for tests), never produced. Formats, as passlib 1.7.4 writes them:
//!
//! - `bcrypt_sha256` v2 (Mailu's default for users): `$bcrypt-sha256$v=2,t=2b,r=<cost>$<salt>$<digest>`,
//!   bcrypt of base64(HMAC-SHA256(key = the 22-character salt string, msg = the password));
//!   v1: `$bcrypt-sha256$2b,<cost>$<salt>$<digest>`, bcrypt of base64(SHA-256(password)).
//! - `pbkdf2_sha256` (Mailu's app tokens) and `pbkdf2_sha512` (Mailu's old `{PBKDF2}`):
//!   `$pbkdf2-sha256$<rounds>$<salt>$<checksum>` in passlib's "ab64" (base64 with `.` for `+`, no
//!   padding), with the decoded salt bytes as the PBKDF2 salt.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

use super::{Error, constant_time_eq};

/// The highest PBKDF2 iteration count accepted: well above passlib's defaults (29,000 and 25,000),
/// low enough that a hostile hash cannot make one login take minutes.
const PBKDF2_MAX_ROUNDS: u32 = 10_000_000;

/// One of Mailu's passlib formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Legacy {
    /// passlib `bcrypt_sha256`, version 1 or 2.
    BcryptSha256,
    /// passlib `pbkdf2_sha256` (Mailu's app tokens).
    Pbkdf2Sha256,
    /// passlib `pbkdf2_sha512` (Mailu's obsolete `{PBKDF2}` user hashes).
    Pbkdf2Sha512,
}

/// The parts of a `bcrypt_sha256` hash.
struct BcryptSha256<'a> {
    version: u8,
    cost: u32,
    salt: &'a str,
    digest: &'a str,
}

fn parse_bcrypt_sha256(rest: &str) -> Result<BcryptSha256<'_>, Error> {
    let malformed = |reason: &str| Error::Malformed {
        scheme: "bcrypt-sha256",
        reason: reason.into(),
    };
    let parts: Vec<&str> = rest.split('$').collect();
    let [settings, salt, digest] = parts.as_slice() else {
        return Err(malformed("expected `<settings>$<salt>$<digest>`"));
    };
    let (version, cost) = if let Some(v2) = settings.strip_prefix("v=2,") {
        let cost = v2
            .strip_prefix("t=2b,r=")
            .ok_or_else(|| malformed("version 2 settings must be `v=2,t=2b,r=<cost>`"))?;
        (2, cost)
    } else {
        let cost = settings
            .strip_prefix("2a,")
            .or_else(|| settings.strip_prefix("2b,"))
            .ok_or_else(|| malformed("settings must be `v=2,t=2b,r=<cost>` or `2b,<cost>`"))?;
        (1, cost)
    };
    let cost = cost
        .parse::<u32>()
        .ok()
        .filter(|c| (4..=31).contains(c))
        .ok_or_else(|| malformed("the cost must be a number from 4 to 31"))?;
    let crypt64 = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/')
    };
    if salt.len() != 22 || digest.len() != 31 || !crypt64(salt) || !crypt64(digest) {
        return Err(malformed(
            "the salt must be 22 and the digest 31 characters of ./0-9A-Za-z",
        ));
    }
    Ok(BcryptSha256 {
        version,
        cost,
        salt,
        digest,
    })
}

/// The parts of a `pbkdf2_sha*` hash, decoded.
struct Pbkdf2 {
    rounds: u32,
    salt: Vec<u8>,
    checksum: Vec<u8>,
}

fn ab64_decode(s: &str) -> Option<Vec<u8>> {
    STANDARD_NO_PAD.decode(s.replace('.', "+")).ok()
}

fn parse_pbkdf2(rest: &str, checksum_len: usize) -> Result<Pbkdf2, Error> {
    let malformed = |reason: String| Error::Malformed {
        scheme: "pbkdf2",
        reason,
    };
    let parts: Vec<&str> = rest.split('$').collect();
    let [rounds, salt, checksum] = parts.as_slice() else {
        return Err(malformed("expected `<rounds>$<salt>$<checksum>`".into()));
    };
    let rounds = rounds
        .parse::<u32>()
        .ok()
        .filter(|r| (1..=PBKDF2_MAX_ROUNDS).contains(r))
        .ok_or_else(|| malformed(format!("rounds must be from 1 to {PBKDF2_MAX_ROUNDS}")))?;
    let salt = ab64_decode(salt).ok_or_else(|| malformed("the salt is not ab64".into()))?;
    let checksum = ab64_decode(checksum)
        .filter(|c| c.len() == checksum_len)
        .ok_or_else(|| malformed(format!("the checksum must be {checksum_len} bytes in ab64")))?;
    Ok(Pbkdf2 {
        rounds,
        salt,
        checksum,
    })
}

/// Classifies a passlib hash: `Ok(None)` if it is none of Mailu's formats.
pub(super) fn classify(inner: &str) -> Result<Option<Legacy>, Error> {
    if let Some(rest) = inner.strip_prefix("$bcrypt-sha256$") {
        parse_bcrypt_sha256(rest)?;
        return Ok(Some(Legacy::BcryptSha256));
    }
    if let Some(rest) = inner.strip_prefix("$pbkdf2-sha256$") {
        parse_pbkdf2(rest, 32)?;
        return Ok(Some(Legacy::Pbkdf2Sha256));
    }
    if let Some(rest) = inner.strip_prefix("$pbkdf2-sha512$") {
        parse_pbkdf2(rest, 64)?;
        return Ok(Some(Legacy::Pbkdf2Sha512));
    }
    Ok(None)
}

pub(super) fn verify(kind: Legacy, inner: &str, password: &str) -> bool {
    match kind {
        Legacy::BcryptSha256 => {
            let Some(rest) = inner.strip_prefix("$bcrypt-sha256$") else {
                return false;
            };
            let Ok(h) = parse_bcrypt_sha256(rest) else {
                return false;
            };
            let key = if h.version == 2 {
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(h.salt.as_bytes())
                    .expect("HMAC takes a key of any length");
                mac.update(password.as_bytes());
                STANDARD.encode(mac.finalize().into_bytes())
            } else {
                STANDARD.encode(Sha256::digest(password.as_bytes()))
            };
            let bcrypt = format!("$2b${:02}${}{}", h.cost, h.salt, h.digest);
            bcrypt::verify(key, &bcrypt).unwrap_or(false)
        }
        Legacy::Pbkdf2Sha256 | Legacy::Pbkdf2Sha512 => {
            let (prefix, len) = if kind == Legacy::Pbkdf2Sha256 {
                ("$pbkdf2-sha256$", 32)
            } else {
                ("$pbkdf2-sha512$", 64)
            };
            let Some(Ok(h)) = inner.strip_prefix(prefix).map(|r| parse_pbkdf2(r, len)) else {
                return false;
            };
            let mut out = vec![0u8; len];
            if kind == Legacy::Pbkdf2Sha256 {
                pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &h.salt, h.rounds, &mut out);
            } else {
                pbkdf2::pbkdf2_hmac::<Sha512>(password.as_bytes(), &h.salt, h.rounds, &mut out);
            }
            constant_time_eq(&out, &h.checksum)
        }
    }
}
