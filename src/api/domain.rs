//! `/api/v1/domain`: Mailu's domain resource over `domains/<domain>/domain.toml`, with its DNS records
//! (`model::dns`), managers (`domain/manager`) and users (`domain/users`).
//!
//! The logic is plain functions over a [`View`]: reads return DTOs with Mailu's field names, writes
//! (`plan_*`) return the [`Change`] the write path journals; Mailu's response message is the change's
//! summary. Names are shown in Unicode and accepted in either form. Mailu's codes: 400 for a
//! malformed name or a broken rule (`errors` names the field), 404 for a missing domain, 409 for a
//! name already used by a domain, an alternative or a relay. Not here: DKIM key generation
//! (`POST /domain/<d>/dkim`), which needs the secret store; alternatives live in their own module
//! although they are stored in this file.

pub mod dkim;
pub mod manager;
pub mod users;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::listing::{Page, Search};
use super::request::Tagged;
use super::resource::{Change, View, check_if_match, etag_of, invalid};
use super::{Authorized, Context, Error, Read};
use crate::journal::Edit;
use crate::model::domain::Domain;
use crate::model::{Config, DomainEntry, DomainName, Email, FileType, RepoPath, dns, edit, rules};

/// Mailu's `Domain`: the body of `POST /domain`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainCreate {
    pub name: String,
    pub comment: Option<String>,
    pub max_users: Option<i64>,
    pub max_aliases: Option<i64>,
    pub max_quota_bytes: Option<u64>,
    pub signup_enabled: Option<bool>,
    pub alternatives: Option<Vec<String>>,
}

/// Mailu's `DomainUpdate`: the body of `PATCH /domain/<d>`. Absent fields stay as they are;
/// `alternatives` are added, never removed (as Mailu).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainUpdate {
    pub comment: Option<String>,
    pub max_users: Option<i64>,
    pub max_aliases: Option<i64>,
    pub max_quota_bytes: Option<u64>,
    pub signup_enabled: Option<bool>,
    pub alternatives: Option<Vec<String>>,
}

/// Mailu's `DomainGet`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DomainGet {
    pub name: String,
    pub comment: String,
    pub managers: Vec<String>,
    pub max_users: i64,
    pub max_aliases: i64,
    pub max_quota_bytes: u64,
    pub signup_enabled: bool,
    pub alternatives: Vec<String>,
    #[serde(flatten)]
    pub dns: dns::Records,
}

impl DomainGet {
    /// `spki` is the `TLSA 3 1 1` data of the certificate ([`tlsa_data`]).
    pub fn new(
        config: &Config,
        name: &DomainName,
        domain: &Domain,
        spki: Option<&str>,
    ) -> DomainGet {
        DomainGet {
            name: name.to_unicode(),
            comment: domain.comment.clone(),
            managers: domain.managers.iter().map(Email::to_unicode).collect(),
            max_users: domain.max_users,
            max_aliases: domain.max_aliases,
            max_quota_bytes: domain.max_quota_bytes,
            signup_enabled: domain.signup_enabled,
            alternatives: domain.alternatives.iter().map(|a| a.to_unicode()).collect(),
            dns: dns::records(config, name, spki),
        }
    }
}

/// `GET /domain`: every domain, in name order (ASCII), filtered and paged.
pub fn list(view: &dyn View, page: &Search) -> Page<DomainGet> {
    let config = view.config();
    let spki = tlsa_data(view);
    page.apply(config.domains.iter(), |(name, _)| {
        vec![name.as_str().to_owned(), name.to_unicode()]
    })
    .map(|(name, entry)| DomainGet::new(config, name, &entry.domain, spki.as_deref()))
}

/// The SHA-256 of the certificate's public key, the data of its `TLSA 3 1 1` record (read once
/// per request: every domain shares the one certificate).
pub fn tlsa_data(view: &dyn View) -> Option<String> {
    crate::tls::stored(|p| view.read(p)).map(|s| s.chain.info.spki_sha256)
}

/// `GET /domain/<d>`.
pub fn get(view: &dyn View, raw: &str) -> Result<Tagged<DomainGet>, Error> {
    let name = parse_domain(raw, "domain", "Domain")?;
    let entry = existing(view.config(), &name)?;
    Ok(Tagged {
        value: DomainGet::new(
            view.config(),
            &name,
            &entry.domain,
            tlsa_data(view).as_deref(),
        ),
        etag: etag_of(&current(view, &RepoPath::domain(&name))?),
    })
}

