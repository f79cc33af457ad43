//! Rebuilding a data directory from a backup archive. Everything is checked before the data
//! directory gets a single file: the archive's entries (names, kinds, every file's SHA-256 against
//! `mailu-backup.sums`, which a truncated archive lacks), the repository (main is the commit the
//! manifest names), and the key (it decrypts every secret of main and of the held version). The
//! files are written into a hidden directory inside the new data directory, synced, then renamed
//! into place; a failure removes what was written.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{ACME, Error, FORMAT, JOURNAL, KEY, MANIFEST, Manifest, REPO, SUMS, TOKENS};
use crate::data_dir::DataDir;

/// Why an archive cannot be restored, in the words an operator needs.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error(
        "{0} is not empty: restore builds a new data directory; give a path that does not exist"
    )]
    NotEmpty(PathBuf),
    #[error("not a mailu-git backup: it does not start with {MANIFEST}")]
    NotABackup,
    #[error("the backup's {MANIFEST} is unreadable: {0}")]
    BadManifest(String),
    #[error(
        "the backup is of format {found}, newer than this mailu-git understands ({FORMAT}); \
         restore it with mailu-git {by} or newer"
    )]
    NewerFormat { found: u32, by: String },
    #[error("the archive entry `{0}` is not part of a backup (unexpected path or kind)")]
    BadEntry(String),
    #[error(
        "the archive ends before {SUMS}: it is truncated (an interrupted copy?) and cannot be \
         trusted"
    )]
    Truncated,
    #[error("`{0}` does not match its checksum: the archive is damaged")]
    Checksum(String),
    #[error("`{0}` is listed in {SUMS} but missing from the archive")]
    Missing(String),
    #[error(
        "this backup holds no secret key (it was made with --without-key): give the server's key \
         with --secret-key FILE. Without it every DKIM key, fetch password, relay password and the \
         TLS key in the repository is lost"
    )]
    NoKey,
    #[error(
        "the backup holds its own secret key; --secret-key is for backups made with --without-key"
    )]
    TwoKeys,
    #[error("the secret key cannot be used: {0}")]
    BadKey(String),
    #[error(
        "the secret key does not decrypt `{path}` (version {version}): it is not this server's key \
         ({reason})"
    )]
    WrongKey {
        path: String,
        version: u64,
        reason: String,
    },
    #[error("the repository in the backup is not what its manifest says: {0}")]
    Repository(String),
}

/// What was restored.
#[derive(Debug)]
pub struct Restored {
    pub manifest: Manifest,
    /// Versions on main's first-parent chain.
    pub versions: usize,
    /// Secret files at main.
    pub secrets: usize,
    /// Access tokens (their hashes).
    pub tokens: usize,
    /// Whether acknowledged writes not yet in a version came back too (the server replays them).
    pub pending_journal: bool,
}

/// Restores `archive` into the new data directory `data`, with `key` as the secret key when the
/// archive holds none.
pub fn restore(archive: impl Read, data: &Path, key: Option<&Path>) -> Result<Restored, Error> {
    let existed = data.exists();
    if existed
        && fs::read_dir(data)
            .map_err(super::io_err("read", data))?
            .next()
            .is_some()
    {
        return Err(Problem::NotEmpty(data.to_owned()).into());
    }
    let dir = crate::data_dir::DataDir::open(data).map_err(|e| Error::Manifest(e.to_string()))?;
    let work = data.join(".restore");
    let outcome = unpack_checked(archive, &work, key)
        .and_then(|restored| place(&dir, &work).map(|()| restored));
    if outcome.is_err() {
        let _ = fs::remove_dir_all(&work);
        drop(dir);
        if existed {
            let _ = fs::remove_file(data.join("lock"));
        } else {
            let _ = fs::remove_dir_all(data);
        }
    }
    outcome
}

/// Unpacks into `work` and checks everything; nothing of it is in the data directory yet.
fn unpack_checked(archive: impl Read, work: &Path, key: Option<&Path>) -> Result<Restored, Error> {
    fs::DirBuilder::new()
        .mode(0o700)
        .create(work)
        .map_err(super::io_err("create", work))?;
    let manifest = walk(archive, |name, entry| write_file(entry, &work.join(name)))?;
    let key_file = work.join(KEY);
    match (manifest.secret_key, key) {
        (true, Some(_)) => return Err(Problem::TwoKeys.into()),
        (true, None) => {}
        (false, None) => return Err(Problem::NoKey.into()),
        (false, Some(given)) => {
            let bytes = fs::read(given).map_err(super::io_err("read", given))?;
            let mut out = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&key_file)
                .map_err(super::io_err("write", &key_file))?;
            out.write_all(&bytes)
                .map_err(super::io_err("write", &key_file))?;
        }
    }
    verify(work, manifest)
}

