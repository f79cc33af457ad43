//! Cleanup of old versions, the server side: runs the store's rewrite ([`Store::squash`]) with the
//! writers held off, then expires the reflogs, prunes what is no longer reachable and repacks, and
//! reports what it removed and the repository's size before and after. It runs on demand
//! (`POST /api/v1/gc`, [`Gc::run`]) and on `[history] cleanup_schedule` ([`schedule`]); one run at
//! a time.
//!
//! The order, and why nothing acknowledged is lost:
//! 1. **Rewrite** under [`Versioner::exclusive`]: every pending write is committed first, no
//!    writer runs meanwhile, and the ref moves are one compare-and-swap. Held only for this.
//! 2. **Reflog expiry** (`git reflog expire --all`), outside the lock: entries older than the second
//!    after the ref moves go, so the old history is no longer reachable through a log (the move's
//!    own entry names the old head). Entries of writes made in that same second go too: a log line,
//!    never an object; the commits are on main.
//! 3. **Prune** (`git prune --expire=<start of the rewrite>`), under the lock again, then the full
//!    repack of `repack` (under the lock, as always). Only objects older than the rewrite are
//!    candidates, so the objects of a version written since are safe; and the lock is needed
//!    anyway: gix does not rewrite an object that exists already (nor refresh its date, as git
//!    does), so a new version may reuse an old unreachable loose object, which a prune running
//!    beside it could delete between its reachability walk and main's move. The design's rule
//!    (git subprocesses that write run under the writer lock) covers it. Pruning removes loose
//!    objects; the full repack (`git repack -a -d`) drops unreachable packed ones.
//!
//! Nothing is pruned when nothing was rewritten ("nothing to clean").

pub mod schedule;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio::process::Command;

use crate::model::settings::History;
use crate::store::{self, Outcome, Person};
use crate::versioner::{self, Versioner};

/// Everything a cleanup can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another cleanup is running (the API answers 409).
    #[error("a cleanup is running already")]
    Running,
    /// The configuration at main does not load, so its retention policy is unknown.
    #[error("the configuration at main does not load; cleanup needs its [history] policy")]
    Config,
    #[error(transparent)]
    Versioner(#[from] versioner::Error),
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error("a blocking task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// A git subprocess failed; `step` says which.
    #[error("git {step} failed: {message}")]
    Git { step: &'static str, message: String },
}

/// The repository's size as `git count-objects -v` reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Size {
    /// Loose and packed objects.
    pub objects: u64,
    /// Their size on disk, in bytes (git counts in KiB).
    pub bytes: u64,
}

/// The versions squashed into the new root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Removed {
    /// Oldest and newest version numbers squashed; the new root keeps the newest's number.
    pub first: u64,
    pub last: u64,
    /// Commits squashed (versions and a push's intermediate commits).
    pub commits: usize,
}

/// How long each step took, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Durations {
    /// The rewrite and the ref moves, writers held off.
    pub rewrite_ms: u64,
    pub reflog_ms: u64,
    /// Prune and full repack, writers held off.
    pub prune_repack_ms: u64,
    pub total_ms: u64,
}

/// What one cleanup did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Report {
    /// When it started, RFC 3339, UTC.
    pub started: String,
    /// `"cleaned"`, or `"nothing to clean"` when every version is kept.
    pub outcome: String,
    pub removed: Option<Removed>,
    /// Commits written again on the new root (the kept versions and what lies between them).
    pub rewritten: usize,
    /// The refs moved (main, tags, the hold).
    pub refs_moved: Vec<String>,
    pub before: Size,
    pub after: Size,
    pub durations: Durations,
}

/// The last cleanup, for the server's status: its report, or why it failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LastRun {
    /// When it finished, RFC 3339, UTC.
    pub finished: String,
    pub report: Option<Report>,
    pub error: Option<String>,
}

/// Runs cleanups one at a time and remembers the last. Cheap to clone.
#[derive(Clone)]
pub struct Gc {
    inner: Arc<Inner>,
}

struct Inner {
    versioner: Versioner,
    repo: PathBuf,
    running: tokio::sync::Mutex<()>,
    last: Mutex<Option<LastRun>>,
}

impl std::fmt::Debug for Gc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gc")
            .field("repo", &self.inner.repo)
            .finish_non_exhaustive()
    }
}

/// Who the cleanup's ref moves are logged as.
fn cleaner() -> Person {
    Person {
        name: "mailu-git cleanup".into(),
        email: crate::server::server_person().email,
    }
}

impl Gc {
    pub fn new(versioner: Versioner, repo: PathBuf) -> Gc {
        Gc {
            inner: Arc::new(Inner {
                versioner,
                repo,
                running: tokio::sync::Mutex::new(()),
                last: Mutex::new(None),
            }),
        }
    }

