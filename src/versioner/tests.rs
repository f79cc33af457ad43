//! Versioner tests on real repositories, checked with the real `git` binary. Debounce tests run on
//! tokio's paused clock; a task that always yields keeps the runtime from auto-advancing the clock
//! while a test waits for the journal's fsync thread, so time moves only by `advance`.

mod crash;
mod migrate;
mod render;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::*;
use crate::model::{Email, RepoPath};
use crate::store::{CommitMeta, Edit, Person};

pub(super) fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub(super) fn p(s: &str) -> RepoPath {
    RepoPath::parse(s).unwrap()
}

const ALICE: &str = "password = \"$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS\"\n";

/// The repository template plus domain example.com with user alice: a tree that loads.
pub(super) fn fixture() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let mut files = crate::repo_template::files().unwrap();
    files.push((
        p("domains/example.com/domain.toml"),
        b"comment = \"main\"\n".to_vec(),
    ));
    files.push((
        p("domains/example.com/users/alice.toml"),
        ALICE.as_bytes().to_vec(),
    ));
    let who = Person {
        name: "test".into(),
        email: "test@localhost".into(),
    };
    let store = Store::init(
        &dir.path().join("config.git"),
        &files,
        &CommitMeta::new(who, "Initial configuration"),
    )
    .unwrap();
    (dir, store)
}

pub(super) fn alias(name: &str, author: &str) -> Change {
    Change {
        author: author.into(),
        summary: format!("Create alias {name}@example.com"),
        edits: vec![Edit::write(
            p(&format!("domains/example.com/aliases/{name}.toml")),
            "destination = [\"alice@example.com\"]\n",
        )],
    }
}

pub(super) async fn open(dir: &Path, store: &Store, quiet: u64, max: u64) -> Versioner {
    let settings = Settings::new(Duration::from_secs(quiet), Duration::from_secs(max));
    Versioner::open(store.clone(), &dir.join("journal"), settings)
        .await
        .unwrap()
}

/// Every `Mailu-Change` id on main, oldest version first.
pub(super) fn change_ids(repo: &Path) -> Vec<String> {
    let log = git(repo, &["log", "--reverse", "--format=%B", "main"]);
    log.lines()
        .filter_map(|l| l.strip_prefix("Mailu-Change: "))
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect()
}

fn versions(repo: &Path) -> usize {
    git(repo, &["rev-list", "--count", "main"])
        .trim()
        .parse()
        .unwrap()
}