/// Reads a whole archive and checks it as a restore would (manifest, entries, checksums), writing
/// nothing: what `mailu-git backup` runs on the archive it received.
pub fn check_archive(archive: impl Read) -> Result<Manifest, Error> {
    walk(archive, |name, entry| {
        copy_hashing(entry, &mut std::io::sink(), Path::new(name))
    })
}

/// Reads the archive: the manifest first, each file handed to `file` (which returns its SHA-256),
/// the checksums last, checked against what `file` returned.
fn walk(
    archive: impl Read,
    mut file: impl FnMut(&str, &mut dyn Read) -> Result<String, Error>,
) -> Result<Manifest, Error> {
    let mut tar = tar::Archive::new(archive);
    let mut entries = tar.entries().map_err(Error::Archive)?;
    let manifest = match entries.next() {
        Some(Ok(mut first)) if entry_name(&first).as_deref() == Some(MANIFEST) => {
            let mut text = String::new();
            first
                .by_ref()
                .take(1 << 20)
                .read_to_string(&mut text)
                .map_err(|e| Problem::BadManifest(e.to_string()))?;
            read_manifest(&text)?
        }
        _ => return Err(Problem::NotABackup.into()),
    };
    let mut hashes = BTreeMap::new();
    let mut sums = None;
    for entry in entries {
        let mut entry = entry.map_err(|_| Problem::Truncated)?;
        let name = entry_name(&entry).ok_or_else(|| Problem::BadEntry(lossy(&entry)))?;
        if sums.is_some() {
            return Err(Problem::BadEntry(name).into());
        }
        if name == SUMS {
            let mut text = String::new();
            entry
                .by_ref()
                .take(64 << 20)
                .read_to_string(&mut text)
                .map_err(|_| Problem::Truncated)?;
            sums = Some(text);
            continue;
        }
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(Problem::BadEntry(name).into());
        }
        check_name(&name, manifest.secret_key)?;
        let hash = file(&name, &mut entry)?;
        hashes.insert(name, hash);
    }
    check_sums(&sums.ok_or(Problem::Truncated)?, &hashes)?;
    Ok(manifest)
}

fn read_manifest(text: &str) -> Result<Manifest, Error> {
    // The format is read first on its own, so that a newer manifest is reported as newer, not as
    // a manifest with unknown fields.
    #[derive(serde::Deserialize)]
    struct Head {
        format: u32,
        #[serde(default)]
        mailu_git: String,
    }
    let head: Head = toml::from_str(text).map_err(|e| Problem::BadManifest(e.to_string()))?;
    if head.format > FORMAT {
        return Err(Problem::NewerFormat {
            found: head.format,
            by: head.mailu_git,
        }
        .into());
    }
    Ok(toml::from_str(text).map_err(|e| Problem::BadManifest(e.to_string()))?)
}

fn lossy<R: Read>(entry: &tar::Entry<'_, R>) -> String {
    String::from_utf8_lossy(&entry.path_bytes()).into_owned()
}

fn entry_name<R: Read>(entry: &tar::Entry<'_, R>) -> Option<String> {
    std::str::from_utf8(&entry.path_bytes())
        .ok()
        .map(|s| s.trim_end_matches('/').to_owned())
}

/// Only plain relative paths under the entries a backup holds: no `..`, no absolute path, no key
/// file when the manifest says there is none.
fn check_name(name: &str, has_key: bool) -> Result<(), Error> {
    let path = Path::new(name);
    let plain = path.components().all(|c| matches!(c, Component::Normal(_)));
    let first = path.components().next().and_then(|c| match c {
        Component::Normal(s) => s.to_str(),
        _ => None,
    });
    let allowed = match first {
        Some(REPO | JOURNAL | ACME) => path.components().count() > 1,
        Some(TOKENS) => path.components().count() == 1,
        Some(KEY) => has_key && path.components().count() == 1,
        _ => false,
    };
    if plain && allowed {
        Ok(())
    } else {
        Err(Problem::BadEntry(name.to_owned()).into())
    }
}

/// Writes one entry (mode 0600, directories 0700: the data directory is private) and returns its
/// SHA-256.
fn write_file(entry: &mut dyn Read, path: &Path) -> Result<String, Error> {
    if let Some(parent) = path.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(super::io_err("create", parent))?;
    }
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(super::io_err("write", path))?;
    copy_hashing(entry, &mut out, path)
}

