//! Refs other than main's version commits: the hold ref that suspends deployment, what is deployed,
//! tags, and moving several refs at once by compare-and-swap (suspend, resume, cleanup's rewrite).
//!
//! Every move here is checked against the value the caller read (`expected`), made durable before
//! it returns (the lock files before the rename, the refs and their logs after), and recorded in
//! the reflog. The objects a ref is moved to must already be durable: the callers move refs to
//! commits that are on main already, or that they synced themselves.

use gix::{
    ObjectId,
    refs::{
        Target,
        transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog},
    },
};

use super::{Durability, Error, Person, Store, durable, resolve_ref};
use crate::store::commit::LOCK_TIMEOUT;

/// Present = deployment is suspended: the deployed version is this commit, whatever main says.
pub const HOLD: &str = "refs/mailu/hold";

/// Where operators' tags live; cleanup keeps whatever a tag reaches.
pub const TAGS: &str = "refs/tags/";

/// What is deployed: the hold's commit while suspended, else main's head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployed {
    pub commit: ObjectId,
    /// Whether the hold ref pins it (deployment suspended).
    pub held: bool,
}

/// One ref move of [`Store::move_refs`]: from `expected` (`None`: must not exist) to `new` (`None`:
/// delete it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefMove {
    pub name: String,
    pub expected: Option<ObjectId>,
    pub new: Option<ObjectId>,
}

/// One tag: its full ref name, the object it points at (an annotated tag object or a commit) and
/// the commit it reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub name: String,
    pub target: ObjectId,
    pub commit: ObjectId,
}

impl Store {
    /// The commit `refs/mailu/hold` points at, `None` when deployment is not suspended.
    pub fn hold(&self) -> Result<Option<ObjectId>, Error> {
        resolve_ref(&self.local(), HOLD)
    }

    /// The deployed version: the hold if it exists, else main's head.
    pub fn deployed(&self) -> Result<Deployed, Error> {
        match self.hold()? {
            Some(commit) => Ok(Deployed { commit, held: true }),
            None => Ok(Deployed {
                commit: self.head()?,
                held: false,
            }),
        }
    }

    /// When deployment was suspended (seconds since the Unix epoch): the oldest entry of the hold's
    /// reflog, which git removes with the ref, so it is the entry that created the hold. `None`
    /// when not suspended or the log is gone.
    pub fn hold_since(&self) -> Result<Option<i64>, Error> {
        let repo = self.local();
        let Some(reference) = repo
            .try_find_reference(HOLD)
            .map_err(Error::git("read the hold"))?
        else {
            return Ok(None);
        };
        let mut platform = reference.log_iter();
        let Ok(Some(mut lines)) = platform.all() else {
            return Ok(None);
        };
        Ok(lines
            .next()
            .and_then(Result::ok)
            .map(|line| line.signature.seconds()))
    }

    /// Every tag with the commit it reaches, sorted by name. A tag that reaches no commit (a tagged
    /// blob or tree, which no push can create) is left out.
    pub fn tags(&self) -> Result<Vec<Tag>, Error> {
        let repo = self.local();
        let platform = repo.references().map_err(Error::git("list references"))?;
        let iter = platform
            .prefixed(TAGS)
            .map_err(Error::git("list the tags"))?;
        let mut tags = Vec::new();
        for reference in iter {
            let mut reference = reference.map_err(|e| Error::Git {
                action: "read a tag",
                source: gix::Error::from_error(e),
            })?;
            let name = reference.name().as_bstr().to_string();
            let Some(target) = reference.target().try_id().map(ToOwned::to_owned) else {
                continue;
            };
            let Ok(commit) = reference.peel_to_commit() else {
                continue;
            };
            tags.push(Tag {
                name,
                target,
                commit: commit.id,
            });
        }
        tags.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(tags)
    }

    /// The message of the annotated tag object `id` (trailing blank lines trimmed), `None` if `id`
    /// is not a tag object.
    pub fn tag_message(&self, id: ObjectId) -> Result<Option<String>, Error> {
        use gix::bstr::ByteSlice;
        let repo = self.local();
        let object = repo.find_object(id).map_err(Error::git("read a tag"))?;
        let Ok(tag) = object.try_into_tag() else {
            return Ok(None);
        };
        let decoded = tag.decode().map_err(Error::git("decode a tag"))?;
        Ok(Some(decoded.message.to_str_lossy().trim_end().to_owned()))
    }

