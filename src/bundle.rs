//! Per-service bundles: the files one container gets at the deployed version, as a tar archive with
//! owners, modes and secrets filled in, and an `ETag` that changes only when what the container would
//! receive changes.
//!
//! - `archive.rs` builds the archive (files relative to `/`, the manifest `.mailu-bundle/`).
//! - `cache.rs` keeps what was computed per (deployed commit, service) and the archives by `ETag`,
//!   so a request whose `If-None-Match` matches reads two refs and nothing else.
//! - `deploy.rs` summarises the deployed version for the worker (every enabled service's `ETag`).
//! - `poll.rs` waits for a change (long-polls) on the versioner's watch, without a polling delay.
//!
//! The `ETag` hashes the `rendered/<name>` tree id, the service file's blob id and the blob ids of
//! the secrets the files and the secret environment variables reference, never a commit id: a cleanup that rewrites commits, or a version
//! that changes another service, leaves it alone. This module knows no HTTP (`api/bundle.rs` serves
//! it) and never writes the repository.

pub mod archive;
pub mod cache;
pub mod deploy;
pub mod poll;

use std::sync::{Arc, Mutex, PoisonError};

use gix::ObjectId;
use sha2::{Digest, Sha256};

use crate::model::service::Service;
use crate::model::{RepoPath, SecretRef, ServiceName};
use crate::secret::Keyring;
use crate::store::{self, Rev, Snapshot, Store};

pub use archive::MANIFEST_DIR;
pub use deploy::Deploy;

/// Bumped when the archive's layout changes, so every `ETag` changes with it.
const FORMAT: &str = "mailu-git bundle 1";

/// What building or finding a bundle can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("there is no service `{0}` at the deployed version")]
    UnknownService(String),
    #[error("the service `{0}` is disabled at the deployed version")]
    Disabled(ServiceName),
    #[error("{path} at the deployed version is invalid: {problems}")]
    ServiceFile { path: RepoPath, problems: String },
    #[error("cannot fill the secrets of {file}")]
    Secret {
        file: RepoPath,
        #[source]
        source: crate::secret::Error,
    },
    #[error("services/{service}.toml: env `{var}` (secret `{secret}`): {problem}")]
    EnvSecret {
        service: ServiceName,
        var: String,
        secret: SecretRef,
        problem: String,
    },
    #[error("{file} is not UTF-8 text but holds a secret placeholder")]
    NotText { file: RepoPath },
    #[error("{file}: the path `/{MANIFEST_DIR}` is reserved for the bundle's manifest")]
    Reserved { file: RepoPath },
    #[error("cannot write the archive: {0}")]
    Archive(std::io::Error),
    #[error(transparent)]
    Store(#[from] store::Error),
}

impl Error {
    /// Whether the service does not exist or is not deployed (the API's 404).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::UnknownService(_) | Error::Disabled(_))
    }
}

/// A bundle's `ETag` token (`b1-<hex>`); the header value is it in double quotes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Etag(String);

impl Etag {
    /// The token, without quotes.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `ETag` header's value.
    pub fn header(&self) -> String {
        format!("\"{}\"", self.0)
    }

    /// Whether `raw` (a `since` parameter, quoted or not, weak or not) names this tag.
    pub fn is(&self, raw: &str) -> bool {
        let raw = raw.trim();
        let raw = raw.strip_prefix("W/").unwrap_or(raw);
        raw.trim_matches('"') == self.0
    }
}

