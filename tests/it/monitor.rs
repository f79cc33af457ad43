//! Monitoring on the real server: each condition provoked through the API (a failed deploy report,
//! a certificate close to expiry, a host name the certificate does not name, a disk-space threshold
//! above what the disk has; a disk that really fills is `monitor_disk.rs`), seen in
//! `GET /api/v1/status` (`attention`), in `/metrics`, and as notifications received by a webhook
//! on 127.0.0.1; each cleared again, with its notification. Bad settings name their field.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{TestServer, request};

pub const ADMIN: &str = "monitor-admin-token-0123456789";
const WORKER: &str = "monitor-worker-token-0123456789";

/// An HTTP endpoint on 127.0.0.1 that keeps every JSON body POSTed to it.
pub struct Webhook {
    pub url: String,
    pub received: Arc<Mutex<Vec<Value>>>,
}

impl Webhook {
    pub fn start() -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let received: Arc<Mutex<Vec<Value>>> = Arc::default();
        let sink = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_ok()
                    && let Ok(value) = serde_json::from_slice(&body)
                {
                    sink.lock().unwrap().push(value);
                }
                let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
            }
        });
        Webhook { url, received }
    }

    /// Waits (bounded) for a notification `event` of `kind`.
    pub fn wait(&self, event: &str, kind: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(found) = self
                .received
                .lock()
                .unwrap()
                .iter()
                .find(|v| v["event"] == event && v["kind"] == kind)
            {
                return found.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no `{event}` notification for {kind}; got {:?}",
                self.received.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

pub fn api(server: &TestServer, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let reply = request(
        method,
        &format!("{}/api/v1/{path}", server.url),
        ADMIN,
        body,
    );
    (
        reply.status,
        serde_json::from_str(&reply.body).unwrap_or(Value::Null),
    )
}

pub fn monitoring(server: &TestServer, body: Value) {
    let (status, answer) = api(
        server,
        "PATCH",
        "settings?wait=true",
        Some(json!({ "monitoring": body })),
    );
    assert_eq!(status, 200, "{answer}");
}

pub fn attention(server: &TestServer) -> Vec<Value> {
    let (status, answer) = api(server, "GET", "status", None);
    assert_eq!(status, 200, "{answer}");
    answer["attention"].as_array().unwrap().clone()
}

pub fn metric(server: &TestServer, kind: &str) -> String {
    let body = request("GET", &format!("{}/metrics", server.url), ADMIN, None).body;
    let prefix = format!("mailu_git_attention{{kind=\"{kind}\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
        .unwrap_or_else(|| panic!("no {prefix} in the metrics"))
}

#[test]
fn each_condition_is_seen_in_status_metrics_and_the_webhook_then_cleared() {
    let hook = Webhook::start();
    let server = TestServer::start_env(&[
        ("MAILU_GIT_ADMIN_TOKEN", ADMIN),
        ("MAILU_GIT_WORKER_TOKEN", WORKER),
    ]);
    assert!(attention(&server).is_empty());
    // More free space asked for than any disk has.
    monitoring(
        &server,
        json!({"check_every": "1s", "webhook": hook.url, "disk_free_min_mb": 1_u64 << 40}),
    );
    let raised = hook.wait("raised", "disk_low");
    assert_eq!(raised["subject"], "data directory");
    assert!(
        raised["message"]
            .as_str()
            .unwrap()
            .contains("monitoring.disk_free_min_mb"),
        "{raised}"
    );
    assert!(attention(&server).iter().any(|a| a["kind"] == "disk_low"));
    assert_eq!(metric(&server, "disk_low"), "1");

    // A deploy that failed, as the worker reports it.
    let report = |ok: bool| {
        let mut service = json!({"service": "smtp", "action": "refresh", "ok": ok});
        if !ok {
            service["error"] = json!("postfix reload exited 1");
        }
        let reply = request(
            "POST",
            &format!("{}/api/v1/deploy/report", server.url),
            WORKER,
            Some(json!({"version": 2, "time": "2026-11-29T08:00:00Z", "services": [service]})),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
    };
    report(false);
    let failed = hook.wait("raised", "deploy_failed");
    assert_eq!(failed["subject"], "smtp");
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .contains("postfix reload exited 1"),
        "{failed}"
    );
    assert_eq!(metric(&server, "deploy_failed"), "1");

    // A certificate that expires in ten days, with the default warning of 14.
    let (issuer, ca) = crate::tls::ca();
    let leaf = crate::tls::leaf(&issuer, &["mail.example.com"], -1, 10);
    let (status, answer) = api(
        &server,
        "PUT",
        "certificate?wait=true",
        Some(json!({"cert": format!("{}{ca}", leaf.cert), "key": leaf.key})),
    );
    assert_eq!(status, 200, "{answer}");
    let expiring = hook.wait("raised", "certificate_expiring");
    assert!(
        expiring["message"].as_str().unwrap().contains("in 9 days")
            || expiring["message"].as_str().unwrap().contains("in 10 days"),
        "{expiring}"
    );

    // Each cleared: the threshold lowered, a good report, the warning shortened.
    monitoring(
        &server,
        json!({"disk_free_min_mb": 0, "certificate_warn_days": 5}),
    );
    report(true);
    for kind in ["disk_low", "deploy_failed", "certificate_expiring"] {
        let cleared = hook.wait("cleared", kind);
        assert!(cleared["since"].as_i64().unwrap() > 0, "{cleared}");
        assert_eq!(metric(&server, kind), "0");
    }
    assert!(attention(&server).is_empty(), "{:?}", attention(&server));

    // A host name the uploaded certificate does not name.
    let hostnames = |names: &[&str]| {
        let (status, answer) = api(
            &server,
            "PATCH",
            "settings?wait=true",
            Some(json!({"mail": {"hostnames": names}})),
        );
        assert_eq!(status, 200, "{answer}");
    };
    hostnames(&["mail.example.com", "mx.example.com"]);
    let mismatch = hook.wait("raised", "certificate_mismatch");
    assert_eq!(mismatch["subject"], "certificate", "{mismatch}");
    assert!(
        mismatch["message"]
            .as_str()
            .unwrap()
            .contains("mail.example.com"),
        "{mismatch}"
    );
    assert_eq!(metric(&server, "certificate_mismatch"), "1");
    hostnames(&["mail.example.com"]);
    hook.wait("cleared", "certificate_mismatch");
    assert_eq!(metric(&server, "certificate_mismatch"), "0");

    assert!(attention(&server).is_empty(), "{:?}", attention(&server));
    // One notification each way per condition, not one per check.
    let received = hook.received.lock().unwrap().clone();
    assert_eq!(received.len(), 8, "{received:?}");
}

#[test]
fn monitoring_settings_are_checked_by_field() {
    let server = TestServer::start_env(&[("MAILU_GIT_ADMIN_TOKEN", ADMIN)]);
    for (body, field) in [
        (
            json!({"webhook": "ftp://example.com/x"}),
            "monitoring.webhook",
        ),
        (json!({"webhook": "not a url"}), "monitoring.webhook"),
        (json!({"check_every": "0s"}), "monitoring.check_every"),
        (
            json!({"certificate_warn_days": 1000}),
            "monitoring.certificate_warn_days",
        ),
        (
            json!({"resolver": "dns.example.com"}),
            "monitoring.resolver",
        ),
        (
            json!({"dns_check_every": "0s"}),
            "monitoring.dns_check_every",
        ),
    ] {
        let (status, answer) = api(
            &server,
            "PATCH",
            "settings",
            Some(json!({ "monitoring": body })),
        );
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer.to_string().contains(field), "{field}: {answer}");
    }
}
