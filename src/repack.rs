//! Keeping the repository packed. API versions are written by gix as loose objects (a few per
//! version, thousands after a bulk import), and git serves a loose repository much slower than a
//! packed one (a clone of 100k loose files is about ten times slower). So a task repacks with the
//! git binary: incrementally (`git repack -d`, the loose objects into one more pack) when loose
//! objects pile up, and fully (`git repack -a -d -b`, one pack with a bitmap for fast clones) at
//! `[history] repack_schedule` of main's `mailu.toml` (re-read whenever a version lands), or every
//! `--repack-every` when that is given. Both run under the versioner's writer lock ([`Versioner::exclusive`]), as
//! every git subprocess that writes the repository does.
//!
//! Counting loose objects reads the 256 fan-out directories' entries, after each new version and on
//! each tick: cheap next to the commit that made them. Not here: history cleanup (`gc`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

use crate::versioner::Versioner;

/// When to repack.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Repack incrementally once this many loose objects exist.
    pub loose_limit: usize,
    /// Repack fully this often; `None`: at main's `[history] repack_schedule`.
    pub every: Option<Duration>,
    /// How often to count loose objects without a new version (objects from pushes, crashes).
    pub tick: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            loose_limit: 2000,
            every: None,
            tick: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The loose objects into one more pack.
    Loose,
    /// Everything into one pack with a bitmap.
    Full,
}

/// Repacks on the schedule and when loose objects pile up, until the versioner is dropped.
pub async fn run(versioner: Versioner, repo: PathBuf, settings: Settings) {
    let mut versions = versioner.versions();
    let mut last_full = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(settings.tick);
    loop {
        let full_at = match settings.every {
            Some(every) => last_full + every,
            None => next_scheduled(&versioner),
        };
        let kind = tokio::select! {
            changed = versions.changed() => {
                if changed.is_err() {
                    return;
                }
                None
            }
            _ = tick.tick() => None,
            _ = tokio::time::sleep_until(full_at) => Some(Kind::Full),
        };
        let kind = match kind {
            Some(k) => k,
            None => {
                let objects = repo.join("objects");
                let loose = tokio::task::spawn_blocking(move || count_loose(&objects))
                    .await
                    .unwrap_or(0);
                if loose < settings.loose_limit {
                    continue;
                }
                Kind::Loose
            }
        };
        if kind == Kind::Full {
            last_full = tokio::time::Instant::now();
        }
        if let Err(e) = repack(&versioner, &repo, kind).await {
            tracing::error!(error = %e, "cannot repack the repository");
        }
    }
}

/// When main's `repack_schedule` next fires (the default schedule when main does not load).
fn next_scheduled(versioner: &Versioner) -> tokio::time::Instant {
    let schedule = {
        let state = versioner.state();
        match state.config() {
            Ok(config) => config.settings.history.repack_schedule.clone(),
            Err(_) => crate::model::settings::History::default().repack_schedule,
        }
    };
    let now = chrono::Utc::now();
    let wait = schedule
        .next_after(now)
        .and_then(|next| (next - now).to_std().ok())
        // A schedule that never fires: check again in a day (a version re-arms it sooner).
        .unwrap_or(Duration::from_secs(86_400));
    tokio::time::Instant::now() + wait
}

/// Runs `git repack` of `kind` on `repo` under the writer lock.
pub async fn repack(versioner: &Versioner, repo: &Path, kind: Kind) -> Result<(), String> {
    let started = std::time::Instant::now();
    let output = versioner
        .exclusive(|_| async {
            let mut command = Command::new("git");
            command
                .arg("-c")
                .arg(format!("safe.directory={}", repo.display()))
                .arg("-C")
                .arg(repo)
                .args(["repack", "-d", "-q"])
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .kill_on_drop(true);
            if kind == Kind::Full {
                command.args(["-a", "-b"]);
            }
            command.output().await
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    tracing::info!(?kind, took = ?started.elapsed(), "repacked the repository");
    Ok(())
}

/// The number of loose objects in `objects` (the files of its two-hex-digit directories).
pub fn count_loose(objects: &Path) -> usize {
    let mut n = 0;
    for byte in 0..=255u8 {
        if let Ok(entries) = std::fs::read_dir(objects.join(format!("{byte:02x}"))) {
            n += entries.count();
        }
    }
    n
}
