//! What the server benches share: a repository of domains and users made through the store (as
//! a first version, no API), and the real `mailu-git serve` on 127.0.0.1:0, stopped with SIGTERM
//! when dropped. Each bench uses part of it, hence `dead_code` allowed here.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use mailu_git::model::RepoPath;
use mailu_git::store::{CommitMeta, Person, Store};

/// A bcrypt hash at cost 4 (cheap to verify), for user files.
pub const HASH: &str = "$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS";

/// The repository template plus `users` users, `per_domain` to a domain (`d<N>.example`, users
/// `u<M>`), each user file made by `user(domain, user)`, committed as version 1 under `data`.
pub fn seed(data: &Path, users: usize, per_domain: usize, user: impl Fn(usize, usize) -> String) {
    std::fs::create_dir_all(data).unwrap();
    let mut files = mailu_git::repo_template::files().unwrap();
    for d in 0..users.div_ceil(per_domain) {
        let domain = format!("d{d}.example");
        files.push((
            RepoPath::parse(&format!("domains/{domain}/domain.toml")).unwrap(),
            b"".to_vec(),
        ));
        for u in 0..per_domain.min(users - d * per_domain) {
            files.push((
                RepoPath::parse(&format!("domains/{domain}/users/u{u}.toml")).unwrap(),
                user(d, u).into_bytes(),
            ));
        }
    }
    let meta = CommitMeta::new(
        Person {
            name: "bench".into(),
            email: "bench@localhost".into(),
        },
        "seed",
    );
    Store::init(&data.join("config.git"), &files, &meta).unwrap();
}

/// A user file with the cheap hash.
pub fn plain_user(_domain: usize, _user: usize) -> String {
    format!("password = \"{HASH}\"\n")
}

/// A running server.
pub struct Server {
    child: Child,
    pub url: String,
    /// The admin token it generated and printed, when none came from the environment.
    pub generated_token: Option<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// Starts the server on `data` with extra `args` and `env`, and waits until it listens.
pub fn start(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailu-git"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .args(args)
        .env("MAILU_GIT_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut generated_token = None;
    let url = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(t) = line.strip_prefix("mailu-git: admin token (shown once): ") {
            generated_token = Some(t.trim().to_owned());
        }
        if let Some(u) = line.strip_prefix("mailu-git: listening on ") {
            break u.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines.by_ref() {});
    Server {
        child,
        url,
        generated_token,
    }
}

/// Waits (at most 60 s) until the server's start-time writes (a missing certificate or secret) are a
/// version: no change pending in the journal and main's version the same in two reads 300 ms
/// apart. A bench that reads an `ETag` before then sees it change under it.
pub async fn settled(url: &str, admin: &str) {
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut last = None;
    loop {
        let status: serde_json::Value = client
            .get(format!("{url}/api/v1/status"))
            .bearer_auth(admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let version = status["main"]["version"].as_u64();
        if status["journal"]["pending"] == 0 {
            if last.is_some() && last == version {
                return;
            }
            last = version;
        } else {
            last = None;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server's start-time versions did not settle: {status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}
