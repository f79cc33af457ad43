//! Reading history: the versions on a first-parent chain, finding a version by number, and the
//! file paths that differ between two commits (a plumbing tree diff, no rename detection).

use gix::{ObjectId, bstr::ByteSlice};

use super::{Error, Store, VersionInfo, commit_tree, message};
use crate::model::RepoPath;

/// How a path differs between two commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

/// One file that differs between two commits, with its blob id on each side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub path: RepoPath,
    pub kind: ChangeKind,
    pub old: Option<ObjectId>,
    pub new: Option<ObjectId>,
}

/// One commit on a first-parent walk.
struct Step {
    id: ObjectId,
    parent: Option<ObjectId>,
    message: String,
    time: i64,
    author: String,
}

fn step(repo: &gix::Repository, id: ObjectId) -> Result<Step, Error> {
    let commit = repo.find_commit(id).map_err(Error::git("read a commit"))?;
    let decoded = commit.decode().map_err(Error::git("decode a commit"))?;
    Ok(Step {
        id,
        parent: decoded.parents().next(),
        message: decoded.message.to_str_lossy().into_owned(),
        time: decoded
            .committer()
            .map_err(Error::git("read a committer"))?
            .seconds(),
        author: decoded
            .author()
            .map_err(Error::git("read an author"))?
            .name
            .to_str_lossy()
            .trim()
            .to_owned(),
    })
}

/// Walks the first-parent chain from `from`, calling `visit` until it returns `false`.
fn walk(
    repo: &gix::Repository,
    from: ObjectId,
    mut visit: impl FnMut(Step) -> bool,
) -> Result<(), Error> {
    let mut next = Some(from);
    while let Some(id) = next {
        let s = step(repo, id)?;
        next = s.parent;
        if !visit(s) {
            break;
        }
    }
    Ok(())
}

/// The number of the newest version at or before `from` on its first-parent chain.
pub(super) fn nearest_version(
    repo: &gix::Repository,
    from: ObjectId,
) -> Result<Option<u64>, Error> {
    let mut found = None;
    walk(repo, from, |s| {
        found = message::parse(&s.message).map(|t| t.number);
        found.is_none()
    })?;
    Ok(found)
}

/// The commit of version `number` on the first-parent chain of `head`.
pub(super) fn find_version(
    repo: &gix::Repository,
    head: ObjectId,
    number: u64,
) -> Result<Option<ObjectId>, Error> {
    let mut found = None;
    walk(repo, head, |s| match message::parse(&s.message) {
        // Numbers only grow along the chain, so a smaller one means the version is not there.
        Some(t) if t.number <= number => {
            found = (t.number == number).then_some(s.id);
            false
        }
        _ => true,
    })?;
    Ok(found)
}

/// The version a walked commit is, if it carries the trailers.
fn version_of(s: &Step) -> Option<VersionInfo> {
    let t = message::parse(&s.message)?;
    let mut authors = vec![s.author.clone()];
    for c in &t.changes {
        if !authors.contains(&c.author) {
            authors.push(c.author.clone());
        }
    }
    Some(VersionInfo {
        commit: s.id,
        number: t.number,
        time: s.time,
        summary: message::summary(&s.message),
        authors,
        renderer: t.renderer,
        changes: t.changes,
    })
}

/// Commit `id` read as a version; `None` when it carries no version trailers.
pub(super) fn info(repo: &gix::Repository, id: ObjectId) -> Result<Option<VersionInfo>, Error> {
    Ok(version_of(&step(repo, id)?))
}

/// The newest version at or before `from` on its first-parent chain.
pub(super) fn nearest_info(
    repo: &gix::Repository,
    from: ObjectId,
) -> Result<Option<VersionInfo>, Error> {
    let mut found = None;
    walk(repo, from, |s| {
        found = version_of(&s);
        found.is_none()
    })?;
    Ok(found)
}

