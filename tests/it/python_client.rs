//! The Python client wheel served by the server: found at `GET /api/v1/client/python`, installed
//! with the real `pip` into a fresh virtual environment straight from the server's URL (no index),
//! then used by a Python script to drive the server: create, read, update, delete, errors as
//! exceptions, versions and revert.

use std::process::Command;

use crate::support::{TestServer, have_tool};

/// Whether `python3 -m venv` works here (Debian splits it into `python3-venv`). Like `have_tool`: a
/// skip with a reason, a failure under `MAILU_GIT_REQUIRE_ALL=1`.
fn have_venv(dir: &std::path::Path) -> bool {
    if !have_tool("python3") {
        return false;
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(dir)
        .output()
        .unwrap();
    if !made.status.success() {
        let why = String::from_utf8_lossy(&made.stderr).to_string();
        assert!(
            std::env::var("MAILU_GIT_REQUIRE_ALL").as_deref() != Ok("1"),
            "python3 -m venv is required (MAILU_GIT_REQUIRE_ALL=1): {why}"
        );
        eprintln!("SKIPPED: python3 -m venv fails: {why}");
        return false;
    }
    true
}

/// The script that drives the server with the installed client.
const SCRIPT: &str = include_str!("python_client.py");

#[test]
fn the_wheel_installs_with_pip_from_the_server_and_drives_it() {
    let tmp = tempfile::tempdir().unwrap();
    let venv = tmp.path().join("venv");
    if !have_venv(&venv) {
        return;
    }
    let server = TestServer::start();
    let token = server.generated_admin_token().expect("a generated token");

    // No token: the wheel holds no secret, and pip sends none.
    let info = crate::support::request(
        "GET",
        &format!("{}/api/v1/client/python", server.url),
        "",
        None,
    )
    .json();
    let url = info["url"].as_str().unwrap().to_owned();
    let version = info["version"].as_str().unwrap().to_owned();
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    assert!(
        url.starts_with(&server.url) && url.ends_with("-py3-none-any.whl"),
        "{url}"
    );

    let pip = Command::new(venv.join("bin/pip"))
        .args([
            "install",
            "--no-index",
            "--no-deps",
            "--disable-pip-version-check",
            &url,
        ])
        .output()
        .unwrap();
    assert!(
        pip.status.success(),
        "pip install failed: {}{}",
        String::from_utf8_lossy(&pip.stdout),
        String::from_utf8_lossy(&pip.stderr)
    );
    // pip checked the RECORD's hashes as it installed; `pip check` reads the metadata back.
    let check = Command::new(venv.join("bin/pip"))
        .args(["show", "mailu-git"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&check.stdout).contains(&format!("Version: {version}")));

    let script = tmp.path().join("drive.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let run = Command::new(venv.join("bin/python"))
        .arg(&script)
        .args([&server.url, &token, &version])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "the script failed: {}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(String::from_utf8_lossy(&run.stdout).contains("python client ok"));

    // Another file name is not served.
    let missing = crate::support::request(
        "GET",
        &format!(
            "{}/api/v1/client/python/mailu_git-9.9.9-py3-none-any.whl",
            server.url
        ),
        "",
        None,
    );
    assert_eq!(missing.status, 404);
}
