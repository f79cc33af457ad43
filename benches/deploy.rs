//! Deploy latency on the real Docker engine: from an API write (`?wait=true`, quiet period 200 ms)
//! to the affected container serving the new file, p50 and p95, for a change its reload covers
//! (refresh: `docker exec ... entrypoint refresh`) and one it does not (restart: `docker restart`,
//! the entrypoint fetching at start). Beside each, in the same run: `docker exec <c> true` and
//! `docker restart <c>` on the same container (the engine's own floor for each path).
//!
//! Topology (as `tests/it/worker.rs`): a Docker network; the server (this build's binary mounted
//! into the bookworm image) published on 127.0.0.1; `mailu-git worker` a host process; smtp the
//! only service, on the busybox image (`images/busybox/build.sh`), running busybox `httpd` on the
//! bundle's `/www` (under a shell that exits on SIGTERM), published on a 127.0.0.1 port: "serving the new file" is an HTTP GET of it
//! answering the new content (polled every 2 ms).
//!
//! Run (as root, with the bookworm image built): `cargo bench --bench deploy` (20 rounds each);
//! `--quick`: 5.

// A benchmark is a test program: a failed step should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ADMIN: &str = "bench-admin-token-0123456789";
const WORKER: &str = "bench-worker-token-0123456789";
const BOOKWORM: &str = "mailu-git/bookworm:latest";

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A free port on 127.0.0.1 (bound, then released for Docker to publish on).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The network, the server container, the worker and its containers; all removed when dropped.
struct Stack {
    name: String,
    server: String,
    url: String,
    worker: Option<Child>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(mut w) = self.worker.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
        for label in [
            format!("label=mailu-git-bench={}", self.name),
            format!("label=org.mailu-git.project={}", self.name),
        ] {
            let ids = Command::new("docker")
                .args(["ps", "-aq", "--filter", &label])
                .output()
                .unwrap();
            for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
                let _ = Command::new("docker").args(["rm", "-f", "-v", id]).output();
            }
        }
        let _ = Command::new("docker")
            .args(["network", "rm", &self.name])
            .output();
    }
}

