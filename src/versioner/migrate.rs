//! The upgrade at start: when main's `mailu.toml` has an older `format` than this build reads, the
//! versioner applies `model::migrate`'s steps and commits the result as ONE version before it
//! acknowledges anything, together with the acknowledged changes the journal still holds and every
//! file rendered again by this build's templates.
//!
//! The order: the journal's pending changes (written by the older mailu-git, validated under the
//! older format) are laid over main first, then the whole tree is migrated, so an older change is
//! migrated like everything else and is never laid, unmigrated, over a newer tree. The tree of the
//! older format cannot be loaded, rendered or committed by this build on its own, so the pending
//! changes cannot become a version before the upgrade; they are part of it, named by their
//! `Mailu-Change` trailers, and trimmed from the journal only once it is durable (as any batch).
//!
//! The migrated tree is loaded under today's rules and rendered in full before anything is
//! written; a failing step, a tree that does not load, or a template that fails stops the start with
//! the problem and leaves main and the journal as they were. Not here: the steps themselves
//! (`model::migrate`), refusing a newer format (`server`).

use std::collections::BTreeMap;

use super::{Error, Settings, State};
use crate::journal::Record;
use crate::model::migrate::{self, Tree, Upgrade};
use crate::model::{self, RepoPath};
use crate::render;
use crate::store::{ChangeNote, CommitMeta, Edit, Rev, Snapshot, Store, Version};

/// The version an upgrade made.
pub(super) struct Upgraded {
    pub version: Version,
    pub upgrade: Upgrade,
    pub snapshot: Snapshot,
}

/// The upgrade at open (blocking): on success the pending records are in the new version (their
/// ids join those to trim) and the state is that version's; without an upgrade, as it was.
pub(super) fn at_open(
    store: &Store,
    settings: &Settings,
    replay: Vec<Record>,
    mut committed: Vec<String>,
    state: State,
) -> Result<(Vec<Record>, Vec<String>, State), Error> {
    let Some(done) = upgrade(store, settings, &state, &replay)? else {
        return Ok((replay, committed, state));
    };
    tracing::info!(
        from = done.upgrade.from,
        to = done.upgrade.to,
        version = done.version.number,
        pending_changes = replay.len(),
        steps = %done.upgrade.steps.join("; "),
        "upgraded the configuration to this mailu-git's format in one version"
    );
    committed.extend(replay.into_iter().map(|r| r.id));
    let state = State::load(done.snapshot, BTreeMap::new())?;
    Ok((Vec::new(), committed, state))
}

/// Whether the acknowledged state (main and the journal's pending changes) has an older format
/// than this build reads. Cheap: reads `mailu.toml` only.
pub(super) fn needed(state: &State) -> Result<bool, Error> {
    let text = state.read(&RepoPath::settings())?;
    Ok(text
        .as_deref()
        .and_then(migrate::format_in)
        .is_some_and(|found| found < model::settings::FORMAT))
}

/// Migrates main with `pending` laid over it (the records `state`'s overlay was made from) and
/// commits it as one version. Blocking. Nothing is written unless every step applied, the result
/// loads and renders.
fn upgrade(
    store: &Store,
    settings: &Settings,
    state: &State,
    pending: &[Record],
) -> Result<Option<Upgraded>, Error> {
    let head = state.base().commit();
    let main: Tree = state.base().files()?;
    let mut tree = main.clone();
    for r in pending {
        for e in &r.edits {
            match &e.content {
                Some(bytes) => tree.insert(e.path.clone(), bytes.clone()),
                None => tree.remove(&e.path),
            };
        }
    }
    let Some(migrated) = migrate::migrate(&tree, settings.migrate, model::settings::FORMAT)? else {
        return Ok(None);
    };
    let upgrade = migrated.upgrade;
    let mut tree = migrated.tree;
    let config = model::load(&tree).map_err(|problems| Error::UpgradeInvalid {
        from: upgrade.from,
        to: upgrade.to,
        problems,
    })?;
    if let Some(builtins) = settings.render {
        let failed = |problems| Error::UpgradeRender {
            from: upgrade.from,
            to: upgrade.to,
            problems,
        };
        let rendered = match render::plan(builtins, &config, &tree, render::Scope::Full) {
            Ok(plan) => plan.render(builtins).map_err(failed)?,
            Err(render::Error::Invalid(problems)) => return Err(failed(problems)),
            Err(render::Error::Read(e)) => return Err(Error::RenderRead(e)),
        };
        for w in &rendered.warnings {
            tracing::warn!(warning = %w, "template warning");
        }
        for e in rendered.edits {
            match e.content {
                Some(bytes) => tree.insert(e.path, bytes),
                None => tree.remove(&e.path),
            };
        }
    }
    let meta = CommitMeta {
        author: settings.committer.clone(),
        committer: settings.committer.clone(),
        summary: upgrade.summary(),
        renderer: settings.render.map(|b| b.stamp().to_owned()),
        changes: pending
            .iter()
            .map(|r| ChangeNote {
                id: r.id.clone(),
                author: r.author.clone(),
            })
            .collect(),
        time: None,
    };
    let version = store.commit(head, &edits_between(&main, &tree), &meta)?;
    let snapshot = store.snapshot(&Rev::Commit(version.commit))?;
    Ok(Some(Upgraded {
        version,
        upgrade,
        snapshot,
    }))
}

/// The edits that take tree `from` to tree `to`.
fn edits_between(from: &Tree, to: &Tree) -> Vec<Edit> {
    let mut edits: BTreeMap<&RepoPath, Edit> = BTreeMap::new();
    for (path, bytes) in to {
        if from.get(path) != Some(bytes) {
            edits.insert(path, Edit::write(path.clone(), bytes.clone()));
        }
    }
    for path in from.keys() {
        if !to.contains_key(path) {
            edits.insert(path, Edit::delete(path.clone()));
        }
    }
    edits.into_values().collect()
}
