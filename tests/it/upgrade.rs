//! Upgrades (issue 12). Forward: a data directory of format 1 made by an older renderer
//! (`tests/it/fixtures/upgrade/format-1/`, its README says how it was made) starts as exactly one
//! new version rendered by this build, with its history, secrets, tokens and pending change kept,
//! and a tree of an older format pushed afterwards is refused. Backward: a repository whose
//! `mailu.toml` a newer mailu-git wrote (`format = 2`, `fixtures/upgrade/mailu-format-2.toml`) is
//! refused at start, with a message naming both formats, and left as it was. The migration steps
//! themselves are unit-tested (`model::migrate`, `versioner::tests::migrate`): this build has none.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{TestServer, bin, git, have_tool, mailu_git, request};

const FORMAT_2: &str = include_str!("fixtures/upgrade/mailu-format-2.toml");

/// The fixture's tokens and the stamp its last version claims (`make-format-1.sh`).
const ADMIN: &str = "upgrade-fixture-admin-token-0123456789";
const WORKER: &str = "upgrade-fixture-worker-token-0123456789";
const OLDER: &str = "0.9.0-0ld3r0ld";
const MARKER: &str = "# rendered by the built-in templates of mailu-git 0.9.0-0ld3r0ld";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures/upgrade/format-1")
}

