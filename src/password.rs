//! Password hashes: the ones mailu-git writes for users and app tokens, and the ones it accepts.
//!
//! Every hash written is in a scheme stock dovecot 2.3 verifies itself, so the rendered passwd-file
//! needs no helper: `{BLF-CRYPT}` (bcrypt) for user passwords up to 72 bytes, `{SHA512-CRYPT}` at a
//! comparable cost for longer ones (bcrypt would silently ignore the rest), and `{SSHA512}` for app
//! tokens, which are random and need no slow hash. Mailu's passlib hashes (`$bcrypt-sha256$`,
//! `$pbkdf2-sha256$`, ...) are accepted from an import or a push as a *legacy* kind: verified here,
//! never produced, replaced at the next password change. A plaintext password is never accepted where
//! a hash belongs. See `docs/secrets.md` for the reasons behind each choice.
//!
//! This module is pure computation. Hashing and verifying are slow on purpose (about 0.2 s at the
//! default cost): callers on async threads run them with `spawn_blocking`.

mod legacy;
mod native;

use std::fmt;

pub use legacy::Legacy;
pub use native::Scheme;

/// The longest password accepted, in bytes. Long enough for any passphrase; it bounds the work one
/// login attempt can cause (SHA-crypt's cost grows with the password's length).
pub const MAX_PASSWORD: usize = 256;

/// The longest hash accepted, in bytes (Mailu's column is 255 characters).
const MAX_HASH: usize = 512;

/// The fewest characters an app token may have: Mailu's tokens are 32 hex digits (128 bits), and
/// only that entropy makes a fast hash safe for them.
pub const MIN_TOKEN: usize = 32;

/// Why a password could not be hashed, or a hash was refused. Messages never repeat the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("the password is empty")]
    EmptyPassword,
    #[error("the password is {len} bytes long; at most {max} are allowed")]
    PasswordTooLong { len: usize, max: usize },
    #[error(
        "CREDENTIAL_ROUNDS = {rounds} is out of range: use {min} to {max} (below {min} a stolen \
         hash is cheap to crack; above {max} every login costs seconds of CPU)",
        min = Cost::MIN,
        max = Cost::MAX
    )]
    CostOutOfRange { rounds: u32 },
    #[error("an app token must have at least {min} characters (128 random bits); it has {len}")]
    TokenTooShort { len: usize, min: usize },
    #[error("this is an empty string, not a password hash")]
    EmptyHash,
    #[error(
        "this looks like a plaintext password, but only a hash is accepted here; set a password \
         through the API or the admin interface, or put a `{{BLF-CRYPT}}` hash here"
    )]
    Plaintext,
    #[error("{scheme} hashes are too weak to keep; the user must be given a new password")]
    Weak { scheme: String },
    #[error(
        "the `{{{scheme}}}` scheme is not supported; use {{BLF-CRYPT}}, {{SHA512-CRYPT}}, \
         {{SHA256-CRYPT}} or {{SSHA512}} (or a Mailu passlib hash)"
    )]
    Unsupported { scheme: String },
    #[error(
        "not a password hash in a known format (expected {{BLF-CRYPT}}$2y$..., {{SHA512-CRYPT}}$6$..., \
         {{SSHA512}}..., or Mailu's $bcrypt-sha256$... / $pbkdf2-sha256$...)"
    )]
    Unknown,
    #[error("malformed {scheme} hash: {reason}")]
    Malformed {
        scheme: &'static str,
        reason: String,
    },
    #[error("hashing failed: {reason}")]
    Hashing { reason: String },
}

/// The bcrypt cost of new user password hashes: Mailu's `CREDENTIAL_ROUNDS` (log2 of the work).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cost(u32);

impl Cost {
    /// Mailu's default, about 0.2 s per hash on a current CPU.
    pub const DEFAULT: Cost = Cost(12);
    /// Below this a leaked hash (the user files are readable by anyone who may clone) is cheap to
    /// attack; 10 is the least common libraries still default to.
    pub const MIN: u32 = 10;
    /// Above this one login costs more than three seconds of CPU in dovecot's auth process, which
    /// turns every login attempt into a denial of service.
    pub const MAX: u32 = 16;

    /// Checks a configured `CREDENTIAL_ROUNDS`.
    pub fn new(rounds: u32) -> Result<Cost, Error> {
        if (Self::MIN..=Self::MAX).contains(&rounds) {
            Ok(Cost(rounds))
        } else {
            Err(Error::CostOutOfRange { rounds })
        }
    }

