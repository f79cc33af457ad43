//! The deploy scenarios of issue 8 end to end: the server in a container (`entrypoint.rs`'s stack),
//! `mailu-git worker` on the host (`worker.rs`), smtp on the busybox image and imap on the bookworm
//! image, both `sleep`ing behind our entrypoint (pull policy `never`). Each step checks the
//! containers themselves (id, start time, PID 1, file contents) and the report in the status:
//!
//! - a change the reload covers is refreshed in place; one outside it restarts smtp only; a change
//!   of the service file recreates smtp only; imap never moves;
//! - suspend holds API writes back from the containers, resume lets them through;
//! - a version whose reload fails is reported, and smtp keeps its old files and its process;
//! - a revert gives the container the old files back;
//! - smtp's token, as the worker handed it over, does not open imap's bundle;
//! - with the server stopped, containers keep running and a restarted one starts from its last
//!   bundle; once the server is back, the worker catches up with the next write.

use std::time::Duration;

use serde_json::{Value, json};

use crate::bundle::ADMIN;
use crate::entrypoint::{Stack, busybox, docker_ok, exec, logs};
use crate::support::request;
use crate::worker::{containers, spawn, status, wait_for};

/// Where the worker puts our entrypoint in each container (`worker/spec.rs`).
const ENTRYPOINT: &str = "/usr/local/lib/mailu-git/entrypoint";

/// Every service off but smtp (on `smtp_image`, with `smtp_env`) and imap (on the bookworm image),
/// both running `sleep 3600` on the stack's network. smtp's reload covers `/etc/test/*` and fails
/// (exit 3) when `hello.txt` says "broken"; imap's covers `/etc/**`.
fn two_services(stack: &Stack, smtp_image: &str, smtp_env: Value) {
    stack.disable_all_but(&["imap", "smtp"]);
    let smtp_reload = json!({
        "command": ["sh", "-c", "if grep -q broken /etc/test/hello.txt; then exit 3; fi"],
        "paths": ["/etc/test/*"],
    });
    for (name, image, env, reload) in [
        (
            "imap",
            stack.bookworm.as_str(),
            json!({}),
            json!({"command": ["true"], "paths": ["/etc/**"]}),
        ),
        ("smtp", smtp_image, smtp_env, smtp_reload),
    ] {
        stack.api(
            "PATCH",
            &format!("/service/{name}"),
            json!({
                "enabled": true,
                "image": image,
                "pull": "never",
                "command": ["sleep", "3600"],
                "networks": [stack.name],
                "pre_start": [],
                "ports": [],
                "volumes": [],
                "env": env,
                "health": null,
                "reload": reload,
            }),
        );
    }
    stack.put_file("smtp", "/etc/test/hello.txt", "one");
    stack.put_file("smtp", "/etc/test2/other.txt", "x");
}

/// The deployed version's number.
fn deployed(stack: &Stack) -> u64 {
    status(stack)["deployed"]["version"].as_u64().unwrap()
}

/// Waits for the worker's report of version `number` and returns it.
fn report_of(stack: &Stack, project: &str, number: u64) -> Value {
    wait_for(&format!("the report of version {number}"), project, || {
        status(stack)["deploy"]["version"].as_u64() == Some(number)
    });
    status(stack)["deploy"].clone()
}

/// The content of `path` in the container, once it is `want` (bounded wait).
fn wait_content(project: &str, container: &str, path: &str, want: &str) {
    wait_for(&format!("{container}:{path} = {want:?}"), project, || {
        exec(container, &format!("cat {path}")).1 == want
    });
}

/// Whether the container's PID 1 is the service's command (the entrypoint exec'd it).
fn serving(container: &str) -> bool {
    exec(container, "tr '\\0' ' ' </proc/1/cmdline")
        .1
        .starts_with("sleep 3600")
}

