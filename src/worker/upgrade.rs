//! The server's upgrade: when the deployed version's `services/admin.toml` names another `image`
//! than the running server container's, the worker replaces that container by one of the new
//! image, with everything else kept (`replacement.rs`), and puts the old one back when the new one
//! does not serve. Nothing else ever touches the server's container: a stopped one is left alone
//! (an operator stopped it for an offline command), and one of the same image is never restarted.
//!
//! The server is what answers the worker, so the order matters:
//! 1. the image as its pull policy says (missing or refused: failed, the old server untouched);
//! 2. the new container created under `<name>-next` while the old one still serves;
//! 3. the old one stopped (the server commits what is pending on SIGTERM) and renamed
//!    `<name>-previous`, the new one renamed `<name>` and started;
//! 4. serving (its Docker health check healthy, or `/healthz` answering 200 through the worker's
//!    `--url`) within [`SERVES_WITHIN`]: the old container is removed (never a volume);
//!    exited, restarting, unhealthy or silent: the new one is removed, the old one renamed back
//!    and started, and the pass waits for it to serve again.
//!
//! The outcome is reported as the `recreate` of `admin` in the next report (with the incident
//! `server upgraded from A to B` on success), and kept until a report carried it. A failed
//! (image, version) is not tried again before another version or a restart of the worker, so a
//! broken image does not take the server down in a loop. A worker stopped in the middle leaves
//! `<name>-previous` behind: [`recover`] (every full pass) finishes or undoes that upgrade.

pub mod replacement;

use std::time::Duration;

use super::engine::{Engine, Ours};
use super::reconcile::{Error, SERVER_SERVICE, Summary};
use crate::client::Client;
use crate::deploy_report::Outcome;
use crate::model::service::PullPolicy;

/// How long the new server may take to serve (and the old one to serve again after a rollback).
pub const SERVES_WITHIN: Duration = Duration::from_secs(120);
/// How long the server may take to commit what is pending and exit when stopped.
pub const STOP_GRACE: Duration = Duration::from_secs(30);
/// The old container's name while the new one starts.
pub const PREVIOUS: &str = "-previous";
/// The new container's name until the old one is stopped.
pub const NEXT: &str = "-next";
/// How long one `/healthz` request may take.
const HEALTHZ_WITHIN: Duration = Duration::from_secs(5);

/// What the worker remembers about the server's upgrades from one pass to the next.
#[derive(Debug, Default)]
pub struct Memory {
    /// The image and version whose upgrade failed: not tried again for that version.
    failed: Option<(String, u64)>,
    /// The last attempt's outcome and incident, until a report carried them.
    unreported: Option<(Outcome, Option<String>)>,
}

impl Memory {
    /// The outcome and incident to put in the next report.
    pub fn unreported(&self) -> Option<&(Outcome, Option<String>)> {
        self.unreported.as_ref()
    }

    /// A report carried them.
    pub fn reported(&mut self) {
        self.unreported = None;
    }
}

/// Whether two image references name the same image: `name` is `name:latest`, and Docker Hub's
/// `docker.io/` and `docker.io/library/` prefixes change nothing.
pub fn same_image(a: &str, b: &str) -> bool {
    fn normal(image: &str) -> String {
        let image = image
            .strip_prefix("docker.io/library/")
            .or_else(|| image.strip_prefix("docker.io/"))
            .unwrap_or(image);
        let last = image.rsplit('/').next().unwrap_or(image);
        if last.contains(':') || last.contains('@') {
            image.to_owned()
        } else {
            format!("{image}:latest")
        }
    }
    normal(a) == normal(b)
}

/// Whether the server is to be upgraded from `running` to `wanted` for `version`: the images
/// differ and that image did not already fail for that version.
pub fn due(running: &str, wanted: &str, version: u64, memory: &Memory) -> bool {
    !same_image(running, wanted)
        && memory
            .failed
            .as_ref()
            .is_none_or(|(image, v)| image != wanted || *v != version)
}

/// The running server container of the project (not a `-previous` or `-next` one).
fn running_server(ours: &[Ours]) -> Option<&Ours> {
    ours.iter().find(|o| {
        o.service == SERVER_SERVICE
            && o.running
            && !o.name.ends_with(PREVIOUS)
            && !o.name.ends_with(NEXT)
    })
}

