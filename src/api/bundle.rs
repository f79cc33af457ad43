//! `GET /api/v1/service/<name>/bundle` (the service's token, or admin), `GET /api/v1/deploy` and
//! `POST /api/v1/deploy/report` (worker or admin): the HTTP side of `bundle` and `deploy_report`.
//!
//! A bundle answers 200 with the tar archive and its `ETag`, or 304 when `If-None-Match` names the
//! current tag. With `?since=<etag>` it long-polls: it answers at once if the current tag differs,
//! else waits (`timeout` seconds, default 60, at most 300) for a version or a ref move that changes
//! it, and answers 304 when none did. The deploy summary long-polls the same way on the deployed
//! version's number (`?since=<number>`) and answers 200 with the current summary either way, so the
//! worker handles one shape; it compares the number to know whether anything changed.
//!
//! Who may read a bundle: its own service's token and admin tokens. Worker tokens may not (the
//! worker never needs a bundle: `refresh` runs in the container with the container's token), nor
//! read tokens (bundles hold secrets).

use std::time::Duration;

use std::collections::BTreeMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::request::parse_json;
use super::{Authenticated, Authorized, Body, Context, Error, Worker, none_match};
use crate::auth::Need;
use crate::bundle::{self, Current, Deploy, poll};
use crate::deploy_report::Report;
use crate::model::ServiceName;

/// The archive budget of the bundle cache: every service of a large installation, several times.
pub const CACHE_BYTES: usize = 256 << 20;

/// `?since=...&timeout=...` of both long-polls.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Poll {
    /// Answer only when the current value differs from this one (or at the timeout).
    since: Option<String>,
    /// Seconds to wait, 0 to 300 (default 60).
    timeout: Option<u64>,
    /// Deploy only: the version the worker last applied; the answer then says per service which
    /// paths changed since it, and how mailboxes changed.
    from: Option<String>,
}

impl Poll {
    /// The parameters, each problem a 400 naming the parameter.
    fn parse(
        query: Result<Query<BTreeMap<String, String>>, QueryRejection>,
        allow_from: bool,
    ) -> Result<Poll, Error> {
        let Query(mut query) = query.map_err(|e| Error::field("_", e.body_text()))?;
        let since = query.remove("since");
        let from = if allow_from {
            query.remove("from")
        } else {
            None
        };
        let timeout = match query.remove("timeout") {
            None => None,
            Some(raw) => Some(raw.trim().parse::<u64>().map_err(|_| {
                Error::field("timeout", format!("`{raw}` is not a number of seconds"))
            })?),
        };
        if let Some(other) = query.keys().next() {
            let known = if allow_from {
                "since, timeout, from"
            } else {
                "since, timeout"
            };
            return Err(Error::field(
                other,
                format!("is not a parameter here ({known})"),
            ));
        }
        Ok(Poll {
            since,
            timeout,
            from,
        })
    }

    fn timeout(&self) -> Result<Duration, Error> {
        match self.timeout {
            None => Ok(poll::DEFAULT_TIMEOUT),
            Some(s) if Duration::from_secs(s) <= poll::MAX_TIMEOUT => Ok(Duration::from_secs(s)),
            Some(s) => Err(Error::field(
                "timeout",
                format!("{s} is more than {} seconds", poll::MAX_TIMEOUT.as_secs()),
            )),
        }
    }
}

/// Runs a blocking bundle call off the async threads.
async fn blocking<T: Send + 'static>(
    ctx: &Context,
    f: impl FnOnce(&bundle::Bundles) -> Result<T, bundle::Error> + Send + 'static,
) -> Result<T, Error> {
    let bundles = ctx.bundles.clone();
    Ok(tokio::task::spawn_blocking(move || f(&bundles)).await??)
}

