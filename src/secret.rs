//! Encrypted secrets: the server's age key ([`Keyring`]), the encrypted files at `secrets/<kind>/<name>`,
//! key rotation, and the placeholders rendered files use instead of a secret's value.
//!
//! This module does no HTTP and never writes the repository: it turns plaintext into the bytes of a
//! secret file and back, and computes edits (path → new bytes) that the store commits as one version.
//! It is not where passwords live: user and app-token passwords are hashes ([`crate::password`]),
//! never secrets to decrypt.
//!
//! Secret files are ASCII-armored age files (`-----BEGIN AGE ENCRYPTED FILE-----`), the format of the
//! `age` command line tool, so an operator can add a secret by `git push` with `age -a -r <recipient>`
//! or `mailu-git secret encrypt`, knowing only the server's public recipient. Plaintext never leaves
//! this module except inside [`SecretBytes`], which wipes its memory when dropped.

pub mod dkim;
mod escape;
mod keyring;
mod placeholder;

use std::io::{Read, Write};
use std::path::PathBuf;

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use secrecy::ExposeSecret;

use crate::model::{RepoPath, SecretRef};

pub use escape::Escape;
pub use keyring::{KEY_FILE, Keyring};
pub use placeholder::{PLACEHOLDER_PREFIX, Resolver, escaped, fill, placeholder, references};

/// A decrypted secret. Its memory is zeroed when dropped; read it with
/// [`secrecy::ExposeSecret::expose_secret`].
pub type SecretBytes = secrecy::SecretSlice<u8>;

/// The largest plaintext a secret may hold. A DKIM key (RSA-4096 PEM) is about 3.3 KiB and a
/// certificate key or password far less; the bound keeps a hostile push from making the server
/// decrypt or fill megabytes per request.
pub const MAX_PLAINTEXT: usize = 64 * 1024;

/// The largest secret file accepted: the plaintext bound plus room for the age header (one stanza of
/// about 120 bytes per recipient), the per-64-KiB-chunk tags and the armor's base64 (4/3) and lines.
pub const MAX_FILE: usize = MAX_PLAINTEXT * 3 / 2 + 16 * 1024;

/// What went wrong with a key, a secret file or a placeholder. Messages are meant for an operator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read the secret key file {path}: {source}")]
    KeyFileRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the secret key file {path}: {source}")]
    KeyFileWrite {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the secret key file {path} already exists; refusing to overwrite a key")]
    KeyFileExists { path: PathBuf },
    #[error(
        "the secret key file {path} has mode {mode:04o}, so other users can read it; \
         run `chmod 600 {path}` (the key decrypts every secret in the repository)"
    )]
    KeyFileMode { path: PathBuf, mode: u32 },
    #[error("the secret key file {path}, line {line}: {reason}")]
    KeyFileInvalid {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("the secret key file {path} holds no AGE-SECRET-KEY-1... identity")]
    KeyFileEmpty { path: PathBuf },
    #[error("`{recipient}` is not an age X25519 recipient (age1...): {reason}")]
    BadRecipient { recipient: String, reason: String },
    #[error(
        "the secret is encrypted for none of this server's keys (encrypted for another server, \
         or with a key removed from the key file)"
    )]
    NotForThisServer,
    #[error("the secret is not a valid age file (corrupt, truncated or not encrypted): {reason}")]
    NotAge { reason: String },
    #[error("the secret is too large: {size} bytes, at most {max} are allowed")]
    TooLarge { size: usize, max: usize },
    #[error("encryption failed: {reason}")]
    Encrypt { reason: String },
    #[error("`{path}` is not a secret file (secrets live at secrets/<kind>/<name>)")]
    NotASecretPath { path: String },
    #[error("a placeholder names the secret `{secret}`, which does not exist")]
    MissingSecret { secret: SecretRef },
    #[error(
        "a placeholder names version {placeholder} of the secret `{secret}`, but the current \
         version is {current}; render again"
    )]
    StaleSecret {
        secret: SecretRef,
        placeholder: gix::ObjectId,
        current: gix::ObjectId,
    },
    #[error("the secret `{secret}` is not UTF-8 text, so it cannot be placed in a text file")]
    NotText { secret: SecretRef },
    #[error("the secret `{secret}` cannot be written with escape mode `{escape}`: {reason}")]
    Unescapable {
        secret: SecretRef,
        escape: Escape,
        reason: &'static str,
    },
    #[error("malformed secret placeholder on line {line}: {reason}")]
    MalformedPlaceholder { line: usize, reason: String },
    #[error("the secret `{secret}`: {source}")]
    In {
        secret: SecretRef,
        #[source]
        source: Box<Error>,
    },
}

