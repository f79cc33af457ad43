//! Versioning on the real server, checked with the real `git`: a revert restores exactly the old
//! tree (tree ids compared), a revert of a revert, a revert with pending writes, suspend pinning
//! the deployed version while writes and a push land on main, resume, revisions refused with clear
//! messages (unknown, ambiguous short id, a pushed intermediate commit, a version invalid under
//! today's rules), diff paging and caps with no secret plaintext, and the CLI online and offline.

use std::path::Path;

use serde_json::{Value, json};

use crate::githttp::{ADMIN, Fixture, write};
use crate::support::{TestServer, git, mailu_git, request};

fn api(server: &TestServer, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let reply = request(
        method,
        &format!("{}/api/v1/{path}", server.url),
        ADMIN,
        body,
    );
    let json = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
    (reply.status, json)
}

/// Sets the message size limit and waits for the version; returns its number.
fn set_limit(server: &TestServer, n: u64) -> u64 {
    let (status, body) = api(
        server,
        "PATCH",
        "settings?wait=true",
        Some(json!({"mail": {"message_size_limit": n}})),
    );
    assert_eq!(status, 200, "{body}");
    body["version"].as_u64().expect("a version")
}

fn tree(repo: &Path, rev: &str) -> String {
    git(repo, &["rev-parse", &format!("{rev}^{{tree}}")])
        .trim()
        .to_owned()
}

fn commit_of(server: &TestServer, number: u64) -> String {
    let (status, v) = api(server, "GET", &format!("version/{number}"), None);
    assert_eq!(status, 200, "{v}");
    v["commit"].as_str().unwrap().to_owned()
}

