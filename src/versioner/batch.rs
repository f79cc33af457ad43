//! Turning acknowledged changes into versions: replay at start, the debounce task, and the commit
//! of one batch (merge the changes' edits, commit on the head the state lies on, retry on a moved
//! head, update the state and the queue, trim the journal).
//!
//! The order after a commit matters for "never apply a committed record twice": the queue and the
//! state forget the batch before anything else can fail, and the journal is trimmed last. A crash
//! between the ref move and the trim leaves records that main's trailers already name; `replay`
//! trims those instead of applying them again.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::{Committed, Entry, Error, Inner, Layer, Settings, State};
use crate::journal::{Journal, Record};
use crate::model::RepoPath;
use crate::render;
use crate::store::{self, ChangeNote, CommitMeta, Edit, Person, Rev, Snapshot, Store};

/// The first wait before retrying a failed commit; it doubles up to [`MAX_BACKOFF`].
pub(super) const MIN_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// What `replay` found: the journal, the records to apply again, the ids to trim, and the state.
type Replayed = (Journal, Vec<Record>, Vec<String>, State);

/// Opens the journal and splits its records into those main already holds (to trim) and the rest
/// (laid over main's head, with sequence numbers 1, 2, ...). Blocking.
pub(super) fn replay(store: &Store, dir: &Path, lookback: usize) -> Result<Replayed, Error> {
    let (journal, records) = Journal::open(dir)?;
    let head = store.head()?;
    let committed = if records.is_empty() {
        HashSet::new()
    } else {
        committed_ids(store, head, &records, lookback)?
    };
    let (done, todo): (Vec<Record>, Vec<Record>) =
        records.into_iter().partition(|r| committed.contains(&r.id));
    let mut overlay = BTreeMap::new();
    for (seq, r) in (1..).zip(&todo) {
        for e in &r.edits {
            overlay.insert(
                e.path.clone(),
                Layer {
                    seq,
                    content: e.content.as_deref().map(Arc::from),
                },
            );
        }
    }
    if !todo.is_empty() {
        tracing::info!(
            changes = todo.len(),
            "replaying pending changes from the journal"
        );
    }
    let state = State::load(store.snapshot(&Rev::Commit(head))?, overlay)?;
    Ok((
        journal,
        todo,
        done.into_iter().map(|r| r.id).collect(),
        state,
    ))
}

/// The ids among `records` that versions on main already name. Searches newest first, doubling the
/// depth, and stops once every id is found, history runs out, or versions are older than the oldest
/// record (less an hour for clock steps).
fn committed_ids(
    store: &Store,
    head: gix::ObjectId,
    records: &[Record],
    lookback: usize,
) -> Result<HashSet<String>, Error> {
    let wanted: HashSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
    let oldest = records.iter().map(|r| r.time_ms).min().unwrap_or(0) / 1000 - 3600;
    let mut limit = 64;
    loop {
        let versions = store.history(head, limit.min(lookback))?;
        let found: HashSet<String> = versions
            .iter()
            .flat_map(|v| v.changes.iter())
            .filter(|c| wanted.contains(c.id.as_str()))
            .map(|c| c.id.clone())
            .collect();
        let exhausted = versions.len() < limit || limit >= lookback;
        let too_old = versions.last().is_some_and(|v| v.time < oldest);
        if found.len() == wanted.len() || exhausted || too_old {
            return Ok(found);
        }
        limit *= 2;
    }
}

/// The debounce task: sleeps until the next version is due (or a change arrives and moves the due
/// time), then commits. Holds only a weak handle, so it ends when the versioner is dropped.
pub(super) async fn debounce(inner: Weak<Inner>, wake: Arc<Notify>) {
    loop {
        let due = match inner.upgrade() {
            None => return,
            Some(i) if i.stopped.load(std::sync::atomic::Ordering::SeqCst) => return,
            Some(i) => i.due(),
        };
        match due {
            None => wake.notified().await,
            Some(at) => {
                tokio::select! {
                    () = wake.notified() => {}
                    () = tokio::time::sleep_until(at) => {
                        let Some(i) = inner.upgrade() else { return };
                        if i.lock_health().journal.is_some() {
                            retry_journal(&i).await;
                        } else {
                            // Failures are recorded (health, backoff) by `commit`.
                            let _ = commit(&i).await;
                        }
                    }
                }
            }
        }
    }
}

