//! `/api/v1/service...`: the services the worker deploys (`services/<name>.toml`), which Mailu keeps
//! in its compose file and has no API for. `GET /service` and `GET /service/<name>` (read scope) show
//! them as JSON with an `ETag`; `PATCH /service/<name>` (admin) takes a JSON merge patch (RFC 7396)
//! and rewrites the file keeping its comments; `POST /service/<name>/token` (worker scope) hands out
//! the service's token (derived by the server, `auth::TokenFile::service_token`) for the worker to give
//! the container it creates.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Serialize;

use super::listing::object;
use super::resource::{self, Change, View};
use super::write::{self, Wait};
use super::{Authorized, Context, Error, Read, Worker, Write};
use crate::model::service::Service;
use crate::model::{FileType, RepoPath, ServiceName, edit, rules};
use crate::store::Edit;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServiceToken {
    #[schema(value_type = String)]
    pub service: ServiceName,
    pub token: String,
}

/// One service as the API shows it: its name and its file's fields.
#[derive(Debug, Serialize)]
pub struct ServiceGet {
    pub name: ServiceName,
    #[serde(flatten)]
    pub service: Service,
}

fn parse_name(raw: &str) -> Result<ServiceName, Error> {
    ServiceName::parse(raw).map_err(|_| Error::NotFound(format!("there is no service `{raw}`")))
}

fn existing<'a>(view: &'a dyn View, raw: &str) -> Result<(ServiceName, &'a Service), Error> {
    let name = parse_name(raw)?;
    let service = view
        .config()
        .services
        .get(&name)
        .ok_or_else(|| Error::NotFound(format!("there is no service `{raw}`")))?;
    Ok((name, service))
}

/// Every service, by name.
pub fn list(view: &dyn View) -> Vec<ServiceGet> {
    view.config()
        .services
        .iter()
        .map(|(name, s)| ServiceGet {
            name: name.clone(),
            service: s.clone(),
        })
        .collect()
}

/// One service and the `ETag` of its file.
pub fn find(view: &dyn View, raw: &str) -> Result<(ServiceGet, String), Error> {
    let (name, service) = existing(view, raw)?;
    let bytes = view.read(&RepoPath::service(&name)).unwrap_or_default();
    Ok((
        ServiceGet {
            name,
            service: service.clone(),
        },
        resource::etag_of(&bytes),
    ))
}

/// The change a merge patch of one service makes.
pub fn plan_patch(
    view: &dyn View,
    raw: &str,
    headers: &HeaderMap,
    patch: serde_json::Value,
) -> Result<Change, Error> {
    let (name, service) = existing(view, raw)?;
    let path = RepoPath::service(&name);
    let current = view.read(&path);
    resource::check_if_match(headers, current.as_deref())?;
    if !patch.is_object() {
        return Err(Error::field(
            "_",
            "the body must be a JSON object of the service's fields",
        ));
    }
    let mut value = serde_json::to_value(service).map_err(|e| Error::HeadInvalid(e.to_string()))?;
    resource::merge_patch(&mut value, patch);
    let new: Service = super::request::parse_json(value.to_string().as_bytes())?;
    let mut problems = Vec::new();
    new.validate(&mut problems);
    problems.extend(rules::check_service(view.config(), &new));
    if !problems.is_empty() {
        return Err(resource::invalid(problems));
    }
    let text = current
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let text = edit::update(&text, &new)?;
    Ok(Change {
        summary: format!("Service {name} has been updated"),
        edits: vec![Edit::write(path, text)],
    })
}

/// `GET /api/v1/service`.
#[utoipa::path(
    get,
    path = "/api/v1/service",
    operation_id = "list_service",
    tag = "service",
    summary = "The services the worker deploys",
    responses((status = 200, description = "every service", body = [crate::api::openapi::Object])),
)]
pub async fn get_all(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
) -> Result<axum::Json<Vec<ServiceGet>>, Error> {
    Ok(axum::Json(
        resource::read(&ctx, |view| Ok(list(view))).await?,
    ))
}

/// `GET /api/v1/service/{name}`.
#[utoipa::path(
    get,
    path = "/api/v1/service/{name}",
    operation_id = "find_service",
    tag = "service",
    summary = "One service (`services/<name>.toml`)",
    params(("name" = String, Path, description = "service name")),
    responses(
        (status = 200, description = "the service, with its `ETag`", body = crate::api::openapi::Object),
        (status = 404, description = "no such service", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn get_one(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let (service, etag) = resource::read(&ctx, move |view| find(view, &raw)).await?;
    Ok(object(&headers, etag, service))
}

/// `PATCH /api/v1/service/{name}`.
#[utoipa::path(
    patch,
    path = "/api/v1/service/{name}",
    operation_id = "update_service",
    tag = "service",
    summary = "Change a service with a JSON merge patch (RFC 7396)",
    params(("name" = String, Path, description = "service name"),
        ("If-Match" = Option<String>, Header, description = "the `ETag` the change is based on; 412 when the object changed since"),
        crate::api::openapi::WaitQuery,
    ),
    request_body(content = crate::api::openapi::Object, description = "a JSON merge patch of the service's fields"),
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
    let patch: serde_json::Value = super::request::parse_json(&body)?;
    write::apply(&ctx, &caller.caller.name, wait, move |view| {
        plan_patch(view, &raw, &headers, patch)
    })
    .await
}

/// `POST /api/v1/service/<name>/token`.
#[utoipa::path(
    post,
    path = "/api/v1/service/{name}/token",
    operation_id = "create_service_token",
    tag = "service",
    summary = "A service's token (worker scope), derived by the server",
    params(
        ("name" = String, Path, description = "service name"),
    ),
    responses(
        (status = 200, description = "the token", body = ServiceToken),
        (status = 404, description = "no such service", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn token(
    caller: Authorized<Worker>,
    State(ctx): State<Context>,
    Path(raw): Path<String>,
) -> Result<axum::Json<ServiceToken>, Error> {
    let (service, _) =
        resource::read(&ctx, move |view| existing(view, &raw).map(|(n, _)| (n, ()))).await?;
    let token = ctx
        .tokens
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .service_token(&service);
    tracing::info!(%service, caller = %caller.caller.name, "handed out a service token");
    Ok(axum::Json(ServiceToken { service, token }))
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
                b"# the MTA\nimage = \"mailu-git/bookworm:latest\"\n".to_vec(),
            ),
        ]);
        Fixed::load(files).unwrap()
    }

    #[test]
    fn a_patch_keeps_comments_and_unknown_fields_are_refused() {
        let v = view();
        let change = plan_patch(
            &v,
            "smtp",
            &HeaderMap::new(),
            serde_json::json!({"enabled": false}),
        )
        .unwrap();
        let text = String::from_utf8(change.edits[0].content.clone().unwrap()).unwrap();
        assert!(
            text.contains("# the MTA") && text.contains("enabled = false"),
            "{text}"
        );
        let err = plan_patch(
            &v,
            "smtp",
            &HeaderMap::new(),
            serde_json::json!({"imgae": "x"}),
        )
        .unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(err.to_string().contains("imgae"), "{err}");
        let err = plan_patch(
            &v,
            "smtp",
            &HeaderMap::new(),
            serde_json::json!({"env": {"P": {"secret": "relay/password"}}}),
        )
        .unwrap_err();
        assert_eq!(err.status(), 400, "a secret that does not exist");
        assert_eq!(
            plan_patch(&v, "nope", &HeaderMap::new(), serde_json::json!({}))
                .unwrap_err()
                .status(),
            404
        );
    }
}
