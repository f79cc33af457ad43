//! What a template sees: views of the model with every field present (defaults filled, optional
//! values `none`), so templates run with strict undefined and a typo fails instead of rendering an
//! empty string. The views are owned minijinja values, built under the caller's lock and rendered
//! outside it. Not here: which files get which context (`plan`).

use std::collections::BTreeMap;

use minijinja::Value;
use minijinja::value::Serde;
use serde::Serialize;

use super::manifest::{FileSpec, Read};
use crate::model::alias::Alias;
use crate::model::config::DomainEntry;
use crate::model::user::{Fetch, Token, User};
use crate::model::{Config, DomainName, Email, Localpart, SecretRef};
use crate::password::Hash;

/// Looks up the blob id of a secret, for its placeholder.
pub type SecretIds<'a> = &'a dyn Fn(&SecretRef) -> Option<gix::ObjectId>;

/// The parts of contexts that do not depend on the file, converted to template values once per
/// plan and shared by every file's context (minijinja values are reference-counted). A version of
/// 100,000 users renders a per-user file for each and per-domain files that list every user of
/// their domain: converting the settings for every file and a domain's users for every file of
/// the domain made the contexts the larger part of the server's memory during such a version.
pub struct Shared {
    settings: Value,
    hostname: Value,
    postmaster: Value,
    derived: Value,
    /// Per domain: the domain with its users and aliases (per-domain files), and without them
    /// (per-user files).
    domains: std::cell::RefCell<std::collections::HashMap<DomainName, DomainValues>>,
}

/// One domain's values, made when a file first needs them.
#[derive(Default)]
struct DomainValues {
    /// With its users and aliases (per-domain files).
    full: Option<Value>,
    /// Without them (per-user files).
    base: Option<Value>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("domains", &self.domains.borrow().len())
            .finish()
    }
}

impl Shared {
    pub fn new(config: &Config) -> Shared {
        let s = &config.settings;
        Shared {
            settings: Value::from(Serde(s)),
            hostname: Value::from(s.hostname().map(|h| h.to_string()).unwrap_or_default()),
            postmaster: Value::from(s.postmaster().to_string()),
            derived: Value::from(Serde(Derived {
                http_body_limit: s.http_body_limit(),
                webmail_max_filesize_mib: s.webmail_max_filesize_mib(),
                tls_enabled: s.tls_enabled(),
                session_cookie_secure: s.session_cookie_secure(),
            })),
            domains: std::cell::RefCell::default(),
        }
    }

    /// The names every template sees.
    pub fn common(&self, service: &str) -> BTreeMap<&'static str, Value> {
        let mut c = BTreeMap::new();
        c.insert("settings", self.settings.clone());
        c.insert("hostname", self.hostname.clone());
        c.insert("postmaster", self.postmaster.clone());
        c.insert("service", Value::from(service.to_owned()));
        c.insert("derived", self.derived.clone());
        c
    }

    /// The context of a per-domain file.
    pub fn domain(
        &self,
        service: &str,
        name: &DomainName,
        entry: &DomainEntry,
        secrets: SecretIds<'_>,
    ) -> Value {
        let mut c = self.common(service);
        let view = self.cached(name, true, || {
            Value::from(Serde(FullDomainView {
                base: DomainView::new(name, entry),
                dkim_key: dkim_key(name, secrets),
                users: entry
                    .users
                    .iter()
                    .map(|(l, u)| UserView::new(name, l, u, secrets))
                    .collect(),
                aliases: aliases(name, entry),
            }))
        });
        c.insert("domain", view);
        Value::from(c)
    }

    /// The context of a per-user file.
    pub fn user(
        &self,
        service: &str,
        name: &DomainName,
        entry: &DomainEntry,
        local: &Localpart,
        user: &User,
        secrets: SecretIds<'_>,
    ) -> Value {
        let mut c = self.common(service);
        let view = self.cached(name, false, || {
            Value::from(Serde(UserDomainView {
                base: DomainView::new(name, entry),
                dkim_key: dkim_key(name, secrets),
            }))
        });
        c.insert("domain", view);
        c.insert(
            "user",
            Value::from(Serde(UserView::new(name, local, user, secrets))),
        );
        Value::from(c)
    }

    fn cached(&self, name: &DomainName, full: bool, make: impl FnOnce() -> Value) -> Value {
        let mut domains = self.domains.borrow_mut();
        let values = domains.entry(name.clone()).or_default();
        let slot = if full {
            &mut values.full
        } else {
            &mut values.base
        };
        slot.get_or_insert_with(make).clone()
    }
}

