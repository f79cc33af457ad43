//! A [`Document`] in Mailu's format turned into the repository's objects ([`Objects`]): domains
//! (with their managers, taken from the users' `manager_of`), users (with app tokens and fetched
//! accounts), aliases and relays, plus what each secret should become ([`Secret`]). Every problem
//! is collected as a [`Problem`] naming the entry (`user[3]`, with its key) and the field, so the
//! command can point at the line. No IO, no state: what the document means against the current
//! configuration (keeping a hidden secret, deleting what it omits) is `plan`'s.

use std::collections::BTreeMap;
use std::fmt;

use secrecy::SecretString;

use super::document::{
    AliasDoc, Document, DomainDoc, FetchDoc, GENERATE, HIDDEN, RelayDoc, TokenDoc, UserDoc,
};
use crate::model::alias::Alias;
use crate::model::date::Date;
use crate::model::domain::Domain;
use crate::model::item_id::ItemId;
use crate::model::relay::{Relay, Target};
use crate::model::settings::Cidr;
use crate::model::user::{Fetch, Protocol, Token, User};
use crate::model::{DomainName, Email, FileType};

/// Which entry of the document a problem is about.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// `domain`, `user`, `alias` or `relay`.
    pub section: String,
    /// 0-based position in the section.
    pub index: usize,
    /// The entry's primary key as written (`name` or `email`), when it has one.
    pub key: String,
}

/// One problem of a document: its entry, the field (dotted, empty for the entry as a whole) and
/// what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Problem {
    pub entry: Entry,
    pub field: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.entry.section, self.entry.index)?;
        if !self.entry.key.is_empty() {
            write!(f, " ({})", self.entry.key)?;
        }
        if !self.field.is_empty() {
            write!(f, ".{}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// What a secret of the document asks for.
#[derive(Debug, Clone)]
pub enum Secret {
    /// `<hidden>` or absent: keep the stored one (none if there is none).
    Keep,
    /// An empty DKIM key: no key.
    Remove,
    /// `-generate-`: a new DKIM key.
    Generate,
    /// The secret's plaintext (a PEM key, a fetch password).
    Set(SecretString),
}

/// A domain with its DKIM key request.
#[derive(Debug, Clone)]
pub struct DomainObject {
    pub domain: Domain,
    pub dkim: Secret,
}

/// A user with the passwords of its fetched accounts, by fetch id.
#[derive(Debug, Clone)]
pub struct UserObject {
    pub user: User,
    pub fetch_passwords: BTreeMap<ItemId, Secret>,
}

/// The objects a document describes, keyed by their canonical (ASCII) names.
#[derive(Debug, Clone, Default)]
pub struct Objects {
    pub domains: BTreeMap<DomainName, DomainObject>,
    pub users: BTreeMap<Email, UserObject>,
    pub aliases: BTreeMap<Email, Alias>,
    pub relays: BTreeMap<DomainName, Relay>,
}

impl Objects {
    /// How many domains ask for a new DKIM key.
    pub fn dkim_to_generate(&self) -> usize {
        self.domains
            .values()
            .filter(|d| matches!(d.dkim, Secret::Generate))
            .count()
    }
}

/// Where problems of one entry go.
struct At<'a> {
    entry: Entry,
    problems: &'a mut Vec<Problem>,
}

impl At<'_> {
    fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            entry: self.entry.clone(),
            field: field.into(),
            message: message.into(),
        });
    }
}

fn entry(section: &str, index: usize, key: &str) -> Entry {
    Entry {
        section: section.to_owned(),
        index,
        key: key.to_owned(),
    }
}

