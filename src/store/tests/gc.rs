//! Cleanup's rewrite on real repositories with versions dated in the past, checked with git.

use super::*;
use crate::model::settings::History;

const DAY: i64 = 86_400;
/// 2026-01-01 00:00 UTC: version `n` is committed `n` days after it.
const T0: i64 = 1_767_225_600;

fn dated(summary: &str, time: i64) -> CommitMeta {
    CommitMeta {
        time: Some(time),
        ..meta(summary)
    }
}

fn by() -> Person {
    Person {
        name: "cleanup".into(),
        email: "gc@localhost".into(),
    }
}

/// A repository with versions 1..=n, version `i` dated `T0 + i` days, each changing one file.
fn versions(n: u64) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("config.git");
    let files = vec![(p("mailu.toml"), b"format = 1\n".to_vec())];
    let store = Store::init(&repo, &files, &dated("Version 1", T0 + DAY)).unwrap();
    for i in 2..=n {
        let head = store.head().unwrap();
        let edit = Edit::write(p("domains/a.com/users/x.toml"), format!("n = {i}\n"));
        let v = store
            .commit(
                head,
                &[edit],
                &dated(&format!("Version {i}"), T0 + i as i64 * DAY),
            )
            .unwrap();
        assert_eq!(v.number, i);
    }
    (dir, store)
}

fn policy(keep_last: u32, keep_days: u32) -> History {
    History {
        keep_last,
        keep_days,
        ..History::default()
    }
}

/// (number, tree) of every version on main, newest first.
fn numbers_and_trees(store: &Store) -> Vec<(u64, ObjectId)> {
    let repo = store.local();
    store
        .history(store.head().unwrap(), usize::MAX)
        .unwrap()
        .into_iter()
        .map(|v| (v.number, commit_tree(&repo, v.commit).unwrap()))
        .collect()
}

fn squashed(outcome: Outcome) -> Squashed {
    match outcome {
        Outcome::Squashed(s) => s,
        Outcome::NothingToClean => panic!("expected a cleanup"),
    }
}

#[test]
fn keep_last_keeps_exactly_n_and_numbers_and_trees() {
    let (_dir, store) = versions(10);
    let before = numbers_and_trees(&store);
    let old_commit = store.resolve(&Rev::Version(5)).unwrap();
    let s = squashed(store.squash(&policy(3, 0), T0 + 1000 * DAY, &by()).unwrap());
    assert_eq!((s.first, s.last), (1, 7));
    assert_eq!(s.removed_commits, 7);
    assert_eq!(s.rewritten, 3);
    let after = numbers_and_trees(&store);
    // Versions 8, 9, 10 with their trees, then the root standing for 7 with 7's tree.
    assert_eq!(after, before[..4].to_vec());
    let repo = store.path();
    fsck(repo);
    assert_eq!(git(repo, &["rev-list", "--count", "main"]).trim(), "4");
    let root = git(repo, &["log", "-1", "--format=%B", "main~3"]);
    assert!(
        root.starts_with("Versions 1–7 squashed by cleanup on 2028-"),
        "{root}"
    );
    assert!(root.contains("Mailu-Version: 7\n"), "{root}");
    assert_eq!(store.resolve(&Rev::Version(7)).unwrap(), s.root);
    assert!(matches!(
        store.resolve(&Rev::Version(6)),
        Err(Error::RevNotFound(_))
    ));
    // Dates and messages of kept versions are unchanged; the next version is 11.
    assert_eq!(
        git(repo, &["log", "-1", "--format=%ct %s", "main"]).trim(),
        format!("{} Version 10", T0 + 10 * DAY)
    );
    let head = store.head().unwrap();
    let next = store
        .commit(
            head,
            &[Edit::write(p("mailu.toml"), "format = 2\n")],
            &meta("next"),
        )
        .unwrap();
    assert_eq!(next.number, 11);
    // The removed commit is unreachable; after expiring reflogs and pruning, gone.
    git(
        repo,
        &[
            "reflog",
            "expire",
            "--expire=all",
            "--expire-unreachable=all",
            "--all",
        ],
    );
    git(repo, &["prune", "--expire=now"]);
    assert!(!git_ok(repo, &["cat-file", "-e", &old_commit.to_string()]));
    fsck(repo);
}

#[test]
fn keep_days_boundary_is_strict() {
    let (_dir, store) = versions(10);
    // Now is version 10's date + 3 days: 9 and 8 are 4 and 5 days old... keep_days = 5 keeps
    // versions younger than 5 days: 10 (3 days), 9 (4 days); 8 is exactly 5 days old: squashed.
    let now = T0 + 13 * DAY;
    let s = squashed(store.squash(&policy(1, 5), now, &by()).unwrap());
    assert_eq!((s.first, s.last), (1, 8));
    let numbers: Vec<u64> = numbers_and_trees(&store).iter().map(|v| v.0).collect();
    assert_eq!(numbers, [10, 9, 8]);
    // A second run with the same policy has nothing to do.
    assert_eq!(
        store.squash(&policy(1, 5), now, &by()).unwrap(),
        Outcome::NothingToClean
    );
}