/// `POST /domain`.
pub fn plan_create(view: &dyn View, body: DomainCreate) -> Result<Change, Error> {
    let config = view.config();
    let name = parse_domain(&body.name, "name", "Domain")?;
    if let Some(holder) = config.fqdn(&name) {
        return Err(Error::Conflict(format!(
            "Duplicate domain name {}: it is {}",
            name.to_unicode(),
            holder.describe(&name)
        )));
    }
    let mut domain = Domain::default();
    apply(&mut domain, body.comment, body.max_users, body.max_aliases);
    if let Some(q) = body.max_quota_bytes {
        domain.max_quota_bytes = q;
    }
    if let Some(s) = body.signup_enabled {
        domain.signup_enabled = s;
    }
    domain.alternatives = new_alternatives(config, &[], body.alternatives)?;
    validate(config, &name, &domain)?;
    let mut names = domain.alternatives.clone();
    names.push(name.clone());
    check_newly_local(config, &name, &names)?;
    Ok(Change {
        summary: format!("Domain {} has been created", name.to_unicode()),
        edits: vec![rewrite(view, &RepoPath::domain(&name), &domain)?],
    })
}

/// `PATCH /domain/<d>`.
pub fn plan_update(
    view: &dyn View,
    raw: &str,
    headers: &HeaderMap,
    body: DomainUpdate,
) -> Result<Change, Error> {
    let config = view.config();
    let name = parse_domain(raw, "domain", "Domain")?;
    let mut domain = existing(config, &name)?.domain.clone();
    let path = RepoPath::domain(&name);
    check_if_match(headers, Some(&current(view, &path)?))?;
    apply(&mut domain, body.comment, body.max_users, body.max_aliases);
    if let Some(q) = body.max_quota_bytes {
        domain.max_quota_bytes = q;
    }
    if let Some(s) = body.signup_enabled {
        domain.signup_enabled = s;
    }
    let added = new_alternatives(config, &domain.alternatives, body.alternatives)?;
    domain.alternatives.extend(added.iter().cloned());
    validate(config, &name, &domain)?;
    check_newly_local(config, &name, &added)?;
    Ok(Change {
        summary: format!("Domain {} has been updated", name.to_unicode()),
        edits: vec![rewrite(view, &path, &domain)?],
    })
}

/// `DELETE /domain/<d>`: the whole `domains/<d>/` folder (its users and aliases, as Mailu's cascade),
/// and its users as managers of other domains. Its DKIM key stays, as Mailu leaves the key file.
pub fn plan_delete(view: &dyn View, raw: &str, headers: &HeaderMap) -> Result<Change, Error> {
    let config = view.config();
    let name = parse_domain(raw, "domain", "Domain")?;
    let entry = existing(config, &name)?;
    let path = RepoPath::domain(&name);
    check_if_match(headers, Some(&current(view, &path)?))?;
    let mut edits = vec![Edit {
        path,
        content: None,
    }];
    for local in entry.users.keys() {
        let email = Email {
            local: local.clone(),
            domain: name.clone(),
        };
        edits.push(Edit {
            path: RepoPath::user(&email),
            content: None,
        });
    }
    for local in entry.aliases.keys() {
        let email = Email {
            local: local.clone(),
            domain: name.clone(),
        };
        edits.push(Edit {
            path: RepoPath::alias(&email),
            content: None,
        });
    }
    for (other, other_entry) in &config.domains {
        if *other == name || !other_entry.domain.managers.iter().any(|m| m.domain == name) {
            continue;
        }
        let mut kept = other_entry.domain.clone();
        kept.managers.retain(|m| m.domain != name);
        edits.push(rewrite(view, &RepoPath::domain(other), &kept)?);
    }
    Ok(Change {
        summary: format!("Domain {} has been deleted", name.to_unicode()),
        edits,
    })
}

/// Sets the fields `DomainCreate` and `DomainUpdate` share.
fn apply(
    domain: &mut Domain,
    comment: Option<String>,
    max_users: Option<i64>,
    max_aliases: Option<i64>,
) {
    if let Some(c) = comment {
        domain.comment = c;
    }
    if let Some(m) = max_users {
        domain.max_users = m;
    }
    if let Some(m) = max_aliases {
        domain.max_aliases = m;
    }
}