    /// Moves every ref of `moves` in one transaction, each only if it still has its `expected`
    /// value; otherwise nothing moves and the answer is [`Error::RefConflict`] naming the first ref
    /// that differs. Durable when it returns `Ok`. `message` goes to each ref's log, with `by` as
    /// the committer of the log entry.
    pub fn move_refs(&self, moves: &[RefMove], message: &str, by: &Person) -> Result<(), Error> {
        if moves.is_empty() {
            return Ok(());
        }
        let repo = self.local();
        let edits = moves
            .iter()
            .map(|m| {
                let name = m
                    .name
                    .as_str()
                    .try_into()
                    .map_err(|_| Error::RevNotFound(m.name.clone()))?;
                let expected = match m.expected {
                    Some(id) => PreviousValue::MustExistAndMatch(Target::Object(id)),
                    None => PreviousValue::MustNotExist,
                };
                let change = match m.new {
                    Some(new) => Change::Update {
                        log: LogChange {
                            mode: RefLog::AndReference,
                            force_create_reflog: true,
                            message: message.into(),
                        },
                        expected,
                        new: Target::Object(new),
                    },
                    None => Change::Delete {
                        expected,
                        log: RefLog::AndReference,
                    },
                };
                Ok(RefEdit {
                    change,
                    name,
                    deref: false,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let fail = gix::lock::acquire::Fail::AfterDurationWithBackoff(LOCK_TIMEOUT);
        let transaction = match repo.refs.transaction().prepare(edits, fail, fail) {
            Ok(t) => t,
            Err(e) => return Err(self.conflict(&repo, moves, e)),
        };
        // gix accepts "must not exist" for a ref that already has the new value (a no-op); we
        // don't: a second suspend read "no hold" and must learn otherwise. The refs are locked
        // now, so what we read is what the transaction would replace.
        for m in moves {
            let actual = direct_target(&repo, &m.name)?;
            if actual != m.expected {
                drop(transaction);
                return Err(Error::RefConflict {
                    name: m.name.clone(),
                    expected: m.expected,
                    actual,
                });
            }
        }
        // The lock files hold the new values; syncing them before the rename means a crash never
        // leaves an empty ref.
        match self.durability {
            Durability::Files => {
                for m in moves
                    .iter()
                    .filter(|m| m.new.is_some() && m.new != m.expected)
                {
                    durable::sync_path(&self.path.join(format!("{}.lock", m.name)))?;
                }
            }
            Durability::Filesystem => durable::sync_filesystem(&self.path)?,
        }
        let committer = super::commit::signature(by);
        let mut time = gix::date::parse::TimeBuf::default();
        transaction
            .commit(Some(committer.to_ref(&mut time)))
            .map_err(Error::git("move refs"))?;
        match self.durability {
            Durability::Files => {
                for m in moves {
                    match m.new {
                        Some(_) => durable::sync_ref(&self.path, &m.name)?,
                        // The ref file is gone: its directory (and the log's) record that.
                        None => durable::sync_gone_ref(&self.path, &m.name)?,
                    }
                }
                Ok(())
            }
            Durability::Filesystem => durable::sync_filesystem(&self.path),
        }
    }

    /// Which ref made a transaction fail: the first whose value is not what the caller expected.
    fn conflict(&self, repo: &gix::Repository, moves: &[RefMove], e: gix::Error) -> Error {
        for m in moves {
            match direct_target(repo, &m.name) {
                Ok(actual) if actual != m.expected => {
                    return Error::RefConflict {
                        name: m.name.clone(),
                        expected: m.expected,
                        actual,
                    };
                }
                Ok(_) => {}
                Err(err) => return err,
            }
        }
        Error::Git {
            action: "lock refs",
            source: e,
        }
    }
}

/// The object a ref points at, not peeled (an annotated tag's ref gives the tag object), `None` if
/// the ref does not exist. What [`Store::move_refs`] compares with: [`RefMove::expected`] of a tag
/// is the value [`Store::tags`] reads as its `target`.
fn direct_target(repo: &gix::Repository, name: &str) -> Result<Option<ObjectId>, Error> {
    let reference = repo
        .try_find_reference(name)
        .map_err(Error::git("read a reference"))?;
    match reference {
        None => Ok(None),
        Some(mut r) => match r.target().try_id() {
            Some(id) => Ok(Some(id.to_owned())),
            // A symbolic ref: what it names.
            None => Ok(Some(
                r.peel_to_id()
                    .map_err(Error::git("peel a reference"))?
                    .detach(),
            )),
        },
    }
}
