//! The three override trees through the real server: `overrides/`, `templates/` and
//! `mailu-overrides/`, each put, read, listed and deleted with `ETag`s and `If-Match`; traversal,
//! scopes and bodies a tree cannot use refused; a template that does not parse or render refused
//! with its file and line while nothing changes (checked with the real `git`).

use std::path::Path;

use crate::support::{Reply, TestServer, git, have_tool, mailu_git};

/// One request with raw bytes (files are not JSON) and extra headers.
fn send(
    method: &str,
    url: &str,
    token: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Reply {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut req = reqwest::Client::new()
            .request(method.parse().unwrap(), url)
            .bearer_auth(token);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(body) = body {
            req = req.body(body);
        }
        let response = req.send().await.unwrap();
        Reply {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    })
}

fn etag(reply: &Reply) -> String {
    reply.headers["etag"].to_str().unwrap().to_owned()
}

/// The number of versions on main.
fn versions(repo: &Path) -> u64 {
    git(repo, &["rev-list", "--count", "main"])
        .trim()
        .parse()
        .unwrap()
}

/// A server with an admin token and a read token.
fn server() -> (TestServer, String, String) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = mailu_git(
        &[
            "access-token",
            "create",
            "reader",
            "--scope",
            "read",
            "--data",
            data.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let server = TestServer::start_in(tmp, &data);
    let admin = server.generated_admin_token().unwrap();
    (server, admin, read)
}

/// One tree's endpoints: the listing, a file in it, and where that file lands in the repository.
struct Tree {
    listing: &'static str,
    file: &'static str,
    repo_path: &'static str,
    shown: &'static str,
    traversal: &'static str,
    dot_git: &'static str,
}

const TREES: [Tree; 3] = [
    Tree {
        listing: "override/smtp",
        file: "override/smtp/etc/postfix/header_checks",
        repo_path: "overrides/smtp/etc/postfix/header_checks",
        shown: "/etc/postfix/header_checks",
        traversal: "override/smtp/etc%2F..%2F..%2F..%2Fmailu.toml",
        dot_git: "override/smtp/.git/config",
    },
    Tree {
        listing: "template/smtp",
        file: "template/smtp/custom/macros.j2",
        repo_path: "templates/smtp/custom/macros.j2",
        shown: "custom/macros.j2",
        traversal: "template/smtp/..%2F..%2Fmailu.toml",
        dot_git: "template/smtp/.git/config",
    },
    Tree {
        listing: "mailu-override",
        file: "mailu-override/postfix/postfix.cf",
        repo_path: "mailu-overrides/postfix/postfix.cf",
        shown: "postfix/postfix.cf",
        traversal: "mailu-override/postfix/a%2F..%2F..%2F..%2Fmailu.toml",
        dot_git: "mailu-override/postfix/.git/config",
    },
];

#[test]
fn each_tree_round_trips_with_etags_if_match_and_scopes() {
    if !have_tool("git") {
        return;
    }
    let (server, admin, read) = server();
    let repo = server.data.join("config.git");
    let api = |path: &str| format!("{}/api/v1/{path}", server.url);
    for tree in &TREES {
        let empty = send("GET", &api(tree.listing), &read, &[], None);
        assert_eq!(empty.status, 200, "{}", empty.body);
        assert_eq!(empty.json(), serde_json::json!([]));
        let listing_etag = etag(&empty);

        // Writes need admin; reads do with read.
        let body = b"# one\nkey = value\n".to_vec();
        let refused = send("PUT", &api(tree.file), &read, &[], Some(body.clone()));
        assert_eq!(refused.status, 403, "{}", refused.body);
        let put = send(
            "PUT",
            &api(&format!("{}?wait=true", tree.file)),
            &admin,
            &[],
            Some(body.clone()),
        );
        assert_eq!(put.status, 200, "{}", put.body);
        assert!(put.json()["version"].as_u64().is_some(), "{}", put.body);
        assert!(
            put.json()["message"].as_str().unwrap().contains(tree.shown),
            "{}",
            put.body
        );

        // The file as stored, its ETag the blob id in the version.
        let got = send("GET", &api(tree.file), &read, &[], None);
        assert_eq!(got.status, 200, "{}", got.body);
        assert_eq!(got.body.as_bytes(), body);
        let tag = etag(&got);
        let blob = git(&repo, &["rev-parse", &format!("main:{}", tree.repo_path)]);
        assert_eq!(tag, format!("\"{}\"", blob.trim()));
        let same = send(
            "GET",
            &api(tree.file),
            &read,
            &[("If-None-Match", &tag)],
            None,
        );
        assert_eq!(same.status, 304);

        // The listing shows it, and its own ETag moved.
        let listed = send("GET", &api(tree.listing), &read, &[], None);
        assert_eq!(
            listed.json(),
            serde_json::json!([{"path": tree.shown, "etag": tag}])
        );
        assert_ne!(etag(&listed), listing_etag);
        let unchanged = send(
            "GET",
            &api(tree.listing),
            &read,
            &[("If-None-Match", &etag(&listed))],
            None,
        );
        assert_eq!(unchanged.status, 304);

        // If-Match: a stale tag is 412 and changes nothing; the current one applies.
        let stale = "\"0000000000000000000000000000000000000000\"";
        let r = send(
            "PUT",
            &api(tree.file),
            &admin,
            &[("If-Match", stale)],
            Some(b"lost\n".to_vec()),
        );
        assert_eq!(r.status, 412, "{}", r.body);
        let r = send(
            "PUT",
            &api(tree.file),
            &admin,
            &[("If-Match", &tag)],
            Some(b"# two\n".to_vec()),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            send("GET", &api(tree.file), &read, &[], None).body,
            "# two\n"
        );

        // `..` (sent percent-encoded, past the router) never leaves the folder.
        let r = send(
            "PUT",
            &api(tree.traversal),
            &admin,
            &[],
            Some(b"format = 2\n".to_vec()),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        let r = send(
            "PUT",
            &api(tree.dot_git),
            &admin,
            &[],
            Some(b"x\n".to_vec()),
        );
        assert_eq!(r.status, 400, "{}", r.body);

        // Delete: stale tag refused, then gone.
        let current = etag(&send("GET", &api(tree.file), &read, &[], None));
        let r = send(
            "DELETE",
            &api(tree.file),
            &admin,
            &[("If-Match", stale)],
            None,
        );
        assert_eq!(r.status, 412, "{}", r.body);
        let r = send(
            "DELETE",
            &api(&format!("{}?wait=true", tree.file)),
            &admin,
            &[("If-Match", &current)],
            None,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(send("GET", &api(tree.file), &read, &[], None).status, 404);
        assert_eq!(
            send("DELETE", &api(tree.file), &admin, &[], None).status,
            404
        );
        let tree_now = git(&repo, &["ls-tree", "-r", "--name-only", "main"]);
        assert!(!tree_now.contains(tree.repo_path), "{tree_now}");
    }
    assert!(
        !git(&repo, &["ls-tree", "-r", "--name-only", "main"]).contains(".git/config"),
        "nothing landed under a .git folder"
    );
    assert!(!git(&repo, &["show", "main:mailu.toml"]).contains("format = 2"));
    git(&repo, &["fsck", "--strict"]);
}

#[test]
fn folders_and_bodies_a_tree_cannot_use_are_refused_by_name() {
    let (server, admin, _) = server();
    let api = |path: &str| format!("{}/api/v1/{path}", server.url);
    let put = |path: &str, body: &[u8]| send("PUT", &api(path), &admin, &[], Some(body.to_vec()));

    let r = put("mailu-override/clamav/x.conf", b"x\n");
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(
        r.body
            .contains("postfix, dovecot, nginx, rspamd, roundcube, snappymail"),
        "{}",
        r.body
    );
    let r = put("template/nosuch/main.cf.j2", b"x\n");
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(
        send("GET", &api("template/nosuch"), &admin, &[], None).status,
        404
    );

    // Templates and Mailu's files are text; overrides are any bytes.
    for path in ["template/smtp/x.j2", "mailu-override/postfix/postfix.cf"] {
        let r = put(path, b"a = \xff\n");
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.json()["errors"]["body"].is_string(), "{}", r.body);
    }
    assert_eq!(put("override/smtp/etc/bin", b"\xff\x00").status, 200);
}

/// The first global file of a built-in service that the repository has, as (service, template,
/// path in the container), from the project's `templates/*/manifest.toml`.
fn a_builtin_template(repo: &Path) -> Option<(String, String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let services = git(repo, &["ls-tree", "--name-only", "main", "services/"]);
    let mut dirs: Vec<_> = std::fs::read_dir(&root).ok()?.flatten().collect();
    dirs.sort_by_key(|e| e.file_name());
    for dir in dirs {
        let service = dir.file_name().to_string_lossy().into_owned();
        let Ok(text) = std::fs::read_to_string(dir.path().join("manifest.toml")) else {
            continue;
        };
        if !services
            .lines()
            .any(|l| l == format!("services/{service}.toml"))
        {
            continue;
        }
        let manifest: toml::Table = toml::from_str(&text).unwrap();
        let files = manifest.get("file").and_then(|f| f.as_array())?;
        for f in files {
            if f.get("per").is_none() && f.get("skip_empty").is_none() {
                return Some((
                    service,
                    f["template"].as_str()?.to_owned(),
                    f["path"].as_str()?.to_owned(),
                ));
            }
        }
    }
    None
}

#[test]
fn a_template_that_does_not_parse_or_render_is_refused_with_file_and_line_and_nothing_changes() {
    if !have_tool("git") {
        return;
    }
    let (server, admin, _) = server();
    let repo = server.data.join("config.git");
    let api = |path: &str| format!("{}/api/v1/{path}", server.url);
    let put = |path: &str, body: &str| {
        send(
            "PUT",
            &api(&format!("{path}?wait=true")),
            &admin,
            &[],
            Some(body.as_bytes().to_vec()),
        )
    };
    // A template nothing renders yet is stored (and parsed). Its name is no built-in's: one that
    // replaced the built-in `smtp/macros.j2` would be rendered with every file importing it.
    let r = put(
        "template/smtp/site-macros.j2",
        "{% macro m(x) %}{{ x }}{% endmacro %}\n",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let listing = etag(&send("GET", &api("template/smtp"), &admin, &[], None));
    let before = versions(&repo);

    let refused = |r: &Reply, file: &str, line: u32| {
        assert_eq!(r.status, 400, "{}", r.body);
        let body = r.json();
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(&format!("{file}:{line}: ")), "{message}");
        assert!(body["errors"][file].is_string(), "{body}");
    };
    // A syntax error, found whether or not a built-in file uses the template.
    let r = put(
        "template/smtp/site-macros.j2",
        "{% macro m(x) %}\n{{ x }\n{% endmacro %}\n",
    );
    refused(&r, "templates/smtp/site-macros.j2", 2);

    // An undefined name needs a render: only a template that replaces a built-in one is rendered.
    match a_builtin_template(&repo) {
        Some((service, template, path)) => {
            let file = format!("templates/{service}/{template}");
            let r = put(
                &format!("template/{service}/{template}"),
                "# replaced\n{{ no_such_variable }}\n",
            );
            refused(&r, &file, 2);
            assert!(r.body.contains("undefined"), "{}", r.body);
            let listing_now = send(
                "GET",
                &api(&format!("template/{service}")),
                &admin,
                &[],
                None,
            );
            assert!(
                !listing_now.body.contains(&template),
                "{}",
                listing_now.body
            );

            // One that extends the built-in it replaces renders the same file.
            let rendered = format!("main:rendered/{service}{path}");
            let built_in = git(&repo, &["rev-parse", &rendered]);
            let r = put(
                &format!("template/{service}/{template}"),
                &format!("{{% extends \"builtin:{service}/{template}\" %}}\n"),
            );
            assert_eq!(r.status, 200, "{}", r.body);
            assert_eq!(git(&repo, &["rev-parse", &rendered]), built_in);
            let r = send(
                "DELETE",
                &api(&format!("template/{service}/{template}?wait=true")),
                &admin,
                &[],
                None,
            );
            assert_eq!(r.status, 200, "{}", r.body);
        }
        None => eprintln!(
            "SKIPPED: the undefined-name and `builtin:` cases (this build has no built-in templates)"
        ),
    }

    // Nothing of the refused writes landed: the listing, the pending changes, the versions.
    let after = send(
        "GET",
        &api("template/smtp"),
        &admin,
        &[("If-None-Match", &listing)],
        None,
    );
    assert_eq!(after.status, 304);
    let pending = send("GET", &api("pending"), &admin, &[], None).json();
    assert_eq!(pending["changes"], serde_json::json!([]), "{pending}");
    let extra = if a_builtin_template(&repo).is_some() {
        2
    } else {
        0
    };
    assert_eq!(versions(&repo), before + extra);
    let log = git(&repo, &["log", "--format=%s", "main"]);
    assert!(
        !log.contains("site-macros.j2 of smtp has been updated"),
        "{log}"
    );
    assert_eq!(
        git(&repo, &["show", "main:templates/smtp/site-macros.j2"]),
        "{% macro m(x) %}{{ x }}{% endmacro %}\n"
    );
}