/// Values derived from several settings, computed once here rather than in every template.
#[derive(Serialize)]
struct Derived {
    http_body_limit: u64,
    webmail_max_filesize_mib: u64,
    tls_enabled: bool,
    session_cookie_secure: bool,
}

/// What global files read from the tree itself (loaded only when a file declares it).
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// `mailu-overrides/<path>` → text.
    pub mailu_overrides: &'a BTreeMap<String, String>,
    /// The text of `certificates/cert.pem`, if there is one.
    pub certificate: Option<&'a str>,
}

/// The certificate as templates see it (`tls`).
#[derive(Serialize)]
struct TlsView {
    /// The PEM chain, leaf first, or none.
    cert: Option<String>,
    /// The placeholder of the key (`secrets/tls/cert`), or none.
    key: Option<String>,
}

/// The context of a global file: the common names and what its `reads` declare.
pub fn global(
    config: &Config,
    shared: &Shared,
    service: &str,
    spec: &FileSpec,
    secrets: SecretIds<'_>,
    inputs: Inputs<'_>,
) -> Value {
    let mailu_overrides = inputs.mailu_overrides;
    let mut c = shared.common(service);
    if spec.reads(Read::Domains) {
        let domains: Vec<DomainView> = config
            .domains
            .iter()
            .map(|(name, e)| DomainView::new(name, e))
            .collect();
        c.insert("domains", Value::from(Serde(domains)));
    }
    if spec.reads(Read::Relays) {
        let relays: Vec<RelayView> = config
            .relays
            .iter()
            .map(|(name, r)| RelayView {
                name: name.to_string(),
                unicode: name.to_unicode(),
                comment: r.comment.clone(),
                target: r.smtp.to_string(),
                transport: r.smtp.postfix_transport(name),
            })
            .collect();
        c.insert("relays", Value::from(Serde(relays)));
    }
    if spec.reads(Read::Services) {
        c.insert("services", Value::from(Serde(&config.services)));
    }
    if spec.reads(Read::Fetches) {
        // Through the index of fetch owners: a user change re-renders the files that read
        // fetches, and walking every user would make that O(users).
        let mut fetches = Vec::new();
        for email in config.fetch_owners() {
            if let Some(user) = config.user(email) {
                fetches.extend(
                    user.fetches
                        .iter()
                        .map(|f| FetchView::new(email, f, secrets)),
                );
            }
        }
        c.insert("fetches", Value::from(Serde(fetches)));
    }
    if spec.reads(Read::Secrets) {
        let known: BTreeMap<String, (SecretRef, gix::ObjectId)> = config
            .secrets
            .iter()
            .filter_map(|r| secrets(r).map(|id| (r.to_string(), (r.clone(), id))))
            .collect();
        let known = std::sync::Arc::new(known);
        let k = known.clone();
        c.insert(
            "secret",
            // `secret(kind, name, escape="quoted")`: the placeholder, filled escaped for the
            // string it sits in (`crate::secret::Escape`); without `escape`, verbatim.
            Value::from_function(
                move |kind: String, name: String, kwargs: minijinja::value::Kwargs| {
                    let escape = match kwargs.get::<Option<String>>("escape")? {
                        None => crate::secret::Escape::Raw,
                        Some(mode) => crate::secret::Escape::parse(&mode).ok_or_else(|| {
                            minijinja::Error::new(
                                minijinja::ErrorKind::InvalidOperation,
                                format!(
                                    "secret(): `{mode}` is not an escape mode (`quoted` or `fetchmail`)"
                                ),
                            )
                        })?,
                    };
                    kwargs.assert_all_used()?;
                    let (r, id) = k.get(&format!("{kind}/{name}")).ok_or_else(|| {
                        minijinja::Error::new(
                            minijinja::ErrorKind::InvalidOperation,
                            format!(
                                "secret `{kind}/{name}` does not exist (secrets/{kind}/{name})"
                            ),
                        )
                    })?;
                    Ok(crate::secret::escaped(r, id, escape))
                },
            ),
        );
        c.insert(
            "has_secret",
            Value::from_function(move |kind: String, name: String| {
                known.contains_key(&format!("{kind}/{name}"))
            }),
        );
    }
    if spec.reads(Read::MailuOverrides) {
        c.insert("mailu_overrides", Value::from(Serde(mailu_overrides)));
    }
    if spec.reads(Read::Certificate) {
        let key = crate::tls::key_ref();
        let view = TlsView {
            cert: inputs.certificate.map(|c| c.to_owned()),
            key: secrets(&key).map(|id| placeholder(&key, &id)),
        };
        c.insert("tls", Value::from(Serde(view)));
    }
    Value::from(c)
}

