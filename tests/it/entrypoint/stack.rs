//! The test stack: a Docker network with the server in a bookworm container (the binary under
//! test mounted read-only), its port published on 127.0.0.1 only; the data directory made by the
//! server's first start on the template, or by `mailu-git init` on a named volume. Everything
//! labelled with the stack's name (and the volume) is removed when it is dropped.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{docker, docker_ok, healthy, logs};
use crate::bundle::{ADMIN, WORKER};
use crate::support::{bin, have_tool, request};

/// A test network with the server in it; removes everything labelled with its name when dropped.
pub(crate) struct Stack {
    pub(crate) name: String,
    pub(crate) server: String,
    pub(crate) bookworm: String,
    /// The named volume holding the server's data directory, when `mailu-git init` made it.
    volume: Option<String>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        let label = format!("label=mailu-git-test={}", self.name);
        let ids = docker(&["ps", "-aq", "--filter", &label]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = docker(&["rm", "-f", "-v", id]);
        }
        let _ = docker(&["network", "rm", &self.name]);
        if let Some(volume) = &self.volume {
            let _ = docker(&["volume", "rm", "-f", volume]);
        }
    }
}

impl Stack {
    /// `None` when Docker or the bookworm image is missing (the test is skipped).
    pub(crate) fn start() -> Option<Stack> {
        Stack::start_on(None)
    }

    /// As `start`, the server published on `port` of 127.0.0.1 when given (so that it keeps its
    /// URL across a restart), else on a port Docker picks.
    pub(crate) fn start_on(port: Option<u16>) -> Option<Stack> {
        let stack = Stack::create(false)?;
        stack.serve(port);
        // The template's example domain is never deployed: the stack gets a name of its own.
        stack.api(
            "PATCH",
            "/settings",
            serde_json::json!({"mail": {"domain": "stack.test", "hostnames": ["mail.stack.test"]}}),
        );
        // The self-signed certificate follows the new host names in a version of its own: wait for
        // it, so no test sees that version land in the middle of its scenario.
        stack.wait_certificate();
        Some(stack)
    }

    /// A stack whose server's data directory (a named volume) was made by the real `mailu-git
    /// init --data /data INIT_ARGS`, run in the server image with `password` on stdin, before
    /// `serve` starts on it. Returns the stack and what init printed.
    pub(crate) fn start_init(init_args: &[&str], password: &str) -> Option<(Stack, String)> {
        let stack = Stack::create(true)?;
        let volume = stack.volume.clone().expect("a volume was asked for");
        docker_ok(&[
            "volume",
            "create",
            "--label",
            &format!("mailu-git-test={}", stack.name),
            &volume,
        ]);
        let mut args = vec![
            "run".to_owned(),
            "--rm".into(),
            "-i".into(),
            "--label".into(),
            format!("mailu-git-test={}", stack.name),
            "-v".into(),
            format!("{volume}:/data"),
            "-v".into(),
            format!("{}:/usr/local/bin/mailu-git:ro", bin()),
            stack.bookworm.clone(),
            "mailu-git".into(),
            "init".into(),
            "--data".into(),
            "/data".into(),
        ];
        args.extend(init_args.iter().map(|a| (*a).to_owned()));
        let mut child = Command::new("docker")
            .args(&args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("docker runs");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("a piped stdin");
            stdin
                .write_all(format!("{password}\n").as_bytes())
                .expect("the password is written");
        }
        let out = child.wait_with_output().expect("docker runs");
        let printed = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "mailu-git init in the server image: {printed}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stack.serve(None);
        // Version 1 already holds the real names and a certificate for them: nothing to wait for
        // but the server (checked here, so a scenario never starts on a certificate in flux).
        stack.wait_certificate();
        Some((stack, printed))
    }

