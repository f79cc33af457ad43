//! The REST API under `/api/v1`: routes, the shared [`Context`], request bodies, `ETag`s, and (in
//! `api/`) the auth extractor, the error mapping, metrics and one file per resource.
//!
//! Conventions (Mailu's, see `docs/api.md`): `Authorization: Bearer <token>` or the bare token;
//! 401/403/429 for a missing, invalid or rate-limited token; error bodies `{"code", "message"}` with
//! `"errors"` on 400. Every object carries an `ETag`, the blob id of its file. This module knows
//! HTTP; what the files mean is `model`'s business, how they are stored `store`'s. The OpenAPI
//! document and its page are in `api/openapi.rs`.

pub mod access;
pub mod alias;
pub mod alternative;
pub mod backup;
pub mod body;
pub mod bundle;
pub mod certificate;
pub mod domain;
pub mod error;
pub mod fetch;
pub mod gc;
pub mod import;
pub mod init;
pub mod listing;
pub mod metrics;
pub mod openapi;
pub mod overrides;
pub mod python;
pub mod relay;
pub mod request;
pub mod resource;
pub mod secret;
pub mod service;
pub mod settings;
pub mod tag;
pub mod token;
pub mod user;
pub mod version;
pub mod write;

use std::sync::{Arc, Mutex, RwLock};

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::{HeaderMap, Method, header};
use axum::routing::{get, post};

use crate::auth::{RateLimiter, TokenFile};
use crate::store::Store;
use crate::versioner::Versioner;

pub use access::{Authenticated, Authorized, Read, Requirement, Worker, Write};
pub use error::Error;
pub use metrics::Metrics;

/// How many password hashes run at once: one per core of the machine this project targets; more
/// would only queue inside the kernel and delay every other request.
pub const HASHING: usize = 2;

/// The largest request body the API reads, unless a route says otherwise (file uploads will).
pub const BODY_LIMIT: usize = 1 << 20;

/// What every API handler shares. Clone is cheap: only `Arc`s (a [`Store`] is one).
#[derive(Clone)]
pub struct Context {
    pub store: Store,
    pub tokens: Arc<RwLock<TokenFile>>,
    pub limiter: Arc<Mutex<RateLimiter>>,
    pub metrics: Arc<Metrics>,
    /// The server's age recipient: what operators encrypt secrets for (`mailu-git secret encrypt`).
    pub recipient: Arc<str>,
    /// The server's secret key, for the secrets an export shows and an import compares.
    pub keyring: Arc<crate::secret::Keyring>,
    /// The write path: the acknowledged state, and changes becoming versions.
    pub versioner: Versioner,
    /// Password hashes running at once (each takes a core for ~0.2 s at the default cost).
    pub hashing: Arc<tokio::sync::Semaphore>,
    /// The certificate's renewal status and pending ACME challenges.
    pub tls: Arc<crate::tls::Shared>,
    /// Cleanup of old versions (`POST /api/v1/gc`, and the schedule); its last run.
    pub gc: crate::gc::Gc,
    /// Per-service bundles of the deployed version, with their cache.
    pub bundles: Arc<crate::bundle::Bundles>,
    /// The worker's last deploy report (`<data>/deploy-report.json`).
    pub deploy_report: Arc<crate::deploy_report::Reports>,
    /// Backups of the data directory (`GET /api/v1/backup`): where it is, one at a time.
    pub backups: Arc<backup::Backups>,
    /// What needs an admin's attention (status `attention`, `/metrics`).
    pub monitor: Arc<crate::monitor::Monitor>,
}

