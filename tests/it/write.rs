//! The write path on the real server: acknowledged writes are read back at once, a burst becomes one
//! version (checked with the real `git log`), `?wait=true` names the version, `/change/<id>` and
//! `/pending` tell where a change is, bad input changes nothing, and shutdown commits what is pending.

use crate::support::{TestServer, git, have_tool, request};
use serde_json::json;

fn admin(server: &TestServer) -> String {
    server
        .generated_admin_token()
        .expect("a first start prints the admin token")
}

#[test]
fn a_burst_of_writes_is_read_back_at_once_and_becomes_one_version() {
    if !have_tool("git") {
        return;
    }
    let server = TestServer::start();
    let token = admin(&server);
    let settings = format!("{}/api/v1/settings", server.url);
    let mut ids = Vec::new();
    for n in 1..=5u64 {
        let reply = request(
            "PATCH",
            &settings,
            &token,
            Some(json!({"mail": {"message_size_limit": n * 1_000_000}})),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        ids.push(reply.json()["change"].as_str().unwrap().to_owned());
        // Read-your-writes: the acknowledged value, before any version holds it.
        let read = request("GET", &settings, &token, None);
        assert_eq!(read.json()["mail"]["message_size_limit"], n * 1_000_000);
    }
    let pending = request(
        "GET",
        &format!("{}/api/v1/pending", server.url),
        &token,
        None,
    )
    .json();
    assert!(
        !pending["changes"].as_array().unwrap().is_empty(),
        "{pending}"
    );

    // Waiting on the last change gives the version that holds the whole burst.
    let last = request(
        "GET",
        &format!("{}/api/v1/change/{}", server.url, ids[4]),
        &token,
        None,
    )
    .json();
    assert!(
        last["status"] == "pending" || last["status"] == "committed",
        "{last}"
    );
    let reply = request(
        "PATCH",
        &format!("{settings}?wait=true"),
        &token,
        Some(json!({"mail": {"message_size_limit": 6_000_000}})),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let version = reply.json()["version"]
        .as_u64()
        .expect("?wait=true names the version");

    let repo = server.data.join("config.git");
    let log = git(&repo, &["log", "--format=%B%x00", "main"]);
    let versions: Vec<&str> = log
        .split('\0')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .collect();
    // Version 1 is the template; the six writes landed in at most `version - 1` versions, the first
    // five together (they came within the quiet period).
    assert_eq!(versions.len() as u64, version, "{log}");
    let changes: usize = versions
        .iter()
        .map(|m| m.matches("Mailu-Change:").count())
        .sum();
    assert_eq!(changes, 6, "every change is in exactly one version: {log}");
    assert!(
        versions
            .iter()
            .any(|m| m.matches("Mailu-Change:").count() >= 5),
        "the burst became one version: {log}"
    );
    let status = request(
        "GET",
        &format!("{}/api/v1/change/{}", server.url, ids[0]),
        &token,
        None,
    )
    .json();
    assert_eq!(status["status"], "committed", "{status}");
    let file = git(&repo, &["show", "main:mailu.toml"]);
    assert!(file.contains("message_size_limit = 6000000"), "{file}");
    git(&repo, &["fsck", "--strict"]);

    let metrics = request("GET", &format!("{}/metrics", server.url), &token, None).body;
    assert!(
        metrics.contains("mailu_git_changes_committed_total 6\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mailu_git_journal_appended_total 6\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mailu_git_writes_acknowledged 1\n"),
        "{metrics}"
    );
}

#[test]
fn bad_writes_change_nothing_and_read_tokens_cannot_write() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = TestServer::start_on(&data);
    let token = admin(&server);
    let settings = format!("{}/api/v1/settings", server.url);
    let before = request("GET", &settings, &token, None);
    let etag = before.headers["etag"].to_str().unwrap().to_owned();

    let bad = request(
        "PATCH",
        &settings,
        &token,
        Some(json!({"history": {"keep_last": 0}})),
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(
        bad.json()["errors"]["history.keep_last"].is_string(),
        "{}",
        bad.body
    );
    let unknown = request(
        "PATCH",
        &settings,
        &token,
        Some(json!({"mail": {"size": 1}})),
    );
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    assert!(unknown.body.contains("size"), "{}", unknown.body);

    let after = request("GET", &settings, &token, None);
    assert_eq!(
        after.headers["etag"].to_str().unwrap(),
        etag,
        "a refused write changed nothing"
    );
    assert_eq!(
        request(
            "GET",
            &format!("{}/api/v1/pending", server.url),
            &token,
            None
        )
        .json()["changes"],
        json!([])
    );

    // Oversized bodies: 413 in Mailu's shape, naming the limit of the route; nothing changes.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let send = |path: &str, body: Vec<u8>| {
        runtime.block_on(async {
            let r = reqwest::Client::new()
                .request(
                    if path.starts_with("override") {
                        reqwest::Method::PUT
                    } else {
                        reqwest::Method::POST
                    },
                    format!("{}/api/v1/{path}", server.url),
                )
                .bearer_auth(&token)
                .header("Content-Type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    };
    let huge = format!("{{\"name\": \"{}\"}}", "a".repeat(2 << 20)).into_bytes();
    let (status, body) = send("domain", huge);
    assert_eq!(status, 413, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["code"], 413);
    assert!(
        body["message"].as_str().unwrap().contains("1048576"),
        "{body}"
    );
    let (status, body) = send("override/smtp/etc/postfix/big.map", vec![b'x'; 5 << 20]);
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("4194304"), "{body}");

    // If-Match with a stale tag is refused with 412.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = runtime.block_on(async {
        reqwest::Client::new()
            .patch(&settings)
            .bearer_auth(&token)
            .header("If-Match", "\"0000000000000000000000000000000000000000\"")
            .json(&json!({"mail": {"message_size_limit": 1}}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(status, 412);

    assert!(server.stop().success());
    let out = crate::support::mailu_git(
        &[
            "access-token",
            "create",
            "auditor",
            "--scope",
            "read",
            "--data",
            data.to_str().unwrap(),
        ],
        &data,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read_token = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("mgit_"))
        .unwrap()
        .trim()
        .to_owned();
    let server = TestServer::start_on(&data);
    let denied = request(
        "PATCH",
        &format!("{}/api/v1/settings", server.url),
        &read_token,
        Some(json!({"mail": {}})),
    );
    assert_eq!(denied.status, 403, "{}", denied.body);
}

#[test]
fn shutdown_commits_what_is_pending() {
    if !have_tool("git") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = TestServer::start_on(&data);
    let token = admin(&server);
    let reply = request(
        "PATCH",
        &format!("{}/api/v1/settings", server.url),
        &token,
        Some(json!({"mail": {"message_size_limit": 7_000_000}})),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    // Stopped within the quiet period: the change is pending, and shutdown must commit it.
    assert!(server.stop().success());
    let file = git(&data.join("config.git"), &["show", "main:mailu.toml"]);
    assert!(
        file.contains("message_size_limit = 7000000"),
        "the pending change was committed at shutdown"
    );
}
