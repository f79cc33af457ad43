//! The worker's loop: long-poll the deploy summary (`GET /api/v1/deploy?since=&from=`), list our
//! containers, plan (`plan.rs`), carry the actions out on the engine, and report
//! (`POST /api/v1/deploy/report`). The decisions (what each service wants, what a report says) are
//! pure functions here; the Docker and HTTP calls stay thin around them.
//!
//! - Create/Recreate: the new container is created and started under its name, the old one (if
//!   any) stopped and moved aside first; when the new one does not become healthy it is removed and
//!   the old one renamed back and started again: mail keeps running on the previous container.
//! - Refresh: `entrypoint refresh` in the container; a non-zero exit is a reported failure, the
//!   container is kept. Restart: `docker restart` (the entrypoint fetches at start).
//! - Remove: the container only, never its volumes.
//! - The `admin` service (the server) is never planned like the others: only its `image` counts,
//!   and a running server of another image is upgraded first, alone (`upgrade.rs`); the pass then
//!   starts again on a fresh deploy summary.
//! - A full pass (the first after the worker starts, after the engine came back, after a
//!   container vanished) reads which bundle each running container holds (its entrypoint's kept
//!   `ETag`) and brings the stale ones up to date; without an applied version to diff from, a
//!   container holding the wanted bundle is left alone.
//!
//! The loop around passes (the long-poll, the engine's connection and events, backoff) is
//! `supervise.rs`; carrying one action out is `reconcile/actions.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::engine::{Engine, Ours};
use super::plan::{self, Action, Existing, Files, Mailboxes, Wanted};
use super::spec::{Access, Spec};
use super::upgrade;
use crate::client::{Client, Wait};
use crate::deploy_report::{Outcome, Report};
use crate::model::service::{EnvValue, Service};

mod actions;
use actions::carry_out;

/// Our entrypoint, copied into every container before its first start.
pub const ENTRYPOINT: &[u8] = include_bytes!("../../entrypoint/mailu-entrypoint");
/// The service the worker never touches: the server itself.
pub const SERVER_SERVICE: &str = "admin";
/// How long a new or restarted container may take to become healthy.
pub const HEALTHY_WITHIN: Duration = Duration::from_secs(120);
/// How long a stopped container may take to exit before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(10);
/// The long-poll's timeout, in seconds (the server's limit is 300).
pub const POLL_SECONDS: u64 = 60;
/// Where the entrypoint keeps its bundle unless the service sets `MAILU_GIT_STATE`.
pub const STATE_DIR: &str = "/var/lib/mailu-git";

/// The deploy summary as the worker reads it.
#[derive(Debug, Clone, Deserialize)]
pub struct Summary {
    pub version: SummaryVersion,
    pub services: Vec<SummaryService>,
    #[serde(default)]
    pub mailboxes: Option<SummaryMailboxes>,
    /// Why the version must not be deployed; empty when it may.
    #[serde(default)]
    pub blocked: Vec<SummaryBlocked>,
}

/// One reason the deployed version is not deployable.
#[derive(Debug, Clone, Deserialize)]
pub struct SummaryBlocked {
    pub field: String,
    pub message: String,
}

/// The report's incident for a version that is not deployable: what the worker did (nothing) and
/// why, each field named.
pub fn blocked_incident(summary: &Summary) -> Option<String> {
    if summary.blocked.is_empty() {
        return None;
    }
    let reasons: Vec<String> = summary
        .blocked
        .iter()
        .map(|b| format!("{}: {}", b.field, b.message))
        .collect();
    let text = format!(
        "version {} is not deployable, nothing was deployed: {}",
        summary.version.number,
        reasons.join("; ")
    );
    Some(text.chars().take(crate::deploy_report::MAX_ERROR).collect())
}

/// The deployed version's number.
#[derive(Debug, Clone, Deserialize)]
pub struct SummaryVersion {
    pub number: u64,
}

/// One enabled service of the summary.
#[derive(Debug, Clone, Deserialize)]
pub struct SummaryService {
    pub name: String,
    pub etag: String,
    pub service: Service,
    #[serde(default)]
    pub changed: Option<Vec<String>>,
}

