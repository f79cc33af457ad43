//! `/api/v1/user`: Mailu's `user` resource over `domains/<domain>/users/<local>.toml`, as pure
//! functions of a [`View`] plus the GET handlers.
//!
//! Writes are split so that hashing a password never runs under the writer's lock:
//! [`prepare_create`] / [`prepare_update`] parse the body and hash `raw_password` (CPU-heavy: run
//! them with `spawn_blocking` under the hashing semaphore), then [`plan_create`] / [`plan_update`] /
//! [`plan_delete`] validate against the view (cheap: run them under the lock) and return the
//! [`Change`]. The answer to a write is `body::Reply::ok(change.summary)`, Mailu's body.
//!
//! Where we differ from Mailu (see `docs/api.md`): GET never returns the password hash, nor
//! `quota_bytes_used` (runtime state this server does not have); a delete is refused (409) while an
//! alias or a domain's managers name the user, instead of leaving them dangling.

use std::collections::BTreeMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::body;
use super::listing::{self, Page, Search};
use super::resource::{Change, View, check_if_match, invalid};
use super::{Authorized, Context, Error, Read};
use crate::journal::Edit;
use crate::model::user::User;
use crate::model::{Email, FileType, Problem, RepoPath, SecretRef, edit, rules};
use crate::password::{self, Cost, Hash};

mod dto;

pub use dto::{UserBody, UserGet};

/// A parsed POST body with its password hashed: the input of [`plan_create`].
pub struct PreparedCreate {
    email: Email,
    hash: Hash,
    body: UserBody,
}

/// A parsed PATCH body, its password (if any) hashed: the input of [`plan_update`].
pub struct PreparedUpdate {
    hash: Option<Hash>,
    body: UserBody,
}

/// The cost new password hashes get: the settings' `auth.credential_rounds`, raised or lowered to
/// the range the `password` module allows (the settings accept a wider one).
pub fn cost(view: &dyn View) -> Cost {
    Cost::clamped(view.config().settings.auth.credential_rounds)
}

/// Parses a POST body and hashes its `raw_password`. Slow on purpose: not under the writer's lock.
pub fn prepare_create(bytes: &[u8], cost: Cost) -> Result<PreparedCreate, Error> {
    let mut body: UserBody = body::parse(bytes)?;
    let email = body::required(body.email.take(), "email")?;
    let raw = body::required(body.raw_password.take(), "raw_password")?;
    let hash = hash(&raw, cost)?;
    Ok(PreparedCreate { email, hash, body })
}

/// Parses a PATCH body and hashes its `raw_password`, if it has one.
pub fn prepare_update(bytes: &[u8], cost: Cost) -> Result<PreparedUpdate, Error> {
    let mut body: UserBody = body::parse(bytes)?;
    body::refuse(
        &body.email,
        "email",
        "unknown field: the address is the path, and a user cannot be renamed",
    )?;
    let hash = body
        .raw_password
        .take()
        .map(|raw| hash(&raw, cost))
        .transpose()?;
    Ok(PreparedUpdate { hash, body })
}

fn hash(raw: &str, cost: Cost) -> Result<Hash, Error> {
    password::hash(raw, cost).map_err(|e| Error::field("raw_password", e.to_string()))
}

/// The change that creates the user: 404 without its domain, 409 when the address is taken or the
/// domain is full, 400 naming the field for any other rule.
pub fn plan_create(view: &dyn View, prepared: PreparedCreate) -> Result<Change, Error> {
    let PreparedCreate { email, hash, body } = prepared;
    let config = view.config();
    let Some(entry) = config.domain(&email.domain) else {
        return Err(Error::NotFound(format!(
            "Domain {} does not exist",
            email.domain.to_unicode()
        )));
    };
    if entry.users.contains_key(&email.local) {
        return Err(Error::Conflict(format!(
            "User {} already exists",
            email.to_unicode()
        )));
    }
    if entry.aliases.contains_key(&email.local) {
        return Err(Error::Conflict(format!(
            "An alias {} exists; a user cannot have the same address",
            email.to_unicode()
        )));
    }
    let max = entry.domain.max_users;
    if max >= 0 && entry.users.len() as u64 >= max as u64 {
        return Err(Error::Conflict(format!(
            "Too many users for domain {} (max_users = {max})",
            email.domain.to_unicode()
        )));
    }
    let mut user = User {
        password: hash.to_string(),
        ..User::default()
    };
    body.apply(&mut user);
    validate(view, &email, &user)?;
    Ok(Change {
        summary: format!("User {} has been created", email.to_unicode()),
        edits: vec![Edit {
            path: RepoPath::user(&email),
            content: Some(edit::render(&user)?.into_bytes()),
        }],
    })
}

