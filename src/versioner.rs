//! Pending changes becoming versions: the write path from an acknowledged API change to a commit.
//!
//! A writer calls [`Versioner::write`] with a closure that validates its change against the
//! acknowledged [`State`] and returns the resulting file edits. Under the writer lock the change
//! gets a [`ChangeId`], is queued to the journal and laid over the state; the lock is released
//! *before* waiting for the fsync, so the next writer's record joins the same fsync, and the call
//! returns once the record is durable. A debounce task turns the acknowledged changes into ONE version
//! after the quiet period or the maximum delay (see `batch`), then trims them from the journal. On
//! start, journal records already named in main's `Mailu-Change` trailers are trimmed, the rest laid
//! over the state again. `query.rs` tells where a change is. Not here: HTTP, validation rules (the
//! caller's closure, with `model::rules`), templates (`batch` plans which files a version renders
//! again; `render` renders them), or the repository format (`store`).
//!
//! Why the state is updated before the fsync completes: the next writer must validate against it
//! (creating an alias for a user created a millisecond earlier), and holding the lock across the
//! fsync would give every write its own. A reader may so see a change a few hundred microseconds
//! before it is acknowledged. If the fsync fails, the journal refuses every later append (they were
//! queued behind it, so no acknowledged change can depend on a failed one), the failed changes are
//! taken out of the state again, and the versioner stops acknowledging writes.

mod batch;
mod change;
mod exclusive;
mod id;
mod migrate;
mod query;
mod recover;
mod state;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard};
use std::time::Duration;

use gix::ObjectId;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::journal::{self, Journal, Record};
use crate::model;
use crate::render;
use crate::store::{self, Edit, Person, Store};

pub use change::Change;
pub use exclusive::Exclusive;
pub use id::{ChangeId, ParseError};
pub use state::State;

use change::{check_size, checked, now_ms, overlay_of};
use state::{Layer, Update};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writes are not acknowledged until a version can be committed again (answer 503).
    #[error("writes are suspended: {reason}")]
    Unavailable { reason: String },
    /// With the change, the configuration would not load: every problem it would cause.
    #[error("the change would make the configuration invalid:\n{0}")]
    Rejected(model::Diagnostics),
    /// The change itself is malformed (a caller bug, not a user's input error).
    #[error("invalid change: {0}")]
    InvalidChange(String),
    #[error(transparent)]
    Journal(#[from] journal::Error),
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error("a background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The configuration does not render (a template fails on it).
    #[error("the configuration does not render:\n{0}")]
    Render(model::Diagnostics),
    #[error("cannot read the tree to render: {0}")]
    RenderRead(render::ReadError),
    /// The upgrade at start cannot migrate main's format (a step failed, no step, a newer format).
    #[error("cannot upgrade the configuration; nothing was written: {0}")]
    Migrate(#[from] model::migrate::Error),
    /// The upgraded configuration does not load under this build's rules.
    #[error(
        "cannot upgrade the configuration from format {from} to {to}; nothing was written: the \
         upgraded configuration is invalid:\n{problems}"
    )]
    UpgradeInvalid {
        from: u32,
        to: u32,
        problems: model::Diagnostics,
    },
    /// The upgraded configuration does not render.
    #[error(
        "cannot upgrade the configuration from format {from} to {to}; nothing was written: the \
         upgraded configuration does not render:\n{problems}"
    )]
    UpgradeRender {
        from: u32,
        to: u32,
        problems: model::Diagnostics,
    },
}

impl From<render::Error> for Error {
    fn from(e: render::Error) -> Error {
        match e {
            render::Error::Invalid(d) => Error::Render(d),
            render::Error::Read(e) => Error::RenderRead(e),
        }
    }
}

/// When and how versions are made.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Commit once no change arrived for this long (`[debounce] quiet`).
    pub quiet: Duration,
    /// Commit at the latest this long after the first pending change (`[debounce] max_delay`).
    pub max_delay: Duration,
    /// The committer of versions, and the author of versions with several authors.
    pub committer: Person,
    /// The built-in templates every version is rendered with (its stamp is the `Mailu-Renderer`
    /// trailer); `None` commits sources only (`Mailu-Renderer: none`), for tests of the write path.
    pub render: Option<&'static render::Builtins>,
    /// How often a batch is put on a new head after a push moved main before giving up.
    pub cas_retries: u32,
    /// How many recent versions `status` and replay search for change ids.
    pub lookback: usize,
    /// The steps that upgrade an older `format` at open (`model::migrate::STEPS`; tests give
    /// their own).
    pub migrate: &'static [model::migrate::Step],
}

