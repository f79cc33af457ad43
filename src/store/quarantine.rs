//! Reading a push before it is accepted. `git receive-pack` keeps the objects of a push in a
//! quarantine directory (`objects/tmp_objdir-incoming-*`) until its hooks accept it; only then are
//! they moved into `objects/`. gix ignores git's quarantine environment, so a [`Quarantine`] is a
//! view of the repository whose object database is a directory of our own that holds nothing but an
//! `info/alternates` naming the quarantine first and `objects/` second: every pushed object and
//! every object main already has can be read, and nothing is written.
//!
//! The view directory lives in the repository (`mailu-push-views/`, outside `objects/` so git never
//! migrates or packs it) and is removed when the view is dropped.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use gix::ObjectId;

use super::{Error, Snapshot, Store, commit_tree};

/// The folder (inside the repository) holding the object-database views of pushes.
const VIEWS: &str = "mailu-push-views";

/// A read-only view of the repository with a push's quarantined objects.
pub struct Quarantine {
    repo: gix::ThreadSafeRepository,
    view: PathBuf,
}

impl std::fmt::Debug for Quarantine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quarantine")
            .field("view", &self.view)
            .finish()
    }
}

impl Drop for Quarantine {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.view) {
            tracing::warn!(path = %self.view.display(), error = %e, "cannot remove a push view");
        }
    }
}

impl Store {
    /// A view of the repository that also sees the objects in `quarantine` (the absolute path git
    /// gives hooks in `GIT_QUARANTINE_PATH`, which must lie in this repository's `objects/`).
    /// `None`: a push that sent no objects (git made no quarantine), the repository alone.
    pub fn quarantine(&self, quarantine: Option<&Path>) -> Result<Quarantine, Error> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let objects = self.path.join("objects");
        if let Some(quarantine) = quarantine {
            let inside = quarantine
                .canonicalize()
                .ok()
                .zip(objects.canonicalize().ok())
                .is_some_and(|(q, o)| q.starts_with(&o) && q != o);
            if !inside {
                return Err(Error::Io {
                    action: "use a quarantine outside the repository's objects",
                    path: quarantine.to_owned(),
                    source: std::io::Error::other("not a quarantine of this repository"),
                });
            }
        }
        let view = self.path.join(VIEWS).join(format!(
            "{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let info = view.join("info");
        std::fs::create_dir_all(&info).map_err(Error::io("create a push view", &info))?;
        let alternates = match quarantine {
            Some(q) => format!("{}\n{}\n", q.display(), objects.display()),
            None => format!("{}\n", objects.display()),
        };
        let file = info.join("alternates");
        let mut made = Quarantine {
            repo: self.repo.clone(),
            view: view.clone(),
        };
        std::fs::write(&file, alternates).map_err(Error::io("write a push view", &file))?;
        let odb = gix::odb::Store::at_opts(
            view,
            gix::hash::Kind::Sha1,
            &mut std::iter::empty(),
            gix::odb::store::init::Options::default(),
        )
        .map_err(Error::io("open a push view", &made.view))?;
        made.repo.objects = std::sync::Arc::new(odb);
        Ok(made)
    }
}

impl Quarantine {
    /// The files of `commit`, which may be a pushed one.
    pub fn snapshot(&self, commit: ObjectId) -> Result<Snapshot, Error> {
        let tree = commit_tree(&self.repo.to_thread_local(), commit)?;
        Ok(Snapshot::new(self.repo.clone(), commit, tree))
    }

    /// The commit `id` names: itself, or what an annotated tag points at (through nested tags).
    pub fn peel_to_commit(&self, id: ObjectId) -> Result<ObjectId, Error> {
        let repo = self.repo.to_thread_local();
        let object = repo
            .find_object(id)
            .map_err(Error::git("read a pushed object"))?;
        let commit = object.peel_to_commit().map_err(|_| Error::NotACommit(id))?;
        Ok(commit.id)
    }

    /// Whether `ancestor` is `of` or one of its ancestors (any parent, not only the first).
    pub fn is_ancestor(&self, ancestor: ObjectId, of: ObjectId) -> Result<bool, Error> {
        if ancestor == of {
            return Ok(true);
        }
        let repo = self.repo.to_thread_local();
        let walk = repo
            .rev_walk([of])
            .all()
            .map_err(Error::git("walk the pushed history"))?;
        for info in walk {
            let info = info.map_err(Error::git("walk the pushed history"))?;
            if info.id == ancestor {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The first line of `commit`'s message.
    pub fn summary(&self, commit: ObjectId) -> Result<String, Error> {
        let repo = self.repo.to_thread_local();
        let commit = repo
            .find_commit(commit)
            .map_err(Error::git("read a pushed commit"))?;
        let message = commit
            .message_raw()
            .map_err(Error::git("read a pushed commit"))?;
        Ok(String::from_utf8_lossy(message)
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned())
    }
}