/// The change that updates the user at `raw` (the path's address), keeping the file's comments.
pub fn plan_update(
    view: &dyn View,
    raw: &str,
    headers: &HeaderMap,
    prepared: PreparedUpdate,
) -> Result<Change, Error> {
    let (email, current, text) = existing(view, raw)?;
    check_if_match(headers, Some(text.as_bytes()))?;
    let mut user = current.clone();
    prepared.body.apply(&mut user);
    if let Some(hash) = prepared.hash {
        user.password = hash.to_string();
    }
    validate(view, &email, &user)?;
    Ok(Change {
        summary: format!("User {} has been updated", email.to_unicode()),
        edits: vec![Edit {
            path: RepoPath::user(&email),
            content: Some(edit::update(&text, &user)?.into_bytes()),
        }],
    })
}

/// The change that deletes the user at `raw` with its tokens and the passwords of its fetched
/// accounts. Refused (409, naming each file and field) while aliases or domain managers refer to
/// the address: Mailu would leave them pointing nowhere, and such a tree no longer loads.
pub fn plan_delete(view: &dyn View, raw: &str, headers: &HeaderMap) -> Result<Change, Error> {
    let (email, current, text) = existing(view, raw)?;
    check_if_match(headers, Some(text.as_bytes()))?;
    let config = view.config();
    let referrers = config.referrers(&email);
    if !referrers.is_empty() {
        let list: Vec<String> = referrers
            .iter()
            .map(|(path, field)| format!("{path} ({field})"))
            .collect();
        return Err(Error::Conflict(format!(
            "User {} is still referred to by {}; change those first",
            email.to_unicode(),
            list.join(", ")
        )));
    }
    let mut edits = vec![Edit {
        path: RepoPath::user(&email),
        content: None,
    }];
    for fetch in &current.fetches {
        let secret = SecretRef::new("fetch", fetch.id.as_str())
            .ok()
            .filter(|s| config.secrets.contains(s));
        if let Some(secret) = secret
            && let Ok(path) = RepoPath::secret(&secret.kind, &secret.name)
        {
            edits.push(Edit {
                path,
                content: None,
            });
        }
    }
    Ok(Change {
        summary: format!("User {} has been deleted", email.to_unicode()),
        edits,
    })
}

/// One user and the `ETag` of its file.
pub fn find(view: &dyn View, raw: &str) -> Result<(UserGet, String), Error> {
    let (email, user, text) = existing(view, raw)?;
    Ok((
        UserGet::new(&email, user),
        super::resource::etag_of(text.as_bytes()),
    ))
}

/// The users a search selects, in address order (domain, then localpart).
pub fn list(view: &dyn View, search: &Search) -> Result<Page<UserGet>, Error> {
    let config = view.config();
    let domains: Box<dyn Iterator<Item = _>> = match &search.domain {
        Some(d) => {
            let (name, entry) = config
                .domains
                .get_key_value(d)
                .ok_or_else(|| domain_not_found(d))?;
            Box::new(std::iter::once((name, entry)))
        }
        None => Box::new(config.domains.iter()),
    };
    let users =
        domains.flat_map(|(name, entry)| entry.users.iter().map(move |(l, u)| (name, l, u)));
    Ok(Page::collect(
        users,
        search,
        |(name, local, u)| {
            // Only a `q` needs the texts: a plain page must not format every address.
            if search.q.is_none() {
                return true;
            }
            let ascii = format!("{local}@{name}");
            let unicode = format!("{local}@{}", name.to_unicode());
            search.finds(&[&ascii, &unicode, &u.displayed_name, &u.comment])
        },
        |(name, local, u)| {
            let email = Email {
                local: local.clone(),
                domain: name.clone(),
            };
            UserGet::new(&email, u)
        },
    ))
}

/// The address in a path, in Unicode or ASCII form.
pub fn address(raw: &str, field: &str) -> Result<Email, Error> {
    Email::parse(raw).map_err(|e| Error::field(field, e.0))
}

pub(super) fn domain_not_found(domain: &crate::model::DomainName) -> Error {
    Error::NotFound(format!("Domain {} cannot be found", domain.to_unicode()))
}

/// The user at `raw`, with the text of its file; 404 when there is none.
fn existing<'v>(view: &'v dyn View, raw: &str) -> Result<(Email, &'v User, String), Error> {
    let email = address(raw, "email")?;
    let not_found = || Error::NotFound(format!("User {} cannot be found", email.to_unicode()));
    let user = view.config().user(&email).ok_or_else(not_found)?;
    let bytes = view.read(&RepoPath::user(&email)).ok_or_else(not_found)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::HeadInvalid(format!("{} is not UTF-8", RepoPath::user(&email))))?;
    Ok((email, user, text))
}

/// The in-file rules and the cross-file rules of one user, as one 400.
pub(super) fn validate(view: &dyn View, email: &Email, user: &User) -> Result<(), Error> {
    let mut problems: Vec<Problem> = Vec::new();
    user.validate(&mut problems);
    problems.extend(rules::check_user(view.config(), email, user));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(invalid(problems))
    }
}

