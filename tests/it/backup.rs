//! `mailu-git backup` and `restore` on real servers: a backup taken through the API while writes
//! run restores every write acknowledged before it, every version and every secret, on a new data
//! directory whose server accepts the old tokens; a backup without the key needs it (the wrong one
//! is refused); an offline backup carries the journal's acknowledged writes; a damaged archive,
//! a non-empty target and a running server are refused, changing nothing.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::bundle::{entries, get};
use crate::support::{TestServer, git, request};

const ADMIN: &str = "backup-admin-token-0123456789";

fn api(server: &TestServer, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let reply = request(
        method,
        &format!("{}/api/v1/{path}", server.url),
        ADMIN,
        body,
    );
    let value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
    (reply.status, value)
}

/// `mailu-git <args>` against `server` with the admin token; (success, stdout, stderr).
fn cli(server: Option<&TestServer>, args: &[&str], cwd: &Path) -> (bool, String, String) {
    let mut command = std::process::Command::new(crate::support::bin());
    command
        .args(args)
        .current_dir(cwd)
        .env_remove("MAILU_GIT_DATA")
        .env_remove("MAILU_GIT_SECRET_KEY");
    match server {
        Some(s) => command
            .env("MAILU_GIT_URL", &s.url)
            .env("MAILU_GIT_TOKEN", ADMIN),
        None => command
            .env_remove("MAILU_GIT_URL")
            .env_remove("MAILU_GIT_TOKEN"),
    };
    let out = command.output().expect("mailu-git runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn domains(server: &TestServer) -> Vec<String> {
    let (status, all) = api(server, "GET", "domain", None);
    assert_eq!(status, 200, "{all}");
    all.as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_owned())
        .collect()
}

/// The files of service `name`'s bundle that hold a private key: path → content.
fn private_keys(server: &TestServer, name: &str) -> Vec<(String, String)> {
    let url = format!("{}/api/v1/service/{name}/bundle", server.url);
    let (status, _, body) = get(&url, ADMIN, &[]);
    assert_eq!(status, 200);
    entries(&body)
        .into_iter()
        .filter(|(_, e)| e.5.contains("PRIVATE KEY"))
        .map(|(p, e)| (p, e.5))
        .collect()
}

/// The version number `mailu-git backup` reported.
fn reported_version(stdout: &str) -> u64 {
    stdout
        .split("backup of version ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no version in {stdout}"))
}

