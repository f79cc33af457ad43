//! A read-only view of the repository's files at one commit. Cheap to make and to clone; every read
//! goes to the object database (gix's caches make repeated reads cheap). Only blobs are files:
//! symlinks and submodules in a pushed tree are not listed.

use std::collections::BTreeMap;

use gix::{ObjectId, bstr::ByteSlice};

use super::Error;
use crate::model::RepoPath;

/// The files of one commit.
#[derive(Clone)]
pub struct Snapshot {
    repo: gix::ThreadSafeRepository,
    commit: ObjectId,
    tree: ObjectId,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("commit", &self.commit)
            .field("tree", &self.tree)
            .finish()
    }
}

impl Snapshot {
    pub(super) fn new(repo: gix::ThreadSafeRepository, commit: ObjectId, tree: ObjectId) -> Self {
        Snapshot { repo, commit, tree }
    }

    pub fn commit(&self) -> ObjectId {
        self.commit
    }

    pub fn tree(&self) -> ObjectId {
        self.tree
    }

    /// The blob id of the file at `path`, `None` if there is no file there.
    pub fn blob_id(&self, path: &RepoPath) -> Result<Option<ObjectId>, Error> {
        let repo = self.repo.to_thread_local();
        entry(&repo, self.tree, path.as_str())
    }

    /// The tree id of the directory at `path`, `None` if there is no directory there. Equal ids mean
    /// equal contents, which is what makes bundle `ETag`s cheap.
    pub fn tree_id(&self, path: &RepoPath) -> Result<Option<ObjectId>, Error> {
        let repo = self.repo.to_thread_local();
        let root = repo
            .find_tree(self.tree)
            .map_err(Error::git("read a tree"))?;
        let found = root
            .lookup_entry(path.as_str().split('/'))
            .map_err(Error::git("look up a path"))?;
        Ok(found.filter(|e| e.mode().is_tree()).map(|e| e.object_id()))
    }

    /// The content of the file at `path`, `None` if there is no file there.
    pub fn read(&self, path: &RepoPath) -> Result<Option<Vec<u8>>, Error> {
        let repo = self.repo.to_thread_local();
        match entry(&repo, self.tree, path.as_str())? {
            None => Ok(None),
            Some(id) => Ok(Some(blob(&repo, id)?)),
        }
    }

    /// Every file and its content.
    pub fn files(&self) -> Result<BTreeMap<RepoPath, Vec<u8>>, Error> {
        let repo = self.repo.to_thread_local();
        let mut out = BTreeMap::new();
        for (path, id) in blobs(&repo, self.tree, "")? {
            out.insert(path, blob(&repo, id)?);
        }
        Ok(out)
    }

    /// The files under the directory `prefix` (recursively) and their blob ids, in path order.
    /// Empty if there is no such directory.
    pub fn list(&self, prefix: &RepoPath) -> Result<Vec<(RepoPath, ObjectId)>, Error> {
        let repo = self.repo.to_thread_local();
        let root = repo
            .find_tree(self.tree)
            .map_err(Error::git("read a tree"))?;
        let found = root
            .lookup_entry(prefix.as_str().split('/'))
            .map_err(Error::git("look up a path"))?;
        match found {
            Some(e) if e.mode().is_tree() => {
                let mut all = blobs(&repo, e.object_id(), prefix.as_str())?;
                all.sort();
                Ok(all)
            }
            _ => Ok(Vec::new()),
        }
    }
}

/// The blob at `path` in `tree`.
fn entry(repo: &gix::Repository, tree: ObjectId, path: &str) -> Result<Option<ObjectId>, Error> {
    let root = repo.find_tree(tree).map_err(Error::git("read a tree"))?;
    let found = root
        .lookup_entry(path.split('/'))
        .map_err(Error::git("look up a path"))?;
    Ok(found.filter(|e| e.mode().is_blob()).map(|e| e.object_id()))
}

fn blob(repo: &gix::Repository, id: ObjectId) -> Result<Vec<u8>, Error> {
    Ok(repo
        .find_blob(id)
        .map_err(Error::git("read a blob"))?
        .take_data())
}

/// Every blob under `tree`, with its path prefixed by `prefix` (a directory path, or empty).
fn blobs(
    repo: &gix::Repository,
    tree: ObjectId,
    prefix: &str,
) -> Result<Vec<(RepoPath, ObjectId)>, Error> {
    let tree = repo.find_tree(tree).map_err(Error::git("read a tree"))?;
    let entries = tree
        .traverse()
        .breadthfirst
        .files()
        .map_err(Error::git("walk a tree"))?;
    let mut out = Vec::with_capacity(entries.len());
    for e in entries.into_iter().filter(|e| e.mode.is_blob()) {
        let rel = e.filepath.to_str_lossy();
        let path = if prefix.is_empty() {
            RepoPath::parse(&rel)?
        } else {
            RepoPath::parse(&format!("{prefix}/{rel}"))?
        };
        out.push((path, e.oid));
    }
    Ok(out)
}
