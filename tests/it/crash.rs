//! Crashes of the real server at each crash point (`MAILU_GIT_CRASH_AT`, an abort as a power cut or
//! `kill -9` would stop it), then a restart on the data left behind: every acknowledged write is in
//! main exactly once, checked with the real `git`.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{TestServer, git, have_tool, request};

/// Writes three aliases (acknowledged or not, as the crash allows) and returns the change ids the
/// server acknowledged.
fn write_until_crash(server: &TestServer, token: &str) -> Vec<String> {
    let mut acked = Vec::new();
    for n in 0..3 {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let answer = runtime.block_on(async {
            reqwest::Client::new()
                .post(format!("{}/api/v1/alias", server.url))
                .bearer_auth(token)
                .json(&json!({"email": format!("crash{n}@example.com"), "destination": ["someone@elsewhere.org"]}))
                .timeout(Duration::from_secs(10))
                .send()
                .await
        });
        match answer {
            Ok(r) if r.status() == 200 => {
                let body: serde_json::Value = runtime.block_on(r.json()).unwrap();
                acked.push(body["change"].as_str().unwrap().to_owned());
            }
            // The process died: nothing more is acknowledged.
            _ => break,
        }
    }
    acked
}

fn wait_for_exit(server: &mut TestServer) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the server did not reach its crash point"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn every_acknowledged_write_survives_a_crash_at_each_point() {
    if !have_tool("git") {
        return;
    }
    for point in [
        "after-append:2",
        "after-objects:1",
        "after-cas:1",
        "before-trim:1",
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        // A first start makes the repository and a domain, without crash points.
        let first = TestServer::start_on(&data);
        let token = first.generated_admin_token().unwrap();
        let r = request(
            "POST",
            &format!("{}/api/v1/domain?wait=true", first.url),
            &token,
            Some(json!({"name": "example.com"})),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(first.stop().success());

        let mut crashing = TestServer::start_with(&data, &[("MAILU_GIT_CRASH_AT", point)]);
        let acked = write_until_crash(&crashing, &token);
        if point.starts_with("after-append") {
            // The second append aborts before its answer: one acknowledged, one durable but unanswered.
            assert_eq!(acked.len(), 1, "{point}");
        }
        wait_for_exit(&mut crashing);
        drop(crashing);

        let again = TestServer::start_on(&data);
        // Any replayed change is committed at the next debounce; ask for a version to be sure.
        let r = request(
            "POST",
            &format!("{}/api/v1/alias?wait=true", again.url),
            &token,
            Some(json!({"email": "after@example.com", "destination": ["someone@elsewhere.org"]})),
        );
        assert_eq!(r.status, 200, "{point}: {}", r.body);
        let repo = data.join("config.git");
        let log = git(&repo, &["log", "--format=%B", "main"]);
        for id in &acked {
            assert_eq!(
                log.matches(&format!("Mailu-Change: {id} ")).count(),
                1,
                "{point}: {id} must be in exactly one version:\n{log}"
            );
        }
        let tree = git(&repo, &["ls-tree", "-r", "--name-only", "main"]);
        for n in 0..acked.len() {
            assert!(
                tree.contains(&format!("domains/example.com/aliases/crash{n}.toml")),
                "{point}: alias {n} lost:\n{tree}"
            );
        }
        git(&repo, &["fsck", "--strict"]);
    }
}