impl std::fmt::Debug for Context {
    // By hand: the token file holds the key service tokens derive from, which must not reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl Context {
    pub fn new(
        store: Store,
        tokens: TokenFile,
        limiter: RateLimiter,
        keyring: Arc<crate::secret::Keyring>,
        versioner: Versioner,
    ) -> Context {
        Context {
            gc: crate::gc::Gc::new(versioner.clone(), store.path().to_owned()),
            bundles: Arc::new(crate::bundle::Bundles::new(
                store.clone(),
                keyring.clone(),
                bundle::CACHE_BYTES,
            )),
            deploy_report: Arc::new(crate::deploy_report::Reports::open(
                data_root(&store).join(crate::deploy_report::FILE),
            )),
            backups: Arc::new(backup::Backups::new(crate::backup::Sources {
                root: data_root(&store),
                secret_key: crate::secret::Keyring::default_path(&data_root(&store)),
            })),
            monitor: Arc::default(),
            versioner,
            hashing: Arc::new(tokio::sync::Semaphore::new(HASHING)),
            recipient: keyring.recipient().into(),
            keyring,
            store,
            tokens: Arc::new(RwLock::new(tokens)),
            limiter: Arc::new(Mutex::new(limiter)),
            metrics: Arc::new(Metrics::default()),
            tls: Arc::default(),
        }
    }
}

/// The data directory holding the store's repository (`<data>/config.git`).
fn data_root(store: &Store) -> std::path::PathBuf {
    store
        .path()
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .to_owned()
}

/// The API's routes (`/api/v1/...`) and `/metrics`, with their state applied.
pub fn router(ctx: Context) -> Router {
    let v1 = Router::new()
        .route("/settings", get(settings::get).patch(settings::patch))
        .route("/init", post(init::post))
        .route("/change/{id}", get(write::change))
        .route("/pending", get(write::pending))
        .route("/gc", post(gc::post))
        .route("/backup", get(backup::get))
        .route(
            "/import",
            post(import::post).layer(DefaultBodyLimit::max(import::LIMIT)),
        )
        .route("/export", get(import::export))
        .route("/client/python", get(python::info))
        .route("/client/python/{file}", get(python::download))
        .route("/tag", get(tag::get_all).post(tag::post))
        .route("/tag/{*name}", axum::routing::delete(tag::delete))
        .route("/version", get(version::list))
        .route("/version/{rev}", get(version::get_one))
        .route("/version/{a}/diff/{b}", get(version::diff))
        .route("/version/{rev}/revert", post(version::revert))
        .route("/suspend", post(version::suspend))
        .route("/resume", post(version::resume))
        .route("/status", get(version::status))
        // The three trees an operator changes files through (`overrides.rs`); files up to 4 MiB.
        .route("/override/{service}", get(overrides::file::get_all))
        .route(
            "/override/{service}/{*path}",
            get(overrides::file::get_one)
                .put(overrides::file::put)
                .delete(overrides::file::delete)
                .layer(DefaultBodyLimit::max(overrides::LIMIT)),
        )
        .route("/template/{service}", get(overrides::template::get_all))
        .route(
            "/template/{service}/{*file}",
            get(overrides::template::get_one)
                .put(overrides::template::put)
                .delete(overrides::template::delete)
                .layer(DefaultBodyLimit::max(overrides::LIMIT)),
        )
        .route("/mailu-override", get(overrides::mailu::get_all))
        .route(
            "/mailu-override/{dir}/{*file}",
            get(overrides::mailu::get_one)
                .put(overrides::mailu::put)
                .delete(overrides::mailu::delete)
                .layer(DefaultBodyLimit::max(overrides::LIMIT)),
        )
        .route("/fetch", get(fetch::get_all).post(fetch::post))
        .route(
            "/fetch/{id}",
            get(fetch::get_one)
                .patch(fetch::patch)
                .delete(fetch::delete),
        )
        .route("/service", get(service::get_all))
        .route(
            "/service/{name}",
            get(service::get_one).patch(service::patch),
        )
        .route("/service/{name}/token", post(service::token))
        .route("/service/{name}/bundle", get(bundle::get))
        .route("/deploy", get(bundle::deploy))
        .route("/deploy/report", post(bundle::report))
        .route("/secret/recipient", get(secret::recipient))
        .route(
            "/certificate",
            get(certificate::get)
                .put(certificate::put)
                .layer(DefaultBodyLimit::max(certificate::BODY_LIMIT)),
        )
        .route("/user", get(user::get_all).post(user::post))
        .route(
            "/user/{email}",
            get(user::get_one).patch(user::patch).delete(user::delete),
        )
        .route("/alias", get(alias::get_all).post(alias::post))
        .route(
            "/alias/{alias}",
            get(alias::get_one)
                .patch(alias::patch)
                .delete(alias::delete),
        )
        .route("/alias/destination/{domain}", get(alias::get_destination))
        .route("/token", get(token::get_all).post(token::post))
        .route(
            "/token/{id}",
            get(token::get_one)
                .patch(token::patch)
                .delete(token::delete),
        )
        .route(
            "/tokenuser/{email}",
            get(token::get_of_user).post(token::post_for_user),
        )
        .route("/domain", get(domain::get_all).post(domain::post))
        .route(
            "/domain/{domain}",
            get(domain::get_one)
                .patch(domain::patch)
                .delete(domain::delete),
        )
        .route("/domain/{domain}/users", get(domain::users::get_all))
        .route("/domain/{domain}/dkim", post(domain::dkim::post))
        .route(
            "/domain/{domain}/manager",
            get(domain::manager::get_all).post(domain::manager::post),
        )
        .route(
            "/domain/{domain}/manager/{email}",
            get(domain::manager::get_one).delete(domain::manager::delete),
        )
        .route(
            "/alternative",
            get(alternative::get_all).post(alternative::post),
        )
        .route(
            "/alternative/{alt}",
            get(alternative::get_one).delete(alternative::delete),
        )
        .route("/relay", get(relay::get_all).post(relay::post))
        .route(
            "/relay/{name}",
            get(relay::get_one)
                .patch(relay::patch)
                .delete(relay::delete),
        )
        // The OpenAPI document (also at Mailu's swagger.json): public, no token.
        .merge(openapi::routes())
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    Router::new()
        .nest("/api/v1", v1)
        // The interactive page of the document: public too, and offline (vendored Swagger UI).
        .merge(openapi::page())
        .route("/metrics", get(metrics::render))
        // HTTP-01 answers for the ACME server, public (front proxies the path here).
        .route(
            "/.well-known/acme-challenge/{token}",
            get(certificate::challenge),
        )
        .with_state(ctx)
}

