//! The configuration as a Mailu `config-export` document, so an operator can leave mailu-git (or
//! look at the whole mail setup in one file): domains with their alternatives and DKIM keys, users
//! with their password and token hashes, managed domains, app tokens and fetched accounts, aliases
//! and relays. As Mailu does, only values that differ from the default are written, and secrets
//! (DKIM keys, fetch passwords) are `<hidden>` unless asked for. No IO: the caller decrypts.

use std::collections::BTreeMap;

use super::document::{
    AliasDoc, Document, DomainDoc, FetchDoc, HIDDEN, Id, Lines, RelayDoc, TokenDoc, UserDoc,
};
use crate::model::alias::Alias;
use crate::model::domain::Domain;
use crate::model::relay::{Relay, Target};
use crate::model::user::{Fetch, Protocol, Token, User};
use crate::model::{Config, DomainName, Email, SecretRef};

/// Reads a secret's plaintext for `--secrets`; `None` writes `<hidden>`.
pub type Reveal<'a> = &'a dyn Fn(&SecretRef) -> Option<String>;

/// The document of `config`; `reveal` gives secrets in the clear (or `None` for `<hidden>`).
pub fn document(config: &Config, reveal: Reveal<'_>) -> Document {
    let mut doc = Document::default();
    let mut managers: BTreeMap<&Email, Vec<String>> = BTreeMap::new();
    for (name, entry) in &config.domains {
        for m in &entry.domain.managers {
            managers.entry(m).or_default().push(name.to_unicode());
        }
    }
    for (name, entry) in &config.domains {
        let dkim = SecretRef::new("dkim", name.as_str())
            .ok()
            .filter(|r| config.secrets.contains(r));
        doc.domain
            .push(domain(name, &entry.domain, dkim.as_ref(), reveal));
    }
    for (name, entry) in &config.domains {
        for (local, u) in &entry.users {
            let email = Email {
                local: local.clone(),
                domain: name.clone(),
            };
            let managed = managers.get(&email).cloned();
            doc.user.push(user(&email, u, managed, config, reveal));
        }
    }
    for (name, entry) in &config.domains {
        for (local, a) in &entry.aliases {
            let email = Email {
                local: local.clone(),
                domain: name.clone(),
            };
            doc.alias.push(alias(&email, a));
        }
    }
    for (name, r) in &config.relays {
        doc.relay.push(relay(name, r));
    }
    doc
}

fn differs<T: PartialEq + Clone>(value: &T, default: &T) -> Option<T> {
    (value != default).then(|| value.clone())
}

