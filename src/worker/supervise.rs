//! The worker's loop around passes (`reconcile.rs`): it keeps a connection to the Docker engine
//! with its events stream, long-polls the server for the deployed version, and survives either
//! going away.
//!
//! - The engine: connected once and kept, with the events of our containers (`destroy`) read by
//!   a task into a channel. When the stream ends (the engine restarted, the socket cut), the
//!   connection is dropped, the outage reported to the server (a report with only an incident),
//!   and the worker reconnects with backoff; events are asked again `since` the last one seen,
//!   and the first pass after is a full one (every container's bundle read, `reconcile.rs`).
//! - A container of ours destroyed by someone else makes the next pass a full one at once; the
//!   worker's own removals do not (`Engine::removed_by_us`), so a failed recreate, rolled back,
//!   is not retried in a loop.
//! - The server: a failed long-poll or pass is retried with backoff (1 s doubling to 30 s); the
//!   worker never exits. The next poll asks without `since`, so it answers at once and the worker
//!   catches up with `from` = the version it applied last.
//! - A full pass first finishes or undoes an upgrade of the server a stopped worker left
//!   half-way (`upgrade::recover`).
//! - With [`Options::server`], a full pass first creates the server's own container when there
//!   is none (`server.rs`).

use std::time::{Duration, Instant};

use bollard::query_parameters::EventsOptions;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::engine::Engine;
use super::reconcile::{self, Error, Options, Passed, now, poll};
use super::spec::label;
use crate::client::{Client, Wait};
use crate::deploy_report::Report;

/// Backoff while the server or the engine fails: from the first to the last, doubling.
pub const BACKOFF: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(30));

/// The next backoff after `current`: doubled, at most the last.
pub fn next_backoff(current: Duration) -> Duration {
    (current * 2).min(BACKOFF.1)
}

/// What the events task tells the loop.
#[derive(Debug)]
enum EngineEvent {
    /// A container of ours was removed (its event's time, Unix seconds).
    Destroyed { time: Option<i64> },
    /// The events stream ended: the connection is gone.
    Ended(String),
}

/// The engine connection: the client and the events its task reads. Dropping it stops the task
/// (and closes the events request), even while the stream is still open.
struct Connection {
    engine: Engine,
    events: mpsc::Receiver<EngineEvent>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The engine is unreachable since `since`.
struct Outage {
    since: chrono::DateTime<chrono::Utc>,
    started: Instant,
    why: String,
    reported: bool,
}

/// Runs the worker until the process is stopped.
pub async fn run(options: Options) -> ! {
    let client = Client::new(&options.url, &options.token);
    let mut applied: Option<u64> = None;
    let mut seen: Option<u64> = None;
    let mut full = true;
    let mut incidents: Vec<String> = Vec::new();
    let mut outage: Option<Outage> = None;
    let mut last_event: Option<i64> = None;
    let mut conn: Option<Connection> = None;
    let mut engine_backoff = BACKOFF.0;
    let mut server_backoff = BACKOFF.0;
    let mut upgrades = super::upgrade::Memory::default();
    loop {
        let Some(Connection { engine, events, .. }) = conn.as_mut() else {
            let since = last_event.or(outage.as_ref().map(|o| o.since.timestamp()));
            match connect(&options.project, since).await {
                Ok(found) => {
                    if let Some(o) = outage.take() {
                        let text = format!(
                            "the Docker engine was unreachable from {} for {} s ({}); reconnected, \
                             every container checked",
                            o.since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                            o.started.elapsed().as_secs(),
                            o.why
                        );
                        tracing::info!("{text}");
                        incidents.push(text);
                    }
                    conn = Some(found);
                    full = true;
                    engine_backoff = BACKOFF.0;
                }
                Err(e) => {
                    let o = lost(&mut outage, e.to_string());
                    report_outage(&client, o, applied.or(seen)).await;
                    tokio::time::sleep(engine_backoff).await;
                    engine_backoff = next_backoff(engine_backoff);
                }
            }
            continue;
        };
        if full {
            // A worker stopped in the middle of the server's upgrade left it half-way.
            match super::upgrade::recover(engine, &client).await {
                Ok(found) => incidents.extend(found),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot check for an interrupted upgrade of the server")
                }
            }
        }
        if full && let Some(server) = &options.server {
            match super::server::ensure(engine, server, &options.token).await {
                Ok(Some(id)) => incidents.push(format!(
                    "created the server's container {} ({id})",
                    server.container_name(engine.project())
                )),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot create the server's container"),
            }
        }
        let mut drop_conn: Option<String> = None;
        tokio::select! {
            polled = poll(&client, if full { None } else { seen }, applied) => match polled {
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?server_backoff, "the deploy summary cannot be read; retrying");
                    tokio::time::sleep(server_backoff).await;
                    server_backoff = next_backoff(server_backoff);
                    seen = None;
                }
                Ok(summary) => {
                    server_backoff = BACKOFF.0;
                    let number = summary.version.number;
                    if full || seen != Some(number) {
                        let result = reconcile::pass(
                            &options, &client, engine, &summary, applied, full, incidents.clone(),
                            &mut upgrades,
                        )
                        .await;
                        match result {
                            // The server was replaced (or put back): the summary again, at once;
                            // the version is not applied yet and the incidents not reported.
                            Ok(Passed::Again) => seen = None,
                            Ok(Passed::Done) => {
                                // A blocked version was not applied: the next one is compared
                                // with what the containers last got, not with it.
                                if summary.blocked.is_empty() {
                                    applied = Some(number);
                                }
                                seen = Some(number);
                                full = false;
                                incidents.clear();
                            }
                            Err(Error::Engine(e)) if e.is_connection() => drop_conn = Some(e.to_string()),
                            Err(e) => {
                                tracing::warn!(error = %e, retry_in = ?server_backoff, "the worker's pass failed; retrying");
                                tokio::time::sleep(server_backoff).await;
                                server_backoff = next_backoff(server_backoff);
                                seen = None;
                                full = true;
                            }
                        }
                    }
                }
            },
            event = events.recv() => match event {
                Some(EngineEvent::Destroyed { time }) => {
                    last_event = time.or(last_event);
                    // Several removals at once (a stack taken down) make one pass.
                    while let Ok(EngineEvent::Destroyed { time }) = events.try_recv() {
                        last_event = time.or(last_event);
                    }
                    tracing::info!("a container of ours was removed; checking every container");
                    full = true;
                }
                Some(EngineEvent::Ended(why)) => drop_conn = Some(why),
                None => drop_conn = Some("the events stream stopped".into()),
            },
        }
        if let Some(why) = drop_conn {
            conn = None;
            let o = lost(&mut outage, why);
            report_outage(&client, o, applied.or(seen)).await;
        }
    }
}

