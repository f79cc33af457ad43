//! Cleanup of old versions on the real server: `POST /api/v1/gc` keeps what `[history]` says, keeps
//! version numbers and every kept tree, leaves `git fsck --strict` clean and nothing of the removed
//! history; clones (fresh, and old ones after fetch + reset) work; tags pin versions and move with
//! the rewrite; cleanup racing API writes loses none of them; bad policies are refused. Ages by
//! date are checked at the store level (`store::tests::gc`), where the clock is a parameter.

use std::collections::BTreeMap;

use serde_json::json;

use crate::githttp::{ADMIN, Fixture};
use crate::support::{git, request};

/// Version number -> tree id, on main's first-parent chain.
fn versions(repo: &std::path::Path) -> BTreeMap<u64, String> {
    let log = git(
        repo,
        &[
            "log",
            "--first-parent",
            "--format=%T %(trailers:key=Mailu-Version,valueonly,separator=)",
            "main",
        ],
    );
    log.lines()
        .filter_map(|l| {
            let (tree, n) = l.split_once(' ')?;
            Some((n.trim().parse().ok()?, tree.to_owned()))
        })
        .collect()
}

fn patch_settings(fx: &Fixture, body: serde_json::Value) -> u64 {
    let reply = request(
        "PATCH",
        &format!("{}/api/v1/settings?wait=true", fx.server.url),
        ADMIN,
        Some(body),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["version"].as_u64().unwrap()
}

fn gc(fx: &Fixture) -> serde_json::Value {
    let reply = request("POST", &format!("{}/api/v1/gc", fx.server.url), ADMIN, None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

#[test]
fn cleanup_keeps_the_policy_numbers_trees_and_clones_work() {
    let Some(fx) = Fixture::start() else { return };
    let repo = fx.repo();
    let url = &fx.server.url;
    // Nothing to clean on a new repository with the default policy (30 days).
    let report = gc(&fx);
    assert_eq!(report["outcome"], "nothing to clean", "{report}");
    assert_eq!(report["before"], report["after"]);
    // The status shows the last cleanup.
    let status = request("GET", &format!("{url}/api/v1/status"), ADMIN, None).json();
    assert_eq!(status["cleanup"]["report"], report, "{status}");

    let mut last = patch_settings(&fx, json!({"history": {"keep_last": 3, "keep_days": 0}}));
    for n in 1..=6u64 {
        last = patch_settings(&fx, json!({"mail": {"message_size_limit": n * 1_000_000}}));
    }
    let tagged = last - 4;
    let reply = request(
        "POST",
        &format!("{url}/api/v1/tag"),
        ADMIN,
        Some(json!({"name": "before-cleanup", "version": tagged})),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let old_clone = fx.clone("old", &[]);
    let before = versions(&repo);
    let removed_commit = git(&repo, &["rev-parse", "main~6"]).trim().to_owned();
    assert!(before.len() as u64 >= last);

    let report = gc(&fx);
    assert_eq!(report["outcome"], "cleaned", "{report}");
    // The tag at `last - 4` moves the cut back from `last - 2`.
    assert_eq!(report["removed"]["first"], 1, "{report}");
    assert_eq!(report["removed"]["last"], tagged - 1, "{report}");
    let moved: Vec<&str> = report["refs_moved"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(moved, ["refs/heads/main", "refs/tags/before-cleanup"]);
    assert!(
        report["after"]["objects"].as_u64() < report["before"]["objects"].as_u64(),
        "{report}"
    );

    // Same numbers, same trees, for every kept version; the root keeps the newest removed one's.
    let after = versions(&repo);
    let expected: BTreeMap<u64, String> = before
        .range(tagged - 1..)
        .map(|(n, t)| (*n, t.clone()))
        .collect();
    assert_eq!(after, expected);
    git(&repo, &["fsck", "--strict", "--no-dangling"]);
    assert!(
        !crate::support::git_ok(&repo, &["cat-file", "-e", &removed_commit]),
        "a removed commit is pruned"
    );
    assert_eq!(
        git(&repo, &["count-objects", "-v"])
            .lines()
            .find(|l| l.starts_with("count: "))
            .unwrap(),
        "count: 0",
        "everything left is packed"
    );

    // The API still finds versions by number, and the tag names its version.
    let tags = request("GET", &format!("{url}/api/v1/tag"), ADMIN, None).json();
    assert_eq!(tags[0]["name"], "before-cleanup");
    assert_eq!(tags[0]["version"], tagged);
    let reply = request(
        "POST",
        &format!("{url}/api/v1/tag"),
        ADMIN,
        Some(json!({"name": "newest", "version": last})),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        git(&repo, &["rev-parse", "refs/tags/newest"]),
        git(&repo, &["rev-parse", "main"])
    );

    // A fresh clone works; the old one fetches and resets onto the new history.
    let fresh = fx.clone("fresh", &[]);
    assert_eq!(
        fx.ok(&fresh, &["rev-parse", "HEAD^{tree}"]),
        git(&repo, &["rev-parse", "main^{tree}"])
    );
    fx.ok(
        &old_clone,
        &["fetch", "--quiet", "--force", "--tags", "origin"],
    );
    fx.ok(&old_clone, &["reset", "--quiet", "--hard", "origin/main"]);
    assert_eq!(
        fx.ok(&old_clone, &["rev-parse", "HEAD"]).trim(),
        git(&repo, &["rev-parse", "main"]).trim()
    );

    // A new version after the cleanup continues the numbering.
    let next = patch_settings(&fx, json!({"mail": {"message_size_limit": 42_000_000}}));
    assert_eq!(next, last + 1);
    // Again, with the tag still there: only versions up to the tag's are kept now that three more
    // are newer... the tag still pins `tagged`, so nothing older is left to remove.
    let report = gc(&fx);
    assert_eq!(report["outcome"], "nothing to clean", "{report}");
}

#[test]
fn tags_are_checked() {
    let Some(fx) = Fixture::start() else { return };
    let url = &fx.server.url;
    let post =
        |body: serde_json::Value| request("POST", &format!("{url}/api/v1/tag"), ADMIN, Some(body));
    let reply = post(json!({"name": "bad..name", "version": 1}));
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.json()["errors"]["name"].is_string(), "{}", reply.body);
    let reply = post(json!({"name": "-x", "version": 1}));
    assert_eq!(reply.status, 400, "{}", reply.body);
    let reply = post(json!({"name": "ok", "version": 999}));
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(
        reply.json()["errors"]["version"].is_string(),
        "{}",
        reply.body
    );
    let reply = post(json!({"name": "ok", "version": 1, "extra": true}));
    assert_eq!(reply.status, 400, "{}", reply.body);
    let reply = post(json!({"name": "release/one", "version": 1}));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = post(json!({"name": "release/one", "version": 1}));
    assert_eq!(reply.status, 409, "{}", reply.body);
    let list = request("GET", &format!("{url}/api/v1/tag"), ADMIN, None).json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["version"], 1);
    assert!(list[0]["message"].is_null());
    let reply = request(
        "DELETE",
        &format!("{url}/api/v1/tag/release/one"),
        ADMIN,
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = request(
        "DELETE",
        &format!("{url}/api/v1/tag/release/one"),
        ADMIN,
        None,
    );
    assert_eq!(reply.status, 404, "{}", reply.body);
    assert!(
        git(&fx.repo(), &["tag", "-l"]).trim().is_empty(),
        "no tag left"
    );
}

#[test]
fn bad_policies_are_refused_naming_the_field() {
    let Some(fx) = Fixture::start() else { return };
    let settings = format!("{}/api/v1/settings", fx.server.url);
    for (body, field) in [
        (json!({"history": {"keep_last": 0}}), "history.keep_last"),
        (
            json!({"history": {"cleanup_schedule": "61 * * * *"}}),
            "history.cleanup_schedule",
        ),
        (
            json!({"history": {"repack_schedule": "0 3 * *"}}),
            "history.repack_schedule",
        ),
    ] {
        let reply = request("PATCH", &settings, ADMIN, Some(body.clone()));
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
        assert!(reply.body.contains(field), "{body}: {}", reply.body);
    }
}

#[test]
fn cleanup_racing_api_writes_loses_nothing() {
    let Some(fx) = Fixture::start() else { return };
    let url = fx.server.url.clone();
    patch_settings(&fx, json!({"history": {"keep_last": 1, "keep_days": 0}}));
    let writer = {
        let url = url.clone();
        std::thread::spawn(move || {
            let mut acknowledged = Vec::new();
            for n in 0..40u32 {
                let reply = request(
                    "POST",
                    &format!("{url}/api/v1/domain"),
                    ADMIN,
                    Some(json!({"name": format!("d{n}.example.com")})),
                );
                if reply.status == 200 {
                    acknowledged.push(n);
                }
            }
            acknowledged
        })
    };
    let mut cleaned = 0;
    for _ in 0..6 {
        let reply = request("POST", &format!("{url}/api/v1/gc"), ADMIN, None);
        assert!(reply.status == 200 || reply.status == 503, "{}", reply.body);
        if reply.status == 200 && reply.json()["outcome"] == "cleaned" {
            cleaned += 1;
        }
    }
    let acknowledged = writer.join().unwrap();
    assert!(!acknowledged.is_empty());
    // Commit what is pending, then check main holds every acknowledged domain.
    patch_settings(&fx, json!({"mail": {"message_size_limit": 1_000_000}}));
    let repo = fx.repo();
    let files = git(&repo, &["ls-tree", "-r", "--name-only", "main", "domains/"]);
    for n in &acknowledged {
        assert!(
            files.contains(&format!("domains/d{n}.example.com/")),
            "domain d{n} is on main (cleanups: {cleaned})"
        );
    }
    git(&repo, &["fsck", "--strict", "--no-dangling"]);
    // Every domain also reads back through the API.
    let domains = request("GET", &format!("{url}/api/v1/domain"), ADMIN, None).json();
    assert!(domains.as_array().unwrap().len() >= acknowledged.len());
}

/// `mailu-git` against the fixture's server; (success, stdout + stderr).
fn cli(fx: &Fixture, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(crate::support::bin())
        .args(args)
        .env("MAILU_GIT_URL", &fx.server.url)
        .env("MAILU_GIT_TOKEN", ADMIN)
        .env_remove("MAILU_GIT_DATA")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_cli_tags_and_cleans_up() {
    let Some(fx) = Fixture::start() else { return };
    let (ok, out) = cli(&fx, &["tag", "create", "first", "1"]);
    assert!(ok, "{out}");
    assert!(out.contains("tagged version 1 as first"), "{out}");
    let (ok, out) = cli(&fx, &["tag", "list"]);
    assert!(
        ok && out.contains("first") && out.contains("VERSION"),
        "{out}"
    );
    let (ok, out) = cli(&fx, &["tag", "create", "has space", "1"]);
    assert!(!ok && out.contains("name"), "{out}");
    let (ok, out) = cli(&fx, &["tag", "create", "nope", "77"]);
    assert!(!ok && out.contains("no version 77"), "{out}");
    let (ok, out) = cli(&fx, &["gc"]);
    assert!(ok && out.contains("nothing to clean"), "{out}");
    let (ok, out) = cli(&fx, &["gc", "--json"]);
    assert!(ok && out.contains("\"outcome\""), "{out}");
    let (ok, out) = cli(&fx, &["tag", "delete", "first"]);
    assert!(
        ok && out.contains("deleted the tag first (version 1)"),
        "{out}"
    );
    let (ok, out) = cli(&fx, &["tag", "delete", "first"]);
    assert!(!ok && out.contains("no tag"), "{out}");
}

/// The schedule runs cleanup by itself, and a schedule changed by a version applies at once: an
/// every-minute schedule set through the API cleans up within a minute (bounded wait: 90 s).
#[test]
fn the_cleanup_schedule_runs_cleanup_and_follows_the_settings() {
    let Some(fx) = Fixture::start() else { return };
    let url = &fx.server.url;
    let mut last = 0;
    for n in 1..=3u64 {
        last = patch_settings(&fx, json!({"mail": {"message_size_limit": n * 1_000_000}}));
    }
    let set = patch_settings(
        &fx,
        json!({"history": {"keep_last": 1, "keep_days": 0, "cleanup_schedule": "* * * * *"}}),
    );
    assert!(set > last);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let status = loop {
        let status = request("GET", &format!("{url}/api/v1/status"), ADMIN, None).json();
        if !status["cleanup"].is_null() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no scheduled cleanup within 90 s: {status}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    let report = &status["cleanup"]["report"];
    assert_eq!(report["outcome"], "cleaned", "{status}");
    assert_eq!(report["removed"]["last"], set - 1, "{status}");
    // Only the newest version and the squashed root stand for the history now.
    assert_eq!(versions(&fx.repo()).len(), 2, "{status}");
    git(&fx.repo(), &["fsck", "--strict", "--no-dangling"]);
}
