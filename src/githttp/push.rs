//! One push, on the server: validated in `pre-receive` while its objects are in quarantine, made a
//! version in `proc-receive` once git has moved them into the repository.
//!
//! The push task takes the versioner's writer lock ([`Versioner::exclusive`]: pending API writes
//! committed first, then nothing else commits) when `pre-receive` calls, and keeps it until
//! `receive-pack` ends, so no API batch moves main between the validation and the ref move, and
//! git's own tag updates happen under it too. Every problem is returned at once, as `<file>:<line>:
//! <message>` lines. A valid push to main becomes a NEW version commit on top of the pushed commit:
//! the pushed sources plus the rendered files the server made for them, with the version trailers
//! (always, even when the push carried exact rendered files: one rule, and every version names its
//! renderer and change), so the pusher's next `git pull` fast-forwards. Its parents are the
//! previous version and the pushed commit, so main's first-parent chain holds only versions.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use gix::ObjectId;
use tokio::sync::mpsc;

use super::hook::{Call, Kind, RefResult, Reply, Update};
use crate::api;
use crate::model::{self, Diagnostic, Diagnostics, RepoPath};
use crate::render;
use crate::store::{self, ChangeNote, CommitMeta, Edit, Person, Snapshot, Store};
use crate::versioner::{Exclusive, Versioner};

/// How many versions back a pushed tag may name.
const TAG_LOOKBACK: usize = 100_000;

/// A validated push to main, waiting for git to migrate its objects.
struct Prepared {
    old: ObjectId,
    new: ObjectId,
    edits: Vec<Edit>,
    /// What templates said with `warn()`: shown to the pusher, not a refusal.
    warnings: Vec<Diagnostic>,
    summary: String,
    /// The quarantine's files, relative to `objects/` once git migrated them.
    migrated: Vec<PathBuf>,
}

/// Serves the hook calls of one `receive-pack`, until it ends (the sender is dropped).
pub(super) async fn run(api: api::Context, pusher: String, mut calls: mpsc::Receiver<Call>) {
    let Some(first) = calls.recv().await else {
        return;
    };
    let versioner: Versioner = api.versioner.clone();
    let first = Arc::new(Mutex::new(Some(first)));
    let slot = first.clone();
    let result = versioner
        .exclusive(|ex| async move {
            let mut prepared = None;
            let mut next = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
            while let Some(call) = next {
                let reply = match call.request.hook {
                    Kind::PreReceive => {
                        let (reply, p) =
                            pre_receive(&ex, call.request.quarantine, call.request.updates).await;
                        prepared = p;
                        reply
                    }
                    Kind::ProcReceive => {
                        proc_receive(&ex, &pusher, prepared.take(), call.request.updates).await
                    }
                };
                let _ = call.reply.send(reply);
                next = calls.recv().await;
            }
        })
        .await;
    if let Err(e) = result {
        let call = first.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(call) = call {
            let _ = call
                .reply
                .send(Reply::refused(format!("mailu-git: push refused: {e}")));
        }
    }
}

async fn pre_receive(
    ex: &Exclusive,
    quarantine: Option<PathBuf>,
    updates: Vec<Update>,
) -> (Reply, Option<Prepared>) {
    let store = ex.store().clone();
    let head = ex.state().base().clone();
    let checked = tokio::task::spawn_blocking(move || {
        validate(&store, &head, quarantine.as_deref(), &updates)
    })
    .await;
    match checked {
        Ok(Ok((problems, prepared))) if problems.is_empty() => (
            Reply {
                messages: prepared
                    .iter()
                    .flat_map(|p| &p.warnings)
                    .map(|w| format!("mailu-git: warning: {w}"))
                    .collect(),
                ok: true,
                results: Vec::new(),
            },
            prepared,
        ),
        Ok(Ok((problems, _))) => {
            let mut messages = vec![format!(
                "mailu-git: push refused, {} problem(s):",
                problems.len()
            )];
            messages.extend(problems.iter().map(ToString::to_string));
            (
                Reply {
                    messages,
                    ok: false,
                    results: Vec::new(),
                },
                None,
            )
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot validate a push");
            (
                Reply::refused("mailu-git: push refused: the server cannot read it (see its log)"),
                None,
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "the push validation failed");
            (
                Reply::refused("mailu-git: push refused: internal error"),
                None,
            )
        }
    }
}

