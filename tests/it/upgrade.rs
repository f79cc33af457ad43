//! Upgrades (issue 12): a repository whose `mailu.toml` a newer mailu-git wrote (`format = 2`,
//! `tests/it/fixtures/upgrade/mailu-format-2.toml`) is refused at start, with a message naming
//! both formats, rather than served half-working; the repository is left as it was.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{TestServer, bin, git, have_tool};

const FORMAT_2: &str = include_str!("fixtures/upgrade/mailu-format-2.toml");

/// Commits `mailu.toml` = `text` on main of the bare repository `repo` with real git, as the
/// newer mailu-git would have (a version trailer), bypassing this build's checks.
fn commit_settings(repo: &Path, work: &Path, text: &str, version: u64) {
    std::fs::create_dir_all(work).unwrap();
    let wt = work.to_str().unwrap();
    let with_tree = |args: &[&str]| {
        let mut all = vec!["--work-tree", wt];
        all.extend_from_slice(args);
        git(repo, &all);
    };
    with_tree(&["checkout", "main", "--", "."]);
    std::fs::write(work.join("mailu.toml"), text).unwrap();
    with_tree(&["add", "mailu.toml"]);
    let trailer = format!("Mailu-Version: {version}\nMailu-Renderer: none");
    with_tree(&[
        "-c",
        "user.name=newer mailu-git",
        "-c",
        "user.email=newer@mailu-git",
        "commit",
        "-q",
        "-m",
        "Upgrade to format 2",
        "-m",
        &trailer,
    ]);
}

#[test]
fn a_repository_of_a_newer_format_is_refused_at_start_and_left_alone() {
    if !have_tool("git") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    assert!(TestServer::start_on(&data).stop().success());
    let repo = data.join("config.git");
    commit_settings(&repo, &tmp.path().join("work"), FORMAT_2, 2);
    let main = git(&repo, &["rev-parse", "main"]);

    let mut child = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .env_remove("MAILU_GIT_ADMIN_TOKEN")
        .env_remove("MAILU_GIT_WORKER_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server started on a repository of format 2");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    for part in [
        "mailu.toml at main",
        "format 2 was made by a newer mailu-git",
        "reads format 1",
        "upgrade mailu-git",
    ] {
        assert!(stderr.contains(part), "{part:?} not in: {stderr}");
    }
    assert_eq!(git(&repo, &["rev-parse", "main"]), main, "nothing written");
}
