//! `GET /api/v1/client/python` and `GET /api/v1/client/python/<wheel file>`: the Python client as a
//! wheel (`wheel`), served WITHOUT authentication — it holds no secret, and `pip install <url>`
//! sends no token. The first answers where the wheel is (an absolute URL when the request named
//! its `Host`), its version and sha256; the second serves its bytes.

use axum::Json;
use axum::extract::Path;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::Error;
use crate::wheel;

/// Where the wheel is.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WheelInfo {
    /// The distribution name (`pip install` shows it).
    pub name: &'static str,
    /// The version, PEP 440 (the server's).
    pub version: String,
    /// The file name.
    pub file: String,
    /// Where to download it: `pip install <url>`.
    pub url: String,
    /// The hex sha256 of the file.
    pub sha256: String,
}

/// `GET /api/v1/client/python`.
#[utoipa::path(
    get,
    path = "/api/v1/client/python",
    operation_id = "find_python_client",
    tag = "client",
    summary = "Where the Python client wheel is, and its version (no authentication)",
    security(()),
    responses(
        (status = 200, description = "the wheel's URL, version and sha256", body = WheelInfo),
    ),
)]
pub async fn info(headers: HeaderMap) -> Json<WheelInfo> {
    let w = wheel::get();
    let path = format!("/api/v1/client/python/{}", w.file_name);
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_graphic()));
    let url = match host {
        Some(host) => format!("http://{host}{path}"),
        None => path,
    };
    Json(WheelInfo {
        name: wheel::NAME,
        version: w.version.clone(),
        file: w.file_name.clone(),
        url,
        sha256: w.sha256.clone(),
    })
}

/// `GET /api/v1/client/python/{file}`.
#[utoipa::path(
    get,
    path = "/api/v1/client/python/{file}",
    operation_id = "download_python_client",
    tag = "client",
    summary = "The Python client wheel (no authentication)",
    security(()),
    params(("file" = String, Path, description = "the wheel's file name, as `GET /client/python` gives it")),
    responses(
        (status = 200, description = "the wheel", content_type = "application/zip"),
        (status = 404, description = "no such file (another version)", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn download(Path(file): Path<String>) -> Result<Response, Error> {
    let w = wheel::get();
    if file != w.file_name {
        return Err(Error::NotFound(format!(
            "no file `{file}`: this server serves {}",
            w.file_name
        )));
    }
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", w.file_name),
            ),
        ],
        w.bytes.clone(),
    )
        .into_response())
}
