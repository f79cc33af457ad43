//! `/domain/<d>/manager`: the users who may administer a domain, stored as `managers` in the domain's
//! `domain.toml`. As in Mailu a manager may be a user of any local domain and must exist; checks
//! run in Mailu's order (address syntax 400, domain 404, user 404, already a manager 409).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::{current, existing, parse_domain, parse_email, rewrite, validate};
use crate::api::request::Tagged;
use crate::api::resource::{Change, View, check_if_match, etag_of};
use crate::api::{Authorized, Context, Error, Read};
use crate::model::{DomainName, Email, RepoPath};

/// Mailu's `ManagerCreate`: the body of `POST /domain/<d>/manager`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManagerCreate {
    pub user_email: String,
}

/// Mailu's `Manager`: the answer of `GET /domain/<d>/manager`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Managers {
    pub managers: Vec<String>,
}

/// Mailu's `{code, message}` answer of `GET /domain/<d>/manager/<email>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Found {
    pub code: u16,
    pub message: String,
}

/// `GET /domain/<d>/manager`, tagged with the domain file's `ETag`.
pub fn list(view: &dyn View, raw_domain: &str) -> Result<Tagged<Managers>, Error> {
    let name = parse_domain(raw_domain, "domain", "Domain")?;
    let entry = existing(view.config(), &name)?;
    Ok(Tagged {
        value: Managers {
            managers: entry
                .domain
                .managers
                .iter()
                .map(Email::to_unicode)
                .collect(),
        },
        etag: etag_of(&current(view, &RepoPath::domain(&name))?),
    })
}

/// `GET /domain/<d>/manager/<email>`: 200 with Mailu's message when the user manages the domain.
pub fn get(view: &dyn View, raw_domain: &str, raw_email: &str) -> Result<Found, Error> {
    let (name, email) = lookup(view, raw_domain, raw_email, "email")?;
    let entry = existing(view.config(), &name)?;
    if !entry.domain.managers.contains(&email) {
        return Err(not_a_manager(&email, &name));
    }
    Ok(Found {
        code: 200,
        message: format!(
            "User {} is a manager of the domain {}",
            email.to_unicode(),
            name.to_unicode()
        ),
    })
}

/// `POST /domain/<d>/manager`.
pub fn plan_add(
    view: &dyn View,
    raw_domain: &str,
    headers: &HeaderMap,
    body: ManagerCreate,
) -> Result<Change, Error> {
    let (name, email) = lookup(view, raw_domain, &body.user_email, "user_email")?;
    let config = view.config();
    let mut domain = existing(config, &name)?.domain.clone();
    let path = RepoPath::domain(&name);
    check_if_match(headers, Some(&current(view, &path)?))?;
    if domain.managers.contains(&email) {
        return Err(Error::Conflict(format!(
            "User {} is already a manager of the domain {}",
            email.to_unicode(),
            name.to_unicode()
        )));
    }
    domain.managers.push(email.clone());
    validate(config, &name, &domain)?;
    Ok(Change {
        summary: format!(
            "User {} has been added as manager of the domain {}",
            email.to_unicode(),
            name.to_unicode()
        ),
        edits: vec![rewrite(view, &path, &domain)?],
    })
}

/// `DELETE /domain/<d>/manager/<email>`.
pub fn plan_delete(
    view: &dyn View,
    raw_domain: &str,
    raw_email: &str,
    headers: &HeaderMap,
) -> Result<Change, Error> {
    let (name, email) = lookup(view, raw_domain, raw_email, "email")?;
    let config = view.config();
    let mut domain = existing(config, &name)?.domain.clone();
    let path = RepoPath::domain(&name);
    check_if_match(headers, Some(&current(view, &path)?))?;
    if !domain.managers.contains(&email) {
        return Err(not_a_manager(&email, &name));
    }
    domain.managers.retain(|m| *m != email);
    Ok(Change {
        summary: format!(
            "User {} has been removed as a manager of the domain {}",
            email.to_unicode(),
            name.to_unicode()
        ),
        edits: vec![rewrite(view, &path, &domain)?],
    })
}

/// Parses both names and checks, in Mailu's order, that the domain and the user exist.
fn lookup(
    view: &dyn View,
    raw_domain: &str,
    raw_email: &str,
    email_field: &str,
) -> Result<(DomainName, Email), Error> {
    let email = parse_email(raw_email, email_field)?;
    let name = parse_domain(raw_domain, "domain", "Domain")?;
    existing(view.config(), &name)?;
    if view.config().user(&email).is_none() {
        return Err(Error::NotFound(format!(
            "User {} does not exist",
            email.to_unicode()
        )));
    }
    Ok((name, email))
}

