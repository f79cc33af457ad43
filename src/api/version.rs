//! `/api/v1/version...`, `/suspend`, `/resume`, `/status`: history, diff, revert and suspension of
//! deployment, and the server's status. Thin: each handler parses its path and query, calls
//! `versions` (which the offline CLI calls too) and answers; errors map through `api::Error`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};

use super::listing::TOTAL_COUNT;
use super::{Authorized, Context, Error, Read, Write};
use crate::store::Revision;
use crate::versions::{self, Diff, DiffQuery, Hold, Reverted, Status, VersionDetail, VersionEntry};

/// Versions per page of `GET /version` when no `limit` is given.
pub const DEFAULT_LIMIT: usize = 50;
/// The most versions one page may hold.
pub const MAX_LIMIT: usize = 1000;

type RawQuery = Result<Query<BTreeMap<String, String>>, QueryRejection>;

/// The parameters of a query, or a 400 naming the malformed query string.
fn params(query: RawQuery) -> Result<BTreeMap<String, String>, Error> {
    let Query(params) =
        query.map_err(|e| Error::field("query", format!("malformed query string: {e}")))?;
    Ok(params)
}

fn number(key: &str, value: &str) -> Result<usize, Error> {
    value
        .parse::<usize>()
        .map_err(|_| Error::field(key, format!("`{value}` is not a whole number")))
}

fn flag(key: &str, value: &str) -> Result<bool, Error> {
    match value {
        "true" | "1" | "" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(Error::field(key, format!("`{other}` is not true or false"))),
    }
}

fn revision(text: &str) -> Result<Revision, Error> {
    Ok(Revision::parse(text).map_err(crate::store::Error::from)?)
}

/// `GET /api/v1/version`: versions, newest first, paged.
#[utoipa::path(
    get,
    path = "/api/v1/version",
    operation_id = "list_versions",
    tag = "versions",
    summary = "The versions, newest first, paged (total in X-Total-Count)",
    params(super::openapi::PageQuery),
    responses(
        (status = 200, description = "one page of versions", body = Vec<VersionEntry>),
        (status = 400, description = "a bad query parameter", body = super::openapi::ErrorBody),
    ),
)]
pub async fn list(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
    query: RawQuery,
) -> Result<Response, Error> {
    let (mut q, mut limit, mut offset) = (None, DEFAULT_LIMIT, 0);
    for (key, value) in params(query)? {
        match key.as_str() {
            "q" if !value.is_empty() => q = Some(value),
            "q" => {}
            "limit" => limit = number(&key, &value)?,
            "offset" => offset = number(&key, &value)?,
            other => {
                return Err(Error::field(
                    other,
                    "unknown query parameter; the version list takes q, limit and offset",
                ));
            }
        }
    }
    if limit > MAX_LIMIT {
        return Err(Error::field(
            "limit",
            format!("at most {MAX_LIMIT} versions per page"),
        ));
    }
    let store = ctx.store.clone();
    let (total, items) =
        tokio::task::spawn_blocking(move || versions::list(&store, offset, limit, q.as_deref()))
            .await??;
    Ok(([(TOTAL_COUNT, total.to_string())], Json(items)).into_response())
}

/// `GET /api/v1/version/{rev}`: one version and the paths it changed.
#[utoipa::path(
    get,
    path = "/api/v1/version/{rev}",
    operation_id = "get_version",
    tag = "versions",
    summary = "One version and the files it changed, sources and rendered files by service",
    params(("rev" = String, Path, description = "a version number, a (short) commit id, a tag, or main")),
    responses(
        (status = 200, description = "the version", body = VersionDetail),
        (status = 400, description = "not a version (ambiguous id, not on main's history)", body = super::openapi::ErrorBody),
        (status = 404, description = "no such version", body = super::openapi::ErrorBody),
    ),
)]
pub async fn get_one(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
    Path(rev): Path<String>,
) -> Result<Json<VersionDetail>, Error> {
    let rev = revision(&rev)?;
    let store = ctx.store.clone();
    let detail = tokio::task::spawn_blocking(move || versions::show(&store, &rev)).await??;
    Ok(Json(detail))
}

