//! The OpenAPI 3.1 document of `/api/v1` and its interactive page (Swagger UI, served from the
//! binary: no CDN, so it works on an air-gapped host).
//!
//! The operations are described by `#[utoipa::path]` on each handler and the bodies by
//! `ToSchema` on the DTOs, next to the code they describe; this module gathers them, adds what
//! every operation shares (the bearer token and the 401/403/429 answers) and serves the result at
//! `/api/v1/openapi.json` and at Mailu's `/api/v1/swagger.json` (Mailu served Swagger 2.0 there;
//! we serve the same OpenAPI 3.1 document at both). Both are public: a spec holds no configuration.
//! It is not a second source of truth: a route missing here is found by `tests/it/openapi.rs`.

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::routing::get;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Ref, ResponseBuilder};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use utoipa_swagger_ui::{Config, SwaggerUi};

use super::{
    alias, alternative, backup, bundle, certificate, domain, fetch, gc, overrides, relay, secret,
    service, settings, tag, token, user, version, write,
};

pub use super::error::Body as ErrorBody;

/// What every write answers besides its own refusals: acknowledged (200), acknowledged but not yet
/// in a version when `?wait=true` ran out of time (202), or refused because writes are suspended (503).
/// One definition instead of the same three lines on every write handler.
#[derive(Debug, utoipa::IntoResponses)]
pub enum WriteAnswers {
    #[response(
        status = 200,
        description = "acknowledged (durable); `change` names it, `version` once `?wait=true` saw it committed"
    )]
    Acknowledged(crate::api::write::Written),
    #[response(
        status = 202,
        description = "`?wait=true` ran out of time: acknowledged, not yet in a version"
    )]
    Pending(crate::api::write::Written),
    #[response(
        status = 503,
        description = "writes are suspended (the reason is in `/healthz`)"
    )]
    Suspended(ErrorBody),
}

/// Where the document is served (and Mailu's path for it).
pub const DOCUMENT: &str = "/api/v1/openapi.json";
pub const MAILU_DOCUMENT: &str = "/api/v1/swagger.json";
/// The interactive page.
pub const UI: &str = "/api/v1/ui";

/// The settings (`mailu.toml`) as JSON: a free-form object here, its keys are documented in
/// `docs/settings.md` and checked by the server.
#[derive(Debug, ToSchema)]
#[schema(value_type = Object)]
pub struct Settings(pub serde_json::Map<String, serde_json::Value>);

/// `?wait=` of every write.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// Answer once a version holds the change (bounded; 202 when the time runs out).
    pub wait: Option<bool>,
}

/// The search of the user and alias lists.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Keep objects whose address contains this, case-insensitively.
    pub q: Option<String>,
    /// Keep objects of this domain (Unicode or ASCII).
    pub domain: Option<String>,
    /// At most this many objects; without it, all (as Mailu).
    pub limit: Option<usize>,
    /// Skip this many objects first.
    pub offset: Option<usize>,
}