fn text(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

fn domain(
    name: &DomainName,
    d: &Domain,
    dkim: Option<&SecretRef>,
    reveal: Reveal<'_>,
) -> DomainDoc {
    let defaults = Domain::default();
    DomainDoc {
        name: name.to_unicode(),
        comment: text(&d.comment),
        max_users: differs(&d.max_users, &defaults.max_users),
        max_aliases: differs(&d.max_aliases, &defaults.max_aliases),
        max_quota_bytes: differs(&d.max_quota_bytes, &defaults.max_quota_bytes),
        signup_enabled: differs(&d.signup_enabled, &false),
        anonmail_enabled: differs(&d.anonmail_enabled, &false),
        alternatives: (!d.alternatives.is_empty())
            .then(|| d.alternatives.iter().map(DomainName::to_unicode).collect()),
        dkim_key: dkim.map(|r| Lines(reveal(r).unwrap_or_else(|| HIDDEN.to_owned()))),
        ..DomainDoc::default()
    }
}

fn user(
    email: &Email,
    u: &User,
    manager_of: Option<Vec<String>>,
    config: &Config,
    reveal: Reveal<'_>,
) -> UserDoc {
    let d = User::default();
    UserDoc {
        email: email.to_unicode(),
        password: Some(u.password.clone()),
        hash_password: None,
        comment: text(&u.comment),
        displayed_name: text(&u.displayed_name),
        enabled: differs(&u.enabled, &d.enabled),
        global_admin: differs(&u.global_admin, &d.global_admin),
        change_pw_next_login: differs(&u.change_pw_next_login, &d.change_pw_next_login),
        quota_bytes: differs(&u.quota_bytes, &d.quota_bytes),
        enable_imap: differs(&u.enable_imap, &d.enable_imap),
        enable_pop: differs(&u.enable_pop, &d.enable_pop),
        allow_spoofing: differs(&u.allow_spoofing, &d.allow_spoofing),
        forward_enabled: differs(&u.forward_enabled, &d.forward_enabled),
        forward_destination: (!u.forward_destination.is_empty()).then(|| {
            u.forward_destination
                .iter()
                .map(Email::to_unicode)
                .collect()
        }),
        forward_keep: differs(&u.forward_keep, &d.forward_keep),
        reply_enabled: differs(&u.reply_enabled, &d.reply_enabled),
        reply_subject: text(&u.reply_subject),
        reply_body: text(&u.reply_body),
        reply_startdate: differs(&u.reply_startdate, &d.reply_startdate).map(|x| x.to_string()),
        reply_enddate: differs(&u.reply_enddate, &d.reply_enddate).map(|x| x.to_string()),
        spam_enabled: differs(&u.spam_enabled, &d.spam_enabled),
        spam_mark_as_read: differs(&u.spam_mark_as_read, &d.spam_mark_as_read),
        spam_threshold: differs(&u.spam_threshold, &d.spam_threshold),
        manager_of,
        tokens: (!u.tokens.is_empty()).then(|| u.tokens.iter().map(token).collect()),
        fetches: (!u.fetches.is_empty())
            .then(|| u.fetches.iter().map(|f| fetch(f, config, reveal)).collect()),
        ..UserDoc::default()
    }
}

fn token(t: &Token) -> TokenDoc {
    TokenDoc {
        id: Some(Id(t.id.as_str().to_owned())),
        comment: text(&t.comment),
        ip: (!t.ip.is_empty()).then(|| t.ip.iter().map(ToString::to_string).collect()),
        password: Some(t.password.clone()),
        ..TokenDoc::default()
    }
}

fn fetch(f: &Fetch, config: &Config, reveal: Reveal<'_>) -> FetchDoc {
    let secret = SecretRef::new("fetch", f.id.as_str())
        .ok()
        .filter(|r| config.secrets.contains(r));
    FetchDoc {
        id: Some(Id(f.id.as_str().to_owned())),
        protocol: Some(
            match f.protocol {
                Protocol::Imap => "imap",
                Protocol::Pop3 => "pop3",
            }
            .to_owned(),
        ),
        host: Some(f.host.clone()),
        port: Some(f.port),
        tls: differs(&f.tls, &false),
        username: Some(f.username.clone()),
        password: secret.map(|r| reveal(&r).unwrap_or_else(|| HIDDEN.to_owned())),
        keep: differs(&f.keep, &false),
        scan: differs(&f.scan, &false),
        invisible: differs(&f.invisible, &false),
        folders: (!f.folders.is_empty()).then(|| f.folders.clone()),
        comment: text(&f.comment),
        ..FetchDoc::default()
    }
}

fn alias(email: &Email, a: &Alias) -> AliasDoc {
    AliasDoc {
        email: email.to_unicode(),
        comment: text(&a.comment),
        destination: Some(a.destination.iter().map(Email::to_unicode).collect()),
        wildcard: differs(&a.wildcard, &false),
        hostname: text(&a.hostname),
        disabled: differs(&a.disabled, &false),
        ..AliasDoc::default()
    }
}

fn relay(name: &DomainName, r: &Relay) -> RelayDoc {
    RelayDoc {
        name: name.to_unicode(),
        comment: text(&r.comment),
        smtp: match r.smtp {
            Target::DomainMx => None,
            ref t => Some(t.to_string()),
        },
    }
}
