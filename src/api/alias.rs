//! `/api/v1/alias`: Mailu's `alias` resource over `domains/<domain>/aliases/<local>.toml`, as pure
//! functions of a [`View`] plus the GET handlers (`/alias`, `/alias/{alias}`,
//! `/alias/destination/{domain}`: the aliases *of* a domain, whatever the name says).
//!
//! Writes ([`plan_create`], [`plan_update`], [`plan_delete`]) are cheap and run under the writer's
//! lock; their body is read with `body::parse` first. Where we differ from Mailu (see
//! `docs/api.md`): `disabled` and `hostname` are honoured on POST and PATCH (Mailu ignores them);
//! a destination in a local domain may be a user *or* an alias (the model's rule) and a missing one
//! is a 400 naming `destination.N` (Mailu: 404, users only); external destinations are allowed; a
//! delete is refused (409) while other aliases point at this one.

use std::collections::BTreeMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::listing::{self, Page, Search};
use super::resource::{Change, View, check_if_match, etag_of, invalid};
use super::user::{address, domain_not_found};
use super::{Authorized, Context, Error, Read, body};
use crate::journal::Edit;
use crate::model::alias::Alias;
use crate::model::{DomainName, Email, FileType, Localpart, Problem, RepoPath, edit, rules};

/// Mailu's `Alias` as GET shows it (no `owner_email` or `created_at`: the model has neither).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AliasGet {
    /// In Unicode form.
    pub email: String,
    pub comment: String,
    pub destination: Vec<String>,
    pub wildcard: bool,
    /// `null` when the alias is not an anonymous one, as in Mailu.
    pub hostname: Option<String>,
    pub disabled: bool,
}

impl AliasGet {
    pub fn new(email: &Email, a: &Alias) -> AliasGet {
        AliasGet {
            email: email.to_unicode(),
            comment: a.comment.clone(),
            destination: a.destination.iter().map(Email::to_unicode).collect(),
            wildcard: a.wildcard,
            hostname: Some(a.hostname.clone()).filter(|h| !h.is_empty()),
            disabled: a.disabled,
        }
    }
}

/// Mailu's `Alias` (POST) and `AliasUpdate` (PATCH, no `email`). `owner_email` and `created_at`
/// are read-only in Mailu's schema; here they are refused when given.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AliasBody {
    #[schema(value_type = Option<String>)]
    pub email: Option<Email>,
    pub comment: Option<String>,
    #[schema(value_type = Option<Vec<String>>)]
    pub destination: Option<Vec<Email>>,
    pub wildcard: Option<bool>,
    pub hostname: Option<String>,
    pub disabled: Option<bool>,
    pub owner_email: Option<serde_json::Value>,
    pub created_at: Option<serde_json::Value>,
}

impl AliasBody {
    fn apply(self, a: &mut Alias) -> Result<(), Error> {
        let read_only = "is read-only: anonymous alias owners and creation dates are not kept";
        body::refuse(&self.owner_email, "owner_email", read_only)?;
        body::refuse(&self.created_at, "created_at", read_only)?;
        if let Some(v) = self.comment {
            a.comment = v;
        }
        if let Some(v) = self.destination {
            a.destination = v;
        }
        if let Some(v) = self.wildcard {
            a.wildcard = v;
        }
        if let Some(v) = self.hostname {
            a.hostname = v;
        }
        if let Some(v) = self.disabled {
            a.disabled = v;
        }
        Ok(())
    }
}

/// The change that creates an alias: 404 without its domain, 409 when the address is taken (by an
/// alias or a user) or the domain is full, 400 naming the field for any other rule.
pub fn plan_create(view: &dyn View, mut request: AliasBody) -> Result<Change, Error> {
    let email = body::required(request.email.take(), "email")?;
    let config = view.config();
    let Some(entry) = config.domain(&email.domain) else {
        return Err(Error::NotFound(format!(
            "Domain {} does not exist ({})",
            email.domain.to_unicode(),
            email.to_unicode()
        )));
    };
    if entry.aliases.contains_key(&email.local) {
        return Err(Error::Conflict(format!(
            "Duplicate alias {}",
            email.to_unicode()
        )));
    }
    if entry.users.contains_key(&email.local) {
        return Err(Error::Conflict(format!(
            "A user {} exists; an alias cannot have the same address",
            email.to_unicode()
        )));
    }
    let max = entry.domain.max_aliases;
    if max >= 0 && entry.aliases.len() as u64 >= max as u64 {
        return Err(Error::Conflict(format!(
            "Too many aliases for domain {} (max_aliases = {max})",
            email.domain.to_unicode()
        )));
    }
    let mut alias = Alias::default();
    request.apply(&mut alias)?;
    validate(view, &email, &alias)?;
    let summary = format!(
        "Alias {} to destination(s) {} has been created",
        email.to_unicode(),
        destinations(&alias)
    );
    Ok(Change {
        summary,
        edits: vec![Edit {
            path: RepoPath::alias(&email),
            content: Some(edit::render(&alias)?.into_bytes()),
        }],
    })
}