impl Settings {
    pub fn new(quiet: Duration, max_delay: Duration) -> Settings {
        Settings {
            quiet,
            max_delay,
            committer: Person {
                name: "mailu-git".into(),
                email: "mailu-git@localhost".into(),
            },
            render: None,
            cas_retries: 8,
            lookback: 10_000,
            migrate: model::migrate::STEPS,
        }
    }
}

/// A version that holds a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    pub commit: ObjectId,
    pub number: u64,
}

/// Where a change is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Committed(Committed),
    /// Acknowledged, not yet in a version.
    Pending,
    /// Not a change of this server (or older than the versions searched).
    Unknown,
}

/// Whether writes are acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Ok,
    Unavailable { reason: String },
}

/// One acknowledged change waiting for its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingChange {
    pub id: ChangeId,
    pub author: String,
    pub summary: String,
    pub time_ms: i64,
}

/// The pending changes and when the next version is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub changes: Vec<PendingChange>,
    /// `None` when nothing is pending (or nothing acknowledged yet).
    pub due_in: Option<Duration>,
}

/// Counters for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Metrics {
    pub journal: journal::Stats,
    pub versions: u64,
    pub changes_committed: u64,
    pub last_commit: Option<Duration>,
    pub commit_failures: u64,
}

/// The write path. Cheap to clone; the debounce task stops when the last clone is dropped.
#[derive(Clone)]
pub struct Versioner {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    journal: Journal,
    settings: Settings,
    state: RwLock<State>,
    /// Serializes writers: validation, journal order and state order are one order.
    writer: tokio::sync::Mutex<()>,
    /// One batch at a time (the debounce task, `flush`).
    committing: tokio::sync::Mutex<()>,
    queue: Mutex<Queue>,
    ids: id::Generator,
    /// Wakes the debounce task (a change arrived or was acknowledged, or shutdown).
    wake: Arc<Notify>,
    /// Counts versions made, for `wait_for`.
    versions: watch::Sender<u64>,
    /// Counts acknowledgements, for `flush`.
    acks: watch::Sender<u64>,
    health: Mutex<Failures>,
    metrics: Mutex<Metrics>,
    stopped: AtomicBool,
    /// The next version renders every file (main was made by another renderer, or moved under a
    /// batch), not only what the batch touched.
    render_all: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The debounce task holds only a weak handle; let it see that it is alone.
        self.wake.notify_one();
    }
}

/// The changes between the state's base and the journal's end, in order.
#[derive(Default)]
struct Queue {
    next_seq: u64,
    entries: VecDeque<Entry>,
    /// Recently committed changes, for `status` without reading history.
    recent: HashMap<ChangeId, Committed>,
    recent_order: VecDeque<ChangeId>,
}

/// How many committed change ids `status` remembers without reading history.
const RECENT: usize = 100_000;

#[derive(Clone)]
struct Entry {
    seq: u64,
    id: ChangeId,
    author: String,
    summary: String,
    time_ms: i64,
    edits: Arc<Vec<Edit>>,
    /// The record is durable and the writer answered (or will be answered) with success.
    acked: bool,
    at: Instant,
}

#[derive(Default)]
struct Failures {
    /// The journal failed (an fsync error): permanent until a restart.
    journal: Option<String>,
    /// The last batch failed to commit; cleared by the next success.
    commit: Option<String>,
    retry_at: Option<Instant>,
    backoff: Duration,
}

