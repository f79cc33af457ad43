//! Git over HTTP on a 100,000-user repository: `git clone` through our server versus `git
//! http-backend` (CGI, run by a minimal axum host in this program, so both sides have the same HTTP
//! stack) on the same repository, loose (as written by gix) and packed (`git repack -a -d -b`), in
//! the same run; `git ls-remote` latency; and push-to-version latency (from `git push` starting to
//! it returning, when the version with its rendered files is on main and deployable).
//!
//! Run: `cargo bench --bench githttp` (a few minutes; `MAILU_BENCH_USERS=10000` for a smaller one).

// A benchmark is a test program: a failed step should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use futures_util::StreamExt;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "bench-admin-token-0123456789";
const RUNS: usize = 3;

fn users() -> usize {
    std::env::var("MAILU_BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

/// `git http-backend` behind a minimal CGI host.
async fn cgi(State(root): State<PathBuf>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let mut child = tokio::process::Command::new("git")
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", &root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", parts.uri.path())
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("QUERY_STRING", parts.uri.query().unwrap_or(""))
        .env("CONTENT_TYPE", header("content-type"))
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("GIT_PROTOCOL", header("git-protocol"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    tokio::spawn(async move {
        let mut chunks = body.into_data_stream();
        while let Some(Ok(chunk)) = chunks.next().await {
            if stdin.write_all(&chunk).await.is_err() {
                return;
            }
        }
    });
    let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut builder = Response::builder();
    loop {
        let mut line = String::new();
        out.read_line(&mut line).await.unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap();
        if name.eq_ignore_ascii_case("status") {
            builder = builder.status(value.trim()[..3].parse::<u16>().unwrap());
        } else {
            builder = builder.header(name, value.trim());
        }
    }
    tokio::spawn(async move { child.wait().await });
    let stream = futures_util::stream::unfold(out, |mut out| async {
        let mut buf = vec![0u8; 64 << 10];
        match out.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(Bytes::from(buf)), out))
            }
            Err(e) => Some((Err(e), out)),
        }
    });
    builder.body(Body::from_stream(stream)).unwrap()
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Bench",
            "-c",
            "user.email=bench@example.com",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// The median time of `RUNS` clones of `url` into fresh directories under `scratch`.
fn clone_time(scratch: &Path, url: &str) -> Duration {
    let mut times = Vec::new();
    for n in 0..RUNS {
        let dir = scratch.join(format!("clone-{n}"));
        let t = Instant::now();
        git(
            scratch,
            &["clone", "-q", "--bare", url, dir.to_str().unwrap()],
        );
        times.push(t.elapsed());
        std::fs::remove_dir_all(&dir).unwrap();
    }
    median(times)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let users = users();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let t = Instant::now();
    // Domains of 1,000 users; distinct contents: one blob per user, as in a real repository.
    support::seed(&data, users, 1000, |d, u| {
        format!(
            "password = \"{}\"\nquota_bytes = {}\n",
            support::HASH,
            1_000_000 + d * 1000 + u
        )
    });
    println!("seeded {users} users in {:.1?}", t.elapsed());
    // The bench packs by hand, when it wants to.
    let server = support::start(
        &data,
        &["--repack-loose", "100000000", "--repack-every", "1000h"],
        &[("MAILU_GIT_ADMIN_TOKEN", TOKEN)],
    );
    let host = server.url.trim_start_matches("http://").to_owned();
    let ours = format!("http://x:{TOKEN}@{host}/config.git");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let cgi_addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/{*path}", axum::routing::any(cgi))
        .with_state(data.clone());
    runtime.spawn(async move { axum::serve(listener, app).await });
    let theirs = format!("http://{cgi_addr}/config.git");

    let scratch = tmp.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let repo = data.join("config.git");
    for layout in ["loose", "packed"] {
        if layout == "packed" {
            let t = Instant::now();
            git(&repo, &["repack", "-a", "-d", "-q", "-b"]);
            println!("repack -a -d -b: {:.2?}", t.elapsed());
        }
        // Ours first, then theirs: the first clone of each layout warms the page cache for both.
        let a = clone_time(&scratch, &ours);
        let b = clone_time(&scratch, &theirs);
        println!(
            "clone ({layout}, {users} users, median of {RUNS}): mailu-git {:.2?}, git http-backend {:.2?}, ratio {:.2}",
            a,
            b,
            a.as_secs_f64() / b.as_secs_f64()
        );
    }

    let mut ls = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        git(&scratch, &["ls-remote", &ours]);
        ls.push(t.elapsed());
    }
    println!("ls-remote: median {:.1?} over 20", median(ls));

    let work = scratch.join("work");
    git(&scratch, &["clone", "-q", &ours, work.to_str().unwrap()]);
    let mut pushes = Vec::new();
    for n in 0..RUNS {
        let file = work.join("domains/d0.example/users/u0.toml");
        std::fs::write(
            &file,
            format!(
                "password = \"{}\"\nquota_bytes = {}\n",
                support::HASH,
                5000 + n
            ),
        )
        .unwrap();
        git(&work, &["commit", "-q", "-am", &format!("push {n}")]);
        let t = Instant::now();
        git(&work, &["push", "-q", "origin", "main"]);
        pushes.push(t.elapsed());
        git(&work, &["pull", "-q", "--ff-only"]);
    }
    println!(
        "push to version ({users} users; validate, render what the push changed, commit): median {:.2?} of {RUNS}",
        median(pushes)
    );
    drop(server);
}