/// The change that updates the alias at `raw`, keeping the file's comments.
pub fn plan_update(
    view: &dyn View,
    raw: &str,
    headers: &HeaderMap,
    request: AliasBody,
) -> Result<Change, Error> {
    body::refuse(
        &request.email,
        "email",
        "unknown field: the address is the path, and an alias cannot be renamed",
    )?;
    let (email, current, text) = existing(view, raw)?;
    check_if_match(headers, Some(text.as_bytes()))?;
    let mut alias = current.clone();
    request.apply(&mut alias)?;
    validate(view, &email, &alias)?;
    Ok(Change {
        summary: format!("Alias {} has been updated", email.to_unicode()),
        edits: vec![Edit {
            path: RepoPath::alias(&email),
            content: Some(edit::update(&text, &alias)?.into_bytes()),
        }],
    })
}

/// The change that deletes the alias at `raw`; refused (409, naming each file and field) while
/// other aliases or domain managers name its address.
pub fn plan_delete(view: &dyn View, raw: &str, headers: &HeaderMap) -> Result<Change, Error> {
    let (email, _, text) = existing(view, raw)?;
    check_if_match(headers, Some(text.as_bytes()))?;
    let path = RepoPath::alias(&email);
    let referrers: Vec<String> = view
        .config()
        .referrers(&email)
        .into_iter()
        .filter(|(p, _)| *p != path)
        .map(|(p, field)| format!("{p} ({field})"))
        .collect();
    if !referrers.is_empty() {
        return Err(Error::Conflict(format!(
            "Alias {} is still referred to by {}; change those first",
            email.to_unicode(),
            referrers.join(", ")
        )));
    }
    Ok(Change {
        summary: format!("Alias {} has been deleted", email.to_unicode()),
        edits: vec![Edit {
            path,
            content: None,
        }],
    })
}

/// One alias and the `ETag` of its file.
pub fn find(view: &dyn View, raw: &str) -> Result<(AliasGet, String), Error> {
    let (email, alias, text) = existing(view, raw)?;
    Ok((AliasGet::new(&email, alias), etag_of(text.as_bytes())))
}

/// The aliases a search selects, in address order.
pub fn list(view: &dyn View, search: &Search) -> Result<Page<AliasGet>, Error> {
    let config = view.config();
    let domains: Box<dyn Iterator<Item = _>> = match &search.domain {
        Some(d) => {
            let found = config
                .domains
                .get_key_value(d)
                .ok_or_else(|| domain_not_found(d))?;
            Box::new(std::iter::once(found))
        }
        None => Box::new(config.domains.iter()),
    };
    let aliases =
        domains.flat_map(|(name, entry)| entry.aliases.iter().map(move |(l, a)| (name, l, a)));
    Ok(Page::collect(
        aliases,
        search,
        |(name, local, a)| {
            // Only a `q` needs the texts: a plain page must not format every address.
            if search.q.is_none() {
                return true;
            }
            let ascii = format!("{local}@{name}");
            let unicode = format!("{local}@{}", name.to_unicode());
            search.finds(&[&ascii, &unicode, &a.comment])
        },
        |(name, local, a)| AliasGet::new(&email(name, local), a),
    ))
}

/// `/alias/destination/{domain}`: every alias of one domain (404 when there is no such domain).
pub fn of_domain(view: &dyn View, raw: &str) -> Result<Vec<AliasGet>, Error> {
    let domain = DomainName::parse(raw).map_err(|e| Error::field("domain", e.0))?;
    let entry = view
        .config()
        .domain(&domain)
        .ok_or_else(|| domain_not_found(&domain))?;
    Ok(entry
        .aliases
        .iter()
        .map(|(local, a)| AliasGet::new(&email(&domain, local), a))
        .collect())
}

fn email(domain: &DomainName, local: &Localpart) -> Email {
    Email {
        local: local.clone(),
        domain: domain.clone(),
    }
}

fn destinations(alias: &Alias) -> String {
    let list: Vec<String> = alias.destination.iter().map(Email::to_unicode).collect();
    list.join(", ")
}

/// The alias at `raw`, with the text of its file; 404 when there is none.
fn existing<'v>(view: &'v dyn View, raw: &str) -> Result<(Email, &'v Alias, String), Error> {
    let email = address(raw, "alias")?;
    let not_found = || Error::NotFound(format!("Alias {} cannot be found", email.to_unicode()));
    let alias = view.config().alias(&email).ok_or_else(not_found)?;
    let bytes = view.read(&RepoPath::alias(&email)).ok_or_else(not_found)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::HeadInvalid(format!("{} is not UTF-8", RepoPath::alias(&email))))?;
    Ok((email, alias, text))
}

