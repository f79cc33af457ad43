//! Versioning as operators use it: the history of versions, one version's changes, the diff of two
//! versions, revert, suspend/resume of deployment, and the server's status. The API handlers
//! (`api/version.rs`) and the offline CLI (`mailu-git revert --data DIR`, ...) both call these
//! functions, so online and offline behave the same; the handlers only parse HTTP and map errors.
//!
//! Layering: below `api` and `cli`, above `versioner` (revert, suspend and resume run inside
//! [`crate::versioner::Versioner::exclusive`]: pending writes are committed first and no writer runs
//! meanwhile), `render`, `model` and `store` (which alone moves refs). Not here: HTTP, terminal
//! prompts, or how a revision is read (`store::Revision`).

mod diff;
mod history;
mod hold;
mod revert;
mod status;

use serde::{Deserialize, Serialize};

use crate::model::Diagnostics;
use crate::store::{self, ChangeKind};
use crate::versioner;

pub use diff::{Diff, DiffQuery, FILE_DIFF_CAP, FILES_PER_PAGE, FileDiff, MAX_DIFF_INPUT, diff};
pub use history::{PathChange, VersionDetail, VersionEntry, list, show};
pub use hold::{Hold, resume, suspend};
pub use revert::{Reverted, revert};
pub use status::{
    DeployedStatus, JournalStatus, MainStatus, RefsStatus, RendererStatus, Status, Writable,
    refs_status, status,
};

/// How many versions back `versions_ahead` and similar walks look before giving up.
pub const LOOKBACK: usize = 100_000;

/// Everything versioning can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A revision that names no version, or the repository cannot be read.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// The version to revert to does not load or render under today's rules: nothing changed.
    #[error("version {number} cannot be restored, it is invalid under today's rules:\n{problems}")]
    Invalid { number: u64, problems: Diagnostics },
    /// `suspend` while suspended.
    #[error(
        "deployment is already suspended, since version {version} (resume first, or revert with deploy)"
    )]
    AlreadySuspended { version: u64 },
    /// `resume` while not suspended.
    #[error("deployment is not suspended: the deployed version follows main")]
    NotSuspended,
    /// A query parameter is wrong (`field` names it).
    #[error("{field}: {message}")]
    Query {
        field: &'static str,
        message: String,
    },
    /// `?path=` of a diff names a file that did not change between the two versions.
    #[error("{0} does not differ between the two versions")]
    NoSuchFile(String),
    #[error(transparent)]
    Versioner(#[from] versioner::Error),
    #[error("a blocking task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// A version by number and commit id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VersionRef {
    pub number: u64,
    /// The full commit id.
    pub commit: String,
}

impl VersionRef {
    fn of(info: &store::VersionInfo) -> VersionRef {
        VersionRef {
            number: info.number,
            commit: info.commit.to_string(),
        }
    }
}

/// `added`, `modified` or `deleted`.
fn kind_name(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Added => "added",
        ChangeKind::Modified => "modified",
        ChangeKind::Deleted => "deleted",
    }
}

/// The service a path of `rendered/<service>/...` belongs to.
fn rendered_service(path: &str) -> Option<&str> {
    path.strip_prefix("rendered/")?.split('/').next()
}

/// The author of a version made by `caller` outside the journal (a revert).
fn person(versioner: &versioner::Versioner, caller: &str) -> store::Person {
    store::Person {
        name: caller.to_owned(),
        email: versioner.committer().email.clone(),
    }
}
