//! The bare Git repository that holds every version of the configuration, on gix.
//!
//! [`Store`] is the only code that writes the repository: it creates it, reads [`Snapshot`]s at any
//! revision, commits a set of path edits as one version (compare-and-swap on `refs/heads/main`,
//! durable before it returns), walks the history of versions and lists the paths changed between two
//! commits. It is synchronous: async callers run it in `spawn_blocking`. It knows nothing about what
//! the files mean (that is `model`) and does not serialize writers: two commits on the same expected
//! head race, and the loser gets [`Error::RefMoved`].

mod commit;
mod durable;
mod gc;
mod history;
mod message;
mod quarantine;
mod refs;
mod revision;
mod snapshot;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use gix::ObjectId;

use crate::model::{PathError, RepoPath};

pub use commit::{Edit, Version};
pub use durable::Durability;
pub use gc::{Outcome, Squashed};
pub use history::{ChangeKind, Changed};
pub use message::{ChangeNote, CommitMeta, Person, VersionInfo};
pub use quarantine::Quarantine;
pub use refs::{Deployed, HOLD, RefMove, TAGS, Tag};
pub use revision::{MIN_SHORT_ID, Revision, RevisionError};
pub use snapshot::Snapshot;

/// The id `bytes` have (or will have) as a blob in the repository, computed without writing. The
/// API's `ETag`s and the write path's state use it, so a tag read before a commit stays valid after.
pub fn blob_id(bytes: &[u8]) -> gix::ObjectId {
    gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::objs::Kind::Blob, bytes)
        .expect("hashing bytes in memory cannot fail")
}

/// The branch whose first-parent chain holds the versions.
pub const MAIN: &str = "refs/heads/main";

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The compare-and-swap on a ref failed: someone else moved it since `expected` was read.
    #[error("{name} moved: expected {expected}, found {actual}")]
    RefMoved {
        name: String,
        expected: ObjectId,
        actual: ObjectId,
    },
    /// A ref moved by [`Store::move_refs`] did not have the value the caller read (`None`: absent).
    #[error(
        "{name} changed meanwhile: expected {}, found {}",
        show(expected),
        show(actual)
    )]
    RefConflict {
        name: String,
        expected: Option<ObjectId>,
        actual: Option<ObjectId>,
    },
    #[error("a repository already exists at {0}")]
    Exists(PathBuf),
    #[error("no repository at {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: gix::Error,
    },
    #[error("cannot create the repository at {path}")]
    Init {
        path: PathBuf,
        #[source]
        source: gix::Error,
    },
    /// A revision that names no version (see [`Revision`]).
    #[error(transparent)]
    Revision(#[from] RevisionError),
    #[error("revision not found: {0}")]
    RevNotFound(String),
    #[error("{0} is not a commit")]
    NotACommit(ObjectId),
    /// The commit metadata cannot be written as a commit message (a line break in a summary, ...).
    #[error("invalid commit metadata: {0}")]
    InvalidMeta(String),
    /// The same path appears twice in one set of edits.
    #[error("path {0} is edited twice in one commit")]
    DuplicateEdit(RepoPath),
    /// A path in the repository is not a valid [`RepoPath`] (it came in by a push or by hand).
    #[error("the repository holds an invalid path")]
    Path(#[from] PathError),
    #[error("cannot {action} ({path})")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// gix failed; `action` says what the store was doing.
    #[error("git: cannot {action}")]
    Git {
        action: &'static str,
        #[source]
        source: gix::Error,
    },
}

/// An optional ref value for messages.
fn show(id: &Option<ObjectId>) -> String {
    id.map_or_else(|| "nothing".to_owned(), |id| id.to_string())
}

impl Error {
    fn git(action: &'static str) -> impl FnOnce(gix::Error) -> Error {
        move |source| Error::Git { action, source }
    }

    fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.to_owned();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }
}

/// A revision to read: the head of main, a commit, a version number, or a full ref name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rev {
    Head,
    Commit(ObjectId),
    /// The version with this `Mailu-Version` number on main's first-parent chain.
    Version(u64),
    /// A full ref name, e.g. `refs/mailu/hold`.
    Ref(String),
}

/// The configuration repository. Cheap to clone, `Send + Sync`; every call opens a thread-local gix
/// handle, so calls from several threads do not share caches.
#[derive(Clone)]
pub struct Store {
    repo: gix::ThreadSafeRepository,
    path: PathBuf,
    durability: Durability,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("durability", &self.durability)
            .finish()
    }
}

/// Configuration appended to the repository's `config` at creation. Reflogs for every ref (hold refs
/// included, `always`), fsync for git's own subprocesses (receive-pack, gc), and no automatic gc:
/// gc runs under our writer lock, on our schedule.
const CONFIG: &str = "\n[core]\n\tlogAllRefUpdates = always\n\tfsync = committed,reference\n\
                      \tfsyncMethod = fsync\n[gc]\n\tauto = 0\n[receive]\n\tdenyNonFastForwards = true\n";

