//! front's rendered files judged by nginx 1.22 of the bookworm image: `nginx -t` for every
//! `tls.flavor` (and for every optional route at once), the listeners and locations `nginx -T`
//! shows, the answers a running nginx gives on 127.0.0.1 inside the check container, and
//! mailu-overrides included in the main server. The certificate is the rendered one (the fixture's), its key filled in.

use std::path::Path;

use crate::fixtures::{self, Fixture};
use crate::image::{self, CheckOutput, run_check};
use crate::support::mailu_git;

/// The rendered certificate with its key filled in, as the bundle delivers them.
pub(super) fn make_tls() -> String {
    super::fill_tls()
}

/// The small fixture with `mailu.toml` edited by (text, replacement) pairs, each of which must
/// apply, so a changed fixture cannot silently turn a case into the default one.
fn edited(edits: &[(&str, &str)]) -> tempfile::TempDir {
    fixtures::copy_of(Fixture::Small, |root| {
        let path = root.join("mailu.toml");
        let mut text = std::fs::read_to_string(&path).unwrap();
        for (from, to) in edits {
            assert!(text.contains(from), "mailu.toml has no {from:?}");
            text = text.replacen(from, to, 1);
        }
        std::fs::write(&path, text).unwrap();
    })
}

/// `nginx -t`, then the whole configuration as `nginx -T` prints it, on front's rendered files.
fn nginx_t(rendered: &Path) -> CheckOutput {
    let out = run_check(
        &rendered.join("front"),
        &format!("{} && nginx -t && nginx -T 2>/dev/null", make_tls()),
    );
    out.assert_success();
    assert!(out.stderr.contains("test is successful"), "{out}");
    out
}

#[track_caller]
fn assert_lines(out: &CheckOutput, present: &[&str], absent: &[&str]) {
    let lines: Vec<&str> = out.stdout.lines().map(str::trim).collect();
    for line in present {
        assert!(lines.contains(line), "nginx -T lacks `{line}`:\n{out}");
    }
    for line in absent {
        assert!(!lines.contains(line), "nginx -T has `{line}`:\n{out}");
    }
}

/// What every flavor serves in its main server.
const MAIN: &[&str] = &[
    "server_name mail.example.com;",
    "set $admin admin:8080;",
    "location ^~ /config.git/ {",
    "location /admin/ {",
    "location /webmail/ {",
    "location = /health {",
    "return 302 /webmail;",
    "client_max_body_size 58388608;",
    "resolver 127.0.0.11 valid=30s ipv6=off;",
];
const ACME: &str = "location ^~ /.well-known/acme-challenge/ {";
const HTTPS: &[&str] = &[
    "listen 443 ssl http2;",
    "ssl_certificate /etc/mailu/tls/cert.pem;",
    "ssl_certificate_key /etc/mailu/tls/key.pem;",
    "return 301 https://$host$request_uri;",
];

#[test]
fn nginx_accepts_the_front_of_every_tls_flavor() {
    if image::ensure().is_none() {
        return;
    }
    for flavor in ["cert", "letsencrypt", "notls", "mail", "mail-letsencrypt"] {
        let repo = edited(&[("flavor = \"cert\"", &format!("flavor = \"{flavor}\""))]);
        let rendered = fixtures::rendered_dir(repo.path());
        // front gets the TLS files only when it serves HTTPS itself.
        let tls_files = rendered
            .path()
            .join("front/etc/mailu/tls/cert.pem")
            .exists();
        assert_eq!(
            tls_files,
            matches!(flavor, "cert" | "letsencrypt"),
            "{flavor}"
        );
        for mail in ["smtp", "imap"] {
            let cert = rendered.path().join(mail).join("etc/mailu/tls/cert.pem");
            assert!(cert.exists(), "{mail} keeps its certificate with {flavor}");
        }
        // ... and uses it: mail never runs without TLS, "notls" included.
        let main_cf =
            std::fs::read_to_string(rendered.path().join("smtp/etc/postfix/main.cf")).unwrap();
        assert!(
            main_cf.contains("smtpd_tls_cert_file = /etc/mailu/tls/cert.pem"),
            "{flavor}"
        );
        assert!(main_cf.contains("smtpd_tls_auth_only = yes"), "{flavor}");
        let dovecot =
            std::fs::read_to_string(rendered.path().join("imap/etc/dovecot/dovecot.conf")).unwrap();
        assert!(dovecot.contains("\nssl = required\n"), "{flavor}");
        let out = nginx_t(rendered.path());
        assert_lines(&out, MAIN, &[]);
        let acme: &[&str] = &[ACME];
        let (acme_present, acme_absent) = if flavor.contains("letsencrypt") {
            (acme, &[][..])
        } else {
            (&[][..], acme)
        };
        assert_lines(&out, acme_present, acme_absent);
        if matches!(flavor, "cert" | "letsencrypt") {
            assert_lines(&out, HTTPS, &[]);
            assert_lines(&out, &["listen 80;"], &[]);
        } else {
            // The web is plain HTTP on 80; smtp and imap hold the mail certificate.
            assert_lines(&out, &["listen 80;"], HTTPS);
            assert!(!out.stdout.contains("listen 443"), "{flavor}:\n{out}");
        }
    }
}