async fn not_found() -> Error {
    Error::NotFound("no such API path".into())
}

async fn method_not_allowed(method: Method) -> Error {
    Error::MethodNotAllowed(method.to_string())
}

/// Whether the request's `If-None-Match` names `etag` (or is `*`); weak tags compare equal, as
/// RFC 9110 asks for this header.
pub fn none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}

/// A raw request body (its route's `DefaultBodyLimit` applies; `LIMIT` is only what an oversized
/// body's 413 says). Oversized or unreadable bodies become API errors in Mailu's shape instead of
/// axum's plain-text rejections.
#[derive(Debug)]
pub struct Body<const LIMIT: usize = BODY_LIMIT>(pub axum::body::Bytes);

impl<S: Send + Sync, const LIMIT: usize> FromRequest<S> for Body<LIMIT> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        match axum::body::Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(Body(bytes)),
            Err(rejection) if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                Err(Error::BodyTooLarge { limit: LIMIT })
            }
            Err(rejection) => Err(Error::Invalid {
                message: format!("the request body cannot be read: {}", rejection.body_text()),
                errors: Default::default(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_lists_and_weak_tags() {
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, "\"a\", W/\"b\"".parse().unwrap());
        assert!(none_match(&headers, "\"b\""));
        assert!(none_match(&headers, "\"a\""));
        assert!(!none_match(&headers, "\"c\""));
        assert!(!none_match(&HeaderMap::new(), "\"a\""));
    }

    #[tokio::test]
    async fn bodies_past_the_limit_are_refused_in_mailus_shape() {
        // Without a route's `DefaultBodyLimit`, axum's own default (2 MiB) applies.
        let big = format!("\"{}\"", "x".repeat(3 << 20));
        let req = Request::new(axum::body::Body::from(big));
        let err = Body::<BODY_LIMIT>::from_request(req, &())
            .await
            .unwrap_err();
        assert_eq!(err.status(), 413);
        assert!(err.to_string().contains(&BODY_LIMIT.to_string()), "{err}");
        let req = Request::new(axum::body::Body::from("{"));
        let Body(bytes) = Body::<BODY_LIMIT>::from_request(req, &()).await.unwrap();
        let err = request::parse_json::<String>(&bytes).unwrap_err();
        assert_eq!(err.status(), 400);
        assert_eq!(request::parse_json::<String>(b"\"ok\"").unwrap(), "ok");
    }
}
