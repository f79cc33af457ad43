//! `/api/v1/fetch`: fetched accounts (remote POP3/IMAP mailboxes fetchmail pulls into a user's
//! mailbox), which Mailu manages only in its web UI. They live in the user's file (`[[fetches]]`);
//! the remote password is encrypted to the server's key at `secrets/fetch/<id>` and never shown.
//! GET (read) lists or shows them; POST, PATCH and DELETE (admin) change them.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::listing::object;
use super::resource::{self, Change, View, check_if_match};
use super::user::{address, user_file, validate, write};
use super::write::{self as writes, Wait};
use super::{Authorized, Context, Error, Read, Write};
use crate::model::item_id::ItemId;
use crate::model::user::fetch::{Fetch, Protocol};
use crate::model::{Email, RepoPath};
use crate::store::Edit;

/// A fetched account as the API shows it: never its password.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FetchGet {
    pub id: String,
    pub email: String,
    #[schema(value_type = String, example = "imap")]
    pub protocol: Protocol,
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub username: String,
    pub keep: bool,
    pub scan: bool,
    pub invisible: bool,
    pub folders: Vec<String>,
    pub comment: String,
}

impl FetchGet {
    fn new(email: &Email, f: &Fetch) -> FetchGet {
        FetchGet {
            id: f.id.to_string(),
            email: email.to_unicode(),
            protocol: f.protocol,
            host: f.host.clone(),
            port: f.port,
            tls: f.tls,
            username: f.username.clone(),
            keep: f.keep,
            scan: f.scan,
            invisible: f.invisible,
            folders: f.folders.clone(),
            comment: f.comment.clone(),
        }
    }
}

/// The body of POST (with `email`, `protocol`, `host`, `username` and `password` required) and of
/// PATCH (every field optional; `email` refused).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FetchBody {
    pub email: Option<String>,
    #[schema(value_type = Option<String>, example = "imap")]
    pub protocol: Option<Protocol>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub tls: Option<bool>,
    pub username: Option<String>,
    /// The remote password: write-only, stored encrypted.
    pub password: Option<String>,
    pub keep: Option<bool>,
    pub scan: Option<bool>,
    pub invisible: Option<bool>,
    pub folders: Option<Vec<String>>,
    pub comment: Option<String>,
}

impl FetchBody {
    fn apply(self, f: &mut Fetch) {
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = self.$field { f.$field = v; } )* };
        }
        set!(
            protocol, host, port, tls, username, keep, scan, invisible, folders, comment
        );
    }
}

fn no_fetch(raw: &str) -> Error {
    Error::NotFound(format!("there is no fetched account with id {raw}"))
}

fn owner(view: &dyn View, raw: &str) -> Result<(ItemId, Email), Error> {
    let id = ItemId::parse(raw).map_err(|_| no_fetch(raw))?;
    let email = view
        .config()
        .fetch_owner(&id)
        .cloned()
        .ok_or_else(|| no_fetch(raw))?;
    Ok((id, email))
}

fn secret_path(id: &ItemId) -> Result<RepoPath, Error> {
    RepoPath::secret("fetch", id.as_str()).map_err(|e| Error::HeadInvalid(e.to_string()))
}

fn encrypted(recipient: &str, password: &str) -> Result<Vec<u8>, Error> {
    if password.is_empty() {
        return Err(Error::field(
            "password",
            "the remote password cannot be empty",
        ));
    }
    crate::secret::encrypt_for_recipient(recipient, password.as_bytes())
        .map_err(|e| Error::HeadInvalid(e.to_string()))
}

/// Every fetched account, with its user.
pub fn list(view: &dyn View) -> Vec<FetchGet> {
    let mut out = Vec::new();
    for (domain, entry) in &view.config().domains {
        for (local, user) in &entry.users {
            if user.fetches.is_empty() {
                continue;
            }
            let email = Email {
                local: local.clone(),
                domain: domain.clone(),
            };
            out.extend(user.fetches.iter().map(|f| FetchGet::new(&email, f)));
        }
    }
    out
}

/// One fetched account and the `ETag` of its user's file.
pub fn find(view: &dyn View, raw: &str) -> Result<(FetchGet, String), Error> {
    let (id, email) = owner(view, raw)?;
    let (user, text) = user_file(view, &email)?;
    let fetch = user
        .fetches
        .iter()
        .find(|f| f.id == id)
        .ok_or_else(|| no_fetch(raw))?;
    Ok((
        FetchGet::new(&email, fetch),
        resource::etag_of(text.as_bytes()),
    ))
}

