//! `/api/v1/mailu-override[/<dir>/<file>]`: Mailu's override files (`mailu-overrides/<dir>/<file>`,
//! `<dir>` one of Mailu's folders: postfix, dovecot, nginx, rspamd, roundcube, snappymail), which
//! keep the meaning Mailu gives them (`postfix/postfix.cf` as `postconf` lines, `nginx/*.conf`
//! included in the web server, ...). The built-in templates that read them (`reads =
//! ["mailu-overrides"]`) render again on a change, so a file they cannot use is refused. UTF-8 text
//! only, as templates read them. The logic is the three trees' (`overrides.rs`).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::Tree;
use crate::api::write::Wait;
use crate::api::{Authorized, Context, Error, Read, Write};

const TREE: Tree = Tree::MailuOverride;

/// `GET /api/v1/mailu-override`.
#[utoipa::path(
    get,
    path = "/api/v1/mailu-override",
    operation_id = "list_mailu_override",
    tag = "override",
    summary = "Mailu's override files, in every folder",
    responses(
        (status = 200, description = "`<dir>/<file>` and `ETag` of each file; the `ETag` header covers the whole listing", body = [super::Listed]),
        (status = 304, description = "`If-None-Match` names the listing's current `ETag`"),
    ),
)]
pub async fn get_all(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    super::list_files(&ctx, TREE, None, &headers).await
}

/// `GET /api/v1/mailu-override/{dir}/{*file}`.
#[utoipa::path(
    get,
    path = "/api/v1/mailu-override/{dir}/{file}",
    operation_id = "find_mailu_override",
    tag = "override",
    summary = "One of Mailu's override files, as stored",
    params(("dir" = String, Path, description = "Mailu's folder: postfix, dovecot, nginx, rspamd, roundcube or snappymail"), ("file" = String, Path, description = "the file in that folder, e.g. `postfix.cf`")),
    responses(
        (status = 200, description = "the file, with its `ETag`", content_type = "text/plain", body = String),
        (status = 304, description = "`If-None-Match` names the current `ETag`"),
        (status = 404, description = "not one of Mailu's folders, or no such file", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn get_one(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
    Path((dir, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    super::get_file(&ctx, TREE, dir, file, &headers).await
}

/// `PUT /api/v1/mailu-override/{dir}/{*file}`.
#[utoipa::path(
    put,
    path = "/api/v1/mailu-override/{dir}/{file}",
    operation_id = "put_mailu_override",
    tag = "override",
    summary = "Store one of Mailu's override files (UTF-8, up to 4 MiB)",
    params(("dir" = String, Path, description = "Mailu's folder: postfix, dovecot, nginx, rspamd, roundcube or snappymail"), ("file" = String, Path, description = "the file in that folder, e.g. `postfix.cf`"),
        ("If-Match" = Option<String>, Header, description = "the `ETag` the change is based on; 412 when the object changed since"),
        crate::api::openapi::WaitQuery,
    ),
    request_body(content = String, content_type = "text/plain", description = "the file"),
    responses(
        crate::api::openapi::WriteAnswers,
        (status = 400, description = "not UTF-8 (`errors` names `body`), a bad name (`file`), or a template that reads the file fails on it", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "not one of Mailu's folders", body = crate::api::openapi::ErrorBody),
        (status = 412, description = "`If-Match` names another version of the object", body = crate::api::openapi::ErrorBody),
        (status = 413, description = "the file is larger than 4 MiB", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn put(
    caller: Authorized<Write>,
    State(ctx): State<Context>,
    Wait(wait): Wait,
    Path((dir, file)): Path<(String, String)>,
    headers: HeaderMap,
    crate::api::Body(body): crate::api::Body<{ super::LIMIT }>,
) -> Result<Response, Error> {
    let author = &caller.caller.name;
    super::put_file(&ctx, author, wait, TREE, dir, file, headers, body.to_vec()).await
}

/// `DELETE /api/v1/mailu-override/{dir}/{*file}`.
#[utoipa::path(
    delete,
    path = "/api/v1/mailu-override/{dir}/{file}",
    operation_id = "delete_mailu_override",
    tag = "override",
    summary = "Remove one of Mailu's override files",
    params(("dir" = String, Path, description = "Mailu's folder"), ("file" = String, Path, description = "the file in that folder"),
        ("If-Match" = Option<String>, Header, description = "the `ETag` the change is based on; 412 when the object changed since"),
        crate::api::openapi::WaitQuery,
    ),
    responses(
        crate::api::openapi::WriteAnswers,
        (status = 400, description = "a bad name", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "not one of Mailu's folders, or no such file", body = crate::api::openapi::ErrorBody),
        (status = 412, description = "`If-Match` names another version of the object", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn delete(
    caller: Authorized<Write>,
    State(ctx): State<Context>,
    Wait(wait): Wait,
    Path((dir, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    super::delete_file(&ctx, &caller.caller.name, wait, TREE, dir, file, headers).await
}