#[test]
fn a_revert_restores_the_exact_tree_and_can_itself_be_reverted() {
    let Some(fx) = Fixture::start() else { return };
    let server = &fx.server;
    let repo = fx.repo();
    let v2 = set_limit(server, 11_000_000);
    let v3 = set_limit(server, 22_000_000);
    let (c2, c3) = (commit_of(server, v2), commit_of(server, v3));

    let (status, reverted) = api(server, "POST", &format!("version/{v2}/revert"), None);
    assert_eq!(status, 200, "{reverted}");
    let r1 = reverted["number"].as_u64().unwrap();
    assert_eq!(r1, v3 + 1);
    assert_eq!(reverted["deployed"], true);
    assert_eq!(reverted["reverted_to"]["number"], v2);
    let new = reverted["commit"].as_str().unwrap();
    assert_eq!(tree(&repo, new), tree(&repo, &c2));
    assert_eq!(git(&repo, &["rev-parse", "main"]).trim(), new);
    let message = git(&repo, &["log", "-1", "--format=%s%n%an", new]);
    assert!(
        message.starts_with(&format!("Revert to version {v2}\n")),
        "{message}"
    );
    // The API reads the reverted value at once.
    let (_, settings) = api(server, "GET", "settings", None);
    assert_eq!(settings["mail"]["message_size_limit"], 11_000_000);

    // A revert of the revert: version 3's tree again, by short id this time.
    let short = &c3[..8];
    let (status, again) = api(server, "POST", &format!("version/{short}/revert"), None);
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        tree(&repo, again["commit"].as_str().unwrap()),
        tree(&repo, &c3)
    );

    // The history lists them newest first, marks main/deployed, and pages.
    let reply = request(
        "GET",
        &format!("{}/api/v1/version?limit=2", server.url),
        ADMIN,
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let total: u64 = reply.headers["x-total-count"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(total, r1 + 1);
    let page = reply.json();
    assert_eq!(page.as_array().unwrap().len(), 2);
    assert_eq!(page[0]["number"], r1 + 1);
    assert_eq!(page[0]["head"], true);
    assert_eq!(page[0]["deployed"], true);
    assert_eq!(page[1]["head"], false);
    assert!(page[0]["summary"].as_str().unwrap().starts_with("Revert"));
    // One version's changes, grouped.
    let (_, shown) = api(server, "GET", &format!("version/{v2}"), None);
    assert!(
        shown["sources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["path"] == "mailu.toml" && c["kind"] == "modified"),
        "{shown}"
    );
}

#[test]
fn a_revert_commits_pending_writes_first() {
    let Some(fx) = Fixture::start() else { return };
    let (status, body) = api(
        &fx.server,
        "PATCH",
        "settings?wait=true",
        Some(json!({"debounce": {"quiet": "1h", "max_delay": "2h"}})),
    );
    assert_eq!(status, 200, "{body}");
    // The debounce settings are read at start.
    let data = fx.server.data.clone();
    let Fixture { server, home } = fx;
    assert!(server.stop().success());
    let server = TestServer::start_with(&data, &[("MAILU_GIT_ADMIN_TOKEN", ADMIN)]);
    let repo = data.join("config.git");
    let before = git(&repo, &["rev-parse", "main"]).trim().to_owned();
    let (status, body) = api(
        &server,
        "PATCH",
        "settings",
        Some(json!({"mail": {"message_size_limit": 33_000_000}})),
    );
    assert_eq!(status, 200, "{body}");
    let (_, pending) = api(&server, "GET", "pending", None);
    assert_eq!(pending["changes"].as_array().unwrap().len(), 1, "{pending}");

    let (status, reverted) = api(&server, "POST", "version/1/revert", None);
    assert_eq!(status, 200, "{reverted}");
    let new = reverted["commit"].as_str().unwrap();
    // The write is in the version before the revert; the revert's tree is version 1's.
    let parent = git(&repo, &["rev-parse", &format!("{new}^")])
        .trim()
        .to_owned();
    assert_ne!(parent, before, "the pending write became a version first");
    let mailu = git(&repo, &["show", &format!("{parent}:mailu.toml")]);
    assert!(mailu.contains("message_size_limit = 33000000"), "{mailu}");
    let v1 = commit_of(&server, 1);
    assert_eq!(tree(&repo, new), tree(&repo, &v1));
    let (_, pending) = api(&server, "GET", "pending", None);
    assert!(pending["changes"].as_array().unwrap().is_empty());
    drop(home);
}

#[test]
fn suspend_pins_the_deployed_version_while_writes_and_pushes_continue() {
    let Some(fx) = Fixture::start() else { return };
    let server = &fx.server;
    let repo = fx.repo();
    let held = set_limit(server, 44_000_000);

    let (status, s) = api(server, "POST", "suspend", None);
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["deployed"]["number"], held);
    let hold = git(&repo, &["rev-parse", "refs/mailu/hold"])
        .trim()
        .to_owned();
    assert_eq!(hold, commit_of(server, held));
    let (status, again) = api(server, "POST", "suspend", None);
    assert_eq!(status, 409);
    assert!(
        again["message"]
            .as_str()
            .unwrap()
            .contains(&format!("since version {held}")),
        "{again}"
    );

    // A write and a push land on main; the hold stays.
    set_limit(server, 55_000_000);
    let work = fx.clone("work", &[]);
    write(
        &work,
        "overrides/front/etc/extra.conf",
        b"# pushed while suspended\n",
    );
    fx.ok(&work, &["add", "-A"]);
    fx.ok(&work, &["commit", "-q", "-m", "while suspended"]);
    fx.ok(&work, &["push", "-q", "origin", "main"]);
    assert_eq!(git(&repo, &["rev-parse", "refs/mailu/hold"]).trim(), hold);
    let (_, st) = api(server, "GET", "status", None);
    assert_eq!(st["deployed"]["held"], true, "{st}");
    assert_eq!(st["deployed"]["version"], held);
    assert!(st["deployed"]["held_since"].as_i64().is_some(), "{st}");
    assert_eq!(st["versions_ahead"], 2, "{st}");
    assert_eq!(st["writable"]["ok"], true);
    assert_eq!(st["main"]["version"], held + 2);
    // The certificate of the first start is part of the status.
    assert_eq!(st["certificate"]["source"], "self-signed", "{st}");
    assert!(
        st["certificate"]["expires_in"].as_i64().unwrap() > 0,
        "{st}"
    );
    let metrics = request("GET", &format!("{}/metrics", server.url), ADMIN, None).body;
    assert!(metrics.contains("mailu_git_suspended 1"), "{metrics}");
    assert!(metrics.contains("mailu_git_versions_ahead 2"), "{metrics}");

    // A revert while suspended is not deployed, unless asked to move the hold.
    let (status, r) = api(server, "POST", &format!("version/{held}/revert"), None);
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["deployed"], false);
    assert!(
        r["message"].as_str().unwrap().contains("NOT deployed"),
        "{r}"
    );
    assert_eq!(git(&repo, &["rev-parse", "refs/mailu/hold"]).trim(), hold);
    let (status, r) = api(server, "POST", "version/1/revert?deploy=true", None);
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["deployed"], true);
    assert_eq!(
        git(&repo, &["rev-parse", "refs/mailu/hold"]).trim(),
        r["commit"].as_str().unwrap()
    );

    let (status, resumed) = api(server, "POST", "resume", None);
    assert_eq!(status, 200, "{resumed}");
    let (_, st) = api(server, "GET", "status", None);
    assert_eq!(st["deployed"]["held"], false);
    assert_eq!(st["deployed"]["commit"], st["main"]["commit"]);
    assert_eq!(st["versions_ahead"], 0);
    let (status, _) = api(server, "POST", "resume", None);
    assert_eq!(status, 409);
    let gone = std::process::Command::new("git")
        .args([
            "-C",
            repo.to_str().unwrap(),
            "rev-parse",
            "-q",
            "--verify",
            "refs/mailu/hold",
        ])
        .output()
        .unwrap();
    assert!(!gone.status.success(), "the hold is deleted");
}

