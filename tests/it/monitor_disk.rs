//! A full disk for real: the data directory on a tmpfs of its own (64 MiB) that a junk file fills.
//! First below `disk_free_min_mb` (`disk_low`), then completely: writes are refused with a message
//! naming the disk (nothing acknowledged that is not in the journal), `not_writable` is raised, the
//! server stays up and the repository stays sound (`git fsck --strict`). With the junk deleted,
//! writes work again without a restart, every acknowledged write reaches a version, and both
//! alerts clear, each seen in status, `/metrics` and a webhook on 127.0.0.1. Then room for the
//! journal but not for a version: the write is acknowledged, its commit fails and is retried until
//! space is freed. Last, a `kill -9`
//! while the disk is full and changes are pending: after a restart on freed space, every
//! acknowledged write is in main.
//!
//! Mounting needs root (CAP_SYS_ADMIN); without it the test skips with its reason, or fails when
//! `MAILU_GIT_REQUIRE_ALL=1`.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::monitor::{ADMIN, Webhook, api, attention, metric, monitoring};
use crate::support::{TestServer, git, have_tool, request};

const MIB: u64 = 1 << 20;

/// A tmpfs of its own, unmounted when dropped (also when the test panics).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `mib` MiB, or `None` (with the reason printed) where mounting is not
    /// permitted and `MAILU_GIT_REQUIRE_ALL` is not set.
    fn mount(mib: u64) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m,mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs { dir }),
            other => {
                let why = match other {
                    Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_owned(),
                    Err(e) => e.to_string(),
                };
                assert!(
                    std::env::var("MAILU_GIT_REQUIRE_ALL").as_deref() != Ok("1"),
                    "mounting a tmpfs is required (MAILU_GIT_REQUIRE_ALL=1) but failed: {why}"
                );
                eprintln!("SKIPPED: cannot mount a tmpfs (needs root): {why}");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn free(&self) -> u64 {
        let st = rustix::fs::statvfs(self.path()).unwrap();
        st.f_bavail * st.f_frsize
    }

    /// Writes `name` until at most `leave` bytes are free (0: until the file system refuses even
    /// one more byte).
    fn fill(&self, name: &str, leave: u64) -> PathBuf {
        let path = self.path().join(name);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        for chunk in [MIB as usize, 64 << 10, 4096, 1] {
            let block = vec![0x5a_u8; chunk];
            while self.free() > leave + chunk as u64 || leave == 0 {
                if file.write_all(&block).is_err() {
                    break;
                }
            }
        }
        file.sync_all().ok();
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(self.path())
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Something still holds a file there (a server that did not exit yet): detach it.
            let _ = Command::new("umount").arg("-l").arg(self.path()).status();
        }
    }
}

fn alias(server: &TestServer, local: &str, wait: bool) -> (u16, Value) {
    let path = if wait { "alias?wait=true" } else { "alias" };
    api(
        server,
        "POST",
        path,
        Some(
            json!({"email": format!("{local}@example.com"), "destination": ["someone@elsewhere.org"]}),
        ),
    )
}