fn validate(view: &dyn View, email: &Email, alias: &Alias) -> Result<(), Error> {
    let mut problems: Vec<Problem> = Vec::new();
    alias.validate(&mut problems);
    problems.extend(rules::check_alias(view.config(), email, alias));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(invalid(problems))
    }
}

/// `GET /api/v1/alias`.
#[utoipa::path(
    get,
    path = "/api/v1/alias",
    operation_id = "list_alias",
    tag = "alias",
    summary = "List aliases",
    params(
        crate::api::openapi::SearchQuery,
    ),
    responses(
        (status = 200, description = "the aliases (total in `X-Total-Count`)", body = Vec<AliasGet>),
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn get_all(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
    query: Result<Query<BTreeMap<String, String>>, QueryRejection>,
) -> Result<Response, Error> {
    let search = Search::parse(query)?;
    let page = crate::api::resource::read(&ctx, move |view| list(view, &search)).await?;
    Ok(page.into_response())
}

/// `GET /api/v1/alias/{alias}`.
#[utoipa::path(
    get,
    path = "/api/v1/alias/{alias}",
    operation_id = "find_alias",
    tag = "alias",
    summary = "One alias",
    params(
        ("alias" = String, Path, description = "the alias address"),
        ("If-None-Match" = Option<String>, Header, description = "answers 304 when it names the current `ETag`"),
    ),
    responses(
        (status = 200, description = "the alias, with its `ETag`", body = AliasGet),
        (status = 304, description = "not modified"),
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such alias", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn get_one(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
    Path(alias): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let (alias, etag) = crate::api::resource::read(&ctx, move |view| find(view, &alias)).await?;
    Ok(listing::object(&headers, etag, alias))
}

/// `GET /api/v1/alias/destination/{domain}`.
#[utoipa::path(
    get,
    path = "/api/v1/alias/destination/{domain}",
    operation_id = "find_alias_filter_domain",
    tag = "alias",
    summary = "The aliases of a domain",
    params(
        ("domain" = String, Path, description = "domain name (Unicode or ASCII)"),
    ),
    responses(
        (status = 200, description = "the aliases", body = Vec<AliasGet>),
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such domain", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn get_destination(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
    Path(domain): Path<String>,
) -> Result<Response, Error> {
    let aliases = crate::api::resource::read(&ctx, move |view| of_domain(view, &domain)).await?;
    Ok(axum::Json(aliases).into_response())
}

#[cfg(test)]
mod tests;

// Write handlers: parse the body (400 naming the field), plan under the writer's lock, submit.

type Ctx = axum::extract::State<crate::api::Context>;
type Raw = axum::extract::Path<String>;

/// `POST /api/v1/alias`.
#[utoipa::path(
    post,
    path = "/api/v1/alias",
    operation_id = "create_alias",
    tag = "alias",
    summary = "Create an alias",
    params(
        crate::api::openapi::WaitQuery,
    ),
    request_body(content = AliasBody),
    responses(
        crate::api::openapi::WriteAnswers,
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such domain", body = crate::api::openapi::ErrorBody),
        (status = 409, description = "the address is taken or the domain is full", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn post(
    caller: crate::api::Authorized<crate::api::Write>,
    axum::extract::State(ctx): Ctx,
    crate::api::write::Wait(wait): crate::api::write::Wait,
    crate::api::Body(body): crate::api::Body,
) -> Result<axum::response::Response, Error> {
    let body: AliasBody = body::parse(&body)?;
    crate::api::write::apply(&ctx, &caller.caller.name, wait, move |view| {
        plan_create(view, body)
    })
    .await
}

/// `PATCH /api/v1/alias/{alias}`.
#[utoipa::path(
    patch,
    path = "/api/v1/alias/{alias}",
    operation_id = "update_alias",
    tag = "alias",
    summary = "Change an alias",
    params(
        ("alias" = String, Path, description = "the alias address"),
        ("If-Match" = Option<String>, Header, description = "the `ETag` the change is based on; 412 when the object changed since"),
        crate::api::openapi::WaitQuery,
    ),
    request_body(content = AliasBody),
    responses(
        crate::api::openapi::WriteAnswers,
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such alias", body = crate::api::openapi::ErrorBody),
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
    let body: AliasBody = body::parse(&body)?;
    crate::api::write::apply(&ctx, &caller.caller.name, wait, move |view| {
        plan_update(view, &raw, &headers, body)
    })
    .await
}

/// `DELETE /api/v1/alias/{alias}`.
#[utoipa::path(
    delete,
    path = "/api/v1/alias/{alias}",
    operation_id = "delete_alias",
    tag = "alias",
    summary = "Delete an alias",
    params(
        ("alias" = String, Path, description = "the alias address"),
        ("If-Match" = Option<String>, Header, description = "the `ETag` the change is based on; 412 when the object changed since"),
        crate::api::openapi::WaitQuery,
    ),
    responses(
        crate::api::openapi::WriteAnswers,
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such alias", body = crate::api::openapi::ErrorBody),
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
