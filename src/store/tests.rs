//! Store tests on real temporary bare repositories, inspected with the real `git` binary.

mod strace;

use std::{path::Path, process::Command, sync::Barrier};

use super::*;

pub(super) fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn git_ok(repo: &Path, args: &[&str]) -> bool {
    Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .unwrap()
        .status
        .success()
}

pub(super) fn p(s: &str) -> RepoPath {
    RepoPath::parse(s).unwrap()
}

pub(super) fn meta(summary: &str) -> CommitMeta {
    CommitMeta::new(
        Person {
            name: "mailu-git".into(),
            email: "mailu-git@localhost".into(),
        },
        summary,
    )
}

fn fsck(repo: &Path) {
    git(repo, &["fsck", "--strict", "--no-dangling"]);
}

fn loose_objects(repo: &Path) -> usize {
    let count = git(repo, &["count-objects"]);
    count.split_whitespace().next().unwrap().parse().unwrap()
}

/// A repository with two domains, three users.
pub(super) fn sample() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let files = vec![
        (p("mailu.toml"), b"format = 1\n".to_vec()),
        (p("domains/a.com/users/x.toml"), b"x = 1\n".to_vec()),
        (p("domains/a.com/users/y.toml"), b"y = 1\n".to_vec()),
        (p("domains/b.com/users/z.toml"), b"z = 1\n".to_vec()),
    ];
    let repo = dir.path().join("config.git");
    let store = Store::init(&repo, &files, &meta("Initial configuration")).unwrap();
    (dir, store)
}

#[test]
fn first_commit_is_version_1_and_git_reads_it() {
    let (_dir, store) = sample();
    let repo = store.path();
    fsck(repo);
    let head = store.head().unwrap();
    assert_eq!(git(repo, &["rev-parse", "HEAD"]).trim(), head.to_string());
    let body = git(repo, &["log", "-1", "--format=%B"]);
    assert!(body.starts_with("Initial configuration\n\n"), "{body}");
    let trailers = git(
        repo,
        &[
            "log",
            "-1",
            "--format=%(trailers:key=Mailu-Version,valueonly)",
        ],
    );
    assert_eq!(trailers.trim(), "1");
    assert!(body.contains("Mailu-Renderer: none\n"));
    assert_eq!(
        git(repo, &["show", "main:domains/a.com/users/x.toml"]),
        "x = 1\n"
    );
    assert_eq!(
        git(repo, &["config", "core.logAllRefUpdates"]).trim(),
        "always"
    );
    assert_eq!(git(repo, &["config", "gc.auto"]).trim(), "0");
    assert_eq!(
        git(repo, &["rev-parse", "--is-bare-repository"]).trim(),
        "true"
    );
    assert!(matches!(
        Store::init(repo, &[], &meta("again")),
        Err(Error::Exists(_))
    ));
}

#[test]
fn incremental_commit_writes_only_the_changed_trees() {
    let (_dir, store) = sample();
    let repo = store.path();
    let before = loose_objects(repo);
    let b_tree = git(repo, &["rev-parse", "main:domains/b.com"]);
    let head = store.head().unwrap();
    let v = store
        .commit(
            head,
            &[Edit::write(p("domains/a.com/users/x.toml"), "x = 2\n")],
            &meta("Change x"),
        )
        .unwrap();
    assert_eq!(v.number, 2);
    assert_eq!(store.head().unwrap(), v.commit);
    // blob + users/ + a.com/ + domains/ + root tree + commit.
    assert_eq!(loose_objects(repo) - before, 6);
    assert_eq!(git(repo, &["rev-parse", "main:domains/b.com"]), b_tree);
    assert_eq!(
        git(repo, &["show", "main:domains/a.com/users/x.toml"]),
        "x = 2\n"
    );
    assert_eq!(
        git(repo, &["rev-parse", "main^"]).trim(),
        head.to_string(),
        "the parent is the expected head"
    );
    fsck(repo);
}

#[test]
fn deleting_the_last_file_removes_its_directories() {
    let (_dir, store) = sample();
    let repo = store.path();
    let head = store.head().unwrap();
    store
        .commit(
            head,
            &[
                Edit::delete(p("domains/b.com/users/z.toml")),
                Edit::write(p("relays/r.com.toml"), "target = \"x\"\n"),
            ],
            &meta("Remove b.com"),
        )
        .unwrap();
    let names = git(repo, &["ls-tree", "-r", "-t", "--name-only", "main"]);
    assert!(!names.contains("b.com"), "{names}");
    assert!(names.contains("relays/r.com.toml"));
    assert!(!git_ok(repo, &["cat-file", "-e", "main:domains/b.com"]));
    fsck(repo);
    // Deleting a file that is not there changes nothing and is not an error.
    let head = store.head().unwrap();
    let v = store
        .commit(head, &[Edit::delete(p("nope.toml"))], &meta("Nothing"))
        .unwrap();
    assert_eq!(
        git(repo, &["rev-parse", "main^{tree}"]),
        git(repo, &["rev-parse", "main^^{tree}"])
    );
    assert_eq!(v.number, 3);
}