/// Lays the fixture out as a data directory at `data`: the repository from its bundle (same
/// commit ids, the server's repository settings), the key, the tokens and the journal.
fn restore_format_1(data: &Path) {
    let from = fixture();
    std::fs::create_dir_all(data).unwrap();
    std::fs::set_permissions(data, std::fs::Permissions::from_mode(0o700)).unwrap();
    let repo = data.join("config.git");
    git(
        data,
        &[
            "-c",
            "init.defaultBranch=main",
            "init",
            "-q",
            "--bare",
            "config.git",
        ],
    );
    for (key, value) in [
        ("core.logAllRefUpdates", "always"),
        ("gc.auto", "0"),
        ("receive.denyNonFastForwards", "true"),
    ] {
        git(&repo, &["config", key, value]);
    }
    let bundle = from.join("config.bundle");
    git(
        &repo,
        &["fetch", "-q", bundle.to_str().unwrap(), "refs/*:refs/*"],
    );
    git(&repo, &["symbolic-ref", "HEAD", "refs/heads/main"]);
    for file in ["secret.key", "access-tokens.json"] {
        std::fs::copy(from.join(file), data.join(file)).unwrap();
        std::fs::set_permissions(data.join(file), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    std::fs::create_dir_all(data.join("journal")).unwrap();
    std::fs::copy(from.join("journal.log"), data.join("journal/journal.log")).unwrap();
}

/// Every commit on main, newest first.
fn commits(repo: &Path) -> Vec<String> {
    git(repo, &["rev-list", "main"])
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The id of the one change the fixture's journal holds (its payload is JSON).
fn pending_change_id() -> String {
    let bytes = std::fs::read(fixture().join("journal.log")).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let ids: Vec<&str> = text
        .match_indices("\"id\":\"")
        .map(|(at, m)| {
            let rest = &text[at + m.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    assert_eq!(
        ids.len(),
        1,
        "the fixture's journal holds one change: {ids:?}"
    );
    ids[0].to_owned()
}

/// This build's `Mailu-Renderer`: what `mailu-git init` stamps its version 1 with.
fn this_stamp(tmp: &Path) -> String {
    let data = tmp.join("stamp-data");
    let mut child = Command::new(bin())
        .args([
            "init",
            "--domain",
            "stamp.test",
            "--hostname",
            "mail.stamp.test",
            "--data",
        ])
        .arg(&data)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"a-password-1\n").unwrap();
    assert!(child.wait().unwrap().success());
    trailer(&data.join("config.git"), "main", "Mailu-Renderer")
}

/// The value of trailer `key` in the message of `rev`.
fn trailer(repo: &Path, rev: &str, key: &str) -> String {
    git(repo, &["log", "-1", "--format=%B", rev])
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")).map(str::to_owned))
        .unwrap_or_else(|| panic!("no {key} on {rev}"))
}

/// Every file under `root`, by path relative to it.
fn files_under(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

#[test]
fn a_format_1_repository_of_an_older_renderer_upgrades_in_one_version() {
    if !have_tool("git") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    restore_format_1(&data);
    let repo = data.join("config.git");
    let before = commits(&repo);
    let fixture_main = std::fs::read_to_string(fixture().join("main")).unwrap();
    assert_eq!(before[0], fixture_main.trim(), "the bundle restores main");
    assert_eq!(trailer(&repo, "main", "Mailu-Renderer"), OLDER);
    let pending = pending_change_id();
    let stamp = this_stamp(tmp.path());
    assert_ne!(stamp, OLDER);

    let server = TestServer::start_on(&data);
    // Exactly one new version on top; every earlier commit kept with its id.
    let after = commits(&repo);
    assert_eq!(after.len(), before.len() + 1, "{after:?}");
    assert_eq!(after[1..], before[..]);
    assert_eq!(trailer(&repo, "main", "Mailu-Renderer"), stamp);
    let number: u64 = trailer(&repo, "main", "Mailu-Version").parse().unwrap();
    let previous: u64 = trailer(&repo, "main^", "Mailu-Version").parse().unwrap();
    assert_eq!(number, previous + 1);
    // The change the older server acknowledged but never committed is in it.
    assert!(
        trailer(&repo, "main", "Mailu-Change").starts_with(&format!("{pending} ")),
        "{}",
        git(&repo, &["log", "-1", "--format=%B", "main"])
    );

    // Its rendered files are what this build renders from its sources.
    let checkout = tmp.path().join("checkout");
    git(
        tmp.path(),
        &[
            "clone",
            "-q",
            repo.to_str().unwrap(),
            checkout.to_str().unwrap(),
        ],
    );
    let out = tmp.path().join("render-out");
    let o = mailu_git(
        &[
            "render",
            checkout.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let committed = files_under(&checkout.join("rendered"));
    let rendered = files_under(&out);
    assert!(!rendered.is_empty());
    assert_eq!(
        committed.keys().collect::<Vec<_>>(),
        rendered.keys().collect::<Vec<_>>()
    );
    for (path, bytes) in &rendered {
        assert!(committed[path] == *bytes, "rendered/{path} differs");
    }
    let main_cf = String::from_utf8_lossy(&committed["smtp/etc/postfix/main.cf"]).into_owned();
    assert!(!main_cf.contains(MARKER), "the older render is gone");

    // The fixture's users, alias and pending user, through the API with the fixture's token.
    for path in [
        "user/alice@upgrade.test",
        "user/admin@upgrade.test",
        "user/bob@upgrade.test",
        "alias/info@upgrade.test",
        "domain/upgrade.test",
    ] {
        let r = request("GET", &format!("{}/api/v1/{path}", server.url), ADMIN, None);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    // The DKIM key decrypts with the fixture's key: antispam's bundle holds it filled in.
    let token = request(
        "POST",
        &format!("{}/api/v1/service/antispam/token", server.url),
        WORKER,
        None,
    );
    assert_eq!(token.status, 200, "{}", token.body);
    let token = token.json()["token"].as_str().unwrap().to_owned();
    let (status, _, archive) = crate::bundle::get(
        &format!("{}/api/v1/service/antispam/bundle", server.url),
        &token,
        &[],
    );
    assert_eq!(status, 200);
    let entries = crate::bundle::entries(&archive);
    let key = entries
        .iter()
        .find(|(path, _)| path.ends_with("rspamd/dkim/upgrade.test.key"))
        .unwrap_or_else(|| panic!("no DKIM key in {:?}", entries.keys()));
    assert!(key.1.5.contains("PRIVATE KEY-----"), "{}", key.1.5);
    assert!(!key.1.5.contains("@@mailu-secret:"));

    older_format_push_is_refused(&server, tmp.path());
    // An API write of an older format is refused the same way.
    let r = request(
        "PATCH",
        &format!("{}/api/v1/settings", server.url),
        ADMIN,
        Some(serde_json::json!({"format": 0})),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("format 0 is older than format 1"),
        "{}",
        r.body
    );

    // A second start has nothing to upgrade or render.
    let upgraded = commits(&repo);
    assert!(server.stop().success());
    let again = TestServer::start_on(&data);
    assert_eq!(commits(&repo), upgraded, "a second start made a version");
    assert!(again.stop().success());
}

/// After the upgrade, a push of a tree of an older format (an edit made on a clone from before
/// it, say) is refused with what to do, and main does not move.
fn older_format_push_is_refused(server: &TestServer, tmp: &Path) {
    let home = tmp.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let client = |dir: &Path, args: &[&str]| {
        Command::new("git")
            .args([
                "-c",
                "user.name=Operator",
                "-c",
                "user.email=op@upgrade.test",
            ])
            .args(args)
            .current_dir(dir)
            .env("HOME", &home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()
            .unwrap()
    };
    let host = server.url.trim_start_matches("http://");
    let url = format!("http://x:{ADMIN}@{host}/config.git");
    let work = tmp.join("pushed");
    let o = client(tmp, &["clone", "-q", &url, work.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let settings = work.join("mailu.toml");
    let text = std::fs::read_to_string(&settings).unwrap();
    assert!(text.contains("\nformat = 1\n"));
    std::fs::write(&settings, text.replace("\nformat = 1\n", "\nformat = 0\n")).unwrap();
    let o = client(&work, &["commit", "-q", "-am", "An edit of format 0"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let repo = server.data.join("config.git");
    let main = commits(&repo);
    let o = client(&work, &["push", "-q", "origin", "main"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "the push of format 0 was accepted");
    assert!(
        stderr.contains("remote: ") && stderr.contains("format 0 is older than format 1"),
        "{stderr}"
    );
    assert!(stderr.contains("git pull"), "{stderr}");
    assert_eq!(commits(&repo), main, "nothing of the push landed");
}

/// Starts the server on `data`, expects it to refuse to start (exit code 1), and returns what it
/// printed on stderr.
fn refused_start(data: &Path) -> String {
    let mut child = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
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
            panic!("the server started");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    stderr
}

/// Commits `mailu.toml` = `text` on main of the bare repository `repo` with real git, as another
/// mailu-git would have (a version trailer), bypassing this build's checks.
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
        "user.name=another mailu-git",
        "-c",
        "user.email=another@mailu-git",
        "commit",
        "-q",
        "-m",
        "mailu.toml as another mailu-git wrote it",
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

    let stderr = refused_start(&data);
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

/// An upgrade that cannot be made stops the start and writes nothing: a repository of format 0,
/// which no step of this build upgrades, with a pending change in its journal.
#[test]
fn an_upgrade_that_cannot_be_made_stops_the_start_and_writes_nothing() {
    if !have_tool("git") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    restore_format_1(&data);
    let repo = data.join("config.git");
    let number: u64 = trailer(&repo, "main", "Mailu-Version").parse().unwrap();
    let settings = git(&repo, &["show", "main:mailu.toml"]);
    assert!(settings.contains("\nformat = 1\n"));
    let format_0 = settings.replace("\nformat = 1\n", "\nformat = 0\n");
    commit_settings(&repo, &tmp.path().join("work"), &format_0, number + 1);
    let main = commits(&repo);
    let journal = std::fs::read(data.join("journal/journal.log")).unwrap();

    let stderr = refused_start(&data);
    for part in [
        "cannot upgrade the configuration; nothing was written",
        "mailu.toml: format 0 cannot be upgraded by this mailu-git",
        "reads format 1",
    ] {
        assert!(stderr.contains(part), "{part:?} not in: {stderr}");
    }
    assert_eq!(commits(&repo), main, "nothing committed");
    assert_eq!(
        std::fs::read(data.join("journal/journal.log")).unwrap(),
        journal,
        "the pending change stays for the next start"
    );
}
