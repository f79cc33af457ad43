//! `mailu-git worker` on the real engine when things go away and come back (`worker.rs`'s stack: the
//! server in a container, services reduced to the bookworm image running `sleep`):
//!
//! - a secret environment value reaches the service's process, never its container configuration;
//! - a container that missed a version while the worker was stopped is brought up to date by the
//!   next worker's first pass (it reads which bundle each container holds); one removed behind
//!   the worker's back is created again;
//! - the Docker connection cut (a proxy on the socket, `docker_proxy.rs`; never the shared engine)
//!   is reported, and after it comes back a write still reaches its container;
//! - the server stopped and started again: the worker (in a container, as deployed) keeps running
//!   and catches up.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::bundle::{ADMIN, WORKER};
use crate::docker_proxy::Proxy;
use crate::entrypoint::{Stack, docker, exec, logs};
use crate::support::{bin, request};
use crate::worker::{Worker, containers, status, wait_for};

/// Turns every service off but `services`, which run the bookworm image's `sleep` on the test
/// network, with a reload for `/etc/**` and the extra fields of each.
fn only(stack: &Stack, services: &[(&str, serde_json::Value)]) {
    let all = request(
        "GET",
        &format!("{}/api/v1/service", stack.url()),
        ADMIN,
        None,
    );
    for s in all.json().as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        if !services.iter().any(|(n, _)| *n == name) && s["enabled"] == true {
            stack.api(
                "PATCH",
                &format!("/service/{name}"),
                json!({"enabled": false}),
            );
        }
    }
    for (name, extra) in services {
        let mut patch = json!({
            "enabled": true,
            "image": stack.bookworm,
            "pull": "never",
            "command": ["sleep", "3600"],
            "networks": [stack.name],
            "pre_start": [],
            "ports": [],
            "volumes": [],
            "health": null,
            "reload": {"command": ["true"], "paths": ["/etc/**"]},
        });
        for (k, v) in extra.as_object().unwrap() {
            patch[k] = v.clone();
        }
        stack.api("PATCH", &format!("/service/{name}"), patch);
    }
}

