//! Secret placeholders: what a rendered file holds where a secret's value belongs, and how the bundle
//! endpoint fills them when it serves a service its files.
//!
//! Syntax: `@@mailu-secret:<kind>/<name>:<blob id>[:<escape>]@@`, e.g.
//! `@@mailu-secret:dkim/example.com:3f2a...(40 hex)@@` or `@@mailu-secret:fetch/3:3f2a...:fetchmail@@`
//! (the value escaped for the string it sits in, see [`Escape`]). The blob id is the git blob id of the
//! encrypted file, so changing a secret changes every rendered file that uses it (and its version
//! diff), while the repository still never holds the value. `@@` opens no construct in postfix,
//! dovecot, nginx, rspamd (UCL) or Jinja, and `mailu-secret:` makes an accidental match implausible.
//!
//! This is not templating: the renderer writes placeholders with [`placeholder`]; [`fill`] only
//! replaces them, in one linear pass, and refuses anything malformed instead of passing it through.

use std::collections::HashMap;

use secrecy::ExposeSecret;

use super::{Error, Escape, Keyring, SecretBytes};
use crate::model::SecretRef;

/// What every placeholder starts with.
pub const PLACEHOLDER_PREFIX: &str = "@@mailu-secret:";
const SUFFIX: &str = "@@";
/// The longest body between prefix and suffix: `<kind>/<name>` (128 + 1 + 128), `:`, a SHA-256 id,
/// `:` and an escape mode.
const MAX_BODY: usize = 128 + 1 + 128 + 1 + 64 + 1 + 16;

/// The placeholder for one version (blob) of a secret, filled verbatim.
pub fn placeholder(secret: &SecretRef, blob_id: &gix::ObjectId) -> String {
    escaped(secret, blob_id, Escape::Raw)
}

/// The placeholder for one version (blob) of a secret, filled escaped the `escape` way.
pub fn escaped(secret: &SecretRef, blob_id: &gix::ObjectId, escape: Escape) -> String {
    match escape.name() {
        None => format!("{PLACEHOLDER_PREFIX}{secret}:{blob_id}{SUFFIX}"),
        Some(mode) => format!("{PLACEHOLDER_PREFIX}{secret}:{blob_id}:{mode}{SUFFIX}"),
    }
}

/// Every placeholder in `text`, in order (duplicates kept). Fails on the first malformed one.
pub fn references(text: &str) -> Result<Vec<(SecretRef, gix::ObjectId)>, Error> {
    let mut found = Vec::new();
    scan(text, |_, secret, id, _| {
        found.push((secret, id));
        Ok(())
    })?;
    Ok(found)
}

/// Replaces every placeholder in `text` by the value `resolve` gives for it (see [`Resolver`]),
/// escaped as the placeholder asks. Runs in time linear in the length of `text` plus the values
/// inserted. A value that is not text, or that the escape mode cannot express, fails the whole fill.
pub fn fill(
    text: &str,
    mut resolve: impl FnMut(&SecretRef, &gix::ObjectId) -> Result<SecretBytes, Error>,
) -> Result<String, Error> {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    scan(text, |range, secret, id, escape| {
        out.push_str(&text[copied..range.start]);
        let value = resolve(&secret, &id)?;
        let value = std::str::from_utf8(value.expose_secret()).map_err(|_| Error::NotText {
            secret: secret.clone(),
        })?;
        escape
            .write(value, &mut out)
            .map_err(|reason| Error::Unescapable {
                secret,
                escape,
                reason,
            })?;
        copied = range.end;
        Ok(())
    })?;
    out.push_str(&text[copied..]);
    Ok(out)
}

/// Calls `each` with the byte range, secret, blob id and escape mode of every placeholder in `text`.
fn scan(
    text: &str,
    mut each: impl FnMut(std::ops::Range<usize>, SecretRef, gix::ObjectId, Escape) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut pos = 0;
    // Lines are counted incrementally from the previous placeholder, keeping the pass linear.
    let mut line = 1;
    let mut counted = 0;
    while let Some(offset) = text[pos..].find(PLACEHOLDER_PREFIX) {
        let start = pos + offset;
        line += text.as_bytes()[counted..start]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        counted = start;
        let malformed = |reason: String| Error::MalformedPlaceholder { line, reason };
        let body_start = start + PLACEHOLDER_PREFIX.len();
        let mut window_end = (body_start + MAX_BODY + SUFFIX.len()).min(text.len());
        while !text.is_char_boundary(window_end) {
            window_end -= 1;
        }
        let window = &text[body_start..window_end];
        let body_len = window.find(SUFFIX).ok_or_else(|| {
            malformed(format!(
                "`{PLACEHOLDER_PREFIX}` is not closed by `{SUFFIX}` within {MAX_BODY} characters"
            ))
        })?;
        let body = &window[..body_len];
        // Secret names hold no `:`, so the first one ends the name and a second one starts the mode.
        let (name, rest) = body.split_once(':').ok_or_else(|| {
            malformed(format!(
                "`{body}` should be `<kind>/<name>:<blob id>` (no `:` before the blob id)"
            ))
        })?;
        let (id, escape) = match rest.split_once(':') {
            None => (rest, Escape::Raw),
            Some((id, mode)) => (
                id,
                Escape::parse(mode).ok_or_else(|| {
                    malformed(format!(
                        "`{mode}` is not an escape mode (`quoted` or `fetchmail`)"
                    ))
                })?,
            ),
        };
        let secret = SecretRef::parse(name).map_err(|e| malformed(e.0))?;
        let hex_ok = matches!(id.len(), 40 | 64)
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex_ok {
            return Err(malformed(format!(
                "`{id}` is not a blob id (40 or 64 lower-case hex digits)"
            )));
        }
        let id = gix::ObjectId::from_hex(id.as_bytes())
            .map_err(|e| malformed(format!("`{id}` is not a blob id: {e}")))?;
        let end = body_start + body_len + SUFFIX.len();
        each(start..end, secret, id, escape)?;
        pos = end;
    }
    Ok(())
}

/// The encrypted secrets of one version, by name, with the keyring that opens them: the usual
/// `resolve` for [`fill`]. It refuses a placeholder that names a secret the version lacks, or an
/// older (or newer) blob of it than the version holds.
#[derive(Debug)]
pub struct Resolver<'a> {
    keyring: &'a Keyring,
    files: HashMap<SecretRef, (gix::ObjectId, &'a [u8])>,
}

impl<'a> Resolver<'a> {
    pub fn new(keyring: &'a Keyring) -> Self {
        Resolver {
            keyring,
            files: HashMap::new(),
        }
    }

    /// Adds a secret file of the version: its name, blob id and encrypted bytes.
    pub fn insert(&mut self, secret: SecretRef, blob_id: gix::ObjectId, file: &'a [u8]) {
        self.files.insert(secret, (blob_id, file));
    }

    /// Decrypts the secret a placeholder names, after checking the placeholder is current.
    pub fn resolve(
        &self,
        secret: &SecretRef,
        blob_id: &gix::ObjectId,
    ) -> Result<SecretBytes, Error> {
        let (current, file) = self.files.get(secret).ok_or_else(|| Error::MissingSecret {
            secret: secret.clone(),
        })?;
        if current != blob_id {
            return Err(Error::StaleSecret {
                secret: secret.clone(),
                placeholder: *blob_id,
                current: *current,
            });
        }
        self.keyring.decrypt(file).map_err(|e| Error::In {
            secret: secret.clone(),
            source: Box::new(e),
        })
    }
}
