//! The rules that hold across files (Mailu's cross-table rules), one function per kind of object.
//!
//! Each `check_*` takes the [`Config`] and one object with its identity, and returns the problems of
//! that object's file. The config may or may not already hold the object (the full load checks
//! objects in place; the API checks a new or changed object against the current state), so every
//! function treats the object itself as not conflicting with itself. Each costs O(log n) plus the
//! size of the object, except [`check_domain_members`] (O(users of the domain)): the API validates
//! one write by calling the function of the changed object (and, for a delete,
//! [`Config::referrers`]). A [`Problem`] with an empty field is about the file as a whole.

use super::alias::Alias;
use super::config::{Config, Fqdn};
use super::domain::Domain;
use super::relay::Relay;
use super::service::{EnvValue, Service};
use super::user::User;
use super::{DomainName, Email, Problem};

/// Names, alternatives, managers and the user and alias counts of one domain.
pub fn check_domain(config: &Config, name: &DomainName, domain: &Domain) -> Vec<Problem> {
    let mut problems = Vec::new();
    match config.fqdn(name) {
        Some(Fqdn::Domain) | None => {}
        Some(other) => problems.push(Problem::new(
            "",
            format!(
                "the name `{name}` is already used by {}",
                other.describe(name)
            ),
        )),
    }
    for (i, alt) in domain.alternatives.iter().enumerate() {
        let field = format!("alternatives.{i}");
        if alt == name {
            problems.push(Problem::new(
                field,
                "an alternative cannot be the domain's own name",
            ));
            continue;
        }
        match config.fqdn(alt) {
            Some(Fqdn::Alternative(of)) if of == name => {}
            None => {}
            Some(other) => problems.push(Problem::new(
                field,
                format!("`{alt}` is already used by {}", other.describe(alt)),
            )),
        }
    }
    for (i, manager) in domain.managers.iter().enumerate() {
        if config.user(manager).is_none() {
            problems.push(Problem::new(
                format!("managers.{i}"),
                format!(
                    "`{manager}` is not a user (no {} )",
                    super::RepoPath::user(manager)
                ),
            ));
        }
    }
    if let Some(entry) = config.domain(name) {
        let users = entry.users.len();
        if domain.max_users >= 0 && users as u64 > domain.max_users as u64 {
            problems.push(Problem::new(
                "max_users",
                format!(
                    "the domain has {users} users, more than max_users = {}",
                    domain.max_users
                ),
            ));
        }
        let aliases = entry.aliases.len();
        if domain.max_aliases >= 0 && aliases as u64 > domain.max_aliases as u64 {
            problems.push(Problem::new(
                "max_aliases",
                format!(
                    "the domain has {aliases} aliases, more than max_aliases = {}",
                    domain.max_aliases
                ),
            ));
        }
    }
    problems
}

/// Whether the users of `name` fit under `domain.max_quota_bytes`: for a changed domain, whose
/// lowered cap could leave users above it. The full load checks each user instead.
pub fn check_domain_members(config: &Config, name: &DomainName, domain: &Domain) -> Vec<Problem> {
    let Some(entry) = config.domain(name) else {
        return Vec::new();
    };
    if domain.max_quota_bytes == 0 {
        return Vec::new();
    }
    let over: Vec<String> = entry
        .users
        .iter()
        .filter(|(_, u)| u.quota_bytes > domain.max_quota_bytes)
        .map(|(l, _)| l.to_string())
        .collect();
    if over.is_empty() {
        return Vec::new();
    }
    let shown: Vec<&str> = over.iter().take(5).map(String::as_str).collect();
    vec![Problem::new(
        "max_quota_bytes",
        format!(
            "{} users have a larger quota_bytes (e.g. {})",
            over.len(),
            shown.join(", ")
        ),
    )]
}

/// The user's domain, its limits, its address against aliases, and its token and fetch ids.
pub fn check_user(config: &Config, email: &Email, user: &User) -> Vec<Problem> {
    let mut problems = Vec::new();
    let Some(entry) = config.domain(&email.domain) else {
        problems.push(missing_domain(&email.domain));
        return problems;
    };
    if email.local.as_str().contains('%') {
        problems.push(Problem::new(
            "",
            "a user's localpart cannot hold `%`: only wildcard aliases are patterns",
        ));
    }
    if entry.aliases.contains_key(&email.local) {
        problems.push(Problem::new(
            "",
            format!(
                "an alias with the same address exists ({})",
                super::RepoPath::alias(email)
            ),
        ));
    }
    let cap = entry.domain.max_quota_bytes;
    if cap > 0 && user.quota_bytes > cap {
        problems.push(Problem::new(
            "quota_bytes",
            format!("is larger than the domain's max_quota_bytes = {cap}"),
        ));
    }
    let is_new = !entry.users.contains_key(&email.local);
    let max = entry.domain.max_users;
    if is_new && max >= 0 && entry.users.len() as u64 >= max as u64 {
        problems.push(Problem::new(
            "",
            format!("the domain already has max_users = {max} users"),
        ));
    }
    for (i, t) in user.tokens.iter().enumerate() {
        if let Some(owner) = config.token_owner(&t.id).filter(|o| *o != email) {
            problems.push(Problem::new(
                format!("tokens.{i}.id"),
                format!("token id `{}` is already used by {owner}", t.id),
            ));
        }
    }
    for (i, f) in user.fetches.iter().enumerate() {
        if let Some(owner) = config.fetch_owner(&f.id).filter(|o| *o != email) {
            problems.push(Problem::new(
                format!("fetches.{i}.id"),
                format!("fetch id `{}` is already used by {owner}", f.id),
            ));
        }
    }
    problems
}

