//! `mailu-git init` (issue 12, first run): a data directory whose version 1 carries the real
//! identity and a first admin, served by the real server; bad flags named and nothing written;
//! and the template's example identity, which the deploy summary refuses until it is replaced.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::json;

use crate::support::{TestServer, bin, request};

/// Runs `mailu-git init --data DATA ARGS` with `password` on stdin.
fn init(data: &Path, args: &[&str], password: &str) -> Output {
    let mut child = Command::new(bin())
        .arg("init")
        .arg("--data")
        .arg(data)
        .args(args)
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
        .write_all(password.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The fields the deploy summary says block the deployed version.
fn blocked(server: &TestServer, token: &str) -> Vec<String> {
    let deploy = request("GET", &format!("{}/api/v1/deploy", server.url), token, None);
    assert_eq!(deploy.status, 200, "{}", deploy.body);
    deploy.json()["blocked"]
        .as_array()
        .expect("a blocked list")
        .iter()
        .map(|b| b["field"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn init_makes_a_first_version_with_the_domain_and_admin_that_serves_and_deploys() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = init(
        &data,
        &[
            "--domain",
            "one.test",
            "--hostname",
            "mail.one.test",
            "--hostname",
            "smtp.one.test",
            // Not an ACME flavor: the test must not reach Let's Encrypt.
            "--tls-flavor",
            "mail",
            "--postmaster",
            "pm",
            "--admin",
            "boss",
        ],
        "boss-password-1\n",
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let token = stdout
        .lines()
        .find_map(|l| l.strip_prefix("mailu-git: admin token (shown once): "))
        .expect("the admin token printed")
        .trim()
        .to_owned();
    assert!(stdout.contains("next steps"), "{stdout}");
    assert!(!stdout.contains("boss-password-1"), "{stdout}");

    let server = TestServer::start_on(&data);
    // An admin token exists: none is generated; the identity is real: no hint.
    assert_eq!(server.generated_admin_token(), None, "{:?}", server.banner);
    assert!(
        !server.banner.iter().any(|l| l.contains("example domain")),
        "{:?}",
        server.banner
    );
    let get = |path: &str| {
        let r = request("GET", &format!("{}/api/v1{path}", server.url), &token, None);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        r.json()
    };
    let settings = get("/settings");
    assert_eq!(settings["mail"]["domain"], "one.test", "{settings}");
    assert_eq!(
        settings["mail"]["hostnames"],
        json!(["mail.one.test", "smtp.one.test"])
    );
    assert_eq!(settings["mail"]["postmaster"], "pm");
    assert_eq!(settings["tls"]["flavor"], "mail");
    let user = get("/user/boss@one.test");
    assert_eq!(user["global_admin"], true, "{user}");
    let domain = get("/domain/one.test");
    assert_eq!(domain["name"], "one.test", "{domain}");
    // All of it is version 1, and version 1 is deployable.
    assert_eq!(get("/version")[0]["number"], 1);
    assert_eq!(blocked(&server, &token), Vec::<String>::new());
    // The password was hashed, never stored as given.
    let repo_user = std::process::Command::new("git")
        .arg("-C")
        .arg(data.join("config.git"))
        .args(["show", "main:domains/one.test/users/boss.toml"])
        .output();
    if let Ok(o) = repo_user
        && o.status.success()
    {
        let file = text(&o.stdout);
        assert!(file.contains("{BLF-CRYPT}$2"), "{file}");
        assert!(!file.contains("boss-password-1"), "{file}");
    }
}

#[test]
fn init_names_the_bad_flag_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let ok = ["--hostname", "mail.one.test"];
    for (args, flag) in [
        (vec!["--domain", "bad_domain"], "--domain:"),
        (vec!["--domain", "example.com"], "--domain:"),
        (
            vec!["--domain", "one.test", "--tls-flavor", "sometimes"],
            "--tls-flavor:",
        ),
        (vec!["--domain", "one.test", "--admin", "a b"], "--admin:"),
    ] {
        let all: Vec<&str> = args.iter().chain(ok.iter()).copied().collect();
        let out = init(&data, &all, "pw-for-nothing\n");
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{all:?}: {stderr}");
        assert!(stderr.contains(flag), "{all:?}: {stderr}");
        assert!(!data.exists(), "{all:?} wrote {}", data.display());
    }
    // No password: refused before anything is made.
    let out = init(
        &data,
        &["--domain", "one.test", "--hostname", "mail.one.test"],
        "",
    );
    assert!(
        text(&out.stderr).contains("password is empty"),
        "{}",
        text(&out.stderr)
    );
    assert!(!data.exists());
    // A used data directory is never touched.
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("keep"), "mine").unwrap();
    let out = init(
        &data,
        &["--domain", "one.test", "--hostname", "mail.one.test"],
        "pw-1234\n",
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--data:") && stderr.contains("not empty"),
        "{stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(&data).unwrap().flatten().collect();
    assert_eq!(left.len(), 1);
    assert_eq!(std::fs::read_to_string(data.join("keep")).unwrap(), "mine");
}

#[test]
fn the_template_identity_is_not_deployable_until_replaced() {
    let server = TestServer::start();
    let token = server.generated_admin_token().expect("a generated token");
    assert!(
        server
            .banner
            .iter()
            .any(|l| l.contains("example domain") && l.contains("mailu-git init")),
        "{:?}",
        server.banner
    );
    let deploy = request(
        "GET",
        &format!("{}/api/v1/deploy", server.url),
        &token,
        None,
    )
    .json();
    assert_eq!(
        deploy["blocked"][0]["field"], "mail.domain",
        "{}",
        deploy["blocked"]
    );
    assert!(
        deploy["blocked"][0]["message"]
            .as_str()
            .unwrap()
            .contains("example.com"),
        "{}",
        deploy["blocked"]
    );
    assert_eq!(blocked(&server, &token), ["mail.domain", "mail.hostnames"]);
    let patch = |body: serde_json::Value| {
        let r = request(
            "PATCH",
            &format!("{}/api/v1/settings?wait=true", server.url),
            &token,
            Some(body),
        );
        assert!(r.status < 300, "{}", r.body);
    };
    patch(json!({"mail": {"domain": "one.test"}}));
    assert_eq!(blocked(&server, &token), ["mail.hostnames"]);
    patch(json!({"mail": {"hostnames": ["mx.one.test"]}}));
    assert_eq!(blocked(&server, &token), Vec::<String>::new());
    // Back to a name under the example domain: blocked again.
    patch(json!({"mail": {"hostnames": ["mx.example.com"]}}));
    assert_eq!(blocked(&server, &token), ["mail.hostnames"]);
}

/// The real worker on the real engine: while `mail.domain` is the template's example, it creates
/// no container and its report (in `status`) says why; once the domain is real, it deploys.
#[test]
fn the_worker_deploys_nothing_on_the_example_domain_and_reports_why() {
    use crate::entrypoint::Stack;
    use crate::worker::{containers, spawn, status, wait_for};
    let Some(stack) = Stack::start() else {
        assert!(
            std::env::var("MAILU_GIT_REQUIRE_ALL").as_deref() != Ok("1"),
            "Docker or the bookworm image is missing and MAILU_GIT_REQUIRE_ALL=1"
        );
        eprintln!("SKIPPED: no Docker or no bookworm image");
        return;
    };
    let project = format!("{}-ex", stack.name);
    let admin = crate::bundle::ADMIN;
    let services = request(
        "GET",
        &format!("{}/api/v1/service", stack.url()),
        admin,
        None,
    );
    for s in services.json().as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        if name != "smtp" && s["enabled"] == true {
            stack.api(
                "PATCH",
                &format!("/service/{name}"),
                json!({"enabled": false}),
            );
        }
    }
    stack.api(
        "PATCH",
        "/service/smtp",
        json!({
            "enabled": true,
            "image": stack.bookworm,
            "pull": "never",
            "command": ["sleep", "3600"],
            "networks": [stack.name],
            "pre_start": [],
            "ports": [],
            "volumes": [],
            "health": null,
            "reload": {"command": ["true"], "paths": ["/etc/**"]},
        }),
    );
    // Back to the template's identity (Stack::start gave the stack a domain of its own).
    stack.api(
        "PATCH",
        "/settings",
        json!({"mail": {"domain": "example.com", "hostnames": ["mail.example.com"]}}),
    );
    let worker = spawn(&stack, &project);
    wait_for("a report of the blocked version", &project, || {
        status(&stack)["deploy"]["incidents"]
            .as_array()
            .is_some_and(|i| {
                i.iter()
                    .any(|t| t.as_str().unwrap_or("").contains("mail.domain"))
            })
    });
    let report = status(&stack)["deploy"].clone();
    assert_eq!(report["services"], json!([]), "{report}");
    assert!(
        report["incidents"][0]
            .as_str()
            .unwrap()
            .contains("not deployable, nothing was deployed"),
        "{report}"
    );
    assert!(
        containers(&project).is_empty(),
        "{:?}",
        containers(&project)
    );
    // `mailu-git status` says it too.
    let out = std::process::Command::new(bin())
        .args(["status", "--server", &stack.url()])
        .env("MAILU_GIT_TOKEN", admin)
        .env_remove("MAILU_GIT_URL")
        .output()
        .unwrap();
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{shown}{}", text(&out.stderr));
    assert!(
        shown.contains("not deployable") && shown.contains("mail.domain"),
        "{shown}"
    );

    // A real domain: the same worker deploys at once.
    stack.api(
        "PATCH",
        "/settings",
        json!({"mail": {"domain": "stack.test", "hostnames": ["mail.stack.test"]}}),
    );
    wait_for("smtp running", &project, || {
        containers(&project).get("smtp").is_some_and(|c| c.2)
    });
    drop(worker);
}