impl std::fmt::Display for Etag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The `ETag` of a service's bundle from the ids that decide its content. `secrets` are the
/// referenced secrets with their current blob ids (`None`: the secret does not exist).
pub fn etag(
    service: &ServiceName,
    rendered: Option<ObjectId>,
    service_blob: ObjectId,
    secrets: &[(SecretRef, Option<ObjectId>)],
) -> Etag {
    let mut h = Sha256::new();
    h.update(format!("{FORMAT}\n{service}\n").as_bytes());
    match rendered {
        Some(id) => h.update(format!("rendered {id}\n").as_bytes()),
        None => h.update(b"rendered none\n"),
    }
    h.update(format!("service {service_blob}\n").as_bytes());
    let mut secrets = secrets.to_vec();
    secrets.sort_by_key(|s| s.0.to_string());
    for (secret, id) in secrets {
        match id {
            Some(id) => h.update(format!("secret {secret} {id}\n").as_bytes()),
            None => h.update(format!("secret {secret} none\n").as_bytes()),
        }
    }
    let digest = h.finalize();
    Etag(format!("b1-{}", hex::encode(&digest[..20])))
}

/// The deployed version: the commit, its number, and whether the hold pins it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Deployed {
    pub number: u64,
    #[schema(value_type = String)]
    #[serde(serialize_with = "hex_id")]
    pub commit: ObjectId,
    pub held: bool,
}

fn hex_id<S: serde::Serializer>(id: &ObjectId, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(id)
}

/// One service's bundle at one deployed commit, without its archive.
#[derive(Debug, Clone)]
pub struct Current {
    pub service: ServiceName,
    pub etag: Etag,
    pub deployed: Deployed,
    /// The blob id of `services/<name>.toml`.
    pub service_blob: ObjectId,
}

/// Bundles of the deployed version, with their cache. One per server, shared by handlers.
#[derive(Debug)]
pub struct Bundles {
    store: Store,
    keyring: Arc<Keyring>,
    cache: Mutex<cache::Cache>,
    /// Set when the server stops: long-polls answer at once instead of holding the shutdown.
    closing: tokio::sync::watch::Sender<bool>,
}

impl Bundles {
    /// Bundles of `store`'s deployed version; archives up to `budget` bytes stay cached.
    pub fn new(store: Store, keyring: Arc<Keyring>, budget: usize) -> Bundles {
        Bundles {
            store,
            keyring,
            cache: Mutex::new(cache::Cache::new(budget)),
            closing: tokio::sync::watch::channel(false).0,
        }
    }

