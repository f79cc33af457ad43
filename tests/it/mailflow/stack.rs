//! The scenario's stack after `mailu-git init` made its first domain and admin, set up through the
//! REST API only: the services, Mailu's overrides for the test, the second domain and the other
//! users; the worker that deploys it, and the wait for its cold start.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::client::Client;
use super::{ALICE, OUTSIDE, USERS};
use crate::bundle::ADMIN;
use crate::entrypoint::{Stack, docker, logs};
use crate::support::request;

/// The worker's container and everything of its project (containers, volumes); removed when
/// dropped, the worker first.
pub(super) struct Worker {
    name: String,
    project: String,
}

impl Drop for Worker {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("mailflow: the worker's log:\n{}", logs(&self.name));
            for service in ["smtp", "imap"] {
                let name = format!("{}-{service}", self.project);
                let state = docker(&["inspect", "-f", "{{json .State}}", &name]);
                eprintln!(
                    "mailflow: {service}: {}\n{}",
                    String::from_utf8_lossy(&state.stdout),
                    logs(&name)
                );
            }
        }
        let _ = docker(&["rm", "-f", &self.name]);
        let label = format!("label=org.mailu-git.project={}", self.project);
        let ids = docker(&["ps", "-aq", "--filter", &label]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = docker(&["rm", "-f", id]);
        }
        for volume in ["queue", "mail"] {
            let _ = docker(&["volume", "rm", "-f", &format!("{}-{volume}", self.project)]);
        }
    }
}

/// An API call as the admin; a write waits until it is in a version (`?wait=true`).
pub(super) fn api(stack: &Stack, method: &str, path: &str, body: Option<Value>) -> Value {
    call(stack, method, path, body, method != "GET")
}

fn call(stack: &Stack, method: &str, path: &str, body: Option<Value>, wait: bool) -> Value {
    let sep = if path.contains('?') { '&' } else { '?' };
    let wait = if wait {
        format!("{sep}wait=true")
    } else {
        String::new()
    };
    let reply = request(
        method,
        &format!("{}/api/v1{path}{wait}", stack.url()),
        ADMIN,
        body,
    );
    assert!(
        reply.status < 300,
        "{method} {path}: {} {}",
        reply.status,
        reply.body
    );
    if reply.body.is_empty() {
        Value::Null
    } else {
        reply.json()
    }
}

/// PUT of a raw file (`mailu-override/<dir>/<file>`), acknowledged (not waiting for the version).
fn put_raw(stack: &Stack, path: &str, content: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = format!("{}/api/v1{path}", stack.url());
    let (status, body) = runtime.block_on(async {
        let r = reqwest::Client::new()
            .put(url)
            .bearer_auth(ADMIN)
            .body(content.to_owned())
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    });
    assert!(status.is_success(), "PUT {path}: {status} {body}");
}

/// Test-only settings, as Mailu's overrides: this stack has no antispam (rspamd) for the milter,
/// and client domains are not checked in DNS (the test's senders have none, and nothing may be
/// looked up off the machine). Dovecot answers a failed login at once.
const POSTFIX_OVERRIDES: &str = "\
smtpd_milters =
smtpd_client_restrictions = permit_mynetworks, check_sender_access lmdb:/etc/postfix/mailu/sender_access, reject_non_fqdn_sender, permit
";
const DOVECOT_OVERRIDES: &str = "auth_failure_delay = 0\n";