    /// The last cleanup since the server started, `None` before the first.
    pub fn last(&self) -> Option<LastRun> {
        self.inner
            .last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The retention policy of the configuration at main.
    pub fn policy(&self) -> Result<History, Error> {
        let state = self.inner.versioner.state();
        let config = state.config().map_err(|_| Error::Config)?;
        Ok(config.settings.history.clone())
    }

    /// Cleans up now with main's policy, ages measured at the current time; [`Error::Running`] at
    /// once if a cleanup is running.
    pub async fn run(&self) -> Result<Report, Error> {
        let policy = self.policy()?;
        self.run_with(policy, chrono::Utc::now().timestamp()).await
    }

    /// Cleans up with `policy`, ages measured at `now` (seconds since the Unix epoch).
    pub async fn run_with(&self, policy: History, now: i64) -> Result<Report, Error> {
        let Ok(_running) = self.inner.running.try_lock() else {
            return Err(Error::Running);
        };
        let result = self.clean(policy, now).await;
        let last = LastRun {
            finished: rfc3339(chrono::Utc::now().timestamp()),
            report: result.as_ref().ok().cloned(),
            error: result.as_ref().err().map(ToString::to_string),
        };
        *self
            .inner
            .last
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(last);
        match &result {
            Ok(report) => tracing::info!(
                outcome = %report.outcome,
                removed = ?report.removed,
                before = ?report.before,
                after = ?report.after,
                "cleanup finished"
            ),
            Err(e) => tracing::error!(error = %e, "cleanup failed"),
        }
        result
    }

    async fn clean(&self, policy: History, now: i64) -> Result<Report, Error> {
        let total = Instant::now();
        let repo = &self.inner.repo;
        let started = chrono::Utc::now().timestamp();
        let before = size(repo).await?;
        let rewrite = Instant::now();
        let outcome = self
            .inner
            .versioner
            .exclusive(|ex| async move {
                let store = ex.store().clone();
                let outcome =
                    tokio::task::spawn_blocking(move || store.squash(&policy, now, &cleaner()))
                        .await;
                if let Ok(Ok(Outcome::Squashed(_))) = &outcome {
                    ex.refs_moved();
                }
                outcome
            })
            .await???;
        let mut durations = Durations {
            rewrite_ms: millis(rewrite),
            ..Durations::default()
        };
        let squashed = match outcome {
            Outcome::NothingToClean => {
                durations.total_ms = millis(total);
                return Ok(Report {
                    started: rfc3339(started),
                    outcome: "nothing to clean".into(),
                    removed: None,
                    rewritten: 0,
                    refs_moved: Vec::new(),
                    before,
                    after: before,
                    durations,
                });
            }
            Outcome::Squashed(s) => s,
        };
        let moved_at = chrono::Utc::now().timestamp();
        let reflog = Instant::now();
        let expire = format!("--expire={}", git_date(moved_at + 1));
        let unreachable = format!("--expire-unreachable={}", git_date(moved_at + 1));
        git(
            repo,
            "reflog expire",
            &["reflog", "expire", &expire, &unreachable, "--all"],
        )
        .await?;
        durations.reflog_ms = millis(reflog);
        let prune = Instant::now();
        let older = format!("--expire={}", git_date(started));
        let pruned = self
            .inner
            .versioner
            .exclusive(|_| async { git(repo, "prune", &["prune", &older]).await })
            .await?;
        pruned?;
        crate::repack::repack(&self.inner.versioner, repo, crate::repack::Kind::Full)
            .await
            .map_err(|message| Error::Git {
                step: "repack",
                message,
            })?;
        durations.prune_repack_ms = millis(prune);
        let after = size(repo).await?;
        durations.total_ms = millis(total);
        Ok(Report {
            started: rfc3339(started),
            outcome: "cleaned".into(),
            removed: Some(Removed {
                first: squashed.first,
                last: squashed.last,
                commits: squashed.removed_commits,
            }),
            rewritten: squashed.rewritten,
            refs_moved: squashed.moved.into_iter().map(|m| m.name).collect(),
            before,
            after,
            durations,
        })
    }
}

fn millis(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn rfc3339(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// A date git's `--expire` reads exactly: `YYYY-MM-DD HH:MM:SS +0000`.
fn git_date(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S +0000").to_string())
        .unwrap_or_else(|| "now".into())
}

/// Runs `git <args>` on `repo` with only the repository's own config; its stdout.
async fn git(repo: &Path, step: &'static str, args: &[&str]) -> Result<String, Error> {
    let output = Command::new("git")
        .arg("-c")
        .arg(format!("safe.directory={}", repo.display()))
        .arg("-C")
        .arg(repo)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| Error::Git {
            step,
            message: format!("cannot run git: {e}"),
        })?;
    if !output.status.success() {
        return Err(Error::Git {
            step,
            message: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The repository's objects and bytes (`git count-objects -v`).
pub async fn size(repo: &Path) -> Result<Size, Error> {
    let text = git(repo, "count-objects", &["count-objects", "-v"]).await?;
    Ok(parse_count_objects(&text))
}

fn parse_count_objects(text: &str) -> Size {
    let mut size = Size::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(": ") else {
            continue;
        };
        let Ok(n) = value.trim().parse::<u64>() else {
            continue;
        };
        match key {
            "count" | "in-pack" => size.objects += n,
            "size" | "size-pack" => size.bytes += n * 1024,
            _ => {}
        }
    }
    size
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_objects_is_read() {
        let text = "count: 3\nsize: 12\nin-pack: 100\npacks: 1\nsize-pack: 40\nprune-packable: 0\n\
                    garbage: 0\nsize-garbage: 0\n";
        assert_eq!(
            parse_count_objects(text),
            Size {
                objects: 103,
                bytes: 52 * 1024
            }
        );
    }

    #[test]
    fn dates_are_what_git_reads() {
        assert_eq!(git_date(0), "1970-01-01 00:00:00 +0000");
        assert_eq!(rfc3339(86_400), "1970-01-02T00:00:00Z");
    }
}
