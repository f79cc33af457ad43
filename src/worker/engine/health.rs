//! Waiting for a container the worker created or restarted to be up: Docker's health check when
//! it has one; without one, our entrypoint must have `exec`'d the command (PID 1, seen with
//! `docker top`, is no longer the entrypoint: the bundle is written and the pre-start commands
//! passed) and the command must still run a moment later, not restarted by its restart policy
//! meanwhile. A command that exits at once is a failure, not a success seen while the entrypoint
//! was still fetching the bundle.

use std::time::Duration;

use bollard::models::HealthStatusEnum;

use super::super::spec::ENTRYPOINT_PATH;
use super::{Engine, Error};

/// A container's health after a deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Healthy, or (without a health check) its command started and still runs.
    Ok,
    /// Exited, restarted or unhealthy; the text says how.
    Failed(String),
    /// Still starting when the wait ran out.
    Timeout,
}

/// How long a command without a health check must keep running once started to count as up.
const SETTLE: Duration = Duration::from_secs(1);

impl Engine {
    /// Waits until the container is healthy, has exited, or `timeout` passed. Polls its state
    /// every 200 ms: a deploy waits for one container at a time.
    pub async fn wait_healthy(&self, id: &str, timeout: Duration) -> Result<Health, Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut restarts = None;
        loop {
            let inspect = self.inspect(id).await?;
            let count = inspect.restart_count.unwrap_or(0);
            let state = inspect.state.unwrap_or_default();
            let exited = format!(
                "exited with code {}{}",
                state.exit_code.unwrap_or(-1),
                state
                    .error
                    .clone()
                    .filter(|e| !e.is_empty())
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            );
            if state.running != Some(true) && state.restarting != Some(true) {
                return Ok(Health::Failed(exited));
            }
            if *restarts.get_or_insert(count) != count || state.restarting == Some(true) {
                return Ok(Health::Failed(format!("{exited} and was restarted")));
            }
            match state.health.and_then(|h| h.status) {
                None | Some(HealthStatusEnum::NONE | HealthStatusEnum::EMPTY) => {
                    if state.running == Some(true) && self.commanded(id, state.pid).await {
                        tokio::time::sleep(SETTLE).await;
                        let again = self.inspect(id).await?;
                        let running = again.state.and_then(|s| s.running) == Some(true);
                        if running && again.restart_count.unwrap_or(0) == count {
                            return Ok(Health::Ok);
                        }
                        continue;
                    }
                }
                Some(HealthStatusEnum::HEALTHY) => return Ok(Health::Ok),
                Some(HealthStatusEnum::UNHEALTHY) => {
                    return Ok(Health::Failed("the health check fails".into()));
                }
                Some(HealthStatusEnum::STARTING) => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(Health::Timeout);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Whether the container's PID 1 (host pid `pid`) runs the command rather than our
    /// entrypoint (`docker top`); `false` when it cannot be told (the caller looks again).
    async fn commanded(&self, id: &str, pid: Option<i64>) -> bool {
        let Some(pid) = pid.filter(|p| *p > 0) else {
            return false;
        };
        let options = bollard::query_parameters::TopOptionsBuilder::new()
            .ps_args("-o pid,args")
            .build();
        let Ok(top) = self.docker.top_processes(id, Some(options)).await else {
            return false;
        };
        let titles = top.titles.unwrap_or_default();
        let column = |name: &str| titles.iter().position(|t| t == name);
        let (Some(p), Some(a)) = (column("PID"), column("COMMAND")) else {
            return false;
        };
        top.processes
            .unwrap_or_default()
            .iter()
            .find(|row| row.get(p).is_some_and(|v| v.trim() == pid.to_string()))
            .and_then(|row| row.get(a))
            .is_some_and(|args| !args.contains(ENTRYPOINT_PATH))
    }
}
