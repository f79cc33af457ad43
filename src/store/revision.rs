//! What people type to name a version (`41`, `3f2a9c1`, `v1`, `refs/tags/v1`, `main`), parsed once
//! into a [`Revision`] and resolved to a [`VersionInfo`]: a commit with the version trailers on
//! main's FIRST-PARENT chain. Anything else is refused with a message that says why (no such
//! version, an ambiguous short id, a commit that is not a version). The API, the CLI and revert all
//! go through here.
//!
//! Reading rules: digits only are a version number (a short id of digits only needs more characters,
//! or a letter); `main` and `HEAD` are main's newest version; `refs/tags/<name>` is that tag; any
//! other word is a tag if one has that name, else a short or full commit id (4 to 40 hex digits).

use gix::ObjectId;

use super::{Error, MAIN, Store, TAGS, VersionInfo, history, resolve_ref};

/// The fewest hex digits a short commit id may have.
pub const MIN_SHORT_ID: usize = 4;

/// A parsed revision, not yet looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revision {
    /// `main` or `HEAD`: the newest version.
    Main,
    /// A `Mailu-Version` number.
    Number(u64),
    /// An explicit tag ref, `refs/tags/<name>` (the full name is kept).
    Tag(String),
    /// A tag name, or else a short or full commit id: decided when resolving.
    Name(String),
}

/// Why a revision names no version.
#[derive(Debug, thiserror::Error)]
pub enum RevisionError {
    /// The text cannot be a revision at all.
    #[error("`{rev}` is not a revision: {reason}")]
    Malformed { rev: String, reason: &'static str },
    /// A number past the newest (or older than what cleanup kept).
    #[error("no version {number}: {}", newest.map_or_else(|| "main holds no version".to_owned(), |n| format!("the newest is {n}")))]
    NoSuchNumber { number: u64, newest: Option<u64> },
    /// No tag of that name and no object with that id.
    #[error("unknown revision `{0}`: no tag has that name and no commit that id")]
    Unknown(String),
    /// A short id that several objects start with.
    #[error("`{0}` is an ambiguous short id: several objects start with it; give more digits")]
    Ambiguous(String),
    /// The commit exists but is not a version (`why` says how).
    #[error("{rev} is not a version: {why}")]
    NotAVersion { rev: String, why: &'static str },
}

impl Revision {
    /// Reads a revision; only the text's shape is checked here.
    pub fn parse(text: &str) -> Result<Revision, RevisionError> {
        let malformed = |reason| RevisionError::Malformed {
            rev: text.to_owned(),
            reason,
        };
        if text.is_empty() {
            return Err(malformed("it is empty"));
        }
        if text.len() > 255 {
            return Err(malformed("it is longer than 255 bytes"));
        }
        if text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "~^:?*[\\".contains(c))
            || text.contains("..")
            || text.contains("@{")
        {
            return Err(malformed(
                "use a version number, a commit id or a tag name (no spaces, `..`, `~`, `^`, `:`)",
            ));
        }
        if text == "main" || text == "HEAD" || text == MAIN {
            return Ok(Revision::Main);
        }
        if text.bytes().all(|b| b.is_ascii_digit()) {
            return text
                .parse()
                .map(Revision::Number)
                .map_err(|_| malformed("the version number is too large"));
        }
        if let Some(name) = text.strip_prefix(TAGS) {
            if name.is_empty() || name.starts_with('/') || name.ends_with('/') {
                return Err(malformed("no tag name after refs/tags/"));
            }
            return Ok(Revision::Tag(text.to_owned()));
        }
        if text.starts_with("refs/") {
            return Err(malformed(
                "only tags (refs/tags/...) and main name versions",
            ));
        }
        Ok(Revision::Name(text.to_owned()))
    }
}

impl std::fmt::Display for Revision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Revision::Main => f.write_str("main"),
            Revision::Number(n) => write!(f, "{n}"),
            Revision::Tag(name) | Revision::Name(name) => f.write_str(name),
        }
    }
}

