//! The diff of two versions: one entry per changed file, sources first then rendered files by
//! service, each with a unified diff (the `similar` crate), paged and capped so a huge change or a
//! huge file never makes a huge answer.
//!
//! Paging: at most [`FILES_PER_PAGE`] files per page (`page`, from 1). A file's diff text is cut at
//! [`FILE_DIFF_CAP`] bytes (at a line end) with `truncated` and `next_offset`; asking again with
//! `path` (that file only) and `offset` gives the next part. Files over [`MAX_DIFF_INPUT`] bytes are
//! not diffed line by line (only their sizes are given).
//!
//! Secrets never show: a file under `secrets/`, or any file holding an age-encrypted block, is
//! listed as changed with its sizes and no content. Rendered files carry placeholders, not secrets,
//! so they are diffed as they are. Binary files (a NUL byte, or not UTF-8) are "binary, N bytes".

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Error, VersionRef, kind_name, rendered_service};
use crate::model::RepoPath;
use crate::store::{Changed, Rev, Revision, Snapshot, Store};

/// Files per page of a diff.
pub const FILES_PER_PAGE: usize = 50;
/// Bytes of one file's diff text per answer.
pub const FILE_DIFF_CAP: usize = 64 * 1024;
/// Files larger than this (either side) are not diffed line by line.
pub const MAX_DIFF_INPUT: usize = 4 << 20;
/// How long one file's diff may compute before `similar` settles for a coarser (still correct) diff.
const DIFF_TIMEOUT: Duration = Duration::from_secs(2);

/// The armor line of an age-encrypted file: what `secrets/` holds.
const AGE_ARMOR: &str = "-----BEGIN AGE ENCRYPTED FILE-----";
/// The start of a binary age file.
const AGE_BINARY: &[u8] = b"age-encryption.org/";

/// What part of a diff to answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffQuery {
    /// Only `rendered/<service>/` files.
    pub service: Option<String>,
    /// The page of files, from 1.
    pub page: usize,
    /// Only this file (to page into its diff with `offset`).
    pub path: Option<String>,
    /// Where in the file's diff text to start (a `next_offset` of an earlier answer).
    pub offset: usize,
}

/// The diff of two versions (one page of it).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Diff {
    pub from: VersionRef,
    pub to: VersionRef,
    /// Changed files in all (after the `service`/`path` filter).
    pub total_files: usize,
    pub page: usize,
    pub pages: usize,
    pub files: Vec<FileDiff>,
}

/// One changed file.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FileDiff {
    pub path: String,
    /// `sources` or `rendered`.
    pub group: String,
    /// The service of a rendered file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// `added`, `modified` or `deleted`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_size: Option<u64>,
    /// Instead of a diff: `secret: changed, content not shown`, `binary, N bytes`, `too large to
    /// diff, N bytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The unified diff text (from `offset`), at most [`FILE_DIFF_CAP`] bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// The diff text goes on past this answer.
    pub truncated: bool,
    /// Ask again with `path` and this `offset` for the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<usize>,
}

/// The diff from version `a` to version `b`.
pub fn diff(store: &Store, a: &Revision, b: &Revision, query: &DiffQuery) -> Result<Diff, Error> {
    let (from, to) = (store.resolve_version(a)?, store.resolve_version(b)?);
    let mut changed = store.changed_paths(from.commit, to.commit)?;
    if let Some(service) = &query.service {
        changed.retain(|c| rendered_service(c.path.as_str()) == Some(service.as_str()));
    }
    if let Some(path) = &query.path {
        changed.retain(|c| c.path.as_str() == path);
        if changed.is_empty() {
            return Err(Error::NoSuchFile(path.clone()));
        }
    } else if query.offset != 0 {
        return Err(Error::Query {
            field: "offset",
            message: "pages into one file's diff: give `path` too".into(),
        });
    }
    // Sources first, then rendered files by service (tree order inside each group).
    changed.sort_by_key(|c| c.path.as_str().starts_with("rendered/"));
    let total = changed.len();
    let pages = total.div_ceil(FILES_PER_PAGE).max(1);
    let page = query.page.max(1);
    if page > pages {
        return Err(Error::Query {
            field: "page",
            message: format!("there are {pages} page(s) of {FILES_PER_PAGE} files"),
        });
    }
    let old = store.snapshot(&Rev::Commit(from.commit))?;
    let new = store.snapshot(&Rev::Commit(to.commit))?;
    let files = changed
        .iter()
        .skip((page - 1) * FILES_PER_PAGE)
        .take(FILES_PER_PAGE)
        .map(|c| file_diff(&old, &new, c, query.offset))
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(Diff {
        from: VersionRef::of(&from),
        to: VersionRef::of(&to),
        total_files: total,
        page,
        pages,
        files,
    })
}