/// Mailbox changes since `from`.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct SummaryMailboxes {
    pub added: bool,
    pub removed: bool,
}

/// `POST /api/v1/service/<name>/token`'s answer.
#[derive(Debug, Clone, Deserialize)]
struct ServiceToken {
    token: String,
}

/// What the worker was started with.
#[derive(Debug, Clone)]
pub struct Options {
    /// The server as the worker reaches it.
    pub url: String,
    pub token: String,
    /// The label value that marks our containers (and prefixes their names).
    pub project: String,
    /// The server as containers reach it.
    pub server_url_for_containers: String,
    /// The server's own container, to create when none exists; `None`: never.
    pub server: Option<super::server::ServerContainer>,
}

/// How a pass ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passed {
    /// The version is applied (or refused as blocked) and reported.
    Done,
    /// The server was upgraded (or its upgrade undone) and nothing else done: read the deploy
    /// summary again at once and pass again, the version not yet applied.
    Again,
}

/// What went wrong in one pass (the loop logs it and retries after a backoff).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Client(#[from] crate::client::Error),
    #[error(transparent)]
    Engine(#[from] super::engine::Error),
}

/// The services the summary asks for, the server's own left out.
pub fn deployable(summary: &Summary) -> Vec<&SummaryService> {
    summary
        .services
        .iter()
        .filter(|s| s.name != SERVER_SERVICE)
        .collect()
}

/// How a service's files changed for the plan: `first_pass` (nothing applied yet by this worker)
/// counts as unchanged; a known list empty is unchanged; no list is unknown.
pub fn files(service: &SummaryService, first_pass: bool) -> Files {
    if first_pass {
        return Files::Unchanged;
    }
    match &service.changed {
        None => Files::Unknown,
        Some(paths) if paths.is_empty() => Files::Unchanged,
        Some(paths) => Files::Changed(paths.clone()),
    }
}

/// Our containers by service, the server's own left out.
pub fn existing(ours: &[Ours]) -> BTreeMap<String, Existing> {
    ours.iter()
        .filter(|o| o.service != SERVER_SERVICE)
        .map(|o| {
            (
                o.service.clone(),
                Existing {
                    id: o.id.clone(),
                    spec: o.spec.clone(),
                    running: o.running,
                    etag: None,
                },
            )
        })
        .collect()
}

/// The mailbox changes for the plan (none known: none).
pub fn mailboxes(summary: &Summary) -> Mailboxes {
    summary
        .mailboxes
        .map(|m| Mailboxes {
            added: m.added,
            removed: m.removed,
        })
        .unwrap_or_default()
}

/// The name an action has in a report.
pub fn action_name(action: &Action) -> &'static str {
    match action {
        Action::Create { .. } => "create",
        Action::Recreate { .. } => "recreate",
        Action::Start { .. } => "start",
        Action::Refresh { .. } => "refresh",
        Action::Restart { .. } => "restart",
        Action::Remove { .. } => "remove",
    }
}

/// The report entry of one action's result.
pub fn outcome(action: &Action, result: Result<(), String>) -> Outcome {
    Outcome {
        service: action.service().to_owned(),
        action: action_name(action).to_owned(),
        ok: result.is_ok(),
        error: result
            .err()
            .map(|e| e.chars().take(crate::deploy_report::MAX_ERROR).collect()),
    }
}

/// The report entry of a service whose image cannot be used: a recreate when it has a container
/// (`kept`, left as it is), else a create.
pub fn refused_image(service: &str, kept: bool, why: &str) -> Outcome {
    let (action, then) = if kept {
        ("recreate", "the container is kept as it is")
    } else {
        ("create", "no container was created")
    };
    Outcome {
        service: service.to_owned(),
        action: action.to_owned(),
        ok: false,
        error: Some(
            format!("{why}; {then}")
                .chars()
                .take(crate::deploy_report::MAX_ERROR)
                .collect(),
        ),
    }
}

