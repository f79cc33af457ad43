//! Reading a working tree of the config repository (a `git clone` of it) into memory, so the CLI can
//! validate and render a checkout exactly as the server would validate a push of it.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::model::{PathError, RepoPath};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("{path} is a symbolic link; the config repository holds regular files only")]
    Symlink { path: PathBuf },
    #[error("{path} is not valid UTF-8 in its name")]
    NotUtf8 { path: PathBuf },
}

/// Every regular file under `root` except the `.git` folder, keyed by its repository path.
pub fn read(root: &Path) -> Result<BTreeMap<RepoPath, Vec<u8>>, Error> {
    let mut files = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let entries = fs::read_dir(&dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| Error::Io {
                path: dir.clone(),
                source,
            })?;
            let path = entry.path();
            let kind = entry.file_type().map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            if dir == root && entry.file_name() == ".git" {
                continue;
            }
            if kind.is_symlink() {
                return Err(Error::Symlink { path });
            }
            if kind.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let rel = rel
                .to_str()
                .ok_or_else(|| Error::NotUtf8 { path: path.clone() })?;
            let repo_path = RepoPath::parse(rel)?;
            let bytes = fs::read(&path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            files.insert(repo_path, bytes);
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_files_and_skips_git() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join(".git/objects")).unwrap();
        fs::write(tmp.path().join(".git/config"), "x").unwrap();
        fs::create_dir_all(tmp.path().join("domains/example.com")).unwrap();
        fs::write(tmp.path().join("domains/example.com/domain.toml"), "").unwrap();
        fs::write(tmp.path().join("mailu.toml"), "format = 1\n").unwrap();
        let files = read(tmp.path()).unwrap();
        let names: Vec<&str> = files.keys().map(|p| p.as_str()).collect();
        assert_eq!(names, ["domains/example.com/domain.toml", "mailu.toml"]);
    }

    #[test]
    fn symlinks_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc/passwd", tmp.path().join("mailu.toml")).unwrap();
        assert!(matches!(read(tmp.path()), Err(Error::Symlink { .. })));
    }
}
