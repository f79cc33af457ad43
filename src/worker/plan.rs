//! What to do to Docker for one deployed version: per service, keep the container, refresh its
//! files in place, restart it, recreate it, create it, or remove it; and in which order. Pure, so
//! every rule is a unit test; `engine.rs` carries the actions out.
//!
//! Rules:
//! - no container → create; a container made from another spec (image, env, ports, volumes, ...:
//!   the spec hash differs) → recreate; a stopped one → start (the entrypoint fetches the bundle
//!   as it starts, so it also picks up new files);
//! - same spec, new files: when the service's reload covers every changed path → refresh
//!   (`entrypoint refresh` in the container: fetch, write, reload); otherwise, or when the changed
//!   paths are unknown → restart. The bundle's own `/.mailu-bundle/env` (a secret environment
//!   value changed) is never covered: a process reads its environment once, at its start;
//! - when the bundle a container holds is known (its entrypoint's kept `ETag`, read on a full
//!   pass): holding the wanted bundle is unchanged, whatever the diff says; holding another one
//!   while the diff says nothing (a version the worker did not see, a failed action) is a change
//!   of unknown paths;
//! - a container whose service is no longer wanted (disabled or deleted) → remove (never its
//!   volumes);
//! - order: services in the stack's dependency order (resolver, antispam, ... imap, smtp, ...,
//!   front; others after, by name), except that when a version removes mailboxes smtp goes before
//!   imap, so mail to a removed user is refused at SMTP time instead of accepted and bounced. When
//!   it adds mailboxes (or both), imap goes first, so smtp never accepts mail for a user dovecot
//!   does not know yet (`mailflow-notes.md`). Removals come last.

use std::collections::BTreeMap;

use crate::model::service::Reload;

/// The known services in the order they are brought up: what others depend on first.
const ORDER: &[&str] = &[
    "resolver",
    "redis",
    "antivirus",
    "antispam",
    "imap",
    "smtp",
    "fetchmail",
    "webdav",
    "webmail",
    "front",
];

/// The bundle's manifest in the container: never covered by a reload.
const BUNDLE_DIR: &str = "/.mailu-bundle/";

/// A container of ours for one service, as Docker has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    pub id: String,
    /// The spec hash it was created from.
    pub spec: String,
    pub running: bool,
    /// The bundle `ETag` its entrypoint last wrote, when read (a full pass); `Some("")` when it
    /// holds none.
    pub etag: Option<String>,
}

/// How a service's rendered files changed since what its container has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Files {
    Unchanged,
    /// The changed paths inside the container.
    Changed(Vec<String>),
    /// Changed, but which paths is not known (a first deploy by this worker, a lost report).
    Unknown,
}

/// What the deployed version asks for one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// The spec hash of the container it needs.
    pub spec: String,
    /// The bundle's `ETag` at the deployed version.
    pub etag: String,
    pub files: Files,
    pub reload: Option<Reload>,
}

/// How a version changes the mailboxes (users) of the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mailboxes {
    pub added: bool,
    pub removed: bool,
}

/// One step of a deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Create { service: String },
    Recreate { service: String, id: String },
    Start { service: String, id: String },
    Refresh { service: String, id: String },
    Restart { service: String, id: String },
    Remove { service: String, id: String },
}

impl Action {
    pub fn service(&self) -> &str {
        match self {
            Action::Create { service }
            | Action::Recreate { service, .. }
            | Action::Start { service, .. }
            | Action::Refresh { service, .. }
            | Action::Restart { service, .. }
            | Action::Remove { service, .. } => service,
        }
    }
}