#[test]
fn revisions_that_name_no_version_are_refused_clearly() {
    let Some(fx) = Fixture::start() else { return };
    let server = &fx.server;
    let repo = fx.repo();
    let newest = set_limit(server, 12_000_000);
    let head = git(&repo, &["rev-parse", "main"]).trim().to_owned();
    let refused = |rev: &str, status: u16, words: &str| {
        let (got, body) = api(server, "POST", &format!("version/{rev}/revert"), None);
        assert_eq!(got, status, "{rev}: {body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains(words), "{rev}: {message}");
        assert_eq!(
            git(&repo, &["rev-parse", "main"]).trim(),
            head,
            "{rev} changed main"
        );
    };
    refused("99", 404, &format!("no version 99: the newest is {newest}"));
    refused("v-nothing", 404, "unknown revision");
    refused("deadbeefdeadbeef", 404, "unknown revision");
    refused("a..b", 400, "not a revision");

    // A pushed intermediate commit exists on main's history but is not a version.
    let work = fx.clone("work", &[]);
    write(&work, "overrides/front/etc/one.conf", b"# one\n");
    fx.ok(&work, &["add", "-A"]);
    fx.ok(&work, &["commit", "-q", "-m", "one"]);
    write(&work, "overrides/front/etc/two.conf", b"# two\n");
    fx.ok(&work, &["add", "-A"]);
    fx.ok(&work, &["commit", "-q", "-m", "two"]);
    let pushed = fx.ok(&work, &["rev-parse", "HEAD~1"]).trim().to_owned();
    fx.ok(&work, &["push", "-q", "origin", "main"]);
    let head = git(&repo, &["rev-parse", "main"]).trim().to_owned();
    let (status, body) = api(server, "GET", &format!("version/{pushed}"), None);
    assert_eq!(status, 400, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("{pushed} is not a version")),
        "{message}"
    );

    // An ambiguous short id: unreachable blobs written straight into the repository make sure
    // two objects share a four-digit prefix.
    let blobs = tempfile::tempdir().unwrap();
    let paths: Vec<String> = (0..3000)
        .map(|i| {
            let p = blobs.path().join(format!("b{i}"));
            std::fs::write(&p, format!("blob {i}\n")).unwrap();
            p.to_str().unwrap().to_owned()
        })
        .collect();
    let mut args = vec!["hash-object", "-w"];
    args.extend(paths.iter().map(String::as_str));
    git(&repo, &args);
    let all = git(
        &repo,
        &[
            "cat-file",
            "--batch-all-objects",
            "--batch-check=%(objectname)",
        ],
    );
    let mut ids: Vec<&str> = all.lines().collect();
    ids.sort_unstable();
    let prefix = ids
        .windows(2)
        // Digits only would be read as a version number.
        .find(|w| w[0][..4] == w[1][..4] && w[0][..4].bytes().any(|b| b.is_ascii_alphabetic()))
        .map(|w| &w[0][..4])
        .expect("3000 blobs share a 4-digit prefix with a letter somewhere");
    let (status, body) = api(server, "GET", &format!("version/{prefix}"), None);
    assert_eq!(status, 400, "{prefix}: {body}");
    assert!(
        body["message"].as_str().unwrap().contains("ambiguous"),
        "{body}"
    );
    assert_eq!(git(&repo, &["rev-parse", "main"]).trim(), head);
}