/// Keeps the paused runtime busy so its clock moves only by `advance`.
fn keep_busy() -> tokio::task::JoinHandle<()> {
    tokio::spawn(async {
        loop {
            tokio::task::yield_now().await;
        }
    })
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_changes_becomes_one_version_after_the_quiet_period() {
    let (dir, store) = fixture();
    let busy = keep_busy();
    let v = open(dir.path(), &store, 2, 30).await;
    let mut ids = Vec::new();
    for n in 0..10 {
        let author = if n % 2 == 0 { "alice" } else { "bob" };
        ids.push(v.submit(alias(&format!("a{n}"), author)).await.unwrap());
    }
    tokio::time::advance(Duration::from_millis(1900)).await;
    tokio::task::yield_now().await;
    assert_eq!(
        versions(store.path()),
        1,
        "committed before the quiet period"
    );
    assert_eq!(v.status(&ids[0]).await.unwrap(), Status::Pending);
    let pending = v.pending();
    assert_eq!(pending.changes.len(), 10);
    assert!(pending.due_in.unwrap() <= Duration::from_millis(100));

    tokio::time::advance(Duration::from_millis(200)).await;
    let Status::Committed(c) = v
        .wait_for(&ids[9], Duration::from_secs(3600))
        .await
        .unwrap()
    else {
        panic!("not committed");
    };
    assert_eq!(c.number, 2);
    assert_eq!(versions(store.path()), 2);
    let body = git(store.path(), &["log", "-1", "--format=%B", "main"]);
    assert!(body.starts_with("10 changes by alice, bob\n"), "{body}");
    let ids_in_git = change_ids(store.path());
    let expected: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    assert_eq!(ids_in_git, expected);
    assert!(body.contains(&format!("Mailu-Change: {} bob\n", ids[1])));
    for id in &ids {
        assert_eq!(v.status(id).await.unwrap(), Status::Committed(c));
    }
    v.flush().await.unwrap();
    assert!(v.pending().changes.is_empty());
    assert_eq!(v.metrics().journal.pending, 0);
    busy.abort();
}

#[tokio::test(start_paused = true)]
async fn the_maximum_delay_commits_under_a_steady_stream() {
    let (dir, store) = fixture();
    let busy = keep_busy();
    let v = open(dir.path(), &store, 10, 60).await;
    let mut ids = Vec::new();
    // One change every 5 s: the 10 s quiet period never passes.
    for n in 0..20 {
        ids.push(v.submit(alias(&format!("s{n}"), "admin")).await.unwrap());
        tokio::time::advance(Duration::from_secs(5)).await;
    }
    v.flush().await.unwrap();
    assert_eq!(
        versions(store.path()),
        3,
        "one version at 60 s, one by flush"
    );
    let first = git(store.path(), &["log", "-1", "--format=%B", "main~1"]);
    let in_first = first.matches("Mailu-Change:").count();
    assert!((12..=13).contains(&in_first), "{first}");
    let all = change_ids(store.path());
    assert_eq!(all.len(), 20);
    busy.abort();
}

#[tokio::test]
async fn reads_see_acknowledged_writes_at_once() {
    let (dir, store) = fixture();
    let v = open(dir.path(), &store, 3600, 7200).await;
    let bob_path = p("domains/example.com/users/bob.toml");
    let bob = Email::parse("bob@example.com").unwrap();
    let write_bob = Change {
        author: "admin".into(),
        summary: "Create user bob".into(),
        edits: vec![Edit::write(bob_path.clone(), ALICE)],
    };
    v.submit(write_bob).await.unwrap();
    {
        let s = v.state();
        assert_eq!(s.read(&bob_path).unwrap().unwrap(), ALICE.as_bytes());
        assert!(s.config().unwrap().user(&bob).is_some());
        let users = s.list(&p("domains/example.com/users")).unwrap();
        let names: Vec<&str> = users.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            names,
            [
                "domains/example.com/users/alice.toml",
                "domains/example.com/users/bob.toml"
            ]
        );
    }
    // A writer validates against the acknowledged state: the alias's destination exists now.
    let id = v
        .write(|s: &State| {
            let config = s
                .config()
                .map_err(|d| Error::InvalidChange(format!("{d:?}")))?;
            if config.user(&bob).is_none() {
                return Err(Error::InvalidChange("no bob".into()));
            }
            Ok(alias("team", "admin"))
        })
        .await
        .unwrap();
    // A relay touches the cross-file index: the configuration is reloaded with it.
    v.submit(Change {
        author: "admin".into(),
        summary: "Add relay".into(),
        edits: vec![Edit::write(
            p("relays/relayed.net.toml"),
            "smtp = \"mx:mail.relayed.net\"\n",
        )],
    })
    .await
    .unwrap();
    let relay = crate::model::DomainName::parse("relayed.net").unwrap();
    assert!(v.state().config().unwrap().relays.contains_key(&relay));
    // Deleting shows at once too.
    v.submit(Change {
        author: "admin".into(),
        summary: "Delete bob".into(),
        edits: vec![Edit::delete(bob_path.clone())],
    })
    .await
    .unwrap();
    assert_eq!(v.state().read(&bob_path).unwrap(), None);
    assert!(v.state().config().unwrap().user(&bob).is_none());

    let team = p("domains/example.com/aliases/team.toml");
    let etag = v.state().blob_id(&team).unwrap().unwrap();
    let c = v.flush().await.unwrap().unwrap();
    assert_eq!(v.status(&id).await.unwrap(), Status::Committed(c));
    assert_eq!(v.state().overlaid(), 0);
    assert_eq!(v.state().blob_id(&team).unwrap(), Some(etag));
    let in_git = git(
        store.path(),
        &["rev-parse", "main:domains/example.com/aliases/team.toml"],
    );
    assert_eq!(in_git.trim(), etag.to_string());
    let tree = git(store.path(), &["ls-tree", "-r", "--name-only", "main"]);
    assert!(!tree.contains("users/bob.toml"));
    assert!(tree.contains("relays/relayed.net.toml"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_all_land_once() {
    let (dir, store) = fixture();
    let settings = Settings::new(Duration::from_millis(5), Duration::from_millis(50));
    let v = Versioner::open(store.clone(), &dir.path().join("journal"), settings)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for client in 0..16 {
        let v = v.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in 0..100 {
                let change = alias(&format!("c{client}-{n}"), &format!("client{client}"));
                ids.push(v.submit(change).await.unwrap());
            }
            ids
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(t.await.unwrap());
    }
    v.flush().await.unwrap();
    let stats = v.metrics().journal;
    assert_eq!(stats.appended, 1600);
    assert!(stats.fsyncs < 1600, "no fsync was shared: {stats:?}");
    assert_eq!(stats.pending, 0);

    let mut in_git = change_ids(store.path());
    assert_eq!(in_git.len(), 1600, "a change is missing or doubled");
    in_git.sort();
    in_git.dedup();
    assert_eq!(in_git.len(), 1600, "a change is doubled");
    let mut ids: Vec<String> = ids.into_iter().map(|i| i.to_string()).collect();
    ids.sort();
    assert_eq!(in_git, ids);
    let tree = git(store.path(), &["ls-tree", "-r", "--name-only", "main"]);
    assert_eq!(tree.matches("/aliases/c").count(), 1600);
    git(store.path(), &["fsck", "--strict"]);
    assert_eq!(v.state().overlaid(), 0);
}

#[tokio::test]
async fn a_push_that_moved_main_is_kept_and_the_batch_goes_on_top() {
    let (dir, store) = fixture();
    let v = open(dir.path(), &store, 3600, 7200).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(v.submit(alias(&format!("p{n}"), "admin")).await.unwrap());
    }
    // A push lands while the changes are pending; it also writes one of their files.
    let head = store.head().unwrap();
    let mut meta = CommitMeta::new(
        Person {
            name: "pusher".into(),
            email: "p@localhost".into(),
        },
        "Pushed",
    );
    meta.changes = vec![store::ChangeNote {
        id: "push".into(),
        author: "operator".into(),
    }];
    let pushed = store
        .commit(
            head,
            &[
                Edit::write(
                    p("relays/pushed.net.toml"),
                    "smtp = \"mx:mail.pushed.net\"\n",
                ),
                Edit::write(
                    p("domains/example.com/aliases/p0.toml"),
                    "destination = []\n",
                ),
            ],
            &meta,
        )
        .unwrap();
    let c = v.flush().await.unwrap().unwrap();
    assert_eq!(c.number, pushed.number + 1);
    assert_eq!(
        git(store.path(), &["rev-parse", "main~1"]).trim(),
        pushed.commit.to_string()
    );
    let tree = git(store.path(), &["ls-tree", "-r", "--name-only", "main"]);
    assert!(tree.contains("relays/pushed.net.toml"));
    for n in 0..3 {
        assert!(tree.contains(&format!("aliases/p{n}.toml")));
    }
    // The acknowledged write is newer than the push: it wins.
    let p0 = git(
        store.path(),
        &["show", "main:domains/example.com/aliases/p0.toml"],
    );
    assert_eq!(p0, "destination = [\"alice@example.com\"]\n");
    let trailers = change_ids(store.path());
    assert_eq!(trailers.iter().filter(|i| *i != "push").count(), 3);
    // The state follows the new head, the push's relay included.
    let pushed_relay = crate::model::DomainName::parse("pushed.net").unwrap();
    assert!(
        v.state()
            .config()
            .unwrap()
            .relays
            .contains_key(&pushed_relay)
    );
    assert_eq!(v.state().base().commit(), c.commit);
}

#[tokio::test(start_paused = true)]
async fn a_failing_commit_suspends_writes_until_a_retry_succeeds() {
    let (dir, store) = fixture();
    let v = open(dir.path(), &store, 3600, 7200).await;
    let id = v.submit(alias("f1", "admin")).await.unwrap();
    let objects = store.path().join("objects");
    let aside = store.path().join("objects.aside");
    std::fs::rename(&objects, &aside).unwrap();
    std::fs::write(&objects, "not a directory").unwrap();

    assert!(v.flush().await.is_err());
    let Health::Unavailable { reason } = v.health() else {
        panic!("still healthy");
    };
    assert!(reason.contains("cannot be committed"), "{reason}");
    assert!(matches!(
        v.submit(alias("f2", "admin")).await,
        Err(Error::Unavailable { .. })
    ));
    assert_eq!(
        v.metrics().journal.pending,
        1,
        "the change left the journal"
    );
    assert_eq!(v.status(&id).await.unwrap(), Status::Pending);

    std::fs::remove_file(&objects).unwrap();
    std::fs::rename(&aside, &objects).unwrap();
    // The debouncer retries after the backoff, without waiting for the next debounce time.
    let status = v.wait_for(&id, Duration::from_secs(60)).await.unwrap();
    assert!(matches!(status, Status::Committed(_)), "{status:?}");
    assert_eq!(v.health(), Health::Ok);
    v.submit(alias("f2", "admin")).await.unwrap();
    v.flush().await.unwrap();
    assert_eq!(change_ids(store.path()).len(), 2);
}

#[tokio::test]
async fn pending_changes_are_replayed_after_a_restart() {
    let (dir, store) = fixture();
    let mut ids = Vec::new();
    {
        let v = open(dir.path(), &store, 3600, 7200).await;
        for n in 0..3 {
            ids.push(v.submit(alias(&format!("r{n}"), "admin")).await.unwrap());
        }
    }
    let v = open(dir.path(), &store, 3600, 7200).await;
    let pending: Vec<ChangeId> = v.pending().changes.into_iter().map(|c| c.id).collect();
    assert_eq!(pending, ids);
    assert!(
        v.state()
            .read(&p("domains/example.com/aliases/r2.toml"))
            .unwrap()
            .is_some()
    );
    v.shutdown().await.unwrap();
    assert!(matches!(
        v.submit(alias("late", "admin")).await,
        Err(Error::Unavailable { .. })
    ));
    drop(v);
    let v = open(dir.path(), &store, 3600, 7200).await;
    assert!(v.pending().changes.is_empty());
    assert_eq!(change_ids(store.path()).len(), 3);
    for id in &ids {
        assert!(matches!(v.status(id).await.unwrap(), Status::Committed(_)));
    }
}

#[tokio::test]
async fn malformed_changes_are_refused_before_the_journal() {
    let (dir, store) = fixture();
    let v = open(dir.path(), &store, 3600, 7200).await;
    let mut empty = alias("x", "admin");
    empty.edits.clear();
    assert!(matches!(
        v.submit(empty).await,
        Err(Error::InvalidChange(_))
    ));
    assert!(matches!(
        v.submit(alias("x", "two\nlines")).await,
        Err(Error::InvalidChange(_))
    ));
    assert_eq!(v.metrics().journal.appended, 0);
    let unknown = ChangeId::parse("0190a1b2c3d4-000001-5e7a9c01").unwrap();
    assert_eq!(v.status(&unknown).await.unwrap(), Status::Unknown);
}
