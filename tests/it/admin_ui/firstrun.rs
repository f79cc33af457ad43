//! The first run in the browser (issue 12): a fresh server on the template's example values;
//! after sign-in the app shows the first-run page, not the dashboard; a bad domain and differing
//! passwords are shown at their fields; good values make ONE version, after which the dashboard
//! shows nothing blocked, `GET /api/v1/deploy` has no `blocked`, the admin user exists with a
//! hash of the password typed, and a second `POST /api/v1/init` is refused with 409.

use std::process::Command;

use serde_json::json;
use thirtyfour::prelude::*;

use super::browser::{Browser, TOKEN, call, have_browser, runtime, server};

const PASSWORD: &str = "first-run-pass-1";

/// `git -C <repo> ARGS`, its stdout.
fn git(repo: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_first_run_page_sets_up_a_template_server_as_one_version() {
    if !have_browser() {
        return;
    }
    let server = server();
    let repo = server.data.join("config.git");
    runtime().block_on(async {
        let url = server.url.clone();
        let (_, deploy) = call(url.clone(), "GET", "deploy", None).await;
        assert_eq!(deploy["blocked"][0]["field"], "mail.domain", "{deploy}");
        let b = Browser::start(&url).await;

        // Signed in, the app shows the first run instead of the dashboard, saying why.
        b.d().goto(b.base.clone()).await.unwrap();
        b.wait_heading("Sign in").await;
        b.type_into("main [name=token]", TOKEN).await;
        b.click("main button[type=submit]").await;
        b.wait_heading("First run").await;
        let text = b
            .js("return document.querySelector('main').innerText;")
            .await;
        let text = text.as_str().unwrap();
        assert!(text.contains("never deployed"), "{text}");
        assert!(text.contains("example.com"), "{text}");
        assert_eq!(b.value("tls_flavor").await, "cert");
        assert_eq!(b.value("admin").await, "admin");
        b.screenshots("firstrun-after-signin").await;
        // The page is also a route of its own, with the same form (reached from another page, so
        // the heading tells that it was rendered again).
        b.open("settings", "Settings").await;
        b.open("firstrun", "First run").await;
        b.wait(
            "document.querySelector('main [name=domain]')",
            "the form at #/firstrun",
        )
        .await;

        // Differing passwords: said at the field, nothing sent.
        b.type_into("main [name=domain]", "not a domain!").await;
        b.type_into("main [name=hostnames]", "mail.one.test").await;
        b.type_into("main [name=admin]", "boss").await;
        b.type_into("main [name=password]", PASSWORD).await;
        b.type_into("main [name=password2]", "something else").await;
        b.click("main button[type=submit]").await;
        b.wait(
            "document.querySelector('main [aria-invalid=true]')",
            "the password error",
        )
        .await;
        assert!(b.field_error("password2").await.contains("does not match"));
        // A bad domain: the server's error at its field; the form keeps what was typed.
        b.type_into("main [name=password2]", PASSWORD).await;
        b.click("main button[type=submit]").await;
        b.wait(
            "document.querySelector('main [name=domain]').getAttribute('aria-invalid') === 'true'",
            "the domain's error",
        )
        .await;
        assert!(!b.field_error("domain").await.is_empty());
        assert_eq!(b.field_error("password2").await, "");
        assert_eq!(b.value("domain").await, "not a domain!");
        assert_eq!(b.value("admin").await, "boss");
        b.screenshots("firstrun-field-error").await;
        // Through the API: every bad field named at once, the example host name among them.
        let bad = json!({"domain": "one.test", "hostnames": ["mail.example.com"], "admin": "a b"});
        let (status, reply) = call(url.clone(), "POST", "init", Some(bad)).await;
        assert_eq!(status, 400, "{reply}");
        let mut named: Vec<&String> = reply["errors"].as_object().unwrap().keys().collect();
        named.sort();
        assert_eq!(named, ["admin", "hostnames.0", "password"], "{reply}");
        let (_, settings) = call(url.clone(), "GET", "settings", None).await;
        assert_eq!(settings["mail"]["domain"], "example.com", "nothing changed");

        // Good values: one version, then the dashboard with nothing blocked.
        let (_, newest) = call(url.clone(), "GET", "version?limit=1", None).await;
        let before = newest[0]["number"].clone();
        b.type_into("main [name=domain]", "one.test").await;
        let select = b.d().find(By::Css("main [name=tls_flavor]")).await.unwrap();
        thirtyfour::components::SelectElement::new(&select)
            .await
            .unwrap()
            .select_by_value("mail")
            .await
            .unwrap();
        b.click("main button[type=submit]").await;
        b.wait_heading("Dashboard").await;
        b.wait(
            "document.querySelector('#notice [data-version]')",
            "the version",
        )
        .await;
        let notice = b.notice().await;
        assert!(notice.starts_with("Set up: version "), "{notice}");
        let version = b.became_version().await;
        b.wait(
            "document.querySelector('main .card')",
            "the dashboard's cards",
        )
        .await;
        assert_eq!(
            b.js("return document.getElementById('blocked') === null;")
                .await,
            json!(true),
            "the dashboard still shows example values"
        );
        b.screenshots("firstrun-done").await;
        // Set up, the route says so instead of showing the form.
        b.open("settings", "Settings").await;
        b.open("firstrun", "First run").await;
        b.wait(
            "document.querySelector('main').textContent.includes('This server is set up')",
            "the set-up note",
        )
        .await;
        assert_eq!(
            b.js("return document.querySelector('main [name=domain]') === null;")
                .await,
            json!(true)
        );
        b.quit().await;

        let (_, deploy) = call(url.clone(), "GET", "deploy", None).await;
        assert_eq!(deploy["blocked"], json!([]), "{deploy}");
        let (_, settings) = call(url.clone(), "GET", "settings", None).await;
        assert_eq!(settings["mail"]["domain"], "one.test");
        assert_eq!(settings["mail"]["hostnames"], json!(["mail.one.test"]));
        assert_eq!(settings["mail"]["postmaster"], "postmaster");
        assert_eq!(settings["tls"]["flavor"], "mail");
        let (status, user) = call(url.clone(), "GET", "user/boss@one.test", None).await;
        assert_eq!(status, 200, "{user}");
        assert_eq!(user["global_admin"], true, "{user}");

        // All of it in the one version the page named, right after the one before, from one
        // change. (The certificate following the new host names comes in a version after it.)
        let (status, detail) = call(url.clone(), "GET", &format!("version/{version}"), None).await;
        assert_eq!(status, 200, "{detail}");
        assert_eq!(detail["previous"]["number"], before, "{detail}");
        assert_eq!(detail["changes"].as_array().unwrap().len(), 1, "{detail}");
        let mut sources: Vec<&str> = detail["sources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["path"].as_str().unwrap())
            .collect();
        sources.sort_unstable();
        assert_eq!(
            sources,
            [
                "domains/one.test/domain.toml",
                "domains/one.test/users/boss.toml",
                "mailu.toml"
            ],
            "{detail}"
        );
        let commit = detail["commit"].as_str().unwrap();
        // The password typed is what the stored hash verifies, and it is not stored as typed.
        let file: toml::Table = git(
            &repo,
            &[
                "show",
                &format!("{commit}:domains/one.test/users/boss.toml"),
            ],
        )
        .parse()
        .unwrap();
        let stored = file["password"].as_str().unwrap();
        assert!(!stored.contains(PASSWORD));
        let hash = mailu_git::password::Hash::parse(stored).unwrap();
        assert!(mailu_git::password::verify(&hash, PASSWORD));
        assert!(!mailu_git::password::verify(&hash, "something else"));

        // Set up once: a second first run is refused, naming the settings.
        let body =
            json!({"domain": "two.test", "hostnames": ["mail.two.test"], "password": "x-12345678"});
        let (status, reply) = call(url.clone(), "POST", "init", Some(body)).await;
        assert_eq!(status, 409, "{reply}");
        assert!(
            reply["message"]
                .as_str()
                .unwrap()
                .contains("already set up"),
            "{reply}"
        );
    });
}