impl Store {
    /// The version `rev` names on main's first-parent chain.
    pub fn resolve_version(&self, rev: &Revision) -> Result<VersionInfo, Error> {
        let repo = self.local();
        let head = resolve_ref(&repo, MAIN)?.ok_or_else(|| Error::RevNotFound(MAIN.into()))?;
        let commit = match rev {
            Revision::Main => {
                return history::nearest_info(&repo, head)?.ok_or(
                    RevisionError::NoSuchNumber {
                        number: 0,
                        newest: None,
                    }
                    .into(),
                );
            }
            Revision::Number(n) => {
                return match history::find_version(&repo, head, *n)? {
                    Some(id) => history::info(&repo, id)?.ok_or_else(|| Error::NotACommit(id)),
                    None => Err(RevisionError::NoSuchNumber {
                        number: *n,
                        newest: history::nearest_version(&repo, head)?,
                    }
                    .into()),
                };
            }
            Revision::Tag(name) => {
                peel_tag(&repo, name)?.ok_or_else(|| RevisionError::Unknown(rev.to_string()))?
            }
            Revision::Name(name) => match peel_tag(&repo, &format!("{TAGS}{name}"))? {
                Some(commit) => commit,
                None => lookup_id(&repo, name)?,
            },
        };
        let not = |why| RevisionError::NotAVersion {
            rev: rev.to_string(),
            why,
        };
        let info = history::info(&repo, commit)?.ok_or(not(
            "it has no Mailu-Version trailer (an intermediate commit of a push, or not on main)",
        ))?;
        // A version of another history (a branch of a clone, a commit cleanup squashed away) may
        // carry a number that main also has: only main's own commit of that number counts.
        if history::find_version(&repo, head, info.number)? != Some(commit) {
            return Err(not("it is not on main's first-parent history").into());
        }
        Ok(info)
    }
}

/// The commit a tag ref reaches, `None` if there is no such tag.
fn peel_tag(repo: &gix::Repository, name: &str) -> Result<Option<ObjectId>, Error> {
    let Some(mut reference) = repo
        .try_find_reference(name)
        .map_err(Error::git("read a tag"))?
    else {
        return Ok(None);
    };
    match reference.peel_to_commit() {
        Ok(commit) => Ok(Some(commit.id)),
        Err(_) => Err(RevisionError::NotAVersion {
            rev: name.to_owned(),
            why: "the tag does not point at a commit",
        }
        .into()),
    }
}

