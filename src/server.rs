//! The central server's wiring (`mailu-git serve`): opens the data directory, creates the repository
//! from the template on first start, and serves HTTP. At this stage it answers `/healthz` only; the
//! REST API, git over HTTP and bundles are added by later modules.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::data_dir::{self, DataDir};
use crate::store::{self, Store};
use crate::{model, repo_template, secret};

/// The address used when neither `--listen` nor `MAILU_GIT_LISTEN` is given.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Debug, Clone)]
pub struct Options {
    pub data: PathBuf,
    pub listen: SocketAddr,
    /// A key file kept outside the data directory (e.g. a mounted secret); default `<data>/secret.key`.
    pub secret_key: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    DataDir(#[from] data_dir::Error),
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Secret(#[from] secret::Error),
    #[error("the embedded repository template is broken: {0}")]
    Template(#[from] model::PathError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the HTTP server failed: {0}")]
    Serve(std::io::Error),
    #[error("cannot install the signal handlers: {0}")]
    Signal(std::io::Error),
    #[error("a background task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// What handlers share. Clone is cheap: only `Arc`s.
#[derive(Clone)]
struct AppState {
    store: Store,
    /// The configuration at main, validated; the API will read and replace it.
    _config: Arc<model::Config>,
    _data: Arc<DataDir>,
}

/// Opens (or creates) the data directory and serves until SIGINT or SIGTERM.
pub async fn serve(options: Options) -> Result<(), Error> {
    let (data_path, key_file) = (options.data.clone(), options.secret_key.clone());
    let (data, store, config) =
        tokio::task::spawn_blocking(move || open(&data_path, key_file.as_deref())).await??;
    let shutdown = shutdown_signal()?;
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| Error::Listen {
            addr: options.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| Error::Listen {
        addr: options.listen,
        source,
    })?;
    // Tests and scripts read this line to find the port when listening on port 0.
    println!("mailu-git: listening on http://{addr}");
    println!(
        "mailu-git: health at http://{addr}/healthz; repository at {}",
        data.repo().display()
    );
    let state = AppState {
        store,
        _config: Arc::new(config),
        _data: Arc::new(data),
    };
    let app = Router::new()
        .route("/healthz", get(healthz))
        .with_state(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(Error::Serve)?;
    tracing::info!("stopped");
    Ok(())
}

/// Opens the data directory, creating the secret key and the repository on first start.
fn open(
    root: &std::path::Path,
    key_file: Option<&std::path::Path>,
) -> Result<(DataDir, Store, model::Config), Error> {
    let data = DataDir::open(root)?;
    match key_file {
        // A key given from outside is never generated: a typo must not silently make a new key.
        Some(path) => {
            secret::Keyring::load(path)?;
        }
        None if !data.secret_key().exists() => {
            secret::Keyring::generate(&data.secret_key())?;
            tracing::info!(path = %data.secret_key().display(), "generated the secret key");
        }
        // Loaded once at start so a key readable by others is refused now, not at the first secret.
        None => {
            secret::Keyring::load(&data.secret_key())?;
        }
    }
    let repo = data.repo();
    let store = if repo.exists() {
        Store::open(&repo)?
    } else {
        let files = repo_template::files()?;
        let store = Store::init(
            &repo,
            &files,
            &store::CommitMeta::new(server_person(), "Create the configuration repository"),
        )?;
        tracing::info!(path = %repo.display(), "created the configuration repository");
        store
    };
    let config = check_head(&store)?;
    Ok((data, store, config))
}

/// Loads and validates the deployed configuration once at start, so an operator sees at once what the
/// repository holds, or every problem in it. A broken head (possible only through a hand-edited
/// repository) is reported, not fatal: the server must stay up to let the admin fix it.
fn check_head(store: &Store) -> Result<model::Config, Error> {
    let files = store.snapshot(&store::Rev::Head)?.files()?;
    match model::load(&files) {
        Ok(config) => {
            tracing::info!(summary = %config.summary(), "loaded the configuration");
            Ok(config)
        }
        Err(problems) => {
            for p in problems.iter() {
                tracing::error!(problem = %p, "the configuration at main is invalid");
            }
            Ok(model::Config::default())
        }
    }
}

/// The author and committer of the versions the server makes on its own.
pub fn server_person() -> store::Person {
    store::Person {
        name: "mailu-git".into(),
        email: "mailu-git@localhost".into(),
    }
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    commit: String,
    version: Option<u64>,
}

async fn healthz(
    State(state): State<AppState>,
) -> Result<Json<Health>, (axum::http::StatusCode, String)> {
    let store = state.store.clone();
    let head = tokio::task::spawn_blocking(move || {
        let head = store.head()?;
        let number = store.history(head, 1)?.first().map(|v| v.number);
        Ok::<_, store::Error>((head, number))
    })
    .await;
    match head {
        Ok(Ok((commit, version))) => Ok(Json(Health {
            status: "ok",
            commit: commit.to_string(),
            version,
        })),
        Ok(Err(err)) => {
            tracing::error!(error = %err, "health check cannot read the repository");
            Err((
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "the repository cannot be read\n".into(),
            ))
        }
        Err(err) => {
            tracing::error!(error = %err, "health check task failed");
            Err((
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal error\n".into(),
            ))
        }
    }
}

/// Waits for SIGINT or SIGTERM. The handlers are installed when this is called, not when the future is
/// first polled: a signal that arrives right after the server announced itself must not kill it
/// with the default action, skipping the flush on shutdown.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).map_err(Error::Signal)?;
    let mut terminate = signal(SignalKind::terminate()).map_err(Error::Signal)?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("shutting down");
    })
}
