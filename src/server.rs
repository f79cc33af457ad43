//! The central server's wiring (`mailu-git serve`): opens the data directory, creates the repository
//! from the template on first start, bootstraps the access tokens, and serves HTTP: `/healthz`, the
//! REST API and `/metrics` (`api`), git over HTTP, the web admin (`web`), bundles, and the
//! background tasks (certificate renewal, repack, cleanup). `first_start.rs`: the repository and
//! what start adds to an old one; `tokens.rs`: the access tokens at start.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::auth::{self, RateLimiter};
use crate::data_dir::{self, DataDir};
use crate::store::{self, Store};
use crate::versioner::{self, Versioner};
use crate::{api, githttp, model, secret};

mod first_start;
pub mod init;
mod tokens;

pub use first_start::generated_secrets;
use first_start::{Opened, generate_missing_secrets, open};
use tokens::bootstrap_tokens;

/// The address used when neither `--listen` nor `MAILU_GIT_LISTEN` is given.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// The name of the admin token given by `MAILU_GIT_ADMIN_TOKEN`.
pub const ENV_ADMIN: &str = "env-admin";
/// The name of the worker token given by `MAILU_GIT_WORKER_TOKEN`.
pub const ENV_WORKER: &str = "env-worker";
/// The shortest token accepted from the environment: shorter ones could be guessed.
pub const MIN_ENV_TOKEN_LEN: usize = 16;
/// Failed authentications a client may make within [`AUTH_FAILURE_WINDOW`] before it gets 429.
pub const AUTH_FAILURES: u32 = 10;
pub const AUTH_FAILURE_WINDOW: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct Options {
    pub data: PathBuf,
    pub listen: SocketAddr,
    /// A key file kept outside the data directory (e.g. a mounted secret); default `<data>/secret.key`.
    pub secret_key: Option<PathBuf>,
    /// `MAILU_GIT_ADMIN_TOKEN`: stored as the admin token [`ENV_ADMIN`] at each start.
    pub admin_token: Option<String>,
    /// `MAILU_GIT_WORKER_TOKEN`: stored as the worker token [`ENV_WORKER`] at each start.
    pub worker_token: Option<String>,
    /// Failed authentications per client before 429, and the window they are counted in.
    pub auth_failures: u32,
    pub auth_failure_window: Duration,
    /// The limits of git over HTTP (pack size, time, push queue).
    pub git: githttp::Options,
    /// When the repository is repacked.
    pub repack: crate::repack::Settings,
    /// The certificate's renewal.
    pub tls: TlsOptions,
}

/// How the server renews its certificate (`tls` module).
#[derive(Debug, Clone)]
pub struct TlsOptions {
    pub acme_directory: String,
    pub acme_ca: Option<PathBuf>,
    pub check: Duration,
    pub retry_min: Duration,
    pub retry_max: Duration,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            acme_directory: crate::tls::acme::LETS_ENCRYPT.to_owned(),
            acme_ca: None,
            check: Duration::from_secs(60),
            retry_min: Duration::from_secs(60),
            retry_max: Duration::from_secs(24 * 3600),
        }
    }
}

impl Options {
    /// The defaults, with no token from the environment.
    pub fn new(data: PathBuf, listen: SocketAddr) -> Options {
        Options {
            data,
            listen,
            secret_key: None,
            admin_token: None,
            worker_token: None,
            auth_failures: AUTH_FAILURES,
            auth_failure_window: AUTH_FAILURE_WINDOW,
            git: githttp::Options::default(),
            repack: crate::repack::Settings::default(),
            tls: TlsOptions::default(),
        }
    }
}

