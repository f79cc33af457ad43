//! The one place where errors of the HTTP API become status codes and bodies.
//!
//! Every handler and extractor of `api` returns [`Error`]; [`Error::status`] maps each variant to its
//! code in one exhaustive `match`, so adding a variant forces a decision. Bodies keep Mailu's shape:
//! `{"code": N, "message": "..."}`, plus `"errors": {"field": "message"}` on 400 (Mailu's
//! Flask-RESTX validation errors look like that). A 500 body carries no internals: the error is
//! logged here, once, with its whole chain, and the client gets a generic message. Not here: what a
//! 304 or a success looks like (handlers build those).

use std::collections::BTreeMap;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::{auth, bundle, store, versioner, versions};

/// Everything an API request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No `Authorization` header (Mailu: 401 with this wording).
    #[error("A valid Authorization header is mandatory")]
    MissingToken,
    /// The token matches no access token (Mailu: 403 "Invalid API token"); counts as a failure.
    #[error("Invalid API token")]
    InvalidToken,
    /// A valid token whose scope does not allow the request.
    #[error("the access token `{name}` (scope {scope}) may not {action}")]
    Scope {
        name: String,
        scope: auth::Scope,
        action: &'static str,
    },
    /// Too many failed authentications from this client (Mailu's wording).
    #[error("Too many attempts from your IP (rate-limit)")]
    RateLimited,
    /// The path names nothing (an unknown route, or an object that does not exist).
    #[error("{0}")]
    NotFound(String),
    #[error("method {0} is not allowed on this path")]
    MethodNotAllowed(String),
    /// The request is malformed or breaks a rule; `errors` maps a field to its problem.
    #[error("{message}")]
    Invalid {
        message: String,
        errors: BTreeMap<String, String>,
    },
    #[error("the request body exceeds {limit} bytes")]
    BodyTooLarge { limit: usize },
    /// The object exists already, or a limit is reached (Mailu answers both with 409).
    #[error("{0}")]
    Conflict(String),
    /// `If-Match` names another version of the object than the current one.
    #[error("{0}")]
    PreconditionFailed(String),
    /// Writes are not acknowledged right now (the write path stopped after a failure); the reason
    /// is also in `/healthz`.
    #[error("writes are suspended: {0}")]
    Unavailable(String),
    /// The change was not saved: the data directory's disk is full (507). Nothing of it was
    /// acknowledged; the same write works again once space is freed.
    #[error(
        "the change was not saved: the data directory's disk is full ({0}); free space there and \
         send it again"
    )]
    InsufficientStorage(String),
    /// The configuration at main does not load; only a hand-edited repository can get there.
    #[error("the configuration at main is invalid: {0}")]
    HeadInvalid(String),
    #[error(transparent)]
    Store(store::Error),
    #[error("a blocking task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// The write path failed for a reason other than a suspension (a bug or a disk error).
    #[error(transparent)]
    Versioner(versioner::Error),
    /// A cleanup failed (a git subprocess, the repository); the log has the details.
    #[error(transparent)]
    Gc(crate::gc::Error),
    /// A bundle: its service unknown or disabled (404), or it cannot be built (500: a secret that
    /// cannot be filled, a broken service file; the log names the file and the secret).
    #[error(transparent)]
    Bundle(#[from] bundle::Error),
    /// A file of the view could not be rewritten; the view loaded it, so only a bug gets here.
    #[error("cannot write a file: {0}")]
    Edit(#[from] crate::model::edit::Error),
    /// The deploy report could not be written (a disk error).
    #[error(transparent)]
    DeployReport(crate::deploy_report::Error),
    /// A backup could not be staged (a disk error); the log has the details.
    #[error(transparent)]
    Backup(#[from] crate::backup::Error),
}

impl From<crate::deploy_report::Error> for Error {
    fn from(err: crate::deploy_report::Error) -> Error {
        match err {
            crate::deploy_report::Error::Invalid { field, message } => {
                Error::field(&field, message)
            }
            other => Error::DeployReport(other),
        }
    }
}

impl From<versioner::Error> for Error {
    fn from(err: versioner::Error) -> Error {
        match err {
            versioner::Error::Unavailable { reason } => Error::Unavailable(reason),
            versioner::Error::Journal(e) if e.is_storage_full() => {
                Error::InsufficientStorage(e.to_string())
            }
            versioner::Error::Rejected(problems) => invalid(problems.to_string(), &problems),
            other => Error::Versioner(other),
        }
    }
}

impl From<crate::gc::Error> for Error {
    fn from(err: crate::gc::Error) -> Error {
        use crate::gc::Error as Gc;
        match err {
            Gc::Running => Error::Conflict(err.to_string()),
            Gc::Config => Error::HeadInvalid(err.to_string()),
            Gc::Versioner(e) => Error::from(e),
            Gc::Store(e) => Error::Store(e),
            other => Error::Gc(other),
        }
    }
}

/// A 400 listing every problem, keyed `file: field` (or `file`).
fn invalid(message: String, problems: &crate::model::Diagnostics) -> Error {
    let mut errors = BTreeMap::new();
    for p in problems.iter() {
        let key = match &p.field {
            Some(field) => format!("{}: {field}", p.file),
            None => p.file.clone(),
        };
        errors.entry(key).or_insert_with(|| p.message.clone());
    }
    Error::Invalid { message, errors }
}

impl From<store::Error> for Error {
    /// A revision that names no version is the caller's mistake (400, or 404 when nothing has
    /// that name); every other store error is the server's.
    fn from(err: store::Error) -> Error {
        use store::RevisionError as R;
        match err {
            store::Error::Revision(e @ (R::NoSuchNumber { .. } | R::Unknown(_))) => {
                Error::NotFound(e.to_string())
            }
            store::Error::Revision(
                e @ (R::Malformed { .. } | R::Ambiguous(_) | R::NotAVersion { .. }),
            ) => Error::field("rev", e.to_string()),
            other => Error::Store(other),
        }
    }
}

impl From<versions::Error> for Error {
    fn from(err: versions::Error) -> Error {
        let message = err.to_string();
        match err {
            versions::Error::Store(e) => e.into(),
            versions::Error::Invalid { problems, .. } => invalid(message, &problems),
            e @ (versions::Error::AlreadySuspended { .. } | versions::Error::NotSuspended) => {
                Error::Conflict(e.to_string())
            }
            versions::Error::Query { field, message } => Error::field(field, message),
            e @ versions::Error::NoSuchFile(_) => Error::NotFound(e.to_string()),
            versions::Error::Versioner(e) => e.into(),
            versions::Error::Join(e) => Error::Join(e),
        }
    }
}

impl Error {
    /// The status code of each error: the only such mapping of the HTTP layer.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::MissingToken => StatusCode::UNAUTHORIZED,
            Error::InvalidToken | Error::Scope { .. } => StatusCode::FORBIDDEN,
            Error::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Error::Invalid { .. } => StatusCode::BAD_REQUEST,
            Error::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            Error::Bundle(e) if e.is_not_found() => StatusCode::NOT_FOUND,
            Error::Bundle(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Error::HeadInvalid(_)
            | Error::Store(_)
            | Error::Join(_)
            | Error::Versioner(_)
            | Error::Gc(_)
            | Error::Edit(_)
            | Error::DeployReport(_)
            | Error::Backup(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A 400 with one field's problem.
    pub fn field(field: &str, message: impl Into<String>) -> Error {
        let message = message.into();
        Error::Invalid {
            message: format!("{field}: {message}"),
            errors: BTreeMap::from([(field.to_owned(), message)]),
        }
    }
}

/// Mailu's error body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = ErrorBody)]
pub struct Body {
    code: u16,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<BTreeMap<String, String>>,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        // A suspension or a full disk is the operator's to act on and no internal detail
        // (`/healthz` tells the same reason): its message is shown.
        let shown = matches!(self, Error::Unavailable(_) | Error::InsufficientStorage(_));
        let message = if status.is_server_error() && !shown {
            tracing::error!(error = %chain(&self), "API request failed");
            "internal error; the server log has the details".to_owned()
        } else {
            self.to_string()
        };
        let errors = match self {
            Error::Invalid { errors, .. } => Some(errors),
            _ if status == StatusCode::BAD_REQUEST => Some(BTreeMap::new()),
            _ => None,
        };
        let body = Body {
            code: status.as_u16(),
            message,
            errors,
        };
        (status, Json(body)).into_response()
    }
}

/// The error and its sources, `: `-separated, for the log.
fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(err: Error) -> (StatusCode, serde_json::Value) {
        let response = err.into_response();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn bodies_keep_mailus_shape() {
        let (status, json) = body(Error::field("hostname", "is not a domain name")).await;
        assert_eq!(status, 400);
        assert_eq!(json["code"], 400);
        assert_eq!(json["errors"]["hostname"], "is not a domain name");
        let (status, json) = body(Error::InvalidToken).await;
        assert_eq!(status, 403);
        assert_eq!(json["message"], "Invalid API token");
        assert!(json.get("errors").is_none(), "errors only on 400: {json}");
    }

    #[tokio::test]
    async fn internal_errors_do_not_leak() {
        let err = Error::HeadInvalid("mailu.toml:3: secret detail".into());
        let (status, json) = body(err).await;
        assert_eq!(status, 500);
        assert!(!json["message"].as_str().unwrap().contains("secret detail"));
    }
}
