//! [`Objects`] laid over the current configuration: the file edits of ONE change that makes the
//! repository's domains, users, aliases and relays exactly the imported ones (what the document
//! omits is deleted; settings, services, overrides and other secrets stay). Files whose content
//! would not change are not written, and an existing file is rewritten with `model::edit::update`,
//! so hand-written comments survive. Secrets: a kept one stays as it is, a new one is encrypted to
//! the server's recipient, one whose plaintext is unchanged is not rewritten. No IO: the caller
//! hands in how to read the current files.

use std::collections::{BTreeMap, BTreeSet};

use secrecy::ExposeSecret;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::convert::{Objects, Secret};
use crate::model::{Config, DomainName, RepoPath, edit};
use crate::secret::dkim::Generated;
use crate::store::Edit;

/// What the import changes, for people (and `--dry-run`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Summary {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub deleted: Vec<String>,
}

impl Summary {
    pub fn line(&self) -> String {
        format!(
            "{} files created, {} updated, {} deleted",
            self.created.len(),
            self.updated.len(),
            self.deleted.len()
        )
    }
}

/// Why the import cannot be planned (problems of the document are found before).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot write {path}: {source}")]
    Edit { path: String, source: edit::Error },
    #[error("cannot encrypt a secret: {0}")]
    Encrypt(#[from] crate::secret::Error),
    #[error("{0}")]
    Path(#[from] crate::model::PathError),
    #[error("{field}: {message}")]
    Missing { field: String, message: String },
}

/// How the plan reaches the current repository.
pub struct Current<'a> {
    pub config: &'a Config,
    /// The current bytes of a file.
    pub read: &'a dyn Fn(&RepoPath) -> Option<Vec<u8>>,
    /// Every current file under `domains/`, `relays/`, `secrets/dkim/` and `secrets/fetch/`.
    pub files: Vec<RepoPath>,
    /// The plaintext of a stored secret, when the server can decrypt it (to skip rewriting it).
    pub decrypt: &'a dyn Fn(&[u8]) -> Option<Vec<u8>>,
    /// The age recipient new secrets are encrypted to.
    pub recipient: &'a str,
}

/// The folders an import replaces.
pub fn scopes() -> [RepoPath; 4] {
    ["domains", "relays", "secrets/dkim", "secrets/fetch"]
        .map(|p| RepoPath::parse(p).expect("constant valid paths"))
}

enum Desired {
    Write(Vec<u8>),
    Secret(Vec<u8>),
    Keep,
}

/// The edits that make the current repository hold `objects`. `generated` holds a new key for
/// every domain whose DKIM key is `-generate-`.
pub fn plan(
    objects: Objects,
    current: &Current<'_>,
    mut generated: BTreeMap<DomainName, Generated>,
) -> Result<(Vec<Edit>, Summary), Error> {
    let mut desired: BTreeMap<RepoPath, Desired> = BTreeMap::new();
    let existing: BTreeSet<&RepoPath> = current.files.iter().collect();
    for (name, object) in objects.domains {
        let mut domain = object.domain;
        let secret = RepoPath::secret("dkim", name.as_str())?;
        match object.dkim {
            Secret::Keep => {
                if existing.contains(&secret) {
                    desired.insert(secret, Desired::Keep);
                    if let Some(old) = current.config.domain(&name) {
                        domain
                            .dkim_public_key
                            .clone_from(&old.domain.dkim_public_key);
                    }
                }
            }
            Secret::Remove => domain.dkim_public_key.clear(),
            Secret::Generate => {
                let key = generated.remove(&name).ok_or_else(|| Error::Missing {
                    field: format!("domain {name}"),
                    message: "no DKIM key was generated for it".into(),
                })?;
                domain.dkim_public_key.clone_from(&key.public);
                desired.insert(
                    secret,
                    Desired::Secret(key.private_pem.expose_secret().as_bytes().to_vec()),
                );
            }
            Secret::Set(pem) => {
                desired.insert(
                    secret,
                    Desired::Secret(pem.expose_secret().as_bytes().to_vec()),
                );
            }
        }
        let path = RepoPath::domain(&name);
        desired.insert(path.clone(), Desired::Write(text(current, &path, &domain)?));
    }
    for (email, object) in objects.users {
        for (id, password) in object.fetch_passwords {
            let secret = RepoPath::secret("fetch", id.as_str())?;
            match password {
                Secret::Set(p) => {
                    desired.insert(
                        secret,
                        Desired::Secret(p.expose_secret().as_bytes().to_vec()),
                    );
                }
                _ if existing.contains(&secret) => {
                    desired.insert(secret, Desired::Keep);
                }
                _ => {
                    return Err(Error::Missing {
                        field: format!("user {email}: fetch {id}"),
                        message: "a new fetched account needs its password (it is <hidden>)".into(),
                    });
                }
            }
        }
        let path = RepoPath::user(&email);
        desired.insert(
            path.clone(),
            Desired::Write(text(current, &path, &object.user)?),
        );
    }
    for (email, alias) in objects.aliases {
        let path = RepoPath::alias(&email);
        desired.insert(path.clone(), Desired::Write(text(current, &path, &alias)?));
    }
    for (name, relay) in objects.relays {
        let path = RepoPath::relay(&name);
        desired.insert(path.clone(), Desired::Write(text(current, &path, &relay)?));
    }

    let mut edits = Vec::new();
    let mut summary = Summary::default();
    for path in &current.files {
        if !desired.contains_key(path) {
            summary.deleted.push(path.to_string());
            edits.push(Edit::delete(path.clone()));
        }
    }
    for (path, want) in desired {
        let old = if existing.contains(&path) {
            (current.read)(&path)
        } else {
            None
        };
        let content = match want {
            Desired::Keep => continue,
            Desired::Write(bytes) if old.as_deref() == Some(bytes.as_slice()) => continue,
            Desired::Write(bytes) => bytes,
            Desired::Secret(plain) => {
                let same = old
                    .as_deref()
                    .and_then(|o| (current.decrypt)(o))
                    .is_some_and(|p| p == plain);
                if same {
                    continue;
                }
                crate::secret::encrypt_for_recipient(current.recipient, &plain)?
            }
        };
        if old.is_some() {
            summary.updated.push(path.to_string());
        } else {
            summary.created.push(path.to_string());
        }
        edits.push(Edit::write(path, content));
    }
    Ok((edits, summary))
}

/// The file for `value` at `path`: the current file rewritten (comments kept), or a fresh one.
fn text<T: Serialize + DeserializeOwned>(
    current: &Current<'_>,
    path: &RepoPath,
    value: &T,
) -> Result<Vec<u8>, Error> {
    let old = (current.read)(path).and_then(|b| String::from_utf8(b).ok());
    let written = match old {
        Some(old) => edit::update(&old, value),
        None => edit::render(value),
    };
    written
        .map(String::into_bytes)
        .map_err(|source| Error::Edit {
            path: path.to_string(),
            source,
        })
}