/// Converts `doc`; every problem at once. Plaintext passwords (`hash_password: true`) must have been
/// hashed before (see [`hash_passwords`]); one left is refused like any non-hash.
pub fn objects(doc: &Document) -> Result<Objects, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut out = Objects::default();
    for (i, d) in doc.domain.iter().enumerate() {
        let mut at = At {
            entry: entry("domain", i, &d.name),
            problems: &mut problems,
        };
        if let Some((name, object)) = domain(d, &mut at)
            && out.domains.insert(name.clone(), object).is_some()
        {
            at.push("name", format!("domain `{name}` is listed twice"));
        }
    }
    let mut managers: Vec<(Email, String, usize, usize)> = Vec::new();
    for (i, u) in doc.user.iter().enumerate() {
        let mut at = At {
            entry: entry("user", i, &u.email),
            problems: &mut problems,
        };
        if let Some((email, object)) = user(u, &mut at) {
            for (j, managed) in u.manager_of.iter().flatten().enumerate() {
                managers.push((email.clone(), managed.clone(), i, j));
            }
            if out.users.insert(email.clone(), object).is_some() {
                at.push("email", format!("user `{email}` is listed twice"));
            }
        }
    }
    for (email, managed, i, j) in managers {
        let mut at = At {
            entry: entry("user", i, &doc.user[i].email),
            problems: &mut problems,
        };
        let field = format!("manager_of.{j}");
        match DomainName::parse(&managed) {
            Err(e) => at.push(field, e.0),
            Ok(name) => match out.domains.get_mut(&name) {
                None => at.push(field, format!("domain `{managed}` is not in the document")),
                Some(d) if d.domain.managers.contains(&email) => {
                    at.push(field, format!("`{managed}` is listed twice"));
                }
                Some(d) => d.domain.managers.push(email.clone()),
            },
        }
    }
    for (i, a) in doc.alias.iter().enumerate() {
        let mut at = At {
            entry: entry("alias", i, &a.email),
            problems: &mut problems,
        };
        if let Some((email, object)) = alias(a, &mut at) {
            if out.users.contains_key(&email) {
                at.push("email", format!("`{email}` is also a user"));
            } else if out.aliases.insert(email.clone(), object).is_some() {
                at.push("email", format!("alias `{email}` is listed twice"));
            }
        }
    }
    for (i, r) in doc.relay.iter().enumerate() {
        let mut at = At {
            entry: entry("relay", i, &r.name),
            problems: &mut problems,
        };
        if let Some((name, object)) = relay(r, &mut at) {
            if out.domains.contains_key(&name) {
                at.push("name", format!("`{name}` is also a domain"));
            } else if out.relays.insert(name.clone(), object).is_some() {
                at.push("name", format!("relay `{name}` is listed twice"));
            }
        }
    }
    // Users and aliases need their domain in the document (the whole set is replaced or merged).
    for (section, emails) in [
        (
            "user",
            doc.user.iter().map(|u| &u.email).collect::<Vec<_>>(),
        ),
        ("alias", doc.alias.iter().map(|a| &a.email).collect()),
    ] {
        for (i, raw) in emails.into_iter().enumerate() {
            if let Ok(email) = Email::parse(raw)
                && !out.domains.contains_key(&email.domain)
            {
                problems.push(Problem {
                    entry: entry(section, i, raw),
                    field: "email".into(),
                    message: format!(
                        "domain `{}` is not in the document",
                        email.domain.to_unicode()
                    ),
                });
            }
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

fn model_problems(at: &mut At<'_>, value: &impl FileType) {
    let mut found = Vec::new();
    value.validate(&mut found);
    for p in found {
        at.push(p.field, p.message);
    }
}

fn domain(d: &DomainDoc, at: &mut At<'_>) -> Option<(DomainName, DomainObject)> {
    let name = match DomainName::parse(&d.name) {
        Ok(n) => n,
        Err(e) => {
            at.push("name", e.0);
            return None;
        }
    };
    let defaults = Domain::default();
    let mut domain = Domain {
        comment: d.comment.clone().unwrap_or_default(),
        max_users: d.max_users.unwrap_or(defaults.max_users),
        max_aliases: d.max_aliases.unwrap_or(defaults.max_aliases),
        max_quota_bytes: d.max_quota_bytes.unwrap_or(defaults.max_quota_bytes),
        signup_enabled: d.signup_enabled.unwrap_or(false),
        anonmail_enabled: d.anonmail_enabled.unwrap_or(false),
        ..defaults
    };
    for (i, alt) in d.alternatives.iter().flatten().enumerate() {
        match DomainName::parse(alt) {
            Ok(a) => domain.alternatives.push(a),
            Err(e) => at.push(format!("alternatives.{i}"), e.0),
        }
    }
    let dkim = match d.dkim_key.as_ref().map(|k| k.0.trim()) {
        None | Some(HIDDEN) => Secret::Keep,
        Some("") => Secret::Remove,
        Some(GENERATE) => Secret::Generate,
        Some(pem) => match pkcs8(pem) {
            Ok((pem, public)) => {
                domain.dkim_public_key = public;
                Secret::Set(SecretString::from(pem))
            }
            Err(e) => {
                at.push("dkim_key", format!("is not an RSA private key in PEM: {e}"));
                Secret::Keep
            }
        },
    };
    model_problems(at, &domain);
    Some((name, DomainObject { domain, dkim }))
}

/// An RSA private key in PEM (PKCS#8, or PKCS#1 as older tools write) as the PKCS#8 PEM the
/// secret store keeps, with its public half (the `p=` of the DNS record).
fn pkcs8(pem: &str) -> Result<(String, String), String> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(pem)
        .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(pem))
        .map_err(|e| e.to_string())?;
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| e.to_string())?
        .to_string();
    let public = crate::secret::dkim::public_of(&pem).map_err(|e| e.to_string())?;
    Ok((pem, public))
}

