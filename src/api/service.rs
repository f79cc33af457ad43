//! `/api/v1/service/<name>/...`: the services the worker deploys. So far only `POST
//! /api/v1/service/<name>/token` (worker scope): the service's current token, derived by the server
//! (`auth::TokenFile::service_token`), for the worker to hand to the container it creates. The
//! service must exist in `services/` at the head of main. GET and PATCH of services come later.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;

use super::{Authorized, Context, Error, Worker};
use crate::model::{RepoPath, ServiceName};
use crate::store::Rev;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServiceToken {
    #[schema(value_type = String)]
    pub service: ServiceName,
    pub token: String,
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
    Path(name): Path<String>,
) -> Result<Json<ServiceToken>, Error> {
    let not_found = || Error::NotFound(format!("there is no service `{name}`"));
    let service = ServiceName::parse(&name).map_err(|_| not_found())?;
    let store = ctx.store.clone();
    let path = RepoPath::service(&service);
    let exists = tokio::task::spawn_blocking(move || {
        Ok::<_, Error>(store.snapshot(&Rev::Head)?.blob_id(&path)?.is_some())
    })
    .await??;
    if !exists {
        return Err(not_found());
    }
    let token = ctx
        .tokens
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .service_token(&service);
    tracing::info!(%service, caller = %caller.caller.name, "handed out a service token");
    Ok(Json(ServiceToken { service, token }))
}
