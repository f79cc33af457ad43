//! Commit messages of versions: the trailers that make a commit a version (`Mailu-Version`,
//! `Mailu-Renderer`, `Mailu-Change`), written from a [`CommitMeta`] and parsed back into a
//! [`VersionInfo`]. Only text here; reading commits is `history`'s job.

use gix::ObjectId;

use super::Error;

const VERSION: &str = "Mailu-Version";
const RENDERER: &str = "Mailu-Renderer";
const CHANGE: &str = "Mailu-Change";

/// A name and an email address, as in a git signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    pub email: String,
}

/// One acknowledged change that went into a version: its id and who made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeNote {
    /// No whitespace.
    pub id: String,
    /// Free text on one line (a token name, `push`, ...).
    pub author: String,
}

/// What a version's commit says besides its tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitMeta {
    pub author: Person,
    pub committer: Person,
    /// The first line of the message.
    pub summary: String,
    /// The renderer's version (`Mailu-Renderer`); `None` writes `none` (nothing rendered yet).
    pub renderer: Option<String>,
    pub changes: Vec<ChangeNote>,
    /// The author and committer time, seconds since the Unix epoch (UTC); `None` is now. Tests and
    /// benchmarks date versions in the past to exercise cleanup's age policy.
    pub time: Option<i64>,
}

impl CommitMeta {
    /// Metadata with the same author and committer and no changes.
    pub fn new(who: Person, summary: impl Into<String>) -> Self {
        CommitMeta {
            author: who.clone(),
            committer: who,
            summary: summary.into(),
            renderer: None,
            changes: Vec::new(),
            time: None,
        }
    }

    /// Refuses anything that would not survive a round trip through a commit message and git's own
    /// signature format.
    pub(super) fn check(&self) -> Result<(), Error> {
        let fail = |what: &str| Err(Error::InvalidMeta(what.to_owned()));
        let one_line = |s: &str| !s.contains(['\n', '\r', '\0']);
        for p in [&self.author, &self.committer] {
            if !one_line(&p.name) || !one_line(&p.email) || p.name.contains(['<', '>']) {
                return fail("a name or email holds a line break or `<`/`>`");
            }
            if p.email.contains(['<', '>']) {
                return fail("an email holds `<` or `>`");
            }
        }
        if self.summary.trim().is_empty() || !one_line(&self.summary) {
            return fail("the summary must be one non-empty line");
        }
        if let Some(r) = &self.renderer
            && (r.is_empty() || r.contains(char::is_whitespace))
        {
            return fail("the renderer must be one word");
        }
        for c in &self.changes {
            if c.id.is_empty() || c.id.contains(char::is_whitespace) {
                return fail("a change id must be one non-empty word");
            }
            if c.author.trim().is_empty() || !one_line(&c.author) {
                return fail("a change author must be one non-empty line");
            }
        }
        Ok(())
    }

    /// The commit message of version `number`.
    pub(super) fn message(&self, number: u64) -> String {
        let mut m = format!("{}\n\n{VERSION}: {number}\n", self.summary.trim());
        let renderer = self.renderer.as_deref().unwrap_or("none");
        m.push_str(&format!("{RENDERER}: {renderer}\n"));
        for c in &self.changes {
            m.push_str(&format!("{CHANGE}: {} {}\n", c.id, c.author.trim()));
        }
        m
    }
}

/// One version, as read back from its commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    pub commit: ObjectId,
    pub number: u64,
    /// Commit time, seconds since the Unix epoch.
    pub time: i64,
    pub summary: String,
    /// The commit's author name, then every other distinct change author, in order.
    pub authors: Vec<String>,
    /// `Mailu-Renderer`, `None` when it says `none`.
    pub renderer: Option<String>,
    pub changes: Vec<ChangeNote>,
}

/// The trailers of a message, if it is a version's: `(number, renderer, changes)`.
pub(super) struct Trailers {
    pub number: u64,
    pub renderer: Option<String>,
    pub changes: Vec<ChangeNote>,
}

/// Reads the trailer block (the last paragraph) of a message. A message without a valid
/// `Mailu-Version` trailer is not a version's and gives `None`.
pub(super) fn parse(message: &str) -> Option<Trailers> {
    let body = message.trim_end();
    let last = body.rsplit("\n\n").next()?;
    let mut number = None;
    let mut renderer = None;
    let mut changes = Vec::new();
    for line in last.lines() {
        let Some((key, value)) = line.split_once(": ") else {
            continue;
        };
        match key {
            VERSION => number = value.trim().parse::<u64>().ok(),
            RENDERER => {
                let v = value.trim();
                renderer = (v != "none").then(|| v.to_owned());
            }
            CHANGE => {
                let (id, author) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
                changes.push(ChangeNote {
                    id: id.to_owned(),
                    author: author.to_owned(),
                });
            }
            _ => {}
        }
    }
    Some(Trailers {
        number: number?,
        renderer,
        changes,
    })
}

/// The first line of a message.
pub(super) fn summary(message: &str) -> String {
    message.lines().next().unwrap_or("").trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> CommitMeta {
        let mut m = CommitMeta::new(
            Person {
                name: "API".into(),
                email: "api@mailu-git".into(),
            },
            "Add alice",
        );
        m.changes = vec![
            ChangeNote {
                id: "c1".into(),
                author: "admin token".into(),
            },
            ChangeNote {
                id: "c2".into(),
                author: "bob".into(),
            },
        ];
        m
    }

    #[test]
    fn message_round_trips() {
        let m = meta();
        m.check().unwrap();
        let text = m.message(41);
        assert_eq!(
            text,
            "Add alice\n\nMailu-Version: 41\nMailu-Renderer: none\n\
             Mailu-Change: c1 admin token\nMailu-Change: c2 bob\n"
        );
        let t = parse(&text).unwrap();
        assert_eq!(t.number, 41);
        assert_eq!(t.renderer, None);
        assert_eq!(t.changes, m.changes);
        assert_eq!(summary(&text), "Add alice");
    }

    #[test]
    fn a_message_without_trailers_is_not_a_version() {
        assert!(parse("fix typo\n\nSigned-off-by: x <y>\n").is_none());
        assert!(parse("fix typo\n").is_none());
        // A version trailer in the body, not the last paragraph, does not count.
        assert!(parse("x\n\nMailu-Version: 3\n\nmore text\n").is_none());
    }

    #[test]
    fn bad_metadata_is_refused() {
        let mut m = meta();
        m.summary = "two\nlines".into();
        assert!(matches!(m.check(), Err(Error::InvalidMeta(_))));
        let mut m = meta();
        m.changes[0].id = "has space".into();
        assert!(m.check().is_err());
        let mut m = meta();
        m.author.name = "a <b>".into();
        assert!(m.check().is_err());
    }
}