/// The alias's domain, its limits, its address against users, its wildcard, and the one alias
/// rule: destinations in local domains (domains and their alternatives) must exist as a user or
/// an alias; destinations elsewhere are external and allowed.
pub fn check_alias(config: &Config, email: &Email, alias: &Alias) -> Vec<Problem> {
    let mut problems = Vec::new();
    let Some(entry) = config.domain(&email.domain) else {
        problems.push(missing_domain(&email.domain));
        return problems;
    };
    if entry.users.contains_key(&email.local) {
        problems.push(Problem::new(
            "",
            format!(
                "a user with the same address exists ({}); the user would win and this alias would never be used",
                super::RepoPath::user(email)
            ),
        ));
    }
    if email.local.as_str().contains('%') && !alias.wildcard {
        problems.push(Problem::new(
            "wildcard",
            "the localpart holds `%`, which is a pattern: set `wildcard = true` (or rename the alias)",
        ));
    }
    let is_new = !entry.aliases.contains_key(&email.local);
    let max = entry.domain.max_aliases;
    if is_new && max >= 0 && entry.aliases.len() as u64 >= max as u64 {
        problems.push(Problem::new(
            "",
            format!("the domain already has max_aliases = {max} aliases"),
        ));
    }
    for (i, d) in alias.destination.iter().enumerate() {
        if config.local_recipient_exists(d) == Some(false) {
            problems.push(Problem::new(
                format!("destination.{i}"),
                format!("`{d}` is in a local domain but no user or alias has that address"),
            ));
        }
    }
    problems
}

/// A relay's name must not be a domain or an alternative.
pub fn check_relay(config: &Config, name: &DomainName, _relay: &Relay) -> Vec<Problem> {
    match config.fqdn(name) {
        Some(Fqdn::Relay) | None => Vec::new(),
        Some(other) => vec![Problem::new(
            "",
            format!(
                "the name `{name}` is already used by {}",
                other.describe(name)
            ),
        )],
    }
}

/// Every secret a service's env names must exist in `secrets/`.
pub fn check_service(config: &Config, service: &Service) -> Vec<Problem> {
    service
        .env
        .iter()
        .filter_map(|(key, value)| match value {
            EnvValue::Secret(r) if !config.secrets.contains(r) => Some(Problem::new(
                format!("env.{key}.secret"),
                format!("secret `{r}` does not exist (no secrets/{r})"),
            )),
            _ => None,
        })
        .collect()
}

pub(crate) fn missing_domain(domain: &DomainName) -> Problem {
    Problem::new(
        "",
        format!("domain `{domain}` does not exist (no domains/{domain}/domain.toml)"),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::{RepoPath, load};

    fn config() -> Config {
        let files: BTreeMap<RepoPath, Vec<u8>> = [
            ("mailu.toml", "format = 1\n"),
            (
                "domains/example.com/domain.toml",
                "max_users = 1\nmax_aliases = 1\nmax_quota_bytes = 2000000000\n",
            ),
            (
                "domains/example.com/users/alice.toml",
                "password = \"$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS\"\n",
            ),
            (
                "domains/example.com/aliases/info.toml",
                "destination = [\"alice@example.com\"]\n",
            ),
        ]
        .into_iter()
        .map(|(p, t)| (RepoPath::parse(p).unwrap(), t.as_bytes().to_vec()))
        .collect();
        load(&files).unwrap()
    }

    fn email(s: &str) -> Email {
        Email::parse(s).unwrap()
    }

    #[test]
    fn one_new_object_is_checked_against_the_current_state() {
        let config = config();
        let bob = User {
            password: "$x".into(),
            ..User::default()
        };
        let problems = check_user(&config, &email("bob@example.com"), &bob);
        assert!(problems[0].message.contains("max_users"), "{problems:?}");
        // The same user as an update of an existing one is fine.
        assert!(check_user(&config, &email("alice@example.com"), &bob).is_empty());
        let alias = Alias {
            destination: vec![email("ghost@example.com")],
            ..Alias::default()
        };
        let problems = check_alias(&config, &email("sales@example.com"), &alias);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(problems[1].field, "destination.0");
    }

    #[test]
    fn a_lowered_quota_cap_names_the_users_above_it() {
        let config = config();
        let domain = Domain {
            max_quota_bytes: 1000,
            ..Domain::default()
        };
        let problems =
            check_domain_members(&config, &DomainName::parse("example.com").unwrap(), &domain);
        assert_eq!(problems[0].field, "max_quota_bytes");
        assert!(problems[0].message.contains("alice"));
    }
}