#[test]
fn nginx_accepts_every_optional_route_and_the_proxy_settings_at_once() {
    if image::ensure().is_none() {
        return;
    }
    let repo = edited(&[
        ("api = false", "api = true"),
        ("api_path = \"/api\"", "api_path = \"/my-api\""),
        ("webdav = \"none\"", "webdav = \"radicale\""),
        (
            "real_ip_from = []",
            "real_ip_from = [\"10.0.0.0/8\", \"fd00::/8\"]",
        ),
        ("proxy_protocol = []", "proxy_protocol = [\"all\"]"),
        (
            "# subnet6 = \"fd00:1234::/64\"",
            "subnet6 = \"fd00:1234::/64\"",
        ),
        ("webroot_redirect = \"/webmail\"", "webroot_redirect = \"\""),
    ]);
    let out = nginx_t(fixtures::rendered_dir(repo.path()).path());
    assert_lines(
        &out,
        &[
            "listen 443 ssl http2 proxy_protocol;",
            "listen [::]:443 ssl http2 proxy_protocol;",
            "listen 80 proxy_protocol;",
            "real_ip_header proxy_protocol;",
            "set_real_ip_from 10.0.0.0/8;",
            "set_real_ip_from fd00::/8;",
            "resolver 127.0.0.11 valid=30s;",
            "location /my-api/ {",
            "location /webdav/ {",
            "proxy_pass http://$webdav;",
        ],
        &["return 302 /webmail;"],
    );
}

/// One HTTP/1.0 request per entry of `requests` (`PORT METHOD PATH [BODY]`), answered by the
/// nginx the script starts; the answers are separated by `=====`. nginx binds its ports before it
/// goes to the background, so the first request needs no wait; its logs (the access log is
/// /dev/stdout) go to a file, so stdout holds only the answers.
fn ask(rendered: &Path, requests: &[&str]) -> Vec<String> {
    let tls = make_tls();
    let mut script = format!(
        "{tls} && nginx >/tmp/nginx.log 2>&1 && \
         ask() {{ if [ \"$1\" = 443 ]; then openssl s_client -quiet -connect 127.0.0.1:443 2>/dev/null; \
         else busybox nc 127.0.0.1 \"$1\"; fi; echo; echo =====; }}"
    );
    for request in requests {
        let mut parts = request.splitn(4, ' ');
        let (port, method, path) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let body = parts.next().unwrap_or("");
        script.push_str(&format!(
            "; printf '{method} {path} HTTP/1.0\\r\\nHost: mail.example.com\\r\\nContent-Length: {}\\r\\n\\r\\n{body}' | ask {port}",
            body.len()
        ));
    }
    let out = run_check(&rendered.join("front"), &script);
    out.assert_success();
    let answers: Vec<String> = out
        .stdout
        .split("=====\n")
        .filter(|a| !a.trim().is_empty())
        .map(|a| a.replace("\r\n", "\n"))
        .collect();
    assert_eq!(answers.len(), requests.len(), "{out}");
    answers
}

