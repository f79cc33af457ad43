//! The upgrade at open with synthetic steps (this build has none yet): a repository of format 0
//! whose `[mail] size_limit` format 1 calls `message_size_limit`. One version holds every step,
//! the journal's pending changes (migrated with the rest) and the full render; a failing step or an
//! upgraded tree that does not load writes nothing; a current format makes no version.

use super::render::builtins;
use super::*;
use crate::journal::{Journal, Record};
use crate::model::migrate::{Step, Tree, edit_toml, rename_key};

/// The template's `mailu.toml` as an imaginary format-0 mailu-git wrote it.
fn settings_of_format_0(size: u64) -> String {
    let template = crate::repo_template::files()
        .unwrap()
        .into_iter()
        .find(|(path, _)| *path == RepoPath::settings())
        .unwrap()
        .1;
    let text = String::from_utf8(template).unwrap();
    assert!(text.contains("\nformat = 1\n") && text.contains("\nmessage_size_limit = "));
    text.replace("\nformat = 1\n", "\nformat = 0\n")
        .lines()
        .map(|l| {
            if l.starts_with("message_size_limit = ") {
                format!("size_limit = {size}")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// The versioner tests' fixture (template, example.com, alice) at format 0.
fn fixture_of_format_0() -> (tempfile::TempDir, Store) {
    let (dir, store) = fixture();
    let head = store.head().unwrap();
    store
        .commit(
            head,
            &[Edit::write(
                RepoPath::settings(),
                settings_of_format_0(1000),
            )],
            &CommitMeta::new(
                Person {
                    name: "older mailu-git".into(),
                    email: "old@localhost".into(),
                },
                "Made by format 0",
            ),
        )
        .unwrap();
    (dir, store)
}

fn rename_size_limit(tree: &mut Tree) -> Result<(), String> {
    edit_toml(tree, &RepoPath::settings(), |doc| {
        let mail = doc
            .get_mut("mail")
            .and_then(|m| m.as_table_mut())
            .ok_or("mailu.toml has no [mail]")?;
        rename_key(mail, "size_limit", "message_size_limit");
        Ok(())
    })
}

fn note_in_domain(tree: &mut Tree) -> Result<(), String> {
    let path = p("domains/example.com/domain.toml");
    let text = String::from_utf8(tree.get(&path).ok_or("no example.com")?.clone())
        .map_err(|e| e.to_string())?;
    // Runs after the rename: its work must be there already.
    let settings = String::from_utf8_lossy(&tree[&RepoPath::settings()]).into_owned();
    if !settings.contains("message_size_limit") {
        return Err("the steps ran out of order".into());
    }
    tree.insert(path, format!("# upgraded\n{text}").into_bytes());
    Ok(())
}

fn refuse(_: &mut Tree) -> Result<(), String> {
    Err("domains/example.com/domain.toml: cannot migrate the comment".into())
}

fn nothing(_: &mut Tree) -> Result<(), String> {
    Ok(())
}

/// This build reads format 1, so one step is all a versioner test can run; several steps in
/// order are the pure machinery's tests (`model::migrate`).
static STEPS: &[Step] = &[Step {
    from: 0,
    description: "rename mail.size_limit to mail.message_size_limit",
    apply: rename_and_note,
}];

fn rename_and_note(tree: &mut Tree) -> Result<(), String> {
    rename_size_limit(tree)?;
    note_in_domain(tree)
}

static FAILING: &[Step] = &[Step {
    from: 0,
    description: "migrate the comments",
    apply: refuse,
}];

static FORGETFUL: &[Step] = &[Step {
    from: 0,
    description: "forget to rename the setting",
    apply: nothing,
}];

async fn open_with(dir: &Path, store: &Store, steps: &'static [Step]) -> Result<Versioner, Error> {
    let settings = Settings {
        render: Some(builtins()),
        migrate: steps,
        ..Settings::new(Duration::from_secs(3600), Duration::from_secs(3600))
    };
    Versioner::open(store.clone(), &dir.join("journal"), settings).await
}

/// A pending change the older mailu-git acknowledged: the settings with `size_limit` changed.
async fn pending_settings_change(dir: &Path) -> Record {
    let record = Record {
        id: "c-older-1".into(),
        author: "admin".into(),
        time_ms: 1_700_000_000_000,
        summary: "Update the settings (mail)".into(),
        edits: vec![Edit::write(
            RepoPath::settings(),
            settings_of_format_0(2000),
        )],
    };
    let (journal, found) = Journal::open(&dir.join("journal")).unwrap();
    assert!(found.is_empty());
    journal.append(record.clone()).await.unwrap();
    record
}

fn main_of(store: &Store) -> String {
    git(store.path(), &["rev-parse", "main"]).trim().to_owned()
}

fn show(store: &Store, path: &str) -> String {
    git(store.path(), &["show", &format!("main:{path}")])
}

#[tokio::test]
async fn migrate_at_open_makes_one_version_with_every_step_and_the_render() {
    let (dir, store) = fixture_of_format_0();
    let before = main_of(&store);
    let v = open_with(dir.path(), &store, STEPS).await.unwrap();
    let after = main_of(&store);
    assert_ne!(before, after);
    assert_eq!(
        git(store.path(), &["rev-parse", "main^"]).trim(),
        before,
        "one version on top of the old main"
    );
    let body = git(store.path(), &["log", "-1", "--format=%B", "main"]);
    assert!(
        body.starts_with(
            "Upgrade the configuration from format 0 to 1: rename mail.size_limit to \
             mail.message_size_limit\n"
        ),
        "{body}"
    );
    assert!(
        body.contains(&format!("Mailu-Renderer: {}\n", builtins().stamp())),
        "{body}"
    );
    assert_eq!(
        git(store.path(), &["log", "-1", "--format=%an", "main"]).trim(),
        "mailu-git"
    );
    let settings = show(&store, "mailu.toml");
    assert!(settings.contains("\nformat = 1\n"), "{settings}");
    assert!(
        settings.contains("\nmessage_size_limit = 1000\n"),
        "{settings}"
    );
    assert!(!settings.contains("\nsize_limit"), "{settings}");
    // Comments survive the step.
    assert!(settings.starts_with("# mailu.toml: the global settings"));
    // Every file the step touched is in the version.
    assert!(show(&store, "domains/example.com/domain.toml").starts_with("# upgraded\n"));
    // Rendered in full by this build, in the same version.
    assert_eq!(show(&store, "rendered/smtp/etc/t/domains"), "example.com\n");
    assert_eq!(
        v.state().config().unwrap().settings.mail.message_size_limit,
        1000
    );
    drop(v);

    // Idempotent: the format is current, nothing more to do.
    let again = open_with(dir.path(), &store, STEPS).await.unwrap();
    assert_eq!(main_of(&store), after);
    drop(again);
}

#[tokio::test]
async fn migrate_takes_the_pending_journal_along_and_migrates_it() {
    let (dir, store) = fixture_of_format_0();
    let record = pending_settings_change(dir.path()).await;
    let v = open_with(dir.path(), &store, STEPS).await.unwrap();
    // One version holds the upgrade and the older change, named by its trailer.
    assert_eq!(versions(store.path()), 3);
    assert_eq!(change_ids(store.path()), [record.id.as_str()]);
    let settings = show(&store, "mailu.toml");
    assert!(settings.contains("\nformat = 1\n"), "{settings}");
    assert!(
        settings.contains("\nmessage_size_limit = 2000\n"),
        "the older change was laid over main, then migrated: {settings}"
    );
    assert!(v.pending().changes.is_empty());
    drop(v);
    // The record was trimmed: a restart applies nothing again and makes no version.
    let again = open_with(dir.path(), &store, STEPS).await.unwrap();
    assert!(again.pending().changes.is_empty());
    assert_eq!(versions(store.path()), 3);
}

#[tokio::test]
async fn a_failing_step_stops_the_open_and_writes_nothing() {
    let (dir, store) = fixture_of_format_0();
    let record = pending_settings_change(dir.path()).await;
    let before = main_of(&store);
    let err = open_with(dir.path(), &store, FAILING)
        .await
        .err()
        .expect("the open fails");
    assert_eq!(
        err.to_string(),
        "cannot upgrade the configuration; nothing was written: the step from format 0 to 1 \
         (migrate the comments) failed: domains/example.com/domain.toml: cannot migrate the comment"
    );
    assert_eq!(main_of(&store), before);
    // The pending change is still in the journal for the next start.
    let (_journal, found) = Journal::open(&dir.path().join("journal")).unwrap();
    assert_eq!(found, [record]);
}

#[tokio::test]
async fn an_upgraded_tree_that_does_not_load_writes_nothing() {
    let (dir, store) = fixture_of_format_0();
    let before = main_of(&store);
    let err = open_with(dir.path(), &store, FORGETFUL)
        .await
        .err()
        .expect("the open fails");
    let text = err.to_string();
    assert!(
        text.starts_with(
            "cannot upgrade the configuration from format 0 to 1; nothing was written: the \
             upgraded configuration is invalid:"
        ),
        "{text}"
    );
    assert!(
        text.contains("mailu.toml") && text.contains("size_limit"),
        "{text}"
    );
    assert_eq!(main_of(&store), before);
}

#[tokio::test]
async fn a_current_format_makes_no_version_with_or_without_steps() {
    let (dir, store) = fixture();
    let before = main_of(&store);
    let settings = Settings {
        migrate: STEPS,
        ..Settings::new(Duration::from_secs(3600), Duration::from_secs(3600))
    };
    let v = Versioner::open(store.clone(), &dir.path().join("journal"), settings)
        .await
        .unwrap();
    assert_eq!(main_of(&store), before);
    drop(v);
    // This build's own (empty) list: format 0 has no step, and the open says so.
    let (dir, store) = fixture_of_format_0();
    let err = open_with(dir.path(), &store, crate::model::migrate::STEPS)
        .await
        .err()
        .expect("format 0 has no step in this build");
    assert!(
        err.to_string().contains("format 0 cannot be upgraded"),
        "{err}"
    );
}
