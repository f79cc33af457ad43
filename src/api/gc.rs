//! `/api/v1/gc`: clean up old versions now (`crate::gc`), answering what was removed and the
//! repository's size before and after. Admin only; 409 while another cleanup runs.

use axum::Json;
use axum::extract::State;

use super::{Authorized, Context, Error, Write};
use crate::gc::Report;

/// `POST /api/v1/gc`.
#[utoipa::path(
    post,
    path = "/api/v1/gc",
    operation_id = "run_gc",
    tag = "version",
    summary = "Clean up old versions now, by the [history] policy of mailu.toml",
    responses(
        (status = 200, description = "what the cleanup did (`outcome`: `cleaned` or `nothing to clean`)", body = Report),
        (status = 409, description = "a cleanup is running", body = super::error::Body),
    ),
)]
pub async fn post(
    caller: Authorized<Write>,
    State(ctx): State<Context>,
) -> Result<Json<Report>, Error> {
    tracing::info!(caller = %caller.caller.name, "cleanup requested");
    Ok(Json(ctx.gc.run().await?))
}
