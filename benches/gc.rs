//! Cleanup (`gc::Gc`, the server's code path: rewrite under the writer lock, reflog expiry, prune,
//! full repack) on a repository of 10,000 versions built through the store (one user file changed
//! per version, versions dated a minute apart in the past), keeping the last 50. The reference,
//! in the same run, is `git gc --prune=now` on a copy of the same repository (which keeps all
//! history: it is the cost of git's own housekeeping, not a cleanup).
//!
//! Run: `cargo bench --bench gc` (a few minutes on 2 cores, most of it building the repository), or
//! with `--quick` / `MAILU_BENCH_QUICK=1` for 1,000 versions. `MAILU_BENCH_DIR` picks the file system
//! (default: the temp dir). Prints one table; figures go to docs/performance.md.

// A benchmark is a test program: a failed step should stop it loudly.
#![allow(clippy::unwrap_used)]

use std::{
    collections::BTreeMap,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use mailu_git::{
    gc::{Gc, Size},
    model::{RepoPath, settings::History},
    store::{CommitMeta, Durability, Edit, Person, Store},
    versioner::{self, Versioner},
};

const USERS: usize = 100;
const KEEP: u32 = 50;
/// 2026-01-01 00:00 UTC; version `i` is `i` minutes later.
const T0: i64 = 1_767_225_600;

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn size(repo: &Path) -> Size {
    let mut s = Size::default();
    for line in git(repo, &["count-objects", "-v"]).lines() {
        let Some((k, v)) = line.split_once(": ") else {
            continue;
        };
        let n: u64 = v.trim().parse().unwrap_or(0);
        match k {
            "count" | "in-pack" => s.objects += n,
            "size" | "size-pack" => s.bytes += n * 1024,
            _ => {}
        }
    }
    s
}

fn user(u: usize, round: usize) -> Vec<u8> {
    format!("password = \"{{SHA512-CRYPT}}$6$salt{u:04}\"\ndisplayed_name = \"User {u} round {round}\"\n")
        .into_bytes()
}

/// The template plus one domain of [`USERS`] users, then `versions - 1` one-user versions.
fn build(repo: &Path, versions: usize) -> Duration {
    let started = Instant::now();
    let mut files: BTreeMap<RepoPath, Vec<u8>> = mailu_git::repo_template::files()
        .unwrap()
        .into_iter()
        .collect();
    files.insert(
        RepoPath::parse("domains/bench.example/domain.toml").unwrap(),
        b"\n".to_vec(),
    );
    for u in 0..USERS {
        files.insert(
            RepoPath::parse(&format!("domains/bench.example/users/user{u}.toml")).unwrap(),
            user(u, 0),
        );
    }
    let meta = |i: usize| CommitMeta {
        time: Some(T0 + i as i64 * 60),
        ..CommitMeta::new(
            Person {
                name: "bench".into(),
                email: "bench@localhost".into(),
            },
            format!("version {i}"),
        )
    };
    let store = Store::init(repo, &files.into_iter().collect::<Vec<_>>(), &meta(1))
        .unwrap()
        .with_durability(Durability::Filesystem);
    let mut head = store.head().unwrap();
    for i in 2..=versions {
        let u = i % USERS;
        let path = RepoPath::parse(&format!("domains/bench.example/users/user{u}.toml")).unwrap();
        head = store
            .commit(head, &[Edit::write(path, user(u, i))], &meta(i))
            .unwrap()
            .commit;
        // The server repacks as loose objects pile up; so does the build, to stay realistic.
        if i % 2000 == 0 {
            git(repo, &["repack", "-d", "-q"]);
        }
    }
    git(repo, &["repack", "-a", "-d", "-q"]);
    started.elapsed()
}

fn kib(s: Size) -> String {
    format!("{} objects, {} KiB", s.objects, s.bytes / 1024)
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick")
        || std::env::var("MAILU_BENCH_QUICK").as_deref() == Ok("1");
    let versions = if quick { 1_000 } else { 10_000 };
    let base = std::env::var_os("MAILU_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let dir = tempfile::tempdir_in(base).unwrap();
    let ours = dir.path().join("ours.git");
    let built = build(&ours, versions);
    let reference = dir.path().join("git.git");
    let copied = Command::new("cp")
        .arg("-a")
        .arg(&ours)
        .arg(&reference)
        .status()
        .unwrap();
    assert!(copied.success());
    println!(
        "built {versions} versions in {:.1} s ({})",
        built.as_secs_f64(),
        kib(size(&ours))
    );

    // Ours: the server's code path, with the writer lock of a real versioner.
    let store = Store::open(&ours).unwrap();
    let versioner = Versioner::open(
        store,
        &dir.path().join("journal"),
        versioner::Settings::new(Duration::from_secs(3600), Duration::from_secs(3600)),
    )
    .await
    .unwrap();
    let gc = Gc::new(versioner, ours.clone());
    let policy = History {
        keep_last: KEEP,
        keep_days: 0,
        ..History::default()
    };
    let now = T0 + versions as i64 * 60 + 86_400;
    let started = Instant::now();
    let report = gc.run_with(policy, now).await.unwrap();
    let ours_time = started.elapsed();
    git(&ours, &["fsck", "--strict", "--no-dangling"]);
    let left = git(&ours, &["rev-list", "--count", "main"]);

    // Reference: git's own housekeeping on the same repository.
    let git_before = size(&reference);
    let started = Instant::now();
    git(&reference, &["gc", "--prune=now", "-q"]);
    let git_time = started.elapsed();
    let git_after = size(&reference);

    println!(
        "\n| run | time (s) | rewrite (ms) | before | after | commits left |\n|---|---|---|---|---|---|"
    );
    println!(
        "| cleanup, keep {KEEP} | {:.2} | {} | {} | {} | {} |",
        ours_time.as_secs_f64(),
        report.durations.rewrite_ms,
        kib(report.before),
        kib(report.after),
        left.trim()
    );
    println!(
        "| git gc --prune=now | {:.2} | - | {} | {} | {versions} |",
        git_time.as_secs_f64(),
        kib(git_before),
        kib(git_after)
    );
    println!(
        "\ncleanup / git gc: {:.2}; removed versions {:?}; durations {:?}",
        ours_time.as_secs_f64() / git_time.as_secs_f64(),
        report.removed,
        report.durations
    );
}
