//! Crash points for durability tests: `MAILU_GIT_CRASH_AT=<point>` (or `<point>:<n>`, the n-th time
//! the point is reached) makes the process abort there, as a power cut or `kill -9` would stop it,
//! so a test can restart on the data left behind and check that no acknowledged write was lost.
//!
//! The points are `after-append` (a change is durable in the journal, not yet answered),
//! `after-objects` (a version's objects are written, main not moved), `after-cas` (main moved, the
//! server's memory not updated) and `before-trim` (the version's records are still in the journal).
//! This is not a fault-injection framework: without the variable every point is one atomic load.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable that selects a crash point.
pub const ENV: &str = "MAILU_GIT_CRASH_AT";

struct Target {
    point: String,
    /// Abort on this hit of the point (1 = the first time).
    nth: u64,
    hits: AtomicU64,
}

fn target() -> Option<&'static Target> {
    static TARGET: OnceLock<Option<Target>> = OnceLock::new();
    TARGET
        .get_or_init(|| {
            let raw = std::env::var(ENV).ok()?;
            let (point, nth) = match raw.split_once(':') {
                Some((p, n)) => (p.to_owned(), n.parse().unwrap_or(1)),
                None => (raw, 1),
            };
            Some(Target {
                point,
                nth,
                hits: AtomicU64::new(0),
            })
        })
        .as_ref()
}

/// Aborts the process if the crash point `name` is selected and reached for the selected time.
pub fn point(name: &str) {
    if let Some(t) = target()
        && t.point == name
        && t.hits.fetch_add(1, Ordering::SeqCst) + 1 == t.nth
    {
        eprintln!("mailu-git: crash point {name} reached; aborting ({ENV})");
        std::process::abort();
    }
}