#[test]
fn bad_edits_are_refused_and_change_nothing() {
    let (_dir, store) = sample();
    let head = store.head().unwrap();
    let dup = [Edit::write(p("a.toml"), "1"), Edit::delete(p("a.toml"))];
    assert!(matches!(
        store.commit(head, &dup, &meta("dup")),
        Err(Error::DuplicateEdit(_))
    ));
    assert!(matches!(
        store.commit(head, &[Edit::delete(p("domains/a.com"))], &meta("dir")),
        Err(Error::Git { .. })
    ));
    assert!(matches!(
        store.commit(head, &[], &meta("two\nlines")),
        Err(Error::InvalidMeta(_))
    ));
    assert_eq!(store.head().unwrap(), head);
}

#[test]
fn a_stale_expected_head_is_ref_moved() {
    let (_dir, store) = sample();
    let old = store.head().unwrap();
    let v = store
        .commit(old, &[Edit::write(p("a.toml"), "1")], &meta("one"))
        .unwrap();
    match store.commit(old, &[Edit::write(p("b.toml"), "1")], &meta("two")) {
        Err(Error::RefMoved {
            expected, actual, ..
        }) => {
            assert_eq!(expected, old);
            assert_eq!(actual, v.commit);
        }
        other => panic!("expected RefMoved, got {other:?}"),
    }
    assert_eq!(store.head().unwrap(), v.commit);
}

