//! One-user change committed durably, ours (`store::Store::commit`) against git's plumbing
//! (`hash-object -w`, `ls-tree` + `mktree` per changed tree level, `commit-tree`, `update-ref`, all with
//! `core.fsync=committed,reference`), on two layouts:
//! (a) 1,000 domains × 100 users and (b) one domain of 100,000 users, first with loose objects, then
//! after `git gc` (the base packed, the new commits loose).
//!
//! Run: `cargo bench --bench store_commit` (about 3 minutes on 2 cores), or with `--quick` /
//! `MAILU_BENCH_QUICK=1` for a smoke run. `MAILU_BENCH_DIR` picks the file system (default: the
//! temp dir), `MAILU_BENCH_SETTLE_SECS` the pause after `git gc` (default 30), `MAILU_BENCH_ONLY=nested|flat` one layout. Prints one table;
//! figures go to docs/store.md.

// A benchmark is a test program: a failed step should stop it loudly.
#![allow(clippy::unwrap_used)]

use std::{
    io::Write,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use mailu_git::{
    model::RepoPath,
    store::{CommitMeta, Durability, Edit, Person, Store},
};

struct Counts {
    ours: usize,
    git: usize,
    syncfs: usize,
}

struct Layout {
    /// For `MAILU_BENCH_ONLY=nested|flat`.
    key: &'static str,
    name: &'static str,
    domains: usize,
    users: usize,
}

fn user_path(domain: usize, user: usize) -> String {
    format!("domains/d{domain}.example/users/u{user}.toml")
}

fn user_file(domain: usize, user: usize, round: usize) -> Vec<u8> {
    format!(
        "password = \"$2b$12$abcdefghijklmnopqrstuv{domain:06}{user:06}\"\nquota_bytes = {}\nenabled = true\n",
        1_000_000 + round
    )
    .into_bytes()
}

fn meta(summary: &str) -> CommitMeta {
    CommitMeta::new(
        Person {
            name: "bench".into(),
            email: "bench@localhost".into(),
        },
        summary,
    )
}

/// A small deterministic generator, so both sides change the same users.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn build(dir: &Path, layout: &Layout) -> Store {
    let mut files = Vec::with_capacity(layout.domains * (layout.users + 1));
    for d in 0..layout.domains {
        let domain = format!("domains/d{d}.example/domain.toml");
        files.push((
            RepoPath::parse(&domain).unwrap(),
            b"max_users = -1\n".to_vec(),
        ));
        for u in 0..layout.users {
            files.push((
                RepoPath::parse(&user_path(d, u)).unwrap(),
                user_file(d, u, 0),
            ));
        }
    }
    let started = Instant::now();
    let store = Store::init(&dir.join("config.git"), &files, &meta("Import")).unwrap();
    eprintln!(
        "{}: built {} files in {:.1} s",
        layout.name,
        files.len(),
        started.elapsed().as_secs_f64()
    );
    store
}

fn ours(
    store: &Store,
    layout: &Layout,
    n: usize,
    rng: &mut Rng,
    round: &mut usize,
) -> Vec<Duration> {
    let mut head = store.head().unwrap();
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        *round += 1;
        let (d, u) = (rng.below(layout.domains), rng.below(layout.users));
        let edit = Edit::write(
            RepoPath::parse(&user_path(d, u)).unwrap(),
            user_file(d, u, *round),
        );
        let started = Instant::now();
        head = store
            .commit(head, &[edit], &meta("Change one user"))
            .unwrap()
            .commit;
        times.push(started.elapsed());
    }
    times
}

fn git(repo: &Path, args: &[&str], input: Option<&[u8]>) -> String {
    let mut child = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args([
            "-c",
            "core.fsync=committed,reference",
            "-c",
            "core.fsyncMethod=fsync",
        ])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    if let Some(input) = input {
        stdin.write_all(input).unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "git {args:?} failed");
    String::from_utf8(out.stdout).unwrap()
}

