//! [`load`]: a whole tree (path → bytes) to a validated [`Config`], or every problem at once.
//!
//! Steps: classify each path with [`RepoPath::entry`] (a misplaced file is a problem), parse the
//! model files (in parallel: each file is independent), assemble the [`Config`] and its indexes, then
//! run the cross-file `rules` on every object and tie their problems to lines. A file that failed
//! to parse still stands for its object (as a placeholder that is not checked), so one broken user
//! does not also make every alias pointing at it fail. No IO.

use std::collections::{BTreeMap, HashSet};

use super::alias::Alias;
use super::config::{Config, DomainEntry, Fqdn};
use super::domain::Domain;
use super::relay::Relay;
use super::service::Service;
use super::settings::Settings;
use super::user::User;
use super::{
    Diagnostic, Diagnostics, DomainName, Email, Entry, FileType, Problem, RepoPath, SecretRef,
    ServiceName, rules, toml_file,
};

/// One parsed model file.
enum Parsed {
    Settings(Box<Settings>),
    Domain(DomainName, Domain),
    User(Email, User),
    Alias(Email, Alias),
    Relay(DomainName, Relay),
    Service(ServiceName, Service),
}

/// A model file to parse: its path, what it is, its bytes.
type Job<'a> = (&'a RepoPath, Entry, &'a [u8]);

/// A parsed job: the path, what it is, and the object or the file's problems.
type Done<'a> = (&'a RepoPath, Entry, Result<Parsed, Vec<Diagnostic>>);

/// Loads and validates a whole tree.
pub fn load(files: &BTreeMap<RepoPath, Vec<u8>>) -> Result<Config, Diagnostics> {
    let mut diagnostics = Diagnostics::default();
    let mut config = Config::default();
    let mut jobs: Vec<Job<'_>> = Vec::new();
    for (path, bytes) in files {
        match path.entry() {
            Err(e) => diagnostics.push(Diagnostic::file(path.as_str(), e.reason)),
            Ok(Entry::Secret { kind, name }) => match SecretRef::new(&kind, &name) {
                Ok(r) => {
                    config.secrets.insert(r);
                }
                Err(e) => diagnostics.push(Diagnostic::file(path.as_str(), e.0)),
            },
            Ok(
                entry @ (Entry::Settings
                | Entry::Domain(_)
                | Entry::User(_)
                | Entry::Alias(_)
                | Entry::Relay(_)
                | Entry::Service(_)),
            ) => jobs.push((path, entry, bytes)),
            Ok(_) => {}
        }
    }

    let results = parse_all(jobs);
    // Objects whose file did not parse: present, but not checked.
    let mut broken: HashSet<RepoPath> = HashSet::new();
    let mut settings = None;
    let mut users = Vec::new();
    let mut aliases = Vec::new();
    for (path, entry, result) in results {
        let parsed = match result {
            Ok(parsed) => parsed,
            Err(found) => {
                diagnostics.0.extend(found);
                broken.insert(path.clone());
                match placeholder(entry) {
                    Some(p) => p,
                    None => continue,
                }
            }
        };
        match parsed {
            Parsed::Settings(s) => settings = Some(*s),
            Parsed::Domain(name, domain) => {
                config.domains.insert(
                    name,
                    DomainEntry {
                        domain,
                        ..Default::default()
                    },
                );
            }
            Parsed::User(email, user) => users.push((path, email, user)),
            Parsed::Alias(email, alias) => aliases.push((path, email, alias)),
            Parsed::Relay(name, relay) => {
                config.relays.insert(name, relay);
            }
            Parsed::Service(name, service) => {
                config.services.insert(name, service);
            }
        }
    }
    match settings {
        Some(s) => config.settings = s,
        None if !broken.contains(&RepoPath::settings()) => diagnostics.push(Diagnostic::file(
            super::path::SETTINGS,
            "the global settings file is missing",
        )),
        None => {}
    }

    // Domains and their members; a member of a domain that has no domain.toml is reported.
    let mut found: Vec<(RepoPath, Vec<Problem>)> = Vec::new();
    for (path, email, user) in users {
        match config.domains.get_mut(&email.domain) {
            Some(entry) => {
                entry.users.insert(email.local, user);
            }
            None => found.push((path.clone(), vec![rules::missing_domain(&email.domain)])),
        }
    }
    for (path, email, alias) in aliases {
        match config.domains.get_mut(&email.domain) {
            Some(entry) => {
                entry.aliases.insert(email.local, alias);
            }
            None => found.push((path.clone(), vec![rules::missing_domain(&email.domain)])),
        }
    }

    index(&mut config);
    check_all(&config, &broken, &mut found);
    for (path, problems) in found {
        let text = files
            .get(&path)
            .map(|b| String::from_utf8_lossy(b))
            .unwrap_or_default();
        diagnostics
            .0
            .extend(with_lines(path.as_str(), &text, &problems));
    }
    diagnostics.into_result(config)
}

