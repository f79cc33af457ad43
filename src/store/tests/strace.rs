//! The durability claim, checked from the outside: a commit runs under `strace` in a child process
//! (this test binary, re-executed), and the trace must show every object file and directory the
//! commit created synced before `refs/heads/main.lock` is renamed to `main`, and the ref and its
//! reflog synced after. Fails instead of skipping when `MAILU_GIT_REQUIRE_ALL=1` and strace is
//! missing.

use std::{path::PathBuf, process::Command};

use super::{meta, p, sample};
use crate::store::{Edit, Store};

const REPO_ENV: &str = "MAILU_GIT_STRACE_REPO";

/// The commit that the parent test traces. Does nothing unless the parent set `REPO_ENV`.
#[test]
#[ignore = "run under strace by a_commit_syncs_what_it_wrote_before_the_ref_moves"]
fn strace_child() {
    let Some(repo) = std::env::var_os(REPO_ENV) else {
        return;
    };
    let store = Store::open(&PathBuf::from(repo)).unwrap();
    let head = store.head().unwrap();
    // Many new files in new directories, so the commit creates new fan-out directories too.
    let edits: Vec<Edit> = (0..40)
        .map(|i| {
            let path = p(&format!("domains/new{}.com/users/u{i}.toml", i % 4));
            Edit::write(path, format!("n = {i}\n"))
        })
        .collect();
    store.commit(head, &edits, &meta("Traced")).unwrap();
}

#[derive(Debug)]
enum Event {
    Mkdir(String),
    Rename { from: String, to: String },
    Fsync(String),
}

/// The successful calls of a `strace -f -y` log, in order.
fn parse(trace: &str) -> Vec<Event> {
    let mut out = Vec::new();
    // With threads, a call may be split: `PID fsync(7</x> <unfinished ...>` then
    // `PID <... fsync resumed>) = 0`. Join the halves by pid.
    let mut pending: std::collections::HashMap<String, String> = Default::default();
    for raw in trace.lines() {
        let pid = raw.split(' ').next().unwrap_or_default().to_owned();
        let line = if let Some(head) = raw.strip_suffix(" <unfinished ...>") {
            pending.insert(pid, head.to_owned());
            continue;
        } else if let Some((_, tail)) = raw.split_once(" resumed>") {
            match pending.remove(&pid) {
                Some(head) => format!("{head}{tail}"),
                None => continue,
            }
        } else {
            raw.to_owned()
        };
        // `PID name(args) = result`; failed calls end in `= -1 ERRNO (...)`.
        let Some((call, result)) = line.rsplit_once(" = ") else {
            continue;
        };
        if result.starts_with('-') {
            continue;
        }
        let call = call
            .split_once(' ')
            .map_or(call, |(_pid, rest)| rest)
            .trim();
        let Some((name, args)) = call.split_once('(') else {
            continue;
        };
        let strings: Vec<String> = args
            .split('"')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        match name {
            "mkdir" | "mkdirat" => out.push(Event::Mkdir(strings[0].clone())),
            "rename" | "renameat" | "renameat2" => out.push(Event::Rename {
                from: strings[0].clone(),
                to: strings[1].clone(),
            }),
            "fsync" | "fdatasync" => {
                let path = args
                    .split_once('<')
                    .and_then(|(_, rest)| rest.split_once('>'))
                    .map(|(path, _)| path.to_owned())
                    .unwrap_or_default();
                out.push(Event::Fsync(path));
            }
            _ => {}
        }
    }
    out
}

fn strace_available() -> bool {
    Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn a_commit_syncs_what_it_wrote_before_the_ref_moves() {
    if !strace_available() {
        assert!(
            std::env::var("MAILU_GIT_REQUIRE_ALL").as_deref() != Ok("1"),
            "strace is required (MAILU_GIT_REQUIRE_ALL=1): apt-get install -y strace"
        );
        eprintln!("skipped: strace is not installed");
        return;
    }
    let (dir, store) = sample();
    let repo = std::fs::canonicalize(store.path()).unwrap();
    let trace_file = dir.path().join("trace");
    let status = Command::new("strace")
        .args(["-f", "-y", "-qq", "-o"])
        .arg(&trace_file)
        .args([
            "-e",
            "trace=mkdir,mkdirat,rename,renameat,renameat2,fsync,fdatasync",
        ])
        .arg(std::env::current_exe().unwrap())
        .args([
            "store::tests::strace::strace_child",
            "--exact",
            "--ignored",
            "--test-threads=1",
            "--quiet",
        ])
        .env(REPO_ENV, &repo)
        .status()
        .unwrap();
    assert!(status.success(), "the traced commit failed");
    let trace = std::fs::read_to_string(&trace_file).unwrap();
    let events = parse(&trace);
    let at = |path: &std::path::Path| path.to_str().unwrap().to_owned();
    let objects = at(&repo.join("objects"));
    let main = at(&repo.join("refs/heads/main"));
    let lock = format!("{main}.lock");

    let synced_between = |path: &str, after: usize, before: usize| {
        events[after..before]
            .iter()
            .any(|e| matches!(e, Event::Fsync(f) if f == path))
    };
    let ref_moved = events
        .iter()
        .position(|e| matches!(e, Event::Rename { from, to } if *from == lock && *to == main))
        .unwrap_or_else(|| panic!("no rename of {lock} in the trace:\n{trace}"));
    assert!(
        synced_between(&lock, 0, ref_moved),
        "the lock file was not synced before the rename"
    );

    let mut created_objects = 0;
    let mut created_dirs = 0;
    for (i, e) in events[..ref_moved].iter().enumerate() {
        match e {
            Event::Rename { to, .. } if to.starts_with(&objects) => {
                created_objects += 1;
                let parent = at(std::path::Path::new(to).parent().unwrap());
                assert!(
                    synced_between(to, i, ref_moved),
                    "object {to} not synced before the ref moved"
                );
                assert!(
                    synced_between(&parent, i, ref_moved),
                    "directory {parent} of a new object not synced before the ref moved"
                );
            }
            Event::Mkdir(d) if d.starts_with(&objects) => {
                created_dirs += 1;
                let parent = at(std::path::Path::new(d).parent().unwrap());
                assert!(
                    synced_between(&parent, i, ref_moved),
                    "{parent} not synced after {d} was created in it"
                );
            }
            _ => {}
        }
    }
    // 40 blobs, 4 users/ + 4 domain trees + domains/ + root, 1 commit.
    assert_eq!(created_objects, 51, "{trace}");
    assert!(
        created_dirs > 0,
        "expected new fan-out directories:\n{trace}"
    );

    let heads = at(&repo.join("refs/heads"));
    let log = at(&repo.join("logs/refs/heads/main"));
    let log_dir = at(&repo.join("logs/refs/heads"));
    for path in [&main, &heads, &log, &log_dir] {
        assert!(
            synced_between(path, ref_moved, events.len()),
            "{path} not synced after the ref moved"
        );
    }
}
