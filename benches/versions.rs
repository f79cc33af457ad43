//! Revert latency and history paging on a repository of 10,000 versions, against git's plumbing.
//!
//! The repository (the template, its generated secrets and rendered files, 1,000 users) gets 10,000
//! versions of one user change each, committed through `store::Store::commit` (not the API), then
//! is packed (`git repack -ad`, as the server's repack does past 2,000 loose objects). The real
//! server (`mailu-git serve`, release build) then answers, one request at a time:
//! - `POST /api/v1/version/<recent>/revert` (5 versions back) and `.../<old>/revert` (version 2,
//!   the far end of the first-parent chain); each revert is itself a new version;
//! - `GET /api/v1/version?limit=50` (the first page; the total walks the whole chain).
//!
//! And, on a copy of the same repository, the reference: `git read-tree` of the same tree into a
//! scratch index + `git commit-tree` + `git update-ref` (with the repository's
//! `core.fsync=committed,reference`), as a ratio in the same run.
//!
//! Run: `cargo bench --bench versions` (about 2 minutes on 2 cores); `MAILU_BENCH_QUICK=1` builds
//! 1,000 versions instead. `MAILU_BENCH_DIR` picks the file system. Figures go to
//! docs/performance.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use mailu_git::model::RepoPath;
use mailu_git::store::{CommitMeta, Edit, Person, Store};

use support::HASH;
const TOKEN: &str = "bench-admin-token-0123456789abcdef";
const ROUNDS: usize = 20;

fn meta(summary: &str) -> CommitMeta {
    CommitMeta {
        renderer: Some(mailu_git::render::stamp().to_owned()),
        ..CommitMeta::new(
            Person {
                name: "bench".into(),
                email: "bench@localhost".into(),
            },
            summary,
        )
    }
}

fn user(d: usize, u: usize) -> RepoPath {
    RepoPath::parse(&format!("domains/d{d}.example/users/u{u}.toml")).unwrap()
}

/// The first version: template, generated secrets, 1,000 users, rendered files.
fn seed(data: &Path) -> Store {
    std::fs::create_dir_all(data).unwrap();
    let keyring = mailu_git::secret::Keyring::generate(&data.join("secret.key")).unwrap();
    let mut files: std::collections::BTreeMap<RepoPath, Vec<u8>> =
        mailu_git::repo_template::files()
            .unwrap()
            .into_iter()
            .collect();
    for e in mailu_git::server::generated_secrets(&keyring, |_| false).unwrap() {
        files.insert(e.path, e.content.unwrap());
    }
    for d in 0..10 {
        files.insert(
            RepoPath::parse(&format!("domains/d{d}.example/domain.toml")).unwrap(),
            Vec::new(),
        );
        for u in 0..100 {
            files.insert(user(d, u), format!("password = \"{HASH}\"\n").into_bytes());
        }
    }
    let config = mailu_git::model::load(&files).unwrap();
    let rendered =
        mailu_git::render::render(&config, &files, mailu_git::render::Scope::Full).unwrap();
    for e in rendered.edits {
        if let Some(c) = e.content {
            files.insert(e.path, c);
        }
    }
    let files: Vec<_> = files.into_iter().collect();
    Store::init(&data.join("config.git"), &files, &meta("seed")).unwrap()
}