/// Fills the name and id indexes. First come, first served, in a fixed order (domains, then
/// alternatives, then relays; users in path order): the rules then report the later claimant.
fn index(config: &mut Config) {
    let names: Vec<DomainName> = config.domains.keys().cloned().collect();
    for name in &names {
        let _ = config.claim_fqdn(name.clone(), Fqdn::Domain);
    }
    let alternatives: Vec<(DomainName, DomainName)> = config
        .domains
        .iter()
        .flat_map(|(name, e)| {
            e.domain
                .alternatives
                .iter()
                .map(move |a| (a.clone(), name.clone()))
        })
        .collect();
    for (alt, of) in alternatives {
        let _ = config.claim_fqdn(alt, Fqdn::Alternative(of));
    }
    let relays: Vec<DomainName> = config.relays.keys().cloned().collect();
    for name in relays {
        let _ = config.claim_fqdn(name, Fqdn::Relay);
    }
    let users: Vec<(Email, User)> = config
        .domains
        .iter()
        .flat_map(|(d, e)| {
            e.users
                .iter()
                .filter(|(_, u)| !u.tokens.is_empty() || !u.fetches.is_empty())
                .map(move |(l, u)| {
                    (
                        Email {
                            local: l.clone(),
                            domain: d.clone(),
                        },
                        u.clone(),
                    )
                })
        })
        .collect();
    for (email, user) in users {
        config.claim_ids(&email, &user);
    }
}

/// Runs the cross-file rules on every object that parsed.
fn check_all(
    config: &Config,
    broken: &HashSet<RepoPath>,
    found: &mut Vec<(RepoPath, Vec<Problem>)>,
) {
    let mut push = |path: RepoPath, problems: Vec<Problem>| {
        if !problems.is_empty() && !broken.contains(&path) {
            found.push((path, problems));
        }
    };
    for (name, entry) in &config.domains {
        push(
            RepoPath::domain(name),
            rules::check_domain(config, name, &entry.domain),
        );
        for (local, user) in &entry.users {
            let email = Email {
                local: local.clone(),
                domain: name.clone(),
            };
            push(
                RepoPath::user(&email),
                rules::check_user(config, &email, user),
            );
        }
        for (local, alias) in &entry.aliases {
            let email = Email {
                local: local.clone(),
                domain: name.clone(),
            };
            push(
                RepoPath::alias(&email),
                rules::check_alias(config, &email, alias),
            );
        }
    }
    for (name, relay) in &config.relays {
        push(
            RepoPath::relay(name),
            rules::check_relay(config, name, relay),
        );
    }
    for (name, service) in &config.services {
        push(
            RepoPath::service(name),
            rules::check_service(config, service),
        );
    }
}

/// Field problems to diagnostics with lines; an empty field is about the whole file.
fn with_lines(file: &str, text: &str, problems: &[Problem]) -> Vec<Diagnostic> {
    let (whole, fields): (Vec<&Problem>, Vec<&Problem>) =
        problems.iter().partition(|p| p.field.is_empty());
    let mut out: Vec<Diagnostic> = whole
        .into_iter()
        .map(|p| Diagnostic::file(file, p.message.clone()))
        .collect();
    let fields: Vec<Problem> = fields.into_iter().cloned().collect();
    if !fields.is_empty() {
        out.extend(toml_file::locate_all(file, text, &fields));
    }
    out
}

/// Stand-ins for objects whose file did not parse: they exist for the rules of other objects.
fn placeholder(entry: Entry) -> Option<Parsed> {
    Some(match entry {
        Entry::Domain(name) => Parsed::Domain(name, Domain::default()),
        Entry::User(email) => Parsed::User(
            email,
            User {
                quota_bytes: 0,
                ..User::default()
            },
        ),
        Entry::Alias(email) => Parsed::Alias(email, Alias::default()),
        Entry::Relay(name) => Parsed::Relay(name, Relay::default()),
        _ => return None,
    })
}

/// Parses every job, on all cores when there are many.
fn parse_all(jobs: Vec<Job<'_>>) -> Vec<Done<'_>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if threads == 1 || jobs.len() < 256 {
        return jobs.into_iter().map(parse_one).collect();
    }
    let chunk = jobs.len().div_ceil(threads);
    let mut chunks: Vec<Vec<Job<'_>>> = Vec::new();
    let mut jobs = jobs.into_iter().peekable();
    while jobs.peek().is_some() {
        chunks.push(jobs.by_ref().take(chunk).collect());
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|c| s.spawn(move || c.into_iter().map(parse_one).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

fn parse_one(job: Job<'_>) -> Done<'_> {
    let (path, entry, bytes) = job;
    let file = path.as_str();
    let result = match std::str::from_utf8(bytes) {
        Err(e) => Err(vec![Diagnostic {
            file: file.to_owned(),
            line: Some(super::diagnostic::line_of(
                &String::from_utf8_lossy(&bytes[..e.valid_up_to()]),
                e.valid_up_to(),
            )),
            field: None,
            message: "the file is not valid UTF-8".into(),
        }]),
        Ok(text) => parse_entry(&entry, file, text),
    };
    (path, entry, result)
}

fn parse_entry(entry: &Entry, file: &str, text: &str) -> Result<Parsed, Vec<Diagnostic>> {
    fn p<T: FileType>(file: &str, text: &str) -> Result<T, Vec<Diagnostic>> {
        toml_file::parse(file, text)
    }
    Ok(match entry {
        Entry::Settings => Parsed::Settings(Box::new(p(file, text)?)),
        Entry::Domain(name) => Parsed::Domain(name.clone(), p(file, text)?),
        Entry::User(email) => Parsed::User(email.clone(), p(file, text)?),
        Entry::Alias(email) => Parsed::Alias(email.clone(), p(file, text)?),
        Entry::Relay(name) => Parsed::Relay(name.clone(), p(file, text)?),
        Entry::Service(name) => Parsed::Service(name.clone(), p(file, text)?),
        _ => unreachable_entry(file)?,
    })
}

/// `load` only queues model files; anything else here is a bug, reported rather than panicking.
fn unreachable_entry(file: &str) -> Result<Parsed, Vec<Diagnostic>> {
    Err(vec![Diagnostic::file(
        file,
        "internal error: not a model file",
    )])
}

#[cfg(test)]
mod tests;
