//! Bundles over HTTP (`GET /api/v1/service/<name>/bundle`, `GET /api/v1/deploy`) on the real server:
//! the archive's files, owners, modes and manifest; `ETag`s that move only with the service's own
//! files; who may read what; long-polls that wake on a version; secrets filled and escaped, and
//! refused when they cannot be written.

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

use serde_json::json;

use crate::support::{Reply, TestServer, request};

pub const ADMIN: &str = "bundle-admin-token-0123456789";
pub const WORKER: &str = "bundle-worker-token-0123456789";

/// One GET with optional extra headers; the body as bytes.
pub fn get(
    url: &str,
    token: &str,
    headers: &[(&str, &str)],
) -> (u16, BTreeMap<String, String>, Vec<u8>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut req = reqwest::Client::new().get(url).bearer_auth(token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let response = req.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        (status, headers, response.bytes().await.unwrap().to_vec())
    })
}

/// Every entry of a tar archive: path → (mode, uid, gid, user name, group name, content).
pub type Entries = BTreeMap<String, (u32, u64, u64, String, String, String)>;

pub fn entries(archive: &[u8]) -> Entries {
    let mut out = BTreeMap::new();
    let mut tar = tar::Archive::new(archive);
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let h = entry.header().clone();
        let mut content = String::new();
        entry.read_to_string(&mut content).unwrap();
        out.insert(
            path,
            (
                h.mode().unwrap(),
                h.uid().unwrap(),
                h.gid().unwrap(),
                h.username().unwrap().unwrap_or_default().to_owned(),
                h.groupname().unwrap().unwrap_or_default().to_owned(),
                content,
            ),
        );
    }
    out
}

pub fn start() -> TestServer {
    TestServer::start_env(&[
        ("MAILU_GIT_ADMIN_TOKEN", ADMIN),
        ("MAILU_GIT_WORKER_TOKEN", WORKER),
    ])
}

/// The token of service `name`, as the worker gets it.
pub fn service_token(server: &TestServer, name: &str) -> String {
    let reply = request(
        "POST",
        &format!("{}/api/v1/service/{name}/token", server.url),
        WORKER,
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["token"].as_str().unwrap().to_owned()
}

fn write(server: &TestServer, method: &str, path: &str, body: serde_json::Value) -> Reply {
    let reply = request(
        method,
        &format!("{}/api/v1{path}?wait=true", server.url),
        ADMIN,
        Some(body),
    );
    assert!(
        reply.status < 300,
        "{method} {path}: {} {}",
        reply.status,
        reply.body
    );
    reply
}

fn bundle_url(server: &TestServer, name: &str) -> String {
    format!("{}/api/v1/service/{name}/bundle", server.url)
}

#[test]
fn a_bundle_holds_the_rendered_files_with_owner_mode_and_manifest() {
    let server = start();
    let smtp = service_token(&server, "smtp");
    let (status, headers, body) = get(&bundle_url(&server, "smtp"), &smtp, &[]);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["content-type"], "application/x-tar");
    let etag = headers["etag"].clone();
    assert!(etag.starts_with("\"b1-"), "{etag}");
    let files = entries(&body);
    let main_cf = &files["etc/postfix/main.cf"];
    assert_eq!(
        (main_cf.0, main_cf.3.as_str(), main_cf.4.as_str()),
        (0o644, "root", "root")
    );
    assert!(main_cf.5.contains("myhostname"), "{}", main_cf.5);
    let sasl = files.get("etc/postfix/sasl_passwd").map(|f| f.0);
    if let Some(mode) = sasl {
        assert_eq!(mode, 0o600, "the service file's mode");
    }
    let info = &files[".mailu-bundle/info"].5;
    assert!(info.contains("MAILU_BUNDLE_SERVICE='smtp'"), "{info}");
    assert!(
        info.contains(&format!("MAILU_BUNDLE_ETAG='{}'", etag.trim_matches('"'))),
        "{info}"
    );
    let list = &files[".mailu-bundle/files"].5;
    assert!(
        list.lines()
            .any(|l| l == "0644 root:root etc/postfix/main.cf"),
        "{list}"
    );
    assert!(files[".mailu-bundle/pre-start"].5.contains("build-maps.sh"));
    assert!(
        files[".mailu-bundle/reload"]
            .5
            .starts_with("exec 'sh' '-c'")
    );
    assert!(
        files[".mailu-bundle/reload-paths"]
            .5
            .contains("/etc/postfix/**")
    );
    assert!(
        !files.keys().any(|k| k.starts_with('/')),
        "paths are relative"
    );

    // The same tag again: 304, with the tag, nothing else read.
    let (status, headers, body) = get(
        &bundle_url(&server, "smtp"),
        &smtp,
        &[("if-none-match", &etag)],
    );
    assert_eq!(
        (status, headers["etag"].as_str(), body.len()),
        (304, etag.as_str(), 0)
    );
}