fn git(repo: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let quick =
        std::env::var("MAILU_BENCH_QUICK").is_ok() || std::env::args().any(|a| a == "--quick");
    let versions = if quick { 1_000 } else { 10_000 };
    let base = std::env::var("MAILU_BENCH_DIR").map_or_else(|_| std::env::temp_dir(), Into::into);
    let tmp = tempfile::tempdir_in(base).unwrap();
    let data = tmp.path().join("data");
    let store = seed(&data);
    let repo = data.join("config.git");
    let t = Instant::now();
    let mut head = store.head().unwrap();
    for n in 0..versions - 1 {
        let edit = Edit::write(
            user(n % 10, (n / 10) % 100),
            format!("password = \"{HASH}\"\nquota_bytes = {}\n", 1_000_000 + n),
        );
        head = store
            .commit(head, &[edit], &meta(&format!("change {n}")))
            .unwrap()
            .commit;
    }
    let built = t.elapsed();
    git(&repo, &["repack", "-adq"], &[]);
    git(&repo, &["prune-packed"], &[]);
    println!(
        "built {versions} versions through the store in {:.1} s, packed",
        built.as_secs_f64()
    );
    // The reference works on a copy, so the server's main is never moved under it.
    let copy = tmp.path().join("copy.git");
    let status = Command::new("cp")
        .args(["-a", repo.to_str().unwrap(), copy.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());

    let server = support::start(&data, &[], &[("MAILU_GIT_ADMIN_TOKEN", TOKEN)]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let send = |method: reqwest::Method, path: &str| {
        runtime.block_on(async {
            let t = Instant::now();
            let r = client
                .request(method, format!("{}/api/v1/{path}", server.url))
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body = r.text().await.unwrap();
            assert!(status.is_success(), "{status}: {body}");
            t.elapsed()
        })
    };
    let post = |path: &str| send(reqwest::Method::POST, path);
    let get = |path: &str| send(reqwest::Method::GET, path);
    // Warm up the server's caches once.
    get("version?limit=1");
    let mut recent = Vec::new();
    let mut old = Vec::new();
    let mut page = Vec::new();
    for i in 0..ROUNDS {
        let newest = versions as u64 + (2 * i) as u64;
        recent.push(post(&format!("version/{}/revert", newest - 5)));
        old.push(post("version/2/revert"));
        page.push(get("version?limit=50"));
    }

    // The reference: the same kind of move with git's plumbing, on the copy.
    let v2 = git(
        &copy,
        &["rev-list", "--reverse", "--first-parent", "main"],
        &[],
    )
    .lines()
    .nth(1)
    .unwrap()
    .to_owned();
    let index = tmp.path().join("scratch-index");
    let index = index.to_str().unwrap();
    let mut plumbing = Vec::new();
    for i in 0..ROUNDS {
        let t = Instant::now();
        git(
            &copy,
            &["read-tree", &format!("{v2}^{{tree}}")],
            &[("GIT_INDEX_FILE", index)],
        );
        let tree = git(&copy, &["write-tree"], &[("GIT_INDEX_FILE", index)]);
        let old_head = git(&copy, &["rev-parse", "main"], &[]);
        let commit = git(
            &copy,
            &[
                "-c",
                "user.name=bench",
                "-c",
                "user.email=bench@localhost",
                "commit-tree",
                "-p",
                old_head.trim(),
                "-m",
                &format!("Revert to version 2 ({i})"),
                tree.trim(),
            ],
            &[],
        );
        git(
            &copy,
            &[
                "update-ref",
                "refs/heads/main",
                commit.trim(),
                old_head.trim(),
            ],
            &[],
        );
        plumbing.push(t.elapsed());
    }
    let (recent, old, page, plumbing) =
        (median(recent), median(old), median(page), median(plumbing));
    let ratio = |d: Duration| d.as_secs_f64() / plumbing.as_secs_f64();
    println!("\n{versions} versions, median of {ROUNDS} (each revert adds a version)");
    println!("| operation | median | vs git plumbing |");
    println!("|---|---|---|");
    println!(
        "| POST revert to a recent version (5 back) | {} | {:.2}× |",
        ms(recent),
        ratio(recent)
    );
    println!(
        "| POST revert to version 2 (oldest) | {} | {:.2}× |",
        ms(old),
        ratio(old)
    );
    println!(
        "| GET /version?limit=50 (total counted) | {} | {:.2}× |",
        ms(page),
        ratio(page)
    );
    println!(
        "| git read-tree + write-tree + commit-tree + update-ref | {} | 1.00× |",
        ms(plumbing)
    );
}
