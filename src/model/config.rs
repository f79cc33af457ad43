//! [`Config`]: the whole configuration of one version, typed and indexed, as [`super::load`] builds
//! it. The indexes (which object owns each domain name, which user owns each token and fetch id)
//! are what let `rules` check one changed object against the rest in O(log n), so the API can
//! validate a single write without reloading the tree.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::alias::{Alias, like};
use super::domain::Domain;
use super::item_id::ItemId;
use super::relay::Relay;
use super::service::Service;
use super::settings::Settings;
use super::user::User;
use super::{DomainName, Email, Localpart, RepoPath, SecretRef, ServiceName};

/// The whole configuration of one version.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub settings: Settings,
    pub services: BTreeMap<ServiceName, Service>,
    pub domains: BTreeMap<DomainName, DomainEntry>,
    pub relays: BTreeMap<DomainName, Relay>,
    /// Every secret present in the tree (`secrets/<kind>/<name>`); their contents are not here.
    pub secrets: BTreeSet<SecretRef>,
    /// Who holds each fully qualified name: domains, alternatives and relays share one namespace.
    fqdns: HashMap<DomainName, Fqdn>,
    tokens: HashMap<ItemId, Email>,
    fetches: HashMap<ItemId, Email>,
}

/// A domain with its users and aliases.
#[derive(Debug, Clone, Default)]
pub struct DomainEntry {
    pub domain: Domain,
    pub users: BTreeMap<Localpart, User>,
    pub aliases: BTreeMap<Localpart, Alias>,
}

/// What holds a fully qualified domain name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fqdn {
    Domain,
    /// An alternative name of this domain.
    Alternative(DomainName),
    Relay,
}

impl Config {
    /// Counts of what the configuration holds, for people: `2 domains, 10 users, 3 aliases, ...`.
    pub fn summary(&self) -> String {
        let users: usize = self.domains.values().map(|d| d.users.len()).sum();
        let aliases: usize = self.domains.values().map(|d| d.aliases.len()).sum();
        let enabled = self.services.values().filter(|s| s.enabled).count();
        format!(
            "{} domains, {users} users, {aliases} aliases, {} relays, {enabled} of {} services enabled",
            self.domains.len(),
            self.relays.len(),
            self.services.len()
        )
    }
}

impl Fqdn {
    /// What the owner's file is, for messages.
    pub fn describe(&self, name: &DomainName) -> String {
        match self {
            Fqdn::Domain => format!("domain `{name}` (domains/{name}/domain.toml)"),
            Fqdn::Alternative(of) => {
                format!("an alternative name of domain `{of}` (domains/{of}/domain.toml)")
            }
            Fqdn::Relay => format!("relay `{name}` (relays/{name}.toml)"),
        }
    }
}

impl Config {
    pub fn domain(&self, name: &DomainName) -> Option<&DomainEntry> {
        self.domains.get(name)
    }

    pub fn user(&self, email: &Email) -> Option<&User> {
        self.domains.get(&email.domain)?.users.get(&email.local)
    }

    pub fn alias(&self, email: &Email) -> Option<&Alias> {
        self.domains.get(&email.domain)?.aliases.get(&email.local)
    }

    /// Who holds `name` among domains, alternatives and relays.
    pub fn fqdn(&self, name: &DomainName) -> Option<&Fqdn> {
        self.fqdns.get(name)
    }

    /// The local domain that receives mail for `name`: itself, or the domain it is an alternative
    /// of. `None` for relays and foreign domains.
    pub fn local_domain(&self, name: &DomainName) -> Option<&DomainName> {
        match self.fqdns.get(name)? {
            Fqdn::Domain => self.domains.get_key_value(name).map(|(k, _)| k),
            Fqdn::Alternative(of) => Some(of),
            Fqdn::Relay => None,
        }
    }

    /// The user who holds app token `id`.
    pub fn token_owner(&self, id: &ItemId) -> Option<&Email> {
        self.tokens.get(id)
    }

