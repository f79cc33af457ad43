//! `mailu-git import` of a Mailu `config-export` document with hashes given: 1,000 domains and
//! 100,000 users (`--quick`: 100 domains, 10,000 users), end to end through the real CLI and the
//! real server (release build): parsing and checking the YAML where the command runs, the upload,
//! the plan under the writer's lock, the journal, and the one version that holds it all (committed
//! after the debounce's quiet period, 2 s, included). Peak memory (VmHWM) of the command and of the
//! server. The reference, measured in the same run: `Store::init` writing the same number of files
//! straight into a new repository as one commit (no parsing, validation, journal or rendering).
//!
//! Run: `cargo bench --bench import` (`-- --quick` for the small run).

// A benchmark is a test program: a failed step should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The peak resident memory of process `pid` so far, in MiB (`VmHWM`).
fn peak_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The document: `domains` domains of `per_domain` users each, every user with a hash, one alias
/// per domain.
fn document(domains: usize, per_domain: usize) -> String {
    let mut out = String::from("domain:\n");
    for d in 0..domains {
        writeln!(
            out,
            "- name: d{d}.example\n  max_users: {}",
            per_domain + 10
        )
        .unwrap();
    }
    out.push_str("user:\n");
    for d in 0..domains {
        for u in 0..per_domain {
            writeln!(
                out,
                "- email: u{u}@d{d}.example\n  password: '{}'\n  displayed_name: User {u}",
                support::HASH
            )
            .unwrap();
        }
    }
    out.push_str("alias:\n");
    for d in 0..domains {
        writeln!(
            out,
            "- email: postmaster@d{d}.example\n  destination: [u0@d{d}.example]"
        )
        .unwrap();
    }
    out
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (domains, per_domain) = if quick { (100, 100) } else { (1000, 100) };
    let users = domains * per_domain;
    let tmp = tempfile::tempdir().unwrap();

    let text = document(domains, per_domain);
    let file = tmp.path().join("mailu.yaml");
    std::fs::write(&file, &text).unwrap();
    println!(
        "import: {domains} domains, {users} users with hashes, {domains} aliases ({:.1} MiB of YAML)",
        text.len() as f64 / 1048576.0
    );

    let data = tmp.path().join("data");
    let server = support::start(&data, &[], &[]);
    let token = server.generated_token.clone().unwrap();
    let server_pid = server_pid(&data);

    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailu-git"))
        .args(["import", "--wait"])
        .arg(&file)
        .env("MAILU_GIT_URL", &server.url)
        .env("MAILU_GIT_TOKEN", &token)
        .env("MAILU_GIT_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut cli_peak: f64 = 0.0;
    let status = loop {
        if let Some(p) = peak_mib(pid) {
            cli_peak = cli_peak.max(p);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "the import failed");
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    let acknowledged_and_versioned = start.elapsed();
    // Past `?wait=true`'s bound the answer is 202: wait for the version itself.
    let committed = wait_committed(&data, start);
    let server_peak = server_pid.and_then(peak_mib).unwrap_or(f64::NAN);
    print!("{out}");

    // The reference: the same number of files written straight into a repository.
    let reference_dir = tmp.path().join("reference");
    let t = Instant::now();
    support::seed(&reference_dir, users, per_domain, support::plain_user);
    let reference = t.elapsed();

    println!(
        "import --wait (parse, upload, plan, journal, one version): {:.2} s; version committed after {:.2} s",
        acknowledged_and_versioned.as_secs_f64(),
        committed.as_secs_f64()
    );
    println!(
        "reference Store::init of {users} user files in one commit: {:.2} s; ratio import/reference {:.1}",
        reference.as_secs_f64(),
        committed.as_secs_f64() / reference.as_secs_f64()
    );
    println!("peak memory: command {cli_peak:.0} MiB, server {server_peak:.0} MiB");
    drop(server);
}

/// The server's pid, from the data directory's lock file.
fn server_pid(data: &Path) -> Option<u32> {
    for name in ["lock", ".lock", "mailu-git.lock"] {
        if let Ok(text) = std::fs::read_to_string(data.join(name))
            && let Some(pid) = text.split_whitespace().find_map(|w| w.parse().ok())
        {
            return Some(pid);
        }
    }
    None
}

/// Time from `start` until main has a second version (bounded: 10 minutes).
fn wait_committed(data: &Path, start: Instant) -> Duration {
    let repo = data.join("config.git");
    for _ in 0..60_000 {
        let count = Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(["rev-list", "--count", "main"])
            .output()
            .unwrap();
        let n: usize = String::from_utf8_lossy(&count.stdout)
            .trim()
            .parse()
            .unwrap_or(0);
        if n >= 2 {
            return start.elapsed();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("no version after 10 minutes");
}