/// Upgrades the server when the deployed version asks for it; `true` when an upgrade was tried
/// (the server was away meanwhile: the caller asks for the deploy summary again before it goes on).
pub async fn step(
    engine: &Engine,
    client: &Client,
    summary: &Summary,
    memory: &mut Memory,
) -> Result<bool, Error> {
    let Some(admin) = summary.services.iter().find(|s| s.name == SERVER_SERVICE) else {
        return Ok(false);
    };
    let ours = engine.ours().await?;
    let Some(server) = running_server(&ours) else {
        return Ok(false);
    };
    let inspect = engine.inspect(&server.id).await?;
    let running = inspect
        .config
        .as_ref()
        .and_then(|c| c.image.clone())
        .unwrap_or_default();
    let wanted = admin.service.image.clone();
    let version = summary.version.number;
    if !due(&running, &wanted, version, memory) {
        return Ok(false);
    }
    tracing::info!(from = %running, to = %wanted, version, "upgrading the server");
    let result = upgrade(engine, client, &server.id, &wanted, admin.service.pull).await;
    let (ok, error, incident) = match result {
        Ok(()) => {
            memory.failed = None;
            let text = format!("server upgraded from {running} to {wanted}");
            tracing::info!("{text}");
            (true, None, Some(text))
        }
        Err(why) => {
            memory.failed = Some((wanted.clone(), version));
            let text = format!("upgrade of the server from {running} to {wanted} failed: {why}");
            tracing::warn!("{text}");
            (false, Some(text), None)
        }
    };
    let outcome = Outcome {
        service: SERVER_SERVICE.to_owned(),
        action: "recreate".to_owned(),
        ok,
        error: error.map(|e| e.chars().take(crate::deploy_report::MAX_ERROR).collect()),
    };
    memory.unreported = Some((outcome, incident));
    Ok(true)
}

/// Replaces the server container `old` by one of `image`; the error says what happened, and
/// whether the old server runs again.
pub async fn upgrade(
    engine: &Engine,
    client: &Client,
    old: &str,
    image: &str,
    pull: PullPolicy,
) -> Result<(), String> {
    engine
        .image(image, pull)
        .await
        .map_err(|e| format!("{e}; the server was not touched"))?;
    let inspect = engine.inspect(old).await.map_err(|e| e.to_string())?;
    let old_image = match inspect.image.as_deref() {
        Some(id) => engine.image_config(id).await.map_err(|e| e.to_string())?,
        None => None,
    };
    let new = replacement::replacement(&inspect, old_image.as_ref(), image);
    let name = new.name.clone();
    let staged = format!("{name}{NEXT}");
    engine.remove(&staged).await.map_err(|e| e.to_string())?;
    let id = engine
        .create_container(&staged, new.body)
        .await
        .map_err(|e| format!("{e}; the server was not touched"))?;
    for (net, endpoint) in new.networks {
        if let Err(e) = engine.join(&id, &net, endpoint).await {
            let _ = engine.remove(&id).await;
            return Err(format!("{e}; the server was not touched"));
        }
    }
    if let Err(e) = engine.stop(old, STOP_GRACE).await {
        let _ = engine.remove(&id).await;
        let _ = engine.start(old).await;
        return Err(format!("{e}; the server keeps running"));
    }
    let switched = async {
        engine
            .rename(old, &format!("{name}{PREVIOUS}"))
            .await
            .map_err(|e| e.to_string())?;
        engine.rename(&id, &name).await.map_err(|e| e.to_string())?;
        engine.start(&id).await.map_err(|e| e.to_string())?;
        serving(engine, client, &id, "the new server").await
    };
    match switched.await {
        Ok(()) => {
            if let Err(e) = engine.remove(old).await {
                tracing::warn!(error = %e, "the previous server container could not be removed");
            }
            Ok(())
        }
        Err(why) => Err(roll_back(engine, client, &name, &id, old, why).await),
    }
}

/// Removes the new container `new`, brings `old` back under `name` and waits until it serves;
/// the report's text, from `why` the new one failed.
async fn roll_back(
    engine: &Engine,
    client: &Client,
    name: &str,
    new: &str,
    old: &str,
    why: String,
) -> String {
    let back = async {
        engine.remove(new).await.map_err(|e| e.to_string())?;
        engine.rename(old, name).await.map_err(|e| e.to_string())?;
        engine.start(old).await.map_err(|e| e.to_string())?;
        serving(engine, client, old, "the previous server").await
    };
    match back.await {
        Ok(()) => format!("{why}; the previous server runs again"),
        Err(e) => format!("{why}; and the previous server did not come back: {e}"),
    }
}