#[test]
fn a_backup_taken_while_writes_run_restores_every_acknowledged_write() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = TestServer::start_with(&data, &[("MAILU_GIT_ADMIN_TOKEN", ADMIN)]);
    let (status, body) = api(
        &server,
        "POST",
        "domain?wait=true",
        Some(json!({"name": "before.test"})),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = api(&server, "POST", "domain/before.test/dkim?wait=true", None);
    assert_eq!(status, 200, "{body}");

    // Writers run before, during and after the backup; each records when it was acknowledged.
    let acked: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let writer = {
        let acked = acked.clone();
        let url = server.url.clone();
        std::thread::spawn(move || {
            for i in 0..40 {
                let name = format!("w{i}.test");
                let reply = request(
                    "POST",
                    &format!("{url}/api/v1/domain"),
                    ADMIN,
                    Some(json!({"name": name})),
                );
                assert_eq!(reply.status, 200, "{}", reply.body);
                acked.lock().unwrap().push((name, Instant::now()));
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < 10 {
        assert!(Instant::now() < deadline, "the writers do not progress");
        std::thread::sleep(Duration::from_millis(10));
    }
    let archive = tmp.path().join("backup.tar");
    let asked = Instant::now();
    let (ok, stdout, stderr) = cli(
        Some(&server),
        &["backup", archive.to_str().unwrap()],
        tmp.path(),
    );
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("it holds the secret key"), "{stdout}");
    let version = reported_version(&stdout);
    writer.join().unwrap();
    assert!(!tmp.path().join("backup.tar.partial").exists());
    let mode = std::fs::metadata(&archive).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o077,
        0,
        "the archive holds the key: private"
    );

    let restored = tmp.path().join("restored");
    let (ok, stdout, stderr) = cli(
        None,
        &[
            "restore",
            archive.to_str().unwrap(),
            "--data",
            restored.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("restored version {version} ")),
        "{stdout}"
    );
    // Every version up to the backup's, identical (same commit ids).
    let original_repo = data.join("config.git");
    let restored_repo = restored.join("config.git");
    let (_, shown) = api(&server, "GET", &format!("version/{version}"), None);
    let commit = shown["commit"].as_str().unwrap().to_owned();
    assert_eq!(
        git(&restored_repo, &["rev-list", "main"]),
        git(&original_repo, &["rev-list", &commit])
    );
    let fsck = std::process::Command::new("git")
        .args(["-C", restored_repo.to_str().unwrap(), "fsck", "--strict"])
        .output()
        .unwrap();
    assert!(
        fsck.status.success(),
        "{}",
        String::from_utf8_lossy(&fsck.stderr)
    );

    // The restored server: the old admin token works (its hash came back), every write
    // acknowledged before the backup was asked for is there, nothing that was never acknowledged.
    let copy = TestServer::start_on(&restored);
    assert!(
        copy.generated_admin_token().is_none(),
        "the tokens came back"
    );
    let have = domains(&copy);
    let acked = acked.lock().unwrap().clone();
    for (name, at) in &acked {
        if *at < asked {
            assert!(
                have.contains(name),
                "{name} was acknowledged before the backup"
            );
        }
    }
    for name in &have {
        assert!(
            name == "before.test" || acked.iter().any(|(n, _)| n == name),
            "{name} was never acknowledged"
        );
    }
    assert!(have.contains(&"before.test".to_owned()));
    // Secrets decrypt on the new host: the TLS key and the DKIM keys are the original ones.
    for service in ["smtp", "antispam"] {
        let original = private_keys(&server, service);
        let back = private_keys(&copy, service);
        assert!(!back.is_empty(), "{service} has private keys");
        for (path, content) in &back {
            let same = original.iter().find(|(p, _)| p == path);
            assert_eq!(
                same.map(|s| &s.1),
                Some(content),
                "{service}: {path} differs"
            );
        }
    }
}

#[test]
fn a_backup_without_the_key_needs_the_right_key_to_restore() {
    if !crate::support::have_tool("age-keygen") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = TestServer::start_with(&data, &[("MAILU_GIT_ADMIN_TOKEN", ADMIN)]);
    let archive = tmp.path().join("nokey.tar");
    let (ok, stdout, stderr) = cli(
        Some(&server),
        &["backup", "--without-key", archive.to_str().unwrap()],
        tmp.path(),
    );
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("WITHOUT the secret key"), "{stdout}");
    let restored = tmp.path().join("restored");
    let arch = archive.to_str().unwrap();
    let target = restored.to_str().unwrap();

    let (ok, _, stderr) = cli(None, &["restore", arch, "--data", target], tmp.path());
    assert!(!ok);
    assert!(
        stderr.contains("holds no secret key") && stderr.contains("--secret-key"),
        "{stderr}"
    );
    assert!(!restored.exists(), "a refused restore leaves nothing");

    // Another server's key decrypts nothing of this one.
    let wrong = tmp.path().join("other.key");
    let out = std::process::Command::new("age-keygen")
        .arg("-o")
        .arg(&wrong)
        .output()
        .expect("age-keygen runs (Debian's age)");
    assert!(out.status.success());
    std::fs::set_permissions(&wrong, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let (ok, _, stderr) = cli(
        None,
        &[
            "restore",
            arch,
            "--data",
            target,
            "--secret-key",
            wrong.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(!ok);
    assert!(stderr.contains("not this server's key"), "{stderr}");
    assert!(!restored.exists());

    let key = data.join("secret.key");
    let (ok, stdout, stderr) = cli(
        None,
        &[
            "restore",
            arch,
            "--data",
            target,
            "--secret-key",
            key.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(ok, "{stdout}{stderr}");
    drop(server);
    let copy = TestServer::start_on(&restored);
    assert_eq!(private_keys(&copy, "smtp").len(), 1);
}

#[test]
fn an_offline_backup_carries_acknowledged_writes_not_yet_in_a_version() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = TestServer::start_with(&data, &[("MAILU_GIT_ADMIN_TOKEN", ADMIN)]);
    let (status, body) = api(
        &server,
        "PATCH",
        "settings?wait=true",
        Some(json!({"debounce": {"quiet": "1h", "max_delay": "2h"}})),
    );
    assert_eq!(status, 200, "{body}");
    assert!(server.stop().success());
    // The debounce settings are read at start: this write stays in the journal.
    let mut server = TestServer::start_with(&data, &[("MAILU_GIT_ADMIN_TOKEN", ADMIN)]);
    let (status, body) = api(
        &server,
        "POST",
        "domain",
        Some(json!({"name": "journal.test"})),
    );
    assert_eq!(status, 200, "{body}");

    // While the server runs, the offline backup is refused and points at the API.
    let archive = tmp.path().join("offline.tar");
    let arch = archive.to_str().unwrap();
    let dir = data.to_str().unwrap();
    let (ok, _, stderr) = cli(None, &["backup", arch, "--data", dir], tmp.path());
    assert!(!ok);
    assert!(stderr.contains("the server is running"), "{stderr}");
    assert!(!archive.exists() && !tmp.path().join("offline.tar.partial").exists());

    // A crash: the write is acknowledged, only in the journal.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let (ok, stdout, stderr) = cli(None, &["backup", arch, "--data", dir], tmp.path());
    assert!(ok, "{stdout}{stderr}");
    let restored = tmp.path().join("restored");
    let (ok, stdout, stderr) = cli(
        None,
        &["restore", arch, "--data", restored.to_str().unwrap()],
        tmp.path(),
    );
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("not yet in a version"), "{stdout}");
    let copy = TestServer::start_on(&restored);
    assert!(domains(&copy).contains(&"journal.test".to_owned()));
}

#[test]
fn damaged_archives_and_used_directories_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = TestServer::start_with(&data, &[("MAILU_GIT_ADMIN_TOKEN", ADMIN)]);
    let archive = tmp.path().join("b.tar");
    let arch = archive.to_str().unwrap();
    let (ok, stdout, stderr) = cli(Some(&server), &["backup", arch], tmp.path());
    assert!(ok, "{stdout}{stderr}");
    let bytes = std::fs::read(&archive).unwrap();

    let restored = tmp.path().join("restored");
    let target = restored.to_str().unwrap();
    let cut = tmp.path().join("cut.tar");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let (ok, _, stderr) = cli(
        None,
        &["restore", cut.to_str().unwrap(), "--data", target],
        tmp.path(),
    );
    assert!(!ok);
    assert!(stderr.contains("truncated"), "{stderr}");
    assert!(!restored.exists());

    // A restore never writes into a data directory in use.
    let (ok, _, stderr) = cli(
        None,
        &["restore", arch, "--data", data.to_str().unwrap()],
        tmp.path(),
    );
    assert!(!ok);
    assert!(stderr.contains("is not empty"), "{stderr}");
    assert_eq!(domains(&server), Vec::<String>::new());

    // Parameters are checked.
    let reply = request(
        "GET",
        &format!("{}/api/v1/backup?secret_key=maybe", server.url),
        ADMIN,
        None,
    );
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("secret_key"), "{}", reply.body);
}
