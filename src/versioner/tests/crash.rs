//! Crash points: this test binary is re-executed as a child that makes changes and aborts at a
//! crash point (`MAILU_GIT_CRASH_AT`); the parent then opens the data again, lets replay finish, and
//! checks with the real `git` that every change the child saw acknowledged is in main exactly once.

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{alias, change_ids, fixture, git, open};
use crate::store::Store;

const CHILD_ENV: &str = "MAILU_GIT_VERSIONER_CRASH_DIR";

/// The child: two batches of three changes, each followed by a flush; every acknowledged id is
/// appended to `acked` before the next step. Does nothing unless the parent set `CHILD_ENV`.
#[tokio::test]
#[ignore = "run as a child by every_acknowledged_change_survives_each_crash_point"]
async fn crash_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let store = Store::open(&dir.join("config.git")).unwrap();
    let v = open(&dir, &store, 3600, 7200).await;
    let mut acked = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("acked"))
        .unwrap();
    for batch in 0..2 {
        for n in 0..3 {
            let id = v
                .submit(alias(&format!("b{batch}n{n}"), "admin"))
                .await
                .unwrap();
            writeln!(acked, "{id} b{batch}n{n}").unwrap();
        }
        v.flush().await.unwrap();
    }
}

fn run_child(dir: &Path, point: &str) {
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "versioner::tests::crash::crash_child",
            "--exact",
            "--ignored",
            "--test-threads=1",
            "--quiet",
        ])
        .env(CHILD_ENV, dir)
        .env(crate::crash::ENV, point)
        .output()
        .unwrap();
    assert_eq!(
        status.status.signal(),
        Some(6),
        "the child did not abort at {point}: {status:?}"
    );
}

#[tokio::test]
async fn every_acknowledged_change_survives_each_crash_point() {
    // `:2`: the first batch commits cleanly, the second crashes, so replay must tell committed
    // records from pending ones.
    for point in [
        "after-append:5",
        "after-objects:2",
        "after-cas:2",
        "before-trim:2",
    ] {
        let (dir, store) = fixture();
        run_child(dir.path(), point);
        let acked: Vec<(String, String)> = std::fs::read_to_string(dir.path().join("acked"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let (id, name) = l.split_once(' ').unwrap();
                (id.to_owned(), name.to_owned())
            })
            .collect();
        let expected_acked = if point.starts_with("after-append") {
            4
        } else {
            6
        };
        assert_eq!(acked.len(), expected_acked, "{point}");

        let v = open(dir.path(), &store, 3600, 7200).await;
        v.flush().await.unwrap();
        drop(v);
        // A second restart must not apply anything again either.
        let v = open(dir.path(), &store, 3600, 7200).await;
        assert!(v.pending().changes.is_empty(), "{point}");
        v.flush().await.unwrap();

        let ids = change_ids(store.path());
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            unique.len(),
            ids.len(),
            "{point}: a change is doubled: {ids:?}"
        );
        for (id, name) in &acked {
            assert!(ids.contains(id), "{point}: acknowledged {id} is lost");
            let file = format!("main:domains/example.com/aliases/{name}.toml");
            assert_eq!(
                git(store.path(), &["show", &file]),
                "destination = [\"alice@example.com\"]\n",
                "{point}"
            );
        }
        // The change that was durable but not yet answered is kept too (nothing durable is lost).
        if point.starts_with("after-append") {
            assert_eq!(ids.len(), 5, "{point}: {ids:?}");
        } else {
            assert_eq!(ids.len(), 6, "{point}: {ids:?}");
        }
        git(store.path(), &["fsck", "--strict"]);
    }
}