#[test]
fn two_writers_racing_one_wins_the_other_gets_ref_moved() {
    let (_dir, store) = sample();
    let repo = store.path().to_owned();
    for round in 0..20 {
        let expected = store.head().unwrap();
        let barrier = Barrier::new(2);
        let results: Vec<Result<Version, Error>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2)
                .map(|w| {
                    let (store, barrier) = (store.clone(), &barrier);
                    s.spawn(move || {
                        let path = p(&format!("domains/a.com/users/w{w}.toml"));
                        let edit = Edit::write(path, format!("round = {round}\n"));
                        barrier.wait();
                        store.commit(expected, &[edit], &meta(&format!("writer {w}")))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let wins: Vec<&Version> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(wins.len(), 1, "round {round}: {results:?}");
        let winner = wins[0];
        let lost = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        match lost {
            Error::RefMoved {
                expected: e,
                actual,
                ..
            } => {
                assert_eq!(*e, expected);
                assert_eq!(*actual, winner.commit);
            }
            other => panic!("round {round}: the loser got {other:?}"),
        }
        assert_eq!(store.head().unwrap(), winner.commit);
        assert_eq!(
            git(&repo, &["rev-parse", "main^"]).trim(),
            expected.to_string()
        );
    }
    // Every round's winner is on main, in order, and the repository is whole.
    let versions = store.history(store.head().unwrap(), 100).unwrap();
    let numbers: Vec<u64> = versions.iter().map(|v| v.number).collect();
    assert_eq!(numbers, (1..=21).rev().collect::<Vec<_>>());
    git(&repo, &["fsck", "--strict"]);
}

#[test]
fn the_reflog_is_readable_by_git() {
    let (_dir, store) = sample();
    let repo = store.path();
    let head = store.head().unwrap();
    store
        .commit(head, &[Edit::write(p("a.toml"), "1")], &meta("Add a"))
        .unwrap();
    let log = git(repo, &["reflog", "show", "--format=%H %gs", "main"]);
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(lines[0].ends_with("commit: version 2: Add a"), "{log}");
    assert!(lines[1].ends_with("commit: version 1: Initial configuration"));
}

#[test]
fn history_numbers_versions_and_skips_pushed_commits() {
    let (_dir, store) = sample();
    let repo = store.path();
    let v1 = store.head().unwrap();
    let mut m = meta("Add a");
    m.changes = vec![
        ChangeNote {
            id: "c-1".into(),
            author: "alice".into(),
        },
        ChangeNote {
            id: "c-2".into(),
            author: "bob".into(),
        },
    ];
    m.renderer = Some("0.1.0".into());
    let v2 = store
        .commit(v1, &[Edit::write(p("a.toml"), "1")], &m)
        .unwrap();
    // A pushed commit without trailers, made by git itself, then a version on top of it.
    let tree = git(repo, &["rev-parse", "main^{tree}"]);
    let pushed = git(
        repo,
        &[
            "commit-tree",
            tree.trim(),
            "-p",
            "main",
            "-m",
            "operator edit",
        ],
    );
    let pushed = pushed.trim();
    git(
        repo,
        &[
            "update-ref",
            "refs/heads/main",
            pushed,
            &v2.commit.to_string(),
        ],
    );
    let pushed_id = ObjectId::from_hex(pushed.as_bytes()).unwrap();
    let v3 = store
        .commit(pushed_id, &[Edit::write(p("b.toml"), "1")], &meta("Render"))
        .unwrap();
    assert_eq!(v3.number, 3);
    let h = store.history(v3.commit, 10).unwrap();
    assert_eq!(
        h.iter().map(|v| v.number).collect::<Vec<_>>(),
        vec![3, 2, 1]
    );
    assert_eq!(h[1].commit, v2.commit);
    assert_eq!(h[1].summary, "Add a");
    assert_eq!(h[1].renderer.as_deref(), Some("0.1.0"));
    assert_eq!(h[1].changes, m.changes);
    assert_eq!(h[1].authors, vec!["mailu-git", "alice", "bob"]);
    assert!(h[1].time > 1_700_000_000);
    assert_eq!(store.history(v3.commit, 1).unwrap().len(), 1);
    assert_eq!(store.resolve(&Rev::Version(2)).unwrap(), v2.commit);
    assert_eq!(store.resolve(&Rev::Version(1)).unwrap(), v1);
    assert!(matches!(
        store.resolve(&Rev::Version(9)),
        Err(Error::RevNotFound(_))
    ));
}

#[test]
fn changed_paths_lists_files_added_modified_and_deleted() {
    let (_dir, store) = sample();
    let a = store.head().unwrap();
    let edits = [
        Edit::write(p("domains/a.com/users/x.toml"), "x = 2\n"),
        Edit::delete(p("domains/b.com/users/z.toml")),
        Edit::write(p("domains/c.com/users/n.toml"), "n = 1\n"),
        Edit::write(p("domains/c.com/domain.toml"), "\n"),
    ];
    let b = store.commit(a, &edits, &meta("Mixed")).unwrap().commit;
    let changes = store.changed_paths(a, b).unwrap();
    let summary: Vec<(String, ChangeKind)> = changes
        .iter()
        .map(|c| (c.path.to_string(), c.kind))
        .collect();
    let mut expected = vec![
        (
            "domains/a.com/users/x.toml".to_owned(),
            ChangeKind::Modified,
        ),
        ("domains/b.com/users/z.toml".to_owned(), ChangeKind::Deleted),
        ("domains/c.com/domain.toml".to_owned(), ChangeKind::Added),
        ("domains/c.com/users/n.toml".to_owned(), ChangeKind::Added),
    ];
    let mut got = summary.clone();
    got.sort_by(|x, y| x.0.cmp(&y.0));
    expected.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(got, expected);
    let x = changes
        .iter()
        .find(|c| c.path.as_str() == "domains/a.com/users/x.toml")
        .unwrap();
    let repo = store.path();
    assert_eq!(
        x.old.unwrap().to_string(),
        git(
            repo,
            &["rev-parse", &format!("{a}:domains/a.com/users/x.toml")]
        )
        .trim()
    );
    assert!(store.changed_paths(b, b).unwrap().is_empty());
    // The other direction swaps additions and deletions.
    let back = store.changed_paths(b, a).unwrap();
    assert!(back.iter().any(|c| c.path.as_str() == "domains/b.com/users/z.toml"
        && c.kind == ChangeKind::Added));
}

#[test]
fn snapshots_read_files_at_any_revision() {
    let (_dir, store) = sample();
    let v1 = store.head().unwrap();
    store
        .commit(
            v1,
            &[Edit::write(p("domains/a.com/users/x.toml"), "x = 2\n")],
            &meta("x"),
        )
        .unwrap();
    let old = store.snapshot(&Rev::Commit(v1)).unwrap();
    let new = store.snapshot(&Rev::Head).unwrap();
    let x = p("domains/a.com/users/x.toml");
    assert_eq!(old.read(&x).unwrap().unwrap(), b"x = 1\n");
    assert_eq!(new.read(&x).unwrap().unwrap(), b"x = 2\n");
    assert_eq!(new.read(&p("missing.toml")).unwrap(), None);
    assert_eq!(
        new.read(&p("domains/a.com")).unwrap(),
        None,
        "a directory is no file"
    );
    assert_eq!(
        new.blob_id(&x).unwrap().unwrap().to_string(),
        git(
            store.path(),
            &["rev-parse", "main:domains/a.com/users/x.toml"]
        )
        .trim()
    );
    let files = new.files().unwrap();
    assert_eq!(files.len(), 4);
    assert_eq!(files[&p("mailu.toml")], b"format = 1\n");
    let listed: Vec<String> = new
        .list(&p("domains/a.com"))
        .unwrap()
        .into_iter()
        .map(|(path, _)| path.to_string())
        .collect();
    assert_eq!(
        listed,
        vec!["domains/a.com/users/x.toml", "domains/a.com/users/y.toml"]
    );
    assert!(new.list(&p("domains/none.com")).unwrap().is_empty());
    assert_eq!(
        store.snapshot(&Rev::Version(1)).unwrap().commit(),
        v1,
        "version numbers name snapshots"
    );
    assert!(matches!(
        store.snapshot(&Rev::Ref("refs/mailu/hold".into())),
        Err(Error::RevNotFound(_))
    ));
}

#[test]
fn commits_and_reads_work_after_an_external_gc() {
    let (_dir, store) = sample();
    let repo = store.path();
    let v1 = store.head().unwrap();
    let v2 = store
        .commit(v1, &[Edit::write(p("a.toml"), "1")], &meta("a"))
        .unwrap();
    git(repo, &["gc", "--prune=now", "--quiet"]);
    assert_eq!(loose_objects(repo), 0, "everything is packed");
    // The same handle (a clone of it) keeps working: reads find packed objects, and writing a blob
    // that already exists in the pack writes nothing.
    let snap = store.snapshot(&Rev::Head).unwrap();
    assert_eq!(snap.read(&p("a.toml")).unwrap().unwrap(), b"1");
    let v3 = store
        .commit(
            v2.commit,
            &[
                Edit::write(p("b.toml"), "1"),
                Edit::write(p("domains/a.com/users/x.toml"), "x = 9\n"),
            ],
            &meta("b"),
        )
        .unwrap();
    assert_eq!(v3.number, 3);
    assert_eq!(git(repo, &["show", "main:b.toml"]), "1");
    assert_eq!(store.changed_paths(v1, v3.commit).unwrap().len(), 3);
    let reopened = Store::open(repo).unwrap();
    assert_eq!(reopened.history(v3.commit, 10).unwrap().len(), 3);
    fsck(repo);
}

#[test]
fn the_hold_pins_what_is_deployed_and_moves_only_from_what_was_read() {
    let (_dir, store) = sample();
    let v1 = store.head().unwrap();
    assert_eq!(
        store.deployed().unwrap(),
        Deployed {
            commit: v1,
            held: false
        }
    );
    let by = meta("x").committer;
    let suspend = RefMove {
        name: HOLD.into(),
        expected: None,
        new: Some(v1),
    };
    store
        .move_refs(std::slice::from_ref(&suspend), "suspend", &by)
        .unwrap();
    let v2 = store
        .commit(
            v1,
            &[Edit::write(p("relays/b.example.toml"), "")],
            &meta("two"),
        )
        .unwrap()
        .commit;
    assert_eq!(
        store.deployed().unwrap(),
        Deployed {
            commit: v1,
            held: true
        }
    );
    assert_eq!(
        git(store.path(), &["rev-parse", HOLD]).trim(),
        v1.to_string()
    );
    // A second suspend read "no hold": refused, nothing moves.
    let err = store.move_refs(&[suspend], "suspend", &by).unwrap_err();
    assert!(
        matches!(&err, Error::RefConflict { name, expected: None, actual: Some(a) } if name == HOLD && *a == v1),
        "{err}"
    );
    // Two refs in one transaction: the stale one refuses both.
    let both = [
        RefMove {
            name: "refs/tags/t".into(),
            expected: None,
            new: Some(v2),
        },
        RefMove {
            name: HOLD.into(),
            expected: Some(v2),
            new: None,
        },
    ];
    assert!(matches!(
        store.move_refs(&both, "x", &by),
        Err(Error::RefConflict { .. })
    ));
    assert!(store.tags().unwrap().is_empty());
    let resume = RefMove {
        name: HOLD.into(),
        expected: Some(v1),
        new: None,
    };
    store.move_refs(&[resume], "resume", &by).unwrap();
    assert_eq!(
        store.deployed().unwrap(),
        Deployed {
            commit: v2,
            held: false
        }
    );
    assert!(!git_ok(
        store.path(),
        &["rev-parse", "--verify", "-q", HOLD]
    ));
    git(
        store.path(),
        &["tag", "-a", "-m", "annotated", "a1", &v1.to_string()],
    );
    git(store.path(), &["tag", "light", &v2.to_string()]);
    let tags = store.tags().unwrap();
    assert_eq!(tags.len(), 2);
    assert_eq!(
        (tags[0].name.as_str(), tags[0].commit),
        ("refs/tags/a1", v1)
    );
    assert_ne!(
        tags[0].target, v1,
        "an annotated tag points at its tag object"
    );
    assert_eq!(
        (tags[1].name.as_str(), tags[1].commit),
        ("refs/tags/light", v2)
    );
    fsck(store.path());
}
