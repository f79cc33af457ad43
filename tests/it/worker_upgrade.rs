//! Upgrades on the real engine (issue 12): the worker replaces the server's own container when
//! `services/admin.toml` names another image (`mailu-git upgrade --server-image`), keeping its
//! name, data volume, network alias and published port; a new image that does not serve, or
//! that does not exist, leaves the old server running and the failure in the status. And the
//! other services one by one: one that cannot start keeps its old container while another one
//! changed in the same version is still updated.
//!
//! The server images are the image of `images/server/build.sh` from the binary under test, tagged
//! twice (`test-a-*`, `test-b-*`: same bytes, another reference), plus a broken one (busybox with
//! an entrypoint that exits at once). The worker is a host process on the server's port published
//! on 127.0.0.1 (the new server publishes the same one).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::bundle::{ADMIN, WORKER};
use crate::entrypoint::{Stack, busybox, docker, docker_ok, exec, healthy, logs};
use crate::support::{bin, request};
use crate::worker::{Worker, containers, spawn, status, wait_for};
use crate::worker_engine::Cleanup;

/// Removes the test's image tags when dropped.
struct Images(Vec<String>);

impl Drop for Images {
    fn drop(&mut self) {
        for tag in &self.0 {
            let _ = docker(&["image", "rm", "-f", tag]);
        }
    }
}

/// Builds `tag`: the busybox image with an entrypoint that exits at once.
fn build_broken(busybox: &str, tag: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!("FROM {busybox}\nENTRYPOINT [\"/bin/false\"]\n"),
    )
    .unwrap();
    docker_ok(&[
        "build",
        "--quiet",
        "--tag",
        tag,
        dir.path().to_str().unwrap(),
    ]);
}

/// `GET url` with the admin token, `None` while the server does not answer 200.
fn try_get(url: &str) -> Option<Value> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let reply = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap()
            .get(url)
            .bearer_auth(ADMIN)
            .send()
            .await
            .ok()?;
        if reply.status() != 200 {
            return None;
        }
        reply.json().await.ok()
    })
}

fn inspect(container: &str, format: &str) -> String {
    let out = docker(&["inspect", "-f", format, container]);
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The names of the project's containers.
fn names(project: &str) -> Vec<String> {
    let label = format!("label=org.mailu-git.project={project}");
    let mut names: Vec<String> =
        docker_ok(&["ps", "-a", "--filter", &label, "--format", "{{.Names}}"])
            .lines()
            .map(str::to_owned)
            .collect();
    names.sort();
    names
}

/// `mailu-git upgrade --server-image IMAGE` against `url`: its stdout, and the version it made.
fn upgrade(url: &str, image: &str) -> (String, u64) {
    let out = Command::new(bin())
        .args(["upgrade", "--server-image", image, "--server", url])
        .env("MAILU_GIT_TOKEN", ADMIN)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("services/admin.toml's image is now {image}")),
        "{stdout}"
    );
    let version = stdout
        .strip_prefix("version ")
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no version in {stdout}"));
    (stdout, version)
}

/// The admin entries of the last deploy report.
fn admin_outcomes(report: &Value) -> Vec<Value> {
    report["services"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["service"] == "admin")
        .cloned()
        .collect()
}

