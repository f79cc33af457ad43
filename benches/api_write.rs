//! Acknowledged API writes per second on the real server (`mailu-git serve`, release build), with 1
//! and 16 keep-alive clients, p50/p99 latency; and in the same run the floor: a minimal axum handler
//! that appends one record to a file and fsyncs it per request. Writes hash no password: user updates
//! (`PATCH /api/v1/user/<email>`) on a repository of 1,000 users, or settings patches when
//! `MAILU_BENCH_WRITE=settings`.
//!
//! Run: `cargo bench --bench api_write` (about a minute; `--quick` for 2 s per scenario).

// A benchmark is a test program: a failed step should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/mod.rs"]
mod support;

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const USERS: usize = 1000;

/// What one request is.
type MakeRequest =
    Arc<dyn Fn(&reqwest::Client, usize, usize) -> reqwest::RequestBuilder + Send + Sync>;

struct Figures {
    writes: usize,
    per_sec: f64,
    p50: Duration,
    p99: Duration,
}

/// `clients` keep-alive clients send requests back to back for `duration`.
async fn load(clients: usize, duration: Duration, make: MakeRequest) -> Figures {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let make = make.clone();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap();
            let mut latencies = Vec::new();
            let mut n = 0;
            while start.elapsed() < duration {
                let t = Instant::now();
                let response = make(&client, c, n).send().await.unwrap();
                let status = response.status();
                let body = response.bytes().await.unwrap();
                assert!(
                    status.is_success(),
                    "{status}: {}",
                    String::from_utf8_lossy(&body)
                );
                latencies.push(t.elapsed());
                n += 1;
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed();
    all.sort();
    Figures {
        writes: all.len(),
        per_sec: all.len() as f64 / elapsed.as_secs_f64(),
        p50: all[all.len() / 2],
        p99: all[all.len() * 99 / 100],
    }
}

/// The floor: append one small record and fsync it, per request, nothing else.
async fn floor_server(dir: &Path) -> String {
    use axum::routing::post;
    let file = Arc::new(std::sync::Mutex::new(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("floor.log"))
            .unwrap(),
    ));
    let app = axum::Router::new().route(
        "/append",
        post(move |body: axum::body::Bytes| {
            let file = file.clone();
            async move {
                tokio::task::spawn_blocking(move || {
                    let mut f = file.lock().unwrap();
                    f.write_all(&body).unwrap();
                    f.write_all(b"\n").unwrap();
                    f.sync_data().unwrap();
                })
                .await
                .unwrap();
                "{\"code\":200}"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let duration = Duration::from_secs(if quick { 2 } else { 10 });
    let kind = std::env::var("MAILU_BENCH_WRITE").unwrap_or_else(|_| "user".into());
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    support::seed(&data, USERS, 100, support::plain_user);
    let server = support::start(&data, &[], &[]);
    let admin = server
        .generated_token
        .clone()
        .expect("a first start prints the admin token");
    let floor = floor_server(tmp.path()).await;

    println!(
        "acknowledged writes ({kind}), {}s per scenario\n",
        duration.as_secs()
    );
    println!(
        "| target | clients | writes | writes/s | p50 ms | p99 ms | ours / floor (writes/s) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for clients in [1, 16] {
        let (url, token) = (server.url.clone(), admin.clone());
        let kind = kind.clone();
        let ours: MakeRequest = Arc::new(move |client, c, n| {
            let clients = clients;
            if kind == "settings" {
                client
                    .patch(format!("{url}/api/v1/settings"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({"mail": {"message_size_limit": 1_000_000 + c * 100_000 + n}}))
            } else if kind == "alias" {
                client
                    .post(format!("{url}/api/v1/alias"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({"email": format!("a{c}-{n}-{clients}@d0.example"), "destination": ["u0@d0.example"]}))
            } else {
                let user = (c * 7919 + n) % USERS;
                client
                    .patch(format!(
                        "{url}/api/v1/user/u{}@d{}.example",
                        user % 100,
                        user / 100
                    ))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({"quota_bytes": 1_000_000_000 + n as u64}))
            }
        });
        let floor_url = floor.clone();
        let base: MakeRequest = Arc::new(move |client, c, n| {
            client.post(format!("{floor_url}/append")).body(format!(
                "{{\"client\":{c},\"n\":{n},\"quota_bytes\":1000000000}}"
            ))
        });
        let a = load(clients, duration, ours).await;
        let b = load(clients, duration, base).await;
        println!(
            "| mailu-git | {clients} | {} | {:.0} | {} | {} | {:.2} |",
            a.writes,
            a.per_sec,
            ms(a.p50),
            ms(a.p99),
            a.per_sec / b.per_sec
        );
        println!(
            "| floor (append + fsync) | {clients} | {} | {:.0} | {} | {} | |",
            b.writes,
            b.per_sec,
            ms(b.p50),
            ms(b.p99)
        );
    }
    // User creates that hash a password at the configured cost (`credential_rounds`, 12 by
    // default), 4 clients, while 4 other clients update users: hashing must not stall other writes.
    let (url, token) = (server.url.clone(), admin.clone());
    let creates: MakeRequest = Arc::new(move |client, c, n| {
        client
            .post(format!("{url}/api/v1/user"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"email": format!("new{c}-{n}@d1.example"), "raw_password": "a long enough passphrase"}))
    });
    let (url, token) = (server.url.clone(), admin.clone());
    let updates: MakeRequest = Arc::new(move |client, c, n| {
        client
            .patch(format!(
                "{url}/api/v1/user/u{}@d2.example",
                (c * 31 + n) % 100
            ))
            .bearer_auth(&token)
            .json(&serde_json::json!({"quota_bytes": 2_000_000_000u64 + n as u64}))
    });
    let (a, b) = tokio::join!(load(4, duration, creates), load(4, duration, updates));
    println!(
        "\nmeanwhile: user creates with raw_password (4 clients) and user updates (4 clients), {}s\n",
        duration.as_secs()
    );
    println!("| writes | clients | writes | writes/s | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| user create (password hashed) | 4 | {} | {:.1} | {} | {} |",
        a.writes,
        a.per_sec,
        ms(a.p50),
        ms(a.p99)
    );
    println!(
        "| user update (meanwhile) | 4 | {} | {:.0} | {} | {} |",
        b.writes,
        b.per_sec,
        ms(b.p50),
        ms(b.p99)
    );
}