/// Parses requested alternatives and refuses, as Mailu, repeats in the request and names already in
/// use (409), `existing` (the domain's own alternatives) included.
fn new_alternatives(
    config: &Config,
    existing: &[DomainName],
    raw: Option<Vec<String>>,
) -> Result<Vec<DomainName>, Error> {
    let mut out: Vec<DomainName> = Vec::new();
    for (i, raw) in raw.unwrap_or_default().iter().enumerate() {
        let alt = parse_domain(raw, &format!("alternatives.{i}"), "Alternative domain")?;
        if out.contains(&alt) {
            return Err(Error::Conflict(
                "Duplicate alternative domain names in request".into(),
            ));
        }
        if let Some(holder) = config.fqdn(&alt) {
            return Err(Error::Conflict(format!(
                "Duplicate alternative domain name {}: it is {}",
                alt.to_unicode(),
                holder.describe(&alt)
            )));
        }
        if existing.contains(&alt) {
            return Err(Error::Conflict(format!(
                "Duplicate alternative domain name {}",
                alt.to_unicode()
            )));
        }
        out.push(alt);
    }
    Ok(out)
}

/// Refuses (409) to make `names` local names of `target` while an alias somewhere sends mail to an
/// address at one of them that `target` cannot receive: such a destination was external until now,
/// and would break the rule that local destinations exist. O(aliases); names are rarely added.
pub(super) fn check_newly_local(
    config: &Config,
    target: &DomainName,
    names: &[DomainName],
) -> Result<(), Error> {
    for (domain, entry) in &config.domains {
        for (local, alias) in &entry.aliases {
            for d in alias
                .destination
                .iter()
                .filter(|d| names.contains(&d.domain))
            {
                let there = Email {
                    local: d.local.clone(),
                    domain: target.clone(),
                };
                if config.local_recipient_exists(&there) != Some(true) {
                    return Err(Error::Conflict(format!(
                        "alias {}@{} sends mail to {}, which would become a local address with no user or alias",
                        local,
                        domain.to_unicode(),
                        d.to_unicode()
                    )));
                }
            }
        }
    }
    Ok(())
}

/// The file's own rules and the rules across files, as a 400 naming the fields.
pub(super) fn validate(config: &Config, name: &DomainName, domain: &Domain) -> Result<(), Error> {
    let mut problems = Vec::new();
    domain.validate(&mut problems);
    problems.extend(rules::check_domain(config, name, domain));
    problems.extend(rules::check_domain_members(config, name, domain));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(invalid(problems))
    }
}

/// A domain name from a path or a body; `what` starts Mailu's message ("Domain x is not a valid
/// domain").
pub(super) fn parse_domain(raw: &str, field: &str, what: &str) -> Result<DomainName, Error> {
    DomainName::parse(raw).map_err(|e| Error::Invalid {
        message: format!("{what} {raw} is not a valid domain: {e}"),
        errors: [(field.to_owned(), e.0)].into(),
    })
}

/// An email address from a path or a body, with Mailu's message.
pub(super) fn parse_email(raw: &str, field: &str) -> Result<Email, Error> {
    Email::parse(raw).map_err(|e| Error::Invalid {
        message: format!("Invalid email address {raw}: {e}"),
        errors: [(field.to_owned(), e.0)].into(),
    })
}

/// The domain, or Mailu's 404.
pub(super) fn existing<'a>(
    config: &'a Config,
    name: &DomainName,
) -> Result<&'a DomainEntry, Error> {
    config
        .domain(name)
        .ok_or_else(|| Error::NotFound(format!("Domain {} does not exist", name.to_unicode())))
}

/// The bytes of a file the configuration says exists.
pub(super) fn current(view: &dyn View, path: &RepoPath) -> Result<Vec<u8>, Error> {
    view.read(path).ok_or_else(|| {
        Error::HeadInvalid(format!(
            "{path} is in the configuration but not in the tree"
        ))
    })
}

/// The edit that makes `path` hold `value`: the current text updated in place (so an operator's
/// comments and layout survive), or a fresh file.
pub(super) fn rewrite<T: Serialize + DeserializeOwned>(
    view: &dyn View,
    path: &RepoPath,
    value: &T,
) -> Result<Edit, Error> {
    let text = match view.read(path) {
        Some(bytes) => {
            let text = String::from_utf8(bytes)
                .map_err(|_| Error::HeadInvalid(format!("{path} is not UTF-8")))?;
            edit::update(&text, value)
        }
        None => edit::render(value),
    }
    .map_err(|e| Error::HeadInvalid(format!("cannot write {path}: {e}")))?;
    Ok(Edit {
        path: path.clone(),
        content: Some(text.into_bytes()),
    })
}

