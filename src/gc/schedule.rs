//! Running cleanup on `[history] cleanup_schedule` (5-field cron, UTC).
//!
//! A loop on [`Schedule::next_after`] and a sleep, not tokio-cron-scheduler: the schedule lives in
//! the configuration and changes with any version, and re-arming is then just computing the next
//! time again when a version lands (the loop watches [`Versioner::versions`]). The crate would add
//! some 50 dependencies, wants 6-field expressions, and fires twice where Vixie's day rule needs
//! two of its expressions ([`Schedule::to_scheduler`]); our own [`Schedule`] has the semantics the
//! settings document.

use chrono::Utc;

use super::Gc;
use crate::model::cron::Schedule;
use crate::versioner::Versioner;

/// Cleans up at each time of main's `cleanup_schedule` until the versioner is dropped. A schedule
/// changed by a new version takes effect at once; a configuration that does not load keeps the
/// last schedule read (or the default one).
pub async fn run(gc: Gc, versioner: Versioner) {
    let mut versions = versioner.versions();
    let mut schedule = Schedule::parse("30 3 * * *").expect("a valid constant schedule");
    loop {
        if let Ok(history) = gc.policy() {
            schedule = history.cleanup_schedule;
        }
        let now = Utc::now();
        let Some(next) = schedule.next_after(now) else {
            // Only an expression that never fires; wait for a new version.
            if versions.changed().await.is_err() {
                return;
            }
            continue;
        };
        let wait = (next - now).to_std().unwrap_or_default();
        tokio::select! {
            changed = versions.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            _ = tokio::time::sleep(wait) => {
                tracing::info!(schedule = schedule.as_str(), "scheduled cleanup");
                // Errors are logged and kept in `Gc::last`; the next time comes anyway.
                let _ = gc.run().await;
            }
        }
    }
}