/// `POST /fetch`.
pub fn plan_create(view: &dyn View, recipient: &str, mut body: FetchBody) -> Result<Change, Error> {
    let raw_email = body
        .email
        .take()
        .ok_or_else(|| Error::field("email", "email is required"))?;
    let email = address(&raw_email, "email")?;
    let password = body
        .password
        .take()
        .ok_or_else(|| Error::field("password", "password is required"))?;
    let (current, text) = user_file(view, &email)?;
    let id = std::iter::repeat_with(ItemId::generate)
        .find(|id| view.config().fetch_owner(id).is_none())
        .expect("an endless iterator yields");
    let protocol = body
        .protocol
        .ok_or_else(|| Error::field("protocol", "protocol is required (imap or pop3)"))?;
    // Without a port, the protocol's TLS port (Mailu's UI offers 993 for both, which is wrong for POP3).
    let port = match protocol {
        Protocol::Imap => 993,
        Protocol::Pop3 => 995,
    };
    let mut fetch = Fetch {
        id: id.clone(),
        protocol,
        host: String::new(),
        port,
        tls: false,
        username: String::new(),
        keep: false,
        scan: false,
        invisible: false,
        folders: Vec::new(),
        comment: String::new(),
    };
    body.apply(&mut fetch);
    let mut user = current.clone();
    user.fetches.push(fetch);
    let secret = secret_path(&id)?;
    // The secret exists in the new state before the user file refers to it.
    validate(view, &email, &user)?;
    Ok(Change {
        summary: format!(
            "Fetched account {id} has been created for {}",
            email.to_unicode()
        ),
        edits: vec![
            Edit::write(secret, encrypted(recipient, &password)?),
            write(&email, &text, &user)?,
        ],
    })
}

/// `PATCH /fetch/{id}`.
pub fn plan_update(
    view: &dyn View,
    recipient: &str,
    raw: &str,
    headers: &HeaderMap,
    mut body: FetchBody,
) -> Result<Change, Error> {
    if body.email.is_some() {
        return Err(Error::field(
            "email",
            "a fetched account cannot move to another user",
        ));
    }
    let (id, email) = owner(view, raw)?;
    let (current, text) = user_file(view, &email)?;
    check_if_match(headers, Some(text.as_bytes()))?;
    let password = body.password.take();
    let mut user = current.clone();
    let fetch = user
        .fetches
        .iter_mut()
        .find(|f| f.id == id)
        .ok_or_else(|| no_fetch(raw))?;
    body.apply(fetch);
    validate(view, &email, &user)?;
    let mut edits = vec![write(&email, &text, &user)?];
    if let Some(password) = password {
        edits.insert(
            0,
            Edit::write(secret_path(&id)?, encrypted(recipient, &password)?),
        );
    }
    Ok(Change {
        summary: format!("Fetched account {id} has been updated"),
        edits,
    })
}

/// `DELETE /fetch/{id}`: the account and its password.
pub fn plan_delete(view: &dyn View, raw: &str, headers: &HeaderMap) -> Result<Change, Error> {
    let (id, email) = owner(view, raw)?;
    let (current, text) = user_file(view, &email)?;
    check_if_match(headers, Some(text.as_bytes()))?;
    let mut user = current.clone();
    user.fetches.retain(|f| f.id != id);
    Ok(Change {
        summary: format!("Fetched account {id} has been deleted"),
        edits: vec![
            write(&email, &text, &user)?,
            Edit::delete(secret_path(&id)?),
        ],
    })
}

/// `GET /api/v1/fetch`.
#[utoipa::path(
    get,
    path = "/api/v1/fetch",
    operation_id = "list_fetch",
    tag = "fetch",
    summary = "Every fetched account (never a password)",
    responses((status = 200, description = "every fetched account", body = [FetchGet])),
)]
pub async fn get_all(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
) -> Result<axum::Json<Vec<FetchGet>>, Error> {
    Ok(axum::Json(
        resource::read(&ctx, |view| Ok(list(view))).await?,
    ))
}