#[test]
fn a_revert_to_a_version_invalid_under_todays_rules_changes_nothing() {
    use mailu_git::model::RepoPath;
    use mailu_git::store::{CommitMeta, Edit, Person, Store};
    if !crate::support::have_tool("git") {
        return;
    }
    // No release of this server accepted an invalid mailu.toml, so the old version is built the
    // way an older release with looser rules would have left it: committed through the store with
    // the server stopped (a version whose mailu.toml today's model refuses), then fixed by a
    // later version so main is valid.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = TestServer::start_with(&data, &[("MAILU_GIT_ADMIN_TOKEN", ADMIN)]);
    assert!(server.stop().success());
    let store = Store::open(&data.join("config.git")).unwrap();
    let path = RepoPath::parse("mailu.toml").unwrap();
    let head = store.head().unwrap();
    let good = store
        .snapshot(&mailu_git::store::Rev::Commit(head))
        .unwrap()
        .read(&path)
        .unwrap()
        .unwrap();
    let bad = String::from_utf8(good.clone()).unwrap().replace(
        "message_size_limit = 50000000",
        "message_size_limit = \"huge\"",
    );
    let who = Person {
        name: "an older release".into(),
        email: "old@localhost".into(),
    };
    let meta = |s: &str| CommitMeta {
        renderer: Some(mailu_git::render::stamp().to_owned()),
        ..CommitMeta::new(who.clone(), s)
    };
    let old = store
        .commit(
            head,
            &[Edit::write(path.clone(), bad)],
            &meta("looser rules"),
        )
        .unwrap();
    store
        .commit(old.commit, &[Edit::write(path, good)], &meta("fixed"))
        .unwrap();
    let server = TestServer::start_with(&data, &[("MAILU_GIT_ADMIN_TOKEN", ADMIN)]);
    let repo = data.join("config.git");
    let main = git(&repo, &["rev-parse", "main"]).trim().to_owned();
    let (status, body) = api(
        &server,
        "POST",
        &format!("version/{}/revert", old.number),
        None,
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("invalid under today's rules"),
        "{body}"
    );
    let errors = body["errors"].as_object().unwrap();
    assert!(
        errors.keys().any(|k| k.starts_with("mailu.toml")),
        "the file is named: {body}"
    );
    assert_eq!(git(&repo, &["rev-parse", "main"]).trim(), main);
}

