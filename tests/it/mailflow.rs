//! Proof by mail (issue 9): a Mailu stack on the real Docker engine, configured only through the
//! REST API, delivers and serves mail to Python's smtplib and imaplib (`tests/it/mailflow/mail.py`).
//!
//! The server runs in a container (`entrypoint.rs`'s stack: the bookworm image with the binary
//! under test), `mailu-git worker` is a host process on the server's published 127.0.0.1 port.
//! Through the API only: two local domains and their users; smtp (postfix) and imap (dovecot) on
//! the stock bookworm image, deployed by the worker, their mail ports published on 127.0.0.1 with
//! free ports. Test-only settings go through Mailu's overrides: no antispam milter (no rspamd in
//! this stack), no DNS checks of client domains (nothing is looked up off the machine), no
//! authentication failure delay. Every step asserts on what the daemons answered: SMTP reply
//! codes, messages found over IMAPS, the certificate a port presents.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::bundle::{ADMIN, WORKER};
use crate::entrypoint::{Stack, docker, logs};
use crate::support::{bin, have_tool, request};

/// The worker process and everything of its project (containers, volumes); removed when dropped.
struct Worker {
    child: Child,
    project: String,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let label = format!("label=org.mailu-git.project={}", self.project);
        let ids = docker(&["ps", "-aq", "--filter", &label]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = docker(&["rm", "-f", id]);
        }
        for volume in ["queue", "mail"] {
            let _ = docker(&["volume", "rm", "-f", &format!("{}-{volume}", self.project)]);
        }
    }
}

/// The mail client: `mail.py`, the stack's host name, and (once checked against the API) the
/// stack's certificate as the only trust anchor.
struct Client {
    project: String,
    hostname: String,
    cafile: Option<PathBuf>,
}

/// A user and the password given at creation.
type Login<'a> = (&'a str, &'a str);

impl Client {
    /// The host port Docker gave `service`'s `port`.
    fn port(&self, service: &str, port: u16) -> String {
        let out = docker(&[
            "port",
            &format!("{}-{service}", self.project),
            &format!("{port}/tcp"),
        ]);
        let text = String::from_utf8_lossy(&out.stdout);
        let addr = text
            .lines()
            .find(|l| l.starts_with("127.0.0.1:"))
            .unwrap_or_else(|| panic!("{service} {port} is not published on 127.0.0.1: {text}"));
        addr.rsplit(':').next().unwrap().to_owned()
    }