/// Copies `entry` to `out` and returns its SHA-256.
fn copy_hashing(entry: &mut dyn Read, out: &mut impl Write, path: &Path) -> Result<String, Error> {
    let mut hash = Sha256::new();
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = entry.read(&mut buf).map_err(|_| Problem::Truncated)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(super::io_err("write", path))?;
    }
    Ok(hex::encode(hash.finalize()))
}

fn check_sums(sums: &str, hashes: &BTreeMap<String, String>) -> Result<(), Error> {
    let mut listed = 0;
    for line in sums.lines().filter(|l| !l.is_empty()) {
        let (hash, name) = line
            .split_once("  ")
            .ok_or_else(|| Problem::BadEntry(SUMS.to_owned()))?;
        match hashes.get(name) {
            None => return Err(Problem::Missing(name.to_owned()).into()),
            Some(h) if h != hash => return Err(Problem::Checksum(name.to_owned()).into()),
            Some(_) => listed += 1,
        }
    }
    if listed != hashes.len() {
        // A file in the archive that the sums do not list was not written by a backup.
        let extra = hashes
            .keys()
            .find(|n| !sums.lines().any(|l| l.ends_with(&format!("  {n}"))))
            .cloned()
            .unwrap_or_default();
        return Err(Problem::BadEntry(extra).into());
    }
    Ok(())
}

/// Checks the unpacked data directory: the repository's main is the manifest's, and the key
/// decrypts every secret of main and of the held version.
fn verify(work: &Path, manifest: Manifest) -> Result<Restored, Error> {
    let store = crate::store::Store::open(&work.join(REPO))
        .map_err(|e| Problem::Repository(e.to_string()))?;
    let head = store
        .head()
        .map_err(|e| Problem::Repository(e.to_string()))?;
    if head != manifest.main {
        return Err(Problem::Repository(format!(
            "main is {head}, the manifest says {}",
            manifest.main
        ))
        .into());
    }
    let keyring = crate::secret::Keyring::load(&work.join(KEY))
        .map_err(|e| Problem::BadKey(e.to_string()))?;
    let mut commits = vec![head];
    if let Some(held) = store.hold()? {
        commits.push(held);
    }
    let mut secrets = 0;
    let prefix = crate::model::RepoPath::parse("secrets").expect("a constant valid path");
    for (i, commit) in commits.iter().enumerate() {
        let version = store.version_info(*commit)?.map_or(0, |v| v.number);
        let snapshot = store.snapshot(&crate::store::Rev::Commit(*commit))?;
        let listed = snapshot.list(&prefix)?;
        if i == 0 {
            secrets = listed.len();
        }
        for (path, _) in listed {
            let bytes = snapshot.read(&path)?.unwrap_or_default();
            if let Err(e) = keyring.decrypt(&bytes) {
                return Err(Problem::WrongKey {
                    path: path.to_string(),
                    version,
                    reason: e.to_string(),
                }
                .into());
            }
        }
    }
    let mut versions = 0;
    store.each_version(head, |_| {
        versions += 1;
        true
    })?;
    let tokens = match work.join(TOKENS).exists() {
        true => crate::auth::TokenFile::load(&work.join(TOKENS))
            .map_err(|e| Problem::Repository(format!("the access-token file: {e}")))?
            .entries()
            .len(),
        false => 0,
    };
    let pending_journal = fs::read_dir(work.join(JOURNAL))
        .map(|d| {
            d.flatten()
                .any(|e| e.metadata().is_ok_and(|m| m.is_file() && m.len() > 0))
        })
        .unwrap_or(false);
    Ok(Restored {
        manifest,
        versions,
        secrets,
        tokens,
        pending_journal,
    })
}

/// Syncs everything under `work`, then renames its entries into the data directory and syncs that.
fn place(dir: &DataDir, work: &Path) -> Result<(), Error> {
    sync_tree(work)?;
    for entry in fs::read_dir(work).map_err(super::io_err("read", work))? {
        let entry = entry.map_err(super::io_err("read", work))?;
        let target = dir.root().join(entry.file_name());
        fs::rename(entry.path(), &target).map_err(super::io_err("move into place", &target))?;
    }
    fs::remove_dir(work).map_err(super::io_err("remove", work))?;
    sync_path(dir.root())
}

fn sync_tree(root: &Path) -> Result<(), Error> {
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).map_err(super::io_err("read", &dir))? {
            let entry = entry.map_err(super::io_err("read", &dir))?;
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(entry.path());
            } else {
                sync_path(&entry.path())?;
            }
        }
        sync_path(&dir)?;
    }
    Ok(())
}

fn sync_path(path: &Path) -> Result<(), Error> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(super::io_err("sync", path))
}

#[cfg(test)]
pub(super) fn check_name_for_test(name: &str, has_key: bool) -> Result<(), Error> {
    check_name(name, has_key)
}
