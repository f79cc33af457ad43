//! The command-line admin against a real server: the real binary with `MAILU_GIT_URL` and
//! `MAILU_GIT_TOKEN` in its environment, checked through its output and the real `git`.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::support::{TestServer, bin, git};

/// Runs `mailu-git args...` against `server` with `token`, feeding `stdin` (a pipe, never a
/// terminal, so a password is read from it).
fn cli(server: &TestServer, token: &str, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(bin())
        .args(args)
        .env("MAILU_GIT_URL", &server.url)
        .env("MAILU_GIT_TOKEN", token)
        .env_remove("MAILU_GIT_DATA")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mailu-git runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn admin_commands_manage_domains_users_aliases_and_settings() {
    let server = TestServer::start();
    let token = server.generated_admin_token().expect("a generated token");
    let run = |args: &[&str]| cli(&server, &token, args, "");

    ok(&run(&["domain", "add", "example.com", "--max-users", "10"]));
    let listed = ok(&run(&["domain", "list"]));
    assert!(listed.starts_with("NAME"), "{listed}");
    assert!(listed.contains("example.com"), "{listed}");

    // The password comes from stdin (not a terminal), never from the arguments.
    let added = cli(
        &server,
        &token,
        &[
            "user",
            "add",
            "alice@example.com",
            "--displayed-name",
            "Alice",
        ],
        "correct horse battery\n",
    );
    assert!(ok(&added).contains("alice@example.com"));

    let table = ok(&run(&["user", "list"]));
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("EMAIL") && header.contains("NAME"),
        "{table}"
    );
    let row = lines.next().unwrap();
    assert!(
        row.starts_with("alice@example.com") && row.contains("Alice"),
        "{table}"
    );
    // Columns line up: the second column starts at the same place in the title and the row.
    assert_eq!(header.find("NAME"), row.find("Alice"), "{table}");

    let json: serde_json::Value = serde_json::from_str(&ok(&run(&[
        "user",
        "list",
        "--json",
        "--domain",
        "example.com",
    ])))
    .unwrap();
    assert_eq!(json[0]["email"], "alice@example.com");
    assert_eq!(json[0]["displayed_name"], "Alice");
    assert!(json[0].get("password").is_none(), "{json}");

    ok(&run(&[
        "alias",
        "add",
        "info@example.com",
        "--to",
        "alice@example.com",
    ]));
    assert!(ok(&run(&["alias", "list"])).contains("info@example.com"));

    // A destination in a local domain that nobody has: the field is named, nothing changes.
    let refused = run(&[
        "alias",
        "add",
        "x@example.com",
        "--to",
        "nobody@example.com",
    ]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("destination.0"), "{stderr}");
    assert!(!ok(&run(&["alias", "list"])).contains("x@example.com"));

    // --wait prints the version holding the change.
    let waited = ok(&run(&[
        "settings",
        "set",
        "mail.message_size_limit",
        "2000000",
        "--wait",
    ]));
    let version = waited
        .split("in version ")
        .nth(1)
        .and_then(|rest| rest.trim().parse::<u64>().ok());
    assert!(version.is_some(), "{waited}");
    let settings: serde_json::Value =
        serde_json::from_str(&ok(&run(&["settings", "show", "--json"]))).unwrap();
    assert_eq!(settings["mail"]["message_size_limit"], 2_000_000);

    // Everything above is in that version (settings came last): the user file is there, with a
    // hash and not the password.
    let repo = server.data.join("config.git");
    let user_file = git(
        &repo,
        &["show", "main:domains/example.com/users/alice.toml"],
    );
    assert!(!user_file.contains("correct horse"), "{user_file}");
    assert!(user_file.contains("CRYPT}"), "{user_file}");
}