#[test]
fn refresh_restart_recreate_suspend_broken_version_revert_and_tokens() {
    let Some(image) = busybox() else { return };
    let Some(stack) = Stack::start() else {
        eprintln!("SKIPPED: no Docker or no bookworm image");
        return;
    };
    let project = format!("{}-s", stack.name);
    two_services(&stack, image, json!({}));
    let worker = spawn(&stack, &project);
    let smtp = format!("{project}-smtp");
    let imap = format!("{project}-imap");
    wait_for("both services running", &project, || {
        let c = containers(&project);
        c.len() == 2 && c.values().all(|v| v.2)
    });
    wait_content(&project, &smtp, "/etc/test/hello.txt", "one");
    wait_for("imap serving", &project, || serving(&imap));
    wait_for("a report", &project, || {
        status(&stack).get("deploy").is_some()
    });
    let first = containers(&project);

    // 1. Covered by the reload: refreshed in place (same container, same start), new file.
    stack.put_file("smtp", "/etc/test/hello.txt", "two");
    let report = report_of(&stack, &project, deployed(&stack));
    assert_eq!(
        report["services"],
        json!([{"service": "smtp", "action": "refresh", "ok": true}]),
        "{report}"
    );
    assert_eq!(exec(&smtp, "cat /etc/test/hello.txt").1, "two");
    assert_eq!(containers(&project), first, "nothing restarted");
    assert!(serving(&smtp));

    // 2. Outside the reload's paths: smtp restarts (same container, a new start), imap stays.
    stack.put_file("smtp", "/etc/test2/other.txt", "y");
    let report = report_of(&stack, &project, deployed(&stack));
    assert_eq!(
        report["services"],
        json!([{"service": "smtp", "action": "restart", "ok": true}]),
        "{report}"
    );
    let now = containers(&project);
    assert_eq!(now["imap"], first["imap"], "imap untouched");
    assert_eq!(now["smtp"].0, first["smtp"].0, "the same container");
    assert_ne!(now["smtp"].1, first["smtp"].1, "started again");
    wait_content(&project, &smtp, "/etc/test2/other.txt", "y");
    wait_for("smtp serving after its restart", &project, || {
        serving(&smtp)
    });

    // 3. The service file changes the container: smtp is recreated, with its files; imap stays.
    stack.api(
        "PATCH",
        "/service/smtp",
        json!({"env": {"SCENARIO": "recreated"}}),
    );
    let v_spec = deployed(&stack);
    let report = report_of(&stack, &project, v_spec);
    assert_eq!(
        report["services"],
        json!([{"service": "smtp", "action": "recreate", "ok": true}]),
        "{report}"
    );
    let now = containers(&project);
    assert_eq!(now["imap"], first["imap"], "imap untouched");
    assert_ne!(now["smtp"].0, first["smtp"].0, "a new container");
    wait_for("the new smtp serving", &project, || serving(&smtp));
    assert_eq!(exec(&smtp, "echo $SCENARIO").1, "recreated");
    assert_eq!(exec(&smtp, "cat /etc/test/hello.txt").1, "two");
    assert_eq!(exec(&smtp, "cat /etc/test2/other.txt").1, "y");
    let recreated = containers(&project);

    // 4. Suspended: a write lands on main but not in the container; resumed: it does.
    let held = request(
        "POST",
        &format!("{}/api/v1/suspend", stack.url()),
        ADMIN,
        None,
    );
    assert_eq!(held.status, 200, "{}", held.body);
    stack.put_file("smtp", "/etc/test/hello.txt", "three");
    let st = status(&stack);
    assert_eq!(st["deployed"]["held"], true, "{st}");
    assert_eq!(st["deployed"]["version"].as_u64(), Some(v_spec), "{st}");
    assert!(st["main"]["version"].as_u64().unwrap() > v_spec, "{st}");
    // Give a deploy every chance to (wrongly) happen: the worker's long-poll answers at once on a
    // new deployed version, and a refresh takes well under a second here.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(exec(&smtp, "cat /etc/test/hello.txt").1, "two", "held back");
    assert_eq!(status(&stack)["deploy"]["version"].as_u64(), Some(v_spec));
    let resumed = request(
        "POST",
        &format!("{}/api/v1/resume", stack.url()),
        ADMIN,
        None,
    );
    assert_eq!(resumed.status, 200, "{}", resumed.body);
    let report = report_of(&stack, &project, deployed(&stack));
    assert_eq!(
        report["services"],
        json!([{"service": "smtp", "action": "refresh", "ok": true}]),
        "{report}"
    );
    assert_eq!(exec(&smtp, "cat /etc/test/hello.txt").1, "three");
    assert_eq!(containers(&project), recreated);

    // 5. A broken version (its reload fails): reported; smtp keeps its old file and its process.
    stack.put_file("smtp", "/etc/test/hello.txt", "broken");
    let report = report_of(&stack, &project, deployed(&stack));
    let services = report["services"].as_array().unwrap();
    assert_eq!(services.len(), 1, "{report}");
    assert_eq!(
        (
            &services[0]["service"],
            &services[0]["action"],
            &services[0]["ok"]
        ),
        (&json!("smtp"), &json!("refresh"), &json!(false)),
        "{report}"
    );
    let error = services[0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("exited with 3"), "{report}");
    assert_eq!(
        exec(&smtp, "cat /etc/test/hello.txt").1,
        "three",
        "the old file is kept"
    );
    assert!(serving(&smtp), "the process still runs");
    assert_eq!(containers(&project), recreated, "no container moved");

    // 6. A revert to the version of step 3: the old files come back, by a refresh.
    let reverted = request(
        "POST",
        &format!("{}/api/v1/version/{v_spec}/revert?deploy=true", stack.url()),
        ADMIN,
        None,
    );
    assert_eq!(reverted.status, 200, "{}", reverted.body);
    let number = reverted.json()["number"].as_u64().unwrap();
    let report = report_of(&stack, &project, number);
    assert_eq!(
        report["services"],
        json!([{"service": "smtp", "action": "refresh", "ok": true}]),
        "{report}"
    );
    assert_eq!(exec(&smtp, "cat /etc/test/hello.txt").1, "two");
    assert_eq!(exec(&smtp, "cat /etc/test2/other.txt").1, "y");
    assert_eq!(containers(&project), recreated);

    // 7. The token the worker gave smtp opens smtp's bundle only.
    let (code, _, err) = exec(
        &smtp,
        &format!("MAILU_GIT_SERVICE=imap sh {ENTRYPOINT} refresh"),
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("403"), "{err}");
    let (code, _, err) = exec(&smtp, &format!("sh {ENTRYPOINT} refresh"));
    assert_eq!(code, 0, "its own bundle, unchanged: {err}");
    assert_eq!(containers(&project)["imap"], first["imap"]);
    drop(worker);
}

