//! Git over HTTP at `/config.git`: clone and fetch (scopes `read`, `admin`) and validated, atomic
//! push (`admin`), served by the real `git` binary (`upload-pack`/`receive-pack --stateless-rpc`;
//! gitoxide has no server side). Smart protocol only (v0 and v2), no dumb protocol, one repository.
//!
//! How a push becomes a version (`docs/git.md` tells operators, this is the map):
//! `transport` runs `git receive-pack` with our hooks (`core.hooksPath` = `<data>/git-hooks/`,
//! scripts that `exec` this binary as `mailu-git hook ...`) and `receive.procReceiveRefs =
//! refs/heads/main`, so git never moves main itself. The hooks hand over to the server through a
//! Unix socket (`hook`); one push task per push (`push`) holds the versioner's writer lock from the
//! `pre-receive` hook (objects still in quarantine: a refused push leaves nothing behind) to the
//! end of `receive-pack`, and in the `proc-receive` hook (objects migrated by git) commits a version
//! on top of the pushed commit and moves main by compare-and-swap. Tags take git's own path, checked
//! by `pre-receive`, under the same lock. `auth`: HTTP basic with the access token as password.
//!
//! Not here: what a valid configuration is (`model`), rendering (`render`), commits and ref moves
//! (`store`). Errors of these routes become plain-text answers in [`Error::into_response`], the one
//! place they get a status: git clients print plain text, not the API's JSON.

mod auth;
pub mod hook;
mod push;
mod transport;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{Semaphore, mpsc};

use crate::api;

/// Where the repository is served.
pub const MOUNT: &str = "/config.git";
/// The largest pack a push may send, unless configured otherwise.
pub const MAX_PACK: u64 = 256 << 20;
/// How long one request (a clone's pack, a push) may run before git is stopped.
pub const TIMEOUT: Duration = Duration::from_secs(600);
/// How long a push waits for the one running before it is answered 503.
pub const PUSH_WAIT: Duration = Duration::from_secs(30);

/// The limits of the git routes.
#[derive(Debug, Clone)]
pub struct Options {
    pub max_pack: u64,
    pub timeout: Duration,
    pub push_wait: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_pack: MAX_PACK,
            timeout: TIMEOUT,
            push_wait: PUSH_WAIT,
        }
    }
}

/// What the git routes share. Clone is cheap: only `Arc`s.
#[derive(Clone)]
pub struct Context {
    api: api::Context,
    git: Arc<Git>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("repo", &self.git.repo)
            .finish_non_exhaustive()
    }
}

struct Git {
    repo: PathBuf,
    hooks: PathBuf,
    socket: PathBuf,
    options: Options,
    /// One push at a time: its task holds the writer lock from `pre-receive` on.
    pushes: Arc<Semaphore>,
    /// The push tasks, by the id given to their `receive-pack` (and so to its hooks).
    sessions: Mutex<HashMap<String, mpsc::Sender<hook::Call>>>,
}

impl Git {
    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::Sender<hook::Call>>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Everything a git request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No credentials: git asks for them (or takes them from the URL) and tries again.
    #[error("authentication required: the password is a mailu-git access token")]
    MissingCredentials,
    #[error("invalid access token")]
    InvalidToken,
    #[error("the access token `{name}` (scope {scope}) may not {action}")]
    Scope {
        name: String,
        scope: crate::auth::Scope,
        action: &'static str,
    },
    #[error("too many failed authentications from your address; wait a minute")]
    RateLimited,
    #[error("only git's smart HTTP protocol is served (git 1.6.6 or newer)")]
    DumbProtocol,
    #[error("no such git service: {0}")]
    UnknownService(String),
    #[error("another push is running; try again in a moment")]
    Busy,
    #[error("cannot run git: {0}")]
    Spawn(std::io::Error),
    #[error("git failed: {0}")]
    Git(String),
    #[error("cannot set up the push hooks at {path}: {source}")]
    Setup {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = match &self {
            Error::MissingCredentials | Error::InvalidToken => StatusCode::UNAUTHORIZED,
            Error::Scope { .. } => StatusCode::FORBIDDEN,
            Error::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Error::DumbProtocol | Error::UnknownService(_) => StatusCode::FORBIDDEN,
            Error::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Error::Spawn(_) | Error::Git(_) | Error::Setup { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let body = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "git request failed");
            "internal error\n".to_owned()
        } else {
            format!("{self}\n")
        };
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"mailu-git\""),
            );
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

/// Writes the hooks, listens on the hook socket and returns the context of the git routes.
pub fn start(
    api: api::Context,
    repo: PathBuf,
    hooks: PathBuf,
    socket: PathBuf,
    options: Options,
) -> Result<Context, Error> {
    write_hooks(&hooks)?;
    let setup = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Setup { path, source }
    };
    match std::fs::remove_file(&socket) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(setup(&socket)(e)),
    }
    let listener = tokio::net::UnixListener::bind(&socket).map_err(setup(&socket))?;
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))
        .map_err(setup(&socket))?;
    let git = Arc::new(Git {
        repo,
        hooks,
        socket,
        options,
        pushes: Arc::new(Semaphore::new(1)),
        sessions: Mutex::new(HashMap::new()),
    });
    tokio::spawn(hook::serve(listener, Arc::downgrade(&git)));
    Ok(Context { api, git })
}

/// The hook scripts: each `exec`s this very binary, so the hook speaks the server's protocol.
fn write_hooks(dir: &Path) -> Result<(), Error> {
    let setup = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Setup { path, source }
    };
    let exe = std::env::current_exe().map_err(setup(dir))?;
    std::fs::create_dir_all(dir).map_err(setup(dir))?;
    // Single quotes keep any path literal; a quote inside is closed, escaped and reopened.
    let quoted = format!("'{}'", exe.display().to_string().replace('\'', "'\\''"));
    for name in ["pre-receive", "proc-receive"] {
        let path = dir.join(name);
        let script =
            format!("#!/bin/sh\n# Written by mailu-git at start.\nexec {quoted} hook {name}\n");
        std::fs::write(&path, script).map_err(setup(&path))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .map_err(setup(&path))?;
    }
    Ok(())
}

/// The routes under [`MOUNT`], with their state applied. No body limit of axum's: receive-pack
/// bodies are limited by `Options::max_pack`, and request bodies are streamed to git.
pub fn router(ctx: Context) -> Router {
    Router::new()
        .route(&format!("{MOUNT}/info/refs"), get(transport::info_refs))
        .route(
            &format!("{MOUNT}/git-upload-pack"),
            post(transport::upload_pack),
        )
        .route(
            &format!("{MOUNT}/git-receive-pack"),
            post(transport::receive_pack),
        )
        // Every other path under the mount is the dumb protocol (`HEAD`, `objects/...`).
        .route(&format!("{MOUNT}/{{*rest}}"), axum::routing::any(dumb))
        .layer(DefaultBodyLimit::disable())
        .with_state(ctx)
}

async fn dumb() -> Error {
    Error::DumbProtocol
}