/// `GET /api/v1/version/{a}/diff/{b}`: the diff of two versions, paged and capped.
#[utoipa::path(
    get,
    path = "/api/v1/version/{a}/diff/{b}",
    operation_id = "diff_versions",
    tag = "versions",
    summary = "The diff from version a to version b (50 files a page, 64 KiB of diff per file and answer)",
    params(
        ("a" = String, Path, description = "the older side"),
        ("b" = String, Path, description = "the newer side"),
        ("service" = Option<String>, Query, description = "only rendered/<service>/ files"),
        ("page" = Option<usize>, Query, description = "the page of files, from 1"),
        ("path" = Option<String>, Query, description = "only this file"),
        ("offset" = Option<usize>, Query, description = "with path: where in its diff text to start (next_offset)"),
    ),
    responses(
        (status = 200, description = "the diff", body = Diff),
        (status = 400, description = "a bad revision or parameter", body = super::openapi::ErrorBody),
        (status = 404, description = "no such version, or the file did not change", body = super::openapi::ErrorBody),
    ),
)]
pub async fn diff(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
    Path((a, b)): Path<(String, String)>,
    query: RawQuery,
) -> Result<Json<Diff>, Error> {
    let (a, b) = (revision(&a)?, revision(&b)?);
    let mut q = DiffQuery {
        page: 1,
        ..DiffQuery::default()
    };
    for (key, value) in params(query)? {
        match key.as_str() {
            "service" => q.service = Some(value),
            "page" => q.page = number(&key, &value)?,
            "path" => q.path = Some(value),
            "offset" => q.offset = number(&key, &value)?,
            other => {
                return Err(Error::field(
                    other,
                    "unknown query parameter; a diff takes service, page, path and offset",
                ));
            }
        }
    }
    let store = ctx.store.clone();
    let diff = tokio::task::spawn_blocking(move || versions::diff(&store, &a, &b, &q)).await??;
    Ok(Json(diff))
}

/// `POST /api/v1/version/{rev}/revert`: a new version with `rev`'s tree.
#[utoipa::path(
    post,
    path = "/api/v1/version/{rev}/revert",
    operation_id = "revert_version",
    tag = "versions",
    summary = "Commit a new version whose tree is rev's (the WHOLE configuration returns, passwords and secrets included)",
    params(
        ("rev" = String, Path, description = "the version to return to"),
        ("deploy" = Option<bool>, Query, description = "while suspended, move the hold to the new version"),
        ("wait" = Option<bool>, Query, description = "accepted for symmetry with writes: a revert is always committed when it answers"),
    ),
    responses(
        (status = 200, description = "the new version", body = Reverted),
        (status = 400, description = "not a version, or it does not validate under today's rules (every problem in errors)", body = super::openapi::ErrorBody),
        (status = 404, description = "no such version", body = super::openapi::ErrorBody),
        (status = 503, description = "writes are suspended", body = super::openapi::ErrorBody),
    ),
)]
pub async fn revert(
    caller: Authorized<Write>,
    State(ctx): State<Context>,
    Path(rev): Path<String>,
    query: RawQuery,
) -> Result<Json<Reverted>, Error> {
    let rev = revision(&rev)?;
    let mut deploy = false;
    for (key, value) in params(query)? {
        match key.as_str() {
            "deploy" => deploy = flag(&key, &value)?,
            "wait" => {
                flag(&key, &value)?;
            }
            other => {
                return Err(Error::field(
                    other,
                    "unknown query parameter; a revert takes deploy and wait",
                ));
            }
        }
    }
    let reverted = versions::revert(&ctx.versioner, &rev, &caller.caller.name, deploy).await?;
    Ok(Json(reverted))
}

/// `POST /api/v1/suspend`: hold deployment at the deployed version.
#[utoipa::path(
    post,
    path = "/api/v1/suspend",
    operation_id = "suspend",
    tag = "versions",
    summary = "Suspend deployment: refs/mailu/hold at the deployed version; writes keep landing on main",
    responses(
        (status = 200, description = "suspended", body = Hold),
        (status = 409, description = "already suspended (since which version)", body = super::openapi::ErrorBody),
    ),
)]
pub async fn suspend(
    caller: Authorized<Write>,
    State(ctx): State<Context>,
) -> Result<Json<Hold>, Error> {
    Ok(Json(
        versions::suspend(&ctx.versioner, &caller.caller.name).await?,
    ))
}

/// `POST /api/v1/resume`: deployment follows main again.
#[utoipa::path(
    post,
    path = "/api/v1/resume",
    operation_id = "resume",
    tag = "versions",
    summary = "Resume deployment: delete the hold, main is deployed",
    responses(
        (status = 200, description = "resumed", body = Hold),
        (status = 409, description = "not suspended", body = super::openapi::ErrorBody),
    ),
)]
pub async fn resume(
    caller: Authorized<Write>,
    State(ctx): State<Context>,
) -> Result<Json<Hold>, Error> {
    Ok(Json(
        versions::resume(&ctx.versioner, &caller.caller.name).await?,
    ))
}

/// `GET /api/v1/status`: main, deployed, suspension, journal, writability, renderer.
#[utoipa::path(
    get,
    path = "/api/v1/status",
    operation_id = "status",
    tag = "versions",
    summary = "Main and deployed versions, suspension, versions ahead, journal, writability, renderer",
    responses((status = 200, description = "the status", body = Status)),
)]
pub async fn status(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
) -> Result<Json<Status>, Error> {
    let mut status = versions::status(&ctx.versioner).await?;
    status.certificate =
        crate::tls::status::current(&ctx.versioner.state(), &ctx.tls, crate::tls::now());
    status.cleanup = ctx.gc.last();
    status.deploy = ctx.deploy_report.last();
    status.attention = ctx.monitor.current();
    Ok(Json(status))
}