/// Encrypts `plaintext` to every recipient, as an ASCII-armored age file: the bytes of a secret file.
pub fn encrypt(recipients: &[age::x25519::Recipient], plaintext: &[u8]) -> Result<Vec<u8>, Error> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(Error::TooLarge {
            size: plaintext.len(),
            max: MAX_PLAINTEXT,
        });
    }
    let fail = |e: &dyn std::fmt::Display| Error::Encrypt {
        reason: e.to_string(),
    };
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| r as _)).map_err(|e| fail(&e))?;
    let mut out = Vec::with_capacity(plaintext.len() * 3 / 2 + 512);
    let armor = ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor).map_err(|e| fail(&e))?;
    let mut writer = encryptor.wrap_output(armor).map_err(|e| fail(&e))?;
    writer.write_all(plaintext).map_err(|e| fail(&e))?;
    writer
        .finish()
        .and_then(|armor| armor.finish())
        .map_err(|e| fail(&e))?;
    Ok(out)
}

/// Encrypts for a recipient given as text (`age1...`): what `mailu-git secret encrypt` does with the
/// server's published recipient, so an operator can add a secret without the server's key.
pub fn encrypt_for_recipient(recipient: &str, plaintext: &[u8]) -> Result<Vec<u8>, Error> {
    encrypt(&[parse_recipient(recipient)?], plaintext)
}

/// Parses an age X25519 recipient (`age1...`).
pub fn parse_recipient(recipient: &str) -> Result<age::x25519::Recipient, Error> {
    recipient
        .trim()
        .parse()
        .map_err(|reason: &str| Error::BadRecipient {
            recipient: recipient.trim().to_owned(),
            reason: reason.to_owned(),
        })
}

/// Decrypts a secret file with any of `identities`. Sizes are bounded before and after decryption.
fn decrypt_with<'a>(
    identities: impl Iterator<Item = &'a dyn age::Identity>,
    file: &[u8],
) -> Result<SecretBytes, Error> {
    if file.len() > MAX_FILE {
        return Err(Error::TooLarge {
            size: file.len(),
            max: MAX_FILE,
        });
    }
    let not_age = |e: &dyn std::fmt::Display| Error::NotAge {
        reason: e.to_string(),
    };
    let decryptor =
        age::Decryptor::new_buffered(ArmoredReader::new(file)).map_err(|e| match e {
            age::DecryptError::Io(io) => not_age(&io),
            other => not_age(&other),
        })?;
    let reader = decryptor.decrypt(identities).map_err(|e| match e {
        age::DecryptError::NoMatchingKeys => Error::NotForThisServer,
        other => not_age(&other),
    })?;
    // The plaintext is never longer than the file, so this buffer is not reallocated (a reallocation
    // would leave an unwiped copy of the plaintext behind).
    let mut plain = Vec::with_capacity(file.len().min(MAX_PLAINTEXT) + 1);
    let read = reader
        .take(MAX_PLAINTEXT as u64 + 1)
        .read_to_end(&mut plain);
    let secret = SecretBytes::from(plain);
    read.map_err(|e| not_age(&e))?;
    if secret.expose_secret().len() > MAX_PLAINTEXT {
        return Err(Error::TooLarge {
            size: secret.expose_secret().len(),
            max: MAX_PLAINTEXT,
        });
    }
    Ok(secret)
}

/// The secret a repository path names, if it is a secret file.
pub fn secret_ref(path: &RepoPath) -> Result<SecretRef, Error> {
    let not_secret = || Error::NotASecretPath {
        path: path.as_str().to_owned(),
    };
    let rest = path
        .as_str()
        .strip_prefix("secrets/")
        .ok_or_else(not_secret)?;
    SecretRef::parse(rest).map_err(|_| not_secret())
}

#[cfg(test)]
mod tests;
