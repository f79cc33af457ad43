//! Carrying out one planned action on the engine (`reconcile.rs` decides, this does): create,
//! recreate with rollback (the old container stopped and moved aside, brought back when the new
//! one is not healthy), start, restart, refresh by `exec`, remove. The error text of a failed
//! action is what the report says.

use std::collections::BTreeMap;

use super::super::engine::{Engine, Health};
use super::super::plan::Action;
use super::super::spec::{ENTRYPOINT_PATH, Spec};
use super::{ENTRYPOINT, HEALTHY_WITHIN, STOP_GRACE};
use crate::model::service::Service;

/// Carries one action out; the error text is what the report says.
pub(super) async fn carry_out(
    engine: &Engine,
    action: &Action,
    specs: &BTreeMap<String, (Spec, Service)>,
) -> Result<(), String> {
    let spec = |service: &str| {
        specs
            .get(service)
            .ok_or_else(|| format!("no spec for {service}"))
    };
    match action {
        Action::Create { service } => {
            let (spec, file) = spec(service)?;
            start_new(engine, spec, file, None).await
        }
        Action::Recreate { service, id } => {
            let (spec, file) = spec(service)?;
            start_new(engine, spec, file, Some(id)).await
        }
        Action::Start { id, .. } => {
            engine.start(id).await.map_err(|e| e.to_string())?;
            healthy(engine, id).await
        }
        Action::Restart { id, .. } => {
            engine
                .restart(id, STOP_GRACE)
                .await
                .map_err(|e| e.to_string())?;
            healthy(engine, id).await
        }
        Action::Refresh { id, .. } => {
            let argv = [ENTRYPOINT_PATH.to_owned(), "refresh".to_owned()];
            let exec = engine.exec(id, &argv).await.map_err(|e| e.to_string())?;
            if exec.exit_code == 0 {
                Ok(())
            } else {
                let tail: String = exec
                    .output
                    .chars()
                    .rev()
                    .take(2000)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                Err(format!("refresh exited with {}: {tail}", exec.exit_code))
            }
        }
        Action::Remove { id, .. } => {
            engine
                .stop(id, STOP_GRACE)
                .await
                .map_err(|e| e.to_string())?;
            engine.remove(id).await.map_err(|e| e.to_string())
        }
    }
}

/// Whether the container becomes healthy in time, as a report's result.
async fn healthy(engine: &Engine, id: &str) -> Result<(), String> {
    match engine
        .wait_healthy(id, HEALTHY_WITHIN)
        .await
        .map_err(|e| e.to_string())?
    {
        Health::Ok => Ok(()),
        Health::Failed(why) => Err(format!("not healthy: {why}")),
        Health::Timeout => Err(format!("not healthy after {} s", HEALTHY_WITHIN.as_secs())),
    }
}

/// Creates and starts the container of `spec`; `old` (a recreate) is stopped and moved aside
/// first, removed once the new one is healthy, and brought back when it is not.
async fn start_new(
    engine: &Engine,
    spec: &Spec,
    file: &Service,
    old: Option<&String>,
) -> Result<(), String> {
    if let Some(old) = old {
        engine
            .stop(old, STOP_GRACE)
            .await
            .map_err(|e| e.to_string())?;
        let aside = format!("{}-old-{}", spec.container_name, &old[..old.len().min(12)]);
        engine
            .rename(old, &aside)
            .await
            .map_err(|e| e.to_string())?;
    }
    let attempt = async {
        let id = engine
            .create(spec, &file.networks, ENTRYPOINT)
            .await
            .map_err(|e| (None, e.to_string()))?;
        engine
            .start(&id)
            .await
            .map_err(|e| (Some(id.clone()), e.to_string()))?;
        healthy(engine, &id)
            .await
            .map_err(|e| (Some(id.clone()), e))?;
        Ok::<_, (Option<String>, String)>(id)
    };
    match attempt.await {
        Ok(_) => {
            if let Some(old) = old {
                engine.remove(old).await.map_err(|e| e.to_string())?;
            }
            Ok(())
        }
        Err((new, why)) => {
            if let Some(new) = new {
                let _ = engine.remove(&new).await;
            }
            if let Some(old) = old {
                // Keep mail running: the previous container comes back under its name.
                let back = async {
                    engine.rename(old, &spec.container_name).await?;
                    engine.start(old).await
                };
                if let Err(e) = back.await {
                    return Err(format!(
                        "{why}; and the previous container did not restart: {e}"
                    ));
                }
                return Err(format!("{why}; the previous container runs again"));
            }
            Err(why)
        }
    }
}
