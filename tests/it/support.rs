//! Test helpers: a real server on `127.0.0.1:0` with a temporary data directory, and tool checks.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `mailu-git` binary built for these tests.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_mailu-git")
}

/// Whether `tool` can be run. When it cannot, the test is skipped with a printed reason, unless
/// `MAILU_GIT_REQUIRE_ALL=1` (CI), where a missing tool fails the test: a skipped test cannot fail.
pub fn have_tool(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var("MAILU_GIT_REQUIRE_ALL").as_deref() != Ok("1"),
            "{tool} is required (MAILU_GIT_REQUIRE_ALL=1) but cannot be run"
        );
        eprintln!("SKIPPED: {tool} is not installed");
    }
    found
}

/// Runs `git` with the given arguments and returns its stdout; panics with stderr on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("git prints UTF-8")
}

/// Runs `mailu-git` with arguments and returns its output.
pub fn mailu_git(args: &[&str], cwd: &Path) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .env_remove("MAILU_GIT_DATA")
        .env_remove("MAILU_GIT_ADMIN_TOKEN")
        .env_remove("MAILU_GIT_WORKER_TOKEN")
        .env_remove("MAILU_GIT_URL")
        .env_remove("MAILU_GIT_TOKEN")
        .output()
        .expect("mailu-git runs")
}

/// A running `mailu-git serve` on an ephemeral port. Killed when dropped.
pub struct TestServer {
    pub child: Child,
    pub url: String,
    pub data: PathBuf,
    /// What the server printed on stdout before it listened (e.g. a generated admin token).
    pub banner: Vec<String>,
    _tmp: Option<tempfile::TempDir>,
}

impl TestServer {
    /// Starts a server on a new temporary data directory.
    pub fn start() -> TestServer {
        let tmp = tempfile::tempdir().expect("temp dir");
        let data = tmp.path().join("data");
        let mut server = TestServer::start_on(&data);
        server._tmp = Some(tmp);
        server
    }

    /// Starts a server on a new temporary data directory with extra environment variables.
    pub fn start_env(env: &[(&str, &str)]) -> TestServer {
        let tmp = tempfile::tempdir().expect("temp dir");
        let data = tmp.path().join("data");
        let mut server = TestServer::start_with(&data, env);
        server._tmp = Some(tmp);
        server
    }

    /// Starts a server on `data`, prepared beforehand inside `tmp` (offline tokens, say); `tmp`
    /// lives as long as the server.
    pub fn start_in(tmp: tempfile::TempDir, data: &Path) -> TestServer {
        let mut server = TestServer::start_on(data);
        server._tmp = Some(tmp);
        server
    }

    /// Starts a server on `data` (which may exist) and waits until it listens.
    pub fn start_on(data: &Path) -> TestServer {
        TestServer::start_with(data, &[])
    }

    /// Like [`TestServer::start_on`], with more arguments for `serve`.
    pub fn start_with_args(data: &Path, args: &[&str]) -> TestServer {
        TestServer::launch(data, args, &[])
    }

    /// Starts a server on `data` with extra environment variables (and none of the caller's
    /// `MAILU_GIT_*_TOKEN`), and waits until it listens.
    pub fn start_with(data: &Path, env: &[(&str, &str)]) -> TestServer {
        TestServer::launch(data, &[], env)
    }

    /// Starts a server on `data` with more arguments for `serve` and extra environment variables.
    pub fn launch_with(data: &Path, args: &[&str], env: &[(&str, &str)]) -> TestServer {
        TestServer::launch(data, args, env)
    }

    fn launch(data: &Path, args: &[&str], env: &[(&str, &str)]) -> TestServer {
        TestServer::launch_listening(data, "127.0.0.1:0", args, env)
    }

    /// Starts a server on `data` listening on `listen` (a port chosen beforehand, when another
    /// process must know it before the server starts), with more arguments for `serve`.
    pub fn launch_listening(
        data: &Path,
        listen: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> TestServer {
        let mut child = Command::new(bin())
            .args(["serve", "--listen", listen, "--data"])
            .arg(data)
            .args(args)
            .env_remove("MAILU_GIT_ADMIN_TOKEN")
            .env_remove("MAILU_GIT_WORKER_TOKEN")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("server starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut banner = Vec::new();
        let url = loop {
            assert!(
                Instant::now() < deadline,
                "the server did not print its address in time"
            );
            let line = lines
                .next()
                .expect("server exited before listening")
                .expect("readable stdout");
            if let Some(rest) = line.strip_prefix("mailu-git: listening on ") {
                break rest.trim().to_owned();
            }
            banner.push(line);
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        TestServer {
            child,
            url,
            data: data.to_owned(),
            banner,
            _tmp: None,
        }
    }

    /// The admin token the server generated and printed at this start, if it did.
    pub fn generated_admin_token(&self) -> Option<String> {
        self.banner.iter().find_map(|l| {
            l.strip_prefix("mailu-git: admin token (shown once): ")
                .map(|t| t.trim().to_owned())
        })
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait works") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP answer: status, headers, body.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// Sends one request with a bearer token and an optional JSON body.
pub fn request(method: &str, url: &str, token: &str, body: Option<serde_json::Value>) -> Reply {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut req = reqwest::Client::new()
            .request(method.parse().unwrap(), url)
            .bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let response = req.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap();
        Reply {
            status,
            headers,
            body,
        }
    })
}

/// Whether `git <args>` in `dir` succeeds.
pub fn git_ok(dir: &Path, args: &[&str]) -> bool {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}
