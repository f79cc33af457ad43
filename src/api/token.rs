//! `/api/v1/token` and `/api/v1/tokenuser/{email}`: Mailu's app tokens (per-application mail
//! passwords of a user), kept as `[[tokens]]` in the user's file. Pure functions of a [`View`] plus
//! the GET handlers. These are not the API's access tokens (`auth`).
//!
//! A new token is 32 hex digits (128 random bits, as Mailu makes them); only its `{SSHA512}` hash is
//! stored, and the plaintext is in the create's answer and nowhere else. Hashing a token is fast, so
//! creates need no preparing step. Every token's `ETag` is its user file's. Where we differ from
//! Mailu (see `docs/api.md`): ids are 12 hex characters (imported ones keep Mailu's number),
//! `"Last edit"` is `null` (not kept), and `AuthorizedIP` takes networks only (no `ASN...`).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::listing;
use super::resource::{Change, View, check_if_match, etag_of};
use super::user::address;
use super::user::{user_file, validate, write};
use super::{Authorized, Context, Error, Read, body};
use crate::model::Email;
use crate::model::date::Date;
use crate::model::item_id::ItemId;
use crate::model::settings::Cidr;
use crate::model::user::Token;
use crate::password;

/// Mailu's `TokenGetResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TokenGet {
    pub id: String,
    /// The owner, in Unicode form.
    pub email: String,
    pub comment: String,
    #[serde(rename = "AuthorizedIP")]
    pub authorized_ip: Vec<String>,
    #[serde(rename = "Created")]
    pub created: Option<String>,
    /// Not kept: always `null`.
    #[serde(rename = "Last edit")]
    pub last_edit: Option<String>,
}

impl TokenGet {
    pub fn new(email: &Email, t: &Token) -> TokenGet {
        TokenGet {
            id: t.id.to_string(),
            email: email.to_unicode(),
            comment: t.comment.clone(),
            authorized_ip: t.ip.iter().map(Cidr::to_string).collect(),
            created: t.created.map(|d| d.to_string()),
            last_edit: None,
        }
    }
}

/// Mailu's `TokenPostResponse`: the one answer that carries the plaintext token. No `Debug`.
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct TokenCreated {
    pub id: String,
    pub token: String,
    pub email: String,
    pub comment: String,
    #[serde(rename = "AuthorizedIP")]
    pub authorized_ip: Vec<String>,
    #[serde(rename = "Created")]
    pub created: Option<String>,
}

/// Mailu's `TokenPost` (with `email`, for `POST /token`) and `TokenPost2` (without, for
/// `POST /tokenuser/{email}` and `PATCH /token/{id}`).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    #[schema(value_type = Option<String>)]
    pub email: Option<Email>,
    pub comment: Option<String>,
    #[serde(rename = "AuthorizedIP")]
    pub authorized_ip: Option<Vec<String>>,
}

