//! Revert: a NEW version whose tree is an older version's (sources and rendered files), on top of
//! main. History keeps both, so a revert can itself be reverted.
//!
//! It runs inside [`Versioner::exclusive`]: pending API writes become a version first (they are
//! then in the version BEFORE the revert, and the revert takes them back like everything else), and
//! no writer or push moves main until the revert is committed. The old tree is loaded under today's
//! rules first; if it no longer validates or renders, nothing changes and every problem is
//! returned. If the old version was rendered by another renderer (`Mailu-Renderer`), its sources
//! come back and `rendered/` is what this server's renderer makes of them, in the same version.
//! While deployment is suspended the revert lands on main only, unless `deploy` moves the hold too.

use serde::{Deserialize, Serialize};

use super::{Error, VersionRef, person};
use crate::model;
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
                commit(&store, &rev, meta, deploy)
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

/// Validates, renders if needed and commits the revert; moves the hold with `deploy`.
fn commit(
    store: &Store,
    rev: &Revision,
    mut meta: CommitMeta,
    deploy: bool,
) -> Result<Reverted, Error> {
    let target = store.resolve_version(rev)?;
    let head = store.head()?;
    let (edits, rendered_again) = restore(store, &target)?;
    meta.summary = format!("Revert to version {}", target.number);
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

/// The edits that make `target`'s tree today's version of it: none when it was rendered by this
/// renderer, else its `rendered/` made again. Refuses a tree that does not load or render.
fn restore(store: &Store, target: &VersionInfo) -> Result<(Vec<Edit>, bool), Error> {
    let invalid = |problems| Error::Invalid {
        number: target.number,
        problems,
    };
    let files = store.snapshot(&Rev::Commit(target.commit))?.files()?;
    let config = model::load(&files).map_err(invalid)?;
    let read_problem = |e: render::ReadError| {
        invalid(model::Diagnostics(vec![model::Diagnostic::file(
            "templates/",
            format!("cannot read the tree: {e}"),
        )]))
    };
    let problems = render::check_templates(&files).map_err(read_problem)?;
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    if target.renderer.as_deref() == Some(render::stamp()) {
        // This renderer made `rendered/` from these very sources: it is exact already.
        return Ok((Vec::new(), false));
    }
    match render::render(&config, &files, render::Scope::Full) {
        Ok(rendered) => Ok((rendered.edits, true)),
        Err(render::Error::Invalid(problems)) => Err(invalid(problems)),
        Err(render::Error::Read(e)) => Err(read_problem(e)),
    }
}
