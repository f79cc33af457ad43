//! What every resource handler shares: the [`View`] of the acknowledged configuration it validates
//! against, the [`Change`] a write produces (file edits for the journal), `ETag`s of file contents,
//! `If-Match`, and turning the model's problems into a 400 in Mailu's shape.
//!
//! Resource logic is written as plain functions `(view, request) -> Result<Change, Error>` so it can
//! be tested without HTTP or a journal; the handler runs it under the writer's lock and submits the
//! change.

use std::collections::{BTreeMap, HashSet};

use axum::http::{HeaderMap, header};

use super::Error;
use crate::journal::Edit;
use crate::model::{Config, Problem, RepoPath};

/// The acknowledged configuration (main plus pending changes), as a resource sees it.
pub trait View {
    /// The validated configuration.
    fn config(&self) -> &Config;
    /// The current bytes of a file, pending changes included.
    fn read(&self, path: &RepoPath) -> Option<Vec<u8>>;
    /// The files under the folder `dir` (recursively), in path order.
    fn list(&self, dir: &RepoPath) -> Vec<RepoPath>;
}

/// A view over fixed contents: a snapshot's files and the configuration loaded from them.
#[derive(Debug)]
pub struct Fixed {
    pub config: Config,
    pub files: BTreeMap<RepoPath, Vec<u8>>,
}

impl Fixed {
    /// Loads `files`; a tree that does not load is an invariant breach (main is always valid).
    pub fn load(files: BTreeMap<RepoPath, Vec<u8>>) -> Result<Fixed, crate::model::Diagnostics> {
        Ok(Fixed {
            config: crate::model::load(&files)?,
            files,
        })
    }
}

impl View for Fixed {
    fn config(&self) -> &Config {
        &self.config
    }

    fn read(&self, path: &RepoPath) -> Option<Vec<u8>> {
        self.files.get(path).cloned()
    }

    fn list(&self, dir: &RepoPath) -> Vec<RepoPath> {
        let prefix = format!("{dir}/");
        self.files
            .keys()
            .filter(|p| p.as_str().starts_with(&prefix))
            .cloned()
            .collect()
    }
}

/// The acknowledged state of the write path as a [`View`]: main plus every acknowledged change.
pub struct Acked<'a> {
    state: &'a crate::versioner::State,
    config: &'a Config,
}

impl<'a> Acked<'a> {
    /// Fails only when the acknowledged configuration does not load, which main's invariant rules out
    /// (every version was validated); it is reported as a server error, not the caller's.
    pub fn new(state: &'a crate::versioner::State) -> Result<Acked<'a>, Error> {
        let config = state
            .config()
            .map_err(|problems| Error::HeadInvalid(problems.to_string()))?;
        Ok(Acked { state, config })
    }
}

impl View for Acked<'_> {
    fn config(&self) -> &Config {
        self.config
    }

    fn read(&self, path: &RepoPath) -> Option<Vec<u8>> {
        match self.state.read(path) {
            Ok(found) => found,
            Err(err) => {
                // A read error of a committed blob means a damaged repository; the write that
                // needed it sees the file as missing and is refused, and the log says why.
                tracing::error!(%path, error = %err, "cannot read a file of the acknowledged state");
                None
            }
        }
    }

    fn list(&self, dir: &RepoPath) -> Vec<RepoPath> {
        match self.state.list(dir) {
            Ok(files) => files.into_iter().map(|(path, _)| path).collect(),
            Err(err) => {
                tracing::error!(%dir, error = %err, "cannot list a folder of the acknowledged state");
                Vec::new()
            }
        }
    }
}

/// Runs `read` on the acknowledged view (main plus every acknowledged change), off the async threads:
/// a list over 100,000 users is real work. Every GET reads through here, so reads see writes at once.
pub async fn read<T, F>(ctx: &super::Context, read: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce(&dyn View) -> Result<T, Error> + Send + 'static,
{
    let versioner = ctx.versioner.clone();
    tokio::task::spawn_blocking(move || {
        let state = versioner.state();
        let view = Acked::new(&state)?;
        read(&view)
    })
    .await?
}

/// What one API write does: a one-line summary (for the version message) and the file edits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub summary: String,
    pub edits: Vec<Edit>,
}