impl TokenBody {
    fn apply(self, t: &mut Token) -> Result<(), Error> {
        if let Some(comment) = self.comment {
            t.comment = comment;
        }
        if let Some(ips) = self.authorized_ip {
            t.ip = ips
                .iter()
                .map(|ip| {
                    Cidr::parse_lenient(ip).map_err(|e| {
                        Error::field("AuthorizedIP", format!("Provided AuthorizedIP {ip}: {e}"))
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        Ok(())
    }
}

/// `POST /token`: a new token for the body's `email` (404 when there is no such user).
pub fn plan_create(
    view: &dyn View,
    mut request: TokenBody,
) -> Result<(Change, TokenCreated), Error> {
    let email = body::required(request.email.take(), "email")?;
    create(view, email, request)
}

/// `POST /tokenuser/{email}`: a new token for the user at `raw`.
pub fn plan_create_for(
    view: &dyn View,
    raw: &str,
    request: TokenBody,
) -> Result<(Change, TokenCreated), Error> {
    refuse_email(&request)?;
    create(view, address(raw, "email")?, request)
}

fn create(
    view: &dyn View,
    email: Email,
    request: TokenBody,
) -> Result<(Change, TokenCreated), Error> {
    let (current, text) = user_file(view, &email)?;
    let config = view.config();
    // 48 random bits: a clash is improbable, but checking it is cheap.
    let id = std::iter::repeat_with(ItemId::generate)
        .find(|id| config.token_owner(id).is_none())
        .expect("an endless iterator yields");
    let secret = password::generate_token();
    let hash = password::token_hash(secret.expose_secret())
        .map_err(|e| Error::HeadInvalid(format!("a generated token was refused: {e}")))?;
    let mut token = Token {
        id,
        comment: String::new(),
        ip: Vec::new(),
        password: hash.to_string(),
        created: Some(Date(chrono::Utc::now().date_naive())),
    };
    request.apply(&mut token)?;
    let mut user = current.clone();
    user.tokens.push(token.clone());
    validate(view, &email, &user)?;
    let shown = TokenGet::new(&email, &token);
    let created = TokenCreated {
        id: shown.id,
        token: secret.expose_secret().to_owned(),
        email: shown.email,
        comment: shown.comment,
        authorized_ip: shown.authorized_ip,
        created: shown.created,
    };
    let change = Change {
        summary: format!(
            "Token with id {} has been created for {}",
            token.id,
            email.to_unicode()
        ),
        edits: vec![write(&email, &text, &user)?],
    };
    Ok((change, created))
}

/// `PATCH /token/{id}`: its `comment` and `AuthorizedIP`.
pub fn plan_update(
    view: &dyn View,
    raw_id: &str,
    headers: &HeaderMap,
    request: TokenBody,
) -> Result<Change, Error> {
    refuse_email(&request)?;
    let (email, id, text) = owner(view, raw_id)?;
    check_if_match(headers, Some(text.as_bytes()))?;
    let mut user = view
        .config()
        .user(&email)
        .cloned()
        .ok_or_else(|| no_token(raw_id))?;
    let token = user
        .tokens
        .iter_mut()
        .find(|t| t.id == id)
        .ok_or_else(|| no_token(raw_id))?;
    request.apply(token)?;
    validate(view, &email, &user)?;
    Ok(Change {
        summary: format!("Token with id {id} has been updated"),
        edits: vec![write(&email, &text, &user)?],
    })
}

/// `DELETE /token/{id}`.
pub fn plan_delete(view: &dyn View, raw_id: &str, headers: &HeaderMap) -> Result<Change, Error> {
    let (email, id, text) = owner(view, raw_id)?;
    check_if_match(headers, Some(text.as_bytes()))?;
    let mut user = view
        .config()
        .user(&email)
        .cloned()
        .ok_or_else(|| no_token(raw_id))?;
    user.tokens.retain(|t| t.id != id);
    Ok(Change {
        summary: format!("Token with id {id} has been deleted"),
        edits: vec![write(&email, &text, &user)?],
    })
}

/// `GET /token`: every token of every user.
pub fn list(view: &dyn View) -> Vec<TokenGet> {
    let mut out = Vec::new();
    for (name, entry) in &view.config().domains {
        for (local, user) in &entry.users {
            let email = Email {
                local: local.clone(),
                domain: name.clone(),
            };
            out.extend(user.tokens.iter().map(|t| TokenGet::new(&email, t)));
        }
    }
    out
}

/// `GET /token/{id}`, with the `ETag` of the owner's file.
pub fn find(view: &dyn View, raw_id: &str) -> Result<(TokenGet, String), Error> {
    let (email, id, text) = owner(view, raw_id)?;
    let token = view
        .config()
        .user(&email)
        .and_then(|u| u.tokens.iter().find(|t| t.id == id))
        .ok_or_else(|| no_token(raw_id))?;
    Ok((TokenGet::new(&email, token), etag_of(text.as_bytes())))
}

/// `GET /tokenuser/{email}`: the user's tokens, with the `ETag` of the user's file.
pub fn of_user(view: &dyn View, raw: &str) -> Result<(Vec<TokenGet>, String), Error> {
    let email = address(raw, "email")?;
    let (user, text) = user_file(view, &email)?;
    let tokens = user
        .tokens
        .iter()
        .map(|t| TokenGet::new(&email, t))
        .collect();
    Ok((tokens, etag_of(text.as_bytes())))
}

fn refuse_email(request: &TokenBody) -> Result<(), Error> {
    body::refuse(
        &request.email,
        "email",
        "unknown field: the user is the path's (or the token's) own",
    )
}

fn no_token(raw_id: &str) -> Error {
    Error::NotFound(format!(
        "Record cannot be found for id {raw_id} or invalid id provided"
    ))
}

/// The owner of token `raw_id`, the parsed id and the owner's file text; 404 for an unknown or
/// malformed id, as Mailu.
fn owner(view: &dyn View, raw_id: &str) -> Result<(Email, ItemId, String), Error> {
    let id = ItemId::parse(raw_id).map_err(|_| no_token(raw_id))?;
    let email = view
        .config()
        .token_owner(&id)
        .cloned()
        .ok_or_else(|| no_token(raw_id))?;
    let (_, text) = user_file(view, &email)?;
    Ok((email, id, text))
}

/// `GET /api/v1/token`.
#[utoipa::path(
    get,
    path = "/api/v1/token",
    operation_id = "list_tokens",
    tag = "token",
    summary = "List users' app tokens",
    responses(
        (status = 200, description = "the tokens", body = Vec<TokenGet>),
    ),
)]
pub async fn get_all(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
) -> Result<Response, Error> {
    let tokens = crate::api::resource::read(&ctx, |view| Ok(list(view))).await?;
    Ok(axum::Json(tokens).into_response())
}

/// `GET /api/v1/token/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/token/{id}",
    operation_id = "find_token",
    tag = "token",
    summary = "One app token",
    params(
        ("id" = String, Path, description = "the token id"),
        ("If-None-Match" = Option<String>, Header, description = "answers 304 when it names the current `ETag`"),
    ),
    responses(
        (status = 200, description = "the token, with its `ETag`", body = TokenGet),
        (status = 304, description = "not modified"),
        (status = 404, description = "no such token", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn get_one(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let (token, etag) = crate::api::resource::read(&ctx, move |view| find(view, &id)).await?;
    Ok(listing::object(&headers, etag, token))
}

/// `GET /api/v1/tokenuser/{email}`.
#[utoipa::path(
    get,
    path = "/api/v1/tokenuser/{email}",
    operation_id = "find_tokens_of_user",
    tag = "token",
    summary = "The app tokens of a user",
    params(
        ("email" = String, Path, description = "the user's address"),
        ("If-None-Match" = Option<String>, Header, description = "answers 304 when it names the current `ETag`"),
    ),
    responses(
        (status = 200, description = "the tokens", body = Vec<TokenGet>),
        (status = 304, description = "not modified"),
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such user", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn get_of_user(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
    Path(email): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let (tokens, etag) =
        crate::api::resource::read(&ctx, move |view| of_user(view, &email)).await?;
    Ok(listing::object(&headers, etag, tokens))
}

#[cfg(test)]
mod tests;

// Write handlers: parse the body (400 naming the field), plan under the writer's lock, submit.

type Ctx = axum::extract::State<crate::api::Context>;
type Raw = axum::extract::Path<String>;

/// Answers a token creation: Mailu's `TokenPostResponse` (the plaintext, shown once) plus the change.
async fn created(
    ctx: &crate::api::Context,
    id: crate::versioner::ChangeId,
    token: TokenCreated,
    wait: bool,
) -> Result<axum::response::Response, Error> {
    use axum::response::IntoResponse;
    let mut body = serde_json::to_value(&token).map_err(|e| Error::HeadInvalid(e.to_string()))?;
    body["change"] = serde_json::Value::String(id.to_string());
    if wait
        && let crate::versioner::Status::Committed(v) = ctx
            .versioner
            .wait_for(&id, crate::api::write::WAIT_LIMIT)
            .await?
    {
        body["version"] = v.number.into();
    }
    Ok(axum::Json(body).into_response())
}

/// `POST /api/v1/token`.
#[utoipa::path(
    post,
    path = "/api/v1/token",
    operation_id = "create_token",
    tag = "token",
    summary = "Create an app token for a user (the answer carries the token, once)",
    params(
        crate::api::openapi::WaitQuery,
    ),
    request_body(content = TokenBody),
    responses(
        (status = 200, description = "created: the plaintext token, shown once", body = TokenCreated),
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such user", body = crate::api::openapi::ErrorBody),
        (status = 503, description = "writes are suspended", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn post(
    caller: crate::api::Authorized<crate::api::Write>,
    axum::extract::State(ctx): Ctx,
    crate::api::write::Wait(wait): crate::api::write::Wait,
    crate::api::Body(body): crate::api::Body,
) -> Result<axum::response::Response, Error> {
    let body: TokenBody = body::parse(&body)?;
    let (id, _, token) = crate::api::write::submit(&ctx, &caller.caller.name, move |view| {
        plan_create(view, body)
    })
    .await?;
    created(&ctx, id, token, wait).await
}

/// `POST /api/v1/tokenuser/{email}`.
#[utoipa::path(
    post,
    path = "/api/v1/tokenuser/{email}",
    operation_id = "create_token_of_user",
    tag = "token",
    summary = "Create an app token for this user",
    params(
        ("email" = String, Path, description = "the user's address"),
        crate::api::openapi::WaitQuery,
    ),
    request_body(content = TokenBody),
    responses(
        (status = 200, description = "created: the plaintext token, shown once", body = TokenCreated),
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such user", body = crate::api::openapi::ErrorBody),
        (status = 503, description = "writes are suspended", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn post_for_user(
    caller: crate::api::Authorized<crate::api::Write>,
    axum::extract::State(ctx): Ctx,
    crate::api::write::Wait(wait): crate::api::write::Wait,
    axum::extract::Path(raw): Raw,
    crate::api::Body(body): crate::api::Body,
) -> Result<axum::response::Response, Error> {
    let body: TokenBody = body::parse(&body)?;
    let (id, _, token) = crate::api::write::submit(&ctx, &caller.caller.name, move |view| {
        plan_create_for(view, &raw, body)
    })
    .await?;
    created(&ctx, id, token, wait).await
}

/// `PATCH /api/v1/token/{id}`.
#[utoipa::path(
    patch,
    path = "/api/v1/token/{id}",
    operation_id = "update_token",
    tag = "token",
    summary = "Change an app token",
    params(
        ("id" = String, Path, description = "the token id"),
        ("If-Match" = Option<String>, Header, description = "the `ETag` the change is based on; 412 when the object changed since"),
        crate::api::openapi::WaitQuery,
    ),
    request_body(content = TokenBody),
    responses(
        crate::api::openapi::WriteAnswers,
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such token", body = crate::api::openapi::ErrorBody),
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
    let body: TokenBody = body::parse(&body)?;
    crate::api::write::apply(&ctx, &caller.caller.name, wait, move |view| {
        plan_update(view, &raw, &headers, body)
    })
    .await
}

/// `DELETE /api/v1/token/{id}`.
#[utoipa::path(
    delete,
    path = "/api/v1/token/{id}",
    operation_id = "delete_token",
    tag = "token",
    summary = "Delete an app token",
    params(
        ("id" = String, Path, description = "the token id"),
        ("If-Match" = Option<String>, Header, description = "the `ETag` the change is based on; 412 when the object changed since"),
        crate::api::openapi::WaitQuery,
    ),
    responses(
        crate::api::openapi::WriteAnswers,
        (status = 404, description = "no such token", body = crate::api::openapi::ErrorBody),
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
