//! `mailu-git serve` on its own: first start, health, restart, the data directory lock, and a checkout
//! of the created repository that `mailu-git check` accepts.

use crate::support::{TestServer, git, have_tool, mailu_git};

fn get_health(url: &str) -> serde_json::Value {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let response = reqwest::get(format!("{url}/healthz")).await.unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    })
}

#[test]
fn first_start_creates_the_repository_and_answers_health() {
    let server = TestServer::start();
    let health = get_health(&server.url);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["version"], 1);
    let repo = server.data.join("config.git");
    assert!(repo.join("HEAD").exists());
    let key = std::fs::metadata(server.data.join("secret.key")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&key.permissions()) & 0o777,
        0o600
    );
    if have_tool("git") {
        let log = git(&repo, &["log", "--format=%H%n%B", "main"]);
        assert!(log.contains("Mailu-Version: 1"), "{log}");
        // Version 1 already holds the rendered files, stamped with this binary's renderer.
        assert!(log.contains("Mailu-Renderer: 0."), "{log}");
        assert!(!log.contains("Mailu-Renderer: none"), "{log}");
        assert_eq!(
            health["commit"].as_str().unwrap(),
            log.lines().next().unwrap()
        );
        git(&repo, &["fsck", "--strict"]);
    }
    assert!(server.stop().success());
}

#[test]
fn a_second_server_on_the_same_data_is_refused_and_a_restart_keeps_the_version() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = TestServer::start_on(&data);
    let first = get_health(&server.url);
    let out = mailu_git(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data",
            data.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("in use by another mailu-git process"),
        "{stderr}"
    );
    assert!(server.stop().success());
    let again = TestServer::start_on(&data);
    let second = get_health(&again.url);
    assert_eq!(
        first["commit"], second["commit"],
        "a restart must not make a new version"
    );
}

#[test]
fn a_clone_of_the_new_repository_passes_check_and_a_broken_edit_fails_with_file_and_line() {
    if !have_tool("git") {
        return;
    }
    let server = TestServer::start();
    let work = tempfile::tempdir().unwrap();
    let clone = work.path().join("clone");
    git(
        work.path(),
        &[
            "clone",
            "-q",
            server.data.join("config.git").to_str().unwrap(),
            "clone",
        ],
    );
    let ok = mailu_git(&["check", clone.to_str().unwrap()], work.path());
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    let settings = clone.join("mailu.toml");
    let text = std::fs::read_to_string(&settings).unwrap();
    assert!(
        text.contains("\n[history]\n"),
        "the template has a [history] table"
    );
    std::fs::write(
        &settings,
        text.replacen("\n[history]\n", "\n[history]\nkeep_lats = 3\n", 1),
    )
    .unwrap();
    let bad = mailu_git(&["check", clone.to_str().unwrap()], work.path());
    assert_eq!(bad.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("mailu.toml:"), "{stderr}");
    assert!(stderr.contains("keep_lats"), "{stderr}");
}

#[test]
fn a_missing_or_exposed_key_file_stops_the_server_before_it_creates_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let key = tmp.path().join("key.txt");
    let serve = |key: &std::path::Path| {
        mailu_git(
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--data",
                data.to_str().unwrap(),
                "--secret-key",
                key.to_str().unwrap(),
            ],
            tmp.path(),
        )
    };
    let out = serve(&key);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("key.txt"),
        "the error names the key file: {stderr}"
    );
    assert!(
        !data.join("config.git").exists(),
        "no repository without a key"
    );

    // A key readable by others is refused, with the fix in the message.
    std::fs::copy(
        env!("CARGO_MANIFEST_DIR").to_owned() + "/tests/it/fixtures/age.key",
        &key,
    )
    .unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let out = serve(&key);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("chmod 600"), "{stderr}");
    assert!(!data.join("config.git").exists());

    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let server = TestServer::start_with_args(&data, &["--secret-key", key.to_str().unwrap()]);
    assert_eq!(get_health(&server.url)["version"], 1);
    assert!(
        !data.join("secret.key").exists(),
        "no key is generated when one is given"
    );
}
