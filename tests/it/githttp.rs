//! Git over HTTP against the real server with the real git client: clone (v2 and v0), fetch, a
//! valid push becoming a version the API shows at once, tags, refused pushes with their `remote:`
//! lines (and nothing of them left in the repository), API writes racing pushes, `git fsck`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::json;

use crate::support::{TestServer, git, have_tool, mailu_git, request};

pub const ADMIN: &str = "githttp-admin-token-0123456789";

/// A server with a known admin token, and a private `HOME` for the git client.
pub struct Fixture {
    pub server: TestServer,
    pub home: tempfile::TempDir,
}

impl Fixture {
    pub fn start() -> Option<Fixture> {
        if !have_tool("git") {
            return None;
        }
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let server = TestServer::start_with(&data, &[("MAILU_GIT_ADMIN_TOKEN", ADMIN)]);
        Some(Fixture { server, home: tmp })
    }

    pub fn url(&self, token: &str) -> String {
        let host = self.server.url.trim_start_matches("http://");
        format!("http://x:{token}@{host}/config.git")
    }

    /// Runs the git client in `dir` with an isolated configuration; returns its output.
    pub fn git(&self, dir: &Path, args: &[&str]) -> Output {
        Command::new("git")
            .args([
                "-c",
                "user.name=Operator",
                "-c",
                "user.email=op@example.com",
            ])
            .args([
                "-c",
                "init.defaultBranch=main",
                "-c",
                "advice.detachedHead=false",
            ])
            .args(args)
            .current_dir(dir)
            .env("HOME", self.home.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env_remove("GIT_DIR")
            .output()
            .unwrap()
    }

    /// Like [`Fixture::git`], and it must succeed; returns stdout + stderr.
    pub fn ok(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.git(dir, args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "git {args:?} failed: {text}");
        text
    }

    /// Like [`Fixture::git`], and it must fail; returns stderr.
    pub fn fails(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.git(dir, args);
        let text = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "git {args:?} succeeded: {text}");
        text
    }

    pub fn clone(&self, name: &str, extra: &[&str]) -> PathBuf {
        let dir = self.home.path().join(name);
        let url = self.url(ADMIN);
        let mut args = extra.to_vec();
        args.extend(["clone", "--quiet", url.as_str(), dir.to_str().unwrap()]);
        self.ok(self.home.path(), &args);
        dir
    }

    pub fn repo(&self) -> PathBuf {
        self.server.data.join("config.git")
    }

    pub fn server_head(&self) -> String {
        git(&self.repo(), &["rev-parse", "refs/heads/main"])
            .trim()
            .to_owned()
    }
}

fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} holds no `{from}`");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

