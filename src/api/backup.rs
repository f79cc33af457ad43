//! `GET /api/v1/backup`: the whole server as one tar archive (`crate::backup`), taken while it runs.
//! Admin only: the archive holds the secret key (unless `?secret_key=false`) and the access-token
//! hashes. Writers wait only while the data directory is staged (hard links and a few small
//! copies); the archive streams afterwards. One backup at a time: 409 while another streams.

use std::collections::BTreeMap;
use std::io::{self, Write as _};
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::{Authorized, Context, Error, Requirement};
use crate::auth::Need;
use crate::backup::{self, Sources};

/// Make a backup (admin; the archive holds every secret).
#[derive(Debug)]
pub enum Backup {}
impl Requirement for Backup {
    const NEED: Need = Need::Write;
    const ACTION: &'static str = "make a backup (it holds the secret key)";
}

/// Where the data lives, and the one backup that may run.
#[derive(Debug)]
pub struct Backups {
    pub sources: Sources,
    running: Arc<tokio::sync::Mutex<()>>,
}

impl Backups {
    pub fn new(sources: Sources) -> Backups {
        Backups {
            sources,
            running: Arc::default(),
        }
    }
}

/// `?secret_key=false` leaves the key out.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Params {
    /// Whether the archive holds the secret key (default true). Without it a restore needs the key
    /// from elsewhere, and every secret is lost if it is lost.
    #[allow(dead_code)]
    secret_key: Option<bool>,
}

/// `GET /api/v1/backup`.
#[utoipa::path(
    get,
    path = "/api/v1/backup",
    operation_id = "get_backup",
    tag = "version",
    summary = "Back up the server: repository, secret key, access-token hashes, journal",
    params(Params),
    responses(
        (status = 200, description = "the archive (`application/x-tar`); `X-Mailu-Version` is main's version in it", content_type = "application/x-tar"),
        (status = 400, description = "an unknown or malformed parameter", body = super::error::Body),
        (status = 409, description = "another backup is being written", body = super::error::Body),
    ),
)]
pub async fn get(
    caller: Authorized<Backup>,
    State(ctx): State<Context>,
    query: Result<Query<BTreeMap<String, String>>, QueryRejection>,
) -> Result<Response, Error> {
    let with_key = parse(query)?;
    let running = ctx
        .backups
        .running
        .clone()
        .try_lock_owned()
        .map_err(|_| Error::Conflict("another backup is being written; try again".into()))?;
    let sources = ctx.backups.sources.clone();
    let tokens = ctx.tokens.clone();
    // Nothing is appended to the journal or committed while the directory is staged; pending
    // writes travel in the journal (a restored server replays them, as after a crash).
    let staged = ctx
        .versioner
        .frozen(|| async move {
            tokio::task::spawn_blocking(move || {
                // The token file is saved under this lock: a copy sees one whole version of it.
                let _tokens = tokens
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                backup::stage(&sources, with_key)
            })
            .await
        })
        .await??;
    let version = staged.manifest.version;
    tracing::info!(caller = %caller.caller.name, version, with_key, "backup started");
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, io::Error>>(8);
    tokio::task::spawn_blocking(move || {
        let _running = running;
        let mut out = io::BufWriter::with_capacity(256 << 10, Channel(tx.clone()));
        let written = backup::write(&staged, &mut out).and_then(|bytes| {
            out.flush().map_err(backup::Error::Archive)?;
            Ok(bytes)
        });
        match written {
            Ok(bytes) => tracing::info!(version, bytes, "backup written"),
            Err(err) => {
                tracing::warn!(version, error = %err, "backup not completed");
                // The client sees a broken body, never a tar that merely looks complete.
                let _ = tx.blocking_send(Err(io::Error::other("backup failed")));
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let name = format!("attachment; filename=\"mailu-backup-v{version}.tar\"");
    let mut response = axum::body::Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    if let Ok(value) = HeaderValue::from_str(&name) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert("x-mailu-version", HeaderValue::from(version));
    Ok(response)
}

fn parse(query: Result<Query<BTreeMap<String, String>>, QueryRejection>) -> Result<bool, Error> {
    let Query(mut query) = query.map_err(|e| Error::field("_", e.body_text()))?;
    let with_key = match query.remove("secret_key").as_deref() {
        None | Some("true") => true,
        Some("false") => false,
        Some(other) => {
            return Err(Error::field(
                "secret_key",
                format!("`{other}` is not true or false"),
            ));
        }
    };
    if let Some(other) = query.keys().next() {
        return Err(Error::field(other, "is not a parameter here (secret_key)"));
    }
    Ok(with_key)
}

/// The archive's bytes, handed to the response body; a gone client ends the write.
struct Channel(tokio::sync::mpsc::Sender<Result<Bytes, io::Error>>);

impl io::Write for Channel {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