fn placeholder(secret: &SecretRef, id: &gix::ObjectId) -> String {
    crate::secret::placeholder(secret, id)
}

fn dkim_key(name: &DomainName, secrets: SecretIds<'_>) -> Option<String> {
    let r = SecretRef::new("dkim", name.as_str()).ok()?;
    secrets(&r).map(|id| placeholder(&r, &id))
}

#[derive(Serialize)]
struct DomainView {
    name: String,
    unicode: String,
    comment: String,
    max_users: i64,
    max_aliases: i64,
    max_quota_bytes: u64,
    signup_enabled: bool,
    anonmail_enabled: bool,
    alternatives: Vec<String>,
    managers: Vec<String>,
    dkim_public_key: String,
}

impl DomainView {
    fn new(name: &DomainName, e: &DomainEntry) -> DomainView {
        let d = &e.domain;
        let mut alternatives: Vec<String> = d.alternatives.iter().map(|a| a.to_string()).collect();
        alternatives.sort();
        DomainView {
            name: name.to_string(),
            unicode: name.to_unicode(),
            comment: d.comment.clone(),
            max_users: d.max_users,
            max_aliases: d.max_aliases,
            max_quota_bytes: d.max_quota_bytes,
            signup_enabled: d.signup_enabled,
            anonmail_enabled: d.anonmail_enabled,
            alternatives,
            managers: d.managers.iter().map(|m| m.to_string()).collect(),
            dkim_public_key: d.dkim_public_key.clone(),
        }
    }
}

#[derive(Serialize)]
struct FullDomainView {
    #[serde(flatten)]
    base: DomainView,
    dkim_key: Option<String>,
    users: Vec<UserView>,
    aliases: Vec<AliasView>,
}

#[derive(Serialize)]
struct UserDomainView {
    #[serde(flatten)]
    base: DomainView,
    dkim_key: Option<String>,
}

#[derive(Serialize)]
struct RelayView {
    name: String,
    unicode: String,
    comment: String,
    target: String,
    transport: String,
}

#[derive(Serialize)]
struct UserView {
    email: String,
    localpart: String,
    comment: String,
    password: String,
    password_dovecot: Option<String>,
    password_legacy: Option<String>,
    quota_bytes: u64,
    global_admin: bool,
    enabled: bool,
    enable_imap: bool,
    enable_pop: bool,
    allow_spoofing: bool,
    forward_enabled: bool,
    forward_destination: Vec<String>,
    forward_keep: bool,
    reply_enabled: bool,
    reply_subject: String,
    reply_body: String,
    reply_startdate: String,
    reply_enddate: String,
    displayed_name: String,
    spam_enabled: bool,
    spam_mark_as_read: bool,
    spam_threshold: u8,
    change_pw_next_login: bool,
    tokens: Vec<TokenView>,
    fetches: Vec<FetchView>,
}

/// The hash as dovecot reads it, and the legacy hash when dovecot cannot.
fn hash_forms(raw: &str) -> (Option<String>, Option<String>) {
    match Hash::parse(raw) {
        Ok(h) if h.is_legacy() => (None, Some(raw.to_owned())),
        Ok(h) => (h.dovecot(), None),
        // The model refuses such files; nothing usable to render.
        Err(_) => (None, None),
    }
}

impl UserView {
    fn new(domain: &DomainName, local: &Localpart, u: &User, secrets: SecretIds<'_>) -> UserView {
        let email = Email {
            local: local.clone(),
            domain: domain.clone(),
        };
        let (password_dovecot, password_legacy) = hash_forms(&u.password);
        UserView {
            email: email.to_string(),
            localpart: local.to_string(),
            comment: u.comment.clone(),
            password: u.password.clone(),
            password_dovecot,
            password_legacy,
            quota_bytes: u.quota_bytes,
            global_admin: u.global_admin,
            enabled: u.enabled,
            enable_imap: u.enable_imap,
            enable_pop: u.enable_pop,
            allow_spoofing: u.allow_spoofing,
            forward_enabled: u.forward_enabled,
            forward_destination: u
                .forward_destination
                .iter()
                .map(|e| e.to_string())
                .collect(),
            forward_keep: u.forward_keep,
            reply_enabled: u.reply_enabled,
            reply_subject: u.reply_subject.clone(),
            reply_body: u.reply_body.clone(),
            reply_startdate: u.reply_startdate.to_string(),
            reply_enddate: u.reply_enddate.to_string(),
            displayed_name: u.displayed_name.clone(),
            spam_enabled: u.spam_enabled,
            spam_mark_as_read: u.spam_mark_as_read,
            spam_threshold: u.spam_threshold,
            change_pw_next_login: u.change_pw_next_login,
            tokens: u.tokens.iter().map(TokenView::new).collect(),
            fetches: u
                .fetches
                .iter()
                .map(|f| FetchView::new(&email, f, secrets))
                .collect(),
        }
    }
}