#[test]
fn tokens_read_their_own_bundle_only() {
    let server = start();
    let smtp = service_token(&server, "smtp");
    let (status, _, body) = get(&bundle_url(&server, "imap"), &smtp, &[]);
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("service:smtp"));
    // The worker hands tokens over but reads no bundle itself (least privilege).
    assert_eq!(get(&bundle_url(&server, "smtp"), WORKER, &[]).0, 403);
    assert_eq!(get(&bundle_url(&server, "smtp"), ADMIN, &[]).0, 200);
    // Another service's token does not learn whether a name exists.
    assert_eq!(get(&bundle_url(&server, "nosuch"), &smtp, &[]).0, 403);
    let (status, _, body) = get(&bundle_url(&server, "nosuch"), ADMIN, &[]);
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("no service `nosuch`"));
    assert_eq!(
        get(&bundle_url(&server, "smtp"), "mgit_nothing", &[]).0,
        403
    );
    // The deploy summary is the worker's (and admin's), not a service's.
    assert_eq!(
        get(&format!("{}/api/v1/deploy", server.url), &smtp, &[]).0,
        403
    );
}

#[test]
fn etags_move_with_the_services_own_files_only_and_disabled_services_are_gone() {
    let server = start();
    let deploy = |q: &str| {
        let (status, _, body) = get(&format!("{}/api/v1/deploy{q}", server.url), WORKER, &[]);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()
    };
    let tags = |d: &serde_json::Value| -> BTreeMap<String, String> {
        d["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap().to_owned(),
                    s["etag"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let before = deploy("");
    let number = before["version"]["number"].as_u64().unwrap();
    assert_eq!(before["version"]["held"], false);
    assert!(tags(&before).contains_key("smtp"));

    write(
        &server,
        "POST",
        "/domain",
        json!({"name": "bundle.example"}),
    );
    let after = deploy("");
    assert!(after["version"]["number"].as_u64().unwrap() > number);
    let (b, a) = (tags(&before), tags(&after));
    assert_ne!(b["smtp"], a["smtp"], "smtp renders domains");
    assert_eq!(b["redis"], a["redis"], "redis does not");

    write(
        &server,
        "PATCH",
        "/service/webdav",
        json!({"enabled": false}),
    );
    let disabled = deploy("");
    assert!(!tags(&disabled).contains_key("webdav"));
    let (status, _, body) = get(&bundle_url(&server, "webdav"), ADMIN, &[]);
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("disabled"));
}

#[test]
fn deploy_from_a_version_names_changed_paths_and_mailbox_changes() {
    let server = start();
    let deploy = |q: &str| {
        let (status, _, body) = get(&format!("{}/api/v1/deploy{q}", server.url), WORKER, &[]);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()
    };
    let service = |d: &serde_json::Value, name: &str| -> serde_json::Value {
        d["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {d}"))
            .clone()
    };
    let first = deploy("");
    let n0 = first["version"]["number"].as_u64().unwrap();
    // Without `from`: the service file, no diff.
    let smtp = service(&first, "smtp");
    assert!(smtp["service"]["image"].is_string(), "{smtp}");
    assert_eq!(smtp["changed"], serde_json::Value::Null);
    assert_eq!(first["mailboxes"], serde_json::Value::Null);

    write(&server, "POST", "/domain", json!({"name": "from.example"}));
    write(
        &server,
        "POST",
        "/user",
        json!({"email": "alice@from.example", "raw_password": "correct horse"}),
    );
    let added = deploy(&format!("?from={n0}"));
    let n1 = added["version"]["number"].as_u64().unwrap();
    assert!(n1 > n0);
    assert_eq!(added["mailboxes"], json!({"added": true, "removed": false}));
    let changed = service(&added, "imap")["changed"].clone();
    let paths = changed.as_array().unwrap_or_else(|| panic!("{changed}"));
    assert!(!paths.is_empty(), "imap renders users");
    assert!(
        paths.iter().all(|p| p.as_str().unwrap().starts_with('/')),
        "{changed}"
    );
    assert_eq!(service(&added, "redis")["changed"], json!([]));
    // From the deployed version itself: nothing changed.
    let same = deploy(&format!("?from={n1}"));
    assert_eq!(service(&same, "imap")["changed"], json!([]));
    assert_eq!(same["mailboxes"], json!({"added": false, "removed": false}));

    let reply = request(
        "DELETE",
        &format!("{}/api/v1/user/alice@from.example?wait=true", server.url),
        ADMIN,
        None,
    );
    assert!(reply.status < 300, "{}", reply.body);
    let removed = deploy(&format!("?from={n1}"));
    assert_eq!(
        removed["mailboxes"],
        json!({"added": false, "removed": true})
    );

    // A version that is not (or no longer) there: unknown, not an error.
    let unknown = deploy("?from=999999");
    assert_eq!(unknown["mailboxes"], serde_json::Value::Null);
    assert_eq!(
        service(&unknown, "imap")["changed"],
        serde_json::Value::Null
    );
    let (status, _, body) = get(&format!("{}/api/v1/deploy?from=x", server.url), WORKER, &[]);
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("from"));
    // `from` belongs to the deploy summary only.
    assert_eq!(
        get(
            &format!("{}?from=1", bundle_url(&server, "smtp")),
            ADMIN,
            &[]
        )
        .0,
        400
    );
}

