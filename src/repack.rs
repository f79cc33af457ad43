//! Keeping the repository packed. API versions are written by gix as loose objects (a few per
//! version, thousands after a bulk import), and git serves a loose repository much slower than a
//! packed one (a clone of 100k loose files is about ten times slower). So a task repacks with the
//! git binary: incrementally (`git repack -d`, the loose objects into one more pack) when loose
//! objects pile up, and fully (`git repack -a -d -b`, one pack with a bitmap for fast clones) on a
//! schedule of its own. Both run under the versioner's writer lock ([`Versioner::exclusive`]), as
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
    /// Repack fully this often.
    pub every: Duration,
    /// How often to count loose objects without a new version (objects from pushes, crashes).
    pub tick: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            loose_limit: 2000,
            every: Duration::from_secs(6 * 3600),
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
    let mut full = tokio::time::interval(settings.every);
    full.tick().await;
    let mut tick = tokio::time::interval(settings.tick);
    loop {
        let kind = tokio::select! {
            changed = versions.changed() => {
                if changed.is_err() {
                    return;
                }
                None
            }
            _ = tick.tick() => None,
            _ = full.tick() => Some(Kind::Full),
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
        if let Err(e) = repack(&versioner, &repo, kind).await {
            tracing::error!(error = %e, "cannot repack the repository");
        }
    }
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
