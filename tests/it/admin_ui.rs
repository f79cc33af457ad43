//! The web admin in a real browser: headless Chromium driven through chromedriver (Debian's
//! packages) by thirtyfour, against the real server on 127.0.0.1. Sign-in (a wrong token first),
//! domains, users and aliases created through the forms, a validation error at its field, the new
//! version in the history with its diff, revert, suspend and resume, an override edited; labels and
//! the Tab order on every page; a 412 and the server going away with the form kept; screenshots of
//! every page at desktop and phone width (under `CARGO_TARGET_TMPDIR/admin-ui/`).

mod browser;
mod firstrun;

use serde_json::{Value, json};
use thirtyfour::prelude::*;

use crate::support::{TestServer, mailu_git, request};
use browser::{Browser, TOKEN, call, have_browser, runtime, server};

/// Every page of the application, as its route and the heading it shows.
const PAGES: &[(&str, &str)] = &[
    ("dashboard", "Dashboard"),
    // The servers of these tests stay on the template's example values: the form is shown.
    ("firstrun", "First run"),
    ("domains", "Domains"),
    ("domains/new", "New domain"),
    ("domains/edit/example.com", "Domain example.com"),
    ("alternatives", "Alternative domains"),
    ("alternatives/new", "New alternative"),
    ("relays", "Relayed domains"),
    ("relays/new", "New relay"),
    ("users", "Users"),
    ("users/new", "New user"),
    ("users/edit/alice%40example.com", "User alice@example.com"),
    ("aliases", "Aliases"),
    ("aliases/new", "New alias"),
    ("managers", "Domain managers"),
    ("tokens", "User tokens"),
    ("tokens/new", "New token"),
    ("fetches", "Fetched accounts"),
    ("fetches/new", "New fetched account"),
    ("settings", "Settings"),
    ("services", "Services"),
    ("services/smtp", "Service smtp"),
    ("overrides/override/smtp", "Overrides"),
    ("overrides/override/smtp?new=1", "New override file"),
    ("history", "History"),
];

