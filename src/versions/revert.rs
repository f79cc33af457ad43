//! Revert: a NEW version whose tree is an older version's (sources and rendered files), on top of
//! main. History keeps both, so a revert can itself be reverted.
//!
//! It runs inside [`Versioner::exclusive`]: pending API writes become a version first (they are
//! then in the version BEFORE the revert, and the revert takes them back like everything else), and
//! no writer or push moves main until the revert is committed. The old tree is loaded under today's
//! rules first; if it no longer validates or renders, nothing changes and every problem is
//! returned. An old version of an older `format` (from before an upgrade) is migrated by the same
//! steps as the server's start (`model::migrate`) in the same version. If the old version was
//! rendered by another renderer (`Mailu-Renderer`) or migrated, its sources come back and
//! `rendered/` is what this server's renderer makes of them, in the same version.
//! While deployment is suspended the revert lands on main only, unless `deploy` moves the hold too.

use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use super::{Error, VersionRef, person};
use crate::model::migrate::{Step, Upgrade};
use crate::model::{self, RepoPath};
use crate::render;
use crate::store::{
    ChangeNote, CommitMeta, Edit, HOLD, RefMove, Rev, Revision, Store, VersionInfo,
};
use crate::versioner::Versioner;

/// The answer to a revert.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Reverted {
    /// The new version.
    pub number: u64,
    pub commit: String,
    /// The version whose tree came back.
    pub reverted_to: VersionRef,
    /// Whether the new version is what is deployed (false while suspended without `deploy`).
    pub deployed: bool,
    /// Whether deployment is (still) suspended.
    pub held: bool,
    /// `rendered/` was made again by this server's renderer (the old version had another one).
    pub rendered_again: bool,
    pub message: String,
}

/// Reverts main to the version `rev` names, as `caller`; with `deploy`, a hold moves to the new
/// version (compare-and-swap).
pub async fn revert(
    versioner: &Versioner,
    rev: &Revision,
    caller: &str,
    deploy: bool,
) -> Result<Reverted, Error> {
    let author = person(versioner, caller);
    let committer = versioner.committer().clone();
    let rev = rev.clone();
    let caller = caller.to_owned();
    versioner
        .exclusive(|ex| async move {
            let store = ex.store().clone();
            let change = ex.change_id().as_str().to_owned();
            let result = tokio::task::spawn_blocking(move || {
                let mut meta = CommitMeta {
                    committer,
                    ..CommitMeta::new(author, "revert")
                };
                meta.changes = vec![ChangeNote {
                    id: change,
                    author: caller,
                }];
                commit(&store, &rev, meta, deploy, model::migrate::STEPS)
            })
            .await?;
            if let Ok(reverted) = &result
                && reverted.deployed
                && reverted.held
            {
                ex.refs_moved();
            }
            result
        })
        .await?
}

/// Validates, upgrades and renders if needed and commits the revert; moves the hold with `deploy`.
fn commit(
    store: &Store,
    rev: &Revision,
    mut meta: CommitMeta,
    deploy: bool,
    steps: &[Step],
) -> Result<Reverted, Error> {
    let target = store.resolve_version(rev)?;
    let head = store.head()?;
    let (edits, rendered_again, upgrade) = restore(store, &target, steps)?;
    meta.summary = match upgrade {
        None => format!("Revert to version {}", target.number),
        Some(u) => format!(
            "Revert to version {}, upgraded from format {} to {}: {}",
            target.number,
            u.from,
            u.to,
            u.steps.join("; ")
        ),
    };
    meta.renderer = Some(render::stamp().to_owned());
    let tree = store.snapshot(&Rev::Commit(target.commit))?.tree();
    let version = store.commit_tree(head, tree, &edits, &meta)?;
    let hold = store.hold()?;
    let mut deployed = hold.is_none();
    if let (Some(held), true) = (hold, deploy) {
        store.move_refs(
            &[RefMove {
                name: HOLD.into(),
                expected: Some(held),
                new: Some(version.commit),
            }],
            &format!("revert: hold moved to version {}", version.number),
            &meta.author,
        )?;
        deployed = true;
    }
    let message = match (hold.is_some(), deployed) {
        (false, _) => format!(
            "version {} restores version {}'s configuration and is deployed",
            version.number, target.number
        ),
        (true, true) => format!(
            "version {} restores version {}'s configuration; the hold moved to it, so it is deployed (deployment stays suspended)",
            version.number, target.number
        ),
        (true, false) => format!(
            "version {} restores version {}'s configuration on main, but deployment is suspended: \
             it is NOT deployed (resume, or revert with deploy to move the hold)",
            version.number, target.number
        ),
    };
    Ok(Reverted {
        number: version.number,
        commit: version.commit.to_string(),
        reverted_to: VersionRef::of(&target),
        deployed,
        held: hold.is_some(),
        rendered_again,
        message,
    })
}

