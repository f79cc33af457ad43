//! `deploy/compose.yaml` is what Debian's `docker-compose` accepts, and keeps the design's access
//! rule: the worker holds the Docker socket, the server never does; the server's port is published
//! on 127.0.0.1 only; the worker token must be given.

use std::path::Path;
use std::process::Command;

use crate::support::have_tool;

fn config(token: Option<&str>) -> std::process::Output {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/compose.yaml");
    let mut cmd = Command::new("docker-compose");
    cmd.arg("-f").arg(&file).args(["config"]);
    cmd.env_remove("MAILU_GIT_WORKER_TOKEN")
        .env_remove("MAILU_GIT_ADMIN_TOKEN");
    if let Some(token) = token {
        cmd.env("MAILU_GIT_WORKER_TOKEN", token);
    }
    cmd.output().expect("docker-compose runs")
}

#[test]
fn the_compose_file_is_valid_and_only_the_worker_holds_the_docker_socket() {
    if !have_tool("docker-compose") {
        return;
    }
    let out = config(Some("worker-token-for-the-check"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (before_worker, worker) = text.split_once("\n  worker:\n").expect("a worker service");
    let admin = before_worker
        .split_once("\n  admin:\n")
        .expect("an admin service")
        .1;
    assert!(worker.contains("/var/run/docker.sock"), "{text}");
    assert!(
        !admin.contains("docker.sock"),
        "the server never talks to Docker: {text}"
    );
    assert!(
        admin.contains("host_ip: 127.0.0.1") || admin.contains("127.0.0.1:8080:8080"),
        "{text}"
    );
    assert!(admin.contains("org.mailu-git.service: admin"), "{text}");

    let missing = config(None);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("set MAILU_GIT_WORKER_TOKEN"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}