#[test]
fn an_admin_manages_mail_and_versions_through_the_forms() {
    if !have_browser() {
        return;
    }
    let server = server();
    runtime().block_on(async {
        let b = Browser::start(&server.url).await;
        let url = server.url.clone();

        // `/` leads to the application, which asks for a token; a wrong one is refused clearly and
        // stays in the field.
        b.d().goto(format!("{url}/")).await.unwrap();
        b.wait_heading("Sign in").await;
        assert!(b.d().current_url().await.unwrap().as_str().ends_with("/admin/#/signin")
            || b.d().current_url().await.unwrap().path() == "/admin/");
        b.type_into("main [name=token]", "mgit_wrong-token-0000000000").await;
        b.click("main button[type=submit]").await;
        b.wait("document.querySelector('main .field-error').textContent !== ''", "the refusal")
            .await;
        assert!(b.field_error("token").await.contains("not accepted"));
        assert_eq!(b.value("token").await, "mgit_wrong-token-0000000000");
        b.screenshots("signin-wrong-token").await;
        b.sign_in().await;

        // A domain: first a bad name, refused at its field, then a good one; the comment holds
        // markup, which must stay text.
        b.open("domains/new", "New domain").await;
        b.type_into("main [name=name]", "not a domain!").await;
        b.click("main button[type=submit]").await;
        b.wait("document.querySelector('main [aria-invalid=true]')", "a field error").await;
        assert!(!b.field_error("name").await.is_empty());
        assert_eq!(b.value("name").await, "not a domain!");
        b.screenshots("domain-field-error").await;
        b.type_into("main [name=name]", "example.com").await;
        b.type_into("main [name=comment]", "<img src=x id=injected>").await;
        b.click("main button[type=submit]").await;
        b.wait_heading("Domains").await;
        assert!(b.notice().await.contains("Saved"), "{}", b.notice().await);
        b.became_version().await;
        b.wait("document.querySelector('main td') && document.querySelector('main tbody').textContent.includes('<img src=x id=injected>')",
            "the comment shown as text").await;
        assert_eq!(b.js("return document.getElementById('injected') === null;").await, json!(true));

        // A user and an alias; the alias first with a destination that does not exist.
        b.open("users/new", "New user").await;
        b.type_into("main [name=email]", "alice@example.com").await;
        b.type_into("main [name=raw_password]", "correct horse battery").await;
        b.type_into("main [name=displayed_name]", "Alice").await;
        b.click("main button[type=submit]").await;
        b.wait_heading("Users").await;
        b.became_version().await;
        b.open("aliases/new", "New alias").await;
        b.type_into("main [name=email]", "info@example.com").await;
        b.type_into("main [name=destination]", "nobody@example.com").await;
        b.click("main button[type=submit]").await;
        b.wait("document.querySelector('main [aria-invalid=true]')", "a field error").await;
        assert!(b.field_error("destination").await.contains("destination.0"));
        b.type_into("main [name=destination]", "alice@example.com").await;
        b.click("main button[type=submit]").await;
        b.wait_heading("Aliases").await;
        let alias_version = b.became_version().await;
        let (status, alias) = call(url.clone(), "GET", "alias/info@example.com", None).await;
        assert_eq!(status, 200, "{alias}");
        assert_eq!(alias["destination"], json!(["alice@example.com"]));

        // The history shows the alias's version; its diff names the alias's file.
        b.open("history", "History").await;
        b.wait("document.querySelector('main tbody').textContent.includes('info@example.com')",
            "the alias's version in the history").await;
        // The newest version is marked as main and deployed.
        assert_eq!(
            b.js("return [...document.querySelectorAll('main tbody tr:first-child .tag')].map((t) => t.textContent);").await,
            json!(["main", "deployed"])
        );
        b.click(&format!("main a[aria-label='Diff of version {alias_version}']")).await;
        b.wait("document.querySelector('main h1').textContent.startsWith('Diff')", "the diff").await;
        b.wait("document.querySelector('main').textContent.includes('aliases/info')",
            "the alias file in the diff").await;
        b.wait("document.querySelector('main .diff-add')", "an added line").await;
        b.screenshots("diff").await;

        // The compare form: any two versions, one service's rendered files only.
        b.open("history", "History").await;
        b.type_into("main [name=from]", "1").await;
        b.type_into("main [name=to]", &alias_version.to_string()).await;
        let select = b.d().find(By::Css("main [name=service]")).await.unwrap();
        thirtyfour::components::SelectElement::new(&select)
            .await
            .unwrap()
            .select_by_value("imap")
            .await
            .unwrap();
        b.click_button("Show the diff").await;
        b.wait_heading(&format!("Diff of version 1 → {alias_version} (imap)")).await;
        let groups = b
            .js("return [...document.querySelectorAll('main section h2')].map((h) => h.textContent);")
            .await;
        let groups = groups.as_array().unwrap();
        assert!(!groups.is_empty());
        assert!(
            groups.iter().all(|h| h.as_str().unwrap().starts_with("rendered/imap/")),
            "{groups:?}"
        );

        // Revert to the version before the alias, confirmed: the alias is gone.
        b.open("history", "History").await;
        b.click(&format!("main button[aria-label='Revert to version {}']", alias_version - 1)).await;
        b.confirm().await;
        b.wait("document.getElementById('notice').textContent.includes('Reverted')", "the revert").await;
        b.wait("document.querySelector('main tbody tr:first-child').textContent.includes('Revert to version')",
            "the history shown again with the revert").await;
        let (status, _) = call(url.clone(), "GET", "alias/info@example.com", None).await;
        assert_eq!(status, 404);

        // Suspend (confirmed) and resume.
        b.open("history", "History").await;
        b.click_button("Suspend deployment").await;
        b.confirm().await;
        b.wait("[...document.querySelectorAll('main button')].some((x) => x.textContent === 'Resume deployment')",
            "the resume button").await;
        let (_, status) = call(url.clone(), "GET", "status", None).await;
        assert_eq!(status["deployed"]["held"], true, "{status}");
        b.screenshots("history-suspended").await;
        b.click_button("Resume deployment").await;
        b.wait("[...document.querySelectorAll('main button')].some((x) => x.textContent === 'Suspend deployment')",
            "the suspend button").await;
        let (_, status) = call(url.clone(), "GET", "status", None).await;
        assert_eq!(status["deployed"]["held"], false, "{status}");

        // An override: created, then edited.
        b.open("overrides/override/smtp?new=1", "New override file").await;
        b.type_into("main [name=path]", "/etc/postfix/header_checks").await;
        b.type_into("main [name=body]", "/^X-One:/ IGNORE\n").await;
        b.click("main button[type=submit]").await;
        b.wait_heading("File /etc/postfix/header_checks").await;
        b.type_into("main [name=body]", "/^X-Two:/ IGNORE\n").await;
        b.js("document.getElementById('notice').replaceChildren(); return true;").await;
        b.click("main button[type=submit]").await;
        b.wait("document.getElementById('notice').textContent.includes('Saved')", "the save").await;
        let file = tokio::task::spawn_blocking({
            let full = format!("{url}/api/v1/override/smtp/etc/postfix/header_checks");
            move || request("GET", &full, TOKEN, None).body
        })
        .await
        .unwrap();
        assert_eq!(file, "/^X-Two:/ IGNORE\n");

        // Settings and a service: the server's errors at their fields, then a good value saved.
        b.open("settings", "Settings").await;
        b.type_into("main [name='mail.message_size_limit']", "-5").await;
        b.click("main button[type=submit]").await;
        b.wait("document.querySelector('main [aria-invalid=true]')", "a settings error").await;
        assert!(b.field_error("mail.message_size_limit").await.contains("-5"));
        b.type_into("main [name='mail.message_size_limit']", "60000000").await;
        b.click("main button[type=submit]").await;
        b.became_version().await;
        let (_, settings) = call(url.clone(), "GET", "settings", None).await;
        assert_eq!(settings["mail"]["message_size_limit"], 60_000_000);
        b.open("services/smtp", "Service smtp").await;
        b.type_into("main [name=image]", "not an image!").await;
        b.click("main button[type=submit]").await;
        b.wait("document.querySelector('main [aria-invalid=true]')", "a service error").await;
        assert!(b.field_error("image").await.contains("image reference"));

        // A relay created, then deleted: the confirmation's Cancel keeps it, Confirm deletes it.
        b.open("relays/new", "New relay").await;
        b.type_into("main [name=name]", "relay.example.net").await;
        b.type_into("main [name=smtp]", "smtp.example.net").await;
        b.click("main button[type=submit]").await;
        b.wait_heading("Relayed domains").await;
        b.wait("document.querySelector('main tbody').textContent.includes('relay.example.net')", "the relay")
            .await;
        b.click("main button[aria-label='Delete relay.example.net']").await;
        b.wait("document.getElementById('confirm').open", "the confirmation").await;
        b.click("#confirm-cancel").await;
        b.wait("!document.getElementById('confirm').open", "the dialog closed").await;
        let (status, _) = call(url.clone(), "GET", "relay/relay.example.net", None).await;
        assert_eq!(status, 200, "cancel keeps the relay");
        b.click("main button[aria-label='Delete relay.example.net']").await;
        b.confirm().await;
        b.wait("!document.querySelector('main tbody').textContent.includes('relay.example.net')",
            "the relay gone from the list").await;
        let (status, _) = call(url.clone(), "GET", "relay/relay.example.net", None).await;
        assert_eq!(status, 404);

        // A relay to the domain's own MX (smtp unset): editing its comment leaves smtp unset.
        b.open("relays/new", "New relay").await;
        b.type_into("main [name=name]", "mx.example.net").await;
        b.click("main button[type=submit]").await;
        b.wait_heading("Relayed domains").await;
        b.became_version().await;
        b.open("relays/edit/mx.example.net", "Relay mx.example.net").await;
        b.type_into("main [name=comment]", "through its MX").await;
        b.click("main button[type=submit]").await;
        b.became_version().await;
        let (status, relay) = call(url.clone(), "GET", "relay/mx.example.net", None).await;
        assert_eq!(status, 200, "{relay}");
        assert_eq!(relay["smtp"], Value::Null, "{relay}");
        assert_eq!(relay["comment"], "through its MX", "{relay}");

        // An app token: shown once, in the notice.
        b.open("tokens/new", "New token").await;
        b.type_into("main [name=email]", "alice@example.com").await;
        b.type_into("main [name=comment]", "phone").await;
        b.click("main button[type=submit]").await;
        b.wait("document.getElementById('new-token')", "the new token").await;
        let shown = b.js("return document.getElementById('new-token').textContent;").await;
        assert!(shown.as_str().unwrap().len() >= 16, "{shown}");

        // A fetched account: the remote password is write-only, never shown again.
        b.open("fetches/new", "New fetched account").await;
        b.type_into("main [name=email]", "alice@example.com").await;
        b.type_into("main [name=host]", "imap.example.org").await;
        b.type_into("main [name=username]", "alice.remote").await;
        b.type_into("main [name=password]", "remote secret").await;
        b.click("main button[type=submit]").await;
        b.wait_heading("Fetched accounts").await;
        b.wait(
            "document.querySelector('main tbody').textContent.includes('imap://alice.remote@imap.example.org:993')",
            "the fetched account with IMAP's default port",
        )
        .await;
        let text = b.js("return document.body.innerText;").await;
        assert!(!text.as_str().unwrap().contains("remote secret"));

        // Cleanup, confirmed, with its report.
        b.open("history", "History").await;
        b.click_button("Clean up now").await;
        b.confirm().await;
        b.wait("document.getElementById('cleanup-report').textContent.includes('Outcome')",
            "the cleanup report").await;
        b.screenshots("history-cleanup").await;

        // Search in a list.
        b.open("users", "Users").await;
        b.type_into("main [name=q]", "zzz").await;
        b.click("main form[role=search] button").await;
        b.wait("document.querySelector('main .pager').textContent.includes('No matches')", "no match").await;
        b.type_into("main [name=q]", "ALICE").await;
        b.click("main form[role=search] button").await;
        b.wait("document.querySelector('main .pager').textContent.includes('1–1 of 1')", "one match").await;

        // Every page, at desktop and phone width, with no value shown as a JS artefact.
        for (route, heading) in PAGES {
            b.open(route, heading).await;
            let text = b.js("return document.querySelector('main').innerText;").await;
            let text = text.as_str().unwrap();
            assert!(!text.contains("[object") && !text.contains("undefined") && !text.contains("NaN"),
                "{route} shows a JS artefact:\n{text}");
            let name = route.replace(['/', '?', '=', '%'], "-");
            b.screenshots(&name).await;
        }
        // The dashboard names each domain's DNS records.
        b.open("dashboard", "Dashboard").await;
        let text = b.js("return document.querySelector('main').innerText;").await;
        let text = text.as_str().unwrap();
        assert!(text.contains("example.com. 600 IN MX 10 mail.example.com."), "{text}");
        assert!(text.contains("dns_autoconfig"), "{text}");
        b.quit().await;
    });
}