/// Connects to the engine and starts reading the events of our containers since `since`.
async fn connect(project: &str, since: Option<i64>) -> Result<Connection, super::engine::Error> {
    let engine = Engine::connect(project).await?;
    let options = EventsOptions {
        since: since.map(|t| t.to_string()),
        until: None,
        filters: Some(std::collections::HashMap::from([
            ("type".to_owned(), vec!["container".to_owned()]),
            ("event".to_owned(), vec!["destroy".to_owned()]),
            (
                "label".to_owned(),
                vec![format!("{}={project}", label::PROJECT)],
            ),
        ])),
    };
    let docker = engine.client().clone();
    let ours = engine.clone();
    let (tx, events) = mpsc::channel(64);
    let task = tokio::spawn(async move {
        let mut stream = docker.events(Some(options));
        let why = loop {
            match stream.next().await {
                // The worker's own removals (a replaced container, a failed new one) are not
                // news: a full pass after them would retry a failed recreate at once, in a loop.
                Some(Ok(event))
                    if event
                        .actor
                        .as_ref()
                        .and_then(|a| a.id.as_deref())
                        .is_some_and(|id| ours.removed_by_us(id)) => {}
                Some(Ok(event)) => {
                    let sent = tx.send(EngineEvent::Destroyed { time: event.time }).await;
                    if sent.is_err() {
                        return; // The loop dropped this connection.
                    }
                }
                Some(Err(e)) => break format!("the events stream failed: {e}"),
                None => break "the events stream ended".to_owned(),
            }
        };
        let _ = tx.send(EngineEvent::Ended(why)).await;
    });
    Ok(Connection {
        engine,
        events,
        task,
    })
}

/// Records that the engine is unreachable (the first time, with why) and returns the outage.
fn lost(outage: &mut Option<Outage>, why: String) -> &mut Outage {
    outage.get_or_insert_with(|| {
        tracing::warn!(error = %why, "lost the Docker engine; reconnecting with backoff");
        Outage {
            since: chrono::Utc::now(),
            started: Instant::now(),
            why,
            reported: false,
        }
    })
}

/// Tells the server, once per outage, that the engine is unreachable: a report with the last
/// version seen, no actions, and the incident. Retried on the next attempt when it fails.
async fn report_outage(client: &Client, outage: &mut Outage, version: Option<u64>) {
    if outage.reported {
        return;
    }
    let text = format!(
        "the Docker engine is unreachable since {}: {}",
        outage
            .since
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        outage.why
    );
    let report = Report {
        version: version.unwrap_or(0),
        time: now(),
        services: Vec::new(),
        incidents: vec![text.chars().take(crate::deploy_report::MAX_ERROR).collect()],
    };
    match client
        .post::<Report>("deploy/report", &report, Wait(false))
        .await
    {
        Ok(_) => outage.reported = true,
        Err(e) => tracing::warn!(error = %e, "cannot report the engine's outage to the server"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_bound() {
        assert_eq!(next_backoff(BACKOFF.0), Duration::from_secs(2));
        assert_eq!(next_backoff(Duration::from_secs(20)), BACKOFF.1);
        assert_eq!(next_backoff(BACKOFF.1), BACKOFF.1);
    }
}