/// The user at `email` and its file's text; 404 when there is none. Tokens and fetched accounts live
/// in the user's file, so their resources edit it through here.
pub(super) fn user_file<'v>(
    view: &'v dyn View,
    email: &Email,
) -> Result<(&'v User, String), Error> {
    let not_found = || Error::NotFound(format!("User {} cannot be found", email.to_unicode()));
    let user = view.config().user(email).ok_or_else(not_found)?;
    let path = RepoPath::user(email);
    let bytes = view.read(&path).ok_or_else(not_found)?;
    let text =
        String::from_utf8(bytes).map_err(|_| Error::HeadInvalid(format!("{path} is not UTF-8")))?;
    Ok((user, text))
}

/// The user's file rewritten to hold `user`, keeping its comments.
pub(super) fn write(email: &Email, text: &str, user: &User) -> Result<crate::store::Edit, Error> {
    Ok(crate::store::Edit {
        path: RepoPath::user(email),
        content: Some(edit::update(text, user)?.into_bytes()),
    })
}

/// `GET /api/v1/user`: every user (or a page of a search), without password hashes.
#[utoipa::path(
    get,
    path = "/api/v1/user",
    operation_id = "list_user",
    tag = "user",
    summary = "List users",
    params(
        crate::api::openapi::SearchQuery,
    ),
    responses(
        (status = 200, description = "the users (total in `X-Total-Count`)", body = Vec<UserGet>),
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

/// `GET /api/v1/user/{email}`.
#[utoipa::path(
    get,
    path = "/api/v1/user/{email}",
    operation_id = "find_user",
    tag = "user",
    summary = "One user",
    params(
        ("email" = String, Path, description = "the user's address"),
        ("If-None-Match" = Option<String>, Header, description = "answers 304 when it names the current `ETag`"),
    ),
    responses(
        (status = 200, description = "the user, with its `ETag`", body = UserGet),
        (status = 304, description = "not modified"),
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such user", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn get_one(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
    Path(email): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let (user, etag) = crate::api::resource::read(&ctx, move |view| find(view, &email)).await?;
    Ok(listing::object(&headers, etag, user))
}

#[cfg(test)]
pub(crate) mod tests;

// Write handlers: parse the body (400 naming the field), plan under the writer's lock, submit.

type Ctx = axum::extract::State<crate::api::Context>;
type Raw = axum::extract::Path<String>;

/// Runs `work` (which may hash a password) off the async threads, at most [`crate::api::HASHING`]
/// at a time, so a burst of user creates cannot starve the server; a body without `raw_password`
/// hashes nothing and skips the queue, so plain updates are never stuck behind hashes.
async fn hashed<T: Send + 'static>(
    ctx: &crate::api::Context,
    body: &[u8],
    work: impl FnOnce(Cost) -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    let hashes = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .is_some_and(|v| v.get("raw_password").is_some_and(|p| !p.is_null()));
    if !hashes {
        // Nothing is hashed, so the configured cost is not needed: skip reading the state for it.
        return work(Cost::DEFAULT);
    }
    let cost = crate::api::resource::read(ctx, |view| Ok(cost(view))).await?;
    let _permit = ctx
        .hashing
        .acquire()
        .await
        .map_err(|_| Error::Unavailable("the server is shutting down".into()))?;
    tokio::task::spawn_blocking(move || work(cost)).await?
}

/// `POST /api/v1/user`.
#[utoipa::path(
    post,
    path = "/api/v1/user",
    operation_id = "create_user",
    tag = "user",
    summary = "Create a user (`raw_password` is hashed)",
    params(
        crate::api::openapi::WaitQuery,
    ),
    request_body(content = UserBody),
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
    let peek = body.clone();
    let prepared = hashed(&ctx, &peek, move |cost| prepare_create(&body, cost)).await?;
    crate::api::write::apply(&ctx, &caller.caller.name, wait, move |view| {
        plan_create(view, prepared)
    })
    .await
}

/// `PATCH /api/v1/user/{email}`.
#[utoipa::path(
    patch,
    path = "/api/v1/user/{email}",
    operation_id = "update_user",
    tag = "user",
    summary = "Change a user",
    params(
        ("email" = String, Path, description = "the user's address"),
        ("If-Match" = Option<String>, Header, description = "the `ETag` the change is based on; 412 when the object changed since"),
        crate::api::openapi::WaitQuery,
    ),
    request_body(content = UserBody),
    responses(
        crate::api::openapi::WriteAnswers,
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such user", body = crate::api::openapi::ErrorBody),
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
    let peek = body.clone();
    let prepared = hashed(&ctx, &peek, move |cost| prepare_update(&body, cost)).await?;
    crate::api::write::apply(&ctx, &caller.caller.name, wait, move |view| {
        plan_update(view, &raw, &headers, prepared)
    })
    .await
}

/// `DELETE /api/v1/user/{email}`.
#[utoipa::path(
    delete,
    path = "/api/v1/user/{email}",
    operation_id = "delete_user",
    tag = "user",
    summary = "Delete a user",
    params(
        ("email" = String, Path, description = "the user's address"),
        ("If-Match" = Option<String>, Header, description = "the `ETag` the change is based on; 412 when the object changed since"),
        crate::api::openapi::WaitQuery,
    ),
    responses(
        crate::api::openapi::WriteAnswers,
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such user", body = crate::api::openapi::ErrorBody),
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
