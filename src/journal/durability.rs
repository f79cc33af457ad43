//! The journal's durability claim, checked from the outside: appends run under `strace` in a child
//! process (this test binary, re-executed), and the trace must show the journal file synced after
//! every write to it and before the append was acknowledged (the child writes `ACK` to stdout after
//! each `append` returns), and the journal's directory synced after the file was created. Fails
//! instead of skipping when `MAILU_GIT_REQUIRE_ALL=1` and strace is missing.

use std::io::Write;
use std::process::Command;

use super::{Edit, Journal, Record};
use crate::model::RepoPath;

const DIR_ENV: &str = "MAILU_GIT_STRACE_JOURNAL";

#[test]
#[ignore = "run under strace by an_append_is_synced_before_it_is_acknowledged"]
fn journal_strace_child() {
    let Some(dir) = std::env::var_os(DIR_ENV) else {
        return;
    };
    let (journal, _) = Journal::open(std::path::Path::new(&dir)).unwrap();
    for n in 0..5 {
        let record = Record {
            id: format!("c{n}"),
            author: "admin".into(),
            time_ms: 1,
            summary: "traced".into(),
            edits: vec![Edit::write(
                RepoPath::parse("relays/a.example.toml").unwrap(),
                format!("n = {n}\n"),
            )],
        };
        journal.append_blocking(record).unwrap();
        let mut out = std::io::stdout().lock();
        writeln!(out, "ACK {n}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn an_append_is_synced_before_it_is_acknowledged() {
    let available = Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        assert!(
            std::env::var("MAILU_GIT_REQUIRE_ALL").as_deref() != Ok("1"),
            "strace is required (MAILU_GIT_REQUIRE_ALL=1): apt-get install -y strace"
        );
        eprintln!("skipped: strace is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::fs::canonicalize(tmp.path()).unwrap().join("journal");
    let trace_file = tmp.path().join("trace");
    let out = Command::new("strace")
        .args(["-f", "-y", "-qq", "-s", "16", "-o"])
        .arg(&trace_file)
        .args(["-e", "trace=openat,write,fsync,fdatasync"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "journal::durability::journal_strace_child",
            "--exact",
            "--ignored",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(DIR_ENV, &dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the traced appends failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let trace = std::fs::read_to_string(&trace_file).unwrap();
    let file = format!("{}/journal.log>", dir.display());
    let dir_fd = format!("<{}>", dir.display());
    // Walk the trace in order: a write to the journal makes it dirty, a completed sync of it makes it
    // clean; an acknowledgement while dirty is the bug this test exists for.
    let (mut dirty, mut acks, mut dir_synced, mut created) = (false, 0, false, false);
    for line in trace.lines() {
        let completed_sync = |name: &str| {
            (line.contains(&format!("{name}("))
                && !line.contains("<unfinished")
                && line.contains(" = 0"))
                || line.contains(&format!("<... {name} resumed>"))
        };
        if line.contains("openat(") && line.contains("journal.log") && line.contains("O_CREAT") {
            created = true;
        } else if line.contains("write(") && line.contains(&file) {
            dirty = true;
        } else if (completed_sync("fdatasync") || completed_sync("fsync")) && line.contains(&file) {
            dirty = false;
        } else if completed_sync("fsync") && line.contains(&dir_fd) {
            dir_synced = true;
        } else if line.contains("write(1") && line.contains("ACK") {
            assert!(
                !dirty,
                "an append was acknowledged before the journal was synced:\n{trace}"
            );
            assert!(
                !created || dir_synced,
                "the journal's directory was not synced before the first ack:\n{trace}"
            );
            acks += 1;
        }
    }
    assert_eq!(acks, 5, "the trace shows every acknowledgement:\n{trace}");
    assert!(
        created,
        "the journal file was created in the traced run:\n{trace}"
    );
}
