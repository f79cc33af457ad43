//! Forward migration of the repository format (`format` in `mailu.toml`): an ordered list of
//! [`Step`]s, step N taking a whole tree of format N (path → bytes: sources, secrets, rendered
//! files) to format N + 1, and [`migrate`], which applies every step from a tree's format up to
//! this build's.
//!
//! Why whole trees and plain functions: a format change may move settings between files, rename
//! folders or rewrite every user, so a step sees everything and returns everything; keeping it a
//! pure function of the tree lets the server run the steps at start without a lock dance, lets a
//! test run them on synthetic trees, and makes "a failing step writes nothing" a property of the
//! caller (it commits only the final tree). Each step has a one-line description that ends up in
//! the upgrade version's summary.
//!
//! [`migrate`] sets `format` itself after each step (keeping the file's comments), so a step cannot
//! forget it. It does not validate the result: the caller loads the final tree under today's rules
//! (`model::load`) and renders it, and refuses the whole upgrade if either fails. Not here: the
//! journal, committing, rendering (`versioner::migrate` does that at start), or refusing a newer
//! format at start (`server`), though [`migrate`] refuses one too.
//!
//! Today [`STEPS`] is empty: format 1 is the first. The list only grows: a step, once released,
//! is never changed, since repositories of its format may exist anywhere.

use std::collections::BTreeMap;

use super::RepoPath;
use super::settings;

/// A whole repository tree: path → content.
pub type Tree = BTreeMap<RepoPath, Vec<u8>>;

/// One migration step: takes a tree of format [`Step::from`] to format `from + 1`.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// The format this step reads; it writes `from + 1`.
    pub from: u32,
    /// What the step does, one line (it goes into the upgrade version's summary).
    pub description: &'static str,
    /// Rewrites the tree in place; an error is one line saying what in the tree it cannot migrate
    /// (naming the file). `format` is set by [`migrate`] after the step.
    pub apply: fn(&mut Tree) -> Result<(), String>,
}

/// This build's steps, oldest first: `STEPS[i].from` is `FORMAT - STEPS.len() + i`, and the last
/// one writes [`settings::FORMAT`] (a unit test holds the list to that).
pub const STEPS: &[Step] = &[];

/// An upgrade that was carried out: from which format to which, and the steps, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
    pub from: u32,
    pub to: u32,
    /// The description of every step applied, in order.
    pub steps: Vec<&'static str>,
}

impl Upgrade {
    /// The upgrade version's summary: `Upgrade the configuration from format A to B: <steps>`.
    pub fn summary(&self) -> String {
        format!(
            "Upgrade the configuration from format {} to {}: {}",
            self.from,
            self.to,
            self.steps.join("; ")
        )
    }
}

/// A migrated tree and what was done to it.
#[derive(Debug, Clone)]
pub struct Migrated {
    pub tree: Tree,
    pub upgrade: Upgrade,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// `mailu.toml` has a format a newer mailu-git wrote.
    #[error("mailu.toml: {}", settings::newer_format(*found))]
    Newer { found: u32 },
    /// No step reads the tree's format (older than the oldest this build migrates).
    #[error("mailu.toml: format {found} cannot be upgraded by this mailu-git: {}", no_step(*oldest, *target))]
    NoStep {
        found: u32,
        oldest: u32,
        target: u32,
    },
    /// A step refused the tree.
    #[error("the step from format {from} to {} ({description}) failed: {problem}", from + 1)]
    Step {
        from: u32,
        description: &'static str,
        problem: String,
    },
    /// `format` could not be written after a step (the step left no usable `mailu.toml`).
    #[error(
        "after the step from format {from} to {} ({description}): mailu.toml: {reason}",
        from + 1
    )]
    SetFormat {
        from: u32,
        description: &'static str,
        reason: String,
    },
}

/// What a build upgrades, for [`Error::NoStep`].
fn no_step(oldest: u32, target: u32) -> String {
    if oldest >= target {
        format!("it reads format {target} and upgrades no older one")
    } else {
        format!(
            "it upgrades formats {oldest} to {} to format {target}; upgrade through an older \
             mailu-git first",
            target - 1
        )
    }
}