    /// The network and the stack's names; `volume`: whether the data directory is a named volume.
    fn create(volume: bool) -> Option<Stack> {
        if !have_tool("docker") {
            return None;
        }
        let bookworm = crate::image::ensure()?.to_owned();
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "mgit-ep-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let stack = Stack {
            server: format!("{name}-server"),
            volume: volume.then(|| format!("{name}-data")),
            name,
            bookworm,
        };
        docker_ok(&[
            "network",
            "create",
            "--label",
            &format!("mailu-git-test={}", stack.name),
            &stack.name,
        ]);
        Some(stack)
    }

    /// Starts the server's container (on the stack's volume, if any) and waits until it answers.
    fn serve(&self, port: Option<u16>) {
        let mount = format!("{}:/usr/local/bin/mailu-git:ro", bin());
        let data = self.volume.as_ref().map(|v| format!("{v}:/data"));
        let published = format!(
            "127.0.0.1:{}:8080",
            port.map(|p| p.to_string()).unwrap_or_default()
        );
        let label = format!("mailu-git-test={}", self.name);
        let admin = format!("MAILU_GIT_ADMIN_TOKEN={ADMIN}");
        let worker = format!("MAILU_GIT_WORKER_TOKEN={WORKER}");
        let mut args = vec![
            "run",
            "-d",
            "--name",
            &self.server,
            "--label",
            &label,
            "--network",
            &self.name,
            "-p",
            &published,
            "-v",
            &mount,
        ];
        if let Some(data) = &data {
            args.extend(["-v", data]);
        }
        args.extend([
            "-e",
            &admin,
            "-e",
            &worker,
            &self.bookworm,
            "mailu-git",
            "serve",
            "--listen",
            "0.0.0.0:8080",
            "--data",
            "/data",
        ]);
        docker_ok(&args);
        self.wait_healthy();
    }

    /// Waits (bounded, 90 s) until the certificate covers the host names and nothing is pending.
    fn wait_certificate(&self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let reply = request(
                "GET",
                &format!("{}/api/v1/certificate", self.url()),
                ADMIN,
                None,
            );
            let covers = serde_json::from_str::<serde_json::Value>(&reply.body)
                .is_ok_and(|c| c["covers_hostnames"] == true);
            let settled = request("GET", &format!("{}/api/v1/status", self.url()), ADMIN, None);
            let pending = serde_json::from_str::<serde_json::Value>(&settled.body)
                .map_or(1, |s| s["journal"]["pending"].as_u64().unwrap_or(1));
            if covers && pending == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the certificate did not follow the stack's host names: {}",
                reply.body
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The server's URL from the host (its published port changes when it restarts).
    pub(crate) fn url(&self) -> String {
        let port = docker_ok(&["port", &self.server, "8080/tcp"]);
        let addr = port
            .lines()
            .find(|l| l.starts_with("127.0.0.1:"))
            .expect("published on 127.0.0.1");
        format!("http://{addr}")
    }

    pub(crate) fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = docker(&["port", &self.server, "8080/tcp"]).status.success()
                && healthy(&format!("{}/healthz", self.url()));
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the server container did not become healthy: {}",
                logs(&self.server)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub(crate) fn api(&self, method: &str, path: &str, body: serde_json::Value) {
        let reply = request(
            method,
            &format!("{}/api/v1{path}?wait=true", self.url()),
            ADMIN,
            Some(body),
        );
        assert!(reply.status < 300, "{method} {path}: {}", reply.body);
    }

    /// Turns every enabled service off except `keep` (the worker tests run two small ones).
    pub(crate) fn disable_all_but(&self, keep: &[&str]) {
        let services = request(
            "GET",
            &format!("{}/api/v1/service", self.url()),
            ADMIN,
            None,
        );
        for s in services.json().as_array().unwrap() {
            let name = s["name"].as_str().unwrap();
            if !keep.contains(&name) && s["enabled"] == true {
                self.api(
                    "PATCH",
                    &format!("/service/{name}"),
                    serde_json::json!({"enabled": false}),
                );
            }
        }
    }

    pub(crate) fn put_file(&self, service: &str, path: &str, content: &str) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let url = format!("{}/api/v1/override/{service}{path}?wait=true", self.url());
        let status = runtime.block_on(async {
            reqwest::Client::new()
                .request(
                    if content.is_empty() {
                        reqwest::Method::DELETE
                    } else {
                        reqwest::Method::PUT
                    },
                    url,
                )
                .bearer_auth(ADMIN)
                .body(content.to_owned())
                .send()
                .await
                .unwrap()
                .status()
        });
        assert!(status.is_success(), "{status}");
    }
}