#[test]
fn long_polls_wake_on_a_version_and_time_out_unchanged() {
    let server = start();
    let smtp = service_token(&server, "smtp");
    let (_, headers, _) = get(&bundle_url(&server, "smtp"), &smtp, &[]);
    let etag = headers["etag"].clone();

    // Nothing changes: 304 at the timeout, with the same tag.
    let url = format!(
        "{}?since={}&timeout=1",
        bundle_url(&server, "smtp"),
        etag.trim_matches('"')
    );
    let (status, headers, _) = get(&url, &smtp, &[]);
    assert_eq!((status, headers["etag"].as_str()), (304, etag.as_str()));
    // A different tag answers at once with the bundle.
    let url_old = format!("{}?since=b1-old&timeout=300", bundle_url(&server, "smtp"));
    assert_eq!(get(&url_old, &smtp, &[]).0, 200);
    assert_eq!(
        get(
            &format!("{}?timeout=301", bundle_url(&server, "smtp")),
            &smtp,
            &[]
        )
        .0,
        400
    );

    // A waiting poll wakes when a write changes smtp's files.
    let url = format!(
        "{}?since={}&timeout=120",
        bundle_url(&server, "smtp"),
        etag.trim_matches('"')
    );
    let waiter = {
        let smtp = smtp.clone();
        std::thread::spawn(move || get(&url, &smtp, &[]))
    };
    let deploy_url = {
        let (_, _, body) = get(&format!("{}/api/v1/deploy", server.url), WORKER, &[]);
        let n = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["version"]["number"]
            .as_u64()
            .unwrap();
        format!("{}/api/v1/deploy?since={n}&timeout=120", server.url)
    };
    let deploy_waiter = std::thread::spawn(move || get(&deploy_url, WORKER, &[]));
    std::thread::sleep(Duration::from_millis(300));
    write(&server, "POST", "/domain", json!({"name": "poll.example"}));
    let (status, headers, body) = waiter.join().unwrap();
    assert_eq!(status, 200);
    assert_ne!(headers["etag"], etag);
    assert!(
        entries(&body)
            .values()
            .any(|f| f.5.contains("poll.example"))
    );
    let (status, _, body) = deploy_waiter.join().unwrap();
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(v["services"].as_array().unwrap().len() > 3, "{v}");
    assert_eq!(
        get(
            &format!("{}/api/v1/deploy?since=x", server.url),
            WORKER,
            &[]
        )
        .0,
        400
    );
}