#[test]
fn diffs_page_cap_large_files_and_never_show_secrets() {
    let Some(fx) = Fixture::start() else { return };
    let server = &fx.server;
    let (status, body) = api(
        server,
        "POST",
        "domain",
        Some(json!({"name": "example.com"})),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = api(server, "POST", "domain/example.com/dkim?wait=true", None);
    assert_eq!(status, 200, "{body}");
    let dkim = body["version"].as_u64().expect("a version");

    // Secrets: the DKIM key is listed as changed, never shown.
    let (status, diff) = api(server, "GET", &format!("version/1/diff/{dkim}"), None);
    assert_eq!(status, 200, "{diff}");
    let text = diff.to_string();
    assert!(!text.contains("BEGIN AGE"), "{text}");
    assert!(!text.contains("PRIVATE KEY"), "{text}");
    let secret = diff["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().unwrap().starts_with("secrets/dkim/"))
        .unwrap_or_else(|| panic!("the DKIM secret is listed: {diff}"));
    assert!(
        secret["note"].as_str().unwrap().starts_with("secret"),
        "{secret}"
    );
    assert!(secret.get("diff").is_none());

    // Many files and a large one: pages, a truncated diff and its continuation.
    let work = fx.clone("work", &[]);
    for i in 0..60 {
        write(
            &work,
            &format!("overrides/front/etc/many/f{i:02}.conf"),
            format!("# {i}\n").as_bytes(),
        );
    }
    let big: String = (0..20_000)
        .map(|i| format!("line {i} of a large file\n"))
        .collect();
    write(&work, "overrides/front/etc/big.conf", big.as_bytes());
    fx.ok(&work, &["add", "-A"]);
    fx.ok(&work, &["commit", "-q", "-m", "many files"]);
    fx.ok(&work, &["push", "-q", "origin", "main"]);
    let base = format!("version/{dkim}/diff/main");
    let (status, first) = api(server, "GET", &base, None);
    assert_eq!(status, 200, "{first}");
    let total = first["total_files"].as_u64().unwrap();
    assert!(total >= 122, "sources and rendered copies: {total}");
    assert_eq!(first["files"].as_array().unwrap().len(), 50);
    assert_eq!(first["pages"].as_u64().unwrap(), total.div_ceil(50));
    assert_eq!(first["files"][0]["group"], "sources");
    let (status, last) = api(
        server,
        "GET",
        &format!("{base}?page={}", first["pages"]),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(last["files"][0]["group"], "rendered");
    let (status, _) = api(server, "GET", &format!("{base}?page=99"), None);
    assert_eq!(status, 400);
    let (status, _) = api(server, "GET", &format!("{base}?bogus=1"), None);
    assert_eq!(status, 400);
    let (_, front) = api(server, "GET", &format!("{base}?service=front&page=1"), None);
    assert!(
        front["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["service"] == "front")
    );

    let path = "overrides/front/etc/big.conf";
    let (status, one) = api(server, "GET", &format!("{base}?path={path}"), None);
    assert_eq!(status, 200, "{one}");
    let file = &one["files"][0];
    assert_eq!(file["truncated"], true, "{file}");
    let mut text = file["diff"].as_str().unwrap().to_owned();
    assert!(text.len() <= 64 * 1024);
    let mut next = file["next_offset"].as_u64();
    let mut rounds = 0;
    while let Some(offset) = next {
        rounds += 1;
        assert!(rounds < 100, "paging into the file ends");
        let (status, more) = api(
            server,
            "GET",
            &format!("{base}?path={path}&offset={offset}"),
            None,
        );
        assert_eq!(status, 200, "{more}");
        text.push_str(more["files"][0]["diff"].as_str().unwrap());
        next = more["files"][0]["next_offset"].as_u64();
    }
    assert!(
        rounds >= 2,
        "a {}-byte diff takes several parts",
        text.len()
    );
    assert!(text.contains("+line 19999 of a large file\n"));
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
            .count(),
        20_000
    );
}

#[test]
fn the_cli_reverts_online_and_offline_and_offline_is_refused_while_the_server_runs() {
    let Some(fx) = Fixture::start() else { return };
    let server = &fx.server;
    let repo = fx.repo();
    let data = server.data.to_str().unwrap().to_owned();
    let v2 = set_limit(server, 66_000_000);
    let cli = |args: &[&str]| {
        std::process::Command::new(crate::support::bin())
            .args(args)
            .env("MAILU_GIT_URL", &server.url)
            .env("MAILU_GIT_TOKEN", ADMIN)
            .env_remove("MAILU_GIT_DATA")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    let log = cli(&["log", "--limit", "5"]);
    assert!(log.status.success(), "{}", text(&log));
    assert!(text(&log).contains("VERSION"), "{}", text(&log));
    let status = cli(&["status", "--json"]);
    assert!(status.status.success(), "{}", text(&status));
    let st: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(st["main"]["version"], v2);

    // Without a terminal and without --yes nothing happens.
    let head = git(&repo, &["rev-parse", "main"]).trim().to_owned();
    let refused = cli(&["revert", "1"]);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("--yes"), "{}", text(&refused));
    assert_eq!(git(&repo, &["rev-parse", "main"]).trim(), head);
    let done = cli(&["revert", "1", "--yes"]);
    assert!(done.status.success(), "{}", text(&done));
    let v1 = commit_of(server, 1);
    assert_eq!(tree(&repo, "main"), tree(&repo, &v1));

    // Offline while the server runs: refused with its pid.
    let busy = mailu_git(&["revert", "2", "--yes", "--data", &data], Path::new("/"));
    assert!(!busy.status.success());
    let message = text(&busy);
    assert!(message.contains("the server is running (pid"), "{message}");
    assert!(message.contains("use the API"), "{message}");

    let Fixture { server, home } = fx;
    let pid = server.child.id();
    assert!(server.stop().success(), "server {pid} stops");
    let out = mailu_git(
        &[
            "revert",
            &v2.to_string(),
            "--yes",
            "--data",
            &data,
            "--json",
        ],
        Path::new("/"),
    );
    assert!(out.status.success(), "{}", text(&out));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["reverted_to"]["number"], v2);
    let main = git(&repo, &["rev-parse", "main"]).trim().to_owned();
    assert_eq!(main, r["commit"].as_str().unwrap());
    assert_eq!(
        tree(&repo, &main),
        tree(&repo, r["reverted_to"]["commit"].as_str().unwrap())
    );
    let out = mailu_git(&["suspend", "--data", &data], Path::new("/"));
    assert!(out.status.success(), "{}", text(&out));
    let out = mailu_git(&["status", "--data", &data, "--json"], Path::new("/"));
    assert!(out.status.success(), "{}", text(&out));
    let st: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(st["deployed"]["held"], true, "{st}");
    let out = mailu_git(&["resume", "--data", &data], Path::new("/"));
    assert!(out.status.success(), "{}", text(&out));
    drop(home);
}

#[test]
fn a_revert_to_a_version_of_another_renderer_renders_its_sources_again() {
    use mailu_git::model::RepoPath;
    use mailu_git::store::{CommitMeta, Edit, Person, Rev, Store};
    let Some(fx) = Fixture::start() else { return };
    let data = fx.server.data.clone();
    let Fixture { server, home } = fx;
    assert!(server.stop().success());
    // A version made by an older renderer: its rendered files are that renderer's (here: not
    // updated for its mailu.toml at all, which today's renderer would never leave).
    let store = Store::open(&data.join("config.git")).unwrap();
    let path = RepoPath::parse("mailu.toml").unwrap();
    let head = store.head().unwrap();
    let good = store
        .snapshot(&Rev::Commit(head))
        .unwrap()
        .read(&path)
        .unwrap()
        .unwrap();
    let changed = String::from_utf8(good.clone()).unwrap().replace(
        "message_size_limit = 50000000",
        "message_size_limit = 7777777",
    );
    let who = Person {
        name: "an older release".into(),
        email: "old@localhost".into(),
    };
    let older = CommitMeta {
        renderer: Some("0.0.1-older".into()),
        ..CommitMeta::new(who.clone(), "older renderer")
    };
    let old = store
        .commit(head, &[Edit::write(path.clone(), changed)], &older)
        .unwrap();
    let now = CommitMeta {
        renderer: Some(mailu_git::render::stamp().to_owned()),
        ..CommitMeta::new(who, "back")
    };
    store
        .commit(old.commit, &[Edit::write(path, good)], &now)
        .unwrap();
    let fx = Fixture {
        server: TestServer::start_with(&data, &[("MAILU_GIT_ADMIN_TOKEN", ADMIN)]),
        home,
    };
    let repo = fx.repo();
    let (status, r) = api(
        &fx.server,
        "POST",
        &format!("version/{}/revert", old.number),
        None,
    );
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["rendered_again"], true, "{r}");
    let new = r["commit"].as_str().unwrap();
    let old_id = old.commit.to_string();
    // The sources are the old version's; rendered/ is today's rendering of them.
    let sources = git(
        &repo,
        &[
            "diff",
            "--name-only",
            &old_id,
            new,
            "--",
            ".",
            ":(exclude)rendered",
        ],
    );
    assert!(sources.trim().is_empty(), "{sources}");
    let rendered = git(
        &repo,
        &[
            "grep",
            "-l",
            "message_size_limit = 7777777",
            new,
            "--",
            "rendered",
        ],
    );
    assert!(!rendered.trim().is_empty());
    let message = git(&repo, &["log", "-1", "--format=%B", new]);
    assert!(
        message.contains(&format!("Mailu-Renderer: {}", mailu_git::render::stamp())),
        "{message}"
    );
    let work = fx.clone("work", &[]);
    crate::githttp::assert_rendered_exactly(&fx, &work);
}
