//! The deployed version as the worker sees it (`GET /api/v1/deploy`): its number, commit and hold,
//! and per enabled service the bundle's `ETag`, the service file's blob id and its parsed content
//! (so the worker builds the container without reading the repository). A service whose `ETag` did
//! not change needs nothing; one whose service file changed needs its container looked at.
//!
//! Asked with the version the worker last applied (`from`), it also says per service which of the
//! container's paths changed since then, and whether mailboxes (user files) were added or removed,
//! which decides whether imap or smtp goes first (`worker/plan.rs`).

use gix::ObjectId;
use serde::Serialize;

use super::{Bundles, Deployed, Error, service_at};
use crate::model::service::{EnvValue, Service};
use crate::model::{RepoPath, ServiceName};
use crate::store::{ChangeKind, Changed, Rev, Revision};

/// The body of `GET /api/v1/deploy`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Deploy {
    pub version: Deployed,
    /// Every enabled service, by name.
    pub services: Vec<DeployedService>,
    /// How the mailboxes changed since `from`; `null` without `from` or when `from` is unknown.
    pub mailboxes: Option<MailboxChanges>,
    /// Why this version must not be deployed (empty: it may): `mailu.toml` still holds the
    /// template's example identity (`mail.domain`, `mail.hostnames`). The worker then deploys
    /// nothing and reports why.
    pub blocked: Vec<Blocked>,
}

/// One reason a version is not deployable: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Blocked {
    /// The setting, as `TABLE.KEY` of `mailu.toml` (`mail.domain`).
    pub field: String,
    pub message: String,
}

/// One enabled service of the deployed version.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DeployedService {
    #[schema(value_type = String)]
    pub name: ServiceName,
    /// The bundle's `ETag` token (the header's value without quotes).
    pub etag: String,
    /// The blob id of `services/<name>.toml`.
    #[schema(value_type = String)]
    #[serde(serialize_with = "super::hex_id")]
    pub service_blob: ObjectId,
    /// `services/<name>.toml`, parsed (the same fields as the file).
    #[schema(value_type = Object)]
    pub service: Service,
    /// The container's paths (absolute) whose rendered file was added, changed or deleted since
    /// version `from`; `null` without `from` or when that version is unknown (cleaned up).
    pub changed: Option<Vec<String>>,
}

/// Whether user files (`domains/*/users/*.toml`) were added or removed between two versions; a
/// user whose `enabled` flipped counts as added (on) or removed (off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, utoipa::ToSchema)]
pub struct MailboxChanges {
    pub added: bool,
    pub removed: bool,
}