/// `GET /api/v1/domain`.
#[utoipa::path(
    get,
    path = "/api/v1/domain",
    operation_id = "list_domain",
    tag = "domain",
    summary = "List domains",
    params(
        crate::api::openapi::PageQuery,
    ),
    responses(
        (status = 200, description = "the domains (total in `X-Total-Count`)", body = Vec<DomainGet>),
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn get_all(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
    query: Result<Query<std::collections::BTreeMap<String, String>>, QueryRejection>,
) -> Result<Response, Error> {
    let page = Search::parse(query)?;
    let paged = crate::api::resource::read(&ctx, move |view| Ok(list(view, &page))).await?;
    Ok(paged.into_response())
}

/// `GET /api/v1/domain/{domain}`.
#[utoipa::path(
    get,
    path = "/api/v1/domain/{domain}",
    operation_id = "find_domain",
    tag = "domain",
    summary = "One domain, with its DNS records",
    params(
        ("domain" = String, Path, description = "domain name (Unicode or ASCII)"),
    ),
    responses(
        (status = 200, description = "the domain, with its `ETag`", body = DomainGet),
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such domain", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn get_one(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
    Path(domain): Path<String>,
) -> Result<Response, Error> {
    let tagged = crate::api::resource::read(&ctx, move |view| get(view, &domain)).await?;
    Ok(tagged.into_response())
}

#[cfg(test)]
pub(crate) mod tests;

// Write handlers: parse the body (400 naming the field), plan under the writer's lock, submit.

type Ctx = axum::extract::State<crate::api::Context>;
type Raw = axum::extract::Path<String>;

/// `POST /api/v1/domain`.
#[utoipa::path(
    post,
    path = "/api/v1/domain",
    operation_id = "create_domain",
    tag = "domain",
    summary = "Create a domain",
    params(
        crate::api::openapi::WaitQuery,
    ),
    request_body(content = DomainCreate),
    responses(
        crate::api::openapi::WriteAnswers,
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
        (status = 409, description = "the domain exists", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn post(
    caller: crate::api::Authorized<crate::api::Write>,
    axum::extract::State(ctx): Ctx,
    crate::api::write::Wait(wait): crate::api::write::Wait,
    crate::api::Body(body): crate::api::Body,
) -> Result<axum::response::Response, Error> {
    let body: DomainCreate = crate::api::request::parse_json(&body)?;
    crate::api::write::apply(&ctx, &caller.caller.name, wait, move |view| {
        plan_create(view, body)
    })
    .await
}

/// `PATCH /api/v1/domain/{domain}`.
#[utoipa::path(
    patch,
    path = "/api/v1/domain/{domain}",
    operation_id = "update_domain",
    tag = "domain",
    summary = "Change a domain",
    params(
        ("domain" = String, Path, description = "domain name (Unicode or ASCII)"),
        ("If-Match" = Option<String>, Header, description = "the `ETag` the change is based on; 412 when the object changed since"),
        crate::api::openapi::WaitQuery,
    ),
    request_body(content = DomainUpdate),
    responses(
        crate::api::openapi::WriteAnswers,
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such domain", body = crate::api::openapi::ErrorBody),
        (status = 412, description = "`If-Match` names another version of the object", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn patch(
    caller: crate::api::Authorized<crate::api::Write>,
    axum::extract::State(ctx): Ctx,
    crate::api::write::Wait(wait): crate::api::write::Wait,
    axum::extract::Path(raw): Raw,
    headers: HeaderMap,
    crate::api::Body(body): crate::api::Body,
) -> Result<axum::response::Response, Error> {
    let body: DomainUpdate = crate::api::request::parse_json(&body)?;
    crate::api::write::apply(&ctx, &caller.caller.name, wait, move |view| {
        plan_update(view, &raw, &headers, body)
    })
    .await
}

/// `DELETE /api/v1/domain/{domain}`.
#[utoipa::path(
    delete,
    path = "/api/v1/domain/{domain}",
    operation_id = "delete_domain",
    tag = "domain",
    summary = "Delete a domain and its users and aliases",
    params(
        ("domain" = String, Path, description = "domain name (Unicode or ASCII)"),
        ("If-Match" = Option<String>, Header, description = "the `ETag` the change is based on; 412 when the object changed since"),
        crate::api::openapi::WaitQuery,
    ),
    responses(
        crate::api::openapi::WriteAnswers,
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such domain", body = crate::api::openapi::ErrorBody),
        (status = 412, description = "`If-Match` names another version of the object", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn delete(
    caller: crate::api::Authorized<crate::api::Write>,
    axum::extract::State(ctx): Ctx,
    crate::api::write::Wait(wait): crate::api::write::Wait,
    axum::extract::Path(raw): Raw,
    headers: HeaderMap,
) -> Result<axum::response::Response, Error> {
    crate::api::write::apply(&ctx, &caller.caller.name, wait, move |view| {
        plan_delete(view, &raw, &headers)
    })
    .await
}