/// A hash as Mailu exports it: kept as written when it is a recognised hash, else without an
/// obsolete `{SCHEME}` prefix (Mailu strips it too).
fn hash_of(raw: &str) -> String {
    if crate::password::Hash::parse(raw).is_ok() {
        return raw.to_owned();
    }
    if let Some((_, rest)) = raw.strip_prefix('{').and_then(|r| r.split_once('}'))
        && crate::password::Hash::parse(rest).is_ok()
    {
        return rest.to_owned();
    }
    raw.to_owned()
}

fn emails(list: Option<&Vec<String>>, field: &str, at: &mut At<'_>) -> Vec<Email> {
    let mut out = Vec::new();
    for (i, raw) in list.into_iter().flatten().enumerate() {
        match Email::parse(raw) {
            Ok(e) => out.push(e),
            Err(e) => at.push(format!("{field}.{i}"), e.0),
        }
    }
    out
}

fn date(raw: Option<&String>, field: &str, default: Date, at: &mut At<'_>) -> Date {
    match raw {
        None => default,
        Some(raw) => Date::parse(raw).unwrap_or_else(|e| {
            at.push(field, e);
            default
        }),
    }
}

fn user(u: &UserDoc, at: &mut At<'_>) -> Option<(Email, UserObject)> {
    let email = match Email::parse(&u.email) {
        Ok(e) => e,
        Err(e) => {
            at.push("email", e.0);
            return None;
        }
    };
    if email.local.has_wildcard() {
        at.push("email", "a user's address cannot hold `%`");
    }
    if u.hash_password == Some(true) {
        at.push(
            "hash_password",
            "the plaintext password was not hashed before the import (a bug)",
        );
    }
    let d = User::default();
    let mut user = User {
        comment: u.comment.clone().unwrap_or_default(),
        password: u.password.as_deref().map(hash_of).unwrap_or_default(),
        quota_bytes: u.quota_bytes.unwrap_or(d.quota_bytes),
        global_admin: u.global_admin.unwrap_or(d.global_admin),
        enabled: u.enabled.unwrap_or(d.enabled),
        enable_imap: u.enable_imap.unwrap_or(d.enable_imap),
        enable_pop: u.enable_pop.unwrap_or(d.enable_pop),
        allow_spoofing: u.allow_spoofing.unwrap_or(d.allow_spoofing),
        forward_enabled: u.forward_enabled.unwrap_or(d.forward_enabled),
        forward_destination: emails(u.forward_destination.as_ref(), "forward_destination", at),
        forward_keep: u.forward_keep.unwrap_or(d.forward_keep),
        reply_enabled: u.reply_enabled.unwrap_or(d.reply_enabled),
        reply_subject: u.reply_subject.clone().unwrap_or_default(),
        reply_body: u.reply_body.clone().unwrap_or_default(),
        reply_startdate: date(
            u.reply_startdate.as_ref(),
            "reply_startdate",
            d.reply_startdate,
            at,
        ),
        reply_enddate: date(
            u.reply_enddate.as_ref(),
            "reply_enddate",
            d.reply_enddate,
            at,
        ),
        displayed_name: u.displayed_name.clone().unwrap_or_default(),
        spam_enabled: u.spam_enabled.unwrap_or(d.spam_enabled),
        spam_mark_as_read: u.spam_mark_as_read.unwrap_or(d.spam_mark_as_read),
        spam_threshold: u.spam_threshold.unwrap_or(d.spam_threshold),
        change_pw_next_login: u.change_pw_next_login.unwrap_or(d.change_pw_next_login),
        tokens: Vec::new(),
        fetches: Vec::new(),
    };
    for (i, t) in u.tokens.iter().flatten().enumerate() {
        if let Some(token) = token(t, i, at) {
            user.tokens.push(token);
        }
    }
    let mut fetch_passwords = BTreeMap::new();
    for (i, f) in u.fetches.iter().flatten().enumerate() {
        if let Some((fetch, password)) = fetch(f, i, at) {
            fetch_passwords.insert(fetch.id.clone(), password);
            user.fetches.push(fetch);
        }
    }
    model_problems(at, &user);
    Some((
        email,
        UserObject {
            user,
            fetch_passwords,
        },
    ))
}

