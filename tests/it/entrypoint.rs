//! The container entrypoint (`entrypoint/mailu-entrypoint`) on the real Docker engine, under busybox
//! (`images/busybox/build.sh`) and under the bookworm image's dash and GNU tools.
//!
//! Topology: a test network; the server runs in a bookworm container with the built binary mounted
//! read-only, its port published on 127.0.0.1 only for the test to drive the API; service containers
//! reach it by container name. Every container and the network carry a label unique to the test and
//! are removed by a guard's `Drop`, whatever happens.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::bundle::WORKER;
use crate::support::{have_tool, request};

mod stack;

pub(crate) use stack::Stack;

const SCRIPT: &str = "/usr/local/bin/mailu-entrypoint";

pub(crate) fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs")
}

pub(crate) fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The busybox image, built once per test process; `None` (skip) when a prerequisite is missing.
pub(crate) fn busybox() -> Option<&'static str> {
    static IMAGE: OnceLock<Result<String, String>> = OnceLock::new();
    let found = IMAGE.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("images/busybox/build.sh");
        let out = Command::new(&script)
            .output()
            .expect("the build script runs");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        match out.status.code() {
            Some(0) => Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned()),
            Some(3) => Err(stderr),
            _ => panic!("images/busybox/build.sh failed: {stderr}"),
        }
    });
    match found {
        Ok(image) => Some(image),
        Err(why) => {
            assert!(
                std::env::var("MAILU_GIT_REQUIRE_ALL").as_deref() != Ok("1"),
                "the busybox image is required (MAILU_GIT_REQUIRE_ALL=1): {why}"
            );
            eprintln!("SKIPPED: the busybox image cannot be built: {why}");
            None
        }
    }
}

impl Stack {
    fn token(&self, service: &str) -> String {
        let reply = request(
            "POST",
            &format!("{}/api/v1/service/{service}/token", self.url()),
            WORKER,
            None,
        );
        reply.json()["token"].as_str().unwrap().to_owned()
    }

    /// Starts a service container of `image` whose command is `sleep 3600` behind the entrypoint.
    fn service(&self, image: &str, service: &str, suffix: &str, env: &[&str]) -> String {
        let name = format!("{}-{service}-{suffix}", self.name);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("entrypoint/mailu-entrypoint");
        let mount = format!("{}:{SCRIPT}:ro", script.display());
        let mut args = vec![
            "run".to_owned(),
            "-d".into(),
            "--name".into(),
            name.clone(),
            "--label".into(),
            format!("mailu-git-test={}", self.name),
            "--network".into(),
            self.name.clone(),
            "-v".into(),
            mount,
            "-e".into(),
            format!("MAILU_GIT_URL=http://{}:8080", self.server),
            "-e".into(),
            format!("MAILU_GIT_SERVICE={service}"),
            "-e".into(),
            format!("MAILU_GIT_TOKEN={}", self.token(service)),
        ];
        for e in env {
            args.extend(["-e".to_owned(), (*e).to_owned()]);
        }
        args.extend([
            image.to_owned(),
            "sh".into(),
            SCRIPT.into(),
            "start".into(),
            "sleep".into(),
            "3600".into(),
        ]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        docker_ok(&args);
        name
    }
}

/// Whether `url` answers 200 within a second.
pub(crate) fn healthy(url: &str) -> bool {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()
            .unwrap();
        matches!(client.get(url).send().await, Ok(r) if r.status() == 200)
    })
}

