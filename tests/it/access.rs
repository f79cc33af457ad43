//! Access tokens and the API's conventions on the real server: the admin token printed once, tokens
//! from the environment, offline `access-token create|list|revoke` and its refusal while a server
//! runs, scopes, both `Authorization` forms, Mailu-shaped 401/403/404/429 bodies, the settings ETag,
//! and `/metrics`.

use std::path::Path;

use crate::support::{TestServer, git, have_tool, mailu_git};

/// One HTTP answer: status, `ETag` header, body.
struct Answer {
    status: u16,
    etag: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// Sends one request; `auth` is the raw `Authorization` header value.
fn call(method: &str, url: &str, auth: Option<&str>, headers: &[(&str, &str)]) -> Answer {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut req = client.request(method.parse().unwrap(), url);
        if let Some(auth) = auth {
            req = req.header("Authorization", auth);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let response = req.send().await.unwrap();
        let status = response.status().as_u16();
        let etag = response
            .headers()
            .get("etag")
            .map(|v| v.to_str().unwrap().to_owned());
        Answer {
            status,
            etag,
            body: response.text().await.unwrap(),
        }
    })
}

fn settings(server: &TestServer, auth: &str) -> Answer {
    call(
        "GET",
        &format!("{}/api/v1/settings", server.url),
        Some(auth),
        &[],
    )
}

fn service_token(server: &TestServer, service: &str, auth: &str) -> Answer {
    call(
        "POST",
        &format!("{}/api/v1/service/{service}/token", server.url),
        Some(auth),
        &[],
    )
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn access_token(data: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["access-token"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--data", data.to_str().unwrap()]);
    mailu_git(&all, data.parent().unwrap())
}

#[test]
fn the_first_start_prints_an_admin_token_once_and_a_restart_does_not() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = TestServer::start_on(&data);
    let token = server
        .generated_admin_token()
        .expect("a generated admin token");
    assert!(token.starts_with("mgit_"), "{token}");
    assert_eq!(settings(&server, &bearer(&token)).status, 200);
    assert!(server.stop().success());
    let stored = std::fs::read_to_string(data.join("access-tokens.json")).unwrap();
    assert!(!stored.contains(&token), "only the hash is stored");

    let again = TestServer::start_on(&data);
    assert_eq!(again.generated_admin_token(), None, "{:?}", again.banner);
    assert_eq!(settings(&again, &bearer(&token)).status, 200);
}

#[test]
fn the_env_admin_token_works_and_replaces_the_previous_env_token() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let first = "first-env-admin-token-0123456789";
    let server = TestServer::start_with(&data, &[("MAILU_GIT_ADMIN_TOKEN", first)]);
    assert_eq!(server.generated_admin_token(), None, "{:?}", server.banner);
    assert_eq!(settings(&server, &bearer(first)).status, 200);
    assert!(server.stop().success());

    let second = "second-env-admin-token-0123456789";
    let server = TestServer::start_with(&data, &[("MAILU_GIT_ADMIN_TOKEN", second)]);
    assert_eq!(settings(&server, &bearer(first)).status, 403);
    assert_eq!(settings(&server, &bearer(second)).status, 200);
    assert!(server.stop().success());

    let short = mailu_git_serve_with_env(&data, ("MAILU_GIT_ADMIN_TOKEN", "short"));
    assert!(!short.status.success());
    let stderr = String::from_utf8_lossy(&short.stderr);
    assert!(stderr.contains("MAILU_GIT_ADMIN_TOKEN"), "{stderr}");
    assert!(stderr.contains("16"), "{stderr}");
}