/// Configures the stack through the API: settings, services, overrides, the second domain and
/// the users besides init's admin.
pub(super) fn configure(stack: &Stack, project: &str) {
    // Only smtp and imap, on the test network, their mail ports on free 127.0.0.1 ports, their
    // volumes named for this test. Health checked every 2 s (Docker runs the first check one
    // interval after the start: with the file's 30 s each container the worker creates would wait
    // that long), and 30 failures allowed (the start, pre-start included, takes a few seconds).
    // The writes are acknowledged at once; the last one waits for the version holding them all.
    let api = |stack: &Stack, method: &str, path: &str, body: Option<Value>| {
        call(stack, method, path, body, false)
    };
    for s in api(stack, "GET", "/service", None).as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        if name != "imap" && name != "smtp" && name != "admin" && s["enabled"] == true {
            api(
                stack,
                "PATCH",
                &format!("/service/{name}"),
                Some(json!({"enabled": false})),
            );
        }
    }
    let ports = |ports: &[u16]| {
        ports
            .iter()
            .map(|p| json!({"host_ip": "127.0.0.1", "host_port": 0, "container_port": p}))
            .collect::<Vec<_>>()
    };
    api(
        stack,
        "PATCH",
        "/service/smtp",
        Some(json!({
            "image": stack.bookworm,
            "networks": [stack.name],
            "ports": ports(&[25, 465, 587]),
            "volumes": [{"name": format!("{project}-queue"), "target": "/var/spool/postfix"}],
            "health": {"command": ["postfix", "status"], "interval": "2s", "timeout": "10s", "retries": 30},
        })),
    );
    api(
        stack,
        "PATCH",
        "/service/imap",
        Some(json!({
            "image": stack.bookworm,
            "networks": [stack.name],
            "ports": ports(&[993]),
            "volumes": [{"name": format!("{project}-mail"), "target": "/mail"}],
            "health": {"command": ["doveadm", "service", "status"], "interval": "2s", "timeout": "10s", "retries": 30},
        })),
    );
    // Mail the stack sends itself (autoreplies) comes from imap's address on the test network:
    // network.subnet is the network it trusts for that (smtp's port 10025, never published).
    let subnet = docker(&[
        "network",
        "inspect",
        "-f",
        "{{(index .IPAM.Config 0).Subnet}}",
        &stack.name,
    ]);
    let subnet = String::from_utf8_lossy(&subnet.stdout).trim().to_owned();
    api(
        stack,
        "PATCH",
        "/settings",
        Some(json!({"network": {"subnet": subnet}})),
    );
    put_raw(
        stack,
        "/mailu-override/postfix/postfix.cf",
        POSTFIX_OVERRIDES,
    );
    put_raw(
        stack,
        "/mailu-override/dovecot/dovecot.conf",
        DOVECOT_OVERRIDES,
    );

    // one.test and alice are init's (version 1).
    api(stack, "POST", "/domain", Some(json!({"name": "two.test"})));
    for (i, (email, password)) in USERS.iter().enumerate() {
        call(
            stack,
            "POST",
            "/user",
            Some(json!({"email": email, "raw_password": password})),
            i + 1 == USERS.len(),
        );
    }
}

/// `mailu-git worker` in a container on the stack's network, as `deploy/compose.yaml` runs it: the
/// Docker socket mounted, the server reached by its name.
pub(super) fn spawn_worker(stack: &Stack, project: &str) -> Worker {
    let worker = Worker {
        name: format!("{}-worker", stack.name),
        project: project.to_owned(),
    };
    crate::worker::run_in_container(stack, &worker.name, project);
    worker
}

/// Waits (bounded, 240 s) until postfix refuses an unknown recipient on 25 (so it runs, its maps
/// built) and alice logs in over IMAPS; the time it took.
pub(super) fn wait_cold_start(client: &Client) -> Duration {
    let start = Instant::now();
    let deadline = start + Duration::from_secs(240);
    let name = |s: &str| format!("{}-{s}", client.project);
    loop {
        let published = ["smtp", "imap"].iter().all(|s| {
            let out = docker(&["port", &name(s)]);
            out.status.success() && !out.stdout.is_empty()
        });
        if published {
            // Unknown recipient: a refusal at RCPT proves postfix runs with its maps built.
            let r = client.send(25, None, OUTSIDE, &["nobody@one.test"], "probe");
            if r["code"] == 550 && client.login(ALICE).0 {
                return start.elapsed();
            }
        }
        assert!(
            Instant::now() < deadline,
            "the stack did not start within 240 s; smtp log:\n{}\nimap log:\n{}",
            logs(&name("smtp")),
            logs(&name("imap"))
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
