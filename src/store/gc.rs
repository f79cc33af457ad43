//! Cleanup's rewrite of history: versions the retention policy no longer keeps are squashed into
//! one new root commit, and everything from the oldest kept version to main's head is rewritten on
//! top of it. Pure store work: objects are written and synced, then main, the tags and the hold move
//! in one compare-and-swap transaction. Pruning the objects left unreachable is the caller's job
//! (`crate::gc`), as is holding writers off meanwhile.
//!
//! What is kept, precisely:
//! - **The cut** is the oldest version the policy keeps ([`History::keeps`]: among the last
//!   `keep_last`, or younger than `keep_days` by its committer date against `now`), moved further
//!   back to the newest version at or before each tag's commit and the hold's commit. Tags and the
//!   hold are only followed when their commit is on main's first-parent chain (pushes only create
//!   tags at versions); one elsewhere is left where it is and keeps its own history alive.
//! - Nothing is done when nothing but the root commit is older than the cut: a root standing for
//!   just itself would remove nothing.
//! - **The new root** stands for every version older than the cut: the tree, author, committer and
//!   dates of the newest of them (version `K`), the message "Versions 1–K squashed by cleanup on
//!   <date>" with the trailers `Mailu-Version: K` and K's `Mailu-Renderer`. So version K still
//!   resolves (`find_version`), with its tree, and the next version's number is still K + 1.
//! - **Rewritten commits**: each commit from the cut to main's head on the first-parent chain,
//!   with the same tree, author, committer, dates, encoding and message; its first parent is the
//!   rewritten one (the cut's is the new root). A parent other than the first (a push's merge) is
//!   kept, as its rewritten id, only when it is itself on the rewritten chain; any other is dropped:
//!   it is side history of a push, whose result is in the merge's tree. A signature header
//!   (`gpgsig`) is dropped: it signed the old parents. Trees are not touched, so rendered files,
//!   bundles and their ETags (tree and blob ids) do not change.
//! - **Refs**: main, every tag on the rewritten chain (a lightweight tag to the rewritten commit;
//!   an annotated one to a new tag object with the same name, tagger and message) and the hold.

use std::collections::HashMap;

use gix::{ObjectId, bstr::ByteSlice};

use super::{Error, MAIN, Person, RefMove, Store, durable, message, refs::HOLD};
use crate::model::settings::History;

/// What a cleanup did to the refs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Squashed {
    /// The oldest and newest version numbers squashed into the new root.
    pub first: u64,
    pub last: u64,
    /// How many commits were squashed (versions and a push's intermediate commits).
    pub removed_commits: usize,
    /// How many commits were rewritten onto the new root.
    pub rewritten: usize,
    /// The new root commit.
    pub root: ObjectId,
    /// Every ref moved, from its old to its new value.
    pub moved: Vec<RefMove>,
}

/// The answer of [`Store::squash`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every commit on main's first-parent chain is kept: nothing was written.
    NothingToClean,
    Squashed(Squashed),
}

/// One commit of main's first-parent chain.
struct Link {
    id: ObjectId,
    /// `Mailu-Version`, `None` for a push's intermediate commit.
    number: Option<u64>,
    /// Committer time, seconds since the Unix epoch.
    time: i64,
}