/// `serve` expected to fail at start (so it returns).
fn mailu_git_serve_with_env(data: &Path, env: (&str, &str)) -> std::process::Output {
    std::process::Command::new(crate::support::bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .env(env.0, env.1)
        .output()
        .unwrap()
}

#[test]
fn offline_tokens_work_against_the_server_with_their_scopes_and_revocation() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let created = access_token(&data, &["create", "monitoring", "--scope", "read"]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let read = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    let created = access_token(
        &data,
        &["create", "deployer", "--scope", "worker", "--json"],
    );
    let created: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    assert_eq!(created["scope"], "worker");
    let worker = created["token"].as_str().unwrap().to_owned();
    let bad = access_token(&data, &["create", "x", "--scope", "root"]);
    assert!(!bad.status.success());

    let listed = access_token(&data, &["list", "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["monitoring", "deployer"]);
    let table = access_token(&data, &["list"]);
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        !table.contains(&read) && !table.contains("sha256"),
        "{table}"
    );

    let server = TestServer::start_on(&data);
    // An admin token existed? No: read and worker tokens do not count, so one was generated.
    assert!(server.generated_admin_token().is_some());
    let busy = access_token(&data, &["list"]);
    assert!(!busy.status.success());
    let stderr = String::from_utf8_lossy(&busy.stderr);
    assert!(stderr.contains("stop the server"), "{stderr}");

    assert_eq!(settings(&server, &bearer(&read)).status, 200);
    let refused = service_token(&server, "smtp", &bearer(&read));
    assert_eq!(refused.status, 403);
    assert!(
        refused.json()["message"]
            .as_str()
            .unwrap()
            .contains("monitoring")
    );
    let issued = service_token(&server, "smtp", &bearer(&worker));
    assert_eq!(issued.status, 200, "{}", issued.body);
    assert_eq!(issued.json()["service"], "smtp");
    let smtp = issued.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(settings(&server, &bearer(&smtp)).status, 403);
    assert_eq!(service_token(&server, "smtp", &bearer(&smtp)).status, 403);
    let missing = service_token(&server, "nosuch", &bearer(&worker));
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["code"], 404);
    assert!(server.stop().success());

    let revoked = access_token(&data, &["revoke", "monitoring"]);
    assert!(revoked.status.success());
    let server = TestServer::start_on(&data);
    assert_eq!(settings(&server, &bearer(&read)).status, 403);
    assert_eq!(service_token(&server, "smtp", &bearer(&worker)).status, 200);
}

#[test]
fn bearer_and_bare_tokens_both_work_and_errors_keep_mailus_shape() {
    let server = TestServer::start();
    let token = server.generated_admin_token().unwrap();
    assert_eq!(settings(&server, &bearer(&token)).status, 200);
    assert_eq!(settings(&server, &token).status, 200);

    let url = format!("{}/api/v1/settings", server.url);
    let missing = call("GET", &url, None, &[]);
    assert_eq!(missing.status, 401);
    assert_eq!(missing.json()["code"], 401);
    assert!(missing.json()["message"].is_string());
    let invalid = settings(&server, "Bearer mgit_wrong");
    assert_eq!(invalid.status, 403);
    assert_eq!(invalid.json()["message"], "Invalid API token");
    assert!(invalid.json().get("errors").is_none());

    let unknown = call(
        "GET",
        &format!("{}/api/v1/nope", server.url),
        Some(&token),
        &[],
    );
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["code"], 404);
    let wrong_method = call("DELETE", &url, Some(&token), &[]);
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.json()["code"], 405);
}

#[test]
fn repeated_failures_are_rate_limited_and_counted_in_metrics() {
    let server = TestServer::start();
    let token = server.generated_admin_token().unwrap();
    // `position` stops at the first 429: 10 failures and one refusal are sent.
    let limited = (0..20)
        .map(|_| settings(&server, "Bearer mgit_guess").status)
        .position(|s| s == 429)
        .expect("rate-limited within 20 failures");
    assert_eq!(
        limited, 10,
        "ten failures are allowed, the eleventh is refused"
    );
    let answer = settings(&server, &bearer(&token));
    assert_eq!(
        answer.status, 429,
        "a limited client is refused whatever it sends"
    );
    assert_eq!(answer.json()["code"], 429);

    let metrics = call("GET", &format!("{}/metrics", server.url), None, &[]);
    assert_eq!(metrics.status, 200);
    let text = metrics.body;
    assert!(
        text.contains("mailu_git_auth_failures_total{reason=\"invalid\"} 10\n"),
        "{text}"
    );
    assert!(
        text.contains("mailu_git_auth_failures_total{reason=\"rate_limited\"} 2\n"),
        "{text}"
    );
    assert!(
        text.contains("mailu_git_http_requests_total{class=\"4xx\"} 12\n"),
        "{text}"
    );
    assert!(
        text.contains("mailu_git_http_request_duration_seconds_count"),
        "{text}"
    );
    assert!(text.contains("mailu_git_version 1\n"), "{text}");
}

#[test]
fn settings_carry_the_blob_id_as_etag_and_answer_304_to_it() {
    let server = TestServer::start();
    let token = bearer(&server.generated_admin_token().unwrap());
    let answer = settings(&server, &token);
    assert_eq!(answer.status, 200);
    let etag = answer.etag.clone().expect("an ETag");
    let json = answer.json();
    assert_eq!(json["format"], 1);
    assert!(json["history"].is_object(), "{json}");
    if have_tool("git") {
        let blob = git(
            &server.data.join("config.git"),
            &["rev-parse", "main:mailu.toml"],
        );
        assert_eq!(etag, format!("\"{}\"", blob.trim()));
    }
    let url = format!("{}/api/v1/settings", server.url);
    let same = call("GET", &url, Some(&token), &[("If-None-Match", &etag)]);
    assert_eq!(same.status, 304);
    assert_eq!(same.etag.as_deref(), Some(etag.as_str()));
    assert!(same.body.is_empty());
    let other = call("GET", &url, Some(&token), &[("If-None-Match", "\"0000\"")]);
    assert_eq!(other.status, 200);
}
