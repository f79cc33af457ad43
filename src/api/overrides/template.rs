//! `/api/v1/template/<service>[/<file>]`: the repository's templates (`templates/<service>/<file>`),
//! each replacing the built-in template of the same name (`builtin:<service>/<file>` still names the
//! built-in, so a template can extend the one it replaces). UTF-8 text only. A template is parsed
//! before the write and, when a built-in file uses it, rendered by the versioner: one that fails is
//! refused with its file and line, and nothing changes. The logic is the three trees'
//! (`overrides.rs`).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::Tree;
use crate::api::write::Wait;
use crate::api::{Authorized, Context, Error, Read, Write};

const TREE: Tree = Tree::Template;

/// `GET /api/v1/template/{service}`.
#[utoipa::path(
    get,
    path = "/api/v1/template/{service}",
    operation_id = "list_template",
    tag = "override",
    summary = "The repository's templates of a service",
    params(("service" = String, Path, description = "service name")),
    responses(
        (status = 200, description = "file name and `ETag` of each template; the `ETag` header covers the whole listing", body = [super::Listed]),
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

/// `GET /api/v1/template/{service}/{*file}`.
#[utoipa::path(
    get,
    path = "/api/v1/template/{service}/{file}",
    operation_id = "find_template",
    tag = "override",
    summary = "One repository template, as stored",
    params(("service" = String, Path, description = "service name"), ("file" = String, Path, description = "the template's name in the service's folder, e.g. `main.cf.j2`")),
    responses(
        (status = 200, description = "the template, with its `ETag`", content_type = "text/plain", body = String),
        (status = 304, description = "`If-None-Match` names the current `ETag`"),
        (status = 404, description = "no such service or template", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn get_one(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
    Path((service, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    super::get_file(&ctx, TREE, service, file, &headers).await
}

/// `PUT /api/v1/template/{service}/{*file}`.
#[utoipa::path(
    put,
    path = "/api/v1/template/{service}/{file}",
    operation_id = "put_template",
    tag = "override",
    summary = "Store a template (UTF-8, up to 4 MiB); refused when it does not parse or render",
    params(("service" = String, Path, description = "service name"), ("file" = String, Path, description = "the template's name in the service's folder, e.g. `main.cf.j2`"),
        ("If-Match" = Option<String>, Header, description = "the `ETag` the change is based on; 412 when the object changed since"),
        crate::api::openapi::WaitQuery,
    ),
    request_body(content = String, content_type = "text/plain", description = "the template"),
    responses(
        crate::api::openapi::WriteAnswers,
        (status = 400, description = "not UTF-8 (`errors` names `body`), a bad name (`file`), or the template does not parse or render: `errors` maps `templates/<service>/<file>` to the problem, the message has the line", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such service", body = crate::api::openapi::ErrorBody),
        (status = 412, description = "`If-Match` names another version of the object", body = crate::api::openapi::ErrorBody),
        (status = 413, description = "the template is larger than 4 MiB", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn put(
    caller: Authorized<Write>,
    State(ctx): State<Context>,
    Wait(wait): Wait,
    Path((service, file)): Path<(String, String)>,
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
        file,
        headers,
        body.to_vec(),
    )
    .await
}

/// `DELETE /api/v1/template/{service}/{*file}`: the built-in template applies again.
#[utoipa::path(
    delete,
    path = "/api/v1/template/{service}/{file}",
    operation_id = "delete_template",
    tag = "override",
    summary = "Remove a template (the built-in one applies again)",
    params(("service" = String, Path, description = "service name"), ("file" = String, Path, description = "the template's name in the service's folder"),
        ("If-Match" = Option<String>, Header, description = "the `ETag` the change is based on; 412 when the object changed since"),
        crate::api::openapi::WaitQuery,
    ),
    responses(
        crate::api::openapi::WriteAnswers,
        (status = 400, description = "a bad name, or another template that includes this one no longer renders", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such service or template", body = crate::api::openapi::ErrorBody),
        (status = 412, description = "`If-Match` names another version of the object", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn delete(
    caller: Authorized<Write>,
    State(ctx): State<Context>,
    Wait(wait): Wait,
    Path((service, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    super::delete_file(
        &ctx,
        &caller.caller.name,
        wait,
        TREE,
        service,
        file,
        headers,
    )
    .await
}
