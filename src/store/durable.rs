//! Making a commit survive power loss. gix writes loose objects and refs to a temporary file and
//! renames it into place, which is atomic but not durable: it never calls `fsync`. This module syncs
//! what a commit wrote, in the order that keeps the repository consistent after a crash: objects
//! (files, then their fan-out directories, then `objects/`) before the ref moves, the ref's lock
//! file before it is renamed, and the ref, its reflog and their directories after.
//!
//! It is not a write-ahead log: a crash before the ref moves leaves unreferenced objects, which gc
//! removes.

use std::{
    collections::BTreeSet,
    fs::File,
    path::{Path, PathBuf},
    sync::atomic::{AtomicUsize, Ordering},
};

use gix::ObjectId;

use super::Error;

/// How a commit is made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `fsync` each file and directory the commit wrote (the default). Costs a few fsyncs per
    /// commit, independent of what else the machine writes.
    #[default]
    Files,
    /// `syncfs` the repository's file system, twice per commit. Fewer calls, but it also flushes
    /// every other dirty file on that file system, so its cost depends on the neighbours.
    Filesystem,
}

/// The loose object file of `id` under `objects`.
pub(super) fn loose_path(objects: &Path, id: &ObjectId) -> PathBuf {
    let hex = id.to_hex().to_string();
    objects.join(&hex[..2]).join(&hex[2..])
}

/// Syncs the loose object files of `ids` that exist (an object that was found in a pack was not
/// written and needs nothing), their fan-out directories, and `objects/` itself (a fan-out directory
/// may have been created). An id whose loose file was written earlier by a commit that then failed is
/// synced too: this commit is the first to reference it.
pub(super) fn sync_objects(objects: &Path, ids: &[ObjectId]) -> Result<(), Error> {
    let mut files = Vec::with_capacity(ids.len());
    let mut dirs = BTreeSet::new();
    for id in ids {
        let path = loose_path(objects, id);
        match std::fs::symlink_metadata(&path) {
            Ok(_) => {
                if let Some(dir) = path.parent() {
                    dirs.insert(dir.to_owned());
                }
                files.push(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("look for an object", &path)(e)),
        }
    }
    files.extend(dirs);
    files.push(objects.to_owned());
    sync_all(&files)
}

/// How many `fsync`s run at once. Concurrent fsyncs on one file system share journal commits and
/// device flushes, so a few dozen cost little more than one; one thread per path did not scale: a
/// version of 100,000 new files asked for 100,000 threads at once, each a stack mapping, and the
/// process hit its mapping limit (`vm.max_map_count`) and aborted.
const SYNC_THREADS: usize = 32;

/// `fsync`s every path, up to [`SYNC_THREADS`] at a time. The order among them does not matter
/// (all must be durable before the ref moves). Every path is synced even when one fails; the first
/// failure is returned.
pub(super) fn sync_all(paths: &[PathBuf]) -> Result<(), Error> {
    if paths.len() <= 1 {
        return paths.iter().try_for_each(|p| sync_path(p));
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut result = Ok(());
        while let Some(path) = paths.get(next.fetch_add(1, Ordering::Relaxed)) {
            result = result.and(sync_path(path));
        }
        result
    };
    std::thread::scope(|scope| {
        // If no thread can be made (a resource limit), fewer sync: slower, still durable.
        let helpers: Vec<_> = (1..SYNC_THREADS.min(paths.len()))
            .map_while(|_| std::thread::Builder::new().spawn_scoped(scope, work).ok())
            .collect();
        let mut result = work();
        for handle in helpers {
            let outcome = handle.join().unwrap_or_else(|_| {
                Err(Error::Io {
                    action: "fsync (a syncing thread panicked)",
                    path: PathBuf::new(),
                    source: std::io::Error::other("panic"),
                })
            });
            result = result.and(outcome);
        }
        result
    })
}

/// Syncs the files of a ref after it moved: the ref, its reflog and both directories.
pub(super) fn sync_ref(repo_dir: &Path, name: &str) -> Result<(), Error> {
    let reference = repo_dir.join(name);
    let log = repo_dir.join("logs").join(name);
    let mut paths = Vec::with_capacity(4);
    for file in [reference, log] {
        if let Some(dir) = file.parent() {
            paths.push(dir.to_owned());
        }
        paths.push(file);
    }
    sync_all(&paths)
}

/// Syncs what records that a ref was deleted: the directories of the ref and of its log.
pub(super) fn sync_gone_ref(repo_dir: &Path, name: &str) -> Result<(), Error> {
    let mut paths = Vec::with_capacity(2);
    for file in [repo_dir.join(name), repo_dir.join("logs").join(name)] {
        if let Some(dir) = file.parent().filter(|d| d.exists()) {
            paths.push(dir.to_owned());
        }
    }
    sync_all(&paths)
}

/// `fsync` one file or directory.
pub(super) fn sync_path(path: &Path) -> Result<(), Error> {
    let file = File::open(path).map_err(Error::io("open for fsync", path))?;
    rustix::fs::fsync(&file).map_err(|e| Error::io("fsync", path)(e.into()))
}

/// `syncfs` the file system holding `path`.
pub(super) fn sync_filesystem(path: &Path) -> Result<(), Error> {
    let file = File::open(path).map_err(Error::io("open for syncfs", path))?;
    rustix::fs::syncfs(&file).map_err(|e| Error::io("syncfs", path)(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_path_splits_the_fan_out() {
        let id = ObjectId::empty_tree(gix::hash::Kind::Sha1);
        let p = loose_path(Path::new("/r/objects"), &id);
        assert_eq!(
            p,
            Path::new("/r/objects/4b/825dc642cb6eb9a060e54bf8d69288fbee4904")
        );
    }

    #[test]
    fn syncing_missing_objects_is_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let id = ObjectId::empty_tree(gix::hash::Kind::Sha1);
        sync_objects(dir.path(), &[id]).unwrap();
    }
}
