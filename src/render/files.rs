//! [`Files`]: read access to a tree of the repository (a snapshot, the acknowledged state, a
//! checkout in memory), for what rendering reads besides the `Config`: repository templates,
//! overrides, Mailu's override files, secrets' blob ids, and the rendered files already there.

use std::collections::BTreeMap;

use gix::ObjectId;

use crate::model::RepoPath;
use crate::store;

/// Why a tree could not be read.
pub type ReadError = Box<dyn std::error::Error + Send + Sync>;

/// A tree of the repository.
pub trait Files {
    fn read(&self, path: &RepoPath) -> Result<Option<Vec<u8>>, ReadError>;
    fn blob_id(&self, path: &RepoPath) -> Result<Option<ObjectId>, ReadError>;
    /// The files under `dir`, recursively, with their blob ids, in path order.
    fn list(&self, dir: &RepoPath) -> Result<Vec<(RepoPath, ObjectId)>, ReadError>;
}

impl Files for store::Snapshot {
    fn read(&self, path: &RepoPath) -> Result<Option<Vec<u8>>, ReadError> {
        Ok(store::Snapshot::read(self, path)?)
    }
    fn blob_id(&self, path: &RepoPath) -> Result<Option<ObjectId>, ReadError> {
        Ok(store::Snapshot::blob_id(self, path)?)
    }
    fn list(&self, dir: &RepoPath) -> Result<Vec<(RepoPath, ObjectId)>, ReadError> {
        Ok(store::Snapshot::list(self, dir)?)
    }
}

/// A tree held in memory (a checkout, a pushed tree, tests).
impl Files for BTreeMap<RepoPath, Vec<u8>> {
    fn read(&self, path: &RepoPath) -> Result<Option<Vec<u8>>, ReadError> {
        Ok(self.get(path).cloned())
    }
    fn blob_id(&self, path: &RepoPath) -> Result<Option<ObjectId>, ReadError> {
        Ok(self.get(path).map(|b| store::blob_id(b)))
    }
    fn list(&self, dir: &RepoPath) -> Result<Vec<(RepoPath, ObjectId)>, ReadError> {
        let prefix = format!("{}/", dir.as_str());
        Ok(self
            .range(dir.clone()..)
            .skip_while(|(p, _)| p.as_str() < prefix.as_str())
            .take_while(|(p, _)| p.as_str().starts_with(&prefix))
            .map(|(p, b)| (p.clone(), store::blob_id(b)))
            .collect())
    }
}