/// Waits (bounded, the server may be away meanwhile) until `done` holds for the status.
fn wait_status(
    what: &str,
    url: &str,
    worker_log: &Path,
    mut done: impl FnMut(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        if let Some(st) = try_get(&format!("{url}/api/v1/status"))
            && done(&st)
        {
            return st;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within 240 s; worker log:\n{}",
            std::fs::read_to_string(worker_log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn the_worker_upgrades_the_server_and_keeps_the_old_one_when_the_new_image_fails() {
    let Some(busybox) = busybox() else { return };
    let Some(base) = crate::image::ensure() else {
        return;
    };
    let project = format!("mgup{}", std::process::id());
    let _cleanup = Cleanup {
        project: project.clone(),
    };
    let a = format!("mailu-git/server:test-a-{project}");
    let b = format!("mailu-git/server:test-b-{project}");
    let broken = format!("mailu-git/server:test-broken-{project}");
    let missing = format!("mailu-git/server:test-missing-{project}");
    let _images = Images(vec![a.clone(), b.clone(), broken.clone()]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("images/server/build.sh");
    let out = Command::new(&script)
        .args(["--binary", bin(), "--base", base, "--tag", &a])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    docker_ok(&["tag", &a, &b]);
    build_broken(busybox, &broken);

    // The server from image a, as deploy/compose.yaml makes it: labelled as the project's admin,
    // its data on a named volume, `admin` on the network, its API on 127.0.0.1 only.
    let label = format!("org.mailu-git.project={project}");
    let network = format!("{project}-net");
    let volume = format!("{project}-data");
    docker_ok(&["network", "create", "--label", &label, &network]);
    docker_ok(&["volume", "create", "--label", &label, &volume]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let name = format!("{project}-admin");
    docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--label",
        &label,
        "--label",
        "org.mailu-git.service=admin",
        "--network",
        &network,
        "--network-alias",
        "admin",
        "-p",
        &format!("127.0.0.1:{port}:8080"),
        "-v",
        &format!("{volume}:/data"),
        "-e",
        &format!("MAILU_GIT_ADMIN_TOKEN={ADMIN}"),
        "-e",
        &format!("MAILU_GIT_WORKER_TOKEN={WORKER}"),
        "--restart",
        "unless-stopped",
        &a,
        "serve",
        "--data",
        "/data",
        "--listen",
        "0.0.0.0:8080",
    ]);
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !healthy(&format!("{url}/healthz")) {
        assert!(
            Instant::now() < deadline,
            "the server did not answer: {}",
            logs(&name)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let api = |method: &str, path: &str, body: Value| {
        let reply = request(
            method,
            &format!("{url}/api/v1{path}?wait=true"),
            ADMIN,
            Some(body),
        );
        assert!(reply.status < 300, "{method} {path}: {}", reply.body);
        reply.json()
    };
    api(
        "PATCH",
        "/settings",
        json!({"mail": {"domain": "up.test", "hostnames": ["mail.up.test"]},
               "monitoring": {"check_every": "1s"}}),
    );
    let services = request("GET", &format!("{url}/api/v1/service"), ADMIN, None);
    for s in services.json().as_array().unwrap() {
        let service = s["name"].as_str().unwrap();
        if service != "admin" && s["enabled"] == true {
            api(
                "PATCH",
                &format!("/service/{service}"),
                json!({"enabled": false}),
            );
        }
    }
    api(
        "PATCH",
        "/service/admin",
        json!({"image": a, "pull": "never"}),
    );
    api("POST", "/domain", json!({"name": "before.test"}));

    let logs_dir = tempfile::tempdir().unwrap();
    let worker_log = logs_dir.path().join("worker.log");
    // The worker, a host process; its log goes to a file shown when a wait fails.
    let start_worker = || {
        Command::new(bin())
            .args([
                "worker",
                "--url",
                &url,
                "--project",
                &project,
                "--server-url-for-containers",
                "http://admin:8080",
            ])
            .env("MAILU_GIT_WORKER_TOKEN", WORKER)
            .env_remove("MAILU_GIT_URL")
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&worker_log)
                    .unwrap(),
            )
            .spawn()
            .unwrap()
    };
    let mut worker = Worker {
        child: start_worker(),
        project: project.clone(),
    };
    wait_status("the worker's first report", &url, &worker_log, |st| {
        st.get("deploy").is_some()
    });
    let first_id = inspect(&name, "{{.Id}}");

    // 1. Upgrade to b: same name, same volume and alias, the old container gone.
    let (said, v_b) = upgrade(&url, &b);
    assert!(said.contains("mailu-git backup"), "{said}");
    let text = format!("server upgraded from {a} to {b}");
    let st = wait_status("the upgrade to b reported", &url, &worker_log, |st| {
        st["deploy"]["incidents"]
            .as_array()
            .is_some_and(|i| i.iter().any(|t| t == &json!(text)))
    });
    assert_eq!(inspect(&name, "{{.Config.Image}}"), b);
    assert_eq!(inspect(&name, "{{.State.Running}}"), "true");
    let b_id = inspect(&name, "{{.Id}}");
    assert_ne!(b_id, first_id, "a new container");
    assert_eq!(
        names(&project),
        vec![name.clone()],
        "the old container is gone"
    );
    assert!(
        docker(&["inspect", &first_id]).status.code() != Some(0),
        "the old container is removed"
    );
    assert_eq!(
        inspect(&name, "{{range .Mounts}}{{.Name}}:{{.Destination}}{{end}}"),
        format!("{volume}:/data")
    );
    let aliases = inspect(
        &name,
        &format!("{{{{join (index .NetworkSettings.Networks \"{network}\").Aliases \",\"}}}}"),
    );
    assert!(aliases.split(',').any(|a| a == "admin"), "{aliases}");
    assert_eq!(
        admin_outcomes(&st["deploy"]),
        [json!({"service": "admin", "action": "recreate", "ok": true})],
        "{st}"
    );
    assert!(st["deploy"]["version"].as_u64().unwrap() >= v_b, "{st}");
    // The data followed: the domain written before, and version numbers go on.
    let before = request(
        "GET",
        &format!("{url}/api/v1/domain/before.test"),
        ADMIN,
        None,
    );
    assert_eq!(before.status, 200, "{}", before.body);
    let after = api("POST", "/domain", json!({"name": "after.test"}));
    assert!(after["version"].as_u64().unwrap() > v_b, "{after}");

    // 2. Upgrade to an image whose entrypoint exits at once: b runs again, the failure shows.
    let (_, v_broken) = upgrade(&url, &broken);
    let st = wait_status("the failed upgrade reported", &url, &worker_log, |st| {
        admin_outcomes(&st["deploy"])
            .iter()
            .any(|o| o["ok"] == false)
            && st["attention"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x["subject"] == "admin"))
    });
    let failed = admin_outcomes(&st["deploy"]);
    let error = failed[0]["error"].as_str().unwrap();
    assert!(error.contains(&broken) && error.contains(&b), "{st}");
    assert!(error.contains("the previous server runs again"), "{st}");
    assert!(
        st["deploy"]["version"].as_u64().unwrap() >= v_broken,
        "{st}"
    );
    let alert = st["attention"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["subject"] == "admin")
        .unwrap();
    assert_eq!(alert["kind"], "deploy_failed", "{alert}");
    assert!(
        alert["message"].as_str().unwrap().contains(&broken),
        "{alert}"
    );
    assert_eq!(inspect(&name, "{{.Config.Image}}"), b);
    assert_eq!(
        inspect(&name, "{{.Id}}"),
        b_id,
        "the same container, back under its name"
    );
    assert_eq!(
        names(&project),
        vec![name.clone()],
        "the broken one is gone"
    );
    // Not tried again for this version: the server keeps its start time while the worker goes
    // on (its own removal of the broken container does not make it look again).
    let started = inspect(&name, "{{.State.StartedAt}}");
    std::thread::sleep(Duration::from_secs(10));
    assert_eq!(inspect(&name, "{{.State.StartedAt}}"), started);
    assert!(healthy(&format!("{url}/healthz")));

    // 3. An image that does not exist (pull = never): failed, the server never stopped.
    let (_, v_missing) = upgrade(&url, &missing);
    let st = wait_status("the missing image reported", &url, &worker_log, |st| {
        st["deploy"]["version"].as_u64() >= Some(v_missing)
            && admin_outcomes(&st["deploy"])
                .iter()
                .any(|o| o["error"].as_str().is_some_and(|e| e.contains(&missing)))
    });
    let error = admin_outcomes(&st["deploy"])[0]["error"].clone();
    assert!(error.as_str().unwrap().contains("is not present"), "{st}");
    assert_eq!(
        inspect(&name, "{{.State.StartedAt}}"),
        started,
        "never stopped"
    );
    assert_eq!(inspect(&name, "{{.Config.Image}}"), b);

    // 4. A worker stopped half-way through an upgrade (the old server stopped and renamed aside,
    // the new one not there): its next start puts the old server back under its name.
    let _ = worker.child.kill();
    let _ = worker.child.wait();
    docker_ok(&["stop", &name]);
    docker_ok(&["rename", &name, &format!("{name}{}", "-previous")]);
    worker.child = start_worker();
    let st = wait_status("the interrupted upgrade undone", &url, &worker_log, |st| {
        st["deploy"]["incidents"].as_array().is_some_and(|i| {
            i.iter().any(|t| {
                t.as_str()
                    .is_some_and(|t| t.contains("interrupted upgrade of the server was undone"))
            })
        })
    });
    assert_eq!(inspect(&name, "{{.Id}}"), b_id, "{st}");
    assert_eq!(inspect(&name, "{{.State.Running}}"), "true");
    assert_eq!(names(&project), vec![name.clone()]);
    drop(worker);
}

#[test]
fn a_service_that_cannot_start_keeps_its_container_and_the_others_are_still_updated() {
    let Some(busybox) = busybox() else { return };
    let Some(stack) = Stack::start() else {
        eprintln!("SKIPPED: no Docker or no bookworm image");
        return;
    };
    let project = format!("{}-u", stack.name);
    let broken = format!("mailu-git/fake:broken-{project}");
    let _images = Images(vec![broken.clone()]);
    build_broken(busybox, &broken);
    stack.api(
        "PATCH",
        "/settings",
        json!({"monitoring": {"check_every": "1s"}}),
    );
    stack.disable_all_but(&["imap", "smtp"]);
    for service in ["imap", "smtp"] {
        stack.api(
            "PATCH",
            &format!("/service/{service}"),
            json!({
                "enabled": true,
                "image": stack.bookworm,
                "pull": "never",
                "command": ["sleep", "3600"],
                "networks": [stack.name],
                "pre_start": [],
                "ports": [],
                "volumes": [],
                "env": {"STEP": "0"},
                "health": null,
                "reload": null,
            }),
        );
    }
    let worker = spawn(&stack, &project);
    let imap = format!("{project}-imap");
    let smtp = format!("{project}-smtp");
    wait_for("both services running", &project, || {
        let c = containers(&project);
        c.len() == 2 && c.values().all(|v| v.2)
    });
    let first = containers(&project);

    // One version changes both: imap to an image that exits at once (imap goes first), smtp's env.
    let one_version = |imap_image: &str, step: &str| {
        let held = request(
            "POST",
            &format!("{}/api/v1/suspend", stack.url()),
            ADMIN,
            None,
        );
        assert_eq!(held.status, 200, "{}", held.body);
        stack.api("PATCH", "/service/imap", json!({"image": imap_image}));
        stack.api("PATCH", "/service/smtp", json!({"env": {"STEP": step}}));
        let resumed = request(
            "POST",
            &format!("{}/api/v1/resume", stack.url()),
            ADMIN,
            None,
        );
        assert_eq!(resumed.status, 200, "{}", resumed.body);
        let number = status(&stack)["deployed"]["version"].as_u64().unwrap();
        wait_for(&format!("the report of version {number}"), &project, || {
            status(&stack)["deploy"]["version"].as_u64() == Some(number)
        });
        status(&stack)
    };
    let st = one_version(&broken, "1");
    let services = st["deploy"]["services"].as_array().unwrap().clone();
    assert_eq!(services.len(), 2, "{st}");
    assert_eq!(
        (
            &services[0]["service"],
            &services[0]["action"],
            &services[0]["ok"]
        ),
        (&json!("imap"), &json!("recreate"), &json!(false)),
        "{st}"
    );
    let error = services[0]["error"].as_str().unwrap();
    assert!(
        error.contains("exited") && error.contains("runs again"),
        "{st}"
    );
    assert_eq!(
        services[1],
        json!({"service": "smtp", "action": "recreate", "ok": true}),
        "{st}"
    );
    let now = containers(&project);
    assert_eq!(
        now["imap"].0, first["imap"].0,
        "imap's old container is kept"
    );
    assert!(now["imap"].2, "and runs");
    assert_eq!(exec(&imap, "echo $STEP").1, "0");
    assert!(exec(&imap, "ls /etc/dovecot").0 == 0, "with its files");
    assert_ne!(now["smtp"].0, first["smtp"].0, "smtp recreated");
    assert_eq!(exec(&smtp, "echo $STEP").1, "1");
    wait_for("imap's failure in attention", &project, || {
        status(&stack)["attention"].as_array().is_some_and(|a| {
            a.iter()
                .any(|x| x["kind"] == "deploy_failed" && x["subject"] == "imap")
        })
    });
    // The failed recreate is not retried in a loop: the worker's own removal of the failed new
    // container is not taken for someone else's.
    let kept = containers(&project)["imap"].clone();
    std::thread::sleep(Duration::from_secs(15));
    assert_eq!(containers(&project)["imap"], kept, "imap left alone");

    // An image that does not exist holds no other service back either.
    let missing = format!("mailu-git/fake:missing-{project}");
    let st = one_version(&missing, "2");
    let services = st["deploy"]["services"].as_array().unwrap().clone();
    let imap_outcome = services.iter().find(|s| s["service"] == "imap").unwrap();
    assert_eq!(imap_outcome["ok"], false, "{st}");
    let error = imap_outcome["error"].as_str().unwrap();
    assert!(
        error.contains("is not present") && error.contains(&missing),
        "{st}"
    );
    assert!(
        services.contains(&json!({"service": "smtp", "action": "recreate", "ok": true})),
        "{st}"
    );
    assert_eq!(containers(&project)["imap"], kept, "imap untouched");
    assert_eq!(exec(&smtp, "echo $STEP").1, "2");
    drop(worker);
}