/// `GET /api/v1/deploy`: at once without `seen`, else a long-poll until the deployed version is
/// not `seen` (or the poll's timeout: the same version again).
pub async fn poll(
    client: &Client,
    seen: Option<u64>,
    applied: Option<u64>,
) -> Result<Summary, crate::client::Error> {
    let mut query = format!("deploy?timeout={POLL_SECONDS}");
    if let Some(n) = seen {
        query.push_str(&format!("&since={n}"));
    }
    if let Some(n) = applied {
        query.push_str(&format!("&from={n}"));
    }
    client.get(&query).await
}

/// Where a service's entrypoint keeps its bundle: `MAILU_GIT_STATE` when the service file sets
/// it, else the entrypoint's default.
pub fn state_dir(service: &Service) -> &str {
    match service.env.get("MAILU_GIT_STATE") {
        Some(EnvValue::Plain(dir)) if !dir.is_empty() => dir,
        _ => STATE_DIR,
    }
}

/// One pass: reconcile the engine with `summary` and report. `applied` is the version the
/// worker applied last (`None`: none since it started). A `full` pass also reads which bundle
/// each running container holds, so one that missed a version (the worker was down, an action
/// failed) is brought up to date; `incidents` go into the report.
#[allow(clippy::too_many_arguments)]
pub async fn pass(
    options: &Options,
    client: &Client,
    engine: &Engine,
    summary: &Summary,
    applied: Option<u64>,
    full: bool,
    mut incidents: Vec<String>,
    upgrades: &mut upgrade::Memory,
) -> Result<Passed, Error> {
    // An upgrade of the server not yet reported (this pass's, or one whose report failed).
    let mut outcomes = Vec::new();
    if let Some((outcome, incident)) = upgrades.unreported() {
        outcomes.push(outcome.clone());
        incidents.extend(incident.clone());
    }
    incidents.truncate(crate::deploy_report::MAX_INCIDENTS);
    if let Some(why) = blocked_incident(summary) {
        // The template's example identity never reaches a container: nothing is created,
        // changed or removed; the report says why, so `status` shows it.
        tracing::warn!(version = summary.version.number, reason = %why, "not deploying");
        incidents.truncate(crate::deploy_report::MAX_INCIDENTS - 1);
        incidents.push(why);
        let report = Report {
            version: summary.version.number,
            time: now(),
            services: outcomes,
            incidents,
        };
        let _: Report = client.post("deploy/report", &report, Wait(false)).await?;
        upgrades.reported();
        return Ok(Passed::Done);
    }
    // The server first: every other action needs it (service tokens, the report). While it is
    // replaced it does not answer; once it serves again (the new one or the old one), the
    // summary is read again, since a new server may have made a version of its own.
    if upgrade::step(engine, client, summary, upgrades).await? {
        return Ok(Passed::Again);
    }
    let mut have = existing(&engine.ours().await?);
    if full {
        for s in deployable(summary) {
            if let Some(found) = have.get_mut(&s.name)
                && found.running
            {
                let held = engine.bundle_etag(&found.id, state_dir(&s.service)).await?;
                found.etag = Some(held);
            }
        }
    }
    let mut specs = BTreeMap::new();
    let mut wanted = BTreeMap::new();
    for s in deployable(summary) {
        let image = match engine.image(&s.service.image, s.service.pull).await {
            Ok(image) => image,
            // One service's image missing or refused (pull policy `never`, a failed pull) holds
            // no other service back: this one is neither planned nor removed, its container (if
            // any) kept as it is, and the failure reported. An unreachable engine ends the pass.
            Err(e) if !e.is_connection() => {
                let kept = have.remove(&s.name).is_some();
                tracing::warn!(service = %s.name, error = %e, "the service's image cannot be used");
                outcomes.push(refused_image(&s.name, kept, &e.to_string()));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let token: ServiceToken = client
            .post(&format!("service/{}/token", s.name), &(), Wait(false))
            .await?;
        let access = Access {
            server_url: options.server_url_for_containers.clone(),
            token: token.token,
        };
        let spec = Spec::new(&options.project, &s.name, &s.service, &image, &access);
        wanted.insert(
            s.name.clone(),
            Wanted {
                spec: spec.hash.clone(),
                etag: s.etag.clone(),
                files: files(s, applied.is_none()),
                reload: s.service.reload.clone(),
            },
        );
        specs.insert(s.name.clone(), (spec, s.service.clone()));
    }
    let actions = plan::plan(&have, &wanted, mailboxes(summary));
    for action in &actions {
        if let plan::Action::Recreate { service, .. } = action {
            // Why, for the operator: the spec hashes differ (the service file, the image, ...).
            tracing::info!(
                service,
                had = have.get(service).map_or("", |h| h.spec.as_str()),
                wants = wanted.get(service).map_or("", |w| w.spec.as_str()),
                "the container's spec changed: recreating it"
            );
        }
    }
    for action in &actions {
        let result = carry_out(engine, action, &specs).await;
        if let Err(e) = &result {
            tracing::warn!(service = action.service(), action = action_name(action), error = %e, "a deploy action failed");
        } else {
            tracing::info!(
                service = action.service(),
                action = action_name(action),
                "deployed"
            );
        }
        outcomes.push(outcome(action, result));
    }
    if !outcomes.is_empty() || applied.is_none() || !incidents.is_empty() {
        let report = Report {
            version: summary.version.number,
            time: now(),
            services: outcomes,
            incidents,
        };
        let _: Report = client.post("deploy/report", &report, Wait(false)).await?;
        upgrades.reported();
    }
    Ok(Passed::Done)
}

/// The report's clock: RFC 3339, whole seconds.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(json: serde_json::Value) -> Summary {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn the_summary_reads_and_the_server_is_left_out() {
        let s = summary(serde_json::json!({
            "version": {"number": 4, "commit": "ab", "held": false},
            "services": [
                {"name": "admin", "etag": "b1-a", "service_blob": "x", "service": {"image": "mailu-git"}, "changed": null},
                {"name": "imap", "etag": "b1-i", "service_blob": "y", "service": {"image": "dovecot"}, "changed": ["/etc/dovecot/passwd"]},
                {"name": "smtp", "etag": "b1-s", "service_blob": "z", "service": {"image": "postfix"}, "changed": []}
            ],
            "mailboxes": {"added": true, "removed": false}
        }));
        let names: Vec<&str> = deployable(&s).iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["imap", "smtp"]);
        assert_eq!(
            mailboxes(&s),
            Mailboxes {
                added: true,
                removed: false
            }
        );
        let imap = deployable(&s)[0];
        assert_eq!(
            files(imap, false),
            Files::Changed(vec!["/etc/dovecot/passwd".into()])
        );
        assert_eq!(files(imap, true), Files::Unchanged);
        assert_eq!(files(deployable(&s)[1], false), Files::Unchanged);
        let unknown = SummaryService {
            changed: None,
            ..imap.clone()
        };
        assert_eq!(files(&unknown, false), Files::Unknown);
    }

    #[test]
    fn existing_leaves_the_server_out_and_outcomes_carry_the_error() {
        let ours = [
            Ours {
                id: "1".into(),
                name: "mailu-admin".into(),
                service: "admin".into(),
                spec: "a".into(),
                running: true,
            },
            Ours {
                id: "2".into(),
                name: "mailu-imap".into(),
                service: "imap".into(),
                spec: "b".into(),
                running: false,
            },
        ];
        let have = existing(&ours);
        assert_eq!(have.keys().collect::<Vec<_>>(), ["imap"]);
        assert!(!have["imap"].running);
        let action = Action::Refresh {
            service: "imap".into(),
            id: "2".into(),
        };
        let failed = outcome(&action, Err("refresh exited with 1".into()));
        assert_eq!((failed.action.as_str(), failed.ok), ("refresh", false));
        assert_eq!(failed.error.as_deref(), Some("refresh exited with 1"));
        assert!(outcome(&action, Ok(())).error.is_none());
        let refused = refused_image("imap", true, "image x is not present");
        assert_eq!((refused.action.as_str(), refused.ok), ("recreate", false));
        assert!(
            refused
                .error
                .unwrap()
                .ends_with("the container is kept as it is")
        );
        assert_eq!(refused_image("imap", false, "no").action, "create");
    }
}
