//! Making a version: path edits applied to the parent's tree with incremental tree edits (only the
//! trees on edited paths are read and written), a commit with the version trailers, and the move of
//! `refs/heads/main` by compare-and-swap, made durable on the way (see `durable`).
//!
//! Not here: deciding what to commit (the journal), or serializing writers (a lost race is
//! [`Error::RefMoved`] and the caller retries on the new head).

use std::{collections::BTreeSet, time::Duration};

use gix::{
    ObjectId,
    objs::tree::EntryKind,
    refs::{
        Target,
        transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog},
    },
};

use super::{CommitMeta, Durability, Error, MAIN, Person, Store, commit_tree, durable, history};
use crate::model::RepoPath;

/// How long to wait for another writer's `refs/heads/main.lock` (a concurrent commit or a
/// `git receive-pack`) before giving up. Locks are held for a few milliseconds.
pub(super) const LOCK_TIMEOUT: Duration = Duration::from_secs(2);

/// One change to one file: new content, or `None` to delete it. Deleting the last file of a
/// directory removes the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub path: RepoPath,
    pub content: Option<Vec<u8>>,
}

impl Edit {
    pub fn write(path: RepoPath, content: impl Into<Vec<u8>>) -> Self {
        Edit {
            path,
            content: Some(content.into()),
        }
    }

    pub fn delete(path: RepoPath) -> Self {
        Edit {
            path,
            content: None,
        }
    }
}

/// A version that was committed and is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    pub commit: ObjectId,
    pub tree: ObjectId,
    pub number: u64,
}

impl Store {
    /// Commits `edits` on top of `expected` as the next version and moves `refs/heads/main` from
    /// `expected` to it. When this returns `Ok`, the version survives power loss. If main is no longer
    /// at `expected`, nothing changes and the error is [`Error::RefMoved`].
    pub fn commit(
        &self,
        expected: ObjectId,
        edits: &[Edit],
        meta: &CommitMeta,
    ) -> Result<Version, Error> {
        meta.check()?;
        check_unique(edits)?;
        let repo = self.local();
        let base = commit_tree(&repo, expected)?;
        let number = history::nearest_version(&repo, expected)?.map_or(1, |n| n + 1);
        let mut written = Vec::new();
        let tree = apply(&repo, base, edits, &mut written)?;
        let commit = write_commit(&repo, tree, &[expected], meta, number)?;
        written.push(commit);
        crate::crash::point("after-objects");
        self.move_main(&repo, Some(expected), commit, &written, meta, number)?;
        Ok(Version {
            commit,
            tree,
            number,
        })
    }

    /// Commits `edits` on top of `parent` (a pushed commit, a descendant of `expected`) as the next
    /// version and moves `refs/heads/main` from `expected` to it. The version's parents are
    /// `expected` first and the pushed commit second: main's first-parent chain then holds only
    /// versions, even when the operator merged (rather than rebased) before pushing, which puts
    /// earlier versions behind a second parent of the pushed commit. The pushed commit is still
    /// an ancestor, so the operator's `git pull` fast-forwards. `migrated` are the files (relative
    /// to `objects/`) git moved out of the push's quarantine: they are synced with the new objects
    /// before main moves, since git renames them without syncing their directories.
    pub fn commit_pushed(
        &self,
        expected: ObjectId,
        parent: ObjectId,
        edits: &[Edit],
        meta: &CommitMeta,
        migrated: &[std::path::PathBuf],
    ) -> Result<Version, Error> {
        meta.check()?;
        check_unique(edits)?;
        let repo = self.local();
        let base = commit_tree(&repo, parent)?;
        let number = history::nearest_version(&repo, expected)?.map_or(1, |n| n + 1);
        let mut written = Vec::new();
        let tree = apply(&repo, base, edits, &mut written)?;
        let commit = write_commit(&repo, tree, &[expected, parent], meta, number)?;
        written.push(commit);
        let objects = self.path.join("objects");
        let mut paths = Vec::new();
        let mut dirs = BTreeSet::new();
        for rel in migrated {
            let path = objects.join(rel);
            if path.exists() {
                if let Some(dir) = path.parent() {
                    dirs.insert(dir.to_owned());
                }
                paths.push(path);
            }
        }
        paths.extend(dirs);
        durable::sync_all(&paths)?;
        self.move_main(&repo, Some(expected), commit, &written, meta, number)?;
        Ok(Version {
            commit,
            tree,
            number,
        })
    }