/// Every problem of the push's ref updates and, for main, of the pushed configuration.
fn validate(
    store: &Store,
    head: &Snapshot,
    quarantine: Option<&Path>,
    updates: &[Update],
) -> Result<(Diagnostics, Option<Prepared>), store::Error> {
    let mut problems = Diagnostics::default();
    let zero = ObjectId::null(gix::hash::Kind::Sha1);
    let view = store.quarantine(quarantine)?;
    let mut prepared = None;
    let mut versions: Option<HashSet<ObjectId>> = None;
    for u in updates {
        let (Ok(old), Ok(new)) = (
            ObjectId::from_hex(u.old.as_bytes()),
            ObjectId::from_hex(u.new.as_bytes()),
        ) else {
            problems.push(Diagnostic::file(&u.name, "malformed ref update"));
            continue;
        };
        if u.name == store::MAIN {
            if new == zero {
                check_deletion(u, &mut problems);
            } else if old != head.commit() {
                problems.push(Diagnostic::file(
                    "refs/heads/main",
                    format!(
                        "main is at {} on the server, not {}: fetch, merge or rebase, and push again",
                        short(head.commit()),
                        short(old)
                    ),
                ));
            } else if !view.is_ancestor(old, new)? {
                problems.push(Diagnostic::file(
                    "refs/heads/main",
                    "not a fast-forward: force-pushes are refused; fetch, merge or rebase, and push again",
                ));
            } else {
                let files = view.snapshot(new)?.files()?;
                // Only what the push changed is rendered when main was rendered by this binary;
                // otherwise (an upgrade not yet committed) everything.
                let same_renderer = store
                    .history(head.commit(), 1)?
                    .pop()
                    .and_then(|v| v.renderer)
                    .is_some_and(|r| r == render::stamp());
                match check_tree(head, &files, same_renderer)? {
                    Ok(rendered) => {
                        prepared = Some(Prepared {
                            old,
                            new,
                            edits: rendered.edits,
                            warnings: rendered.warnings,
                            summary: view.summary(new)?,
                            migrated: quarantine.map(listing).unwrap_or_default(),
                        })
                    }
                    Err(found) => found.0.into_iter().for_each(|d| problems.push(d)),
                }
            }
        } else if let Some(tag) = u.name.strip_prefix("refs/tags/") {
            if new == zero {
                continue;
            }
            if old != zero {
                problems.push(Diagnostic::file(
                    &u.name,
                    "moving a tag is refused: a tag names one version for good (delete it first)",
                ));
                continue;
            }
            let commit = view.peel_to_commit(new)?;
            let versions = match &mut versions {
                Some(v) => v,
                None => versions.insert(
                    store
                        .history(head.commit(), TAG_LOOKBACK)?
                        .into_iter()
                        .map(|v| v.commit)
                        .collect(),
                ),
            };
            if !versions.contains(&commit) {
                problems.push(Diagnostic::file(
                    &u.name,
                    format!(
                        "tag `{tag}` must point at a version on main, and {} is none (push main, pull, then tag the version)",
                        short(commit)
                    ),
                ));
            }
        } else {
            problems.push(Diagnostic::file(
                &u.name,
                "only refs/heads/main and tags (refs/tags/*) may be pushed",
            ));
        }
    }
    Ok((problems, prepared))
}

fn check_deletion(u: &Update, problems: &mut Diagnostics) {
    if u.name == store::MAIN {
        problems.push(Diagnostic::file(
            "refs/heads/main",
            "deleting main is refused: it holds every version",
        ));
    } else if !u.name.starts_with("refs/tags/") {
        problems.push(Diagnostic::file(
            &u.name,
            "only refs/heads/main and tags (refs/tags/*) may be pushed",
        ));
    }
}