impl Versioner {
    /// Opens the journal in `journal_dir`, replays what is pending on top of main, upgrades an
    /// older `format` (with what is pending) as one version (see `migrate`), and starts the
    /// debounce task (on the current tokio runtime).
    pub async fn open(
        store: Store,
        journal_dir: &Path,
        settings: Settings,
    ) -> Result<Versioner, Error> {
        let dir = journal_dir.to_owned();
        let lookback = settings.lookback;
        let (journal, replay, committed, state) = {
            let store = store.clone();
            tokio::task::spawn_blocking(move || batch::replay(&store, &dir, lookback)).await??
        };
        let (replay, committed, state) = if migrate::needed(&state)? {
            let store = store.clone();
            let settings = settings.clone();
            tokio::task::spawn_blocking(move || {
                migrate::at_open(&store, &settings, replay, committed, state)
            })
            .await??
        } else {
            (replay, committed, state)
        };
        if !committed.is_empty() {
            tracing::info!(
                changes = committed.len(),
                "trimming journal records that a version already holds"
            );
            journal.trim(committed).await?;
        }
        let now = Instant::now();
        let mut queue = Queue::default();
        for (seq, r) in (1..).zip(replay) {
            queue.entries.push_back(Entry {
                seq,
                id: ChangeId::parse(&r.id)
                    .map_err(|e| Error::InvalidChange(format!("in the journal: {e}")))?,
                author: r.author,
                summary: r.summary,
                time_ms: r.time_ms,
                edits: Arc::new(r.edits),
                acked: true,
                at: now,
            });
            queue.next_seq = seq;
        }
        queue.next_seq += 1;
        let inner = Arc::new(Inner {
            store,
            journal,
            settings,
            state: RwLock::new(state),
            writer: tokio::sync::Mutex::new(()),
            committing: tokio::sync::Mutex::new(()),
            queue: Mutex::new(queue),
            ids: id::Generator::default(),
            wake: Arc::new(Notify::new()),
            versions: watch::channel(0).0,
            acks: watch::channel(0).0,
            health: Mutex::new(Failures {
                backoff: batch::MIN_BACKOFF,
                ..Failures::default()
            }),
            metrics: Mutex::new(Metrics::default()),
            stopped: AtomicBool::new(false),
            render_all: AtomicBool::new(false),
        });
        if let Some(builtins) = inner.settings.render {
            let store = inner.store.clone();
            let made_by = tokio::task::spawn_blocking(move || -> Result<_, store::Error> {
                let head = store.head()?;
                Ok(store.history(head, 1)?.pop().and_then(|v| v.renderer))
            })
            .await??;
            if made_by.as_deref() != Some(builtins.stamp()) {
                tracing::info!(
                    main = made_by.as_deref().unwrap_or("none"),
                    this = builtins.stamp(),
                    "main was rendered by another renderer; rendering every file again"
                );
                inner.render_all.store(true, Ordering::SeqCst);
                // Failures are recorded (writes suspended, retried with backoff); mail goes on.
                let _ = batch::commit_now(&inner).await;
            }
        }
        tokio::spawn(batch::debounce(Arc::downgrade(&inner), inner.wake.clone()));
        Ok(Versioner { inner })
    }

