//! The TLS certificate: self-signed at first start and again when the host names change, uploads
//! (each refusal a 400 naming the problem, with no new version), and ACME end to end against
//! Debian's `pebble` on loopback, validating HTTP-01 for real against the server's
//! `/.well-known/acme-challenge/` path (pebble's `httpPort` is the server's port, and
//! `pebble-challtestsrv` answers every DNS name with 127.0.0.1).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{TestServer, git, have_tool, request};

fn token(server: &TestServer) -> String {
    server
        .generated_admin_token()
        .expect("a generated admin token")
}

fn certificate(server: &TestServer, token: &str) -> Value {
    let r = request(
        "GET",
        &format!("{}/api/v1/certificate", server.url),
        token,
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn versions(server: &TestServer) -> usize {
    git(
        &server.data.join("config.git"),
        &["rev-list", "--count", "main"],
    )
    .trim()
    .parse()
    .unwrap()
}

fn patch_settings(server: &TestServer, token: &str, body: Value) {
    let r = request(
        "PATCH",
        &format!("{}/api/v1/settings?wait=true", server.url),
        token,
        Some(body),
    );
    // 202 when the version is still pending at the end of the wait (the renewal task may keep the
    // debounce busy); the change is acknowledged either way.
    assert!(matches!(r.status, 200 | 202), "{}", r.body);
}

/// Polls `GET /api/v1/certificate` until `done` holds (at most 60 s).
fn wait_for(server: &TestServer, token: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let c = certificate(server, token);
        if done(&c) {
            return c;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {c}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A certificate and key made with rcgen: a CA, and a leaf it signs.
pub(crate) struct Made {
    pub(crate) cert: String,
    pub(crate) key: String,
}

pub(crate) fn ca() -> (rcgen::Issuer<'static, rcgen::KeyPair>, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "test CA");
    let cert = params.self_signed(&key).unwrap();
    (rcgen::Issuer::new(params, key), cert.pem())
}

pub(crate) fn leaf(
    issuer: &rcgen::Issuer<'static, rcgen::KeyPair>,
    names: &[&str],
    from_days: i64,
    to_days: i64,
) -> Made {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now + time::Duration::days(from_days);
    params.not_after = now + time::Duration::days(to_days);
    let cert = params.signed_by(&key, issuer).unwrap();
    Made {
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

#[test]
fn the_first_version_holds_a_self_signed_certificate_rendered_for_front_smtp_and_imap() {
    let server = TestServer::start();
    let token = token(&server);
    let c = certificate(&server, &token);
    assert_eq!(c["source"], "self-signed");
    assert_eq!(c["hostnames"], json!(["mail.example.com"]));
    assert_eq!(c["covers_hostnames"], true);
    let repo = server.data.join("config.git");
    let chain = git(&repo, &["show", "main:certificates/cert.pem"]);
    for service in ["front", "smtp", "imap"] {
        let rendered = git(
            &repo,
            &[
                "show",
                &format!("main:rendered/{service}/etc/mailu/tls/cert.pem"),
            ],
        );
        assert_eq!(rendered, chain, "{service}");
        let key = git(
            &repo,
            &[
                "show",
                &format!("main:rendered/{service}/etc/mailu/tls/key.pem"),
            ],
        );
        assert!(key.starts_with("@@mailu-secret:tls/cert:"), "{key}");
    }
    // The key is in the repository only encrypted.
    let secret = git(&repo, &["show", "main:secrets/tls/cert"]);
    assert!(secret.contains("BEGIN AGE ENCRYPTED FILE"), "{secret}");
    let metrics = request("GET", &format!("{}/metrics", server.url), "", None).body;
    assert!(
        metrics.contains("mailu_git_certificate_expiry_seconds{source=\"self-signed\""),
        "{metrics}"
    );
}

#[test]
fn a_self_signed_certificate_follows_the_host_names() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = TestServer::start_with_args(&data, &["--tls-check", "200ms"]);
    let token = token(&server);
    let before = certificate(&server, &token);
    patch_settings(
        &server,
        &token,
        json!({"mail": {"hostnames": ["mx.example.com", "imap.example.com"]}}),
    );
    let after = wait_for(&server, &token, "a new self-signed certificate", |c| {
        c["hostnames"] == json!(["mx.example.com", "imap.example.com"])
    });
    assert_eq!(after["source"], "self-signed");
    assert_ne!(after["serial"], before["serial"]);
    // A change of the server's own, in a version.
    wait_for(&server, &token, "the version", |_| {
        let log = git(&data.join("config.git"), &["log", "--format=%B", "main"]);
        log.lines()
            .any(|l| l.starts_with("Mailu-Change:") && l.ends_with(" mailu-git"))
    });
    let rendered = git(
        &data.join("config.git"),
        &["show", "main:rendered/imap/etc/mailu/tls/cert.pem"],
    );
    let chain = git(
        &data.join("config.git"),
        &["show", "main:certificates/cert.pem"],
    );
    assert_eq!(rendered, chain);
}

#[test]
fn uploads_are_checked_and_refusals_change_nothing() {
    let server = TestServer::start();
    let token = token(&server);
    let url = format!("{}/api/v1/certificate?wait=true", server.url);
    let (issuer, ca_pem) = ca();
    let good = leaf(&issuer, &["mail.example.com", "other.example.com"], -1, 90);
    let other = leaf(&issuer, &["mail.example.com"], -1, 90);
    let expired = leaf(&issuer, &["mail.example.com"], -90, -1);
    let future = leaf(&issuer, &["mail.example.com"], 2, 90);
    let wrong = leaf(&issuer, &["www.example.com"], -1, 90);
    let wildcard = leaf(&issuer, &["*.example.com"], -1, 90);
    let deep = leaf(&issuer, &["*.mail.example.com", "example.com"], -1, 90);
    let chain = |m: &Made| format!("{}{}", m.cert, ca_pem);
    let before = versions(&server);
    let refusals = [
        (
            json!({"cert": chain(&good), "key": other.key}),
            "key",
            "does not match",
        ),
        (
            json!({"cert": chain(&expired), "key": expired.key}),
            "cert",
            "expired",
        ),
        (
            json!({"cert": chain(&future), "key": future.key}),
            "cert",
            "not valid yet",
        ),
        (
            json!({"cert": chain(&wrong), "key": wrong.key}),
            "cert",
            "mail.example.com",
        ),
        (
            json!({"cert": chain(&deep), "key": deep.key}),
            "cert",
            "mail.example.com",
        ),
        (
            json!({"cert": "garbage", "key": good.key}),
            "cert",
            "BEGIN CERTIFICATE",
        ),
        (
            json!({"cert": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "key": good.key}),
            "cert",
            "does not parse",
        ),
        (
            json!({"cert": chain(&good), "key": "nonsense"}),
            "key",
            "PEM",
        ),
        (
            json!({"cert": chain(&good), "key": good.cert}),
            "key",
            "CERTIFICATE",
        ),
        (
            json!({"cert": format!("{}{}", good.cert, good.key), "key": good.key}),
            "cert",
            "PRIVATE KEY",
        ),
        (json!({"cert": chain(&good)}), "key", "key"),
    ];
    for (body, field, words) in refusals {
        let r = request("PUT", &url, &token, Some(body));
        assert_eq!(r.status, 400, "{field} {words}: {}", r.body);
        let errors = &r.json()["errors"];
        let message = errors[field]
            .as_str()
            .unwrap_or_else(|| panic!("{}", r.body));
        assert!(message.contains(words), "{field}: {message}");
        assert!(!r.body.contains("PRIVATE KEY-----\n"), "no key in answers");
    }
    assert_eq!(versions(&server), before, "refusals make no version");
    assert_eq!(certificate(&server, &token)["source"], "self-signed");

    for (m, names) in [
        (&good, json!(["mail.example.com", "other.example.com"])),
        (&wildcard, json!(["*.example.com"])),
    ] {
        let r = request(
            "PUT",
            &url,
            &token,
            Some(json!({"cert": chain(m), "key": m.key})),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let c = certificate(&server, &token);
        assert_eq!(c["source"], "uploaded");
        assert_eq!(c["hostnames"], names);
        assert_eq!(c["issuer"], "CN=test CA");
        assert_eq!(c["chain_length"], 2);
    }
    let repo = server.data.join("config.git");
    let rendered = git(
        &repo,
        &["show", "main:rendered/smtp/etc/mailu/tls/cert.pem"],
    );
    assert_eq!(rendered, chain(&wildcard));
    let all = git(&repo, &["log", "-p", "main"]);
    assert!(
        !all.contains(wildcard.key.lines().nth(1).unwrap()),
        "the key is never in clear"
    );

    // A revert to the version before gives back the previous certificate.
    let before_wildcard = git(&repo, &["rev-parse", "main~1"]);
    let previous = git(
        &repo,
        &[
            "show",
            &format!("{}:certificates/cert.pem", before_wildcard.trim()),
        ],
    );
    assert_eq!(previous, chain(&good));
}

/// Picks a free port on 127.0.0.1 (closed again: the caller hands it to another process).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// pebble and pebble-challtestsrv on loopback; killed when dropped.
struct Pebble {
    pebble: Child,
    dns: Child,
    directory: String,
    ca: std::path::PathBuf,
}

impl Pebble {
    /// Starts pebble validating HTTP-01 on `http_port` (the server's port), certificates valid
    /// `validity_days`.
    fn start(dir: &Path, http_port: u16, validity_days: u64) -> Pebble {
        let (issuer, ca_pem) = ca();
        let own = leaf(&issuer, &["127.0.0.1", "localhost"], -1, 30);
        std::fs::write(dir.join("ca.pem"), &ca_pem).unwrap();
        std::fs::write(dir.join("pebble-cert.pem"), &own.cert).unwrap();
        std::fs::write(dir.join("pebble-key.pem"), &own.key).unwrap();
        let (listen, management, tls, dns, dns_management) = (
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            free_port(),
        );
        let config = json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{listen}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": dir.join("pebble-cert.pem"),
            "privateKey": dir.join("pebble-key.pem"),
            "httpPort": http_port,
            "tlsPort": tls,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
            "certificateValidityPeriod": validity_days * 86_400,
        }});
        std::fs::write(dir.join("pebble.json"), config.to_string()).unwrap();
        let dns_child = Command::new("pebble-challtestsrv")
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .args(["-dns01", &format!("127.0.0.1:{dns}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-management", &format!("127.0.0.1:{dns_management}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pebble-challtestsrv starts");
        let pebble = Command::new("pebble")
            .arg("-config")
            .arg(dir.join("pebble.json"))
            .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pebble starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", listen)).is_err() {
            assert!(Instant::now() < deadline, "pebble did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Pebble {
            pebble,
            dns: dns_child,
            directory: format!("https://127.0.0.1:{listen}/dir"),
            ca: dir.join("ca.pem"),
        }
    }

    fn stop(&mut self) {
        let _ = self.pebble.kill();
        let _ = self.pebble.wait();
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        self.stop();
        let _ = self.dns.kill();
        let _ = self.dns.wait();
    }
}

#[test]
fn acme_issues_renews_and_survives_a_failing_server() {
    if !have_tool("pebble") || !have_tool("pebble-challtestsrv") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut pebble = Pebble::start(tmp.path(), port, 100);
    let data = tmp.path().join("data");
    let ca = pebble.ca.to_string_lossy().into_owned();
    let server = TestServer::launch_listening(
        &data,
        &format!("127.0.0.1:{port}"),
        &[
            "--acme-directory",
            &pebble.directory,
            "--acme-ca",
            &ca,
            "--tls-check",
            "300ms",
            "--acme-retry",
            "300ms",
            "--acme-retry-max",
            "1s",
        ],
        &[],
    );
    let token = token(&server);
    let unknown = request(
        "GET",
        &format!("{}/.well-known/acme-challenge/nope", server.url),
        "",
        None,
    );
    assert_eq!(unknown.status, 404);

    // Issuance: the flavor asks for ACME, the task orders, pebble validates against our path.
    patch_settings(&server, &token, json!({"tls": {"flavor": "letsencrypt"}}));
    let issued = wait_for(&server, &token, "the ACME certificate", |c| {
        c["source"] == "acme"
    });
    assert!(
        issued["issuer"].as_str().unwrap().contains("Pebble"),
        "{issued}"
    );
    assert_eq!(issued["hostnames"], json!(["mail.example.com"]));
    assert_eq!(issued["renewal"]["error"], Value::Null, "{issued}");
    let spki = issued["spki_sha256"].clone();
    let repo = data.join("config.git");
    let meta = git(&repo, &["show", "HEAD:certificates/cert.toml"]);
    let pending = request(
        "GET",
        &format!("{}/api/v1/pending", server.url),
        &token,
        None,
    );
    assert!(
        meta.contains("acme") || pending.body.contains("Install the ACME certificate"),
        "{meta} {}",
        pending.body
    );

    // Renewal before expiry: a 100-day certificate is due when renewing 120 days ahead.
    patch_settings(&server, &token, json!({"tls": {"renew_before_days": 120}}));
    let renewed = wait_for(&server, &token, "a renewed certificate", |c| {
        c["source"] == "acme" && c["serial"] != issued["serial"]
    });
    assert_eq!(
        renewed["spki_sha256"], spki,
        "the key is kept across renewals"
    );
    patch_settings(&server, &token, json!({"tls": {"renew_before_days": 30}}));
    // Let a renewal that was under way finish before the certificate is compared.
    std::thread::sleep(Duration::from_secs(1));
    let settled = certificate(&server, &token);

    // A failing ACME server: reported, retried with backoff, and the certificate stays.
    pebble.stop();
    patch_settings(&server, &token, json!({"tls": {"renew_before_days": 120}}));
    let failed = wait_for(&server, &token, "two failed attempts", |c| {
        c["renewal"]["failures"].as_u64().unwrap_or(0) >= 2
    });
    assert!(
        failed["renewal"]["error"]
            .as_str()
            .unwrap()
            .contains("ACME"),
        "{failed}"
    );
    assert!(failed["renewal"]["next"].is_string(), "{failed}");
    assert_eq!(
        failed["serial"], settled["serial"],
        "the old certificate stays"
    );
    let metrics = request("GET", &format!("{}/metrics", server.url), "", None).body;
    let failures = metrics
        .lines()
        .find_map(|l| l.strip_prefix("mailu_git_certificate_renewal_failures "))
        .unwrap();
    assert!(failures.parse::<u32>().unwrap() >= 2, "{metrics}");
}

#[test]
fn the_cli_uploads_and_shows_the_certificate() {
    let server = TestServer::start();
    let token = token(&server);
    let tmp = tempfile::tempdir().unwrap();
    let (issuer, ca_pem) = ca();
    let good = leaf(&issuer, &["mail.example.com"], -1, 90);
    let other = leaf(&issuer, &["mail.example.com"], -1, 90);
    std::fs::write(
        tmp.path().join("chain.pem"),
        format!("{}{ca_pem}", good.cert),
    )
    .unwrap();
    std::fs::write(tmp.path().join("key.pem"), &good.key).unwrap();
    std::fs::write(tmp.path().join("other.pem"), &other.key).unwrap();
    let cli = |args: &[&str]| {
        Command::new(crate::support::bin())
            .args(args)
            .env("MAILU_GIT_URL", &server.url)
            .env("MAILU_GIT_TOKEN", &token)
            .current_dir(tmp.path())
            .output()
            .unwrap()
    };
    let refused = cli(&[
        "certificate",
        "set",
        "--cert",
        "chain.pem",
        "--key",
        "other.pem",
    ]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("does not match"), "{stderr}");
    let set = cli(&[
        "certificate",
        "set",
        "--cert",
        "chain.pem",
        "--key",
        "key.pem",
        "--wait",
    ]);
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let show = cli(&["certificate", "show"]);
    let stdout = String::from_utf8_lossy(&show.stdout);
    assert!(
        stdout.contains("uploaded") && stdout.contains("CN=test CA"),
        "{stdout}"
    );
}

#[test]
fn a_repository_without_a_certificate_gets_one_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = TestServer::start_on(&data);
    let first = certificate(&server, &token(&server));
    server.stop();
    // A repository from before the tls module: no certificate, no key (committed past the server).
    let repo = data.join("config.git");
    let work = tmp.path().join("work");
    git(
        tmp.path(),
        &[
            "clone",
            "-q",
            repo.to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    git(&work, &["rm", "-q", "-r", "certificates", "secrets/tls"]);
    git(
        &work,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "-m",
            "old",
        ],
    );
    git(&work, &["push", "-q", repo.to_str().unwrap(), "HEAD:main"]);
    let server = TestServer::start_on(&data);
    // The change is made before the server listens; read it from the repository once committed.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let files = git(&repo, &["ls-tree", "-r", "--name-only", "main"]);
        if files.contains("certificates/cert.pem") && files.contains("secrets/tls/cert") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no certificate was made: {files}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let chain = git(&repo, &["show", "main:certificates/cert.pem"]);
    assert!(chain.contains("BEGIN CERTIFICATE"), "{chain}");
    assert_ne!(
        first["serial"].as_str().unwrap(),
        "",
        "the first start had one too"
    );
    server.stop();
}