fn not_a_manager(email: &Email, name: &DomainName) -> Error {
    Error::NotFound(format!(
        "User {} is not a manager of the domain {}",
        email.to_unicode(),
        name.to_unicode()
    ))
}

/// `GET /api/v1/domain/{domain}/manager`.
#[utoipa::path(
    get,
    path = "/api/v1/domain/{domain}/manager",
    operation_id = "list_managers",
    tag = "domain",
    summary = "The managers of a domain",
    params(
        ("domain" = String, Path, description = "domain name (Unicode or ASCII)"),
    ),
    responses(
        (status = 200, description = "the managers, with the domain's `ETag`", body = Managers),
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such domain", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn get_all(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
    Path(domain): Path<String>,
) -> Result<Response, Error> {
    let tagged = crate::api::resource::read(&ctx, move |view| list(view, &domain)).await?;
    Ok(tagged.into_response())
}

/// `GET /api/v1/domain/{domain}/manager/{email}`.
#[utoipa::path(
    get,
    path = "/api/v1/domain/{domain}/manager/{email}",
    operation_id = "find_manager",
    tag = "domain",
    summary = "Whether a user manages the domain",
    params(
        ("domain" = String, Path, description = "domain name (Unicode or ASCII)"),
        ("email" = String, Path, description = "the manager's address"),
    ),
    responses(
        (status = 200, description = "a manager", body = Found),
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such domain or manager", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn get_one(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
    Path((domain, email)): Path<(String, String)>,
) -> Result<Response, Error> {
    let found = crate::api::resource::read(&ctx, move |view| get(view, &domain, &email)).await?;
    Ok(Json(found).into_response())
}

// Write handlers: parse the body (400 naming the field), plan under the writer's lock, submit.

type Ctx = axum::extract::State<crate::api::Context>;
type Raw = axum::extract::Path<String>;

/// `POST /api/v1/domain/{domain}/manager`.
#[utoipa::path(
    post,
    path = "/api/v1/domain/{domain}/manager",
    operation_id = "create_manager",
    tag = "domain",
    summary = "Make a user a manager of the domain",
    params(
        ("domain" = String, Path, description = "domain name (Unicode or ASCII)"),
        ("If-Match" = Option<String>, Header, description = "the `ETag` the change is based on; 412 when the object changed since"),
        crate::api::openapi::WaitQuery,
    ),
    request_body(content = ManagerCreate),
    responses(
        crate::api::openapi::WriteAnswers,
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such domain or user", body = crate::api::openapi::ErrorBody),
        (status = 409, description = "already a manager", body = crate::api::openapi::ErrorBody),
        (status = 412, description = "`If-Match` names another version of the object", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn post(
    caller: crate::api::Authorized<crate::api::Write>,
    axum::extract::State(ctx): Ctx,
    crate::api::write::Wait(wait): crate::api::write::Wait,
    axum::extract::Path(raw): Raw,
    headers: HeaderMap,
    crate::api::Body(body): crate::api::Body,
) -> Result<axum::response::Response, Error> {
    let body: ManagerCreate = crate::api::request::parse_json(&body)?;
    crate::api::write::apply(&ctx, &caller.caller.name, wait, move |view| {
        plan_add(view, &raw, &headers, body)
    })
    .await
}

/// `DELETE /api/v1/domain/{domain}/manager/{email}`.
#[utoipa::path(
    delete,
    path = "/api/v1/domain/{domain}/manager/{email}",
    operation_id = "delete_manager",
    tag = "domain",
    summary = "Remove a manager",
    params(
        ("domain" = String, Path, description = "domain name (Unicode or ASCII)"),
        ("email" = String, Path, description = "the manager's address"),
        ("If-Match" = Option<String>, Header, description = "the `ETag` the change is based on; 412 when the object changed since"),
        crate::api::openapi::WaitQuery,
    ),
    responses(
        crate::api::openapi::WriteAnswers,
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such domain or manager", body = crate::api::openapi::ErrorBody),
        (status = 412, description = "`If-Match` names another version of the object", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn delete(
    caller: crate::api::Authorized<crate::api::Write>,
    axum::extract::State(ctx): Ctx,
    crate::api::write::Wait(wait): crate::api::write::Wait,
    axum::extract::Path((domain, email)): axum::extract::Path<(String, String)>,
    headers: HeaderMap,
) -> Result<axum::response::Response, Error> {
    crate::api::write::apply(&ctx, &caller.caller.name, wait, move |view| {
        plan_delete(view, &domain, &email, &headers)
    })
    .await
}