/// A worker process on the host, talking to the server's published port.
fn spawn(stack: &Stack, project: &str, env: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(bin());
    cmd.args([
        "worker",
        "--url",
        &stack.url(),
        "--project",
        project,
        "--server-url-for-containers",
        &format!("http://{}:8080", stack.server),
    ])
    .env("MAILU_GIT_WORKER_TOKEN", WORKER)
    .env_remove("MAILU_GIT_URL")
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

fn name(project: &str, service: &str) -> String {
    format!("{project}-{service}")
}

/// The deployed version's number.
fn deployed(stack: &Stack) -> u64 {
    request(
        "GET",
        &format!("{}/api/v1/deploy", stack.url()),
        WORKER,
        None,
    )
    .json()["version"]["number"]
        .as_u64()
        .unwrap()
}

#[test]
fn a_secret_env_value_reaches_the_process_and_never_the_container_config() {
    let Some(stack) = Stack::start() else {
        eprintln!("SKIPPED: no Docker or no bookworm image");
        return;
    };
    let project = format!("{}-s", stack.name);
    // A secret through the API: a fetched account's password is one (`secrets/fetch/<id>`).
    let value = "s3cret-env-value-'quoted'-$HOME";
    stack.api(
        "PATCH",
        "/settings",
        json!({"fetchmail": {"enabled": true}}),
    );
    stack.api("POST", "/domain", json!({"name": "env.example"}));
    stack.api(
        "POST",
        "/user",
        json!({"email": "u@env.example", "raw_password": "a-long-password-1"}),
    );
    stack.api(
        "POST",
        "/fetch",
        json!({"email": "u@env.example", "protocol": "imap", "host": "imap.remote.example",
               "username": "u", "password": value}),
    );
    let listed = request("GET", &format!("{}/api/v1/fetch", stack.url()), ADMIN, None).json();
    let id = match &listed[0]["id"] {
        serde_json::Value::Number(n) => n.to_string(),
        other => other.as_str().unwrap().to_owned(),
    };
    only(
        &stack,
        &[(
            "smtp",
            json!({"env": {"RELAY_PASSWORD": {"secret": format!("fetch/{id}")}, "PLAIN": "visible"}}),
        )],
    );
    let worker = Worker {
        child: spawn(&stack, &project, &[]),
        project: project.clone(),
    };
    let smtp = name(&project, "smtp");
    wait_for("smtp runs its command", &project, || {
        exec(&smtp, "tr '\\0' ' ' </proc/1/cmdline")
            .1
            .starts_with("sleep 3600")
    });
    // The running process (pid 1, `sleep` after the entrypoint's exec) has both variables.
    let environ = exec(&smtp, "tr '\\0' '\\n' < /proc/1/environ");
    assert_eq!(environ.0, 0, "{}", environ.1);
    let lines: Vec<&str> = environ.1.lines().collect();
    assert!(
        lines.contains(&format!("RELAY_PASSWORD={value}").as_str()),
        "{lines:?}"
    );
    assert!(lines.contains(&"PLAIN=visible"), "{lines:?}");
    // The container's configuration holds the plain one only.
    let inspect = docker(&["inspect", &smtp]);
    let inspect = String::from_utf8_lossy(&inspect.stdout);
    assert!(inspect.contains("PLAIN=visible"), "{inspect}");
    assert!(!inspect.contains("s3cret-env-value"), "{inspect}");
    assert!(!inspect.contains("RELAY_PASSWORD"), "{inspect}");
    drop(worker);
}

#[test]
fn a_container_that_missed_a_version_while_the_worker_was_stopped_catches_up() {
    let Some(stack) = Stack::start() else {
        eprintln!("SKIPPED: no Docker or no bookworm image");
        return;
    };
    let project = format!("{}-r", stack.name);
    only(&stack, &[("imap", json!({})), ("smtp", json!({}))]);
    stack.put_file("smtp", "/etc/test/hello.txt", "one");
    let mut worker = Worker {
        child: spawn(&stack, &project, &[]),
        project: project.clone(),
    };
    let smtp = name(&project, "smtp");
    wait_for("smtp holds its file", &project, || {
        exec(&smtp, "cat /etc/test/hello.txt").1 == "one"
    });
    wait_for("both running", &project, || {
        let c = containers(&project);
        c.len() == 2 && c.values().all(|v| v.2)
    });
    let number = deployed(&stack);
    wait_for("the first report", &project, || {
        status(&stack)["deploy"]["version"].as_u64() == Some(number)
    });
    let before = containers(&project);

    // The worker stops; a version changes smtp's file meanwhile; a new worker starts.
    worker.child.kill().unwrap();
    worker.child.wait().unwrap();
    stack.put_file("smtp", "/etc/test/hello.txt", "two");
    assert_eq!(
        exec(&smtp, "cat /etc/test/hello.txt").1,
        "one",
        "nobody deployed it"
    );
    worker.child = spawn(&stack, &project, &[]);
    wait_for("the stale smtp gets the new file", &project, || {
        exec(&smtp, "cat /etc/test/hello.txt").1 == "two"
    });
    let number = deployed(&stack);
    wait_for("the report of the catch-up", &project, || {
        status(&stack)["deploy"]["version"].as_u64() == Some(number)
    });
    let report = status(&stack)["deploy"].clone();
    // Which paths changed is unknown to a new worker: smtp restarts; imap, current, is untouched.
    assert_eq!(
        report["services"],
        json!([{"service": "smtp", "action": "restart", "ok": true}]),
        "{report}"
    );
    let after = containers(&project);
    assert_eq!(after["imap"], before["imap"], "imap untouched");
    assert_eq!(after["smtp"].0, before["smtp"].0, "the same container");

    // Removed behind the worker's back (no new version): its `destroy` event brings it back.
    let removed = docker(&["rm", "-f", &smtp]);
    assert!(removed.status.success());
    wait_for("smtp created again", &project, || {
        containers(&project)
            .get("smtp")
            .is_some_and(|c| c.2 && c.0 != after["smtp"].0)
    });
    wait_for("the new smtp holds the file", &project, || {
        exec(&smtp, "cat /etc/test/hello.txt").1 == "two"
    });
    assert_eq!(containers(&project)["imap"], before["imap"]);
    drop(worker);
}

#[test]
fn a_cut_docker_connection_is_reported_and_a_write_still_arrives_after_it() {
    let Some(stack) = Stack::start() else {
        eprintln!("SKIPPED: no Docker or no bookworm image");
        return;
    };
    let project = format!("{}-d", stack.name);
    only(&stack, &[("smtp", json!({}))]);
    stack.put_file("smtp", "/etc/test/hello.txt", "one");
    let proxy = Proxy::start();
    let worker = Worker {
        child: spawn(&stack, &project, &[("DOCKER_HOST", &proxy.docker_host())]),
        project: project.clone(),
    };
    let smtp = name(&project, "smtp");
    wait_for("smtp holds its file", &project, || {
        exec(&smtp, "cat /etc/test/hello.txt").1 == "one"
    });
    let number = deployed(&stack);
    wait_for("the first report", &project, || {
        status(&stack)["deploy"]["version"].as_u64() == Some(number)
    });

    // Cut: the worker's events stream ends; it reports the outage while it cannot reconnect.
    proxy.cut();
    let incidents = |stack: &Stack| status(stack)["deploy"]["incidents"].to_string();
    wait_for("the outage reported", &project, || {
        incidents(&stack).contains("the Docker engine is unreachable")
    });
    stack.put_file("smtp", "/etc/test/hello.txt", "two");
    assert_eq!(exec(&smtp, "cat /etc/test/hello.txt").1, "one");

    // Restored: it reconnects, checks every container and deploys the write.
    let before = proxy.accepted.load(std::sync::atomic::Ordering::SeqCst);
    proxy.restore();
    wait_for("the write reaches smtp", &project, || {
        exec(&smtp, "cat /etc/test/hello.txt").1 == "two"
    });
    wait_for("the reconnect reported", &project, || {
        incidents(&stack).contains("reconnected")
    });
    let report = status(&stack)["deploy"].clone();
    assert_eq!(
        report["version"].as_u64(),
        Some(deployed(&stack)),
        "{report}"
    );
    assert!(
        proxy.accepted.load(std::sync::atomic::Ordering::SeqCst) > before,
        "it went through the proxy again"
    );
    assert!(
        worker_alive(&worker),
        "the worker kept running through the cut"
    );
    drop(worker);
}

fn worker_alive(worker: &Worker) -> bool {
    Command::new("kill")
        .args(["-0", &worker.child.id().to_string()])
        .status()
        .is_ok_and(|s| s.success())
}

/// A worker in a container on the stack's network, as `deploy/compose.yaml` runs it; removed
/// (before its project's containers) when dropped.
struct WorkerContainer {
    name: String,
    project: String,
}

impl Drop for WorkerContainer {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.name]);
        let label = format!("label=org.mailu-git.project={}", self.project);
        let ids = docker(&["ps", "-aq", "--filter", &label]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = docker(&["rm", "-f", id]);
        }
    }
}