    /// Commits the tree `base` (an existing tree: an older version's), with `edits` applied to it,
    /// on top of `expected` as the next version, and moves `refs/heads/main` from `expected` to it:
    /// a revert. Same durability and compare-and-swap as [`Store::commit`]. With no edits the new
    /// version's tree IS `base`: its objects are already in the repository (and durable).
    pub fn commit_tree(
        &self,
        expected: ObjectId,
        base: ObjectId,
        edits: &[Edit],
        meta: &CommitMeta,
    ) -> Result<Version, Error> {
        meta.check()?;
        check_unique(edits)?;
        let repo = self.local();
        // The parent must be a commit and `base` a tree of this repository.
        commit_tree(&repo, expected)?;
        let found = repo
            .try_find_object(base)
            .map_err(Error::git("read a tree"))?
            .ok_or_else(|| Error::RevNotFound(base.to_string()))?;
        if found.kind != gix::object::Kind::Tree {
            return Err(Error::RevNotFound(format!("{base} is not a tree")));
        }
        drop(found);
        let number = history::nearest_version(&repo, expected)?.map_or(1, |n| n + 1);
        let mut written = Vec::new();
        let tree = if edits.is_empty() {
            base
        } else {
            apply(&repo, base, edits, &mut written)?
        };
        let commit = write_commit(&repo, tree, &[expected], meta, number)?;
        written.push(commit);
        self.move_main(&repo, Some(expected), commit, &written, meta, number)?;
        Ok(Version {
            commit,
            tree,
            number,
        })
    }

    /// The first version of a new repository. Synced with `syncfs`, whatever the store's
    /// [`Durability`]: it may write thousands of objects.
    pub(super) fn commit_first(
        &self,
        files: &[(RepoPath, Vec<u8>)],
        meta: &CommitMeta,
    ) -> Result<Version, Error> {
        meta.check()?;
        let edits: Vec<Edit> = files
            .iter()
            .map(|(path, content)| Edit::write(path.clone(), content.clone()))
            .collect();
        check_unique(&edits)?;
        let repo = self.local();
        let empty = ObjectId::empty_tree(repo.object_hash());
        let tree = apply(&repo, empty, &edits, &mut Vec::new())?;
        let commit = write_commit(&repo, tree, &[], meta, 1)?;
        let store = self.clone().with_durability(Durability::Filesystem);
        store.move_main(&repo, None, commit, &[], meta, 1)?;
        Ok(Version {
            commit,
            tree,
            number: 1,
        })
    }

    /// Moves main from `expected` (`None`: it must not exist) to `new`, syncing `written` objects
    /// before and the ref after.
    fn move_main(
        &self,
        repo: &gix::Repository,
        expected: Option<ObjectId>,
        new: ObjectId,
        written: &[ObjectId],
        meta: &CommitMeta,
        number: u64,
    ) -> Result<(), Error> {
        if self.durability == Durability::Files {
            durable::sync_objects(&self.path.join("objects"), written)?;
        }
        let edit = RefEdit {
            change: Change::Update {
                log: LogChange {
                    mode: RefLog::AndReference,
                    force_create_reflog: true,
                    message: format!("commit: version {number}: {}", meta.summary.trim()).into(),
                },
                expected: match expected {
                    Some(id) => PreviousValue::MustExistAndMatch(Target::Object(id)),
                    None => PreviousValue::MustNotExist,
                },
                new: Target::Object(new),
            },
            name: MAIN.try_into().expect("MAIN is a valid ref name"),
            deref: false,
        };
        let fail = gix::lock::acquire::Fail::AfterDurationWithBackoff(LOCK_TIMEOUT);
        let transaction = match repo.refs.transaction().prepare([edit], fail, fail) {
            Ok(t) => t,
            Err(e) => return Err(self.cas_error(repo, expected, e)),
        };
        // The lock file now holds the new value and is closed but still ours. Syncing it before the
        // rename means a crash can never leave an empty `main`.
        match self.durability {
            Durability::Files => durable::sync_path(&self.path.join(format!("{MAIN}.lock")))?,
            Durability::Filesystem => durable::sync_filesystem(&self.path)?,
        }
        let committer = signature(&meta.committer);
        let mut time = gix::date::parse::TimeBuf::default();
        transaction
            .commit(Some(committer.to_ref(&mut time)))
            .map_err(Error::git("move refs/heads/main"))?;
        match self.durability {
            Durability::Files => durable::sync_ref(&self.path, MAIN),
            Durability::Filesystem => durable::sync_filesystem(&self.path),
        }
    }