pub(crate) fn logs(container: &str) -> String {
    let out = docker(&["logs", container]);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `sh -c script` in the container: (exit code, stdout, stderr).
pub(crate) fn exec(container: &str, script: &str) -> (i32, String, String) {
    let out = docker(&["exec", container, "sh", "-c", script]);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Waits until the container's PID 1 is the command (`sleep`): the entrypoint exec'd it.
fn wait_running(container: &str, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (code, out, _) = exec(container, "tr '\\0' ' ' </proc/1/cmdline");
        if code == 0 && out.starts_with("sleep 3600") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{container} did not exec its command; PID 1 is `{out}`; log:\n{}",
            logs(container)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The service the tests deploy: smtp with test pre-start and reload commands (which record that
/// they ran; the reload exits 7 when `hello.txt` says "broken", so its code is seen) and an owner
/// and mode for `/etc/test/`.
fn prepare(stack: &Stack) {
    stack.api(
        "PATCH",
        "/service/smtp",
        json!({
            "pre_start": ["echo pre-start >> /tmp/pre-start-ran"],
            "reload": {"command": ["sh", "-c", "cat /etc/test/hello.txt > /tmp/reloaded; \
                                                { cat /etc/test/hello.txt; echo; } >> /tmp/reload-log; \
                                                if grep -q broken /etc/test/hello.txt; then exit 7; fi"],
                       "paths": ["/etc/**"]},
            "files": [{"path": "/etc/test/*", "owner": "mail:mail", "mode": "0640"}],
        }),
    );
    stack.put_file("smtp", "/etc/test/hello.txt", "aaaa");
    stack.put_file("smtp", "/etc/test/gone.txt", "to be removed");
}

fn start_refresh_and_removal(image: &str) {
    let Some(stack) = Stack::start() else {
        return;
    };
    prepare(&stack);
    let c = stack.service(image, "smtp", "a", &[]);
    wait_running(&c, 90);
    let stat = |p: &str| exec(&c, &format!("stat -c '%a %U:%G %s' {p}")).1;
    assert_eq!(stat("/etc/test/hello.txt"), "640 mail:mail 4");
    assert_eq!(exec(&c, "cat /etc/test/hello.txt").1, "aaaa");
    assert!(stat("/etc/postfix/main.cf").starts_with("644 root:root "));
    assert_eq!(exec(&c, "cat /tmp/pre-start-ran").1, "pre-start");
    let mtime = |p: &str| {
        exec(&c, &format!("stat -c %Y {p}"))
            .1
            .parse::<i64>()
            .unwrap()
    };
    let before = mtime("/etc/test/hello.txt");

    // Same size, most likely the same second: the new file still gets a later mtime.
    stack.put_file("smtp", "/etc/test/hello.txt", "bbbb");
    stack.put_file("smtp", "/etc/test/gone.txt", "");
    let (code, _, err) = exec(&c, &format!("sh {SCRIPT} refresh"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(exec(&c, "cat /etc/test/hello.txt").1, "bbbb");
    assert_eq!(
        exec(&c, "cat /tmp/reloaded").1,
        "bbbb",
        "reload after the write"
    );
    assert!(mtime("/etc/test/hello.txt") > before, "{err}");
    assert_eq!(
        exec(&c, "test -e /etc/test/gone.txt").0,
        1,
        "removed: {err}"
    );
    assert!(err.contains("removed /etc/test/gone.txt"), "{err}");
    assert_eq!(
        exec(&c, "ls /etc/test | grep -c mailu-new").1,
        "0",
        "nothing half-written stays"
    );

    // Nothing changed: 304, no reload, exit 0.
    let (code, _, err) = exec(&c, &format!("rm /tmp/reloaded; sh {SCRIPT} refresh"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        exec(&c, "test -e /tmp/reloaded").0,
        1,
        "no reload without a change"
    );

    // A reload that fails: its exit code, and the previous files back in place (reloaded again).
    stack.put_file("smtp", "/etc/test/hello.txt", "broken");
    let (code, _, err) = exec(&c, &format!("sh {SCRIPT} refresh"));
    assert_eq!(code, 7, "the reload's exit code: {err}");
    assert_eq!(exec(&c, "cat /etc/test/hello.txt").1, "bbbb", "{err}");
    assert_eq!(exec(&c, "tail -n 2 /tmp/reload-log").1, "broken\nbbbb");
    assert!(err.contains("refused"), "{err}");
    assert_eq!(stat("/etc/test/hello.txt"), "640 mail:mail 4");

    // This service's token does not open another service's bundle.
    let (code, _, err) = exec(&c, &format!("MAILU_GIT_SERVICE=imap sh {SCRIPT} refresh"));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("403"), "{err}");
}

#[test]
fn start_writes_files_and_refresh_reloads_under_busybox() {
    if let Some(image) = busybox() {
        start_refresh_and_removal(image);
    }
}

#[test]
fn start_writes_files_and_refresh_reloads_under_dash_and_gnu_tools() {
    if !have_tool("docker") {
        return;
    }
    if let Some(image) = crate::image::ensure() {
        start_refresh_and_removal(image);
    }
}

#[test]
fn without_the_server_containers_start_from_their_kept_bundle_or_wait_for_it() {
    let Some(image) = busybox() else {
        return;
    };
    let Some(stack) = Stack::start() else {
        return;
    };
    prepare(&stack);
    let env = ["MAILU_GIT_OFFLINE_AFTER=2", "MAILU_GIT_BACKOFF_MAX=2"];
    let kept = stack.service(image, "smtp", "kept", &env);
    wait_running(&kept, 90);
    docker_ok(&["stop", "-t", "10", &stack.server]);

    // With a kept bundle: a restart starts from it once the server stayed away.
    docker_ok(&["restart", "-t", "1", &kept]);
    wait_running(&kept, 60);
    assert!(
        logs(&kept).contains("starting from the kept bundle"),
        "{}",
        logs(&kept)
    );
    assert_eq!(exec(&kept, "cat /etc/test/hello.txt").1, "aaaa");

    // Without one: it keeps trying, and starts when the server is back.
    docker_ok(&["start", &stack.server]);
    stack.wait_healthy();
    let token = stack.token("smtp");
    docker_ok(&["stop", "-t", "10", &stack.server]);
    let name = format!("{}-smtp-new", stack.name);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("entrypoint/mailu-entrypoint");
    docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--label",
        &format!("mailu-git-test={}", stack.name),
        "--network",
        &stack.name,
        "-v",
        &format!("{}:{SCRIPT}:ro", script.display()),
        "-e",
        &format!("MAILU_GIT_URL=http://{}:8080", stack.server),
        "-e",
        "MAILU_GIT_SERVICE=smtp",
        "-e",
        &format!("MAILU_GIT_TOKEN={token}"),
        "-e",
        "MAILU_GIT_BACKOFF_MAX=2",
        image,
        "sh",
        SCRIPT,
        "start",
        "sleep",
        "3600",
    ]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !logs(&name).contains("again in") {
        assert!(Instant::now() < deadline, "{}", logs(&name));
        std::thread::sleep(Duration::from_millis(250));
    }
    let (_, pid1, _) = exec(&name, "tr '\\0' ' ' </proc/1/cmdline");
    assert!(!pid1.starts_with("sleep"), "not started without a bundle");
    docker_ok(&["start", &stack.server]);
    wait_running(&name, 90);
    assert_eq!(exec(&name, "cat /etc/test/hello.txt").1, "aaaa");
}

#[test]
fn watch_mode_follows_changes_without_a_worker() {
    let Some(image) = busybox() else {
        return;
    };
    let Some(stack) = Stack::start() else {
        return;
    };
    prepare(&stack);
    let c = stack.service(
        image,
        "smtp",
        "watch",
        &["MAILU_GIT_WATCH=1", "MAILU_GIT_POLL_TIMEOUT=20"],
    );
    wait_running(&c, 90);
    stack.put_file("smtp", "/etc/test/hello.txt", "cccc");
    let deadline = Instant::now() + Duration::from_secs(60);
    while exec(&c, "cat /etc/test/hello.txt").1 != "cccc" {
        assert!(
            Instant::now() < deadline,
            "watch did not refresh: {}",
            logs(&c)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // The reload ran after the write.
    let deadline = Instant::now() + Duration::from_secs(30);
    while exec(&c, "cat /tmp/reloaded").1 != "cccc" {
        assert!(Instant::now() < deadline, "no reload: {}", logs(&c));
        std::thread::sleep(Duration::from_millis(250));
    }

    // A refused bundle (its reload fails): the old file goes back, and watch waits for a newer
    // bundle instead of fetching the refused one again and again.
    stack.put_file("smtp", "/etc/test/hello.txt", "broken");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !logs(&c).contains("refused") {
        assert!(Instant::now() < deadline, "not refused: {}", logs(&c));
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(exec(&c, "cat /etc/test/hello.txt").1, "cccc");
    stack.put_file("smtp", "/etc/test/hello.txt", "dddd");
    let deadline = Instant::now() + Duration::from_secs(60);
    while exec(&c, "cat /tmp/reloaded").1 != "dddd" {
        assert!(Instant::now() < deadline, "no newer bundle: {}", logs(&c));
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(exec(&c, "cat /etc/test/hello.txt").1, "dddd");
    assert_eq!(
        logs(&c).matches(" refused").count(),
        1,
        "the refused bundle was applied once: {}",
        logs(&c)
    );
}

#[test]
fn the_entrypoint_passes_shellcheck_and_parses_under_dash_and_busybox() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("entrypoint/mailu-entrypoint");
    if have_tool("shellcheck") {
        let out = Command::new("shellcheck")
            .arg("--shell=sh")
            .arg(&script)
            .arg(root.join("images/busybox/build.sh"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    for shell in [&["dash", "-n"][..], &["busybox", "sh", "-n"][..]] {
        if !have_tool(shell[0]) {
            continue;
        }
        let out = Command::new(shell[0])
            .args(&shell[1..])
            .arg(&script)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{shell:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
