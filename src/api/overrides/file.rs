//! `/api/v1/override/<service>[/<path>]`: the operator's own files (`overrides/<service>/<absolute
//! path>`), which replace the rendered file of the same path in that container; any bytes. Mailu has
//! no API for its overrides folder. The logic is the three trees' (`overrides.rs`).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::Tree;
use crate::api::write::Wait;
use crate::api::{Authorized, Context, Error, Read, Write};

const TREE: Tree = Tree::Override;

/// `GET /api/v1/override/{service}`.
#[utoipa::path(
    get,
    path = "/api/v1/override/{service}",
    operation_id = "list_override",
    tag = "override",
    summary = "The override files of a service",
    params(("service" = String, Path, description = "service name")),
    responses(
        (status = 200, description = "path and `ETag` of each file; the `ETag` header covers the whole listing", body = [super::Listed]),
        (status = 304, description = "`If-None-Match` names the listing's current `ETag`"),
        (status = 404, description = "no such service", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn get_all(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
    Path(service): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    super::list_files(&ctx, TREE, Some(service), &headers).await
}

/// `GET /api/v1/override/{service}/{*path}`: the file as stored.
#[utoipa::path(
    get,
    path = "/api/v1/override/{service}/{path}",
    operation_id = "find_override",
    tag = "override",
    summary = "One override file, as stored",
    params(("service" = String, Path, description = "service name"), ("path" = String, Path, description = "the absolute path in the container, without its leading `/`")),
    responses(
        (status = 200, description = "the file's bytes, with its `ETag`", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 304, description = "`If-None-Match` names the current `ETag`"),
        (status = 404, description = "no such service or file", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn get_one(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
    Path((service, path)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    super::get_file(&ctx, TREE, service, path, &headers).await
}

/// `PUT /api/v1/override/{service}/{*path}`.
#[utoipa::path(
    put,
    path = "/api/v1/override/{service}/{path}",
    operation_id = "put_override",
    tag = "override",
    summary = "Store an override file (any bytes, up to 4 MiB)",
    params(("service" = String, Path, description = "service name"), ("path" = String, Path, description = "the absolute path in the container, without its leading `/`"),
        ("If-Match" = Option<String>, Header, description = "the `ETag` the change is based on; 412 when the object changed since"),
        crate::api::openapi::WaitQuery,
    ),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the file"),
    responses(
        crate::api::openapi::WriteAnswers,
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such object", body = crate::api::openapi::ErrorBody),
        (status = 412, description = "`If-Match` names another version of the object", body = crate::api::openapi::ErrorBody),
        (status = 413, description = "the file is larger than 4 MiB", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn put(
    caller: Authorized<Write>,
    State(ctx): State<Context>,
    Wait(wait): Wait,
    Path((service, path)): Path<(String, String)>,
    headers: HeaderMap,
    crate::api::Body(body): crate::api::Body<{ super::LIMIT }>,
) -> Result<Response, Error> {
    let author = &caller.caller.name;
    super::put_file(
        &ctx,
        author,
        wait,
        TREE,
        service,
        path,
        headers,
        body.to_vec(),
    )
    .await
}

/// `DELETE /api/v1/override/{service}/{*path}`.
#[utoipa::path(
    delete,
    path = "/api/v1/override/{service}/{path}",
    operation_id = "delete_override",
    tag = "override",
    summary = "Remove an override file",
    params(("service" = String, Path, description = "service name"), ("path" = String, Path, description = "the absolute path in the container, without its leading `/`"),
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
    Path((service, path)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    super::delete_file(
        &ctx,
        &caller.caller.name,
        wait,
        TREE,
        service,
        path,
        headers,
    )
    .await
}
