//! The deployed version as the worker sees it (`GET /api/v1/deploy`): its number, commit and hold,
//! and per enabled service the bundle's `ETag` and the service file's blob id. A service whose
//! `ETag` did not change needs nothing; one whose service file changed needs its container looked at.

use gix::ObjectId;
use serde::Serialize;

use super::{Bundles, Deployed, Error};
use crate::model::{RepoPath, ServiceName};
use crate::store::Rev;

/// The body of `GET /api/v1/deploy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Deploy {
    pub version: Deployed,
    /// Every enabled service, by name.
    pub services: Vec<DeployedService>,
}

/// One enabled service of the deployed version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DeployedService {
    #[schema(value_type = String)]
    pub name: ServiceName,
    /// The bundle's `ETag` token (the header's value without quotes).
    pub etag: String,
    /// The blob id of `services/<name>.toml`.
    #[schema(value_type = String)]
    #[serde(serialize_with = "super::hex_id")]
    pub service_blob: ObjectId,
}

impl Bundles {
    /// The deployed version and its enabled services. Blocking.
    pub fn deploy(&self) -> Result<Deploy, Error> {
        let version = self.deployed()?;
        let snapshot = self.store.snapshot(&Rev::Commit(version.commit))?;
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
                Ok(current) => services.push(DeployedService {
                    name,
                    etag: current.etag.to_string(),
                    service_blob: current.service_blob,
                }),
                Err(Error::Disabled(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Deploy { version, services })
    }
}