pub fn write(dir: &Path, file: &str, content: &[u8]) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// Incompressible bytes (xorshift), so a pack is as large as the file.
pub fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// `mailu-git render` on a checkout changes nothing: its `rendered/` agrees with its sources.
pub fn assert_rendered_exactly(fx: &Fixture, dir: &Path) {
    let out = mailu_git(&["render", dir.to_str().unwrap()], dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = fx.ok(dir, &["status", "--porcelain"]);
    assert!(status.trim().is_empty(), "render changed files: {status}");
}

#[test]
fn clone_fetch_push_and_tags() {
    let Some(fx) = Fixture::start() else { return };
    let v2 = fx.clone("v2", &["-c", "protocol.version=2"]);
    let v0 = fx.clone("v0", &["-c", "protocol.version=0"]);
    assert_eq!(
        fx.ok(&v2, &["rev-parse", "HEAD"]),
        fx.ok(&v0, &["rev-parse", "HEAD"])
    );

    // A valid push: a setting and an override that adds a rendered file.
    edit(
        &v2,
        "mailu.toml",
        "message_size_limit = 50000000",
        "message_size_limit = 12345678",
    );
    write(&v2, "overrides/front/etc/extra.conf", b"# mine\n");
    // Past axum's default body limit (2 MiB), which must not apply to git's routes.
    write(&v2, "overrides/front/etc/big.bin", &noise(3 << 20));
    fx.ok(&v2, &["add", "-A"]);
    fx.ok(&v2, &["commit", "-q", "-m", "Smaller messages"]);
    let pushed = fx.ok(&v2, &["rev-parse", "HEAD"]).trim().to_owned();
    let before = fx.server_head();
    let out = fx.ok(&v2, &["push", "origin", "main"]);
    assert!(out.contains("remote: mailu-git: version"), "{out}");
    let head = fx.server_head();
    assert_ne!(head, pushed, "main is a version on top of the push");
    // Parents: the previous version first (main's first-parent chain holds only versions), the
    // pushed commit second.
    assert_eq!(
        git(&fx.repo(), &["rev-parse", "refs/heads/main^1"]).trim(),
        before.trim()
    );
    assert_eq!(
        git(&fx.repo(), &["rev-parse", "refs/heads/main^2"]).trim(),
        pushed
    );
    let message = git(&fx.repo(), &["log", "-1", "--format=%an%n%B", "main"]);
    assert!(
        message.starts_with("env-admin\nSmaller messages"),
        "{message}"
    );
    assert!(message.contains("Mailu-Version: 2"), "{message}");
    assert!(message.contains("Mailu-Change: "), "{message}");
    assert_eq!(
        git(&fx.repo(), &["show", "main:rendered/front/etc/extra.conf"]),
        "# mine\n"
    );
    // The API sees it at once.
    let settings = request(
        "GET",
        &format!("{}/api/v1/settings", fx.server.url),
        ADMIN,
        None,
    );
    assert_eq!(settings.json()["mail"]["message_size_limit"], 12345678);

    // Both clones fast-forward, and the version's rendered files agree with its sources.
    let pulled = fx.ok(&v2, &["pull", "--ff-only"]);
    assert!(!pulled.contains("CONFLICT"), "{pulled}");
    assert_eq!(fx.ok(&v2, &["rev-parse", "HEAD"]).trim(), head);
    fx.ok(&v0, &["-c", "protocol.version=0", "fetch"]);
    fx.ok(&v0, &["merge", "--ff-only", "origin/main"]);
    let fresh = fx.clone("fresh", &[]);
    assert_rendered_exactly(&fx, &fresh);

    // Tags: on a version, yes; on a commit that is not a version, no; deleting, yes.
    fx.ok(&v2, &["tag", "good", "HEAD"]);
    fx.ok(&v2, &["push", "origin", "good"]);
    assert_eq!(
        git(&fx.repo(), &["rev-parse", "refs/tags/good"]).trim(),
        head
    );
    fx.ok(&v2, &["tag", "-a", "-m", "annotated", "release", "HEAD"]);
    fx.ok(&v2, &["push", "origin", "release"]);
    fx.ok(&v2, &["tag", "bad", "HEAD^2"]);
    let err = fx.fails(&v2, &["push", "origin", "bad"]);
    assert!(
        err.contains("remote: refs/tags/bad: tag `bad` must point at a version"),
        "{err}"
    );
    fx.ok(&v2, &["tag", "-f", "good", "HEAD^"]);
    let err = fx.fails(&v2, &["push", "-f", "origin", "good"]);
    assert!(err.contains("moving a tag is refused"), "{err}");
    fx.ok(&v2, &["push", "origin", ":refs/tags/good"]);
    let tags = git(&fx.repo(), &["tag", "--list"]);
    assert_eq!(tags.trim(), "release");
    // Other refs: no.
    let err = fx.fails(&v2, &["push", "origin", "HEAD:refs/heads/other"]);
    assert!(
        err.contains("remote: refs/heads/other: only refs/heads/main"),
        "{err}"
    );

    git(&fx.repo(), &["fsck", "--strict", "--no-dangling"]);
}

/// Pushes a commit made by `change` and expects the refusal to print `expected` among `remote:`
/// lines; main and the objects stay as they were.
fn refused(fx: &Fixture, dir: &Path, change: impl FnOnce(&Path), expected: &[&str]) {
    let before = fx.server_head();
    change(dir);
    fx.ok(dir, &["add", "-A"]);
    fx.ok(dir, &["commit", "-q", "-m", "bad"]);
    let commit = fx.ok(dir, &["rev-parse", "HEAD"]).trim().to_owned();
    let err = fx.fails(dir, &["push", "origin", "main"]);
    for line in expected {
        assert!(err.contains(line), "no `{line}` in:\n{err}");
    }
    assert_eq!(fx.server_head(), before);
    let exists = Command::new("git")
        .args(["cat-file", "-e", &commit])
        .current_dir(fx.repo())
        .status()
        .unwrap();
    assert!(!exists.success(), "a refused push left its commit behind");
    fx.ok(dir, &["reset", "-q", "--hard", "origin/main"]);
}

#[test]
fn bad_pushes_are_refused_with_every_problem_and_leave_nothing() {
    let Some(fx) = Fixture::start() else { return };
    let dir = fx.clone("work", &[]);
    refused(
        &fx,
        &dir,
        |d| write(d, "mailu.toml", b"format = 1\n[mail\n"),
        &["remote: mailu-git: push refused", "remote: mailu.toml:2"],
    );
    refused(
        &fx,
        &dir,
        |d| {
            edit(
                d,
                "mailu.toml",
                "message_ratelimit = \"200/day\"",
                "message_ratelimit = \"lots\"",
            )
        },
        &["remote: mailu.toml:", "message_ratelimit"],
    );
    refused(
        &fx,
        &dir,
        |d| write(d, "templates/front/broken.j2", &[0xff, 0xfe]),
        &["remote: templates/front/broken.j2: a template must be UTF-8"],
    );
    refused(
        &fx,
        &dir,
        |d| write(d, "templates/front/loop.j2", b"ok\n{% for x in %}\n"),
        &["remote: templates/front/loop.j2:2: syntax error"],
    );
    refused(
        &fx,
        &dir,
        |d| {
            let placeholder = format!("@@mailu-secret:relay/nope:{}@@", "0".repeat(40));
            write(d, "overrides/front/etc/pw.conf", placeholder.as_bytes())
        },
        &[
            "remote: rendered/front/etc/pw.conf: names the secret `relay/nope`, which does not exist",
        ],
    );
    // A rendered file edited by hand (one the server made for an override).
    write(&dir, "overrides/front/etc/extra.conf", b"# mine\n");
    fx.ok(&dir, &["add", "-A"]);
    fx.ok(&dir, &["commit", "-q", "-m", "override"]);
    fx.ok(&dir, &["push", "-q", "origin", "main"]);
    fx.ok(&dir, &["pull", "-q", "--ff-only"]);
    refused(
        &fx,
        &dir,
        |d| write(d, "rendered/front/etc/extra.conf", b"# edited\n"),
        &[
            "remote: rendered/front/etc/extra.conf: edited by hand",
            "overrides/front/etc/extra.conf",
        ],
    );

    // A built-in rendered file the push's source change does not reach, edited by hand: the push
    // renders only what its sources changed, and every other rendered file must be main's.
    refused(
        &fx,
        &dir,
        |d| {
            write(d, "relays/added.test.toml", b"");
            write(d, "rendered/smtp/etc/postfix/main.cf", b"# edited\n");
        },
        &["remote: rendered/smtp/etc/postfix/main.cf: edited by hand"],
    );
    // A rendered file deleted with an unrelated change is given back.
    std::fs::remove_file(dir.join("rendered/front/etc/nginx/nginx.conf")).unwrap();
    write(&dir, "relays/added.test.toml", b"");
    fx.ok(&dir, &["add", "-A"]);
    fx.ok(
        &dir,
        &["commit", "-q", "-m", "a relay, and a rendered file gone"],
    );
    fx.ok(&dir, &["push", "-q", "origin", "main"]);
    fx.ok(&dir, &["pull", "-q", "--ff-only"]);
    assert!(dir.join("rendered/front/etc/nginx/nginx.conf").exists());
    assert!(
        git(
            &fx.repo(),
            &["show", "main:rendered/smtp/etc/postfix/mailu/transport"]
        )
        .contains("added.test"),
        "the relay was rendered"
    );

    // A force-push, a deletion of main.
    fx.ok(&dir, &["commit", "-q", "--allow-empty", "-m", "elsewhere"]);
    fx.ok(&dir, &["reset", "-q", "--hard", "HEAD~2"]);
    fx.ok(&dir, &["commit", "-q", "--allow-empty", "-m", "diverged"]);
    let err = fx.fails(&dir, &["push", "-f", "origin", "main"]);
    assert!(
        err.contains("remote: refs/heads/main: not a fast-forward"),
        "{err}"
    );
    let err = fx.fails(&dir, &["push", "origin", ":main"]);
    assert!(err.contains("deleting main is refused"), "{err}");
    // A rewind to a commit the server has (no objects sent, so no quarantine).
    let err = fx.fails(&dir, &["push", "-f", "origin", "origin/main~1:main"]);
    assert!(
        err.contains("remote: refs/heads/main: not a fast-forward"),
        "{err}"
    );
    fx.ok(&dir, &["reset", "-q", "--hard", "origin/main"]);

    // No token, a wrong token, a read-only token.
    let host = fx.server.url.trim_start_matches("http://");
    let anonymous = format!("http://{host}/config.git");
    let err = fx.fails(fx.home.path(), &["ls-remote", &anonymous]);
    assert!(
        err.contains("could not read Username") || err.contains("401"),
        "{err}"
    );
    let reply = reqwest::blocking_get(&format!("{anonymous}/info/refs?service=git-upload-pack"));
    assert_eq!(reply.0, 401);
    assert_eq!(reply.1.as_deref(), Some("Basic realm=\"mailu-git\""));
    let err = fx.fails(fx.home.path(), &["ls-remote", &fx.url("mgit_wrong")]);
    assert!(err.contains("Authentication failed"), "{err}");
    let dumb = reqwest::blocking_get(&format!("{anonymous}/HEAD"));
    assert_eq!(dumb.0, 403);
    git(&fx.repo(), &["fsck", "--strict", "--no-dangling"]);
}

/// `reqwest` without a token: the status and `WWW-Authenticate`.
mod reqwest {
    pub fn blocking_get(url: &str) -> (u16, Option<String>) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let reply = ::reqwest::get(url).await.unwrap();
            let auth = reply
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned());
            (reply.status().as_u16(), auth)
        })
    }
}