#[test]
fn without_the_server_containers_keep_running_restart_from_their_bundle_then_catch_up() {
    let Some(image) = busybox() else { return };
    // A fixed port, so the worker finds the server again after its restart.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let Some(stack) = Stack::start_on(Some(port)) else {
        eprintln!("SKIPPED: no Docker or no bookworm image");
        return;
    };
    let project = format!("{}-o", stack.name);
    two_services(
        &stack,
        image,
        json!({"MAILU_GIT_OFFLINE_AFTER": "2", "MAILU_GIT_BACKOFF_MAX": "2"}),
    );
    let worker = spawn(&stack, &project);
    let smtp = format!("{project}-smtp");
    wait_for("both services running", &project, || {
        let c = containers(&project);
        c.len() == 2 && c.values().all(|v| v.2)
    });
    wait_content(&project, &smtp, "/etc/test/hello.txt", "one");
    wait_for("a report", &project, || {
        status(&stack).get("deploy").is_some()
    });
    let before = containers(&project);

    docker_ok(&["stop", "-t", "10", &stack.server]);
    assert_eq!(containers(&project), before, "the services keep running");
    assert!(serving(&smtp));

    // Restarted while the server is away: it starts from the bundle it kept.
    docker_ok(&["restart", "-t", "1", &smtp]);
    wait_for("smtp serving again", &project, || serving(&smtp));
    assert!(
        logs(&smtp).contains("starting from the kept bundle"),
        "{}",
        logs(&smtp)
    );
    assert_eq!(exec(&smtp, "cat /etc/test/hello.txt").1, "one");
    assert_eq!(exec(&smtp, "cat /etc/test2/other.txt").1, "x");
    let now = containers(&project);
    assert_eq!(now["imap"], before["imap"]);

    // The server back: the worker (backing off meanwhile) follows the next write.
    docker_ok(&["start", &stack.server]);
    stack.wait_healthy();
    stack.put_file("smtp", "/etc/test/hello.txt", "after");
    let number = deployed(&stack);
    let report = report_of(&stack, &project, number);
    assert_eq!(
        report["services"],
        json!([{"service": "smtp", "action": "refresh", "ok": true}]),
        "{report}"
    );
    assert_eq!(exec(&smtp, "cat /etc/test/hello.txt").1, "after");
    let after = containers(&project);
    assert_eq!(after["imap"], before["imap"]);
    assert_eq!(after["smtp"], now["smtp"], "refreshed, not restarted");
    drop(worker);
}