/// The error and its sources, `: `-separated: what status, `/healthz` and `not_writable` show.
fn with_sources(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        // Some errors repeat their source in their own message.
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Tries to resume the failed journal; a failure waits the backoff, doubled, before the next try.
async fn retry_journal(inner: &Inner) {
    if let Err(e) = super::recover::journal(inner).await {
        let mut h = inner.lock_health();
        tracing::warn!(error = %e, retry_in = ?h.backoff, "the journal still cannot be written");
        h.retry_at = Some(Instant::now() + h.backoff);
        h.backoff = (h.backoff * 2).min(MAX_BACKOFF);
    }
}

/// Commits every acknowledged change, first waiting for those whose fsync is under way.
pub(super) async fn flush(inner: &Inner) -> Result<Option<Committed>, Error> {
    let target = inner.queue().entries.back().map(|e| e.seq);
    if let Some(target) = target {
        let mut acks = inner.acks.subscribe();
        loop {
            acks.borrow_and_update();
            let waiting = inner
                .queue()
                .entries
                .iter()
                .any(|e| e.seq <= target && !e.acked);
            if !waiting || acks.changed().await.is_err() {
                break;
            }
        }
    }
    commit(inner).await
}

/// Commits what is pending now (at start, when main needs rendering again).
pub(super) async fn commit_now(inner: &Inner) -> Result<Option<Committed>, Error> {
    commit(inner).await
}

/// Commits one batch and records a failure: it suspends writes and schedules a retry with backoff
/// (a success clears that, in `commit_batch`).
async fn commit(inner: &Inner) -> Result<Option<Committed>, Error> {
    let result = commit_batch(inner).await;
    let mut h = inner.lock_health();
    match &result {
        // Success was recorded by `commit_batch`, before waiters were told of the version.
        Ok(_) => {}
        // The journal failed under the batch: that failure is recorded, suspends writes and is
        // retried on its own (`recover`); a commit failure kept too would outlive its recovery.
        Err(_) if h.journal.is_some() => {}
        Err(e) => {
            // With its sources: "git: cannot write a tree" alone does not say the disk is full.
            let reason = with_sources(e);
            tracing::error!(error = %reason, retry_in = ?h.backoff, "cannot commit pending changes; writes are suspended");
            h.commit = Some(reason);
            h.retry_at = Some(Instant::now() + h.backoff);
            h.backoff = (h.backoff * 2).min(MAX_BACKOFF);
            inner
                .metrics
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .commit_failures += 1;
        }
    }
    drop(h);
    // The debounce task may be sleeping toward a later time: the retry time moves it.
    inner.wake.notify_one();
    result
}

async fn commit_batch(inner: &Inner) -> Result<Option<Committed>, Error> {
    let _one = inner.committing.lock().await;
    let render_all = inner.render_all.load(Ordering::SeqCst);
    let (batch, mut edits, plan) = {
        // Under the writer lock, once the fsyncs under way are done, the state is exactly main
        // plus every queued change: what the version's rendered files must be made from.
        let writer = inner.writer.lock().await;
        let mut acks = inner.acks.subscribe();
        loop {
            acks.borrow_and_update();
            if inner.queue().entries.iter().all(|e| e.acked) {
                break;
            }
            if inner.lock_health().journal.is_some() {
                // The failed change is taken out under the writer lock: let that happen first.
                drop(writer);
                return Err(inner.available().err().unwrap_or(Error::Unavailable {
                    reason: "the journal failed".into(),
                }));
            }
            if acks.changed().await.is_err() {
                break;
            }
        }
        let batch: Vec<Entry> = inner.queue().entries.iter().cloned().collect();
        if batch.is_empty() && !render_all {
            // Nothing is pending, so nothing fails to commit (the failed batch was taken out
            // when its journal records failed): writes must not stay suspended by it.
            let mut h = inner.lock_health();
            if h.commit.take().is_some() {
                h.retry_at = None;
                h.backoff = MIN_BACKOFF;
            }
            return Ok(None);
        }
        let edits = merged(&batch);
        let plan = match inner.settings.render {
            None => None,
            Some(builtins) => {
                let state = inner.read_state();
                let config = state
                    .config()
                    .map_err(|problems| Error::Render(problems.clone()))?;
                let changed: Vec<RepoPath> = edits.iter().map(|e| e.path.clone()).collect();
                let scope = if render_all {
                    render::Scope::Full
                } else {
                    render::Scope::Changed(&changed)
                };
                Some(render::plan(builtins, config, &*state, scope).map_err(Error::from)?)
            }
        };
        (batch, edits, plan)
    };
    let last_seq = batch.last().map_or(0, |e| e.seq);
    let expected = inner.read_state().base().commit();
    let meta = meta(&inner.settings, &batch, render_all);
    let started = std::time::Instant::now();
    if let (Some(plan), Some(builtins)) = (plan, inner.settings.render) {
        let rendered = tokio::task::spawn_blocking(move || plan.render(builtins))
            .await?
            .map_err(Error::Render)?;
        for w in &rendered.warnings {
            tracing::warn!(warning = %w, "template warning");
        }
        edits.extend(rendered.edits);
    }
    if edits.is_empty() && batch.is_empty() {
        // Everything was already rendered as this renderer would.
        inner.render_all.store(false, Ordering::SeqCst);
        inner.lock_health().commit = None;
        return Ok(None);
    }
    let store = inner.store.clone();
    let retries = inner.settings.cas_retries;
    let (version, moved, snapshot) =
        tokio::task::spawn_blocking(move || commit_on(&store, expected, &edits, &meta, retries))
            .await??;
    if render_all {
        inner.render_all.store(false, Ordering::SeqCst);
    }
    if moved {
        // Main moved under the batch (a push): the files rendered for the old head may not match
        // what the new head holds. The next version renders everything.
        inner.render_all.store(true, Ordering::SeqCst);
    }
    crate::crash::point("after-cas");
    let committed = Committed {
        commit: version.commit,
        number: version.number,
    };

    {
        let mut h = inner.lock_health();
        if h.commit.take().is_some() {
            tracing::info!("pending changes committed again; writes resume");
        }
        h.retry_at = None;
        h.backoff = MIN_BACKOFF;
    }
    // Forget the batch first: from here on it must never be committed again.
    {
        let mut q = inner.queue();
        q.entries.retain(|e| e.seq > last_seq);
        for e in &batch {
            q.recent.insert(e.id.clone(), committed);
            q.recent_order.push_back(e.id.clone());
        }
        while q.recent_order.len() > super::RECENT {
            if let Some(old) = q.recent_order.pop_front() {
                q.recent.remove(&old);
            }
        }
    }
    if moved {
        // Main moved under us (a push): the state is the new head plus what is still pending, and
        // the configuration must be loaded again. No writer may plan against it meanwhile.
        let _writer = inner.writer.lock().await;
        let mut overlay = inner.read_state().overlay().clone();
        overlay.retain(|_, layer| layer.seq > last_seq);
        let base = snapshot.clone();
        match tokio::task::spawn_blocking(move || State::load(base, overlay)).await {
            Ok(Ok(state)) => *inner.state.write().unwrap_or_else(PoisonError::into_inner) = state,
            failed => {
                tracing::error!(?failed, "cannot reload the state after main moved");
                inner.write_state().rebase(snapshot, last_seq);
            }
        }
    } else {
        inner.write_state().rebase(snapshot, last_seq);
    }
    {
        let mut m = inner.metrics.lock().unwrap_or_else(PoisonError::into_inner);
        m.versions += 1;
        m.changes_committed += batch.len() as u64;
        m.last_commit = Some(started.elapsed());
    }
    inner.versions.send_modify(|n| *n += 1);
    tracing::info!(
        version = committed.number,
        changes = batch.len(),
        "committed a version"
    );

    crate::crash::point("before-trim");
    let ids = batch.iter().map(|e| e.id.as_str().to_owned()).collect();
    if let Err(e) = inner.journal.trim(ids).await {
        // The version is safe and the queue forgot the batch; the records stay in the file (the
        // journal drops them at its next trim, replay recognises them by main's trailers), which
        // stays exactly what was acknowledged, so writes go on.
        tracing::warn!(error = %e, "cannot trim the journal yet; the next version will");
    }
    Ok(Some(committed))
}

/// Commits `edits` on `expected`, moving to the new head and trying again when main moved (at most
/// `retries` times). Returns the version, whether main had moved, and the version's snapshot.
fn commit_on(
    store: &Store,
    mut expected: gix::ObjectId,
    edits: &[Edit],
    meta: &CommitMeta,
    retries: u32,
) -> Result<(store::Version, bool, Snapshot), store::Error> {
    let mut moved = false;
    let mut attempt = 0;
    loop {
        let base = store.snapshot(&Rev::Commit(expected))?;
        // A delete of a file the head does not have (a push removed it too) changes nothing; the
        // store's tree editor would refuse it.
        let mut todo = Vec::with_capacity(edits.len());
        for e in edits {
            if e.content.is_some() || base.blob_id(&e.path)?.is_some() {
                todo.push(e.clone());
            }
        }
        match store.commit(expected, &todo, meta) {
            Ok(v) => return Ok((v, moved, store.snapshot(&Rev::Commit(v.commit))?)),
            Err(store::Error::RefMoved { actual, .. }) if attempt < retries => {
                tracing::warn!(%expected, %actual, "main moved; committing the batch on the new head");
                expected = actual;
                moved = true;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The batch's edits merged in order: the newest content of each path.
fn merged(batch: &[Entry]) -> Vec<Edit> {
    let mut files: BTreeMap<RepoPath, Option<Vec<u8>>> = BTreeMap::new();
    for e in batch {
        for edit in e.edits.iter() {
            files.insert(edit.path.clone(), edit.content.clone());
        }
    }
    files
        .into_iter()
        .map(|(path, content)| Edit { path, content })
        .collect()
}

/// The version's message: the single change's summary, or `N changes by a, b, c`; one
/// `Mailu-Change` trailer per change. A single author is also the commit's author.
fn meta(settings: &Settings, batch: &[Entry], render_all: bool) -> CommitMeta {
    let mut authors: Vec<&str> = Vec::new();
    for e in batch {
        if !authors.contains(&e.author.as_str()) {
            authors.push(&e.author);
        }
    }
    let stamp = settings.render.map(|b| b.stamp().to_owned());
    let summary = match batch {
        [] if render_all => format!(
            "Render every file with mailu-git {}",
            stamp.as_deref().unwrap_or("none")
        ),
        [one] => one.summary.clone(),
        _ => {
            let shown = authors
                .iter()
                .take(3)
                .copied()
                .collect::<Vec<_>>()
                .join(", ");
            match authors.len().saturating_sub(3) {
                0 => format!("{} changes by {shown}", batch.len()),
                more => format!("{} changes by {shown} and {more} more", batch.len()),
            }
        }
    };
    let author = match authors.as_slice() {
        [one] => Person {
            name: (*one).to_owned(),
            email: settings.committer.email.clone(),
        },
        _ => settings.committer.clone(),
    };
    CommitMeta {
        author,
        committer: settings.committer.clone(),
        summary,
        renderer: stamp,
        changes: batch
            .iter()
            .map(|e| ChangeNote {
                id: e.id.as_str().to_owned(),
                author: e.author.clone(),
            })
            .collect(),
        time: None,
    }
}