#[test]
fn the_worker_keeps_running_while_the_server_is_down_and_catches_up() {
    let Some(stack) = Stack::start() else {
        eprintln!("SKIPPED: no Docker or no bookworm image");
        return;
    };
    let project = format!("{}-v", stack.name);
    only(&stack, &[("smtp", json!({}))]);
    stack.put_file("smtp", "/etc/test/hello.txt", "one");
    let worker = WorkerContainer {
        name: format!("{}-worker", stack.name),
        project: project.clone(),
    };
    crate::worker::run_in_container(&stack, &worker.name, &project);
    let smtp = name(&project, "smtp");
    wait_for("smtp holds its file", &project, || {
        exec(&smtp, "cat /etc/test/hello.txt").1 == "one"
    });

    // The server goes away for a while: the worker keeps trying, and keeps running.
    let stop = docker(&["stop", "-t", "10", &stack.server]);
    assert!(stop.status.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    while !logs(&worker.name).contains("cannot be read; retrying") {
        assert!(
            Instant::now() < deadline,
            "the worker did not retry: {}",
            logs(&worker.name)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    std::thread::sleep(Duration::from_secs(3));
    let running = docker(&["inspect", "-f", "{{.State.Running}}", &worker.name]);
    assert_eq!(
        String::from_utf8_lossy(&running.stdout).trim(),
        "true",
        "the worker survives the server's absence: {}",
        logs(&worker.name)
    );
    assert!(containers(&project)["smtp"].2, "smtp keeps running");

    // Back: a write reaches smtp.
    let start = docker(&["start", &stack.server]);
    assert!(start.status.success());
    stack.wait_healthy();
    stack.put_file("smtp", "/etc/test/hello.txt", "two");
    wait_for("the write after the restart reaches smtp", &project, || {
        exec(&smtp, "cat /etc/test/hello.txt").1 == "two"
    });
    drop(worker);
}