impl std::fmt::Debug for Options {
    // By hand: the environment's tokens must not reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("data", &self.data)
            .field("listen", &self.listen)
            .field("secret_key", &self.secret_key)
            .field("auth_failures", &self.auth_failures)
            .field("auth_failure_window", &self.auth_failure_window)
            .finish_non_exhaustive()
    }
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
    TemplatePath(#[from] model::PathError),
    #[error("{0}")]
    Template(String),
    /// The repository was written by a newer mailu-git (`mailu.toml`'s `format`).
    #[error("mailu.toml at main: {0}")]
    NewerFormat(String),
    /// `init` refuses a data directory that exists and holds anything.
    #[error("--data: {}: {reason}", path.display())]
    InitData { path: PathBuf, reason: String },
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
    #[error(transparent)]
    Tokens(#[from] auth::Error),
    #[error(transparent)]
    Versioner(#[from] versioner::Error),
    #[error(transparent)]
    Git(#[from] githttp::Error),
    #[error("{var} is not usable as an access token: {reason}")]
    EnvToken { var: &'static str, reason: String },
}

/// What handlers share. Clone is cheap: only `Arc`s.
#[derive(Clone)]
struct AppState {
    store: Store,
    versioner: Versioner,
    _data: Arc<DataDir>,
}

/// Opens (or creates) the data directory and serves until SIGINT or SIGTERM.
pub async fn serve(options: Options) -> Result<(), Error> {
    let shutdown = shutdown_signal()?;
    let opened = options.clone();
    let (
        Opened {
            data,
            store,
            debounce,
            keyring,
        },
        tokens,
        generated,
    ) = tokio::task::spawn_blocking(move || -> Result<_, Error> {
        let prepared = open(&opened.data, opened.secret_key.as_deref())?;
        let (tokens, generated) = bootstrap_tokens(&prepared.data, &opened)?;
        Ok((prepared, tokens, generated))
    })
    .await??;
    // Acknowledged writes of an earlier run are replayed here, before the server answers anyone.
    let versioner = Versioner::open(
        store.clone(),
        &data.journal(),
        versioner::Settings {
            render: Some(crate::render::builtins()),
            ..versioner::Settings::new(debounce.quiet.0, debounce.max_delay.0)
        },
    )
    .await?;
    generate_missing_secrets(&versioner, &keyring).await?;
    // A repository without a certificate (made before the tls module), or with a self-signed one
    // that no longer covers the host names, gets a new self-signed one now, as one change.
    // (The state's guard is dropped before the write, which takes the writer's lock.)
    let due = crate::tls::renew::due(&versioner.state(), crate::tls::now());
    if let crate::tls::renew::Due::SelfSigned(why) = due
        && let Err(err) = crate::tls::renew::write_self_signed(&versioner, &keyring, why).await
    {
        tracing::error!(error = %err, "cannot make the self-signed certificate");
    }
    log_configuration(&versioner);
    if let Some(token) = generated {
        // Printed once, on stdout (not the log, which may be shipped elsewhere); only its hash is kept.
        println!("mailu-git: admin token (shown once): {token}");
        println!(
            "mailu-git: store it now; `mailu-git access-token create` (offline) makes another if lost"
        );
    }
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
        "mailu-git: API at http://{addr}/api/v1, web admin at /admin/, health at /healthz, \
         metrics at /metrics; repository at {}",
        data.repo().display()
    );
    let limiter = RateLimiter::new(options.auth_failures, options.auth_failure_window);
    let keyring = Arc::new(keyring);
    let mut ctx = api::Context::new(
        store.clone(),
        tokens,
        limiter,
        keyring.clone(),
        versioner.clone(),
    );
    let tls_shared = Arc::new(crate::tls::Shared::default());
    ctx.tls = tls_shared.clone();
    ctx.deploy_report = Arc::new(crate::deploy_report::Reports::open(
        data.root().join(crate::deploy_report::FILE),
    ));
    ctx.backups = Arc::new(api::backup::Backups::new(crate::backup::Sources {
        root: data.root().to_owned(),
        secret_key: options
            .secret_key
            .clone()
            .unwrap_or_else(|| data.secret_key()),
    }));
    tokio::spawn(crate::tls::renew::run(
        versioner.clone(),
        keyring,
        tls_shared,
        renew_settings(&options, &data),
    ));
    let git = githttp::start(
        ctx.clone(),
        data.repo(),
        data.git_hooks(),
        data.hook_socket(),
        options.git.clone(),
    )?;
    tokio::spawn(crate::gc::schedule::run(ctx.gc.clone(), versioner.clone()));
    tokio::spawn(crate::monitor::run(
        ctx.monitor.clone(),
        crate::monitor::Sources {
            versioner: versioner.clone(),
            tls: ctx.tls.clone(),
            deploy_report: ctx.deploy_report.clone(),
            data: data.root().to_owned(),
        },
    ));
    tokio::spawn(crate::repack::run(
        versioner.clone(),
        data.repo(),
        options.repack.clone(),
    ));
    let state = AppState {
        store,
        versioner: versioner.clone(),
        _data: Arc::new(data),
    };
    let app = Router::new()
        .route("/healthz", get(healthz))
        .with_state(state)
        .merge(api::router(ctx.clone()))
        .merge(githttp::router(git))
        .merge(crate::web::router())
        .layer(axum::middleware::from_fn_with_state(
            ctx.metrics.clone(),
            api::metrics::track,
        ));
    // Long-polls end when the shutdown starts: the graceful shutdown waits for open requests.
    let bundles = ctx.bundles.clone();
    let shutdown = async move {
        shutdown.await;
        bundles.close();
    };
    // The peer address is the client the rate limiter counts failures of.
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(Error::Serve)?;
    // Every acknowledged write becomes part of a version before the process ends.
    match versioner.shutdown().await {
        Ok(Some(version)) => {
            tracing::info!(version = version.number, "committed the pending changes")
        }
        Ok(None) => {}
        Err(err) => {
            tracing::error!(error = %err, "cannot commit the pending changes; they stay in the journal for the next start")
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// The renewal task's settings from the server's options.
fn renew_settings(options: &Options, data: &DataDir) -> crate::tls::renew::Settings {
    let acme = crate::tls::acme::Settings {
        directory: options.tls.acme_directory.clone(),
        ca: options.tls.acme_ca.clone(),
        account_dir: data.acme(),
        contact: None,
        timeout: Duration::from_secs(120),
    };
    crate::tls::renew::Settings {
        check: options.tls.check,
        retry_min: options.tls.retry_min,
        retry_max: options.tls.retry_max,
        ..crate::tls::renew::Settings::new(acme)
    }
}

/// The debounce settings of main's `mailu.toml`, read alone (the whole configuration is loaded once,
/// by the versioner). A file that does not parse gives the defaults and an error in the log: the
/// server must come up so the admin can fix it.
fn debounce_of(store: &Store) -> Result<model::settings::Debounce, Error> {
    let path = model::RepoPath::settings();
    let text = store
        .snapshot(&store::Rev::Head)?
        .read(&path)?
        .unwrap_or_default();
    match model::toml_file::parse::<model::settings::Settings>(
        path.as_str(),
        &String::from_utf8_lossy(&text),
    ) {
        Ok(settings) => Ok(settings.debounce),
        // An older format may not parse as today's settings; the versioner upgrades it next.
        Err(_)
            if model::migrate::format_in(&text)
                .is_some_and(|found| found < model::settings::FORMAT) =>
        {
            tracing::info!(
                "mailu.toml at main has an older format; debouncing with the defaults until the next start"
            );
            Ok(model::settings::Debounce::default())
        }
        Err(problems) => {
            for p in problems {
                tracing::error!(problem = %p, "mailu.toml at main is invalid; debouncing with the defaults");
            }
            Ok(model::settings::Debounce::default())
        }
    }
}

/// Says once at start what the acknowledged configuration holds, or every problem in it; and,
/// on stdout, how to leave the template's example identity while the configuration is still on it
/// (it is never deployed until then).
fn log_configuration(versioner: &Versioner) {
    let state = versioner.state();
    match state.config() {
        Ok(config) => {
            tracing::info!(summary = %config.summary(), "loaded the configuration");
            let placeholders = config.settings.mail.placeholders();
            for p in &placeholders {
                tracing::warn!(field = %p.field, "{}; nothing is deployed until then", p.message);
            }
            if !placeholders.is_empty() {
                println!(
                    "mailu-git: the configuration still has the template's example domain and is \
                     not deployed; set yours: `mailu-git settings set mail.domain YOUR.DOMAIN` and \
                     `mailu-git settings set mail.hostnames '[\"mail.YOUR.DOMAIN\"]'` (or start \
                     from `mailu-git init` on an empty data dir)"
                );
            }
        }
        Err(problems) => {
            for p in problems.iter() {
                tracing::error!(problem = %p, "the configuration at main is invalid");
            }
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
    /// `ok`, or `unavailable` when writes are suspended (the reason says why).
    status: &'static str,
    commit: String,
    version: Option<u64>,
    /// Acknowledged changes not yet in a version.
    pending: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// `GET /healthz`: 200 while writes are acknowledged, 503 (same body) when they are suspended or the
/// repository cannot be read, so a load balancer or the worker sees it.
async fn healthz(State(state): State<AppState>) -> axum::response::Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let store = state.store.clone();
    let head = tokio::task::spawn_blocking(move || {
        let head = store.head()?;
        let number = store.history(head, 1)?.first().map(|v| v.number);
        Ok::<_, store::Error>((head, number))
    })
    .await;
    let (commit, version) = match head {
        Ok(Ok(found)) => found,
        Ok(Err(err)) => {
            tracing::error!(error = %err, "health check cannot read the repository");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "the repository cannot be read\n",
            )
                .into_response();
        }
        Err(err) => {
            tracing::error!(error = %err, "health check task failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response();
        }
    };
    let pending = state.versioner.pending().changes.len();
    let (status, code, reason) = match state.versioner.health() {
        versioner::Health::Ok => ("ok", StatusCode::OK, None),
        versioner::Health::Unavailable { reason } => {
            ("unavailable", StatusCode::SERVICE_UNAVAILABLE, Some(reason))
        }
    };
    let body = Health {
        status,
        commit: commit.to_string(),
        version,
        pending,
        reason,
    };
    (code, Json(body)).into_response()
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

#[cfg(test)]
mod tests {
    use super::tokens::check_env_token;
    use super::*;
    use crate::auth::Scope;

    fn options(admin: Option<&str>, worker: Option<&str>) -> Options {
        let mut o = Options::new("unused".into(), "127.0.0.1:0".parse().unwrap());
        o.admin_token = admin.map(str::to_owned);
        o.worker_token = worker.map(str::to_owned);
        o
    }

    #[test]
    fn first_start_generates_one_admin_token_and_a_restart_none() {
        let tmp = tempfile::tempdir().unwrap();
        let data = DataDir::open(tmp.path()).unwrap();
        let (tokens, generated) = bootstrap_tokens(&data, &options(None, None)).unwrap();
        let token = generated.unwrap();
        assert_eq!(tokens.authenticate(&token).unwrap().name, "admin");
        let (_, again) = bootstrap_tokens(&data, &options(None, None)).unwrap();
        assert!(again.is_none());
    }

    #[test]
    fn env_tokens_replace_their_hash_and_suppress_generation() {
        let tmp = tempfile::tempdir().unwrap();
        let data = DataDir::open(tmp.path()).unwrap();
        let first = "first-admin-token-0123456789";
        let worker = "worker-token-0123456789";
        let (tokens, generated) =
            bootstrap_tokens(&data, &options(Some(first), Some(worker))).unwrap();
        assert!(generated.is_none());
        assert_eq!(tokens.authenticate(first).unwrap().name, ENV_ADMIN);
        assert_eq!(tokens.authenticate(worker).unwrap().scope, Scope::Worker);
        let second = "second-admin-token-0123456789";
        let (tokens, _) = bootstrap_tokens(&data, &options(Some(second), None)).unwrap();
        assert!(tokens.authenticate(first).is_none());
        assert!(tokens.authenticate(second).is_some());
        assert!(tokens.authenticate(worker).is_some(), "kept when unset");
    }

    #[test]
    fn short_or_spaced_env_tokens_are_refused_by_name() {
        for bad in [
            "short",
            "has a space in it 0123456789",
            "mgit_svc_smtp_0123456789",
        ] {
            let err = check_env_token("MAILU_GIT_ADMIN_TOKEN", bad).unwrap_err();
            assert!(err.to_string().contains("MAILU_GIT_ADMIN_TOKEN"), "{err}");
        }
    }
}