/// `GET /api/v1/service/{name}/bundle`.
#[utoipa::path(
    get,
    path = "/api/v1/service/{name}/bundle",
    operation_id = "get_bundle",
    tag = "deploy",
    summary = "A service's files at the deployed version, as a tar archive (see docs/deploy.md)",
    params(("name" = String, Path, description = "service name"), Poll),
    responses(
        (status = 200, description = "the archive, with its `ETag`", content_type = "application/x-tar"),
        (status = 304, description = "`If-None-Match` or `since` names the current `ETag`"),
        (status = 403, description = "not this service's token, nor admin", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such service, or disabled at the deployed version", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn get(
    auth: Authenticated,
    State(ctx): State<Context>,
    Path(raw): Path<String>,
    query: Result<Query<BTreeMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let poll = Poll::parse(query, false)?;
    // The scope is checked before the name: another service's token learns nothing, even whether
    // the name exists.
    let asked = ServiceName::parse(&raw)
        .map_err(|_| Error::from(bundle::Error::UnknownService(raw.clone())))?;
    auth.require(&ctx, &Need::Bundle(asked), "read this service's bundle")?;
    let timeout = poll.timeout()?;
    let current = match &poll.since {
        None => {
            let raw = raw.clone();
            blocking(&ctx, move |b| b.current(&raw)).await?
        }
        Some(since) => {
            let since = since.clone();
            let found = poll::until(
                ctx.versioner.versions(),
                ctx.bundles.closing(),
                timeout,
                || {
                    let raw = raw.clone();
                    let since = since.clone();
                    let ctx = ctx.clone();
                    async move {
                        let current = blocking(&ctx, move |b| b.current(&raw)).await?;
                        Ok::<_, Error>((!current.etag.is(&since)).then_some(current))
                    }
                },
            )
            .await?;
            match found {
                Some(current) => current,
                None => return Ok(not_modified_since(&since)),
            }
        }
    };
    if none_match(&headers, &current.etag.header()) {
        return Ok(not_modified(&current));
    }
    let archive = {
        let current = current.clone();
        blocking(&ctx, move |b| b.archive(&current)).await?
    };
    let mut response = (StatusCode::OK, axum::body::Bytes::from_owner(archive)).into_response();
    set_headers(response.headers_mut(), &current);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    Ok(response)
}

fn set_headers(headers: &mut HeaderMap, current: &Current) {
    if let Ok(v) = HeaderValue::from_str(&current.etag.header()) {
        headers.insert(header::ETAG, v);
    }
    headers.insert(
        "x-mailu-version",
        HeaderValue::from(current.deployed.number),
    );
    // Secrets inside: no shared cache may keep it.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn not_modified(current: &Current) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    set_headers(response.headers_mut(), current);
    response
}

/// The 304 of a long-poll that timed out: the client's tag is still current.
fn not_modified_since(since: &str) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    let tag = format!(
        "\"{}\"",
        since.trim().trim_start_matches("W/").trim_matches('"')
    );
    if let Ok(v) = HeaderValue::from_str(&tag) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

/// `GET /api/v1/deploy`.
#[utoipa::path(
    get,
    path = "/api/v1/deploy",
    operation_id = "get_deploy",
    tag = "deploy",
    summary = "The deployed version and every enabled service (bundle `ETag`, service file; with `from`, changed paths); long-polls with `since`",
    params(Poll),
    responses(
        (status = 200, description = "the deployed version (on a timeout: the same as `since`)", body = Deploy),
        (status = 400, description = "`since` or `from` is not a version number, or `timeout` too long", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn deploy(
    _caller: Authorized<Worker>,
    State(ctx): State<Context>,
    query: Result<Query<BTreeMap<String, String>>, QueryRejection>,
) -> Result<axum::Json<Deploy>, Error> {
    let poll = Poll::parse(query, true)?;
    let timeout = poll.timeout()?;
    let from = match &poll.from {
        None => None,
        Some(raw) => Some(
            raw.trim()
                .parse::<u64>()
                .map_err(|_| Error::field("from", format!("`{raw}` is not a version number")))?,
        ),
    };
    let since = match &poll.since {
        None => None,
        Some(raw) => Some(
            raw.trim()
                .parse::<u64>()
                .map_err(|_| Error::field("since", format!("`{raw}` is not a version number")))?,
        ),
    };
    let Some(since) = since else {
        return Ok(axum::Json(blocking(&ctx, move |b| b.deploy(from)).await?));
    };
    // Changed or timed out, the answer is the current summary: the worker compares the number.
    poll::until(
        ctx.versioner.versions(),
        ctx.bundles.closing(),
        timeout,
        || {
            let ctx = ctx.clone();
            async move {
                let deployed = blocking(&ctx, |b| b.deployed()).await?;
                Ok::<_, Error>((deployed.number != since).then_some(()))
            }
        },
    )
    .await?;
    Ok(axum::Json(blocking(&ctx, move |b| b.deploy(from)).await?))
}

/// `POST /api/v1/deploy/report`.
#[utoipa::path(
    post,
    path = "/api/v1/deploy/report",
    operation_id = "post_deploy_report",
    tag = "deploy",
    summary = "The worker's report of what it did for a version (shown in the status as `deploy`)",
    request_body = Report,
    responses(
        (status = 200, description = "stored; the report as kept", body = Report),
        (status = 400, description = "a field breaks a rule (named)", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn report(
    caller: Authorized<Worker>,
    State(ctx): State<Context>,
    Body(body): Body,
) -> Result<axum::Json<Report>, Error> {
    let report: Report = parse_json(&body)?;
    report.check()?;
    let reports = ctx.deploy_report.clone();
    let kept = report.clone();
    tokio::task::spawn_blocking(move || reports.store(kept)).await??;
    tracing::info!(caller = %caller.caller.name, version = report.version, "stored a deploy report");
    Ok(axum::Json(report))
}