    /// Turns a failed ref transaction into [`Error::RefMoved`] when the ref is not where the caller
    /// expected it (also when the failure was a lock held by the writer that moved it).
    fn cas_error(
        &self,
        repo: &gix::Repository,
        expected: Option<ObjectId>,
        e: gix::Error,
    ) -> Error {
        use gix::refs::file::transaction::prepare::{MustNotExist, ReferenceOutOfDate};
        let seen = if let Some(out) = e.downcast_any_ref::<ReferenceOutOfDate>() {
            Some(out.actual.try_id().map(ToOwned::to_owned))
        } else if let Some(out) = e.downcast_any_ref::<MustNotExist>() {
            Some(out.actual.try_id().map(ToOwned::to_owned))
        } else {
            super::resolve_ref(repo, MAIN).ok()
        };
        match (expected, seen) {
            (Some(expected), Some(Some(actual))) if actual != expected => Error::RefMoved {
                name: MAIN.into(),
                expected,
                actual,
            },
            (Some(_), Some(None)) => Error::RevNotFound(MAIN.into()),
            (None, Some(Some(_))) => Error::Exists(self.path.clone()),
            _ => Error::Git {
                action: "lock refs/heads/main",
                source: e,
            },
        }
    }
}

/// Applies `edits` to the tree `base` and writes the changed trees, recording every object id
/// written (or found already present) in `written`. Paths are [`RepoPath`]s, checked once when they
/// were made, so the plumbing editor writes without checking names again (the checked editor costs
/// ~150 ms per write on a directory of 100,000 entries).
fn apply(
    repo: &gix::Repository,
    base: ObjectId,
    edits: &[Edit],
    written: &mut Vec<ObjectId>,
) -> Result<ObjectId, Error> {
    let mut editor = repo
        .edit_tree(base)
        .map_err(Error::git("read the parent tree"))?
        .detach();
    for edit in edits {
        let parts = edit.path.as_str().split('/');
        match &edit.content {
            Some(bytes) => {
                let id = repo
                    .write_blob(bytes)
                    .map_err(Error::git("write a blob"))?
                    .detach();
                written.push(id);
                editor
                    .upsert(parts, EntryKind::Blob, id)
                    .map_err(Error::git("edit a tree"))?;
            }
            None => {
                editor
                    .remove_leaf(parts)
                    .map_err(Error::git("remove a file (a directory cannot be removed)"))?;
            }
        }
    }
    editor
        .write(|tree| {
            let id = repo.write_object(tree)?.detach();
            written.push(id);
            Ok(id)
        })
        .map_err(Error::git("write a tree"))
}

fn write_commit(
    repo: &gix::Repository,
    tree: ObjectId,
    parents: &[ObjectId],
    meta: &CommitMeta,
    number: u64,
) -> Result<ObjectId, Error> {
    let commit = gix::objs::Commit {
        tree,
        parents: parents.iter().copied().collect(),
        author: signature_at(&meta.author, meta.time),
        committer: signature_at(&meta.committer, meta.time),
        encoding: None,
        message: meta.message(number).into(),
        extra_headers: Vec::new(),
    };
    Ok(repo
        .write_object(&commit)
        .map_err(Error::git("write a commit"))?
        .detach())
}

pub(super) fn signature(p: &Person) -> gix::actor::Signature {
    signature_at(p, None)
}

/// A signature at `time` (seconds since the Unix epoch, UTC), or now.
fn signature_at(p: &Person, time: Option<i64>) -> gix::actor::Signature {
    gix::actor::Signature {
        name: p.name.as_str().into(),
        email: p.email.as_str().into(),
        time: time.map_or_else(gix::date::Time::now_utc, |seconds| gix::date::Time {
            seconds,
            offset: 0,
        }),
    }
}

fn check_unique(edits: &[Edit]) -> Result<(), Error> {
    let mut seen = BTreeSet::new();
    for e in edits {
        if !seen.insert(&e.path) {
            return Err(Error::DuplicateEdit(e.path.clone()));
        }
    }
    Ok(())
}