#[test]
fn a_read_token_clones_but_cannot_push() {
    if !have_tool("git") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    assert!(
        TestServer::start_with(&data, &[("MAILU_GIT_ADMIN_TOKEN", ADMIN)])
            .stop()
            .success()
    );
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
    let read = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("mgit_"))
        .unwrap()
        .trim()
        .to_owned();
    let server = TestServer::start_with(&data, &[("MAILU_GIT_ADMIN_TOKEN", ADMIN)]);
    let fx = Fixture { server, home: tmp };
    let dir = fx.home.path().join("ro");
    fx.ok(
        fx.home.path(),
        &["clone", "-q", &fx.url(&read), dir.to_str().unwrap()],
    );
    fx.ok(&dir, &["commit", "-q", "--allow-empty", "-m", "try"]);
    let err = fx.fails(&dir, &["push", "origin", "main"]);
    assert!(err.contains("403"), "{err}");
}

#[test]
fn api_writes_and_pushes_race_and_every_version_is_whole() {
    let Some(fx) = Fixture::start() else { return };
    let dir = fx.clone("race", &[]);
    let url = fx.server.url.clone();
    let writer = std::thread::spawn(move || {
        let mut made = Vec::new();
        for n in 0..12 {
            let name = format!("d{n}.example.net");
            let reply = request(
                "POST",
                &format!("{url}/api/v1/domain"),
                ADMIN,
                Some(json!({"name": name})),
            );
            assert_eq!(reply.status, 200, "{}", reply.body);
            made.push(name);
        }
        made
    });
    let mut pushed = 0;
    for n in 0..6 {
        write(
            &dir,
            &format!("overrides/front/etc/push-{n}.conf"),
            format!("{n}\n").as_bytes(),
        );
        fx.ok(&dir, &["add", "-A"]);
        fx.ok(&dir, &["commit", "-q", "-m", &format!("push {n}")]);
        // A push based on a main that API writes moved since is refused; pull and try again.
        for _ in 0..10 {
            if fx
                .git(&dir, &["push", "-q", "origin", "main"])
                .status
                .success()
            {
                pushed += 1;
                break;
            }
            fx.ok(&dir, &["pull", "-q", "--rebase"]);
        }
    }
    assert_eq!(pushed, 6);
    let domains = writer.join().unwrap();
    let flushed = request(
        "GET",
        &format!("{}/api/v1/domain", fx.server.url),
        ADMIN,
        None,
    );
    for d in &domains {
        assert!(flushed.body.contains(d.as_str()), "{d} lost");
    }
    fx.ok(&dir, &["pull", "-q", "--rebase"]);
    for n in 0..6 {
        assert!(
            dir.join(format!("rendered/front/etc/push-{n}.conf"))
                .exists()
        );
    }
    // Every version on main's first-parent chain renders to itself.
    let versions = git(
        &fx.repo(),
        &[
            "log",
            "--first-parent",
            "--grep=^Mailu-Version: ",
            "--format=%H",
            "main",
        ],
    );
    assert!(versions.lines().count() >= 8, "{versions}");
    let check = fx.home.path().join("check");
    fx.ok(
        fx.home.path(),
        &["clone", "-q", &fx.url(ADMIN), check.to_str().unwrap()],
    );
    for v in versions.lines() {
        fx.ok(&check, &["checkout", "-q", v]);
        assert_rendered_exactly(&fx, &check);
    }
    git(&fx.repo(), &["fsck", "--strict", "--no-dangling"]);
}