fn file_diff(
    old: &Snapshot,
    new: &Snapshot,
    c: &Changed,
    offset: usize,
) -> Result<FileDiff, Error> {
    let path = c.path.as_str();
    let service = rendered_service(path).map(str::to_owned);
    let read = |snap: &Snapshot, present: bool| -> Result<Option<Vec<u8>>, Error> {
        if present {
            Ok(snap.read(&c.path)?)
        } else {
            Ok(None)
        }
    };
    let before = read(old, c.old.is_some())?;
    let after = read(new, c.new.is_some())?;
    let size = |b: &Option<Vec<u8>>| b.as_ref().map(|b| b.len() as u64);
    let mut out = FileDiff {
        path: path.to_owned(),
        group: if service.is_some() {
            "rendered"
        } else {
            "sources"
        }
        .to_owned(),
        service,
        kind: kind_name(c.kind).to_owned(),
        old_size: size(&before),
        new_size: size(&after),
        note: None,
        diff: None,
        truncated: false,
        next_offset: None,
    };
    let (a, b) = (before.unwrap_or_default(), after.unwrap_or_default());
    if is_secret(&c.path, &a) || is_secret(&c.path, &b) {
        out.note = Some("secret: changed, content not shown".into());
        return Ok(out);
    }
    let (Some(a_text), Some(b_text)) = (text(&a), text(&b)) else {
        let n = if c.new.is_some() { b.len() } else { a.len() };
        out.note = Some(format!("binary, {n} bytes"));
        return Ok(out);
    };
    if a.len() > MAX_DIFF_INPUT || b.len() > MAX_DIFF_INPUT {
        out.note = Some(format!(
            "too large to diff, {} bytes before, {} bytes after",
            a.len(),
            b.len()
        ));
        return Ok(out);
    }
    let whole = unified(path, c, a_text, b_text);
    if offset > whole.len() || !whole.is_char_boundary(offset) {
        return Err(Error::Query {
            field: "offset",
            message: format!("the diff of {path} has {} bytes", whole.len()),
        });
    }
    let rest = &whole[offset..];
    let cut = cut_at(rest, FILE_DIFF_CAP);
    out.diff = Some(rest[..cut].to_owned());
    if cut < rest.len() {
        out.truncated = true;
        out.next_offset = Some(offset + cut);
    }
    Ok(out)
}

/// Whether a file's content must never be shown.
fn is_secret(path: &RepoPath, content: &[u8]) -> bool {
    path.as_str().starts_with("secrets/")
        || content.starts_with(AGE_BINARY)
        || content
            .windows(AGE_ARMOR.len())
            .any(|w| w == AGE_ARMOR.as_bytes())
}

/// The text of a file, `None` if it is binary.
fn text(bytes: &[u8]) -> Option<&str> {
    if bytes.contains(&0) {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}

/// The unified diff of one file, `git diff` style headers.
fn unified(path: &str, c: &Changed, a: &str, b: &str) -> String {
    let diff = similar::TextDiff::configure()
        .timeout(DIFF_TIMEOUT)
        .diff_lines(a, b);
    let old = if c.old.is_some() {
        format!("a/{path}")
    } else {
        "/dev/null".to_owned()
    };
    let new = if c.new.is_some() {
        format!("b/{path}")
    } else {
        "/dev/null".to_owned()
    };
    diff.unified_diff()
        .context_radius(3)
        .header(&old, &new)
        .to_string()
}

/// The length of `text`'s first part of at most `cap` bytes, ending after a line break when there
/// is one in it (else at a character boundary).
fn cut_at(text: &str, cap: usize) -> usize {
    if text.len() <= cap {
        return text.len();
    }
    let mut end = cap;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    match text[..end].rfind('\n') {
        Some(i) if i > 0 => i + 1,
        _ => end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_at_line_ends_and_char_boundaries() {
        assert_eq!(cut_at("abc", 10), 3);
        assert_eq!(cut_at("ab\ncd\nef", 7), 6);
        assert_eq!(cut_at("abcdef", 4), 4);
        // "é" is two bytes: never cut inside it.
        assert_eq!(cut_at("aéb", 2), 1);
    }

    #[test]
    fn secrets_and_binaries_are_recognised() {
        let p = RepoPath::parse("domains/x.toml").unwrap();
        assert!(is_secret(
            &RepoPath::parse("secrets/dkim/x").unwrap(),
            b"plain"
        ));
        assert!(is_secret(
            &p,
            b"a = 1\n-----BEGIN AGE ENCRYPTED FILE-----\nxx\n"
        ));
        assert!(is_secret(&p, b"age-encryption.org/v1\n"));
        assert!(!is_secret(&p, b"a = 1\n"));
        assert!(text(b"a\0b").is_none());
        assert!(text(&[0xff, 0xfe]).is_none());
        assert_eq!(text(b"ok"), Some("ok"));
    }
}