/// The edits that make `target`'s tree today's version of it: none when it has today's format
/// and was rendered by this renderer; else its sources migrated to today's format (`steps`, as
/// the server's start does) and its `rendered/` made again. Refuses a tree that does not migrate,
/// load or render.
fn restore(
    store: &Store,
    target: &VersionInfo,
    steps: &[Step],
) -> Result<(Vec<Edit>, bool, Option<Upgrade>), Error> {
    let invalid = |problems| Error::Invalid {
        number: target.number,
        problems,
    };
    let original = store.snapshot(&Rev::Commit(target.commit))?.files()?;
    let migrated =
        model::migrate::migrate(&original, steps, model::settings::FORMAT).map_err(|e| {
            invalid(model::Diagnostics(vec![model::Diagnostic::file(
                "mailu.toml",
                format!("cannot upgrade it to today's format: {e}"),
            )]))
        })?;
    let files = migrated.as_ref().map_or(&original, |m| &m.tree);
    let config = model::load(files).map_err(invalid)?;
    let read_problem = |e: render::ReadError| {
        invalid(model::Diagnostics(vec![model::Diagnostic::file(
            "templates/",
            format!("cannot read the tree: {e}"),
        )]))
    };
    let problems = render::check_templates(files).map_err(read_problem)?;
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    if migrated.is_none() && target.renderer.as_deref() == Some(render::stamp()) {
        // This renderer made `rendered/` from these very sources: it is exact already.
        return Ok((Vec::new(), false, None));
    }
    let rendered = match render::render(&config, files, render::Scope::Full) {
        Ok(rendered) => rendered,
        Err(render::Error::Invalid(problems)) => return Err(invalid(problems)),
        Err(render::Error::Read(e)) => return Err(read_problem(e)),
    };
    let Some(migrated) = migrated else {
        return Ok((rendered.edits, true, None));
    };
    // The migration's edits of the old tree, then the render's (which win on a path both touch).
    let mut edits: BTreeMap<RepoPath, Edit> = BTreeMap::new();
    for (path, bytes) in &migrated.tree {
        if original.get(path) != Some(bytes) {
            edits.insert(path.clone(), Edit::write(path.clone(), bytes.clone()));
        }
    }
    for path in original.keys() {
        if !migrated.tree.contains_key(path) {
            edits.insert(path.clone(), Edit::delete(path.clone()));
        }
    }
    for e in rendered.edits {
        edits.insert(e.path.clone(), e);
    }
    Ok((edits.into_values().collect(), true, Some(migrated.upgrade)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::migrate::{Tree, edit_toml, rename_key};
    use crate::store::Person;

    fn who() -> Person {
        Person {
            name: "test".into(),
            email: "test@localhost".into(),
        }
    }

    /// The template's `mailu.toml` at format 0, where format 1's `message_size_limit` was
    /// `size_limit` (an imaginary older layout).
    fn settings_of_format_0() -> Vec<u8> {
        let files = crate::repo_template::files().unwrap();
        let text = String::from_utf8(
            files
                .into_iter()
                .find(|(p, _)| *p == RepoPath::settings())
                .unwrap()
                .1,
        )
        .unwrap();
        text.replace("\nformat = 1\n", "\nformat = 0\n")
            .replace("\nmessage_size_limit = ", "\nsize_limit = ")
            .into_bytes()
    }

    fn rename(tree: &mut Tree) -> Result<(), String> {
        edit_toml(tree, &RepoPath::settings(), |doc| {
            let mail = doc["mail"].as_table_mut().ok_or("no [mail]")?;
            rename_key(mail, "size_limit", "message_size_limit");
            Ok(())
        })
    }

    static STEPS: &[Step] = &[Step {
        from: 0,
        description: "rename mail.size_limit",
        apply: rename,
    }];

    /// Version 1 of format 0, version 2 of format 1 (as an upgrade made it).
    fn upgraded_repository() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let mut files = crate::repo_template::files().unwrap();
        for (path, bytes) in &mut files {
            if *path == RepoPath::settings() {
                *bytes = settings_of_format_0();
            }
        }
        let store = Store::init(
            &dir.path().join("config.git"),
            &files,
            &CommitMeta::new(who(), "Made by format 0"),
        )
        .unwrap();
        let tree: Tree = files.into_iter().collect();
        let migrated = model::migrate::migrate(&tree, STEPS, 1).unwrap().unwrap();
        let settings = migrated.tree[&RepoPath::settings()].clone();
        store
            .commit(
                store.head().unwrap(),
                &[Edit::write(RepoPath::settings(), settings)],
                &CommitMeta::new(who(), "Upgrade"),
            )
            .unwrap();
        (dir, store)
    }

    fn settings_at_main(store: &Store) -> String {
        let bytes = store
            .snapshot(&Rev::Head)
            .unwrap()
            .read(&RepoPath::settings())
            .unwrap()
            .unwrap();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn migrate_on_revert_brings_an_older_format_up_in_the_same_version() {
        let (_dir, store) = upgraded_repository();
        let rev = Revision::parse("1").unwrap();
        let done = commit(&store, &rev, CommitMeta::new(who(), "revert"), false, STEPS).unwrap();
        assert_eq!(done.number, 3);
        assert!(done.rendered_again);
        let info = store.version_info(store.head().unwrap()).unwrap().unwrap();
        assert_eq!(
            info.summary,
            "Revert to version 1, upgraded from format 0 to 1: rename mail.size_limit"
        );
        assert_eq!(info.renderer.as_deref(), Some(render::stamp()));
        let settings = settings_at_main(&store);
        assert!(settings.contains("\nformat = 1\n"), "{settings}");
        assert!(settings.contains("\nmessage_size_limit = "), "{settings}");
        assert!(!settings.contains("\nsize_limit = "), "{settings}");
        let files = store.snapshot(&Rev::Head).unwrap().files().unwrap();
        assert!(model::load(&files).is_ok());
        assert!(files.keys().any(|p| p.as_str().starts_with("rendered/")));
    }

    #[test]
    fn migrate_on_revert_refuses_a_format_no_step_upgrades_and_changes_nothing() {
        let (_dir, store) = upgraded_repository();
        let head = store.head().unwrap();
        let rev = Revision::parse("1").unwrap();
        let err = commit(&store, &rev, CommitMeta::new(who(), "revert"), false, &[]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("cannot upgrade it to today's format")
                && text.contains("format 0 cannot be upgraded"),
            "{text}"
        );
        assert_eq!(store.head().unwrap(), head);
    }
}
