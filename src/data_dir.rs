//! The server's data directory: where the bare repository, the secret key and the lock live.
//!
//! Layout (`./mailu-data` by default): `config.git/` (the config repository), `secret.key` (the age
//! identities that decrypt `secrets/`, mode 0600), `access-tokens.json` (hashed access tokens, mode
//! 0600), `git-hooks/` and `git-hook.sock` (the push hooks and their way back to the server, see
//! `githttp`), `lock` (held exclusively while a server or an offline command uses the directory).
//! This module only knows paths and the lock; what lives in each file is the business of `store`,
//! `secret`, `auth` and `githttp`.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The data directory used when neither `--data` nor `MAILU_GIT_DATA` is given.
pub const DEFAULT: &str = "mailu-data";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot create the data directory {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("cannot open the lock file {path}: {source}")]
    LockFile { path: PathBuf, source: io::Error },
    #[error(
        "the data directory {path} is in use by another mailu-git process{} (a server or an offline command); \
         stop it first",
        pid.map_or_else(String::new, |p| format!(" (pid {p})"))
    )]
    Busy { path: PathBuf, pid: Option<u32> },
}

/// An open, exclusively locked data directory. The lock is released when this is dropped.
#[derive(Debug)]
pub struct DataDir {
    root: PathBuf,
    _lock: File,
}

impl DataDir {
    /// Opens `root`, creating it (mode 0700: it holds the secret key) if missing, and takes the lock
    /// without waiting: a second server on the same directory must fail at once, not hang.
    pub fn open(root: &Path) -> Result<DataDir, Error> {
        if !root.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(root)
                .map_err(|source| Error::Create {
                    path: root.to_owned(),
                    source,
                })?;
        }
        let lock_path = root.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| Error::LockFile {
                path: lock_path.clone(),
                source,
            })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                // The holder wrote its pid into the file (best effort: an old holder may not have).
                let pid = fs::read_to_string(&lock_path)
                    .ok()
                    .and_then(|t| t.trim().parse().ok());
                return Err(Error::Busy {
                    path: root.to_owned(),
                    pid,
                });
            }
            Err(fs::TryLockError::Error(source)) => {
                return Err(Error::LockFile {
                    path: lock_path,
                    source,
                });
            }
        }
        // Who holds the lock, for the message of the next process refused (best effort).
        let mut lock = lock;
        if lock.set_len(0).is_ok() {
            use std::io::Write as _;
            let _ = writeln!(lock, "{}", std::process::id());
        }
        Ok(DataDir {
            root: root.to_owned(),
            _lock: lock,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The bare config repository.
    pub fn repo(&self) -> PathBuf {
        self.root.join("config.git")
    }

    /// The journal of acknowledged writes not yet in a version.
    pub fn journal(&self) -> PathBuf {
        self.root.join("journal")
    }

    /// The age identities that decrypt the repository's secrets.
    pub fn secret_key(&self) -> PathBuf {
        self.root.join("secret.key")
    }

    /// The hashed access tokens and the service-token key (`auth::TokenFile`), mode 0600.
    pub fn access_tokens(&self) -> PathBuf {
        self.root.join("access-tokens.json")
    }

    /// The hooks `git receive-pack` runs (`core.hooksPath`), written by the server at each start.
    pub fn git_hooks(&self) -> PathBuf {
        self.root.join("git-hooks")
    }

    /// The ACME account credentials, one file per directory URL (mode 0600).
    pub fn acme(&self) -> PathBuf {
        self.root.join("acme")
    }

    /// The Unix socket the hooks hand a push over to the server through.
    pub fn hook_socket(&self) -> PathBuf {
        self.root.join("git-hook.sock")
    }

    /// Whether the data directory is readable by others, which would expose the secret key's folder.
    pub fn is_private(&self) -> bool {
        fs::metadata(&self.root)
            .map(|m| m.permissions().mode() & 0o077 == 0)
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_open_is_refused_while_the_first_holds_the_lock() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("data");
        let first = DataDir::open(&root).unwrap();
        assert!(first.is_private());
        assert!(matches!(DataDir::open(&root), Err(Error::Busy { .. })));
        drop(first);
        DataDir::open(&root).unwrap();
    }
}