#[test]
fn a_pushed_version_is_in_the_api_when_the_push_returns() {
    let Some(fx) = Fixture::start() else { return };
    let dir = fx.clone("api", &[]);
    let settings = format!("{}/api/v1/settings", fx.server.url);
    let mut limit = 50000000;
    for n in 1..=5 {
        let next = 40000000 + n;
        edit(
            &dir,
            "mailu.toml",
            &format!("message_size_limit = {limit}"),
            &format!("message_size_limit = {next}"),
        );
        fx.ok(&dir, &["commit", "-q", "-am", &format!("limit {n}")]);
        fx.ok(&dir, &["push", "-q", "origin", "main"]);
        // No wait: the push returning means the version is acknowledged.
        let read = request("GET", &settings, ADMIN, None);
        assert_eq!(read.json()["mail"]["message_size_limit"], next);
        fx.ok(&dir, &["pull", "-q", "--ff-only"]);
        limit = next;
    }
}

/// An operator who merges (rather than rebases) on pull puts the API's versions behind a second
/// parent of their merge; the version the server makes keeps them on main's first-parent chain.
#[test]
fn a_merged_pull_keeps_every_version_on_the_first_parent_chain() {
    let Some(fx) = Fixture::start() else { return };
    let work = fx.clone("work", &[]);
    edit(
        &work,
        "mailu.toml",
        "message_size_limit = 50000000",
        "message_size_limit = 12345678",
    );
    fx.ok(&work, &["commit", "-q", "-am", "Smaller messages"]);
    // Meanwhile an API write becomes version 2.
    let made = request(
        "POST",
        &format!("{}/api/v1/domain?wait=true", fx.server.url),
        ADMIN,
        Some(json!({"name": "merged.example"})),
    );
    assert_eq!(made.status, 200, "{}", made.body);
    fx.ok(
        &work,
        &["pull", "--no-rebase", "--no-edit", "origin", "main"],
    );
    assert_eq!(
        fx.ok(&work, &["rev-list", "--parents", "-n1", "HEAD"])
            .split_whitespace()
            .count(),
        3,
        "the pull made a merge"
    );
    let out = fx.ok(&work, &["push", "origin", "main"]);
    assert!(out.contains("remote: mailu-git: version 3"), "{out}");
    let numbers: Vec<String> = git(
        &fx.repo(),
        &[
            "log",
            "--first-parent",
            "--format=%(trailers:key=Mailu-Version,valueonly)",
            "main",
        ],
    )
    .lines()
    .filter(|l| !l.trim().is_empty())
    .map(|l| l.trim().to_owned())
    .collect();
    assert_eq!(numbers, ["3", "2", "1"], "only versions, all of them");
    let domain = request(
        "GET",
        &format!("{}/api/v1/domain/merged.example", fx.server.url),
        ADMIN,
        None,
    );
    assert_eq!(domain.status, 200, "{}", domain.body);
    fx.ok(&work, &["pull", "--ff-only"]);
    assert_rendered_exactly(&fx, &work);
}