    /// Runs one action of `mail.py` and returns its JSON answer.
    fn run(&self, action: &str, service: &str, port: u16, args: &[&str]) -> Value {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/mailflow/mail.py");
        let host_port = self.port(service, port);
        let mut cmd = Command::new("python3");
        cmd.arg(script)
            .arg(action)
            .args(["--port", &host_port, "--hostname", &self.hostname])
            .args(args);
        if let Some(ca) = &self.cafile {
            cmd.arg("--cafile").arg(ca);
        }
        let out = cmd.output().expect("python3 runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "mail.py {action} {args:?}: {e}: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }

    /// Sends one message; `port` is 25, 465 (TLS) or 587 (STARTTLS).
    fn send(
        &self,
        port: u16,
        login: Option<Login>,
        from: &str,
        to: &[&str],
        subject: &str,
    ) -> Value {
        self.send_with(port, login, from, to, subject, &[])
    }

    fn send_with(
        &self,
        port: u16,
        login: Option<Login>,
        from: &str,
        to: &[&str],
        subject: &str,
        headers: &[&str],
    ) -> Value {
        let tls = match port {
            465 => "wrapper",
            587 => "starttls",
            _ => "none",
        };
        let mut args = vec!["--tls", tls, "--sender", from, "--subject", subject];
        if let Some((user, password)) = login {
            args.extend(["--user", user, "--password", password]);
        }
        for t in to {
            args.extend(["--to", t]);
        }
        for h in headers {
            args.extend(["--header", h]);
        }
        self.run("smtp", "smtp", port, &args)
    }

    /// Sends and asserts the server accepted the message (250 after DATA).
    fn deliver(&self, port: u16, login: Option<Login>, from: &str, to: &[&str], subject: &str) {
        let r = self.send(port, login, from, to, subject);
        assert_eq!(
            r["ok"], true,
            "sending {subject:?} to {to:?} on {port}: {r}"
        );
    }

    /// Waits (bounded, 60 s) for a message with `subject` in `mailbox`; its headers.
    fn find_in(&self, login: Login, mailbox: &str, subject: &str) -> Vec<Value> {
        let r = self.run(
            "find",
            "imap",
            993,
            &[
                "--user",
                login.0,
                "--password",
                login.1,
                "--subject",
                subject,
                "--mailbox",
                mailbox,
                "--wait",
                "60",
            ],
        );
        assert_eq!(r["ok"], true, "{subject:?} in {}'s {mailbox}: {r}", login.0);
        r["headers"].as_array().unwrap().clone()
    }

    fn find(&self, login: Login, subject: &str) -> Vec<Value> {
        self.find_in(login, "INBOX", subject)
    }

    /// How many messages with `subject` are in the INBOX now (the login must succeed).
    fn count(&self, login: Login, subject: &str) -> u64 {
        let r = self.run(
            "count",
            "imap",
            993,
            &[
                "--user",
                login.0,
                "--password",
                login.1,
                "--subject",
                subject,
            ],
        );
        assert_eq!(r["ok"], true, "{}: {r}", login.0);
        r["count"].as_u64().unwrap()
    }

    /// One IMAPS login: whether dovecot accepted it, and what it said.
    fn login(&self, login: Login) -> (bool, String) {
        let r = self.run(
            "login",
            "imap",
            993,
            &["--user", login.0, "--password", login.1],
        );
        (r["ok"] == true, r["message"].to_string())
    }

    /// Waits (bounded, 90 s) until an IMAPS login gives `ok`; the time it took.
    fn wait_login(&self, login: Login, ok: bool) -> Duration {
        let start = Instant::now();
        loop {
            let (got, message) = self.login(login);
            if got == ok {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "the login of {} is still {got} after 90 s: {message}",
                login.0
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The certificate `service` presents on `port` (`wrapper` or `starttls-smtp`).
    fn cert(&self, service: &str, port: u16, tls: &str) -> Value {
        let r = self.run("cert", service, port, &["--tls", tls]);
        assert_eq!(r["ok"], true, "TLS on {port}: {r}");
        r
    }
}

/// An API call as the admin; a write waits until it is in a version (`?wait=true`).
fn api(stack: &Stack, method: &str, path: &str, body: Option<Value>) -> Value {
    call(stack, method, path, body, method != "GET")
}

fn call(stack: &Stack, method: &str, path: &str, body: Option<Value>, wait: bool) -> Value {
    let sep = if path.contains('?') { '&' } else { '?' };
    let wait = if wait {
        format!("{sep}wait=true")
    } else {
        String::new()
    };
    let reply = request(
        method,
        &format!("{}/api/v1{path}{wait}", stack.url()),
        ADMIN,
        body,
    );
    assert!(
        reply.status < 300,
        "{method} {path}: {} {}",
        reply.status,
        reply.body
    );
    if reply.body.is_empty() {
        Value::Null
    } else {
        reply.json()
    }
}

/// PUT of a raw file (`mailu-override/<dir>/<file>`).
fn put_raw(stack: &Stack, path: &str, content: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = format!("{}/api/v1{path}?wait=true", stack.url());
    let (status, body) = runtime.block_on(async {
        let r = reqwest::Client::new()
            .put(url)
            .bearer_auth(ADMIN)
            .body(content.to_owned())
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    });
    assert!(status.is_success(), "PUT {path}: {status} {body}");
}

/// Test-only settings, as Mailu's overrides: this stack has no antispam (rspamd) for the milter,
/// and client domains are not checked in DNS (the test's senders have none, and nothing may be
/// looked up off the machine). Dovecot answers a failed login at once.
const POSTFIX_OVERRIDES: &str = "\
smtpd_milters =
smtpd_client_restrictions = permit_mynetworks, check_sender_access lmdb:/etc/postfix/mailu/sender_access, reject_non_fqdn_sender, permit
";
const DOVECOT_OVERRIDES: &str = "auth_failure_delay = 0\n";

/// Configures the stack through the API: settings, services, overrides, domains and users.
fn configure(stack: &Stack, project: &str) {
    // Only smtp and imap, on the test network, their mail ports on free 127.0.0.1 ports, their
    // volumes named for this test. Health checked every 2 s (with the file's 30 s each container
    // waits 30 s for its first check: Docker has no earlier first check without a start period),
    // and 30 failures allowed (the start, pre-start included, takes a few seconds).
    // The writes are acknowledged at once; the last one waits for the version holding them all.
    let api = |stack: &Stack, method: &str, path: &str, body: Option<Value>| {
        call(stack, method, path, body, false)
    };
    for s in api(stack, "GET", "/service", None).as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        if name != "imap" && name != "smtp" && name != "admin" && s["enabled"] == true {
            api(
                stack,
                "PATCH",
                &format!("/service/{name}"),
                Some(json!({"enabled": false})),
            );
        }
    }
    let ports = |ports: &[u16]| {
        ports
            .iter()
            .map(|p| json!({"host_ip": "127.0.0.1", "host_port": 0, "container_port": p}))
            .collect::<Vec<_>>()
    };
    api(
        stack,
        "PATCH",
        "/service/smtp",
        Some(json!({
            "image": stack.bookworm,
            "networks": [stack.name],
            "ports": ports(&[25, 465, 587]),
            "volumes": [{"name": format!("{project}-queue"), "target": "/var/spool/postfix"}],
            "health": {"command": ["postfix", "status"], "interval": "2s", "timeout": "10s", "retries": 30},
        })),
    );
    api(
        stack,
        "PATCH",
        "/service/imap",
        Some(json!({
            "image": stack.bookworm,
            "networks": [stack.name],
            "ports": ports(&[993]),
            "volumes": [{"name": format!("{project}-mail"), "target": "/mail"}],
            "health": {"command": ["doveadm", "service", "status"], "interval": "2s", "timeout": "10s", "retries": 30},
        })),
    );
    // Mail the stack sends itself (autoreplies) comes from imap's address on the test network:
    // network.subnet is the network it trusts for that (smtp's port 10025, never published).
    let subnet = docker(&[
        "network",
        "inspect",
        "-f",
        "{{(index .IPAM.Config 0).Subnet}}",
        &stack.name,
    ]);
    let subnet = String::from_utf8_lossy(&subnet.stdout).trim().to_owned();
    api(
        stack,
        "PATCH",
        "/settings",
        Some(json!({"network": {"subnet": subnet}})),
    );
    put_raw(
        stack,
        "/mailu-override/postfix/postfix.cf",
        POSTFIX_OVERRIDES,
    );
    put_raw(
        stack,
        "/mailu-override/dovecot/dovecot.conf",
        DOVECOT_OVERRIDES,
    );

    for domain in ["one.test", "two.test"] {
        api(stack, "POST", "/domain", Some(json!({"name": domain})));
    }
    for (i, (email, password)) in USERS.iter().enumerate() {
        call(
            stack,
            "POST",
            "/user",
            Some(json!({"email": email, "raw_password": password})),
            i + 1 == USERS.len(),
        );
    }
}

const ALICE: Login = ("alice@one.test", "alice-pass-1");
const BOB: Login = ("bob@two.test", "bob-pass-2");
const CAROL: Login = ("carol@one.test", "carol-pass-3");
const DAVE: Login = ("dave@one.test", "dave-pass-4");
const INFODESK: Login = ("infodesk@one.test", "infodesk-pass-5");
const USERS: [Login; 5] = [ALICE, BOB, CAROL, DAVE, INFODESK];
const OUTSIDE: &str = "friend@outside.example";

fn spawn_worker(stack: &Stack, project: &str) -> Worker {
    let child = Command::new(bin())
        .args([
            "worker",
            "--url",
            &stack.url(),
            "--project",
            project,
            "--server-url-for-containers",
            &format!("http://{}:8080", stack.server),
        ])
        .env("MAILU_GIT_WORKER_TOKEN", WORKER)
        .env_remove("MAILU_GIT_URL")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    Worker {
        child,
        project: project.to_owned(),
    }
}

/// Waits (bounded, 240 s) until smtp answers 220 on port 25 and alice logs in over IMAPS.
fn wait_cold_start(client: &Client) -> Duration {
    let start = Instant::now();
    let deadline = start + Duration::from_secs(240);
    let name = |s: &str| format!("{}-{s}", client.project);
    loop {
        let published = ["smtp", "imap"].iter().all(|s| {
            let out = docker(&["port", &name(s)]);
            out.status.success() && !out.stdout.is_empty()
        });
        if published {
            // Unknown recipient: a refusal at RCPT proves postfix runs with its maps built.
            let r = client.send(25, None, OUTSIDE, &["nobody@one.test"], "probe");
            if r["code"] == 550 && client.login(ALICE).0 {
                return start.elapsed();
            }
        }
        assert!(
            Instant::now() < deadline,
            "the stack did not start within 240 s; smtp log:\n{}\nimap log:\n{}",
            logs(&name("smtp")),
            logs(&name("imap"))
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn a_stack_configured_only_through_the_api_delivers_and_serves_mail() {
    if !have_tool("python3") {
        return;
    }
    let Some(stack) = Stack::start() else {
        eprintln!("SKIPPED: no Docker or no bookworm image");
        return;
    };
    let project = format!("{}-m", stack.name);
    configure(&stack, &project);
    let settings = api(&stack, "GET", "/settings", None);
    let hostname = settings["mail"]["hostnames"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let mut client = Client {
        project: project.clone(),
        hostname,
        cafile: None,
    };

    let worker = spawn_worker(&stack, &project);
    let cold = wait_cold_start(&client);
    eprintln!("mailflow: cold start (worker started to smtp and imap serving): {cold:?}");

    // TLS: 465 presents the certificate the API describes; from now on it is the only trust
    // anchor, checked with the stack's host name, and 587 (STARTTLS), 993 and 25 present it too.
    let api_cert = api(&stack, "GET", "/certificate", None);
    let presented = client.cert("smtp", 465, "wrapper");
    assert_eq!(
        presented["spki_sha256"], api_cert["spki_sha256"],
        "{api_cert}"
    );
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("stack.pem");
    std::fs::write(&ca, presented["pem"].as_str().unwrap()).unwrap();
    client.cafile = Some(ca);
    for (service, port, tls) in [
        ("smtp", 465, "wrapper"),
        ("smtp", 587, "starttls-smtp"),
        ("smtp", 25, "starttls-smtp"),
        ("imap", 993, "wrapper"),
    ] {
        let r = client.cert(service, port, tls);
        assert_eq!(r["pem"], presented["pem"], "{service} {port}");
    }

    // Delivery on 25, read back over IMAPS with the password given at creation.
    client.deliver(25, None, OUTSIDE, &[ALICE.0], "hello alice");
    let found = client.find(ALICE, "hello alice");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["from"], OUTSIDE);

    // Submission on 587 and 465 as a user, and with an app token, to the other domain.
    client.deliver(587, Some(ALICE), ALICE.0, &[BOB.0], "via 587");
    client.deliver(465, Some(ALICE), ALICE.0, &[BOB.0], "via 465");
    let token = api(
        &stack,
        "POST",
        &format!("/tokenuser/{}", ALICE.0),
        Some(json!({"comment": "mail client"})),
    )["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let with_token = (ALICE.0, token.as_str());
    let start = Instant::now();
    loop {
        let r = client.send(587, Some(with_token), ALICE.0, &[BOB.0], "via token");
        if r["ok"] == true {
            break;
        }
        assert_eq!(
            (&r["stage"], &r["code"]),
            (&json!("auth"), &json!(535)),
            "{r}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the token is not accepted: {r}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    for subject in ["via 587", "via 465", "via token"] {
        assert_eq!(client.find(BOB, subject).len(), 1, "{subject}");
    }
    // The token opens IMAP too.
    assert!(client.login(with_token).0);

    // No open relay; a wrong password is refused on submission and IMAP; no login, no submission.
    let r = client.send(25, None, OUTSIDE, &["victim@foreign.example"], "relay");
    assert_eq!(
        (&r["stage"], &r["code"]),
        (&json!("rcpt"), &json!(554)),
        "{r}"
    );
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("Relay access denied"),
        "{r}"
    );
    let r = client.send(587, Some((ALICE.0, "wrong")), ALICE.0, &[BOB.0], "wrong");
    assert_eq!(
        (&r["stage"], &r["code"]),
        (&json!("auth"), &json!(535)),
        "{r}"
    );
    let r = client.send(465, Some((ALICE.0, "wrong")), ALICE.0, &[BOB.0], "wrong");
    assert_eq!(
        (&r["stage"], &r["code"]),
        (&json!("auth"), &json!(535)),
        "{r}"
    );
    let r = client.send(587, None, ALICE.0, &["victim@foreign.example"], "no login");
    assert_eq!(r["ok"], false, "submission without a login: {r}");
    assert!(r["code"].as_u64().unwrap() >= 500, "{r}");
    assert!(!client.login((ALICE.0, "wrong")).0);

    // Disable a user: the login fails. Revert to the version before: it works again.
    let before = api(&stack, "GET", "/version?limit=1", None)[0]["number"].clone();
    api(
        &stack,
        "PATCH",
        &format!("/user/{}", ALICE.0),
        Some(json!({"enabled": false})),
    );
    client.wait_login(ALICE, false);
    api(&stack, "POST", &format!("/version/{before}/revert"), None);
    client.wait_login(ALICE, true);

    // Suspend; delete a user: the old version stays deployed, mail to them still arrives.
    api(&stack, "POST", "/suspend", None);
    api(&stack, "DELETE", &format!("/user/{}", CAROL.0), None);
    client.deliver(25, None, OUTSIDE, &[CAROL.0], "while suspended");
    assert_eq!(client.find(CAROL, "while suspended").len(), 1);
    // Resume: the deletion is deployed, mail to them is refused at RCPT.
    api(&stack, "POST", "/resume", None);
    let start = Instant::now();
    loop {
        let r = client.send(25, None, OUTSIDE, &[CAROL.0], "after resume");
        if r["code"] == 550 {
            assert_eq!(r["stage"], "rcpt", "{r}");
            break;
        }
        assert_eq!(r["ok"], true, "{r}");
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "still accepted: {r}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // Aliases: an exact one to both domains; a wildcard that a real user's address also matches.
    api(
        &stack,
        "POST",
        "/alias",
        Some(json!({"email": "team@one.test", "destination": [ALICE.0, BOB.0]})),
    );
    api(
        &stack,
        "POST",
        "/alias",
        Some(json!({"email": "info%@one.test", "destination": [BOB.0], "wildcard": true})),
    );
    let accepted = |to: &str, subject: &str| {
        let start = Instant::now();
        loop {
            let r = client.send(25, None, OUTSIDE, &[to], subject);
            if r["ok"] == true {
                return;
            }
            assert!(start.elapsed() < Duration::from_secs(90), "{to}: {r}");
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    accepted("team@one.test", "to the team");
    assert_eq!(client.find(ALICE, "to the team").len(), 1);
    assert_eq!(client.find(BOB, "to the team").len(), 1);
    accepted("info-sales@one.test", "to the wildcard");
    assert_eq!(client.find(BOB, "to the wildcard").len(), 1);
    client.deliver(25, None, OUTSIDE, &[INFODESK.0], "to the real user");
    assert_eq!(client.find(INFODESK, "to the real user").len(), 1);
    // The wildcard did not take it: sent after, "to the wildcard" was delivered to bob before it.
    client.deliver(
        25,
        None,
        OUTSIDE,
        &["info-after@one.test"],
        "wildcard after",
    );
    assert_eq!(client.find(BOB, "wildcard after").len(), 1);
    assert_eq!(
        client.count(BOB, "to the real user"),
        0,
        "a real user wins over a wildcard"
    );

    // Forward to the other domain, keeping a copy, then not.
    let forward = |keep: bool| {
        api(
            &stack,
            "PATCH",
            &format!("/user/{}", DAVE.0),
            Some(
                json!({"forward_enabled": true, "forward_destination": [BOB.0], "forward_keep": keep}),
            ),
        );
    };
    forward(true);
    let start = Instant::now();
    loop {
        client.deliver(25, None, OUTSIDE, &[DAVE.0], "forward probe");
        if client.count(BOB, "forward probe") > 0 || start.elapsed() > Duration::from_secs(90) {
            break;
        }
        std::thread::sleep(Duration::from_millis(1000));
    }
    client.deliver(25, None, OUTSIDE, &[DAVE.0], "forward keep");
    assert_eq!(client.find(BOB, "forward keep").len(), 1);
    assert_eq!(client.find(DAVE, "forward keep").len(), 1);
    forward(false);
    let start = Instant::now();
    loop {
        let subject = format!("no keep {}", start.elapsed().as_millis());
        client.deliver(25, None, OUTSIDE, &[DAVE.0], &subject);
        assert_eq!(client.find(BOB, &subject).len(), 1);
        // Both copies leave postfix in the same delivery: bob has his, so dave would have his.
        if client.count(DAVE, &subject) == 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "dave still keeps a copy"
        );
        std::thread::sleep(Duration::from_millis(1000));
    }

    // Sieve: bob's autoresponder answers alice; spam above alice's threshold goes to her Junk.
    api(
        &stack,
        "PATCH",
        &format!("/user/{}", BOB.0),
        Some(
            json!({"reply_enabled": true, "reply_subject": "bob is away",
                    "reply_body": "Back soon.", "reply_startdate": "2000-01-01",
                    "reply_enddate": "2999-12-31"}),
        ),
    );
    let start = Instant::now();
    loop {
        client.deliver(587, Some(ALICE), ALICE.0, &[BOB.0], "are you there");
        let r = client.run(
            "find",
            "imap",
            993,
            &[
                "--user",
                ALICE.0,
                "--password",
                ALICE.1,
                "--subject",
                "bob is away",
                "--wait",
                "5",
            ],
        );
        if r["ok"] == true {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "no autoreply: {r}; imap log:\n{}\nsmtp log:\n{}",
            logs(&format!("{project}-imap")),
            logs(&format!("{project}-smtp"))
        );
    }
    // rspamd's X-Spam-Level (one star a point, 15 its reject score): 15 stars are 100 %, above
    // the default threshold of 80; one star is 6 %, below it.
    client
        .send_with(
            25,
            None,
            OUTSIDE,
            &[ALICE.0],
            "spammy",
            &["X-Spam-Level: ***************"],
        )
        .get("ok")
        .filter(|ok| **ok == true)
        .expect("spam accepted");
    client
        .send_with(25, None, OUTSIDE, &[ALICE.0], "hammy", &["X-Spam-Level: *"])
        .get("ok")
        .filter(|ok| **ok == true)
        .expect("ham accepted");
    assert_eq!(client.find_in(ALICE, "Junk", "spammy").len(), 1);
    assert_eq!(client.find(ALICE, "hammy").len(), 1);
    assert_eq!(client.count(ALICE, "spammy"), 0, "spam is not in the INBOX");

    // A new user: from the acknowledged POST to the first IMAPS login.
    let erin = ("erin@two.test", "erin-pass-6");
    let start = Instant::now();
    api(
        &stack,
        "POST",
        "/user",
        Some(json!({"email": erin.0, "raw_password": erin.1})),
    );
    let acknowledged = start.elapsed();
    client.wait_login(erin, true);
    eprintln!(
        "mailflow: POST /user?wait=true answered in {acknowledged:?}, first IMAPS login after {:?}",
        start.elapsed()
    );
    drop(worker);
}