    /// The nearest allowed cost: for an import, where Mailu allowed any value.
    pub fn clamped(rounds: u32) -> Cost {
        Cost(rounds.clamp(Self::MIN, Self::MAX))
    }

    pub fn get(self) -> u32 {
        self.0
    }

    /// A cost far below [`Cost::MIN`], so tests of other modules can hash quickly.
    #[cfg(test)]
    pub(crate) fn for_tests() -> Cost {
        Cost(4)
    }

    /// SHA512-CRYPT rounds of about the same CPU time as bcrypt at this cost. Measured with
    /// glibc (what dovecot uses) on Debian bookworm: 1,000,000 rounds ≈ 0.23 s ≈ bcrypt cost 12.
    fn sha512_rounds(self) -> u32 {
        let rounds = if self.0 >= 12 {
            1_000_000u64 << (self.0 - 12)
        } else {
            1_000_000u64 >> (12 - self.0)
        };
        u32::try_from(rounds.max(native::SHA_CRYPT_MIN_ROUNDS as u64))
            .expect("at most 16,000,000 rounds: the cost is at most 16")
    }
}

impl Default for Cost {
    fn default() -> Self {
        Cost::DEFAULT
    }
}

/// What a hash is: a scheme dovecot verifies, or one of Mailu's legacy passlib formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Native { scheme: Scheme },
    Legacy { kind: Legacy },
}

/// A checked password hash, kept exactly as written (with or without a `{SCHEME}` prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hash {
    text: String,
    kind: Kind,
}