/// The paging of the other lists.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Keep objects whose name contains this, case-insensitively.
    pub q: Option<String>,
    /// At most this many objects; without it, all (as Mailu).
    pub limit: Option<usize>,
    /// Skip this many objects first.
    pub offset: Option<usize>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "mailu-git",
        description = "The REST API of mailu-git, the central configuration server of the Mailu \
            mail stack rebuilt on Git. It keeps the paths, fields and status codes of Mailu's API \
            (2024.06), so scripts written for Mailu keep working, and adds settings, services, \
            paging and versions. Every write is acknowledged durably and becomes part of a version \
            (a commit) after a quiet period; `?wait=true` answers once it has.\n\n\
            Authentication: `Authorization: Bearer <token>`, or the bare token \
            (`Authorization: <token>`) as Mailu accepts. See docs/api.md.",
    ),
    paths(
        settings::get,
        settings::patch,
        super::init::post,
        write::change,
        write::pending,
        version::list,
        version::get_one,
        version::diff,
        version::revert,
        version::suspend,
        version::resume,
        version::status,
        service::get_all,
        service::get_one,
        service::patch,
        service::token,
        bundle::get,
        bundle::deploy,
        bundle::report,
        overrides::file::get_all,
        overrides::file::get_one,
        overrides::file::put,
        overrides::file::delete,
        overrides::template::get_all,
        overrides::template::get_one,
        overrides::template::put,
        overrides::template::delete,
        overrides::mailu::get_all,
        overrides::mailu::get_one,
        overrides::mailu::put,
        overrides::mailu::delete,
        fetch::get_all,
        fetch::post,
        fetch::get_one,
        fetch::patch,
        fetch::delete,
        secret::recipient,
        certificate::get,
        certificate::put,
        user::get_all,
        user::post,
        user::get_one,
        user::patch,
        user::delete,
        alias::get_all,
        alias::post,
        alias::get_one,
        alias::patch,
        alias::delete,
        alias::get_destination,
        token::get_all,
        token::post,
        token::get_one,
        token::patch,
        token::delete,
        token::get_of_user,
        token::post_for_user,
        domain::get_all,
        domain::post,
        domain::get_one,
        domain::patch,
        domain::delete,
        domain::users::get_all,
        domain::dkim::post,
        domain::manager::get_all,
        domain::manager::post,
        domain::manager::get_one,
        domain::manager::delete,
        alternative::get_all,
        alternative::post,
        alternative::get_one,
        alternative::delete,
        relay::get_all,
        relay::post,
        relay::get_one,
        relay::patch,
        relay::delete,
        gc::post,
        backup::get,
        super::import::post,
        super::import::export,
        super::python::info,
        super::python::download,
        tag::get_all,
        tag::post,
        tag::delete,
    ),
    components(schemas(ErrorBody, crate::api::write::Written)),
    modifiers(&Shared),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

/// What every operation shares, added here rather than repeated on each handler.
struct Shared;

impl Modify for Shared {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    utoipa::openapi::ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        let shared = [
            ("401", "no `Authorization` header"),
            (
                "403",
                "an unknown token, or one whose scope does not allow this",
            ),
            ("429", "too many failed authentications from this client"),
        ];
        for item in doc.paths.paths.values_mut() {
            let operations: [&mut Option<Operation>; 5] = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for op in operations.into_iter().flatten() {
                // `security(())`: a route without authentication (the Python wheel) cannot answer
                // the authentication errors.
                let open = op
                    .security
                    .as_ref()
                    .is_some_and(|s| !s.is_empty() && s.iter().all(|r| *r == Default::default()));
                if open {
                    continue;
                }
                for (code, description) in shared {
                    op.responses
                        .responses
                        .entry(code.to_owned())
                        .or_insert_with(|| error(description).into());
                }
            }
        }
    }
}

/// The document, as served.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

/// The document at `/openapi.json` and `/swagger.json`, to merge into the `/api/v1` router.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let json: Arc<str> = document()
        .to_json()
        .expect("a derived OpenAPI document serializes")
        .into();
    let serve = move || {
        let json = json.clone();
        async move {
            (
                [(header::CONTENT_TYPE, "application/json")],
                json.to_string(),
            )
        }
    };
    Router::new()
        .route("/openapi.json", get(serve.clone()))
        .route("/swagger.json", get(serve))
}

/// The interactive page at [`UI`], to merge at the root: Swagger UI redirects `UI` to `UI/` by its
/// own path, which would lose the `/api/v1` prefix if it were nested.
pub fn page<S: Clone + Send + Sync + 'static>() -> Router<S> {
    SwaggerUi::new(UI).config(Config::new([DOCUMENT])).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_are_unique_and_every_operation_shares_the_auth_answers() {
        let doc = document();
        assert_eq!(doc.info.version, env!("CARGO_PKG_VERSION"));
        let mut ids = std::collections::BTreeSet::new();
        for (path, item) in &doc.paths.paths {
            let ops = [&item.get, &item.post, &item.put, &item.patch, &item.delete];
            for op in ops.into_iter().flatten() {
                let id = op.operation_id.clone().expect("every operation has an id");
                assert!(ids.insert(id.clone()), "{id} twice ({path})");
                // Only the Python wheel's routes need no token, and so answer no auth error.
                let open = path.starts_with("/api/v1/client/python");
                for code in ["401", "403", "429"] {
                    let has = op.responses.responses.contains_key(code);
                    assert!(has != open, "{id}: {code}");
                }
            }
        }
        // Mailu's names, so generated clients keep their method names.
        assert!(ids.contains("list_domain") && ids.contains("create_user"));
    }
}