#[test]
fn nginx_answers_redirects_health_and_the_rendered_autoconfiguration() {
    if image::ensure().is_none() {
        return;
    }
    let rendered = fixtures::rendered(Fixture::Small);
    let answers = ask(
        rendered.path(),
        &[
            "80 GET /some/where?x=1",
            "80 GET /health",
            "443 GET /",
            "443 GET /.well-known/autoconfig/mail/config-v1.1.xml",
            "443 POST /Autodiscover/Autodiscover.xml <Autodiscover/>",
            "443 GET /autodiscover/autodiscover.json/v1.0/alice@example.com?Protocol=AutodiscoverV1",
            "443 GET /autodiscover/autodiscover.json/v1.0/alice@example.com?Protocol=ActiveSync",
        ],
    );
    let expect = [
        "HTTP/1.1 301 Moved Permanently\n",
        "HTTP/1.1 204 No Content\n",
        "HTTP/1.1 302 Moved Temporarily\n",
        "HTTP/1.1 200 OK\n",
        "HTTP/1.1 200 OK\n",
        "HTTP/1.1 200 OK\n",
        "HTTP/1.1 404 Not Found\n",
    ];
    for (answer, status) in answers.iter().zip(expect) {
        assert!(answer.starts_with(status), "want {status}:\n{answer}");
    }
    assert!(answers[0].contains("\nLocation: https://mail.example.com/some/where?x=1\n"));
    assert!(
        answers[2].contains("\nLocation: /webmail\n"),
        "{}",
        answers[2]
    );
    assert!(answers[2].contains("\nStrict-Transport-Security: max-age=31536000\n"));
    assert!(
        answers[3].contains("\nContent-Type: text/xml\n"),
        "{}",
        answers[3]
    );
    assert!(
        answers[3].contains("<port>993</port>\n      <socketType>SSL</socketType>"),
        "{}",
        answers[3]
    );
    assert!(answers[4].contains("<Port>465</Port>"), "{}", answers[4]);
    assert!(
        answers[5].contains("\"Url\":\"https://mail.example.com/autodiscover/autodiscover.xml\""),
        "{}",
        answers[5]
    );
}

#[test]
fn mailu_overrides_join_the_main_server_and_meaningless_ones_are_warned_about() {
    if image::ensure().is_none() {
        return;
    }
    let with_overrides = |custom: &str| {
        let custom = custom.to_owned();
        fixtures::copy_of(Fixture::Small, move |root| {
            let nginx = root.join("mailu-overrides/nginx");
            std::fs::create_dir_all(nginx.join("dovecot")).unwrap();
            std::fs::write(nginx.join("custom.conf"), custom).unwrap();
            std::fs::write(
                nginx.join("dovecot/proxy.conf"),
                "login_trusted_networks = ::1\n",
            )
            .unwrap();
        })
    };
    let repo = with_overrides("location = /custom {\n  return 200 \"custom\\n\";\n}");
    // The warning reaches the writer: `mailu-git render` prints it.
    let out_dir = tempfile::tempdir().unwrap();
    let o = mailu_git(
        &[
            "render",
            repo.path().to_str().unwrap(),
            "--out",
            out_dir.path().to_str().unwrap(),
        ],
        repo.path(),
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("mailu-overrides/nginx/dovecot/proxy.conf: ignored"),
        "{stderr}"
    );
    let answers = ask(out_dir.path(), &["443 GET /custom"]);
    assert!(
        answers[0].starts_with("HTTP/1.1 200 OK\n") && answers[0].ends_with("\ncustom\n\n"),
        "{}",
        answers[0]
    );

    // A broken override fails nginx -t with its place in the joined file.
    let repo = with_overrides("location = /custom {\n  no_such_directive on;\n}\n");
    let rendered = fixtures::rendered_dir(repo.path());
    run_check(
        &rendered.path().join("front"),
        &format!("{} && nginx -t", make_tls()),
    )
    .assert_failure("unknown directive \"no_such_directive\" in /etc/nginx/mailu/overrides/mailu-overrides.conf:5");
}