/// Waits (bounded) until `kind` is in the status's attention (or, `false`, no longer is).
fn wait_attention(server: &TestServer, kind: &str, present: bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let now = attention(server).iter().any(|a| a["kind"] == kind);
        if now == present {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{kind} in attention is not {present}: {:?}",
            attention(server)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn fsck(data: &Path) {
    git(
        &data.join("config.git"),
        &["fsck", "--strict", "--no-dangling"],
    );
}

/// The aliases main holds, by local part.
fn aliases_in_main(data: &Path) -> String {
    git(
        &data.join("config.git"),
        &[
            "ls-tree",
            "--name-only",
            "main",
            "domains/example.com/aliases/",
        ],
    )
}

#[test]
fn a_full_disk_refuses_writes_clearly_and_they_resume_when_space_is_freed() {
    if !have_tool("git") {
        return;
    }
    let Some(fs) = Tmpfs::mount(64) else { return };
    let data = fs.path().join("data");
    let hook = Webhook::start();
    let server = TestServer::start_with(&data, &[("MAILU_GIT_ADMIN_TOKEN", ADMIN)]);
    let (status, answer) = api(
        &server,
        "POST",
        "domain?wait=true",
        Some(json!({"name": "example.com"})),
    );
    assert_eq!(status, 200, "{answer}");
    // The default threshold (1 GiB) is above the whole file system: lowered first, so the webhook
    // hears only what this test provokes.
    monitoring(&server, json!({"check_every": "1s", "disk_free_min_mb": 8}));
    wait_attention(&server, "disk_low", false);
    monitoring(&server, json!({"webhook": hook.url}));
    assert!(attention(&server).is_empty(), "{:?}", attention(&server));

    // 1. Below the threshold, not full: a warning, writes still work.
    let low = fs.fill("junk-low", 4 * MIB);
    eprintln!("disk_low: {} KiB free", fs.free() >> 10);
    let raised = hook.wait("raised", "disk_low");
    assert_eq!(raised["subject"], "data directory", "{raised}");
    assert!(
        attention(&server).iter().any(|a| a["kind"] == "disk_low"),
        "{:?}",
        attention(&server)
    );
    assert_eq!(metric(&server, "disk_low"), "1");
    let (status, answer) = alias(&server, "low", true);
    assert_eq!(status, 200, "a write with 4 MiB free: {answer}");
    let mut acked = vec!["low".to_owned()];

    // 2. Full: every write is either acknowledged (its journal record synced) or refused with a
    // message naming the disk; refusals come at once, the server stays up.
    let full = fs.fill("junk-full", 0);
    eprintln!("full: {} bytes free", fs.free());
    let mut refusals = Vec::new();
    for n in 0..40 {
        let local = format!("full{n}");
        let (status, answer) = alias(&server, &local, false);
        if status == 200 {
            acked.push(local);
            continue;
        }
        assert!(
            status == 507 || status == 503,
            "a write on a full disk: {status} {answer}"
        );
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("No space left on device") || message.contains("disk is full"),
            "the refusal names the disk: {answer}"
        );
        refusals.push((status, answer));
        if refusals.len() == 3 {
            break;
        }
    }
    eprintln!(
        "acknowledged while full: {}; refusals: {refusals:?}",
        acked.len() - 1
    );
    assert_eq!(refusals.len(), 3, "writes on a full disk were refused");
    let raised = hook.wait("raised", "not_writable");
    assert!(
        raised["message"]
            .as_str()
            .unwrap()
            .contains("No space left on device"),
        "{raised}"
    );
    assert!(
        attention(&server)
            .iter()
            .any(|a| a["kind"] == "not_writable")
    );
    assert_eq!(metric(&server, "not_writable"), "1");
    let health = request("GET", &format!("{}/healthz", server.url), ADMIN, None);
    assert_eq!(health.status, 503, "{}", health.body);
    fsck(&data);

    // 3. Space freed: the next write works, without a restart, and its version holds every
    // acknowledged write; both alerts end.
    std::fs::remove_file(&full).unwrap();
    std::fs::remove_file(&low).unwrap();
    let (status, answer) = alias(&server, "after", true);
    assert_eq!(status, 200, "a write after space was freed: {answer}");
    acked.push("after".to_owned());
    let in_main = aliases_in_main(&data);
    for local in &acked {
        assert!(
            in_main.contains(&format!("aliases/{local}.toml")),
            "acknowledged {local} is not in main:\n{in_main}"
        );
    }
    for kind in ["not_writable", "disk_low"] {
        let cleared = hook.wait("cleared", kind);
        assert!(cleared["since"].as_i64().unwrap() > 0, "{cleared}");
        wait_attention(&server, kind, false);
        assert_eq!(metric(&server, kind), "0");
    }
    let notifications = hook.received.lock().unwrap().clone();
    for kind in ["not_writable", "disk_low"] {
        for event in ["raised", "cleared"] {
            let n = notifications
                .iter()
                .filter(|v| v["kind"] == kind && v["event"] == event)
                .count();
            assert_eq!(n, 1, "{event} {kind}: {notifications:?}");
        }
    }
    let health = request("GET", &format!("{}/healthz", server.url), ADMIN, None);
    assert_eq!(health.status, 200, "{}", health.body);
    fsck(&data);

    // 3b. Room for the journal, not for a version: the write is acknowledged, its commit fails
    // (git's objects do not fit), writes are suspended until the commit's retry (with backoff)
    // succeeds once space is freed.
    let tight = fs.fill("junk-tight", 16 << 10);
    let (status, answer) = alias(&server, "tight", false);
    assert_eq!(status, 200, "a write with 16 KiB free: {answer}");
    acked.push("tight".to_owned());
    wait_attention(&server, "not_writable", true);
    let reason = attention(&server)
        .into_iter()
        .find(|a| a["kind"] == "not_writable")
        .unwrap();
    let message = reason["message"].as_str().unwrap();
    assert!(
        message.contains("cannot be committed") && message.contains("No space left on device"),
        "the reason names the disk: {reason}"
    );
    let (status, answer) = alias(&server, "refused", false);
    assert_eq!(status, 503, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("cannot be committed"),
        "{answer}"
    );
    fsck(&data);
    std::fs::remove_file(&tight).unwrap();
    wait_attention(&server, "not_writable", false);
    let in_main = aliases_in_main(&data);
    assert!(in_main.contains("aliases/tight.toml"), "{in_main}");
    assert!(!in_main.contains("aliases/refused.toml"), "{in_main}");
    fsck(&data);

    // 4. kill -9 on a full disk with acknowledged changes pending (a long debounce keeps them in
    // the journal), then a restart on freed space: every acknowledged write is in main.
    let (status, answer) = api(
        &server,
        "PATCH",
        "settings?wait=true",
        Some(json!({"debounce": {"quiet": "10m", "max_delay": "20m"}})),
    );
    assert_eq!(status, 200, "{answer}");
    assert!(server.stop().success());
    let mut server = TestServer::start_with(&data, &[("MAILU_GIT_ADMIN_TOKEN", ADMIN)]);
    let mut pending = Vec::new();
    for n in 0..2 {
        let local = format!("pending{n}");
        let (status, answer) = alias(&server, &local, false);
        assert_eq!(status, 200, "{answer}");
        pending.push(local);
    }
    let full = fs.fill("junk-full", 0);
    let mut refused = 0;
    for n in 0..40 {
        let local = format!("crash{n}");
        match alias(&server, &local, false) {
            (200, _) => pending.push(local),
            (status, answer) => {
                assert!(status == 507 || status == 503, "{status} {answer}");
                refused += 1;
                break;
            }
        }
    }
    assert_eq!(refused, 1, "a write on the full disk was refused");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    std::fs::remove_file(&full).unwrap();
    let server = TestServer::start_with(&data, &[("MAILU_GIT_ADMIN_TOKEN", ADMIN)]);
    // Replayed from the journal, pending (the long debounce) until the shutdown flushes them.
    let (status, answer) = alias(&server, "restarted", false);
    assert_eq!(status, 200, "{answer}");
    pending.push("restarted".to_owned());
    assert!(server.stop().success());
    let in_main = aliases_in_main(&data);
    for local in acked.iter().chain(&pending) {
        assert!(
            in_main.contains(&format!("aliases/{local}.toml")),
            "acknowledged {local} is not in main after kill -9:\n{in_main}"
        );
    }
    fsck(&data);
}