/// Waits until the container `id` serves: its Docker health check says healthy, or `/healthz`
/// answers 200 through the worker's URL (the old server is stopped, so only this one can).
/// Exited, restarting (its restart policy at work) or unhealthy is a failure at once.
async fn serving(engine: &Engine, client: &Client, id: &str, what: &str) -> Result<(), String> {
    use bollard::models::HealthStatusEnum;
    let deadline = tokio::time::Instant::now() + SERVES_WITHIN;
    let first = engine.inspect(id).await.map_err(|e| e.to_string())?;
    let restarts = first.restart_count.unwrap_or(0);
    loop {
        let inspect = engine.inspect(id).await.map_err(|e| e.to_string())?;
        let state = inspect.state.unwrap_or_default();
        if state.running != Some(true)
            || state.restarting == Some(true)
            || inspect.restart_count.unwrap_or(0) > restarts
        {
            return Err(format!(
                "{what} exited with code {}{}",
                state.exit_code.unwrap_or(-1),
                state
                    .error
                    .filter(|e| !e.is_empty())
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            ));
        }
        match state.health.and_then(|h| h.status) {
            Some(HealthStatusEnum::HEALTHY) => return Ok(()),
            Some(HealthStatusEnum::UNHEALTHY) => {
                return Err(format!("{what}'s health check fails"));
            }
            _ => {}
        }
        if client.healthy(HEALTHZ_WITHIN).await {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "{what} did not serve within {} s",
                SERVES_WITHIN.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Finishes or undoes an upgrade a stopped worker left half-way (a `<name>-previous` container):
/// a running `<name>` that serves keeps its place and the previous one goes; otherwise the new
/// one goes and the previous one comes back. Leftover `-next` containers are removed. The
/// incident to report, if there was anything to do.
pub async fn recover(engine: &Engine, client: &Client) -> Result<Option<String>, Error> {
    let ours = engine.ours().await?;
    let servers: Vec<&Ours> = ours
        .iter()
        .filter(|o| o.service == SERVER_SERVICE)
        .collect();
    for next in servers.iter().filter(|o| o.name.ends_with(NEXT)) {
        engine.remove(&next.id).await?;
    }
    let Some(previous) = servers.iter().find(|o| o.name.ends_with(PREVIOUS)) else {
        return Ok(None);
    };
    let name = previous.name.trim_end_matches(PREVIOUS);
    let current = servers.iter().find(|o| o.name == name);
    let text = match current {
        Some(new) if new.running => {
            match serving(engine, client, &new.id, "the new server").await {
                Ok(()) => {
                    engine.remove(&previous.id).await?;
                    format!("an interrupted upgrade of the server finished: {name} serves")
                }
                Err(why) => {
                    let text = roll_back(engine, client, name, &new.id, &previous.id, why).await;
                    format!("an interrupted upgrade of the server was undone: {text}")
                }
            }
        }
        _ => {
            let why = "the new server was not running".to_owned();
            let text = match current {
                Some(new) => roll_back(engine, client, name, &new.id, &previous.id, why).await,
                None => {
                    let back = async {
                        engine.rename(&previous.id, name).await?;
                        engine.start(&previous.id).await
                    };
                    match back.await {
                        Ok(()) => format!("{why}; the previous server runs again"),
                        Err(e) => format!("{why}; and the previous server did not start: {e}"),
                    }
                }
            };
            format!("an interrupted upgrade of the server was undone: {text}")
        }
    };
    tracing::warn!("{text}");
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_compare_as_docker_reads_them() {
        assert!(same_image("mailu-git/server", "mailu-git/server:latest"));
        assert!(same_image("busybox", "docker.io/library/busybox:latest"));
        assert!(same_image("a/b:1", "docker.io/a/b:1"));
        assert!(!same_image("mailu-git/server:1", "mailu-git/server:2"));
        assert!(!same_image(
            "registry:5000/server",
            "registry:5000/server:2"
        ));
        assert!(same_image(
            "registry:5000/server",
            "registry:5000/server:latest"
        ));
        assert!(!same_image("a@sha256:1", "a:latest"));
    }

    #[test]
    fn a_failed_image_is_not_tried_again_for_the_same_version() {
        let mut memory = Memory::default();
        assert!(!due("s:1", "s:1", 4, &memory));
        assert!(due("s:1", "s:2", 4, &memory));
        memory.failed = Some(("s:2".into(), 4));
        assert!(!due("s:1", "s:2", 4, &memory));
        assert!(due("s:1", "s:2", 5, &memory), "a new version tries again");
        assert!(due("s:1", "s:3", 4, &memory), "another image is tried");
    }

    #[test]
    fn the_running_server_is_neither_a_previous_nor_a_next_one() {
        let o = |name: &str, service: &str, running: bool| Ours {
            id: name.into(),
            name: name.into(),
            service: service.into(),
            spec: String::new(),
            running,
        };
        let ours = [
            o("m-admin-previous", "admin", true),
            o("m-smtp", "smtp", true),
            o("m-admin", "admin", true),
        ];
        assert_eq!(running_server(&ours).unwrap().name, "m-admin");
        assert!(running_server(&[o("m-admin", "admin", false)]).is_none());
    }
}
