//! `/api/v1/settings`: the global settings (`mailu.toml`), which Mailu keeps in `mailu.env` and has
//! no API for. GET (read scope) returns the typed settings as JSON with an `ETag` (the blob id of
//! `mailu.toml`) and answers `If-None-Match` with 304. PATCH arrives with the write path; until then
//! reads come from the head of main.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{Authorized, Context, Error, Read};
use crate::model::settings::Settings;
use crate::model::{RepoPath, toml_file};
use crate::store::{Rev, Store};

/// `GET /api/v1/settings`.
pub async fn get(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let store = ctx.store.clone();
    tokio::task::spawn_blocking(move || read(&store, &headers)).await?
}

fn read(store: &Store, headers: &HeaderMap) -> Result<Response, Error> {
    let snapshot = store.snapshot(&Rev::Head)?;
    let path = RepoPath::settings();
    let Some(blob) = snapshot.blob_id(&path)? else {
        return Err(Error::HeadInvalid(format!("{path} is missing")));
    };
    let etag = super::etag(&blob);
    if super::none_match(headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    // The blob exists (its id was just read from the same tree), so `None` cannot happen here.
    let bytes = snapshot.read(&path)?.unwrap_or_default();
    let text =
        String::from_utf8(bytes).map_err(|_| Error::HeadInvalid(format!("{path} is not UTF-8")))?;
    let settings: Settings = toml_file::parse(path.as_str(), &text).map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        Error::HeadInvalid(lines.join("; "))
    })?;
    Ok(([(header::ETAG, etag)], Json(settings)).into_response())
}