impl Bundles {
    /// The deployed version and its enabled services; with `from`, what changed since that
    /// version. Blocking.
    pub fn deploy(&self, from: Option<u64>) -> Result<Deploy, Error> {
        let version = self.deployed()?;
        let snapshot = self.store.snapshot(&Rev::Commit(version.commit))?;
        let changes = match from {
            Some(n) => self.changes_since(n, version.commit)?,
            None => None,
        };
        let dir = RepoPath::parse("services").map_err(crate::store::Error::from)?;
        let mut services = Vec::new();
        for (path, _) in snapshot.list(&dir)? {
            let Some(name) = path
                .as_str()
                .strip_prefix("services/")
                .and_then(|f| f.strip_suffix(".toml"))
                .and_then(|n| ServiceName::parse(n).ok())
            else {
                continue;
            };
            match self.current_at(&version, &name) {
                Ok(current) => {
                    let (_, service) = service_at(&snapshot, &name)?;
                    let changed = changes
                        .as_ref()
                        .map(|c| container_paths(&c.0, &name, &service));
                    services.push(DeployedService {
                        name,
                        etag: current.etag.to_string(),
                        service_blob: current.service_blob,
                        service,
                        changed,
                    })
                }
                Err(Error::Disabled(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Deploy {
            version,
            services,
            mailboxes: changes.map(|c| c.1),
            blocked: blocked(&snapshot)?,
        })
    }

    /// The files changed from version `from` to `to`, and how mailboxes changed; `None` when
    /// `from` is not a version (any more).
    fn changes_since(
        &self,
        from: u64,
        to: ObjectId,
    ) -> Result<Option<(Vec<Changed>, MailboxChanges)>, Error> {
        let from = match self.store.resolve_version(&Revision::Number(from)) {
            Ok(v) => v.commit,
            Err(crate::store::Error::Revision(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let changed = self.store.changed_paths(from, to)?;
        let mut mailboxes = MailboxChanges::default();
        let (old, new) = (
            self.store.snapshot(&Rev::Commit(from))?,
            self.store.snapshot(&Rev::Commit(to))?,
        );
        for c in changed.iter().filter(|c| is_user_file(c.path.as_str())) {
            match c.kind {
                ChangeKind::Added => mailboxes.added |= user_enabled(&new, &c.path)?,
                ChangeKind::Deleted => mailboxes.removed |= user_enabled(&old, &c.path)?,
                ChangeKind::Modified => {
                    match (user_enabled(&old, &c.path)?, user_enabled(&new, &c.path)?) {
                        (false, true) => mailboxes.added = true,
                        (true, false) => mailboxes.removed = true,
                        _ => {}
                    }
                }
            }
        }
        Ok(Some((changed, mailboxes)))
    }
}

/// What stands for the secret environment in `changed`: the bundle's `env` file, which no reload
/// covers (a process's environment is read once, at its start).
pub const ENV_PATH: &str = "/.mailu-bundle/env";

/// `rendered/<name>/<path>` entries of `changed`, as the container's `/<path>`; and [`ENV_PATH`]
/// when a secret one of the service's environment variables names changed.
fn container_paths(changed: &[Changed], name: &ServiceName, service: &Service) -> Vec<String> {
    let prefix = format!("rendered/{name}/");
    let mut paths: Vec<String> = changed
        .iter()
        .filter_map(|c| c.path.as_str().strip_prefix(&prefix))
        .map(|p| format!("/{p}"))
        .collect();
    let env_secrets: Vec<RepoPath> = service
        .env
        .values()
        .filter_map(|v| match v {
            EnvValue::Secret(r) => RepoPath::secret(&r.kind, &r.name).ok(),
            EnvValue::Plain(_) => None,
        })
        .collect();
    if changed.iter().any(|c| env_secrets.contains(&c.path)) {
        paths.push(ENV_PATH.to_owned());
    }
    paths
}

/// The example values `mailu.toml` still holds at `snapshot`. A file that does not parse (a
/// deployed version never has one) blocks too: nothing is deployed on a guess.
fn blocked(snapshot: &crate::store::Snapshot) -> Result<Vec<Blocked>, Error> {
    use crate::model::{path::SETTINGS, settings::Settings, toml_file};
    let bytes = snapshot.read(&RepoPath::settings())?.unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let problems = match toml_file::parse::<Settings>(SETTINGS, &text) {
        Ok(settings) => settings.mail.placeholders(),
        Err(diagnostics) => vec![crate::model::Problem::new(
            SETTINGS,
            format!("does not parse ({} problems)", diagnostics.len()),
        )],
    };
    Ok(problems
        .into_iter()
        .map(|p| Blocked {
            field: p.field,
            message: p.message,
        })
        .collect())
}

/// Whether `path` is `domains/<domain>/users/<user>.toml`.
fn is_user_file(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    matches!(parts.as_slice(), ["domains", _, "users", file] if file.ends_with(".toml"))
}

/// Whether the user file at `path` enables its mailbox (`enabled`, default true). An unreadable
/// file counts as enabled: a change to it is then seen, never missed.
fn user_enabled(snapshot: &crate::store::Snapshot, path: &RepoPath) -> Result<bool, Error> {
    let bytes = snapshot.read(path)?.unwrap_or_default();
    let enabled = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .and_then(|t| t.get("enabled").and_then(toml::Value::as_bool))
        .unwrap_or(true);
    Ok(enabled)
}

#[cfg(test)]
mod tests {
    use super::is_user_file;

    #[test]
    fn user_files_are_recognised() {
        assert!(is_user_file("domains/example.com/users/alice.toml"));
        assert!(!is_user_file("domains/example.com/domain.toml"));
        assert!(!is_user_file("domains/example.com/aliases/a.toml"));
        assert!(!is_user_file("domains/x/users/sub/a.toml"));
    }
}