    /// Ends every long-poll (now and later) with its "unchanged" answer: the server is stopping,
    /// and a graceful shutdown waits for open requests.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Changes to `true` when [`Bundles::close`] is called.
    pub fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.closing.subscribe()
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, cache::Cache> {
        // Only plain maps are behind the lock, each updated by one statement: still consistent.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The deployed version (two ref reads; its number is read once per commit). Blocking.
    pub fn deployed(&self) -> Result<Deployed, Error> {
        let d = self.store.deployed()?;
        if let Some(number) = self.cache().number(&d.commit) {
            return Ok(Deployed {
                number,
                commit: d.commit,
                held: d.held,
            });
        }
        let number = self
            .store
            .history(d.commit, 1)?
            .first()
            .map(|v| v.number)
            .unwrap_or(0);
        self.cache().set_number(d.commit, number);
        Ok(Deployed {
            number,
            commit: d.commit,
            held: d.held,
        })
    }

    /// `raw`'s bundle at the deployed version, without its archive. Blocking; on a cache hit it
    /// reads the refs and nothing else.
    pub fn current(&self, raw: &str) -> Result<Arc<Current>, Error> {
        let name = ServiceName::parse(raw).map_err(|_| Error::UnknownService(raw.to_owned()))?;
        let deployed = self.deployed()?;
        self.current_at(&deployed, &name)
    }

    /// `name`'s bundle at `deployed`, without its archive. Blocking.
    pub fn current_at(
        &self,
        deployed: &Deployed,
        name: &ServiceName,
    ) -> Result<Arc<Current>, Error> {
        if let Some(found) = self.cache().current(&deployed.commit, name) {
            return found;
        }
        let snapshot = self.store.snapshot(&Rev::Commit(deployed.commit))?;
        let found = self.resolve(&snapshot, deployed, name);
        // Unknown and disabled services are cached too: a container polling for a service that is
        // not deployed must not cost a git read per request.
        match &found {
            Ok(current) => self
                .cache()
                .set_current(deployed.commit, name, Ok(current.clone())),
            Err(e @ (Error::UnknownService(_) | Error::Disabled(_))) => {
                let again = match e {
                    Error::Disabled(n) => Error::Disabled(n.clone()),
                    _ => Error::UnknownService(name.to_string()),
                };
                self.cache()
                    .set_current(deployed.commit, name, Err(Arc::new(again)));
            }
            Err(_) => {}
        }
        found
    }

    /// The archive of `current`, from the cache or built now. Blocking.
    pub fn archive(&self, current: &Current) -> Result<Arc<[u8]>, Error> {
        if let Some(bytes) = self.cache().archive(&current.etag) {
            return Ok(bytes);
        }
        let snapshot = self.store.snapshot(&Rev::Commit(current.deployed.commit))?;
        let (_, service) = service_at(&snapshot, &current.service)?;
        let built = archive::build(
            &snapshot,
            &current.service,
            &service,
            &self.keyring,
            current.deployed.number,
        )?;
        let bytes: Arc<[u8]> = built.bytes.into();
        self.cache().set_archive(built.etag, bytes.clone());
        Ok(bytes)
    }

    /// Computes a service's `ETag` at a snapshot. When its rendered tree was seen before, the
    /// secrets it references are known and only their blob ids are read; otherwise the archive is
    /// built (which reads every file anyway) and kept.
    fn resolve(
        &self,
        snapshot: &Snapshot,
        deployed: &Deployed,
        name: &ServiceName,
    ) -> Result<Arc<Current>, Error> {
        let (service_blob, service) = service_at(snapshot, name)?;
        if !service.enabled {
            return Err(Error::Disabled(name.clone()));
        }
        let rendered = snapshot.tree_id(&rendered_dir(name)?)?;
        let known = self.cache().references(rendered, service_blob);
        let etag = match known {
            Some(refs) => {
                let secrets = secret_ids(snapshot, &refs)?;
                etag(name, rendered, service_blob, &secrets)
            }
            None => {
                let built =
                    archive::build(snapshot, name, &service, &self.keyring, deployed.number)?;
                let etag = built.etag.clone();
                let mut cache = self.cache();
                cache.set_references(rendered, service_blob, built.references);
                cache.set_archive(built.etag, built.bytes.into());
                etag
            }
        };
        Ok(Arc::new(Current {
            service: name.clone(),
            etag,
            deployed: *deployed,
            service_blob,
        }))
    }
}

/// `rendered/<name>`.
fn rendered_dir(name: &ServiceName) -> Result<RepoPath, Error> {
    Ok(RepoPath::parse(&format!("rendered/{name}")).map_err(store::Error::from)?)
}

/// The service file's blob id and parsed content at a snapshot.
fn service_at(snapshot: &Snapshot, name: &ServiceName) -> Result<(ObjectId, Service), Error> {
    let path = RepoPath::service(name);
    let Some(blob) = snapshot.blob_id(&path)? else {
        return Err(Error::UnknownService(name.to_string()));
    };
    let bytes = snapshot.read(&path)?.unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let service = crate::model::toml_file::parse::<Service>(path.as_str(), &text).map_err(|d| {
        Error::ServiceFile {
            path: path.clone(),
            problems: d
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        }
    })?;
    Ok((blob, service))
}

/// The current blob id of each secret at a snapshot (`None`: it does not exist).
fn secret_ids(
    snapshot: &Snapshot,
    refs: &[SecretRef],
) -> Result<Vec<(SecretRef, Option<ObjectId>)>, Error> {
    refs.iter()
        .map(|r| {
            let path = RepoPath::secret(&r.kind, &r.name).map_err(store::Error::from)?;
            Ok((r.clone(), snapshot.blob_id(&path)?))
        })
        .collect()
}

#[cfg(test)]
mod tests;