    /// The acknowledged state, for reading. Do not hold the guard across an `.await`.
    pub fn state(&self) -> RwLockReadGuard<'_, State> {
        self.inner.read_state()
    }

    /// Makes one change: `validate` runs under the writer lock with the acknowledged state (all
    /// earlier acknowledged changes included, and no other writer between it and the journal), and
    /// returns the change or the caller's rejection. Do expensive work (password hashing) before.
    /// Returns once the change is durable, with its id.
    pub async fn write<E, F>(&self, validate: F) -> Result<ChangeId, E>
    where
        F: FnOnce(&State) -> Result<Change, E>,
        E: From<Error>,
    {
        let inner = &self.inner;
        if !inner.stopped.load(Ordering::SeqCst) {
            // After a failed append (a full disk), the first write that finds the disk taking
            // writes again resumes the journal; while it does not, this answers why.
            recover::journal(inner).await?;
        }
        inner.available()?;
        let writer = inner.writer.lock().await;
        inner.available()?;
        let change = validate(&self.state())?;
        let change = checked(change)?;
        let id = inner.ids.next();
        let time_ms = now_ms();
        let record = Record {
            id: id.as_str().to_owned(),
            author: change.author.clone(),
            time_ms,
            summary: change.summary.clone(),
            edits: change.edits.clone(),
        };
        check_size(&record)?;
        let planned = self.state().plan(&change.edits);
        let update = match planned {
            Some(update) => update,
            None => {
                let (base, overlay) = {
                    let s = self.state();
                    (s.base().clone(), s.overlay().clone())
                };
                let edits = change.edits.clone();
                let reloaded = tokio::task::spawn_blocking(move || {
                    state::reload_with(&base, &overlay, &edits)
                })
                .await
                .map_err(Error::from)?
                .map_err(Error::from)?;
                // The whole tree must still load: a change whose effect reaches other files (a
                // settings value other files depend on, a domain others refer to) is refused here
                // even when the caller's own checks missed it. Main is never made invalid.
                if let Err(problems) = reloaded {
                    return Err(Error::Rejected(problems).into());
                }
                Update::Reloaded(Box::new(reloaded))
            }
        };
        if let Some(builtins) = inner.settings.render {
            self.check_render(builtins, &change.edits, &update).await?;
        }
        // From here to the unlock there is no `.await`: a cancelled caller cannot leave the journal,
        // the queue and the state out of step.
        let seq = {
            let mut q = inner.queue();
            let seq = q.next_seq;
            q.next_seq += 1;
            q.entries.push_back(Entry {
                seq,
                id: id.clone(),
                author: change.author,
                summary: change.summary,
                time_ms,
                edits: Arc::new(change.edits.clone()),
                acked: false,
                at: Instant::now(),
            });
            seq
        };
        let durable = inner.journal.enqueue(record);
        inner
            .state
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .apply(seq, &change.edits, update);
        drop(writer);
        inner.wake.notify_one();
        // The acknowledgement is recorded by a task of its own, so a caller that goes away (a closed
        // connection) cannot leave a durable change unacknowledged and the debouncer waiting on it.
        let this = self.clone();
        let ack = tokio::spawn(async move {
            let result = durable.await;
            this.acknowledged(seq, result).await
        });
        ack.await.map_err(Error::from)??;
        Ok(id)
    }

    /// Refuses a change that would make a template fail. Built-in templates render every valid
    /// configuration (their tests and the daemons check that), so only changes that bring or meet
    /// the repository's own templates are rendered here, under the writer lock: a template or Mailu
    /// override edit, or any change while the repository has templates of its own.
    async fn check_render(
        &self,
        builtins: &'static render::Builtins,
        edits: &[Edit],
        update: &Update,
    ) -> Result<(), Error> {
        let templates = model::RepoPath::parse("templates").expect("a constant valid path");
        let plan = {
            let state = self.state();
            let touches_templates = edits.iter().any(|e| {
                let p = e.path.as_str();
                p.starts_with("templates/") || p.starts_with("mailu-overrides/")
            });
            let only_files = edits
                .iter()
                .all(|e| e.path.as_str().starts_with("overrides/"));
            let has_templates = !only_files && !state.list(&templates)?.is_empty();
            if !touches_templates && !has_templates {
                return Ok(());
            }
            let Some(config) = state.preview(update) else {
                return Ok(());
            };
            let changed: Vec<model::RepoPath> = edits.iter().map(|e| e.path.clone()).collect();
            let view = state::WithEdits {
                state: &state,
                edits,
            };
            match render::plan(builtins, &config, &view, render::Scope::Changed(&changed)) {
                Ok(plan) => plan,
                Err(render::Error::Invalid(problems)) => return Err(Error::Rejected(problems)),
                Err(e) => return Err(e.into()),
            }
        };
        match tokio::task::spawn_blocking(move || plan.render(builtins)).await? {
            Ok(_) => Ok(()),
            Err(problems) => Err(Error::Rejected(problems)),
        }
    }

    /// Whether `edits` laid over the acknowledged state would load, without making a change (an
    /// import's `--dry-run`): every problem they would cause, or `Ok`. Blocking work runs off the
    /// async threads; nothing is locked, so a later write may still be refused.
    pub async fn check(&self, edits: Vec<Edit>) -> Result<(), Error> {
        let (base, overlay) = {
            let s = self.state();
            (s.base().clone(), s.overlay().clone())
        };
        let loaded =
            tokio::task::spawn_blocking(move || state::reload_with(&base, &overlay, &edits))
                .await??;
        loaded.map(|_| ()).map_err(Error::Rejected)
    }

    /// Submits a change that needs no validation against the state.
    pub async fn submit(&self, change: Change) -> Result<ChangeId, Error> {
        self.write(|_| Ok::<_, Error>(change)).await
    }

    /// Commits every acknowledged change now (before a push, at shutdown). Waits for changes whose
    /// fsync is under way. `None` if nothing was pending.
    pub async fn flush(&self) -> Result<Option<Committed>, Error> {
        batch::flush(&self.inner).await
    }

    /// Stops acknowledging writes, flushes, and stops the debounce task.
    pub async fn shutdown(&self) -> Result<Option<Committed>, Error> {
        self.inner.stopped.store(true, Ordering::SeqCst);
        // A writer inside the lock finishes queueing its change; later ones see `stopped`.
        drop(self.inner.writer.lock().await);
        let result = self.flush().await;
        self.inner.wake.notify_one();
        result
    }

    /// Whether [`Versioner::shutdown`] has begun: writes are refused for that reason alone.
    pub fn stopping(&self) -> bool {
        self.inner.stopped.load(Ordering::SeqCst)
    }

    /// Whether writes are acknowledged, and why not.
    pub fn health(&self) -> Health {
        match self.inner.available() {
            Ok(()) => Health::Ok,
            Err(Error::Unavailable { reason }) => Health::Unavailable { reason },
            Err(e) => Health::Unavailable {
                reason: e.to_string(),
            },
        }
    }

    /// The committer of versions (and the email of their authors).
    pub fn committer(&self) -> &Person {
        &self.inner.settings.committer
    }

    /// The store versions are committed to.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn metrics(&self) -> Metrics {
        let mut m = *self
            .inner
            .metrics
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        m.journal = self.inner.journal.stats();
        m
    }

    /// Records the fsync result of change `seq`; on failure takes the change out of the state.
    async fn acknowledged(
        &self,
        seq: u64,
        result: Result<(), journal::Error>,
    ) -> Result<(), Error> {
        let inner = &self.inner;
        match result {
            Ok(()) => {
                crate::crash::point("after-append");
                if let Some(e) = inner.queue().entries.iter_mut().find(|e| e.seq == seq) {
                    e.acked = true;
                }
                inner.acks.send_modify(|n| *n += 1);
                inner.wake.notify_one();
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "a change could not be journaled; writes are suspended");
                {
                    // Under the queue lock: a recovery that already took this change out (and
                    // resumed the journal) must not see writes suspended again by it.
                    let q = inner.queue();
                    if !q.entries.iter().any(|e| e.seq == seq) {
                        drop(q);
                        inner.acks.send_modify(|n| *n += 1);
                        return Err(Error::Journal(e));
                    }
                    let mut h = inner.lock_health();
                    h.journal = Some(e.to_string());
                    if h.retry_at.is_none() {
                        h.retry_at = Some(Instant::now() + h.backoff);
                    }
                }
                inner.wake.notify_one();
                let _writer = inner.writer.lock().await;
                inner.queue().entries.retain(|e| e.seq != seq);
                // Lay the remaining changes over the base again, without the failed one.
                let base = self.state().base().clone();
                let overlay = overlay_of(&inner.queue().entries);
                let state = tokio::task::spawn_blocking(move || State::load(base, overlay)).await;
                match state {
                    Ok(Ok(s)) => *inner.state.write().unwrap_or_else(PoisonError::into_inner) = s,
                    Ok(Err(e)) => tracing::error!(error = %e, "cannot rebuild the state"),
                    Err(e) => tracing::error!(error = %e, "cannot rebuild the state"),
                }
                inner.acks.send_modify(|n| *n += 1);
                Err(Error::Journal(e))
            }
        }
    }
}