impl Store {
    /// Creates a bare repository at `path` (which must not exist, or be an empty directory) and commits
    /// `files` as version 1. The whole file system is synced once at the end (`syncfs`): the first
    /// commit may write thousands of objects, and one sync is far cheaper than one per file.
    pub fn init(
        path: &Path,
        files: &[(RepoPath, Vec<u8>)],
        meta: &CommitMeta,
    ) -> Result<Store, Error> {
        let occupied = match std::fs::read_dir(path) {
            Ok(mut entries) => entries.next().is_some(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(Error::io("read the directory", path)(e)),
        };
        if occupied {
            return Err(Error::Exists(path.to_owned()));
        }
        gix::init_bare(path).map_err(|source| Error::Init {
            path: path.to_owned(),
            source,
        })?;
        let config = path.join("config");
        let mut text =
            std::fs::read_to_string(&config).map_err(Error::io("read the config", &config))?;
        text.push_str(CONFIG);
        std::fs::write(&config, text).map_err(Error::io("write the config", &config))?;
        let head = path.join("HEAD");
        std::fs::write(&head, format!("ref: {MAIN}\n")).map_err(Error::io("write HEAD", &head))?;
        let store = Store::open(path)?;
        store.commit_first(files, meta)?;
        Ok(store)
    }

    /// Opens an existing repository made by [`Store::init`].
    pub fn open(path: &Path) -> Result<Store, Error> {
        // Isolated: only the repository's own config counts, never the server user's ~/.gitconfig.
        // The override keeps reflogs on even if someone edited the config file.
        let options =
            gix::open::Options::isolated().config_overrides(["core.logAllRefUpdates=always"]);
        let repo =
            gix::ThreadSafeRepository::open_opts(path, options).map_err(|source| Error::Open {
                path: path.to_owned(),
                source,
            })?;
        Ok(Store {
            repo,
            path: path.to_owned(),
            durability: Durability::Files,
        })
    }

    /// The same store, making commits durable the given way (see [`Durability`]).
    pub fn with_durability(mut self, durability: Durability) -> Store {
        self.durability = durability;
        self
    }

    /// The repository directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The commit `refs/heads/main` points at.
    pub fn head(&self) -> Result<ObjectId, Error> {
        let repo = self.local();
        resolve_ref(&repo, MAIN)?.ok_or_else(|| Error::RevNotFound(MAIN.into()))
    }

    /// The commit a revision names.
    pub fn resolve(&self, rev: &Rev) -> Result<ObjectId, Error> {
        let repo = self.local();
        match rev {
            Rev::Head => resolve_ref(&repo, MAIN)?.ok_or_else(|| Error::RevNotFound(MAIN.into())),
            Rev::Ref(name) => {
                resolve_ref(&repo, name)?.ok_or_else(|| Error::RevNotFound(name.clone()))
            }
            Rev::Commit(id) => {
                // Checks that the object exists and is a commit.
                commit_tree(&repo, *id)?;
                Ok(*id)
            }
            Rev::Version(n) => {
                let head =
                    resolve_ref(&repo, MAIN)?.ok_or_else(|| Error::RevNotFound(MAIN.into()))?;
                history::find_version(&repo, head, *n)?
                    .ok_or_else(|| Error::RevNotFound(format!("version {n}")))
            }
        }
    }

    /// The files of the repository at `rev`.
    pub fn snapshot(&self, rev: &Rev) -> Result<Snapshot, Error> {
        let commit = self.resolve(rev)?;
        let tree = commit_tree(&self.local(), commit)?;
        Ok(Snapshot::new(self.repo.clone(), commit, tree))
    }

    fn local(&self) -> gix::Repository {
        self.repo.to_thread_local()
    }
}

/// The object a ref points at, `None` if the ref does not exist.
fn resolve_ref(repo: &gix::Repository, name: &str) -> Result<Option<ObjectId>, Error> {
    let reference = repo
        .try_find_reference(name)
        .map_err(Error::git("read a reference"))?;
    match reference {
        None => Ok(None),
        Some(mut r) => Ok(Some(
            r.peel_to_id()
                .map_err(Error::git("peel a reference"))?
                .detach(),
        )),
    }
}

/// The tree of commit `id`.
fn commit_tree(repo: &gix::Repository, id: ObjectId) -> Result<ObjectId, Error> {
    let object = repo
        .try_find_object(id)
        .map_err(Error::git("read a commit"))?
        .ok_or_else(|| Error::RevNotFound(id.to_string()))?;
    let commit = object
        .try_into_commit()
        .map_err(|_| Error::NotACommit(id))?;
    Ok(commit
        .tree_id()
        .map_err(Error::git("read a commit's tree"))?
        .detach())
}
