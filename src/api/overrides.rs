//! `/api/v1/override/<service>[/<path>]`: the operator's own files for a service
//! (`overrides/<service>/<absolute path>` in the repository), which replace the rendered file of the
//! same path. Mailu has no API for its overrides folder. `GET /override/<service>` (read) lists them;
//! `PUT` (admin) stores a file as sent (any bytes, up to [`LIMIT`]), `GET` returns it with its
//! `ETag`, `DELETE` removes it; `If-Match` works on PUT and DELETE. Paths are checked by `RepoPath`
//! (no `..`, no `.git`, no control characters), so a body can never land outside the folder.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::resource::{self, Change, View};
use super::write::{self, Wait};
use super::{Authorized, Context, Error, Read, Write};
use crate::model::{RepoPath, ServiceName};
use crate::store::Edit;

/// The largest override file accepted: config files are small; a map of many thousand lines fits.
pub const LIMIT: usize = 4 << 20;

/// One override file in a listing.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Listed {
    /// The absolute path in the container.
    pub path: String,
    pub etag: String,
}

fn folder(view: &dyn View, raw: &str) -> Result<(ServiceName, RepoPath), Error> {
    let service = ServiceName::parse(raw)
        .ok()
        .filter(|s| view.config().services.contains_key(s))
        .ok_or_else(|| Error::NotFound(format!("there is no service `{raw}`")))?;
    let dir = RepoPath::parse(&format!("overrides/{service}"))
        .map_err(|e| Error::field("service", e.to_string()))?;
    Ok((service, dir))
}

fn file(
    view: &dyn View,
    raw_service: &str,
    raw_path: &str,
) -> Result<(ServiceName, RepoPath), Error> {
    let (service, dir) = folder(view, raw_service)?;
    let path = RepoPath::parse(&format!("{dir}/{}", raw_path.trim_start_matches('/')))
        .map_err(|e| Error::field("path", e.to_string()))?;
    Ok((service, path))
}

/// The override files of a service.
pub fn list(view: &dyn View, raw_service: &str) -> Result<Vec<Listed>, Error> {
    let (_, dir) = folder(view, raw_service)?;
    let prefix = dir.as_str().len();
    Ok(view
        .list(&dir)
        .into_iter()
        .map(|p| Listed {
            etag: resource::etag_of(&view.read(&p).unwrap_or_default()),
            path: p.as_str()[prefix..].to_owned(),
        })
        .collect())
}

/// Stores `body` as the override of `raw_path`.
pub fn plan_put(
    view: &dyn View,
    raw_service: &str,
    raw_path: &str,
    headers: &HeaderMap,
    body: Vec<u8>,
) -> Result<Change, Error> {
    let (service, path) = file(view, raw_service, raw_path)?;
    let current = view.read(&path);
    resource::check_if_match(headers, current.as_deref())?;
    let shown = &path.as_str()["overrides/".len() + service.as_str().len()..];
    let verb = if current.is_some() {
        "updated"
    } else {
        "created"
    };
    Ok(Change {
        summary: format!("Override {shown} of {service} has been {verb}"),
        edits: vec![Edit::write(path, body)],
    })
}

/// Removes the override of `raw_path`.
pub fn plan_delete(
    view: &dyn View,
    raw_service: &str,
    raw_path: &str,
    headers: &HeaderMap,
) -> Result<Change, Error> {
    let (service, path) = file(view, raw_service, raw_path)?;
    let Some(current) = view.read(&path) else {
        return Err(Error::NotFound(format!(
            "service {service} has no override {raw_path}"
        )));
    };
    resource::check_if_match(headers, Some(&current))?;
    Ok(Change {
        summary: format!(
            "Override /{} of {service} has been deleted",
            raw_path.trim_start_matches('/')
        ),
        edits: vec![Edit::delete(path)],
    })
}

/// `GET /api/v1/override/{service}`.
#[utoipa::path(
    get,
    path = "/api/v1/override/{service}",
    operation_id = "list_override",
    tag = "override",
    summary = "The override files of a service",
    params(("service" = String, Path, description = "service name")),
    responses(
        (status = 200, description = "path and `ETag` of each file", body = [Listed]),
        (status = 404, description = "no such service", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn get_all(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
    Path(raw): Path<String>,
) -> Result<axum::Json<Vec<Listed>>, Error> {
    Ok(axum::Json(
        resource::read(&ctx, move |view| list(view, &raw)).await?,
    ))
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
    let shown = path.clone();
    let bytes = resource::read(&ctx, move |view| {
        let (_, file) = file(view, &service, &path)?;
        Ok(view.read(&file))
    })
    .await?
    .ok_or_else(|| Error::NotFound(format!("no override /{}", shown.trim_start_matches('/'))))?;
    let etag = resource::etag_of(&bytes);
    if super::none_match(&headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    Ok((
        [
            (header::ETAG, etag),
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
        ],
        bytes,
    )
        .into_response())
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
    ),
)]
pub async fn put(
    caller: Authorized<Write>,
    State(ctx): State<Context>,
    Wait(wait): Wait,
    Path((service, path)): Path<(String, String)>,
    headers: HeaderMap,
    crate::api::Body(body): crate::api::Body<LIMIT>,
) -> Result<Response, Error> {
    write::apply(&ctx, &caller.caller.name, wait, move |view| {
        plan_put(view, &service, &path, &headers, body.to_vec())
    })
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
    write::apply(&ctx, &caller.caller.name, wait, move |view| {
        plan_delete(view, &service, &path, &headers)
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::api::resource::Fixed;

    fn view() -> Fixed {
        let files = BTreeMap::from([
            (RepoPath::settings(), b"format = 1\n".to_vec()),
            (
                RepoPath::parse("services/smtp.toml").unwrap(),
                b"image = \"x\"\n".to_vec(),
            ),
            (
                RepoPath::parse("overrides/smtp/etc/postfix/header_checks").unwrap(),
                b"/^X-Spam/ IGNORE\n".to_vec(),
            ),
        ]);
        Fixed::load(files).unwrap()
    }

    #[test]
    fn traversal_and_unknown_services_are_refused() {
        let v = view();
        for bad in [
            "../../mailu.toml",
            "etc/../../x",
            "etc/.git/config",
            "a\u{0}b",
        ] {
            let err = plan_put(&v, "smtp", bad, &HeaderMap::new(), b"x".to_vec()).unwrap_err();
            assert_eq!(err.status(), 400, "{bad}");
        }
        assert_eq!(
            plan_put(&v, "nope", "etc/x", &HeaderMap::new(), vec![])
                .unwrap_err()
                .status(),
            404
        );
    }

    #[test]
    fn put_list_and_delete() {
        let v = view();
        let change = plan_put(
            &v,
            "smtp",
            "/etc/postfix/main.cf",
            &HeaderMap::new(),
            b"x = 1\n".to_vec(),
        )
        .unwrap();
        assert_eq!(
            change.edits[0].path.as_str(),
            "overrides/smtp/etc/postfix/main.cf"
        );
        let listed = list(&v, "smtp").unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].path, "/etc/postfix/header_checks");
        let gone = plan_delete(&v, "smtp", "etc/postfix/header_checks", &HeaderMap::new()).unwrap();
        assert_eq!(gone.edits[0].content, None);
        assert_eq!(
            plan_delete(&v, "smtp", "etc/none", &HeaderMap::new())
                .unwrap_err()
                .status(),
            404
        );
    }
}
