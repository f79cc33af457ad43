//! The mail client of the scenario: `mail.py` run once per action, on the port Docker published
//! for a service, with the stack's host name and certificate.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::entrypoint::docker;

/// The mail client: `mail.py`, the stack's host name, and (once checked against the API) the
/// stack's certificate as the only trust anchor.
pub(super) struct Client {
    pub(super) project: String,
    pub(super) hostname: String,
    pub(super) cafile: Option<PathBuf>,
}

/// A user and the password given at creation.
pub(super) type Login<'a> = (&'a str, &'a str);

impl Client {
    /// The host port Docker gave `service`'s `port`.
    pub(super) fn port(&self, service: &str, port: u16) -> String {
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
    pub(super) fn run(&self, action: &str, service: &str, port: u16, args: &[&str]) -> Value {
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
    pub(super) fn send(
        &self,
        port: u16,
        login: Option<Login>,
        from: &str,
        to: &[&str],
        subject: &str,
    ) -> Value {
        self.send_with(port, login, from, to, subject, &[])
    }

    pub(super) fn send_with(
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
    pub(super) fn deliver(
        &self,
        port: u16,
        login: Option<Login>,
        from: &str,
        to: &[&str],
        subject: &str,
    ) {
        let r = self.send(port, login, from, to, subject);
        assert_eq!(
            r["ok"], true,
            "sending {subject:?} to {to:?} on {port}: {r}"
        );
    }

    /// Waits (bounded, 60 s) for a message with `subject` in `mailbox`; its headers.
    pub(super) fn find_in(&self, login: Login, mailbox: &str, subject: &str) -> Vec<Value> {
        self.find_within(login, mailbox, subject, 60)
            .unwrap_or_else(|r| {
                panic!(
                    "{subject:?} is not in {}'s {mailbox} after 60 s: {r}",
                    login.0
                )
            })
    }

    /// Looks for `subject` in `mailbox` for at most `wait` seconds: its headers, or what `mail.py`
    /// last saw (the login refused, the message not there).
    pub(super) fn find_within(
        &self,
        login: Login,
        mailbox: &str,
        subject: &str,
        wait: u32,
    ) -> Result<Vec<Value>, Value> {
        let wait = wait.to_string();
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
                &wait,
            ],
        );
        if r["ok"] == true {
            Ok(r["headers"].as_array().unwrap().clone())
        } else {
            Err(r)
        }
    }

    pub(super) fn find(&self, login: Login, subject: &str) -> Vec<Value> {
        self.find_in(login, "INBOX", subject)
    }

    /// How many messages with `subject` are in the INBOX now (the login must succeed).
    pub(super) fn count(&self, login: Login, subject: &str) -> u64 {
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
    pub(super) fn login(&self, login: Login) -> (bool, String) {
        let r = self.run(
            "login",
            "imap",
            993,
            &["--user", login.0, "--password", login.1],
        );
        (r["ok"] == true, r["message"].to_string())
    }

    /// Waits (bounded, 90 s) until an IMAPS login gives `ok`; the time it took.
    pub(super) fn wait_login(&self, login: Login, ok: bool) -> Duration {
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
    pub(super) fn cert(&self, service: &str, port: u16, tls: &str) -> Value {
        let r = self.run("cert", service, port, &["--tls", tls]);
        assert_eq!(r["ok"], true, "TLS on {port}: {r}");
        r
    }
}