    /// The user who holds fetched account `id`.
    pub fn fetch_owner(&self, id: &ItemId) -> Option<&Email> {
        self.fetches.get(id)
    }

    /// The users who hold fetched accounts, in address order (from the index: O(fetches), not
    /// O(users)).
    pub fn fetch_owners(&self) -> BTreeSet<&Email> {
        self.fetches.values().collect()
    }

    /// Whether mail to `email` has somewhere to go, when its domain is local: a user, an alias, a
    /// wildcard alias that matches, or (for `local+tag`) any of those for `local`. `None` when the
    /// domain is not local, so the address is external and anything goes.
    pub fn local_recipient_exists(&self, email: &Email) -> Option<bool> {
        let domain = self.local_domain(&email.domain)?;
        let entry = self.domains.get(domain)?;
        let found = |local: &str| {
            Localpart::parse(local).is_ok_and(|l| {
                entry.users.contains_key(&l)
                    || entry.aliases.contains_key(&l)
                    || entry
                        .aliases
                        .iter()
                        .any(|(pattern, a)| a.wildcard && like(pattern.as_str(), l.as_str()))
            })
        };
        let local = email.local.as_str();
        // Mailu strips the recipient delimiter (`+` by default) before looking an address up.
        let delimiters = &self.settings.mail.recipient_delimiter;
        let base = local
            .split_once(|c: char| delimiters.contains(c))
            .map(|(b, _)| b)
            .filter(|b| !b.is_empty());
        Some(found(local) || base.is_some_and(found))
    }

    /// The files and fields that refer to `email` (alias destinations, domain managers): what would
    /// break if that user or alias were deleted. O(aliases + domains), for the API's delete path.
    pub fn referrers(&self, email: &Email) -> Vec<(RepoPath, String)> {
        let target_domain = self.local_domain(&email.domain).unwrap_or(&email.domain);
        let same = |d: &Email| {
            d.local == email.local
                && self.local_domain(&d.domain).unwrap_or(&d.domain) == target_domain
        };
        let mut out = Vec::new();
        for (name, entry) in &self.domains {
            for (i, m) in entry.domain.managers.iter().enumerate() {
                if m == email {
                    out.push((RepoPath::domain(name), format!("managers.{i}")));
                }
            }
            for (local, alias) in &entry.aliases {
                for (i, d) in alias.destination.iter().enumerate() {
                    if same(d) {
                        let at = Email {
                            local: local.clone(),
                            domain: name.clone(),
                        };
                        out.push((RepoPath::alias(&at), format!("destination.{i}")));
                    }
                }
            }
        }
        out
    }

    /// Records that `name` is held by `owner`. Returns the earlier holder when the name was taken,
    /// leaving it in place.
    pub(crate) fn claim_fqdn(&mut self, name: DomainName, owner: Fqdn) -> Result<(), Fqdn> {
        match self.fqdns.get(&name) {
            Some(previous) => Err(previous.clone()),
            None => {
                self.fqdns.insert(name, owner);
                Ok(())
            }
        }
    }

    /// Records token and fetch ids of `email`; returns the fields whose id another user holds.
    pub(crate) fn claim_ids(&mut self, email: &Email, user: &User) -> Vec<(String, Email)> {
        let mut taken = Vec::new();
        for (i, t) in user.tokens.iter().enumerate() {
            match self.tokens.get(&t.id) {
                Some(owner) if owner != email => {
                    taken.push((format!("tokens.{i}.id"), owner.clone()))
                }
                Some(_) => {}
                None => {
                    self.tokens.insert(t.id.clone(), email.clone());
                }
            }
        }
        for (i, f) in user.fetches.iter().enumerate() {
            match self.fetches.get(&f.id) {
                Some(owner) if owner != email => {
                    taken.push((format!("fetches.{i}.id"), owner.clone()))
                }
                Some(_) => {}
                None => {
                    self.fetches.insert(f.id.clone(), email.clone());
                }
            }
        }
        taken
    }
}