#[test]
fn an_empty_password_on_stdin_is_refused_before_the_server() {
    let server = TestServer::start();
    let token = server.generated_admin_token().unwrap();
    ok(&cli(&server, &token, &["domain", "add", "example.com"], ""));
    let out = cli(&server, &token, &["user", "add", "bob@example.com"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("password is empty"));
}

#[test]
fn a_wrong_token_prints_the_servers_refusal() {
    let server = TestServer::start();
    let out = cli(
        &server,
        "mgit_not-a-real-token-at-all",
        &["domain", "list"],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("403") && stderr.contains("Invalid API token"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("mgit_not-a-real"),
        "the token is never printed: {stderr}"
    );
}

#[test]
fn admin_commands_manage_dkim_services_overrides_and_fetches() {
    let server = TestServer::start();
    let token = server.generated_admin_token().expect("a generated token");
    let run = |args: &[&str]| cli(&server, &token, args, "");
    ok(&run(&["domain", "add", "example.com"]));
    ok(&cli(
        &server,
        &token,
        &["user", "add", "alice@example.com"],
        "correct horse battery\n",
    ));

    // DKIM: the record to paste into DNS is printed with the receipt.
    let dkim = ok(&run(&["dkim", "generate", "example.com"]));
    assert!(
        dkim.contains("._domainkey.example.com. 600 IN TXT \"v=DKIM1; k=rsa; p=MII"),
        "{dkim}"
    );
    let refused = run(&["dkim", "generate", "nowhere.example"]);
    assert_eq!(refused.status.code(), Some(1));

    // Services: one key set by a merge patch, read back as JSON.
    assert!(ok(&run(&["service", "list"])).contains("webdav"));
    ok(&run(&["service", "set", "webdav", "enabled", "true"]));
    let webdav: serde_json::Value =
        serde_json::from_str(&ok(&run(&["service", "show", "webdav", "--json"]))).unwrap();
    assert_eq!(webdav["enabled"], true, "{webdav}");
    let refused = run(&["service", "set", "webdav", "no_such_field", "1"]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("no_such_field"), "{stderr}");

    // Overrides: bytes (not UTF-8, not JSON) go in from a file and come back the same.
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("main.cf");
    let bytes: Vec<u8> = b"smtpd_banner = hi\n\xff\x00 raw\n".to_vec();
    std::fs::write(&source, &bytes).unwrap();
    let path = "/etc/postfix/main.cf";
    ok(&run(&[
        "override",
        "put",
        "smtp",
        path,
        source.to_str().unwrap(),
    ]));
    let got = run(&["override", "get", "smtp", path]);
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert_eq!(got.stdout, bytes);
    let copy = dir.path().join("copy");
    ok(&run(&[
        "override",
        "get",
        "smtp",
        path,
        "-o",
        copy.to_str().unwrap(),
    ]));
    assert_eq!(std::fs::read(&copy).unwrap(), bytes);
    assert!(ok(&run(&["override", "list", "smtp"])).contains(path));
    ok(&run(&["override", "delete", "smtp", path]));
    assert!(!ok(&run(&["override", "list", "smtp"])).contains(path));
    assert_eq!(
        run(&["override", "get", "smtp", path]).status.code(),
        Some(1)
    );

    // Templates and Mailu's override files: text from a file or stdin, the same commands.
    let template = dir.path().join("site-macros.j2");
    std::fs::write(&template, "{% macro m(x) %}{{ x }}{% endmacro %}\n").unwrap();
    let stored = ok(&run(&[
        "template",
        "put",
        "smtp",
        "site-macros.j2",
        template.to_str().unwrap(),
        "--wait",
    ]));
    assert!(stored.contains("in version "), "{stored}");
    assert_eq!(
        ok(&run(&["template", "get", "smtp", "site-macros.j2"])),
        "{% macro m(x) %}{{ x }}{% endmacro %}\n"
    );
    assert!(ok(&run(&["template", "list", "smtp"])).contains("site-macros.j2"));
    let refused = cli(
        &server,
        &token,
        &["template", "put", "smtp", "broken.j2"],
        "ok\n{% if %}\n",
    );
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("templates/smtp/broken.j2:2"), "{stderr}");
    ok(&run(&["template", "delete", "smtp", "site-macros.j2"]));
    assert!(!ok(&run(&["template", "list", "smtp"])).contains("site-macros.j2"));

    ok(&cli(
        &server,
        &token,
        &["mailu-override", "put", "postfix/postfix.cf"],
        "smtpd_delay_reject = yes\n",
    ));
    assert_eq!(
        ok(&run(&["mailu-override", "get", "postfix/postfix.cf"])),
        "smtpd_delay_reject = yes\n"
    );
    let listed = ok(&run(&["mailu-override", "list"]));
    assert!(
        listed.starts_with("PATH") && listed.contains("postfix/postfix.cf"),
        "{listed}"
    );
    let refused = run(&[
        "mailu-override",
        "put",
        "clamav/x.conf",
        source.to_str().unwrap(),
    ]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("snappymail"));
    ok(&run(&["mailu-override", "delete", "postfix/postfix.cf"]));
    assert!(!ok(&run(&["mailu-override", "list"])).contains("postfix.cf"));

    // Fetched accounts: the remote password from stdin, never shown again.
    ok(&cli(
        &server,
        &token,
        &[
            "fetch",
            "add",
            "alice@example.com",
            "--protocol",
            "imap",
            "--host",
            "imap.remote.org",
            "--username",
            "alice",
            "--tls",
            "--folder",
            "INBOX",
        ],
        "remote-s3cret\n",
    ));
    let listed = ok(&run(&["fetch", "list"]));
    assert!(
        listed.starts_with("ID") && listed.contains("imap.remote.org"),
        "{listed}"
    );
    let json = ok(&run(&["fetch", "list", "--json"]));
    assert!(!json.contains("remote-s3cret"), "{json}");
    let fetches: serde_json::Value = serde_json::from_str(&json).unwrap();
    let id = fetches[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(fetches[0]["folders"][0], "INBOX");
    ok(&run(&["fetch", "delete", &id, "--wait"]));
    assert!(!ok(&run(&["fetch", "list"])).contains("imap.remote.org"));
}