/// The `format` of the tree's `mailu.toml`; `None` when the file is missing, is not TOML, or has no
/// whole non-negative `format` (the loader reports each of those; there is nothing to migrate).
pub fn format_of(tree: &Tree) -> Option<u32> {
    format_in(tree.get(&RepoPath::settings())?)
}

/// The `format` of a `mailu.toml`'s bytes, as [`format_of`].
pub fn format_in(settings: &[u8]) -> Option<u32> {
    let table: toml::Table = std::str::from_utf8(settings).ok()?.parse().ok()?;
    let n = table.get("format")?.as_integer()?;
    u32::try_from(n).ok()
}

/// Applies `steps` to `tree` from its format up to `target`. `Ok(None)` when there is nothing to do
/// (the format is `target`, or unknown: see [`format_of`]). On an error nothing is returned but the
/// error: the caller's tree is never touched.
pub fn migrate(tree: &Tree, steps: &[Step], target: u32) -> Result<Option<Migrated>, Error> {
    let Some(from) = format_of(tree) else {
        return Ok(None);
    };
    if from == target {
        return Ok(None);
    }
    if from > target {
        return Err(Error::Newer { found: from });
    }
    // Every step must be there before any runs.
    let mut ladder = Vec::new();
    for format in from..target {
        match steps.iter().find(|s| s.from == format) {
            Some(step) => ladder.push(step),
            None => {
                return Err(Error::NoStep {
                    found: format,
                    oldest: steps.iter().map(|s| s.from).min().unwrap_or(target),
                    target,
                });
            }
        }
    }
    let mut tree = tree.clone();
    let mut applied = Vec::new();
    for step in ladder {
        let format = step.from;
        (step.apply)(&mut tree).map_err(|problem| Error::Step {
            from: step.from,
            description: step.description,
            problem,
        })?;
        set_format(&mut tree, format + 1).map_err(|reason| Error::SetFormat {
            from: step.from,
            description: step.description,
            reason,
        })?;
        applied.push(step.description);
    }
    Ok(Some(Migrated {
        tree,
        upgrade: Upgrade {
            from,
            to: target,
            steps: applied,
        },
    }))
}

/// Writes `format = n` into the tree's `mailu.toml`, keeping every comment and other key.
fn set_format(tree: &mut Tree, n: u32) -> Result<(), String> {
    edit_toml(tree, &RepoPath::settings(), |doc| {
        let value = toml_edit::value(i64::from(n));
        match doc.get_mut("format") {
            // Keep the key's comments and spacing: only the value changes.
            Some(item) => match item.as_value_mut() {
                Some(v) => {
                    let decor = v.decor().clone();
                    *item = value;
                    if let Some(v) = item.as_value_mut() {
                        *v.decor_mut() = decor;
                    }
                }
                None => *item = value,
            },
            None => {
                doc.insert("format", value);
            }
        }
        Ok(())
    })
}

/// For steps: rewrites the TOML file at `path` with `edit`, keeping what `edit` does not touch
/// (comments, key order). An error names the file.
pub fn edit_toml(
    tree: &mut Tree,
    path: &RepoPath,
    edit: impl FnOnce(&mut toml_edit::DocumentMut) -> Result<(), String>,
) -> Result<(), String> {
    let bytes = tree.get(path).ok_or_else(|| format!("{path} is missing"))?;
    let text = std::str::from_utf8(bytes).map_err(|_| format!("{path} is not UTF-8"))?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| format!("{path} is not valid TOML: {e}"))?;
    edit(&mut doc)?;
    tree.insert(path.clone(), doc.to_string().into_bytes());
    Ok(())
}

/// For steps: renames key `from` of `table` to `to`, keeping its value and its comments (the new
/// key goes last in the table). `false` when there is no `from`.
pub fn rename_key(table: &mut toml_edit::Table, from: &str, to: &str) -> bool {
    let Some((key, item)) = table.remove_entry(from) else {
        return false;
    };
    let renamed = toml_edit::Key::new(to).with_leaf_decor(key.leaf_decor().clone());
    table.insert_formatted(&renamed, item);
    true
}