/// The actions that bring `existing` to `wanted`, in the order to run them. Services in neither
/// map, and unchanged ones, get no action.
pub fn plan(
    existing: &BTreeMap<String, Existing>,
    wanted: &BTreeMap<String, Wanted>,
    mailboxes: Mailboxes,
) -> Vec<Action> {
    let mut actions = Vec::new();
    for name in ordered(wanted.keys(), mailboxes) {
        let want = &wanted[name];
        let service = name.to_owned();
        let Some(have) = existing.get(name) else {
            actions.push(Action::Create { service });
            continue;
        };
        let id = have.id.clone();
        if have.spec != want.spec {
            actions.push(Action::Recreate { service, id });
        } else if !have.running {
            actions.push(Action::Start { service, id });
        } else {
            let files = match (&have.etag, &want.files) {
                (Some(held), _) if *held == want.etag => &Files::Unchanged,
                (Some(_), Files::Unchanged) => &Files::Unknown,
                (_, files) => files,
            };
            match files {
                Files::Unchanged => {}
                Files::Unknown => actions.push(Action::Restart { service, id }),
                Files::Changed(paths) => {
                    let covered = want.reload.as_ref().is_some_and(|r| {
                        paths
                            .iter()
                            .all(|p| !p.starts_with(BUNDLE_DIR) && r.covers(p))
                    });
                    if covered {
                        actions.push(Action::Refresh { service, id });
                    } else {
                        actions.push(Action::Restart { service, id });
                    }
                }
            }
        }
    }
    // Removals last, in reverse dependency order (front before the services it talks to).
    let mut gone: Vec<&String> = existing
        .keys()
        .filter(|n| !wanted.contains_key(*n))
        .collect();
    gone.sort_by_key(|n| std::cmp::Reverse(rank(n)));
    for name in gone {
        actions.push(Action::Remove {
            service: name.clone(),
            id: existing[name].id.clone(),
        });
    }
    actions
}

/// Where a service goes in the bring-up order: known ones by [`ORDER`], then others by name.
fn rank(name: &str) -> (usize, String) {
    let known = ORDER.iter().position(|n| *n == name).unwrap_or(ORDER.len());
    (known, name.to_owned())
}