/// The commit a full or short hex id names.
fn lookup_id(repo: &gix::Repository, text: &str) -> Result<ObjectId, Error> {
    let unknown = || Error::Revision(RevisionError::Unknown(text.to_owned()));
    if text.len() < MIN_SHORT_ID || text.len() > 40 || !text.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(unknown());
    }
    let lower = text.to_ascii_lowercase();
    let id = if lower.len() == 40 {
        let id = ObjectId::from_hex(lower.as_bytes()).map_err(|_| unknown())?;
        if !repo.has_object(id) {
            return Err(unknown());
        }
        id
    } else {
        let prefix = gix::hash::Prefix::from_hex(&lower).map_err(|_| unknown())?;
        match repo
            .objects
            .lookup_prefix(prefix, None)
            .map_err(Error::git("look up a short id"))?
        {
            None => return Err(unknown()),
            Some(Err(())) => return Err(RevisionError::Ambiguous(text.to_owned()).into()),
            Some(Ok(id)) => id,
        }
    };
    let object = repo.find_object(id).map_err(Error::git("read an object"))?;
    if object.kind != gix::object::Kind::Commit {
        return Err(RevisionError::NotAVersion {
            rev: text.to_owned(),
            why: "it is not a commit",
        }
        .into());
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{git, meta, p, sample};
    use super::super::{Edit, RefMove};
    use super::*;

    #[test]
    fn resolves_numbers_ids_tags_and_refuses_what_is_no_version() {
        let (_dir, store) = sample();
        let v1 = store.head().unwrap();
        let v2 = store
            .commit(v1, &[Edit::write(p("a.toml"), "a = 1\n")], &meta("two"))
            .unwrap();
        let resolve = |text: &str| store.resolve_version(&Revision::parse(text).unwrap());
        assert_eq!(resolve("1").unwrap().commit, v1);
        assert_eq!(resolve("main").unwrap().number, 2);
        assert_eq!(resolve(&v2.commit.to_string()).unwrap().number, 2);
        let short = v2.commit.to_hex_with_len(12).to_string();
        assert_eq!(resolve(&short).unwrap().number, 2);
        let upper = short.to_ascii_uppercase();
        assert_eq!(resolve(&upper).unwrap().number, 2);
        let message = resolve("3").unwrap_err().to_string();
        assert_eq!(message, "no version 3: the newest is 2");
        assert!(matches!(
            resolve("nope").unwrap_err(),
            Error::Revision(RevisionError::Unknown(_))
        ));
        // A tag, by short and full name.
        store
            .move_refs(
                &[RefMove {
                    name: "refs/tags/v1".into(),
                    expected: None,
                    new: Some(v1),
                }],
                "tag",
                &meta("x").author,
            )
            .unwrap();
        assert_eq!(resolve("v1").unwrap().number, 1);
        assert_eq!(resolve("refs/tags/v1").unwrap().number, 1);
        // A tree is not a commit; a commit without trailers is not a version.
        let tree = v2.tree.to_string();
        assert!(matches!(
            resolve(&tree).unwrap_err(),
            Error::Revision(RevisionError::NotAVersion { .. })
        ));
        let plain = git(
            store.path(),
            &[
                "commit-tree",
                "-p",
                &v2.commit.to_string(),
                "-m",
                "plain",
                &tree,
            ],
        );
        let err = resolve(plain.trim()).unwrap_err().to_string();
        assert!(err.contains("is not a version"), "{err}");
        // A version-looking commit that is not on main's first-parent history.
        let side = git(
            store.path(),
            &[
                "commit-tree",
                "-p",
                &v1.to_string(),
                "-m",
                "side\n\nMailu-Version: 2\nMailu-Renderer: none",
                &tree,
            ],
        );
        let err = resolve(side.trim()).unwrap_err().to_string();
        assert!(err.contains("not on main's first-parent history"), "{err}");
    }

    #[test]
    fn commit_tree_makes_a_version_with_an_old_tree() {
        let (_dir, store) = sample();
        let v1 = store.head().unwrap();
        let v1_tree = store
            .snapshot(&crate::store::Rev::Commit(v1))
            .unwrap()
            .tree();
        let v2 = store
            .commit(v1, &[Edit::write(p("a.toml"), "a = 1\n")], &meta("two"))
            .unwrap();
        let v3 = store
            .commit_tree(v2.commit, v1_tree, &[], &meta("Revert to version 1"))
            .unwrap();
        assert_eq!((v3.number, v3.tree), (3, v1_tree));
        assert_eq!(store.head().unwrap(), v3.commit);
        let parent = git(store.path(), &["rev-parse", &format!("{}^", v3.commit)]);
        assert_eq!(parent.trim(), v2.commit.to_string());
        // Compare-and-swap: on a stale head nothing moves.
        let err = store
            .commit_tree(v2.commit, v1_tree, &[], &meta("again"))
            .unwrap_err();
        assert!(matches!(err, Error::RefMoved { .. }));
        // With edits on top of the old tree.
        let v4 = store
            .commit_tree(
                v3.commit,
                v1_tree,
                &[Edit::write(p("c.toml"), "c = 1\n")],
                &meta("with edits"),
            )
            .unwrap();
        let files = store
            .snapshot(&crate::store::Rev::Commit(v4.commit))
            .unwrap()
            .files()
            .unwrap();
        assert!(files.contains_key(&p("c.toml")) && !files.contains_key(&p("a.toml")));
    }

    #[test]
    fn parse_reads_each_form() {
        assert_eq!(Revision::parse("41").unwrap(), Revision::Number(41));
        assert_eq!(Revision::parse("main").unwrap(), Revision::Main);
        assert_eq!(Revision::parse("HEAD").unwrap(), Revision::Main);
        assert_eq!(
            Revision::parse("refs/tags/v1").unwrap(),
            Revision::Tag("refs/tags/v1".into())
        );
        assert_eq!(Revision::parse("v1").unwrap(), Revision::Name("v1".into()));
        assert_eq!(
            Revision::parse("3f2a9c1").unwrap(),
            Revision::Name("3f2a9c1".into())
        );
        for bad in [
            "",
            "a b",
            "main~1",
            "HEAD^",
            "a..b",
            "refs/heads/other",
            "refs/tags/",
            "x:y",
            "99999999999999999999999",
            "main@{1}",
        ] {
            assert!(
                matches!(Revision::parse(bad), Err(RevisionError::Malformed { .. })),
                "{bad}"
            );
        }
    }
}