/// Whether `steps` is a usable list for `target`: contiguous formats, oldest first, the last one
/// writing `target`. A defect of the build when not (checked by a unit test for [`STEPS`]).
pub fn is_ladder(steps: &[Step], target: u32) -> bool {
    let Some(first) = steps.first() else {
        return true;
    };
    steps
        .iter()
        .enumerate()
        .all(|(i, s)| u32::try_from(i).is_ok_and(|i| s.from == first.from + i))
        && steps.last().is_some_and(|s| s.from + 1 == target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::settings::FORMAT;

    fn p(s: &str) -> RepoPath {
        RepoPath::parse(s).unwrap()
    }

    /// A format-0 tree as an imaginary older mailu-git wrote it: `[mail] size_limit`, which format
    /// 1 calls `message_size_limit`.
    fn format_0() -> Tree {
        let mut t = Tree::new();
        t.insert(
            RepoPath::settings(),
            b"# my server\nformat = 0 # the layout\n\n[mail]\n# keep it small\nsize_limit = 1000000\n"
                .to_vec(),
        );
        t.insert(
            p("domains/example.com/domain.toml"),
            b"comment = \"x\"\n".to_vec(),
        );
        t
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

    fn add_marker(tree: &mut Tree) -> Result<(), String> {
        edit_toml(tree, &RepoPath::settings(), |doc| {
            let steps = doc
                .get("steps_seen")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned();
            doc["steps_seen"] = toml_edit::value(format!("{steps}b"));
            Ok(())
        })
    }

    fn add_other_marker(tree: &mut Tree) -> Result<(), String> {
        edit_toml(tree, &RepoPath::settings(), |doc| {
            let steps = doc
                .get("steps_seen")
                .and_then(|v| v.as_str())
                .ok_or("step 2 ran before step 1")?
                .to_owned();
            doc["steps_seen"] = toml_edit::value(format!("{steps}c"));
            Ok(())
        })
    }

    fn refuse(_: &mut Tree) -> Result<(), String> {
        Err("domains/example.com/domain.toml: cannot split the comment".into())
    }

    const RENAME: Step = Step {
        from: 0,
        description: "rename mail.size_limit to mail.message_size_limit",
        apply: rename_size_limit,
    };

    fn settings_text(t: &Tree) -> String {
        String::from_utf8(t[&RepoPath::settings()].clone()).unwrap()
    }

    #[test]
    fn this_builds_steps_form_a_ladder_to_its_format() {
        assert!(is_ladder(STEPS, FORMAT), "STEPS must end at FORMAT");
        if let Some(first) = STEPS.first() {
            assert!(first.from >= 1, "format 1 is the first format released");
        }
    }

    #[test]
    fn migrate_applies_a_step_sets_the_format_and_keeps_comments() {
        let before = format_0();
        let done = migrate(&before, &[RENAME], 1).unwrap().unwrap();
        assert_eq!(
            done.upgrade,
            Upgrade {
                from: 0,
                to: 1,
                steps: vec![RENAME.description]
            }
        );
        let text = settings_text(&done.tree);
        assert!(text.contains("# my server\n"), "{text}");
        assert!(text.contains("format = 1 # the layout"), "{text}");
        assert!(
            text.contains("# keep it small\nmessage_size_limit = 1000000"),
            "{text}"
        );
        assert!(!text.contains("size_limit = 1000000\n\n"), "{text}");
        assert_eq!(format_of(&done.tree), Some(1));
        // The rest of the tree is untouched, and so is the caller's tree.
        assert_eq!(
            done.tree[&p("domains/example.com/domain.toml")],
            before[&p("domains/example.com/domain.toml")]
        );
        assert_eq!(format_of(&before), Some(0));
        // The migrated settings load under today's rules.
        let settings: crate::model::settings::Settings = toml::from_str(&text).unwrap();
        assert_eq!(settings.format, FORMAT);
    }

    #[test]
    fn migrate_applies_every_step_in_order_with_one_summary() {
        let steps = [
            RENAME,
            Step {
                from: 1,
                description: "mark b",
                apply: add_marker,
            },
            Step {
                from: 2,
                description: "mark c",
                apply: add_other_marker,
            },
        ];
        assert!(is_ladder(&steps, 3));
        let done = migrate(&format_0(), &steps, 3).unwrap().unwrap();
        assert_eq!(
            done.upgrade.steps,
            [
                "rename mail.size_limit to mail.message_size_limit",
                "mark b",
                "mark c"
            ]
        );
        assert_eq!(
            done.upgrade.summary(),
            "Upgrade the configuration from format 0 to 3: rename mail.size_limit to \
             mail.message_size_limit; mark b; mark c"
        );
        assert!(settings_text(&done.tree).contains("steps_seen = \"bc\""));
        assert_eq!(format_of(&done.tree), Some(3));
        // Starting in the middle applies only the later steps.
        let mut at_2 = format_0();
        at_2.insert(
            RepoPath::settings(),
            b"format = 2\nsteps_seen = \"b\"\n\n[mail]\n".to_vec(),
        );
        let done = migrate(&at_2, &steps, 3).unwrap().unwrap();
        assert_eq!(done.upgrade.steps, ["mark c"]);
        assert_eq!(done.upgrade.from, 2);
    }

    #[test]
    fn migrate_is_idempotent_on_a_current_tree() {
        let done = migrate(&format_0(), &[RENAME], 1).unwrap().unwrap();
        assert!(migrate(&done.tree, &[RENAME], 1).unwrap().is_none());
        // A tree whose format cannot be read is the loader's business, not a migration's.
        let mut broken = format_0();
        broken.insert(RepoPath::settings(), b"format = \"one\"\n".to_vec());
        assert!(migrate(&broken, &[RENAME], 1).unwrap().is_none());
        broken.remove(&RepoPath::settings());
        assert!(migrate(&broken, &[RENAME], 1).unwrap().is_none());
    }

    #[test]
    fn a_failing_step_names_itself_and_returns_no_tree() {
        let steps = [
            RENAME,
            Step {
                from: 1,
                description: "split the domain comments",
                apply: refuse,
            },
        ];
        let err = migrate(&format_0(), &steps, 2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the step from format 1 to 2 (split the domain comments) failed: \
             domains/example.com/domain.toml: cannot split the comment"
        );
    }

    #[test]
    fn a_step_that_removes_mailu_toml_is_named() {
        fn remove(t: &mut Tree) -> Result<(), String> {
            t.remove(&RepoPath::settings());
            Ok(())
        }
        let steps = [Step {
            from: 0,
            description: "lose the settings",
            apply: remove,
        }];
        let err = migrate(&format_0(), &steps, 1).unwrap_err();
        assert!(
            err.to_string()
                .contains("(lose the settings): mailu.toml: mailu.toml is missing"),
            "{err}"
        );
    }

    #[test]
    fn a_format_without_steps_or_a_newer_one_is_refused() {
        let err = migrate(&format_0(), &[], 1).unwrap_err();
        assert_eq!(
            err,
            Error::NoStep {
                found: 0,
                oldest: 1,
                target: 1
            }
        );
        assert!(
            err.to_string().contains("format 0 cannot be upgraded"),
            "{err}"
        );
        let mut newer = format_0();
        set_format(&mut newer, 5).unwrap();
        let err = migrate(&newer, &[RENAME], 1).unwrap_err();
        assert!(
            err.to_string()
                .contains("format 5 was made by a newer mailu-git"),
            "{err}"
        );
    }

    #[test]
    fn a_gap_in_the_steps_is_not_a_ladder() {
        let gap = [
            RENAME,
            Step {
                from: 2,
                description: "mark c",
                apply: add_other_marker,
            },
        ];
        assert!(!is_ladder(&gap, 3));
        assert!(!is_ladder(&[RENAME], 2));
        assert!(is_ladder(&[], 1));
        assert!(matches!(
            migrate(&format_0(), &gap, 3),
            Err(Error::NoStep { found: 1, .. })
        ));
    }
}
