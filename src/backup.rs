//! Backup and restore of a data directory (`docs/operations.md`): one tar archive holding what
//! rebuilds the server — the repository, the secret key (unless left out), the access-token file,
//! the journal and the ACME account — taken consistently while the server runs.
//!
//! A backup is made in two steps. [`stage`] copies the data directory into a staging directory while
//! nothing can write (the caller holds `Versioner::exclusive`, or the offline data-dir lock): object
//! files are hard-linked (git never changes an object file in place; a repack writes new files and
//! unlinks old ones) and the few other files copied, so the lock is held for milliseconds whatever
//! the repository's size. [`write`] then streams the staging directory as a tar with no lock held:
//! `mailu-backup.toml` first (what it is), the files, `mailu-backup.sums` last (every file's
//! SHA-256), so [`restore`](restore::restore) refuses a truncated or altered archive instead of
//! rebuilding part of a server.
//!
//! Not here: HTTP (`api/backup.rs`) and the command line (`cli/backup.rs`).

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub mod restore;

/// The archive's first entry: what it holds.
pub const MANIFEST: &str = "mailu-backup.toml";
/// The archive's last entry: `<sha256>  <path>` per file.
pub const SUMS: &str = "mailu-backup.sums";
/// The format written; `restore` refuses a newer one.
pub const FORMAT: u32 = 1;