#[derive(Serialize)]
struct TokenView {
    id: String,
    comment: String,
    ip: Vec<String>,
    password: String,
    password_dovecot: Option<String>,
    password_legacy: Option<String>,
    created: Option<String>,
}

impl TokenView {
    fn new(t: &Token) -> TokenView {
        let (password_dovecot, password_legacy) = hash_forms(&t.password);
        TokenView {
            id: t.id.to_string(),
            comment: t.comment.clone(),
            ip: t.ip.iter().map(|c| c.to_string()).collect(),
            password: t.password.clone(),
            password_dovecot,
            password_legacy,
            created: t.created.map(|d| d.to_string()),
        }
    }
}

#[derive(Serialize)]
struct FetchView {
    id: String,
    user: String,
    protocol: crate::model::user::Protocol,
    host: String,
    port: u16,
    tls: bool,
    username: String,
    keep: bool,
    scan: bool,
    invisible: bool,
    folders: Vec<String>,
    password: Option<String>,
}

impl FetchView {
    fn new(user: &Email, f: &Fetch, secrets: SecretIds<'_>) -> FetchView {
        let password = SecretRef::new("fetch", &f.id.to_string())
            .ok()
            // fetchmailrc's strings end at the first `"`: the value comes escaped for them.
            .and_then(|r| {
                secrets(&r)
                    .map(|id| crate::secret::escaped(&r, &id, crate::secret::Escape::Fetchmail))
            });
        FetchView {
            id: f.id.to_string(),
            user: user.to_string(),
            protocol: f.protocol,
            host: f.host.clone(),
            port: f.port,
            tls: f.tls,
            username: f.username.clone(),
            keep: f.keep,
            scan: f.scan,
            invisible: f.invisible,
            folders: f.folders.clone(),
            password,
        }
    }
}

#[derive(Serialize)]
struct AliasView {
    email: String,
    localpart: String,
    destination: Vec<String>,
    wildcard: bool,
    disabled: bool,
    comment: String,
    hostname: String,
    pattern: Option<String>,
}

/// The aliases in Mailu's precedence (`Alias.resolve`): exact ones first, then wildcards by the
/// length of their pattern, longest first.
fn aliases(domain: &DomainName, e: &DomainEntry) -> Vec<AliasView> {
    let mut all: Vec<(&Localpart, &Alias)> = e.aliases.iter().collect();
    all.sort_by(|(la, a), (lb, b)| {
        a.wildcard.cmp(&b.wildcard).then_with(|| {
            let (na, nb) = (la.as_str().chars().count(), lb.as_str().chars().count());
            if a.wildcard {
                nb.cmp(&na).then_with(|| la.cmp(lb))
            } else {
                la.cmp(lb)
            }
        })
    });
    all.into_iter()
        .map(|(local, a)| AliasView {
            email: format!("{local}@{domain}"),
            localpart: local.to_string(),
            destination: a.destination.iter().map(|d| d.to_string()).collect(),
            wildcard: a.wildcard,
            disabled: a.disabled,
            comment: a.comment.clone(),
            hostname: a.hostname.clone(),
            pattern: a
                .wildcard
                .then(|| like_pattern(local.as_str(), domain.as_str())),
        })
        .collect()
}

/// An SQL `LIKE` localpart as a regular expression over the whole address (POSIX ERE and PCRE).
pub fn like_pattern(local: &str, domain: &str) -> String {
    let mut re = String::from("^");
    for c in local.chars() {
        match c {
            '%' => re.push_str(".*"),
            '_' => re.push('.'),
            c => re.push_str(&regex_escape(&c.to_string())),
        }
    }
    re.push('@');
    re.push_str(&regex_escape(domain));
    re.push('$');
    re
}

/// Escapes the characters special in POSIX ERE and PCRE.
pub fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.^$|?*+()[]{}/".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_match_the_whole_address() {
        assert_eq!(
            like_pattern("sales%", "example.com"),
            "^sales.*@example\\.com$"
        );
        assert_eq!(like_pattern("a_b.c", "x.y"), "^a.b\\.c@x\\.y$");
        assert_eq!(like_pattern("%", "x.y"), "^.*@x\\.y$");
    }
}
