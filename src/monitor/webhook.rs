//! Notifications: one JSON POST per alert raised or cleared, to `[monitoring] webhook`, in order,
//! each tried three times (after 1 s and 5 s) with a 10 s timeout. A webhook that stays down loses
//! notifications (logged), never blocks the checks: the queue holds at most 256.
//!
//! Body: `{"event": "raised"|"cleared", "kind", "subject", "message", "since", "time"}` (times in
//! seconds since the Unix epoch).

use std::time::Duration;

use serde::Serialize;

use super::{Alert, Changes};

const QUEUE: usize = 256;
const TRIES: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(5)];
const TIMEOUT: Duration = Duration::from_secs(10);

/// One notification's body.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub event: &'static str,
    #[serde(flatten)]
    pub alert: Alert,
    pub time: i64,
}

/// The queue of notifications and the task that sends them.
#[derive(Debug)]
pub struct Notifier {
    tx: tokio::sync::mpsc::Sender<(String, Event)>,
}

impl Notifier {
    /// Starts the sending task (on the current runtime).
    pub fn new() -> Notifier {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(String, Event)>(QUEUE);
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .unwrap_or_default();
        tokio::spawn(async move {
            while let Some((url, event)) = rx.recv().await {
                deliver(&http, &url, &event).await;
            }
        });
        Notifier { tx }
    }

    /// Queues one notification per change.
    pub fn send(&self, url: &str, changes: &Changes) {
        let now = crate::tls::now();
        let events = changes
            .raised
            .iter()
            .map(|a| ("raised", a))
            .chain(changes.cleared.iter().map(|a| ("cleared", a)));
        for (event, alert) in events {
            let event = Event {
                event,
                alert: alert.clone(),
                time: now,
            };
            if self.tx.try_send((url.to_owned(), event)).is_err() {
                tracing::warn!(
                    kind = alert.kind.as_str(),
                    "the webhook queue is full; a notification is dropped"
                );
            }
        }
    }
}

async fn deliver(http: &reqwest::Client, url: &str, event: &Event) {
    let mut waits = TRIES.iter();
    loop {
        let outcome = http.post(url).json(event).send().await;
        let failure = match outcome {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => format!("answered {}", r.status()),
            Err(e) => e.to_string(),
        };
        match waits.next() {
            Some(wait) => tokio::time::sleep(*wait).await,
            None => {
                tracing::warn!(url, kind = event.alert.kind.as_str(), error = %failure,
                    "the webhook did not take a notification");
                return;
            }
        }
    }
}

impl Default for Notifier {
    /// Starts the sending task (on the current runtime).
    fn default() -> Self {
        Notifier::new()
    }
}
