//! The one way API handlers write: plan a [`Change`] against the acknowledged state under the
//! writer's lock, hand it to the versioner (durable when this returns), and answer in Mailu's shape
//! with the change id. `?wait=true` waits (bounded) until a version holds the change; `/change/<id>`
//! and `/pending` tell where changes are.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::resource::{Acked, Change, View};
use super::{Authorized, Context, Error, Read};
use crate::versioner::{self, ChangeId, Status};

/// How long `?wait=true` waits for the version before answering 202 with the change id.
pub const WAIT_LIMIT: Duration = Duration::from_secs(30);

/// The query of every write.
#[derive(Debug, Default, Deserialize)]
pub struct WriteQuery {
    /// Wait until a version holds the change (bounded by [`WAIT_LIMIT`]).
    #[serde(default)]
    pub wait: bool,
}

/// The answer to a write: Mailu's `{code, message}` plus where the change is.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Written {
    pub code: u16,
    pub message: String,
    pub change: String,
    /// The version that holds the change, once there is one (`?wait=true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// `?wait=true` of a write, as an extractor; a malformed query is a 400 naming `wait`.
#[derive(Debug, Clone, Copy)]
pub struct Wait(pub bool);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Wait {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Error> {
        let query = Query::<WriteQuery>::from_request_parts(parts, state)
            .await
            .map_err(|e| Error::field("wait", e.body_text()))?;
        Ok(Wait(query.0.wait))
    }
}

/// Plans and submits one change for `author`; `plan` runs under the writer's lock and must be cheap
/// (hash passwords before calling this). Returns the change id, the summary and what `plan` handed
/// back besides the change (e.g. a token's plaintext, shown once).
pub async fn submit<T>(
    ctx: &Context,
    author: &str,
    plan: impl FnOnce(&dyn View) -> Result<(Change, T), Error>,
) -> Result<(ChangeId, String, T), Error> {
    let mut out = None;
    let id = ctx
        .versioner
        .write(|state| {
            let view = Acked::new(state)?;
            let (change, extra) = plan(&view)?;
            out = Some((change.summary.clone(), extra));
            Ok::<_, Error>(versioner::Change {
                author: author.to_owned(),
                summary: change.summary,
                edits: change.edits,
            })
        })
        .await?;
    let (summary, extra) = out.expect("the plan ran, since the write succeeded");
    Ok((id, summary, extra))
}

/// Plans and submits one change and answers in Mailu's shape with the change id (and the version
/// with `?wait=true`).
pub async fn apply(
    ctx: &Context,
    author: &str,
    wait: bool,
    plan: impl FnOnce(&dyn View) -> Result<Change, Error>,
) -> Result<Response, Error> {
    let (id, summary, ()) = submit(ctx, author, |view| plan(view).map(|c| (c, ()))).await?;
    answer(ctx, &id, summary, wait).await
}

/// The answer to a write that made change `id`.
pub async fn answer(
    ctx: &Context,
    id: &ChangeId,
    message: String,
    wait: bool,
) -> Result<Response, Error> {
    let mut written = Written {
        code: 200,
        message,
        change: id.to_string(),
        version: None,
        commit: None,
    };
    if !wait {
        return Ok(Json(written).into_response());
    }
    match ctx.versioner.wait_for(id, WAIT_LIMIT).await? {
        Status::Committed(version) => {
            written.version = Some(version.number);
            written.commit = Some(version.commit.to_string());
            Ok(Json(written).into_response())
        }
        // Acknowledged and durable, only not yet in a version: 202 says "accepted, still on its way".
        Status::Pending | Status::Unknown => {
            Ok((StatusCode::ACCEPTED, Json(written)).into_response())
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChangeStatus {
    pub change: String,
    /// `committed` or `pending`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// `GET /api/v1/change/{id}`: which version holds a change, or that it is pending.
#[utoipa::path(
    get,
    path = "/api/v1/change/{id}",
    operation_id = "find_change",
    tag = "versions",
    summary = "Which version holds a change, or that it is pending",
    params(
        ("id" = String, Path, description = "the change id a write answered"),
    ),
    responses(
        (status = 200, description = "committed or pending", body = ChangeStatus),
        (status = 404, description = "no such change", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn change(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
    Path(id): Path<String>,
) -> Result<Json<ChangeStatus>, Error> {
    let id =
        ChangeId::parse(&id).map_err(|e| Error::NotFound(format!("no change `{id}`: {}", e.0)))?;
    let answer = |status, version: Option<versioner::Committed>| ChangeStatus {
        change: id.to_string(),
        status,
        version: version.map(|v| v.number),
        commit: version.map(|v| v.commit.to_string()),
    };
    match ctx.versioner.status(&id).await? {
        Status::Committed(v) => Ok(Json(answer("committed", Some(v)))),
        Status::Pending => Ok(Json(answer("pending", None))),
        Status::Unknown => Err(Error::NotFound(format!(
            "no change `{id}` among the pending changes and the recent versions"
        ))),
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PendingBody {
    pub changes: Vec<PendingItem>,
    /// Milliseconds until the next version is due; absent when nothing is pending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_in_ms: Option<u64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PendingItem {
    pub change: String,
    pub author: String,
    pub summary: String,
    pub time_ms: i64,
}

/// `GET /api/v1/pending`: acknowledged changes not yet in a version, and when the next one is due.
#[utoipa::path(
    get,
    path = "/api/v1/pending",
    operation_id = "list_pending",
    tag = "versions",
    summary = "Acknowledged changes not yet in a version, and when the next is due",
    responses(
        (status = 200, description = "pending changes", body = PendingBody),
    ),
)]
pub async fn pending(_caller: Authorized<Read>, State(ctx): State<Context>) -> Json<PendingBody> {
    let pending = ctx.versioner.pending();
    Json(PendingBody {
        changes: pending
            .changes
            .into_iter()
            .map(|c| PendingItem {
                change: c.id.to_string(),
                author: c.author,
                summary: c.summary,
                time_ms: c.time_ms,
            })
            .collect(),
        due_in_ms: pending
            .due_in
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
    })
}