/// The same one-file change, made the way a shell script would with git's plumbing.
fn git_plumbing(
    store: &Store,
    layout: &Layout,
    n: usize,
    rng: &mut Rng,
    round: &mut usize,
) -> Vec<Duration> {
    let repo = store.path();
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        *round += 1;
        let (d, u) = (rng.below(layout.domains), rng.below(layout.users));
        let path = user_path(d, u);
        let started = Instant::now();
        let head = git(repo, &["rev-parse", "refs/heads/main"], None);
        let head = head.trim();
        let blob = git(
            repo,
            &["hash-object", "-w", "--stdin"],
            Some(&user_file(d, u, *round)),
        );
        // Walk up from the file: rewrite its entry in each tree on the path, then the parent's.
        let mut parts: Vec<&str> = path.split('/').collect();
        let mut id = blob.trim().to_owned();
        let mut kind = "blob";
        while let Some(name) = parts.pop() {
            let dir = parts.join("/");
            let listing = git(repo, &["ls-tree", &format!("{head}:{dir}")], None);
            let mut entries = String::with_capacity(listing.len());
            for line in listing.lines() {
                if line.ends_with(&format!("\t{name}")) {
                    let mode = if kind == "blob" { "100644" } else { "040000" };
                    entries.push_str(&format!("{mode} {kind} {id}\t{name}\n"));
                } else {
                    entries.push_str(line);
                    entries.push('\n');
                }
            }
            id = git(repo, &["mktree"], Some(entries.as_bytes()))
                .trim()
                .to_owned();
            kind = "tree";
        }
        let commit = git(
            repo,
            &["commit-tree", &id, "-p", head, "-m", "Change one user"],
            None,
        );
        git(
            repo,
            &["update-ref", "refs/heads/main", commit.trim(), head],
            None,
        );
        times.push(started.elapsed());
    }
    times
}

fn stats(times: &mut [Duration]) -> (f64, f64) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = ms(times[times.len() / 2]);
    let p99 = ms(times[((times.len() * 99).div_ceil(100)).saturating_sub(1)]);
    (median, p99)
}

/// Runs one layout in `dir`. The caller removes `dir` only after every layout ran: deleting 100,000
/// files makes new file creation on ext4 slower for a while (it scans recently deleted inodes), which
/// would bill one layout's cleanup to the next one's figures.
fn run(dir: &Path, layout: &Layout, counts: &Counts, settle: Duration) {
    let store = build(dir, layout);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut round = 0;
    for storage in ["loose", "packed"] {
        if storage == "packed" {
            let started = Instant::now();
            git(store.path(), &["gc", "--quiet"], None);
            eprintln!(
                "{}: git gc in {:.1} s",
                layout.name,
                started.elapsed().as_secs_f64()
            );
            // gc just deleted ~100,000 loose objects; see this function's comment.
            std::thread::sleep(settle);
        }
        let (om, op) = stats(&mut ours(&store, layout, counts.ours, &mut rng, &mut round));
        let fs_store = store.clone().with_durability(Durability::Filesystem);
        let (sm, sp) = stats(&mut ours(
            &fs_store,
            layout,
            counts.syncfs,
            &mut rng,
            &mut round,
        ));
        let (gm, gp) = stats(&mut git_plumbing(
            &store, layout, counts.git, &mut rng, &mut round,
        ));
        println!(
            "| {} | {storage} | {om:.2} | {op:.2} | {sm:.2} | {sp:.2} | {gm:.1} | {gp:.1} | {:.2} |",
            layout.name,
            om / gm
        );
    }
    git(
        store.path(),
        &["fsck", "--connectivity-only", "--no-dangling"],
        None,
    );
}

fn main() {
    let quick =
        std::env::args().any(|a| a == "--quick") || std::env::var_os("MAILU_BENCH_QUICK").is_some();
    let counts = if quick {
        Counts {
            ours: 20,
            git: 5,
            syncfs: 5,
        }
    } else {
        Counts {
            ours: 200,
            git: 50,
            syncfs: 50,
        }
    };
    let layouts = [
        Layout {
            key: "nested",
            name: "1,000 domains × 100 users",
            domains: 1000,
            users: 100,
        },
        Layout {
            key: "flat",
            name: "1 domain × 100,000 users",
            domains: 1,
            users: 100_000,
        },
    ];
    println!(
        "one-user change committed durably, ms (ours: {} commits, syncfs: {}, git plumbing: {})\n",
        counts.ours, counts.syncfs, counts.git
    );
    println!(
        "| layout | objects | ours median | ours p99 | ours (syncfs) median | ours (syncfs) p99 | git median | git p99 | ours/git |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let settle = Duration::from_secs(
        std::env::var("MAILU_BENCH_SETTLE_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(if quick { 0 } else { 30 }),
    );
    let dirs: Vec<tempfile::TempDir> = layouts
        .iter()
        .map(|_| match std::env::var_os("MAILU_BENCH_DIR") {
            Some(d) => tempfile::tempdir_in(d).unwrap(),
            None => tempfile::tempdir().unwrap(),
        })
        .collect();
    let only = std::env::var("MAILU_BENCH_ONLY").ok();
    for (layout, dir) in layouts.iter().zip(&dirs) {
        if only.as_deref().is_none_or(|o| o == layout.key) {
            run(dir.path(), layout, &counts, settle);
        }
    }
}
