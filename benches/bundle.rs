//! Bundles on the real server (`mailu-git serve`, release build): `GET /api/v1/service/smtp/bundle`
//! answered 200 (the archive, from the cache) and 304 (`If-None-Match` naming the current tag) with 16
//! keep-alive clients, requests per second and p50/p99 latency; the reference in the same run is the
//! same load on `GET /healthz`. The repository: the template plus 1,000 domains of 2 users each. The
//! first request's build of the smtp bundle (cold cache) is timed once.
//!
//! Run: `cargo bench --bench bundle` (about a minute; `--quick` for 2 s per scenario).

// A benchmark is a test program: a failed step should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

const DOMAINS: usize = 1000;
const ADMIN: &str = "bench-admin-token-0123456789";
const WORKER: &str = "bench-worker-token-0123456789";
const CLIENTS: usize = 16;

type MakeRequest = Arc<dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync>;

struct Figures {
    requests: usize,
    per_sec: f64,
    p50: Duration,
    p99: Duration,
}

/// `CLIENTS` keep-alive clients send requests back to back for `duration`; each answer must have
/// status `expect`.
async fn load(duration: Duration, expect: u16, make: MakeRequest) -> Figures {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let make = make.clone();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap();
            let mut latencies = Vec::new();
            while start.elapsed() < duration {
                let t = Instant::now();
                let response = make(&client).send().await.unwrap();
                let status = response.status().as_u16();
                let body = response.bytes().await.unwrap();
                assert_eq!(status, expect, "{}", String::from_utf8_lossy(&body));
                latencies.push(t.elapsed());
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
        requests: all.len(),
        per_sec: all.len() as f64 / elapsed.as_secs_f64(),
        p50: all[all.len() / 2],
        p99: all[all.len() * 99 / 100],
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let duration = Duration::from_secs(if quick { 2 } else { 10 });
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    support::seed(&data, DOMAINS * 2, 2, support::plain_user);
    let server = support::start(
        &data,
        &[],
        &[
            ("MAILU_GIT_ADMIN_TOKEN", ADMIN),
            ("MAILU_GIT_WORKER_TOKEN", WORKER),
        ],
    );
    // The start-time certificate is written as a change, and becomes a version after the quiet
    // period: smtp's tag moves then. Read the tag after that.
    support::settled(&server.url, ADMIN).await;
    let client = reqwest::Client::new();
    let token = client
        .post(format!("{}/api/v1/service/smtp/token", server.url))
        .bearer_auth(WORKER)
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bundle = format!("{}/api/v1/service/smtp/bundle", server.url);
    let t = Instant::now();
    let first = client
        .get(&bundle)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let size = first.bytes().await.unwrap().len();
    let cold = t.elapsed();

    let (u, tk) = (bundle.clone(), token.clone());
    let full: MakeRequest = Arc::new(move |c| c.get(&u).bearer_auth(&tk));
    let (u, tk, tag) = (bundle.clone(), token.clone(), etag.clone());
    let cached: MakeRequest =
        Arc::new(move |c| c.get(&u).bearer_auth(&tk).header("if-none-match", &tag));
    let health = format!("{}/healthz", server.url);
    let reference: MakeRequest = Arc::new(move |c| c.get(&health));

    let a = load(duration, 200, full).await;
    let b = load(duration, 304, cached).await;
    let r = load(duration, 200, reference).await;
    println!(
        "smtp bundle of {DOMAINS} domains: {size} bytes; first request (cold cache, builds it): {} ms\n",
        ms(cold)
    );
    println!(
        "{CLIENTS} keep-alive clients, {}s per scenario\n",
        duration.as_secs()
    );
    println!("| request | answers | req/s | p50 ms | p99 ms | req/s vs /healthz |");
    println!("|---|---|---|---|---|---|");
    for (name, f) in [
        ("bundle, 200 (archive from the cache)", &a),
        ("bundle, 304 (If-None-Match)", &b),
        ("/healthz (reference)", &r),
    ] {
        println!(
            "| {name} | {} | {:.0} | {} | {} | {:.2} |",
            f.requests,
            f.per_sec,
            ms(f.p50),
            ms(f.p99),
            f.per_sec / r.per_sec
        );
    }
}