impl Store {
    /// Squashes the versions `policy` does not keep (ages measured at `now`, seconds since the
    /// Unix epoch) into a new root and rewrites the rest of main on top of it; see the module
    /// documentation for what is kept. Main, tags and the hold move in one compare-and-swap: if any
    /// moved meanwhile, nothing changes and the error is [`Error::RefConflict`]. The caller holds
    /// writers off (a version committed meanwhile makes the transaction fail, it is not lost).
    pub fn squash(&self, policy: &History, now: i64, by: &Person) -> Result<Outcome, Error> {
        let repo = self.local();
        let head = self.head()?;
        let chain = first_parent_chain(&repo, head)?;
        let index: HashMap<ObjectId, usize> =
            chain.iter().enumerate().map(|(i, l)| (l.id, i)).collect();
        // Index 0 is the head; larger is older. The cut is the largest index kept.
        let mut cut = 0;
        let mut rank = 0;
        for (i, link) in chain.iter().enumerate() {
            if link.number.is_none() {
                continue;
            }
            let age = u64::try_from(now.saturating_sub(link.time)).unwrap_or(0);
            if policy.keeps(rank, std::time::Duration::from_secs(age)) {
                cut = i;
            }
            rank += 1;
        }
        let tags = self.tags()?;
        let hold = self.hold()?;
        let pinned = tags.iter().map(|t| t.commit).chain(hold);
        for commit in pinned {
            let Some(&at) = index.get(&commit) else {
                continue;
            };
            // The newest version at or before the pinned commit.
            let version = (at..chain.len())
                .find(|&i| chain[i].number.is_some())
                .unwrap_or(chain.len() - 1);
            cut = cut.max(version);
        }
        // Only the root older than the cut: squashing it alone would write the same tree again.
        if cut + 2 >= chain.len() {
            return Ok(Outcome::NothingToClean);
        }
        let removed = &chain[cut + 1..];
        // The root of a repository is always a version (version 1, or an earlier cleanup's root).
        let newest_removed = removed
            .iter()
            .find(|l| l.number.is_some())
            .ok_or_else(|| Error::InvalidMeta("no version older than the cut".into()))?;
        let last = newest_removed.number.unwrap_or_default();
        let first = first_number(&repo, removed)?;
        let mut written = Vec::new();
        let root = write_root(&repo, newest_removed.id, first, last, now)?;
        written.push(root);
        // Rewrite from the cut up to the head.
        let mut map: HashMap<ObjectId, ObjectId> = HashMap::new();
        let mut parent = root;
        for link in chain[..=cut].iter().rev() {
            let new = rewrite_commit(&repo, link.id, parent, &map)?;
            map.insert(link.id, new);
            written.push(new);
            parent = new;
        }
        let mut moved = vec![RefMove {
            name: MAIN.into(),
            expected: Some(head),
            new: Some(map[&head]),
        }];
        for tag in &tags {
            let Some(&commit) = map.get(&tag.commit) else {
                continue;
            };
            let new = if tag.target == tag.commit {
                commit
            } else {
                match retag(&repo, tag.target, commit)? {
                    Some(id) => {
                        written.push(id);
                        id
                    }
                    None => continue,
                }
            };
            moved.push(RefMove {
                name: tag.name.clone(),
                expected: Some(tag.target),
                new: Some(new),
            });
        }
        if let Some(hold) = hold
            && let Some(&new) = map.get(&hold)
        {
            moved.push(RefMove {
                name: HOLD.into(),
                expected: Some(hold),
                new: Some(new),
            });
        }
        durable::sync_objects(&self.path.join("objects"), &written)?;
        let note = format!("cleanup: versions {first}-{last} squashed");
        self.move_refs(&moved, &note, by)?;
        Ok(Outcome::Squashed(Squashed {
            first,
            last,
            removed_commits: removed.len(),
            rewritten: map.len(),
            root,
            moved,
        }))
    }
}

/// Main's first-parent chain from `head` back to its root, newest first.
fn first_parent_chain(repo: &gix::Repository, head: ObjectId) -> Result<Vec<Link>, Error> {
    let mut chain = Vec::new();
    let mut next = Some(head);
    while let Some(id) = next {
        let commit = repo.find_commit(id).map_err(Error::git("read a commit"))?;
        let decoded = commit.decode().map_err(Error::git("decode a commit"))?;
        let time = decoded
            .committer()
            .map_err(Error::git("read a committer"))?
            .seconds();
        chain.push(Link {
            id,
            number: message::parse(&decoded.message.to_str_lossy()).map(|t| t.number),
            time,
        });
        next = decoded.parents().next();
    }
    Ok(chain)
}

/// The oldest version number the removed commits stand for: an earlier cleanup's root says
/// "Versions A–B squashed", which stands for A onwards.
fn first_number(repo: &gix::Repository, removed: &[Link]) -> Result<u64, Error> {
    let Some(oldest) = removed.iter().rev().find(|l| l.number.is_some()) else {
        return Ok(1);
    };
    let commit = repo
        .find_commit(oldest.id)
        .map_err(Error::git("read a commit"))?;
    let decoded = commit.decode().map_err(Error::git("decode a commit"))?;
    let summary = message::summary(&decoded.message.to_str_lossy());
    Ok(squashed_from(&summary).unwrap_or(oldest.number.unwrap_or(1)))
}