/// The data directory's entries a backup holds (besides the key, which may live elsewhere).
const REPO: &str = "config.git";
const JOURNAL: &str = "journal";
const TOKENS: &str = "access-tokens.json";
const ACME: &str = "acme";
const KEY: &str = "secret.key";
/// Staging directories are `<data>/.backup-*`; a crash can leave one behind, removed by the next.
const STAGING_PREFIX: &str = ".backup-";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("cannot write the archive: {0}")]
    Archive(#[source] io::Error),
    #[error("cannot read the repository: {0}")]
    Store(#[from] crate::store::Error),
    #[error("the repository has no version to back up")]
    NoVersion,
    #[error("cannot describe the backup: {0}")]
    Manifest(String),
    #[error(transparent)]
    Restore(#[from] restore::Problem),
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

/// Where a server's data lives, as a backup reads it.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The data directory.
    pub root: PathBuf,
    /// The secret key file (`<data>/secret.key` unless the server was given another).
    pub secret_key: PathBuf,
}

/// What the archive holds, its first entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    /// The mailu-git that made it.
    pub mailu_git: String,
    /// When, seconds since the Unix epoch.
    pub created: i64,
    /// Main's commit and version number at the backup.
    pub main: String,
    pub version: u64,
    /// The held (deployed) commit, when deployment was suspended.
    pub held: Option<String>,
    /// Whether the secret key is in the archive. Without it the secrets cannot be read.
    pub secret_key: bool,
    /// The key's age recipients, newest first: which key a restore needs.
    pub recipients: Vec<String>,
}

/// A consistent copy of a data directory, ready to be written as an archive; removed when dropped.
#[derive(Debug)]
pub struct Staged {
    dir: tempfile::TempDir,
    pub manifest: Manifest,
}

/// Copies what a backup holds into a staging directory under `sources.root`. The caller makes sure
/// nothing writes meanwhile (the versioner's exclusive section, or the data-dir lock); the access
/// token file is replaced atomically by its writers, so a copy is either version.
pub fn stage(sources: &Sources, with_key: bool) -> Result<Staged, Error> {
    remove_stale(&sources.root);
    let dir = tempfile::Builder::new()
        .prefix(STAGING_PREFIX)
        .tempdir_in(&sources.root)
        .map_err(io_err("create a staging directory in", &sources.root))?;
    let store = crate::store::Store::open(&sources.root.join(REPO))?;
    let head = store.head()?;
    let version = store
        .version_info(head)?
        .map(|v| v.number)
        .ok_or(Error::NoVersion)?;
    let held = store.hold()?.map(|h| h.to_string());
    drop(store);
    copy_tree(&sources.root.join(REPO), &dir.path().join(REPO), &|rel| {
        rel.starts_with("objects")
    })?;
    for name in [JOURNAL, ACME] {
        let from = sources.root.join(name);
        if from.exists() {
            copy_tree(&from, &dir.path().join(name), &|_| false)?;
        }
    }
    let tokens = sources.root.join(TOKENS);
    if tokens.exists() {
        copy_file(&tokens, &dir.path().join(TOKENS))?;
    }
    let keyring = crate::secret::Keyring::load(&sources.secret_key)
        .map_err(|e| Error::Manifest(format!("cannot read the secret key: {e}")))?;
    if with_key {
        copy_file(&sources.secret_key, &dir.path().join(KEY))?;
    }
    let manifest = Manifest {
        format: FORMAT,
        mailu_git: env!("CARGO_PKG_VERSION").to_owned(),
        created: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        main: head.to_string(),
        version,
        held,
        secret_key: with_key,
        recipients: keyring.recipients(),
    };
    Ok(Staged { dir, manifest })
}

/// Removes staging directories a crash left behind. Best effort: a leftover only costs disk space.
fn remove_stale(root: &Path) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(STAGING_PREFIX))
        {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Copies the directory `from` to `to`, hard-linking the files `link` picks (by path relative to
/// `from`) and copying the others. A link that fails (another file system) becomes a copy.
fn copy_tree(from: &Path, to: &Path, link: &dyn Fn(&Path) -> bool) -> Result<(), Error> {
    fs::create_dir_all(to).map_err(io_err("create", to))?;
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = from.join(&rel);
        for entry in fs::read_dir(&dir).map_err(io_err("read", &dir))? {
            let entry = entry.map_err(io_err("read", &dir))?;
            let rel = rel.join(entry.file_name());
            let kind = entry.file_type().map_err(io_err("read", &entry.path()))?;
            let target = to.join(&rel);
            if kind.is_dir() {
                fs::create_dir_all(&target).map_err(io_err("create", &target))?;
                stack.push(rel);
            } else if kind.is_file() {
                if link(&rel) && fs::hard_link(entry.path(), &target).is_ok() {
                    continue;
                }
                copy_file(&entry.path(), &target)?;
            }
            // Sockets, symlinks and the like are not part of a repository or a journal.
        }
    }
    Ok(())
}

fn copy_file(from: &Path, to: &Path) -> Result<(), Error> {
    fs::copy(from, to).map_err(io_err("copy", from))?;
    Ok(())
}

/// Writes `staged` as a tar archive to `out`; returns the archive's size in bytes.
pub fn write(staged: &Staged, out: impl Write) -> Result<u64, Error> {
    let counted = Counting {
        inner: out,
        bytes: 0,
    };
    let mut tar = tar::Builder::new(counted);
    tar.mode(tar::HeaderMode::Deterministic);
    let manifest = toml::to_string(&staged.manifest).map_err(|e| Error::Manifest(e.to_string()))?;
    append_bytes(&mut tar, MANIFEST, manifest.as_bytes(), 0o600)?;
    let mut sums = String::new();
    for rel in files(staged.dir.path())? {
        let path = staged.dir.path().join(&rel);
        let file = fs::File::open(&path).map_err(io_err("read", &path))?;
        let size = file.metadata().map_err(io_err("read", &path))?.len();
        let mut hashing = Hashing {
            inner: file.take(size),
            hash: Sha256::new(),
        };
        let mut header = tar::Header::new_gnu();
        header.set_size(size);
        header.set_mode(0o600);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        let name = rel.to_string_lossy().into_owned();
        tar.append_data(&mut header, &name, &mut hashing)
            .map_err(Error::Archive)?;
        sums.push_str(&format!(
            "{}  {name}\n",
            hex::encode(hashing.hash.finalize())
        ));
    }
    append_bytes(&mut tar, SUMS, sums.as_bytes(), 0o600)?;
    let counted = tar.into_inner().map_err(Error::Archive)?;
    let Counting { mut inner, bytes } = counted;
    inner.flush().map_err(Error::Archive)?;
    Ok(bytes)
}

fn append_bytes<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    bytes: &[u8],
    mode: u32,
) -> Result<(), Error> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(mode);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, name, bytes)
        .map_err(Error::Archive)
}

/// Every regular file under `root`, relative and sorted (directories are implied by the paths).
fn files(root: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        for entry in fs::read_dir(&dir).map_err(io_err("read", &dir))? {
            let entry = entry.map_err(io_err("read", &dir))?;
            let rel = rel.join(entry.file_name());
            let kind = entry.file_type().map_err(io_err("read", &entry.path()))?;
            if kind.is_dir() {
                stack.push(rel);
            } else if kind.is_file() {
                out.push(rel);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// A writer that counts what passes through it.
struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests;
