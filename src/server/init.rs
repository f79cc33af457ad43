//! `mailu-git init`: a new data directory whose first version already carries the real identity
//! (`mail.domain`, `mail.hostnames`, `mail.postmaster`, `tls.flavor`), the mail domain and a first
//! global admin user, so the template's example values never exist in it. Everything else is the
//! server's first start (`first_start.rs`): the secret key, the generated secrets, the self-signed
//! certificate (for the real host names), the rendered files, and an admin access token.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::Error;
use crate::auth::{Scope, TokenFile};
use crate::data_dir::DataDir;
use crate::model::{self, DomainName, Email, Localpart, RepoPath};
use crate::secret;

/// What `init` writes into the first version. Every value is already checked (the CLI names the
/// flag of a bad one).
#[derive(Debug, Clone)]
pub struct Setup {
    pub domain: DomainName,
    /// The first is the primary host name.
    pub hostnames: Vec<DomainName>,
    /// `tls.flavor` as written in `mailu.toml` (`cert`, `letsencrypt`, ...).
    pub tls_flavor: String,
    pub postmaster: Localpart,
    /// The first admin user's local part, at `domain`.
    pub admin: Localpart,
    /// The admin's password hash (`crate::password::hash`).
    pub password_hash: String,
}

/// What `init` made.
#[derive(Debug)]
pub struct Initialized {
    pub data: PathBuf,
    pub admin: Email,
    /// The admin access token, in plaintext: shown once, only its hash is stored.
    pub token: String,
}

impl Setup {
    /// The admin user's address.
    pub fn admin_email(&self) -> Email {
        Email {
            local: self.admin.clone(),
            domain: self.domain.clone(),
        }
    }

    /// Writes the identity into the template's `mailu.toml` (its comments kept) and adds the
    /// domain and the admin user.
    pub(super) fn apply(&self, files: &mut BTreeMap<RepoPath, Vec<u8>>) -> Result<(), Error> {
        let broken = |e: String| Error::Template(format!("the template's mailu.toml: {e}"));
        let settings = RepoPath::settings();
        let text = files
            .get(&settings)
            .ok_or_else(|| broken("missing".into()))?;
        let mut doc: toml_edit::DocumentMut = String::from_utf8_lossy(text)
            .parse()
            .map_err(|e: toml_edit::TomlError| broken(e.to_string()))?;
        let hostnames: toml_edit::Array = self.hostnames.iter().map(|h| h.as_str()).collect();
        doc["mail"]["domain"] = toml_edit::value(self.domain.as_str());
        doc["mail"]["hostnames"] = toml_edit::value(hostnames);
        doc["mail"]["postmaster"] = toml_edit::value(self.postmaster.as_str());
        doc["tls"]["flavor"] = toml_edit::value(self.tls_flavor.as_str());
        files.insert(settings, doc.to_string().into_bytes());

        let render = |e: model::edit::Error| Error::Template(e.to_string());
        let domain = model::domain::Domain::default();
        files.insert(
            RepoPath::domain(&self.domain),
            model::edit::render(&domain).map_err(render)?.into_bytes(),
        );
        let user = model::user::User {
            password: self.password_hash.clone(),
            global_admin: true,
            comment: "first admin, made by mailu-git init".into(),
            ..model::user::User::default()
        };
        files.insert(
            RepoPath::user(&self.admin_email()),
            model::edit::render(&user).map_err(render)?.into_bytes(),
        );
        Ok(())
    }
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
