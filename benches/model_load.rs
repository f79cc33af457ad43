//! Loading and validating a whole configuration from the real repository: reading every file of the
//! head snapshot (`store::Snapshot::files`) and `model::load`, for 1,000 domains × 100 users and one
//! domain of 100,000 users, with loose objects and after `git gc` (packed). Each measurement runs in a
//! fresh child process so its peak memory (VmHWM) is the load's own. Then a typical install (5 domains,
//! 200 users): load time, and the resident memory of a real `mailu-git serve` holding it.
//!
//! Run: `cargo bench --bench model_load` (about a minute on 2 cores; `--quick` for 2 runs each).
//! Prints a table; figures go to docs/performance.md.

// A benchmark is a test program: a failed step should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mailu_git::model::{self, RepoPath};
use mailu_git::store::{CommitMeta, Person, Rev, Store};

const HASH: &str = "$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS";

fn tree(domains: usize, users: usize) -> Vec<(RepoPath, Vec<u8>)> {
    let mut files = mailu_git::repo_template::files().unwrap();
    for d in 0..domains {
        let domain = format!("d{d}.example");
        let mut put = |path: String, text: String| {
            files.push((RepoPath::parse(&path).unwrap(), text.into_bytes()))
        };
        put(
            format!("domains/{domain}/domain.toml"),
            format!("comment = \"domain {d}\"\nalternatives = [\"alt{d}.example\"]\n"),
        );
        for u in 0..users {
            put(
                format!("domains/{domain}/users/user{u}.toml"),
                format!(
                    "# user {u}\npassword = \"{HASH}\"\ndisplayed_name = \"User {u}\"\nquota_bytes = 2000000000\n"
                ),
            );
        }
        put(
            format!("domains/{domain}/aliases/postmaster.toml"),
            format!("destination = [\"user0@{domain}\", \"someone@external.example\"]\n"),
        );
    }
    files
}

fn meta() -> CommitMeta {
    CommitMeta::new(
        Person {
            name: "bench".into(),
            email: "bench@localhost".into(),
        },
        "bench tree",
    )
}

/// Child mode: load the head of `repo` once, print `millis peak_kib files`.
fn child(repo: &Path) {
    let start = Instant::now();
    let store = Store::open(repo).unwrap();
    let files = store.snapshot(&Rev::Head).unwrap().files().unwrap();
    let n = files.len();
    let config = model::load(&files).expect("the generated tree is valid");
    let took = start.elapsed();
    let peak = status_kib(std::process::id(), "VmHWM:");
    println!("{:.1} {peak} {n}", took.as_secs_f64() * 1000.0);
    drop(config);
}

fn status_kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn measure(repo: &Path, runs: usize) -> (f64, f64, u64, usize) {
    let exe = std::env::current_exe().unwrap();
    let mut times = Vec::new();
    let mut peak = 0;
    let mut files = 0;
    for _ in 0..runs {
        let out = Command::new(&exe)
            .arg("--child")
            .arg(repo)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let parts: Vec<&str> = text.split_whitespace().collect();
        times.push(parts[0].parse::<f64>().unwrap());
        peak = peak.max(parts[1].parse().unwrap());
        files = parts[2].parse().unwrap();
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[times.len() - 1], peak, files)
}

fn gc(repo: &Path) {
    let status = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["gc", "--quiet"])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Starts the real server on a data dir holding `files`, and reads its resident memory once healthy.
fn server_rss(tmp: &Path, files: &[(RepoPath, Vec<u8>)]) -> (u64, Duration) {
    let data = tmp.join("data");
    std::fs::create_dir_all(&data).unwrap();
    Store::init(&data.join("config.git"), files, &meta()).unwrap();
    let start = Instant::now();
    let mut server = Command::new(env!("CARGO_BIN_EXE_mailu-git"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    // The server loads and validates the configuration before it listens.
    while let Some(Ok(line)) = lines.next() {
        if line.starts_with("mailu-git: listening on") {
            break;
        }
    }
    let ready = start.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    let rss = status_kib(server.id(), "VmRSS:");
    let _ = server.kill();
    let _ = server.wait();
    (rss, ready)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(Path::new(&args[i + 1]));
        return;
    }
    let runs = if args.iter().any(|a| a == "--quick") {
        2
    } else {
        5
    };
    println!("whole snapshot read + model::load, {runs} runs each in fresh processes\n");
    println!("| tree | files | objects | median ms | max ms | peak memory MiB |");
    println!("|---|---|---|---|---|---|");
    for (name, domains, users) in [
        ("1,000 domains × 100 users", 1000, 100),
        ("1 domain × 100,000 users", 1, 100_000),
        ("typical: 5 domains × 40 users", 5, 40),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("config.git");
        Store::init(&repo, &tree(domains, users), &meta()).unwrap();
        for objects in ["loose", "packed"] {
            if objects == "packed" {
                gc(&repo);
            }
            let (median, max, peak, files) = measure(&repo, runs);
            println!(
                "| {name} | {files} | {objects} | {median:.1} | {max:.1} | {:.1} |",
                peak as f64 / 1024.0
            );
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let (rss, ready) = server_rss(tmp.path(), &tree(5, 40));
    println!(
        "\n`mailu-git serve` on a typical install (5 domains, 200 users): RSS {:.1} MiB, listening {:.0} ms after start",
        rss as f64 / 1024.0,
        ready.as_secs_f64() * 1000.0
    );
}