fn ordered<'a>(names: impl Iterator<Item = &'a String>, mailboxes: Mailboxes) -> Vec<&'a String> {
    let mut names: Vec<&String> = names.collect();
    names.sort_by_key(|n| rank(n));
    if mailboxes.removed && !mailboxes.added {
        let imap = names.iter().position(|n| n.as_str() == "imap");
        let smtp = names.iter().position(|n| n.as_str() == "smtp");
        if let (Some(i), Some(s)) = (imap, smtp) {
            names.swap(i, s);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reload(paths: &[&str]) -> Option<Reload> {
        Some(Reload {
            command: vec!["reload".into()],
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        })
    }

    fn have(id: &str, spec: &str, running: bool) -> Existing {
        Existing {
            id: id.into(),
            spec: spec.into(),
            running,
            etag: None,
        }
    }

    fn want(spec: &str, files: Files, reload: Option<Reload>) -> Wanted {
        Wanted {
            spec: spec.into(),
            etag: "b1-new".into(),
            files,
            reload,
        }
    }

    fn names(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .map(|a| {
                let kind = match a {
                    Action::Create { .. } => "create",
                    Action::Recreate { .. } => "recreate",
                    Action::Start { .. } => "start",
                    Action::Refresh { .. } => "refresh",
                    Action::Restart { .. } => "restart",
                    Action::Remove { .. } => "remove",
                };
                format!("{kind} {}", a.service())
            })
            .collect()
    }

    #[test]
    fn each_service_gets_the_least_action_that_brings_it_to_the_version() {
        let existing = BTreeMap::from([
            ("front".to_owned(), have("f", "s1", true)),
            ("smtp".to_owned(), have("s", "s1", true)),
            ("imap".to_owned(), have("i", "s1", true)),
            ("antispam".to_owned(), have("a", "old", true)),
            ("resolver".to_owned(), have("r", "s1", false)),
            ("webdav".to_owned(), have("w", "s1", true)),
            ("fetchmail".to_owned(), have("x", "s1", true)),
        ]);
        let wanted = BTreeMap::from([
            (
                "front".to_owned(),
                want(
                    "s1",
                    Files::Changed(vec!["/etc/nginx/nginx.conf".into()]),
                    reload(&["/etc/nginx/**"]),
                ),
            ),
            (
                "smtp".to_owned(),
                want(
                    "s1",
                    Files::Changed(vec!["/etc/postfix/main.cf".into(), "/etc/other".into()]),
                    reload(&["/etc/postfix/**"]),
                ),
            ),
            ("imap".to_owned(), want("s1", Files::Unchanged, None)),
            ("antispam".to_owned(), want("s2", Files::Unchanged, None)),
            ("resolver".to_owned(), want("s1", Files::Unchanged, None)),
            ("webmail".to_owned(), want("s1", Files::Unknown, None)),
            ("fetchmail".to_owned(), want("s1", Files::Unknown, None)),
        ]);
        let actions = plan(&existing, &wanted, Mailboxes::default());
        assert_eq!(
            names(&actions),
            [
                "start resolver",
                "recreate antispam",
                "restart smtp",
                "restart fetchmail",
                "create webmail",
                "refresh front",
                "remove webdav",
            ]
        );
        assert!(actions.contains(&Action::Refresh {
            service: "front".into(),
            id: "f".into()
        }));
    }

    #[test]
    fn mailboxes_added_go_to_imap_first_and_removed_ones_to_smtp_first() {
        let existing = BTreeMap::from([
            ("smtp".to_owned(), have("s", "s1", true)),
            ("imap".to_owned(), have("i", "s1", true)),
        ]);
        let changed = |paths: &[&str]| {
            want(
                "s1",
                Files::Changed(paths.iter().map(|p| (*p).to_owned()).collect()),
                reload(&["/etc/**"]),
            )
        };
        let wanted = BTreeMap::from([
            ("smtp".to_owned(), changed(&["/etc/postfix/maps/a"])),
            ("imap".to_owned(), changed(&["/etc/dovecot/passwd/a"])),
        ]);
        let added = Mailboxes {
            added: true,
            removed: false,
        };
        let removed = Mailboxes {
            added: false,
            removed: true,
        };
        let both = Mailboxes {
            added: true,
            removed: true,
        };
        assert_eq!(
            names(&plan(&existing, &wanted, added)),
            ["refresh imap", "refresh smtp"]
        );
        assert_eq!(
            names(&plan(&existing, &wanted, removed)),
            ["refresh smtp", "refresh imap"]
        );
        assert_eq!(
            names(&plan(&existing, &wanted, both)),
            ["refresh imap", "refresh smtp"]
        );
    }

    #[test]
    fn unknown_services_come_after_the_stack_and_removals_go_front_first() {
        let existing = BTreeMap::from([
            ("front".to_owned(), have("f", "s", true)),
            ("imap".to_owned(), have("i", "s", true)),
            ("zzz".to_owned(), have("z", "s", true)),
        ]);
        let wanted = BTreeMap::from([
            ("custom".to_owned(), want("s", Files::Unknown, None)),
            ("aaa".to_owned(), want("s", Files::Unknown, None)),
            ("redis".to_owned(), want("s", Files::Unknown, None)),
        ]);
        assert_eq!(
            names(&plan(&existing, &wanted, Mailboxes::default())),
            [
                "create redis",
                "create aaa",
                "create custom",
                "remove zzz",
                "remove front",
                "remove imap"
            ]
        );
    }

    #[test]
    fn a_known_bundle_decides_over_the_diff() {
        let held = |etag: &str| Existing {
            etag: Some(etag.into()),
            ..have("s", "s1", true)
        };
        let wanted =
            |files| BTreeMap::from([("smtp".to_owned(), want("s1", files, reload(&["/etc/**"])))]);
        let one = |etag: &str, files| {
            let existing = BTreeMap::from([("smtp".to_owned(), held(etag))]);
            names(&plan(&existing, &wanted(files), Mailboxes::default()))
        };
        // A stale bundle the diff does not know about (the worker was down): restart.
        assert_eq!(one("b1-old", Files::Unchanged), ["restart smtp"]);
        assert_eq!(one("", Files::Unchanged), ["restart smtp"]);
        // Already the wanted bundle: nothing, even when the diff lists paths.
        assert_eq!(one("b1-new", Files::Unchanged), Vec::<String>::new());
        assert_eq!(
            one("b1-new", Files::Changed(vec!["/etc/a".into()])),
            Vec::<String>::new()
        );
        // A stale bundle with known paths: as the diff says.
        assert_eq!(
            one("b1-old", Files::Changed(vec!["/etc/a".into()])),
            ["refresh smtp"]
        );
    }

    #[test]
    fn a_changed_secret_environment_restarts_even_under_a_reload_of_everything() {
        let existing = BTreeMap::from([("smtp".to_owned(), have("s", "s1", true))]);
        let wanted = BTreeMap::from([(
            "smtp".to_owned(),
            want(
                "s1",
                Files::Changed(vec!["/etc/a".into(), "/.mailu-bundle/env".into()]),
                reload(&["/**"]),
            ),
        )]);
        assert_eq!(
            names(&plan(&existing, &wanted, Mailboxes::default())),
            ["restart smtp"]
        );
    }
}