#[test]
fn every_input_has_a_label_and_tab_reaches_every_control() {
    if !have_browser() {
        return;
    }
    let server = server();
    runtime().block_on(async {
        let url = server.url.clone();
        for (path, body) in [
            ("domain", json!({"name": "example.com"})),
            (
                "user",
                json!({"email": "alice@example.com", "raw_password": "correct horse battery"}),
            ),
        ] {
            let (status, reply) = call(url.clone(), "POST", path, Some(body)).await;
            assert_eq!(status, 200, "{reply}");
        }
        let b = Browser::start(&url).await;
        b.d().goto(b.base.clone()).await.unwrap();
        b.wait_heading("Sign in").await;
        check_page(&b, "signin").await;
        b.sign_in().await;
        for (route, heading) in PAGES {
            b.open(route, heading).await;
            check_page(&b, route).await;
        }
        b.quit().await;
    });
}

/// Every input, select and textarea has a label; pressing Tab from the top of the page reaches
/// every visible, enabled control.
async fn check_page(b: &Browser, route: &str) {
    let unlabelled = b
        .js("return [...document.querySelectorAll('input, select, textarea')]
                .filter((e) => e.type !== 'hidden' && e.labels.length === 0 && !e.getAttribute('aria-label'))
                .map((e) => e.outerHTML);")
        .await;
    assert_eq!(unlabelled, json!([]), "inputs without a label on {route}");
    let count = b
        .js("const all = [...document.querySelectorAll('a[href], button, input, select, textarea')]
                .filter((e) => !e.disabled && e.getClientRects().length > 0 && !e.closest('dialog'));
             all.forEach((e, i) => e.dataset.tab = String(i));
             document.activeElement && document.activeElement.blur();
             window.scrollTo(0, 0);
             return all.length;")
        .await
        .as_u64()
        .unwrap();
    assert!(count >= 3, "{route} has only {count} controls");
    let mut seen = std::collections::BTreeSet::new();
    // Date inputs have one stop per part: more presses than controls, until every one was seen.
    for _ in 0..count * 3 + 10 {
        if seen.len() as u64 == count {
            break;
        }
        b.d()
            .action_chain()
            .send_keys(Key::Tab)
            .perform()
            .await
            .unwrap();
        if let Some(i) = b
            .js("return document.activeElement.dataset.tab || null;")
            .await
            .as_str()
        {
            seen.insert(i.parse::<u64>().unwrap());
        }
    }
    let missed: Vec<Value> = {
        let mut missed = Vec::new();
        for i in (0..count).filter(|i| !seen.contains(i)) {
            missed.push(
                b.js(&format!(
                    "return document.querySelector('[data-tab=\"{i}\"]').outerHTML;"
                ))
                .await,
            );
        }
        missed
    };
    assert!(
        missed.is_empty(),
        "Tab does not reach these controls on {route}: {missed:?}"
    );
}

#[test]
fn a_concurrent_change_and_a_stopped_server_are_shown_and_the_form_is_kept() {
    if !have_browser() {
        return;
    }
    let server = server();
    let url = server.url.clone();
    let rt = runtime();
    let b = rt.block_on(async {
        let (status, reply) = call(
            url.clone(),
            "POST",
            "domain",
            Some(json!({"name": "example.com"})),
        )
        .await;
        assert_eq!(status, 200, "{reply}");
        let b = Browser::start(&url).await;
        // The answer of the server names its security policy.
        let headers = tokio::task::spawn_blocking({
            let u = format!("{url}/admin/");
            move || request("GET", &u, "", None).headers
        })
        .await
        .unwrap();
        assert_eq!(
            headers["content-security-policy"].to_str().unwrap(),
            "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        );
        b.sign_in().await;
        b.open("domains/edit/example.com", "Domain example.com")
            .await;
        // Someone else changes the domain after the page read it.
        let (status, reply) = call(
            url.clone(),
            "PATCH",
            "domain/example.com",
            Some(json!({"comment": "changed elsewhere"})),
        )
        .await;
        assert_eq!(status, 200, "{reply}");
        b.type_into("main [name=comment]", "my comment").await;
        b.click("main button[type=submit]").await;
        b.wait(
            "document.querySelector('main .form-error').textContent.includes('412')",
            "the 412",
        )
        .await;
        assert_eq!(b.value("comment").await, "my comment");
        b.screenshots("domain-412").await;
        let (_, domain) = call(url.clone(), "GET", "domain/example.com", None).await;
        assert_eq!(
            domain["comment"], "changed elsewhere",
            "nothing was overwritten"
        );
        b
    });
    // The server goes away while the page is open.
    assert!(server.stop().success());
    rt.block_on(async {
        b.type_into("main [name=comment]", "typed while it was down")
            .await;
        b.click("main button[type=submit]").await;
        b.wait(
            "document.querySelector('main .form-error').textContent.includes('cannot be reached')",
            "the unreachable server",
        )
        .await;
        assert_eq!(b.value("comment").await, "typed while it was down");
        b.screenshots("server-gone").await;
        b.quit().await;
    });
}

#[test]
fn a_read_token_sees_everything_and_a_change_is_refused_in_a_sentence() {
    if !have_browser() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = mailu_git(
        &[
            "access-token",
            "create",
            "auditor",
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
    runtime().block_on(async {
        let b = Browser::start(&server.url).await;
        b.sign_in_with(&read).await;
        for (route, heading) in [
            ("dashboard", "Dashboard"),
            ("history", "History"),
            ("settings", "Settings"),
        ] {
            b.open(route, heading).await;
        }
        b.open("domains/new", "New domain").await;
        b.type_into("main [name=name]", "example.com").await;
        b.click("main button[type=submit]").await;
        b.wait(
            "document.querySelector('main .form-error').textContent.includes('may not do that')",
            "the refusal of a read token",
        )
        .await;
        assert_eq!(b.value("name").await, "example.com");
        b.quit().await;
    });
}