impl Store {
    /// Up to `limit` versions, newest first, on the first-parent chain of `from`. Commits without
    /// version trailers (the intermediate commits of a push) are history, not versions, and skipped.
    pub fn history(&self, from: ObjectId, limit: usize) -> Result<Vec<VersionInfo>, Error> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        self.each_version(from, |v| {
            out.push(v);
            out.len() < limit
        })?;
        Ok(out)
    }

    /// Calls `visit` with every version on the first-parent chain of `from`, newest first, until
    /// it returns `false`.
    pub fn each_version(
        &self,
        from: ObjectId,
        mut visit: impl FnMut(VersionInfo) -> bool,
    ) -> Result<(), Error> {
        let repo = self.local();
        walk(&repo, from, |s| match version_of(&s) {
            Some(v) => visit(v),
            None => true,
        })
    }

    /// Commit `id` read as a version; `None` when it carries no version trailers.
    pub fn version_info(&self, id: ObjectId) -> Result<Option<VersionInfo>, Error> {
        info(&self.local(), id)
    }

    /// The version before `version` on its first-parent chain (intermediate push commits skipped);
    /// `None` for the first version.
    pub fn previous_version(&self, version: ObjectId) -> Result<Option<VersionInfo>, Error> {
        let repo = self.local();
        match step(&repo, version)?.parent {
            Some(parent) => nearest_info(&repo, parent),
            None => Ok(None),
        }
    }

    /// How many versions `from` is ahead of `to` on `from`'s first-parent chain (0 when they are
    /// the same), `None` if `to` is not on that chain within `limit` versions.
    pub fn versions_ahead(
        &self,
        from: ObjectId,
        to: ObjectId,
        limit: usize,
    ) -> Result<Option<usize>, Error> {
        let mut count = 0;
        let mut found = None;
        self.each_version(from, |v| {
            if v.commit == to {
                found = Some(count);
                return false;
            }
            count += 1;
            count <= limit
        })?;
        Ok(found)
    }

    /// The files added, modified or deleted from commit `a` to commit `b`, in tree order.
    /// Directories are not listed; a file replaced by a directory shows as a deletion and additions.
    pub fn changed_paths(&self, a: ObjectId, b: ObjectId) -> Result<Vec<Changed>, Error> {
        self.changed_since(Some(a), b)
    }

    /// Like [`Store::changed_paths`]; `a = None` compares with an empty tree (every file added).
    pub fn changed_since(&self, a: Option<ObjectId>, b: ObjectId) -> Result<Vec<Changed>, Error> {
        use gix::diff::tree::recorder::Change;
        let repo = self.local();
        let old = match a {
            Some(a) => {
                let id = commit_tree(&repo, a)?;
                repo.find_tree(id).map_err(Error::git("read a tree"))?
            }
            None => repo.empty_tree(),
        };
        let new = commit_tree(&repo, b)?;
        let new = repo.find_tree(new).map_err(Error::git("read a tree"))?;
        let hash = repo.object_hash();
        let mut recorder = gix::diff::tree::Recorder::default();
        gix::diff::tree(
            gix::objs::TreeRefIter::from_bytes(&old.data, hash),
            gix::objs::TreeRefIter::from_bytes(&new.data, hash),
            &mut gix::diff::tree::State::default(),
            &repo.objects,
            &mut recorder,
        )
        .map_err(|e| Error::Git {
            action: "diff two trees",
            source: gix::Error::from_error(e),
        })?;
        let mut out = Vec::new();
        for change in recorder.records {
            let (path, kind, old, new, mode) = match change {
                Change::Addition {
                    entry_mode,
                    oid,
                    path,
                    ..
                } => (path, ChangeKind::Added, None, Some(oid), entry_mode),
                Change::Deletion {
                    entry_mode,
                    oid,
                    path,
                    ..
                } => (path, ChangeKind::Deleted, Some(oid), None, entry_mode),
                Change::Modification {
                    previous_oid,
                    oid,
                    path,
                    entry_mode,
                    previous_entry_mode,
                } => {
                    // A blob replaced by a tree (or back) is a deletion plus additions.
                    if previous_entry_mode.is_tree() != entry_mode.is_tree() {
                        let (p, m) = (path.clone(), previous_entry_mode);
                        if m.is_blob() {
                            out.push(changed(
                                p.as_ref(),
                                ChangeKind::Deleted,
                                Some(previous_oid),
                                None,
                            )?);
                        }
                        (path, ChangeKind::Added, None, Some(oid), entry_mode)
                    } else {
                        (
                            path,
                            ChangeKind::Modified,
                            Some(previous_oid),
                            Some(oid),
                            entry_mode,
                        )
                    }
                }
            };
            if mode.is_blob() {
                out.push(changed(path.as_ref(), kind, old, new)?);
            }
        }
        Ok(out)
    }
}

fn changed(
    path: &gix::bstr::BStr,
    kind: ChangeKind,
    old: Option<ObjectId>,
    new: Option<ObjectId>,
) -> Result<Changed, Error> {
    Ok(Changed {
        path: RepoPath::parse(&path.to_str_lossy())?,
        kind,
        old,
        new,
    })
}
