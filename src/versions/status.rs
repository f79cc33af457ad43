//! `status`: where main and the deployed version are, whether deployment is suspended, how far main
//! is ahead, what the journal holds, whether versions can be committed, and the renderer.
//!
//! The shape is documented in `docs/api.md` and is meant to grow: later issues add optional fields
//! (deploy reports, certificates) without changing these.

use serde::{Deserialize, Serialize};

use super::{Error, LOOKBACK};
use crate::render;
use crate::store::Store;
use crate::versioner::{Health, Versioner};

/// The whole status.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Status {
    pub main: MainStatus,
    pub deployed: DeployedStatus,
    /// Versions on main after the deployed one (first-parent); absent if the deployed version is
    /// not on main's history (only a hand-moved hold gets there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions_ahead: Option<u64>,
    pub journal: JournalStatus,
    pub writable: Writable,
    pub renderer: RendererStatus,
    /// The TLS certificate in use and its last renewal attempt (absent offline, or without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<crate::tls::status::Summary>,
    /// The last cleanup of old versions since the server started (absent before the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleanup: Option<crate::gc::LastRun>,
    /// The worker's last deploy report (absent before the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<crate::deploy_report::Report>,
    /// What needs an admin's attention now (`crate::monitor`; empty offline).
    #[serde(default)]
    pub attention: Vec<crate::monitor::Alert>,
}

/// Main's newest version.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MainStatus {
    pub version: u64,
    pub commit: String,
    /// Commit time, seconds since the Unix epoch.
    pub time: i64,
}

/// What is deployed.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeployedStatus {
    pub version: u64,
    pub commit: String,
    /// Deployment is suspended (`refs/mailu/hold` pins this version).
    pub held: bool,
    /// When it was suspended, seconds since the Unix epoch (from the hold's reflog).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_since: Option<i64>,
}

/// Acknowledged API changes not yet in a version.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JournalStatus {
    pub pending: usize,
    /// Milliseconds until the next version is due; absent when nothing is pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_version_due_ms: Option<u64>,
}

/// Whether versions can be committed (writes answer 503 with `reason` when not).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Writable {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The renderer stamps: this server's, and the one main's newest version was rendered with.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RendererStatus {
    pub server: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main: Option<String>,
}

/// The part of the status that is read from the repository alone (also for `/metrics`).
#[derive(Debug, Clone)]
pub struct RefsStatus {
    pub main: MainStatus,
    pub main_renderer: Option<String>,
    pub deployed: DeployedStatus,
    pub versions_ahead: Option<u64>,
}

/// Main, the deployed version and how far apart they are.
pub fn refs_status(store: &Store) -> Result<RefsStatus, Error> {
    let head = store.head()?;
    let newest = store.history(head, 1)?.pop();
    let deployed = store.deployed()?;
    let deployed_info = store.version_info(deployed.commit)?;
    let ahead = store.versions_ahead(head, deployed.commit, LOOKBACK)?;
    Ok(RefsStatus {
        main: MainStatus {
            version: newest.as_ref().map_or(0, |v| v.number),
            commit: head.to_string(),
            time: newest.as_ref().map_or(0, |v| v.time),
        },
        main_renderer: newest.and_then(|v| v.renderer),
        deployed: DeployedStatus {
            version: deployed_info.map_or(0, |v| v.number),
            commit: deployed.commit.to_string(),
            held: deployed.held,
            held_since: if deployed.held {
                store.hold_since()?
            } else {
                None
            },
        },
        versions_ahead: ahead.map(|n| n as u64),
    })
}

/// The whole status of a running versioner.
pub async fn status(versioner: &Versioner) -> Result<Status, Error> {
    let store = versioner.store().clone();
    let refs = tokio::task::spawn_blocking(move || refs_status(&store)).await??;
    let pending = versioner.pending();
    let writable = match versioner.health() {
        Health::Ok => Writable {
            ok: true,
            reason: None,
        },
        Health::Unavailable { reason } => Writable {
            ok: false,
            reason: Some(reason),
        },
    };
    Ok(Status {
        main: refs.main,
        deployed: refs.deployed,
        versions_ahead: refs.versions_ahead,
        journal: JournalStatus {
            pending: pending.changes.len(),
            next_version_due_ms: pending
                .due_in
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        },
        writable,
        renderer: RendererStatus {
            server: render::stamp().to_owned(),
            main: refs.main_renderer,
        },
        certificate: None,
        cleanup: None,
        deploy: None,
        attention: Vec::new(),
    })
}