/// The pushed tree's problems, or the edits that make its `rendered/` exact: the model loads, every
/// template renders, no rendered file was edited by hand, and every secret placeholder names a
/// secret that exists.
fn check_tree(
    head: &Snapshot,
    files: &BTreeMap<RepoPath, Vec<u8>>,
    incremental: bool,
) -> Result<Result<render::Rendered, Diagnostics>, store::Error> {
    let config = match model::load(files) {
        Ok(c) => c,
        Err(problems) => return Ok(Err(problems)),
    };
    match render::check_templates(files) {
        Ok(problems) if !problems.is_empty() => return Ok(Err(problems)),
        Ok(_) => {}
        Err(e) => {
            return Ok(Err(Diagnostics(vec![Diagnostic::file(
                "templates/",
                format!("cannot read the pushed tree: {e}"),
            )])));
        }
    }
    // The sources the push changed (every other rendered file must then be main's).
    let changed = if incremental {
        Some(changed_sources(head, files)?)
    } else {
        None
    };
    let scope = match &changed {
        Some(paths) => render::Scope::Changed(paths),
        None => render::Scope::Full,
    };
    let rendered = match render::render(&config, files, scope) {
        Ok(r) => r,
        Err(render::Error::Invalid(problems)) => return Ok(Err(problems)),
        Err(render::Error::Read(e)) => {
            return Ok(Err(Diagnostics(vec![Diagnostic::file(
                "rendered/",
                format!("cannot read the pushed tree: {e}"),
            )])));
        }
    };
    let mut rendered = rendered;
    let mut problems = Diagnostics::default();
    if changed.is_some() {
        // Rendered files the sources' changes do not reach must be main's: a different one was
        // edited by hand; a missing one is given back.
        let dir = RepoPath::parse("rendered").expect("a constant valid path");
        let main_rendered: BTreeMap<RepoPath, ObjectId> = head.list(&dir)?.into_iter().collect();
        for (path, content) in files.range(dir.clone()..) {
            if !path.as_str().starts_with("rendered/") {
                break;
            }
            if rendered.decided.contains(path) {
                continue;
            }
            if main_rendered.get(path) != Some(&store::blob_id(content)) {
                problems.push(hand_edit(path));
            }
        }
        for path in main_rendered.keys() {
            if !files.contains_key(path)
                && !rendered.decided.contains(path)
                && let Some(content) = head.read(path)?
            {
                rendered
                    .edits
                    .push(store::Edit::write(path.clone(), content));
            }
        }
    }
    let mut out: BTreeMap<&RepoPath, Option<&[u8]>> = files
        .iter()
        .filter(|(p, _)| p.as_str().starts_with("rendered/"))
        .map(|(p, c)| (p, Some(c.as_slice())))
        .collect();
    for edit in &rendered.edits {
        let pushed = files.get(&edit.path);
        let before = head.read(&edit.path)?;
        if pushed.is_some() && pushed != before.as_ref() {
            problems.push(hand_edit(&edit.path));
        }
        out.insert(&edit.path, edit.content.as_deref());
    }
    for (path, content) in out {
        let Some(text) = content.and_then(|c| std::str::from_utf8(c).ok()) else {
            continue;
        };
        if !text.contains(crate::secret::PLACEHOLDER_PREFIX) {
            continue;
        }
        match crate::secret::references(text) {
            Err(e) => problems.push(Diagnostic::file(path.as_str(), e.to_string())),
            Ok(refs) => {
                for (secret, _) in refs {
                    let exists = RepoPath::parse(&format!("secrets/{secret}"))
                        .is_ok_and(|p| files.contains_key(&p));
                    if !exists {
                        problems.push(Diagnostic::file(
                            path.as_str(),
                            format!(
                                "names the secret `{secret}`, which does not exist (secrets/{secret}); \
                                 encrypt it with `mailu-git secret encrypt`"
                            ),
                        ));
                    }
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(Ok(rendered))
    } else {
        Ok(Err(problems))
    }
}

/// The problem of a rendered file the push changed by hand.
fn hand_edit(path: &RepoPath) -> Diagnostic {
    Diagnostic::file(
        path.as_str(),
        format!(
            "edited by hand: rendered files are made by the server from the sources; put your \
             version of this file in {} (or change the template in templates/), or run \
             `mailu-git render` and commit what it writes",
            override_of(path)
        ),
    )
}

/// The source paths (everything but `rendered/`) whose content differs between main and the pushed
/// tree, deletions included.
fn changed_sources(
    head: &Snapshot,
    files: &BTreeMap<RepoPath, Vec<u8>>,
) -> Result<Vec<RepoPath>, store::Error> {
    let mut main: BTreeMap<RepoPath, ObjectId> = BTreeMap::new();
    let mut tops: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
    for path in files.keys() {
        tops.insert(path.as_str().split('/').next().unwrap_or_default());
    }
    for top in [
        "domains",
        "relays",
        "services",
        "secrets",
        "templates",
        "overrides",
        "mailu-overrides",
        "certificates",
    ] {
        tops.insert(top);
    }
    for top in tops {
        if top == "rendered" {
            continue;
        }
        let Ok(p) = RepoPath::parse(top) else {
            continue;
        };
        match head.blob_id(&p)? {
            Some(id) => {
                main.insert(p, id);
            }
            None => main.extend(head.list(&p)?),
        }
    }
    let mut changed: Vec<RepoPath> = files
        .iter()
        .filter(|(p, _)| !p.as_str().starts_with("rendered/"))
        .filter(|(p, c)| main.get(*p) != Some(&store::blob_id(c)))
        .map(|(p, _)| p.clone())
        .collect();
    changed.extend(main.keys().filter(|p| !files.contains_key(*p)).cloned());
    Ok(changed)
}

/// Where an operator's own version of a rendered file goes: `rendered/<service>/<path>` →
/// `overrides/<service>/<path>`.
fn override_of(path: &RepoPath) -> String {
    let rest = path
        .as_str()
        .strip_prefix("rendered/")
        .unwrap_or(path.as_str());
    format!("overrides/{rest}")
}

/// The files in the quarantine directory, relative to it (and so to `objects/` after migration).
fn listing(quarantine: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![PathBuf::new()];
    while let Some(rel) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(quarantine.join(&rel)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = rel.join(entry.file_name());
            match entry.file_type() {
                Ok(t) if t.is_dir() => dirs.push(path),
                Ok(_) => out.push(path),
                Err(_) => {}
            }
        }
    }
    out
}

async fn proc_receive(
    ex: &Exclusive,
    pusher: &str,
    prepared: Option<Prepared>,
    updates: Vec<Update>,
) -> Reply {
    let mut reply = Reply {
        messages: Vec::new(),
        ok: true,
        results: Vec::new(),
    };
    let mut prepared = prepared;
    for u in updates {
        let matching = prepared.as_ref().is_some_and(|p| {
            u.name == store::MAIN && ObjectId::from_hex(u.new.as_bytes()).is_ok_and(|n| n == p.new)
        });
        if !matching {
            reply.results.push(RefResult {
                name: u.name,
                refused: Some("not validated by the server".into()),
                new: None,
            });
            continue;
        }
        let Some(p) = prepared.take() else { continue };
        let meta = CommitMeta {
            author: Person {
                name: pusher.to_owned(),
                email: crate::server::server_person().email,
            },
            committer: crate::server::server_person(),
            summary: if p.summary.is_empty() {
                format!("Push by {pusher}")
            } else {
                p.summary.clone()
            },
            renderer: Some(render::stamp().to_owned()),
            changes: vec![ChangeNote {
                id: ex.change_id().as_str().to_owned(),
                author: pusher.to_owned(),
            }],
            time: None,
        };
        let store = ex.store().clone();
        let committed = tokio::task::spawn_blocking(move || {
            store.commit_pushed(p.old, p.new, &p.edits, &meta, &p.migrated)
        })
        .await;
        match committed {
            Ok(Ok(version)) => {
                // Before git tells the pusher: the API must show the version at once.
                ex.reload().await;
                tracing::info!(version = version.number, pusher, "a push became a version");
                reply.messages.push(format!(
                    "mailu-git: version {} ({}) is your push with the files rendered for it; \
                     `git pull` fast-forwards to it",
                    version.number,
                    short(version.commit)
                ));
                reply.results.push(RefResult {
                    name: u.name,
                    refused: None,
                    new: Some(version.commit.to_string()),
                });
            }
            failed => {
                tracing::error!(?failed, "cannot commit a validated push");
                reply.ok = false;
                reply.results.push(RefResult {
                    name: u.name,
                    refused: Some("the server cannot commit the version (see its log)".into()),
                    new: None,
                });
            }
        }
    }
    reply
}

fn short(id: ObjectId) -> String {
    id.to_hex_with_len(10).to_string()
}