fn item_id(raw: Option<&super::document::Id>, field: &str, at: &mut At<'_>) -> ItemId {
    match raw {
        None => ItemId::generate(),
        Some(id) => ItemId::parse(&id.0).unwrap_or_else(|e| {
            at.push(field, e);
            ItemId::generate()
        }),
    }
}

fn token(t: &TokenDoc, i: usize, at: &mut At<'_>) -> Option<Token> {
    let field = format!("tokens.{i}");
    if t.hash_password == Some(true) {
        at.push(
            format!("{field}.hash_password"),
            "the plaintext token was not hashed before the import (a bug)",
        );
    }
    let mut ip = Vec::new();
    for (j, raw) in t.ip.iter().flatten().enumerate() {
        match Cidr::parse_lenient(raw) {
            Ok(c) => ip.push(c),
            Err(e) => at.push(format!("{field}.ip.{j}"), e.to_string()),
        }
    }
    Some(Token {
        id: item_id(t.id.as_ref(), &format!("{field}.id"), at),
        comment: t.comment.clone().unwrap_or_default(),
        ip,
        password: t.password.as_deref().map(hash_of).unwrap_or_default(),
        created: None,
    })
}

fn fetch(f: &FetchDoc, i: usize, at: &mut At<'_>) -> Option<(Fetch, Secret)> {
    let field = format!("fetches.{i}");
    let protocol = match f
        .protocol
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("imap") => Protocol::Imap,
        Some("pop3") => Protocol::Pop3,
        other => {
            at.push(
                format!("{field}.protocol"),
                format!("must be `imap` or `pop3`, not {other:?}"),
            );
            return None;
        }
    };
    let fetch = Fetch {
        id: item_id(f.id.as_ref(), &format!("{field}.id"), at),
        protocol,
        host: f.host.clone().unwrap_or_default(),
        port: f.port.unwrap_or(993),
        tls: f.tls.unwrap_or(false),
        username: f.username.clone().unwrap_or_default(),
        keep: f.keep.unwrap_or(false),
        scan: f.scan.unwrap_or(false),
        invisible: f.invisible.unwrap_or(false),
        folders: f.folders.clone().unwrap_or_default(),
        comment: f.comment.clone().unwrap_or_default(),
    };
    let password = match f.password.as_deref() {
        None | Some(HIDDEN) => Secret::Keep,
        Some("") => {
            at.push(
                format!("{field}.password"),
                "a fetched account needs a password",
            );
            Secret::Keep
        }
        Some(p) => Secret::Set(SecretString::from(p.to_owned())),
    };
    Some((fetch, password))
}

fn alias(a: &AliasDoc, at: &mut At<'_>) -> Option<(Email, Alias)> {
    let email = match Email::parse(&a.email) {
        Ok(e) => e,
        Err(e) => {
            at.push("email", e.0);
            return None;
        }
    };
    let wildcard = a.wildcard.unwrap_or(false);
    if email.local.has_wildcard() && !wildcard {
        at.push(
            "wildcard",
            "the address holds `%`, so wildcard must be true",
        );
    }
    let alias = Alias {
        comment: a.comment.clone().unwrap_or_default(),
        destination: emails(a.destination.as_ref(), "destination", at),
        wildcard,
        disabled: a.disabled.unwrap_or(false),
        hostname: a.hostname.clone().unwrap_or_default(),
    };
    model_problems(at, &alias);
    Some((email, alias))
}

fn relay(r: &RelayDoc, at: &mut At<'_>) -> Option<(DomainName, Relay)> {
    let name = match DomainName::parse(&r.name) {
        Ok(n) => n,
        Err(e) => {
            at.push("name", e.0);
            return None;
        }
    };
    let smtp = match Target::parse(r.smtp.as_deref().unwrap_or("")) {
        Ok(t) => t,
        Err(e) => {
            at.push("smtp", e.to_string());
            return None;
        }
    };
    let relay = Relay {
        comment: r.comment.clone().unwrap_or_default(),
        smtp,
    };
    model_problems(at, &relay);
    Some((name, relay))
}