/// The `ETag` of a file's content: its git blob id, quoted. The same as the id the file has in the
/// repository once committed, so a tag stays valid across the commit.
pub fn etag_of(content: &[u8]) -> String {
    format!("\"{}\"", crate::store::blob_id(content))
}

/// Refuses the write with 412 when the request's `If-Match` does not name the current content of
/// `path` (`None` when it does not exist; `If-Match: *` then fails too, as RFC 9110 says).
pub fn check_if_match(headers: &HeaderMap, current: Option<&[u8]>) -> Result<(), Error> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(());
    };
    let value = value.to_str().unwrap_or_default();
    let current_tag = current.map(etag_of);
    let matches = value
        .split(',')
        .map(str::trim)
        .any(|tag| match &current_tag {
            Some(current) => tag == "*" || tag == current,
            None => false,
        });
    if matches {
        Ok(())
    } else {
        Err(Error::PreconditionFailed(
            "the object changed since it was read (If-Match does not name its current ETag); read it again"
                .into(),
        ))
    }
}

/// The model's problems with one request as a 400: `errors` maps each field to its first problem
/// (a problem with the whole object is filed under `_`).
pub fn invalid(problems: Vec<Problem>) -> Error {
    let mut errors = BTreeMap::new();
    let mut seen = HashSet::new();
    let mut lines = Vec::new();
    for p in problems {
        let field = if p.field.is_empty() {
            "_".to_owned()
        } else {
            p.field
        };
        if seen.insert(field.clone()) {
            errors.insert(field.clone(), p.message.clone());
        }
        lines.push(format!("{field}: {}", p.message));
    }
    Error::Invalid {
        message: lines.join("; "),
        errors,
    }
}

/// RFC 7396 JSON merge patch: objects merge key by key, `null` removes a key (its default returns),
/// anything else replaces.
pub fn merge_patch(target: &mut serde_json::Value, patch: serde_json::Value) {
    match patch {
        serde_json::Value::Object(entries) => {
            if !target.is_object() {
                *target = serde_json::Value::Object(serde_json::Map::new());
            }
            if let serde_json::Value::Object(map) = target {
                for (key, value) in entries {
                    if value.is_null() {
                        map.remove(&key);
                    } else {
                        merge_patch(map.entry(key).or_insert(serde_json::Value::Null), value);
                    }
                }
            }
        }
        other => *target = other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_is_the_git_blob_id() {
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(
            etag_of(b"hello\n"),
            "\"ce013625030ba8dba906f756967f9e9ca394464a\""
        );
    }

    #[test]
    fn if_match_rules() {
        let mut headers = HeaderMap::new();
        assert!(check_if_match(&headers, None).is_ok());
        headers.insert(header::IF_MATCH, etag_of(b"a").parse().unwrap());
        assert!(check_if_match(&headers, Some(b"a")).is_ok());
        assert_eq!(
            check_if_match(&headers, Some(b"b")).unwrap_err().status(),
            412
        );
        assert_eq!(check_if_match(&headers, None).unwrap_err().status(), 412);
        headers.insert(header::IF_MATCH, "*".parse().unwrap());
        assert!(check_if_match(&headers, Some(b"b")).is_ok());
    }

    #[test]
    fn problems_become_a_field_map() {
        let err = invalid(vec![
            Problem::new("quota_bytes", "too big"),
            Problem::new("quota_bytes", "again"),
        ]);
        match err {
            Error::Invalid { errors, message } => {
                assert_eq!(
                    errors.get("quota_bytes").map(String::as_str),
                    Some("too big")
                );
                assert!(message.contains("again"));
            }
            other => panic!("{other:?}"),
        }
    }
}