#[test]
fn secrets_are_filled_escaped_and_a_value_no_file_can_hold_is_refused() {
    let server = start();
    write(
        &server,
        "PATCH",
        "/settings",
        json!({"fetchmail": {"enabled": true}}),
    );
    write(
        &server,
        "PATCH",
        "/service/fetchmail",
        json!({"enabled": true}),
    );
    write(&server, "POST", "/domain", json!({"name": "fetch.example"}));
    write(
        &server,
        "POST",
        "/user",
        json!({"email": "u@fetch.example", "raw_password": "a-long-password-1"}),
    );
    write(
        &server,
        "POST",
        "/fetch",
        json!({"email": "u@fetch.example", "protocol": "imap", "host": "imap.remote.example",
               "username": "u", "password": "p\"w\\d\nx"}),
    );
    let listed = request("GET", &format!("{}/api/v1/fetch", server.url), ADMIN, None).json();
    let id = match &listed[0]["id"] {
        serde_json::Value::Number(n) => n.to_string(),
        other => other.as_str().unwrap().to_owned(),
    };
    let token = service_token(&server, "fetchmail");
    let (status, _, body) = get(&bundle_url(&server, "fetchmail"), &token, &[]);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let rc = &entries(&body)["etc/fetchmailrc"].5;
    assert!(rc.contains(r#"password "p\x22w\x5cd\x0ax""#), "{rc}");
    assert!(!rc.contains("@@mailu-secret"), "{rc}");

    // Another service's bundle never holds it.
    let smtp = service_token(&server, "smtp");
    let (_, _, body) = get(&bundle_url(&server, "smtp"), &smtp, &[]);
    assert!(!String::from_utf8_lossy(&body).contains("p\"w"));

    // A NUL cannot be written in any file: the bundle fails (500, logged naming file and secret).
    write(
        &server,
        "PATCH",
        &format!("/fetch/{id}"),
        json!({"password": "a\u{0}b"}),
    );
    let (status, _, body) = get(&bundle_url(&server, "fetchmail"), &token, &[]);
    assert_eq!(status, 500, "{}", String::from_utf8_lossy(&body));
    assert!(!String::from_utf8_lossy(&body).contains("a\u{0}b"));
}

#[test]
fn secret_env_values_travel_in_the_bundle_only_and_their_change_is_named() {
    let server = start();
    write(
        &server,
        "PATCH",
        "/settings",
        json!({"fetchmail": {"enabled": true}}),
    );
    write(&server, "POST", "/domain", json!({"name": "env.example"}));
    write(
        &server,
        "POST",
        "/user",
        json!({"email": "u@env.example", "raw_password": "a-long-password-1"}),
    );
    write(
        &server,
        "POST",
        "/fetch",
        json!({"email": "u@env.example", "protocol": "imap", "host": "imap.remote.example",
               "username": "u", "password": "it's \"one\" $HOME"}),
    );
    let listed = request("GET", &format!("{}/api/v1/fetch", server.url), ADMIN, None).json();
    let id = match &listed[0]["id"] {
        serde_json::Value::Number(n) => n.to_string(),
        other => other.as_str().unwrap().to_owned(),
    };
    write(
        &server,
        "PATCH",
        "/service/smtp",
        json!({"env": {"RELAY_PASSWORD": {"secret": format!("fetch/{id}")}, "PLAIN": "1"}}),
    );
    let token = service_token(&server, "smtp");
    let (status, headers, body) = get(&bundle_url(&server, "smtp"), &token, &[]);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let first_etag = headers["etag"].clone();
    let files = entries(&body);
    let env = &files[".mailu-bundle/env"];
    assert_eq!(env.0 & 0o777, 0o600, "only root reads it");
    assert_eq!(
        env.5, "export RELAY_PASSWORD='it'\\''s \"one\" $HOME'\n",
        "secret values only, one shell word each"
    );
    // The same line, read back by a real shell, gives the value.
    let shell = std::process::Command::new("sh")
        .args(["-c", &format!("{}printf %s \"$RELAY_PASSWORD\"", env.5)])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&shell.stdout), "it's \"one\" $HOME");

    // The summary names the secret, never its value.
    let deploy = |q: &str| {
        let (status, _, body) = get(&format!("{}/api/v1/deploy{q}", server.url), WORKER, &[]);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()
    };
    let before = deploy("");
    assert!(!before.to_string().contains("one"), "{before}");
    let n = before["version"]["number"].as_u64().unwrap();

    // A new value: a new ETag, and the summary from the old version names the env file.
    write(
        &server,
        "PATCH",
        &format!("/fetch/{id}"),
        json!({"password": "two"}),
    );
    let (_, headers, body) = get(&bundle_url(&server, "smtp"), &token, &[]);
    assert_ne!(headers["etag"], first_etag);
    assert_eq!(
        entries(&body)[".mailu-bundle/env"].5,
        "export RELAY_PASSWORD='two'\n"
    );
    let after = deploy(&format!("?from={n}"));
    let smtp = after["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "smtp")
        .unwrap()
        .clone();
    assert!(
        smtp["changed"]
            .as_array()
            .unwrap()
            .contains(&json!("/.mailu-bundle/env")),
        "{smtp}"
    );
}

#[test]
fn a_waiting_long_poll_does_not_hold_the_shutdown() {
    let server = start();
    let smtp = service_token(&server, "smtp");
    let (_, headers, _) = get(&bundle_url(&server, "smtp"), &smtp, &[]);
    let etag = headers["etag"].trim_matches('"').to_owned();
    let url = format!("{}?since={etag}&timeout=300", bundle_url(&server, "smtp"));
    let waiter = std::thread::spawn(move || get(&url, &smtp, &[]));
    std::thread::sleep(Duration::from_millis(300));
    // `stop` fails the test unless the server exits within its bound (far below 300 s).
    assert!(server.stop().success());
    assert_eq!(waiter.join().unwrap().0, 304);
}

#[test]
fn the_workers_deploy_report_is_kept_in_the_data_dir_and_shown_in_the_status() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let env = [
        ("MAILU_GIT_ADMIN_TOKEN", ADMIN),
        ("MAILU_GIT_WORKER_TOKEN", WORKER),
    ];
    let server = TestServer::start_with(&data, &env);
    let post = |server: &TestServer, token: &str, body: serde_json::Value| {
        request(
            "POST",
            &format!("{}/api/v1/deploy/report", server.url),
            token,
            Some(body),
        )
    };
    let status = |server: &TestServer| {
        let reply = request("GET", &format!("{}/api/v1/status", server.url), ADMIN, None);
        assert_eq!(reply.status, 200, "{}", reply.body);
        serde_json::from_str::<serde_json::Value>(&reply.body).unwrap()
    };
    assert!(status(&server).get("deploy").is_none());
    let report = json!({
        "version": 2,
        "time": "2026-11-29T06:00:00Z",
        "services": [
            {"service": "imap", "action": "refresh", "ok": true},
            {"service": "smtp", "action": "restart", "ok": false, "error": "not healthy after 60 s"}
        ]
    });
    let reply = post(&server, WORKER, report.clone());
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(status(&server)["deploy"], report);

    // Bad reports name their field and change nothing; a service token may not report.
    let mut bad = report.clone();
    bad["services"][1]["action"] = json!("explode");
    let reply = post(&server, WORKER, bad);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("services[1].action"), "{}", reply.body);
    let reply = post(&server, WORKER, json!({"version": "x"}));
    assert_eq!(reply.status, 400, "{}", reply.body);
    let smtp = service_token(&server, "smtp");
    assert_eq!(post(&server, &smtp, report.clone()).status, 403);
    assert_eq!(status(&server)["deploy"], report);

    // Kept in the data dir across a restart, never in the repository.
    assert!(server.stop().success());
    assert!(data.join("deploy-report.json").is_file());
    let server = TestServer::start_with(&data, &env);
    assert_eq!(status(&server)["deploy"], report);
    assert!(server.stop().success());
}
