//! `mailu-git worker` on the real engine: the server in a container (`entrypoint.rs`'s stack), the
//! worker a host process on the server's published 127.0.0.1 port and the local Docker socket, two
//! services reduced to the bookworm image running `sleep`. The worker starts both with their files;
//! a write that changes one service's files touches that container only; disabling a service
//! removes its container and keeps its volume; the report shows in the status.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::bundle::{ADMIN, WORKER};
use crate::entrypoint::{Stack, docker, exec, logs};
use crate::support::{bin, request};

/// The worker process and everything of its project; removed when dropped.
pub(crate) struct Worker {
    pub(crate) child: Child,
    pub(crate) project: String,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let label = format!("label=org.mailu-git.project={}", self.project);
        let ids = docker(&["ps", "-aq", "--filter", &label]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = docker(&["rm", "-f", id]);
        }
        let _ = docker(&["volume", "rm", "-f", &format!("{}-vol", self.project)]);
    }
}

/// Starts `mailu-git worker` for `project` on the stack's server.
/// Starts `mailu-git worker` in a container named `name` on the stack's network, as
/// `deploy/compose.yaml` runs it: the binary under test mounted into the bookworm image, the
/// Docker socket mounted, the server reached by its name. The caller removes the container.
pub(crate) fn run_in_container(stack: &Stack, name: &str, project: &str) {
    let socket = crate::docker_proxy::engine_socket();
    let server_url = format!("http://{}:8080", stack.server);
    let run = docker(&[
        "run",
        "-d",
        "--name",
        name,
        "--label",
        &format!("mailu-git-test={}", stack.name),
        "--network",
        &stack.name,
        "-v",
        &format!("{}:/usr/local/bin/mailu-git:ro", bin()),
        "-v",
        &format!("{}:/var/run/docker.sock", socket.display()),
        "-e",
        &format!("MAILU_GIT_WORKER_TOKEN={WORKER}"),
        &stack.bookworm,
        "mailu-git",
        "worker",
        "--url",
        &server_url,
        "--project",
        project,
        "--server-url-for-containers",
        &server_url,
    ]);
    assert!(
        run.status.success(),
        "the worker's container starts: {}",
        String::from_utf8_lossy(&run.stderr)
    );
}

pub(crate) fn spawn(stack: &Stack, project: &str) -> Worker {
    let child = Command::new(bin())
        .args([
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
        .spawn()
        .unwrap();
    Worker {
        child,
        project: project.to_owned(),
    }
}

/// Our containers by service: (id, started at, running).
pub(crate) fn containers(project: &str) -> BTreeMap<String, (String, String, bool)> {
    let label = format!("label=org.mailu-git.project={project}");
    let ids = docker(&["ps", "-aq", "--filter", &label]);
    let mut out = BTreeMap::new();
    for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
        let fmt = "{{index .Config.Labels \"org.mailu-git.service\"}} {{.Id}} {{.State.StartedAt}} {{.State.Running}}";
        let o = docker(&["inspect", "-f", fmt, id]);
        let text = String::from_utf8_lossy(&o.stdout).trim().to_owned();
        let parts: Vec<&str> = text.split(' ').collect();
        if parts.len() == 4 {
            out.insert(
                parts[0].to_owned(),
                (parts[1].to_owned(), parts[2].to_owned(), parts[3] == "true"),
            );
        }
    }
    out
}

/// Waits (bounded) until `done` holds, failing with the worker's situation.
pub(crate) fn wait_for(what: &str, project: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what}: not within 120 s; containers {:?}",
            containers(project)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

pub(crate) fn status(stack: &Stack) -> serde_json::Value {
    let reply = request(
        "GET",
        &format!("{}/api/v1/status", stack.url()),
        ADMIN,
        None,
    );
    serde_json::from_str(&reply.body).unwrap()
}

#[test]
fn the_worker_deploys_changes_only_what_changed_and_removes_without_volumes() {
    let Some(stack) = Stack::start() else {
        eprintln!("SKIPPED: no Docker or no bookworm image");
        return;
    };
    let project = format!("{}-w", stack.name);
    let volume = format!("{project}-vol");
    // Every service off but two small ones on the bookworm image, reachable on the test network.
    stack.disable_all_but(&["imap", "smtp"]);
    for (name, volumes) in [
        ("imap", json!([])),
        ("smtp", json!([{"name": volume, "target": "/vol"}])),
    ] {
        stack.api(
            "PATCH",
            &format!("/service/{name}"),
            json!({
                "enabled": true,
                "image": stack.bookworm,
                "pull": "never",
                "command": ["sleep", "3600"],
                "networks": [stack.name],
                "pre_start": [],
                "ports": [{"host_ip": "127.0.0.1", "host_port": 0, "container_port": 9999}],
                "volumes": volumes,
                "health": null,
                "reload": {"command": ["true"], "paths": ["/etc/**"]},
            }),
        );
    }
    stack.put_file("smtp", "/etc/test/hello.txt", "one");

    let worker = spawn(&stack, &project);

    // Both start, each with its bundle's files.
    wait_for("both services running", &project, || {
        let c = containers(&project);
        c.len() == 2 && c.values().all(|v| v.2)
    });
    let name = |service: &str| format!("{project}-{service}");
    wait_for("smtp holds its file", &project, || {
        exec(&name("smtp"), "cat /etc/test/hello.txt").1 == "one"
    });
    wait_for("imap holds its files", &project, || {
        exec(&name("imap"), "ls /etc/dovecot").0 == 0
    });
    wait_for("a report", &project, || {
        status(&stack).get("deploy").is_some()
    });
    let before = containers(&project);

    // Only smtp's files change: smtp is refreshed, imap keeps its container and start time.
    stack.put_file("smtp", "/etc/test/hello.txt", "two");
    wait_for("smtp refreshed", &project, || {
        exec(&name("smtp"), "cat /etc/test/hello.txt").1 == "two"
    });
    let after = containers(&project);
    assert_eq!(after["imap"], before["imap"], "imap untouched");
    assert_eq!(
        after["smtp"], before["smtp"],
        "refreshed in place, not restarted"
    );
    let number = request(
        "GET",
        &format!("{}/api/v1/deploy", stack.url()),
        WORKER,
        None,
    )
    .json()["version"]["number"]
        .as_u64()
        .unwrap();
    wait_for("the report of the refresh", &project, || {
        status(&stack)["deploy"]["version"].as_u64() == Some(number)
    });
    let report = status(&stack)["deploy"].clone();
    assert_eq!(
        report["services"],
        json!([{"service": "smtp", "action": "refresh", "ok": true}]),
        "{report}"
    );

    // smtp disabled: its container goes, its volume stays.
    stack.api("PATCH", "/service/smtp", json!({"enabled": false}));
    wait_for("smtp removed", &project, || {
        !containers(&project).contains_key("smtp")
    });
    assert_eq!(containers(&project)["imap"], before["imap"]);
    assert!(
        docker(&["volume", "inspect", &volume]).status.success(),
        "the volume is kept; server log: {}",
        logs(&stack.server)
    );
    drop(worker);
}