async fn call(method: reqwest::Method, url: &str, token: &str, body: Option<Value>) -> Value {
    let mut req = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    assert!(status.is_success(), "{url}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

async fn healthy(url: &str) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    for _ in 0..300 {
        if let Ok(r) = client.get(format!("{url}/healthz")).send().await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the server did not become healthy");
}

/// The first version number whose report the worker posted, once it is at least `number`.
async fn reported(url: &str, number: u64) {
    for _ in 0..1200 {
        let st = call(
            reqwest::Method::GET,
            &format!("{url}/api/v1/status"),
            ADMIN,
            None,
        )
        .await;
        if st["deploy"]["version"].as_u64() >= Some(number) {
            let services = &st["deploy"]["services"];
            assert!(
                services
                    .as_array()
                    .is_none_or(|s| s.iter().all(|o| o["ok"] == true)),
                "a deploy action failed: {st}"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no report of version {number}");
}

/// Polls `url` every 2 ms (at most 60 s) until it answers `want`; returns when it did.
async fn until_served(client: &reqwest::Client, url: &str, want: &str) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(url).send().await
            && r.status() == 200
            && let Ok(body) = r.text().await
            && body == want
        {
            return Instant::now();
        }
        assert!(Instant::now() < deadline, "{url} never served {want:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn pct(sorted: &[Duration], p: usize) -> Duration {
    sorted[((sorted.len() - 1) * p).div_ceil(100)]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

struct Row {
    what: &'static str,
    samples: Vec<Duration>,
}

impl Row {
    fn new(what: &'static str, mut samples: Vec<Duration>) -> Row {
        samples.sort();
        Row { what, samples }
    }
    fn p50(&self) -> Duration {
        pct(&self.samples, 50)
    }
    fn p95(&self) -> Duration {
        pct(&self.samples, 95)
    }
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 5 } else { 20 };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let built = Command::new(root.join("images/busybox/build.sh"))
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "images/busybox/build.sh: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let busybox = String::from_utf8_lossy(&built.stdout).trim().to_owned();
    assert!(
        Command::new("docker")
            .args(["image", "inspect", BOOKWORM])
            .output()
            .unwrap()
            .status
            .success(),
        "{BOOKWORM} is missing: images/bookworm/build.sh"
    );

    let name = format!("mgit-bench-{}", std::process::id());
    let port = free_port();
    let mut stack = Stack {
        server: format!("{name}-server"),
        url: format!("http://127.0.0.1:{port}"),
        name,
        worker: None,
    };
    docker(&[
        "network",
        "create",
        "--label",
        &format!("mailu-git-bench={}", stack.name),
        &stack.name,
    ]);
    docker(&[
        "run",
        "-d",
        "--name",
        &stack.server,
        "--label",
        &format!("mailu-git-bench={}", stack.name),
        "--network",
        &stack.name,
        "-p",
        &format!("127.0.0.1:{port}:8080"),
        "-v",
        &format!(
            "{}:/usr/local/bin/mailu-git:ro",
            env!("CARGO_BIN_EXE_mailu-git")
        ),
        "-e",
        &format!("MAILU_GIT_ADMIN_TOKEN={ADMIN}"),
        "-e",
        &format!("MAILU_GIT_WORKER_TOKEN={WORKER}"),
        "-e",
        "MAILU_GIT_LOG=warn",
        BOOKWORM,
        "mailu-git",
        "serve",
        "--listen",
        "0.0.0.0:8080",
        "--data",
        "/data",
    ]);
    let url = stack.url.clone();
    healthy(&url).await;
    let api = |path: &str| format!("{url}/api/v1/{path}");

    // The 200 ms quiet period (read at start), then only smtp: httpd on the bundle's /www.
    call(
        reqwest::Method::PATCH,
        &api("settings?wait=true"),
        ADMIN,
        Some(json!({
            "debounce": {"quiet": "200ms"},
            // The template's example domain is never deployed.
            "mail": {"domain": "bench.test", "hostnames": ["mail.bench.test"]},
        })),
    )
    .await;
    docker(&["restart", "-t", "10", &stack.server]);
    healthy(&url).await;
    let services = call(reqwest::Method::GET, &api("service"), ADMIN, None).await;
    for s in services.as_array().unwrap() {
        let n = s["name"].as_str().unwrap();
        if n != "smtp" && s["enabled"] == true {
            call(
                reqwest::Method::PATCH,
                &api(&format!("service/{n}?wait=true")),
                ADMIN,
                Some(json!({"enabled": false})),
            )
            .await;
        }
    }
    let web = free_port();
    call(
        reqwest::Method::PATCH,
        &api("service/smtp?wait=true"),
        ADMIN,
        Some(json!({
            "image": busybox, "pull": "never",
            // httpd as PID 1 would ignore SIGTERM (every stop a 10 s timeout): a shell that
            // exits on it runs it instead.
            "command": ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"],
            "networks": [stack.name], "pre_start": [], "volumes": [], "health": null,
            "ports": [{"host_ip": "127.0.0.1", "host_port": web, "container_port": 8080}],
            "reload": {"command": ["true"], "paths": ["/www/refresh/*"]},
        })),
    )
    .await;
    let put = |path: &'static str, content: String| {
        let url = api(&format!("override/smtp{path}?wait=true"));
        async move {
            let res = reqwest::Client::new()
                .put(url)
                .bearer_auth(ADMIN)
                .body(content)
                .send()
                .await
                .unwrap();
            assert!(res.status().is_success(), "{}", res.text().await.unwrap());
            res.json::<Value>().await.unwrap()["version"]
                .as_u64()
                .unwrap()
        }
    };
    put("/www/refresh/f.txt", "r".into()).await;
    let last = put("/www/restart.txt", "s".into()).await;

    stack.worker = Some(
        Command::new(env!("CARGO_BIN_EXE_mailu-git"))
            .args([
                "worker",
                "--url",
                &url,
                "--project",
                &stack.name,
                "--server-url-for-containers",
                &format!("http://{}:8080", stack.server),
            ])
            .env("MAILU_GIT_WORKER_TOKEN", WORKER)
            .env("MAILU_GIT_LOG", "warn")
            .env_remove("MAILU_GIT_URL")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let container = format!("{}-smtp", stack.name);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let served = |path: &str| format!("http://127.0.0.1:{web}{path}");
    until_served(&client, &served("/restart.txt"), "s").await;
    reported(&url, last).await;

    // The deploys: write, wait for the version, poll the container's httpd.
    let mut rows = Vec::new();
    for (what, path, served_at) in [
        ("refresh", "/www/refresh/f.txt", "/refresh/f.txt"),
        ("restart", "/www/restart.txt", "/restart.txt"),
    ] {
        let (mut total, mut after) = (Vec::new(), Vec::new());
        for i in 0..rounds {
            let content = format!("{what}-{i}");
            let t0 = Instant::now();
            let number = put(path, content.clone()).await;
            let version = Instant::now();
            let done = until_served(&client, &served(served_at), &content).await;
            total.push(done - t0);
            after.push(done - version);
            reported(&url, number).await;
        }
        rows.push((
            what,
            Row::new("write → served", total),
            Row::new("version → served", after),
        ));
    }

    // The engine's floor on the same container.
    let (mut exec, mut restart, mut restart_served) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        docker(&["exec", &container, "true"]);
        exec.push(t.elapsed());
    }
    for _ in 0..rounds {
        let t = Instant::now();
        docker(&["restart", "-t", "10", &container]);
        restart.push(t.elapsed());
        let current = format!("restart-{}", rounds - 1);
        let done = until_served(&client, &served("/restart.txt"), &current).await;
        restart_served.push(done - t);
    }
    let exec = Row::new("docker exec <c> true", exec);
    let restart = Row::new("docker restart <c>", restart);
    let restart_served = Row::new("docker restart <c> → served", restart_served);

    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "{rounds} rounds each; quiet period 200 ms; smtp on {busybox}; load average at the end: {}\n",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("| deploy | measured | p50 ms | p95 ms | p50 vs reference |");
    println!("|---|---|---|---|---|");
    for (what, total, after) in &rows {
        let reference = if *what == "refresh" { &exec } else { &restart };
        for row in [total, after] {
            println!(
                "| {what} | {} | {} | {} | {:.2}× {} |",
                row.what,
                ms(row.p50()),
                ms(row.p95()),
                row.p50().as_secs_f64() / reference.p50().as_secs_f64(),
                reference.what
            );
        }
    }
    for row in [&exec, &restart, &restart_served] {
        println!(
            "| reference | {} | {} | {} | |",
            row.what,
            ms(row.p50()),
            ms(row.p95())
        );
    }
    drop(stack);
}