/// `GET /api/v1/fetch/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/fetch/{id}",
    operation_id = "find_fetch",
    tag = "fetch",
    summary = "One fetched account",
    params(("id" = String, Path, description = "the account's id")),
    responses(
        (status = 200, description = "the account, with the `ETag` of its user's file", body = FetchGet),
        (status = 404, description = "no such account", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn get_one(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let (fetch, etag) = resource::read(&ctx, move |view| find(view, &raw)).await?;
    Ok(object(&headers, etag, fetch))
}

/// `POST /api/v1/fetch`.
#[utoipa::path(
    post,
    path = "/api/v1/fetch",
    operation_id = "create_fetch",
    tag = "fetch",
    summary = "Add a fetched account; its password is stored encrypted",
    params(crate::api::openapi::WaitQuery),
    request_body = FetchBody,
    responses(
        crate::api::openapi::WriteAnswers,
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such object", body = crate::api::openapi::ErrorBody),
        (status = 412, description = "`If-Match` names another version of the object", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn post(
    caller: Authorized<Write>,
    State(ctx): State<Context>,
    Wait(wait): Wait,
    crate::api::Body(body): crate::api::Body,
) -> Result<Response, Error> {
    let body: FetchBody = super::request::parse_json(&body)?;
    let recipient = ctx.recipient.clone();
    writes::apply(&ctx, &caller.caller.name, wait, move |view| {
        plan_create(view, &recipient, body)
    })
    .await
}

/// `PATCH /api/v1/fetch/{id}`.
#[utoipa::path(
    patch,
    path = "/api/v1/fetch/{id}",
    operation_id = "update_fetch",
    tag = "fetch",
    summary = "Change a fetched account",
    params(("id" = String, Path, description = "the account's id"),
        ("If-Match" = Option<String>, Header, description = "the `ETag` the change is based on; 412 when the object changed since"),
        crate::api::openapi::WaitQuery,
    ),
    request_body = FetchBody,
    responses(
        crate::api::openapi::WriteAnswers,
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such object", body = crate::api::openapi::ErrorBody),
        (status = 412, description = "`If-Match` names another version of the object", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn patch(
    caller: Authorized<Write>,
    State(ctx): State<Context>,
    Wait(wait): Wait,
    Path(raw): Path<String>,
    headers: HeaderMap,
    crate::api::Body(body): crate::api::Body,
) -> Result<Response, Error> {
    let body: FetchBody = super::request::parse_json(&body)?;
    let recipient = ctx.recipient.clone();
    writes::apply(&ctx, &caller.caller.name, wait, move |view| {
        plan_update(view, &recipient, &raw, &headers, body)
    })
    .await
}

/// `DELETE /api/v1/fetch/{id}`.
#[utoipa::path(
    delete,
    path = "/api/v1/fetch/{id}",
    operation_id = "delete_fetch",
    tag = "fetch",
    summary = "Remove a fetched account and its password",
    params(("id" = String, Path, description = "the account's id"),
        ("If-Match" = Option<String>, Header, description = "the `ETag` the change is based on; 412 when the object changed since"),
        crate::api::openapi::WaitQuery,
    ),
    responses(
        crate::api::openapi::WriteAnswers,
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such object", body = crate::api::openapi::ErrorBody),
        (status = 412, description = "`If-Match` names another version of the object", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn delete(
    caller: Authorized<Write>,
    State(ctx): State<Context>,
    Wait(wait): Wait,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    writes::apply(&ctx, &caller.caller.name, wait, move |view| {
        plan_delete(view, &raw, &headers)
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::api::resource::Fixed;

    const HASH: &str = "$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS";

    #[test]
    fn a_pop3_account_without_a_port_gets_995_and_its_password_is_encrypted() {
        let files = BTreeMap::from([
            (RepoPath::settings(), b"format = 1\n".to_vec()),
            (
                RepoPath::parse("domains/example.com/domain.toml").unwrap(),
                Vec::new(),
            ),
            (
                RepoPath::parse("domains/example.com/users/alice.toml").unwrap(),
                format!("password = \"{HASH}\"\n").into_bytes(),
            ),
        ]);
        let view = Fixed::load(files).unwrap();
        let recipient = age::x25519::Identity::generate().to_public().to_string();
        let body: FetchBody = serde_json::from_value(serde_json::json!({
            "email": "alice@example.com", "protocol": "pop3", "host": "pop.remote.org",
            "username": "alice", "password": "remote-secret"
        }))
        .unwrap();
        let change = plan_create(&view, &recipient, body).unwrap();
        let secret = String::from_utf8(change.edits[0].content.clone().unwrap()).unwrap();
        assert!(change.edits[0].path.as_str().starts_with("secrets/fetch/"));
        assert!(!secret.contains("remote-secret"));
        let user = String::from_utf8(change.edits[1].content.clone().unwrap()).unwrap();
        assert!(user.contains("port = 995"), "{user}");
        assert!(!user.contains("remote-secret"), "{user}");
    }
}