impl Hash {
    /// Classifies a hash from a user or token file, an import or the API. Refuses plaintext,
    /// unknown formats, and schemes mailu-git cannot verify (so the web admin could not log in).
    pub fn parse(raw: &str) -> Result<Hash, Error> {
        if raw.is_empty() {
            return Err(Error::EmptyHash);
        }
        if raw.len() > MAX_HASH || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::Unknown);
        }
        let (prefix, inner) = split_prefix(raw);
        let kind = match prefix {
            None => classify(inner)?,
            Some(prefix) => classify_prefixed(&prefix.to_ascii_uppercase(), inner)?,
        };
        Ok(Hash {
            text: raw.to_owned(),
            kind,
        })
    }

    /// The hash as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn is_legacy(&self) -> bool {
        matches!(self.kind, Kind::Legacy { .. })
    }

    /// The hash as dovecot's passwd-file needs it (`{SCHEME}...`), or `None` for a legacy hash,
    /// which dovecot cannot verify.
    pub fn dovecot(&self) -> Option<String> {
        match self.kind {
            Kind::Native { scheme } => Some(format!("{{{}}}{}", scheme.name(), self.inner())),
            Kind::Legacy { .. } => None,
        }
    }

    /// Whether a user's password hash should be replaced at the next successful login or password
    /// change: every legacy hash, a scheme mailu-git does not write for users, or a lower cost than
    /// configured. (App-token hashes are never rehashed; do not ask about them.)
    pub fn needs_rehash(&self, cost: Cost) -> bool {
        match self.kind {
            Kind::Legacy { .. } => true,
            Kind::Native { scheme } => match scheme {
                Scheme::BlfCrypt => native::bcrypt_cost(self.inner()) != Some(cost.get()),
                Scheme::Sha512Crypt => {
                    native::sha_crypt_rounds(self.inner()).is_none_or(|r| r < cost.sha512_rounds())
                }
                Scheme::Sha256Crypt | Scheme::Ssha512 => true,
            },
        }
    }

    /// The hash without its `{SCHEME}` prefix.
    fn inner(&self) -> &str {
        split_prefix(&self.text).1
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl serde::Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Hash::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Splits `{SCHEME}rest` into the scheme name and the rest.
fn split_prefix(raw: &str) -> (Option<&str>, &str) {
    if let Some(rest) = raw.strip_prefix('{')
        && let Some((scheme, inner)) = rest.split_once('}')
    {
        return (Some(scheme), inner);
    }
    (None, raw)
}

/// Classifies a hash with no `{SCHEME}` prefix: a crypt(3) string or a passlib hash.
fn classify(inner: &str) -> Result<Kind, Error> {
    if let Some(scheme) = native::classify(inner)? {
        return Ok(Kind::Native { scheme });
    }
    if let Some(kind) = legacy::classify(inner)? {
        return Ok(Kind::Legacy { kind });
    }
    if inner.starts_with("$1$") {
        return Err(Error::Weak {
            scheme: "MD5-CRYPT".into(),
        });
    }
    if inner.starts_with('$') {
        Err(Error::Unknown)
    } else {
        // Not a crypt or passlib string and no scheme: most likely someone typed the password.
        Err(Error::Plaintext)
    }
}

/// Classifies `{prefix}inner`: dovecot's scheme prefixes and Mailu's obsolete ones (which Mailu
/// stripped before handing the rest to passlib).
fn classify_prefixed(prefix: &str, inner: &str) -> Result<Kind, Error> {
    let mismatch = || Error::Malformed {
        scheme: "prefixed",
        reason: format!("the hash after `{{{prefix}}}` is not a {prefix} hash"),
    };
    match prefix {
        "PLAIN" | "CLEAR" | "CLEARTEXT" | "PLAIN-TRUNC" => Err(Error::Plaintext),
        "MD5-CRYPT" | "MD5" | "PLAIN-MD5" | "LDAP-MD5" | "SMD5" | "DES-CRYPT" | "SHA" | "SSHA"
        | "SHA1" => Err(Error::Weak {
            scheme: prefix.to_owned(),
        }),
        "SSHA512" => native::check_ssha512(inner).map(|()| Kind::Native {
            scheme: Scheme::Ssha512,
        }),
        "BLF-CRYPT" | "SHA512-CRYPT" | "SHA256-CRYPT" | "CRYPT" => {
            let scheme = native::classify(inner)?.ok_or_else(mismatch)?;
            if prefix != "CRYPT" && scheme.name() != prefix {
                return Err(mismatch());
            }
            Ok(Kind::Native { scheme })
        }
        // Mailu stored passlib's pbkdf2_sha512 under `{PBKDF2}`; dovecot's own PBKDF2 format
        // (`$1$salt$rounds$hex`, SHA-1) is a different thing that is not supported.
        "PBKDF2" => match legacy::classify(inner)? {
            Some(kind) => Ok(Kind::Legacy { kind }),
            None => Err(Error::Unsupported {
                scheme: "PBKDF2 (dovecot's format)".into(),
            }),
        },
        _ => Err(Error::Unsupported {
            scheme: prefix.to_owned(),
        }),
    }
}

/// Hashes a new user password: `{BLF-CRYPT}$2y$<cost>$...` up to 72 bytes, `{SHA512-CRYPT}` at a
/// comparable number of rounds above (bcrypt reads only 72 bytes; refusing long passphrases would
/// punish the users with the best passwords, and pre-hashing would need a dovecot helper).
pub fn hash(password: &str, cost: Cost) -> Result<Hash, Error> {
    check_password(password)?;
    let text = if password.len() <= native::BCRYPT_MAX {
        format!(
            "{{BLF-CRYPT}}{}",
            native::bcrypt_hash(password, cost.get())?
        )
    } else {
        format!(
            "{{SHA512-CRYPT}}{}",
            native::sha512_crypt_hash(password, cost.sha512_rounds())?
        )
    };
    Hash::parse(&text)
}

/// Hashes an app token (Mailu's per-user application password): `{SSHA512}`, one salted SHA-512.
/// A token is 128 random bits, so no guessing attack benefits from a slow hash, and logins with it
/// (IMAP clients reconnect often) stay cheap. Tokens shorter than [`MIN_TOKEN`] are refused.
pub fn token_hash(token: &str) -> Result<Hash, Error> {
    check_password(token)?;
    if token.chars().count() < MIN_TOKEN {
        return Err(Error::TokenTooShort {
            len: token.chars().count(),
            min: MIN_TOKEN,
        });
    }
    Hash::parse(&format!("{{SSHA512}}{}", native::ssha512_hash(token)))
}

/// A new app token: 32 lower-case hex digits (128 random bits), as Mailu makes them.
pub fn generate_token() -> secrecy::SecretString {
    use rand::Rng;
    let bytes: [u8; 16] = rand::rng().random();
    secrecy::SecretString::from(hex::encode(bytes))
}

/// Whether `password` matches `hash`, for any kind [`Hash::parse`] accepts. Constant-time in the
/// comparison; `false` for an empty or over-long password.
pub fn verify(hash: &Hash, password: &str) -> bool {
    if check_password(password).is_err() {
        return false;
    }
    let inner = hash.inner();
    match hash.kind {
        Kind::Native { scheme } => native::verify(scheme, inner, password),
        Kind::Legacy { kind } => legacy::verify(kind, inner, password),
    }
}

fn check_password(password: &str) -> Result<(), Error> {
    if password.is_empty() {
        return Err(Error::EmptyPassword);
    }
    if password.len() > MAX_PASSWORD {
        return Err(Error::PasswordTooLong {
            len: password.len(),
            max: MAX_PASSWORD,
        });
    }
    Ok(())
}

/// Compares two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests;
