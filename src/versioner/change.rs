//! A change as a writer hands it in, and what is checked and converted before it is journaled:
//! it must become a `Mailu-Change` trailer and fit in one journal record. Not here: validation
//! against the configuration (the writer's closure).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::{Entry, Error, Layer};
use crate::journal::{self, Record};
use crate::model::RepoPath;
use crate::store::Edit;

/// One validated change, as the writer's closure returns it.
#[derive(Debug, Clone)]
pub struct Change {
    /// The access token's name; one line.
    pub author: String,
    /// One line for the version message, e.g. `Create user alice@example.com`.
    pub summary: String,
    /// The resulting content of every file the change touches.
    pub edits: Vec<Edit>,
}

/// The overlay the given changes make, in order.
pub(super) fn overlay_of<'a>(
    entries: impl IntoIterator<Item = &'a Entry>,
) -> BTreeMap<RepoPath, Layer> {
    let mut overlay = BTreeMap::new();
    for e in entries {
        for edit in e.edits.iter() {
            overlay.insert(
                edit.path.clone(),
                Layer {
                    seq: e.seq,
                    content: edit.content.as_deref().map(Arc::from),
                },
            );
        }
    }
    overlay
}

/// Refuses what cannot become a version's trailers; makes the summary one line.
pub(super) fn checked(mut change: Change) -> Result<Change, Error> {
    if change.edits.is_empty() {
        return Err(Error::InvalidChange("a change edits no file".into()));
    }
    let author = change.author.trim();
    if author.is_empty() || author.contains(['\n', '\r', '\0', '<', '>']) {
        return Err(Error::InvalidChange(format!(
            "the author {:?} must be one non-empty line without `<` or `>`",
            change.author
        )));
    }
    change.author = author.to_owned();
    let summary: String = change
        .summary
        .split(|c: char| c.is_control())
        .filter(|s| !s.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    change.summary = if summary.is_empty() {
        "API change".into()
    } else {
        summary
    };
    Ok(change)
}

/// Refuses a record the journal would refuse, before it is queued: a later writer may validate
/// against it, so it must not fail alone.
pub(super) fn check_size(record: &Record) -> Result<(), Error> {
    let mut buf = Vec::new();
    journal::log::encode(record, &mut buf).map_err(journal::Error::from)?;
    if buf.len() > journal::log::MAX_RECORD {
        return Err(journal::Error::TooLarge {
            size: buf.len(),
            max: journal::log::MAX_RECORD,
        }
        .into());
    }
    Ok(())
}

pub(super) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