#[test]
fn nothing_to_clean_when_everything_is_kept() {
    let (_dir, store) = versions(5);
    let head = store.head().unwrap();
    // Exactly as many versions as keep_last.
    assert_eq!(
        store.squash(&policy(5, 0), T0 + 1000 * DAY, &by()).unwrap(),
        Outcome::NothingToClean
    );
    // One fewer: only the root is older than the cut, and a root standing for itself removes
    // nothing.
    assert_eq!(
        store.squash(&policy(4, 0), T0 + 1000 * DAY, &by()).unwrap(),
        Outcome::NothingToClean
    );
    assert_eq!(store.head().unwrap(), head);
    let s = squashed(store.squash(&policy(3, 0), T0 + 1000 * DAY, &by()).unwrap());
    assert_eq!((s.first, s.last), (1, 2));
    assert_ne!(store.head().unwrap(), head);
    fsck(store.path());
}

#[test]
fn tags_and_the_hold_move_the_cut_back_and_are_rewritten() {
    let (_dir, store) = versions(12);
    let repo = store.path();
    let v4 = store.resolve(&Rev::Version(4)).unwrap().to_string();
    let v6 = store.resolve(&Rev::Version(6)).unwrap().to_string();
    let v9 = store.resolve(&Rev::Version(9)).unwrap();
    git(repo, &["tag", "light", &v6]);
    git(
        repo,
        &[
            "-c",
            "user.name=op",
            "-c",
            "user.email=op@x",
            "tag",
            "-a",
            "-m",
            "before the migration",
            "annotated",
            &v4,
        ],
    );
    let by = by();
    store
        .move_refs(
            &[RefMove {
                name: HOLD.into(),
                expected: None,
                new: Some(v9),
            }],
            "suspend",
            &by,
        )
        .unwrap();
    let trees = numbers_and_trees(&store);
    let s = squashed(store.squash(&policy(2, 0), T0 + 1000 * DAY, &by).unwrap());
    assert_eq!((s.first, s.last), (1, 3));
    assert_eq!(s.moved.len(), 4, "{:?}", s.moved);
    assert_eq!(numbers_and_trees(&store), trees[..10].to_vec());
    let tags = store.tags().unwrap();
    let number_of = |commit: ObjectId| {
        store
            .history(commit, 1)
            .unwrap()
            .first()
            .map(|v| v.number)
            .unwrap()
    };
    assert_eq!(tags.len(), 2);
    assert_eq!(number_of(tags[0].commit), 4);
    assert_ne!(tags[0].target, tags[0].commit, "still annotated");
    assert_eq!(
        git(repo, &["tag", "-l", "--format=%(contents)", "annotated"]).trim(),
        "before the migration"
    );
    assert_eq!(
        git(repo, &["tag", "-l", "--format=%(taggername)", "annotated"]).trim(),
        "op"
    );
    assert_eq!(number_of(tags[1].commit), 6);
    assert_eq!(tags[1].target, tags[1].commit);
    assert_eq!(number_of(store.hold().unwrap().unwrap()), 9);
    for tag in &tags {
        assert!(
            git_ok(
                repo,
                &[
                    "merge-base",
                    "--is-ancestor",
                    &tag.commit.to_string(),
                    "main"
                ]
            ),
            "{tag:?} is on main"
        );
    }
    fsck(repo);
}

#[test]
fn a_second_cleanup_keeps_the_whole_range() {
    let (_dir, store) = versions(8);
    squashed(store.squash(&policy(5, 0), T0 + 1000 * DAY, &by()).unwrap());
    let s = squashed(store.squash(&policy(2, 0), T0 + 1000 * DAY, &by()).unwrap());
    assert_eq!((s.first, s.last), (1, 6));
    let root = git(store.path(), &["log", "-1", "--format=%s", "main~2"]);
    assert!(root.starts_with("Versions 1–6 squashed"), "{root}");
    fsck(store.path());
}

#[test]
fn a_tag_on_an_old_version_keeps_it() {
    let (_dir, store) = versions(6);
    let repo = store.path();
    let v3 = store.resolve(&Rev::Version(3)).unwrap().to_string();
    git(repo, &["tag", "t", &v3]);
    // The tag pins version 3: versions 1 and 2 go.
    let s = squashed(store.squash(&policy(1, 0), T0 + 1000 * DAY, &by()).unwrap());
    assert_eq!((s.first, s.last), (1, 2));
    // Deleting the tag lets the next cleanup go further.
    git(repo, &["tag", "-d", "t"]);
    let s = squashed(store.squash(&policy(1, 0), T0 + 1000 * DAY, &by()).unwrap());
    assert_eq!((s.first, s.last), (1, 5));
    fsck(repo);
}

#[test]
fn a_tag_off_main_is_left_alone_and_keeps_its_history() {
    let (_dir, store) = versions(6);
    let repo = store.path();
    // A commit on no branch, on top of version 2 (pushes cannot make such a tag; by hand one can).
    let side = git(
        repo,
        &[
            "-c",
            "user.name=op",
            "-c",
            "user.email=op@x",
            "commit-tree",
            "-p",
            &store.resolve(&Rev::Version(2)).unwrap().to_string(),
            "-m",
            "side",
            "main^{tree}",
        ],
    );
    let side = side.trim();
    git(repo, &["tag", "side", side]);
    let s = squashed(store.squash(&policy(1, 0), T0 + 1000 * DAY, &by()).unwrap());
    assert_eq!((s.first, s.last), (1, 5));
    assert_eq!(s.moved.len(), 1, "only main moves: {:?}", s.moved);
    assert_eq!(git(repo, &["rev-parse", "side"]).trim(), side);
    git(
        repo,
        &[
            "reflog",
            "expire",
            "--expire=all",
            "--expire-unreachable=all",
            "--all",
        ],
    );
    git(repo, &["prune", "--expire=now"]);
    fsck(repo);
}