impl Inner {
    fn read_state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_health(&self) -> std::sync::MutexGuard<'_, Failures> {
        self.health.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn available(&self) -> Result<(), Error> {
        if self.stopped.load(Ordering::SeqCst) {
            return Err(Error::Unavailable {
                reason: "the server is shutting down".into(),
            });
        }
        let h = self.lock_health();
        match (&h.journal, &h.commit) {
            (Some(j), _) => Err(Error::Unavailable {
                reason: format!("the journal failed: {j}"),
            }),
            (None, Some(c)) => Err(Error::Unavailable {
                reason: format!("pending changes cannot be committed: {c}"),
            }),
            (None, None) => Ok(()),
        }
    }

    /// When the debouncer should commit: the quiet period after the newest change, at most
    /// `max_delay` after the oldest acknowledged one; after a failure, the retry time.
    fn due(&self) -> Option<Instant> {
        {
            // A failed journal or commit is retried at the backoff time, even with nothing
            // pending (the failed changes were taken out): the retry is what clears it.
            let h = self.lock_health();
            if h.journal.is_some() || h.commit.is_some() {
                return Some(h.retry_at.unwrap_or_else(Instant::now));
            }
        }
        if self.render_all.load(Ordering::SeqCst) {
            let retry = self.lock_health().retry_at;
            return Some(retry.unwrap_or_else(Instant::now));
        }
        let q = self.queue();
        let first = q.entries.front().filter(|e| e.acked)?.at;
        let last = q.entries.back()?.at;
        drop(q);
        // After a failed commit, writes are suspended: retry at the backoff time, not at the next
        // debounce time, which may be far off (a failed `flush`).
        if let Some(retry) = self.lock_health().retry_at {
            return Some(retry);
        }
        Some((last + self.settings.quiet).min(first + self.settings.max_delay))
    }
}
