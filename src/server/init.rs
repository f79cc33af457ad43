//! `mailu-git init`: a new data directory whose first version already carries the real identity
//! (`mail.domain`, `mail.hostnames`, `mail.postmaster`, `tls.flavor`), the mail domain and a first
//! global admin user, so the template's example values never exist in it. Everything else is the
//! server's first start (`first_start.rs`): the secret key, the generated secrets, the self-signed
//! certificate (for the real host names), the rendered files, and an admin access token. What a
//! setup is and which files it writes is `model::setup`, shared with `POST /api/v1/init`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::Error;
use crate::auth::{Scope, TokenFile};
use crate::data_dir::DataDir;
use crate::model::{Email, RepoPath};
use crate::secret;

/// What `init` writes into the first version (`model::setup`, shared with `POST /api/v1/init`).
pub use crate::model::setup::Setup;

/// What `init` made.
#[derive(Debug)]
pub struct Initialized {
    pub data: PathBuf,
    pub admin: Email,
    /// The admin access token, in plaintext: shown once, only its hash is stored.
    pub token: String,
}

/// Writes `setup` into the template's files: the identity into `mailu.toml` (its comments kept),
/// the domain and the admin user.
pub(super) fn apply(setup: &Setup, files: &mut BTreeMap<RepoPath, Vec<u8>>) -> Result<(), Error> {
    let broken = |e: String| Error::Template(format!("the template's mailu.toml: {e}"));
    let text = files
        .get(&RepoPath::settings())
        .ok_or_else(|| broken("missing".into()))?;
    let text = String::from_utf8_lossy(text).into_owned();
    let has_domain = files.contains_key(&RepoPath::domain(&setup.domain));
    let made = setup
        .files(&text, has_domain)
        .map_err(|e| broken(e.to_string()))?;
    files.extend(made);
    Ok(())
}

/// Makes the data directory `root` (missing or empty) with its secret key, the repository whose
/// version 1 holds `setup`, and an admin access token. On any failure the directory is left as
/// empty as it was found.
pub fn init(root: &Path, setup: &Setup) -> Result<Initialized, Error> {
    check_empty(root)?;
    let made = make(root, setup);
    if made.is_err()
        && let Ok(entries) = std::fs::read_dir(root)
    {
        // It was empty: everything in it now is ours.
        for entry in entries.flatten() {
            let path = entry.path();
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }
    made
}

/// Whether `root` may become a new data directory: missing or empty. The CLI asks before it reads
/// the admin's password.
pub fn check_empty(root: &Path) -> Result<(), Error> {
    let empty = match std::fs::read_dir(root) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(source) => {
            return Err(Error::InitData {
                path: root.to_owned(),
                reason: source.to_string(),
            });
        }
    };
    if !empty {
        return Err(Error::InitData {
            path: root.to_owned(),
            reason: "is not empty; init only makes a new data directory (change a running \
                     server's settings with `mailu-git settings set`)"
                .into(),
        });
    }
    Ok(())
}

fn make(root: &Path, setup: &Setup) -> Result<Initialized, Error> {
    let data = DataDir::open(root)?;
    let keyring = secret::Keyring::generate(&data.secret_key())?;
    super::first_start::create_repository(&data.repo(), &keyring, Some(setup))?;
    let mut tokens = TokenFile::load(&data.access_tokens())?;
    let token = tokens.create("admin", Scope::Admin)?;
    tokens.save()?;
    tracing::info!(path = %root.display(), domain = %setup.domain, "initialized the data directory");
    Ok(Initialized {
        data: root.to_owned(),
        admin: setup.admin_email(),
        token,
    })
}