/// `A` of a root's summary "Versions A–B squashed by cleanup on ...".
fn squashed_from(summary: &str) -> Option<u64> {
    let rest = summary.strip_prefix("Versions ")?;
    let (a, _) = rest.split_once('–')?;
    a.parse().ok()
}

/// The root standing for versions `first`..=`last`: the tree, author, committer and renderer of
/// `newest` (version `last`).
fn write_root(
    repo: &gix::Repository,
    newest: ObjectId,
    first: u64,
    last: u64,
    now: i64,
) -> Result<ObjectId, Error> {
    let commit = repo
        .find_commit(newest)
        .map_err(Error::git("read a commit"))?;
    let old = commit
        .decode()
        .map_err(Error::git("decode a commit"))?
        .into_owned()
        .map_err(Error::git("decode a commit"))?;
    let trailers = message::parse(&old.message.to_str_lossy());
    let renderer = trailers
        .and_then(|t| t.renderer)
        .unwrap_or_else(|| "none".to_owned());
    let date = chrono::DateTime::from_timestamp(now, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| now.to_string());
    let text = format!(
        "Versions {first}–{last} squashed by cleanup on {date}\n\n\
         Mailu-Version: {last}\nMailu-Renderer: {renderer}\n"
    );
    let root = gix::objs::Commit {
        tree: old.tree,
        parents: Default::default(),
        author: old.author,
        committer: old.committer,
        encoding: None,
        message: text.into(),
        extra_headers: Vec::new(),
    };
    Ok(repo
        .write_object(&root)
        .map_err(Error::git("write a commit"))?
        .detach())
}

/// `id` written again with `first_parent`; other parents kept when rewritten (`map`), else dropped.
fn rewrite_commit(
    repo: &gix::Repository,
    id: ObjectId,
    first_parent: ObjectId,
    map: &HashMap<ObjectId, ObjectId>,
) -> Result<ObjectId, Error> {
    let commit = repo.find_commit(id).map_err(Error::git("read a commit"))?;
    let mut owned = commit
        .decode()
        .map_err(Error::git("decode a commit"))?
        .into_owned()
        .map_err(Error::git("decode a commit"))?;
    let others: Vec<ObjectId> = owned
        .parents
        .iter()
        .skip(1)
        .filter_map(|p| map.get(p).copied())
        .collect();
    owned.parents = std::iter::once(first_parent).chain(others).collect();
    owned
        .extra_headers
        .retain(|(name, _)| !name.starts_with(b"gpgsig"));
    Ok(repo
        .write_object(&owned)
        .map_err(Error::git("write a commit"))?
        .detach())
}

/// A copy of the annotated tag `tag` pointing at `commit`; `None` when `tag` does not point at a
/// commit directly (a tag of a tag), which is then left where it is.
fn retag(
    repo: &gix::Repository,
    tag: ObjectId,
    commit: ObjectId,
) -> Result<Option<ObjectId>, Error> {
    let object = repo.find_object(tag).map_err(Error::git("read a tag"))?;
    let Ok(tag) = object.try_into_tag() else {
        return Ok(None);
    };
    let mut owned = tag
        .decode()
        .map_err(Error::git("decode a tag"))?
        .into_owned()
        .map_err(Error::git("decode a tag"))?;
    if owned.target_kind != gix::object::Kind::Commit {
        return Ok(None);
    }
    owned.target = commit;
    // A signature signed the old target.
    owned.signature = None;
    Ok(Some(
        repo.write_object(&owned)
            .map_err(Error::git("write a tag"))?
            .detach(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_earlier_roots_range_is_read_back() {
        assert_eq!(
            squashed_from("Versions 1–40 squashed by cleanup on 2026-01-01 03:30 UTC"),
            Some(1)
        );
        assert_eq!(squashed_from("Add alice"), None);
    }
}
