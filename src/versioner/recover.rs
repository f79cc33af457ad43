//! Taking writes again after the journal failed (a full disk): the journal is asked to resume,
//! which it does once a probe write and sync succeed; the changes it refused since the failure are
//! taken out of the queue and the state, and writes are acknowledged again.
//!
//! Why it runs under the writer lock: the versioner lays a change over its state before the fsync,
//! so a writer may have validated against a change that then failed. The journal refuses every
//! record queued after a failure until it resumes, and its answer names them all; no writer can
//! queue meanwhile, so the state rebuilt from what is left holds only acknowledged changes.
//!
//! Who calls it: a write that finds the journal failed (so writes work again as soon as the disk
//! has room), and the debounce task at the commit backoff's pace (so `not_writable` clears without
//! a write).

use std::collections::HashSet;
use std::sync::PoisonError;

use super::{Error, Inner, State, change::overlay_of};

/// Resumes the journal if it failed; `Ok` when writes can be acknowledged again.
pub(super) async fn journal(inner: &Inner) -> Result<(), Error> {
    if inner.lock_health().journal.is_none() {
        return Ok(());
    }
    let _writer = inner.writer.lock().await;
    if inner.lock_health().journal.is_none() {
        // Another caller resumed it while this one waited for the lock.
        return Ok(());
    }
    let refused: HashSet<String> = match inner.journal.resume().await {
        Ok(refused) => refused.into_iter().collect(),
        Err(e) => {
            let reason = e.to_string();
            inner.lock_health().journal = Some(reason.clone());
            return Err(Error::Unavailable {
                reason: format!("the journal failed: {reason}"),
            });
        }
    };
    let overlay = {
        let mut q = inner.queue();
        q.entries.retain(|e| !refused.contains(e.id.as_str()));
        overlay_of(&q.entries)
    };
    let base = inner.read_state().base().clone();
    let state = tokio::task::spawn_blocking(move || State::load(base, overlay)).await?;
    *inner.state.write().unwrap_or_else(PoisonError::into_inner) = state?;
    {
        let mut h = inner.lock_health();
        h.journal = None;
        if h.commit.is_none() {
            h.retry_at = None;
            h.backoff = super::batch::MIN_BACKOFF;
        }
    }
    tracing::info!(
        refused = refused.len(),
        "the journal takes writes again; writes resume"
    );
    // Waiters on acknowledgements (flush) see the refused changes gone.
    inner.acks.send_modify(|n| *n += 1);
    inner.wake.notify_one();
    Ok(())
}
