//! Where changes are: one change's status (pending, in which version, unknown), waiting for its
//! version, and the list of pending changes with the time the next version is due.

use std::time::Duration;

use tokio::time::Instant;

use super::{ChangeId, Committed, Error, Pending, PendingChange, Status, Versioner};
use crate::store;

impl Versioner {
    /// Where change `id` is. Searches the last `Settings::lookback` versions for older ids.
    pub async fn status(&self, id: &ChangeId) -> Result<Status, Error> {
        {
            let q = self.inner.queue();
            if let Some(c) = q.recent.get(id) {
                return Ok(Status::Committed(*c));
            }
            if q.entries.iter().any(|e| &e.id == id) {
                return Ok(Status::Pending);
            }
        }
        let store = self.inner.store.clone();
        let (id, lookback) = (id.clone(), self.inner.settings.lookback);
        let found = tokio::task::spawn_blocking(move || -> Result<_, store::Error> {
            let head = store.head()?;
            Ok(store.history(head, lookback)?.into_iter().find_map(|v| {
                v.changes
                    .iter()
                    .any(|c| c.id == id.as_str())
                    .then_some(Committed {
                        commit: v.commit,
                        number: v.number,
                    })
            }))
        })
        .await??;
        Ok(found.map_or(Status::Unknown, Status::Committed))
    }

    /// Waits up to `timeout` for the version that holds change `id`; `Pending` if there is none yet.
    pub async fn wait_for(&self, id: &ChangeId, timeout: Duration) -> Result<Status, Error> {
        let deadline = Instant::now() + timeout;
        let mut versions = self.inner.versions.subscribe();
        loop {
            versions.borrow_and_update();
            match self.status(id).await? {
                Status::Pending => {}
                done => return Ok(done),
            }
            if tokio::time::timeout_at(deadline, versions.changed())
                .await
                .is_err()
            {
                return Ok(Status::Pending);
            }
        }
    }

    /// The acknowledged changes not yet in a version, oldest first, and when the next version is due.
    pub fn pending(&self) -> Pending {
        let q = self.inner.queue();
        let changes = q
            .entries
            .iter()
            .filter(|e| e.acked)
            .map(|e| PendingChange {
                id: e.id.clone(),
                author: e.author.clone(),
                summary: e.summary.clone(),
                time_ms: e.time_ms,
            })
            .collect();
        drop(q);
        let due_in = self
            .inner
            .due()
            .map(|at| at.saturating_duration_since(Instant::now()));
        Pending { changes, due_in }
    }
}
