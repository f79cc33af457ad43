//! The smart HTTP protocol, served by `git upload-pack` and `git receive-pack --stateless-rpc`:
//! `GET info/refs?service=...` (the ref advertisement) and `POST git-<service>` (the request body
//! streamed to git's stdin, gunzipped if the client compressed it; git's stdout streamed back).
//!
//! Limits: request bodies past `Options::max_pack` (plus room for the commands) stop being passed
//! to git, which then fails the request (git's own `receive.maxInputSize` reports the pack size to
//! the client first); every git process is killed after `Options::timeout`; one push at a time
//! (others wait up to `Options::push_wait`, then get 503 with `Retry-After`).

use std::process::Stdio;

use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use futures_util::StreamExt;
use rand::RngCore;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

use super::{Context, Error, Git, auth, hook, push};
use crate::auth::Need;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    UploadPack,
    ReceivePack,
}

impl Service {
    fn parse(raw: &str) -> Result<Service, Error> {
        match raw {
            "git-upload-pack" => Ok(Service::UploadPack),
            "git-receive-pack" => Ok(Service::ReceivePack),
            other => Err(Error::UnknownService(other.to_owned())),
        }
    }

    fn command(self) -> &'static str {
        match self {
            Service::UploadPack => "upload-pack",
            Service::ReceivePack => "receive-pack",
        }
    }

    fn authorize(self, ctx: &Context, parts: &axum::http::request::Parts) -> Result<String, Error> {
        let caller = match self {
            Service::UploadPack => auth::check(ctx, parts, Need::Read, "clone or fetch"),
            Service::ReceivePack => auth::check(ctx, parts, Need::Write, "push"),
        }?;
        Ok(caller.name)
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct InfoQuery {
    service: Option<String>,
}

/// `GET /config.git/info/refs?service=git-<service>`.
pub(super) async fn info_refs(
    State(ctx): State<Context>,
    Query(query): Query<InfoQuery>,
    request: Request,
) -> Result<Response, Error> {
    let service = Service::parse(query.service.as_deref().ok_or(Error::DumbProtocol)?)?;
    let (parts, _) = request.into_parts();
    service.authorize(&ctx, &parts)?;
    let protocol = git_protocol(&parts.headers);
    let mut command = git_cmd(&ctx.git, service, protocol.as_deref());
    command.arg("--advertise-refs").arg(&ctx.git.repo);
    command.stdin(Stdio::null());
    let output = tokio::time::timeout(ctx.git.options.timeout, command.output())
        .await
        .map_err(|_| Error::Git("the ref advertisement timed out".into()))?
        .map_err(Error::Spawn)?;
    if !output.status.success() {
        return Err(Error::Git(String::from_utf8_lossy(&output.stderr).into()));
    }
    let v2 = protocol.as_deref().is_some_and(|p| p.contains("version=2"));
    let mut body = Vec::with_capacity(output.stdout.len() + 64);
    // As `git http-backend`: the service line, except where protocol v2 answers on its own.
    if !(service == Service::UploadPack && v2) {
        let line = format!("# service=git-{}\n", service.command());
        body.extend_from_slice(format!("{:04x}{line}0000", line.len() + 4).as_bytes());
    }
    body.extend_from_slice(&output.stdout);
    let kind = format!("application/x-git-{}-advertisement", service.command());
    Ok(with_headers(Response::new(Body::from(body)), &kind))
}

/// `POST /config.git/git-upload-pack`: clone and fetch.
pub(super) async fn upload_pack(
    State(ctx): State<Context>,
    request: Request,
) -> Result<Response, Error> {
    let (parts, body) = request.into_parts();
    Service::UploadPack.authorize(&ctx, &parts)?;
    let mut command = git_cmd(
        &ctx.git,
        Service::UploadPack,
        git_protocol(&parts.headers).as_deref(),
    );
    command.arg(&ctx.git.repo);
    let child = spawn(command)?;
    Ok(stream(
        &ctx.git,
        Service::UploadPack,
        child,
        body,
        &parts.headers,
        None,
    ))
}

/// `POST /config.git/git-receive-pack`: a push, validated by the hooks through a push task.
pub(super) async fn receive_pack(
    State(ctx): State<Context>,
    request: Request,
) -> Result<Response, Error> {
    let (parts, body) = request.into_parts();
    let pusher = Service::ReceivePack.authorize(&ctx, &parts)?;
    let git = &ctx.git;
    let permit = tokio::time::timeout(git.options.push_wait, git.pushes.clone().acquire_owned())
        .await
        .map_err(|_| Error::Busy)?
        .map_err(|_| Error::Busy)?;
    let mut id = [0u8; 16];
    rand::rng().fill_bytes(&mut id);
    let id = hex::encode(id);
    let (tx, rx) = mpsc::channel(4);
    git.sessions().insert(id.clone(), tx);
    let task = tokio::spawn(push::run(ctx.api.clone(), pusher, rx));
    let mut command = git_cmd(
        git,
        Service::ReceivePack,
        git_protocol(&parts.headers).as_deref(),
    );
    command
        .env(hook::SOCKET_ENV, &git.socket)
        .env(hook::PUSH_ENV, &id)
        .arg(&git.repo);
    let child = match spawn(command) {
        Ok(c) => c,
        Err(e) => {
            git.sessions().remove(&id);
            return Err(e);
        }
    };
    let done = Session {
        git: ctx.git.clone(),
        id,
        task,
        _permit: permit,
    };
    Ok(stream(
        git,
        Service::ReceivePack,
        child,
        body,
        &parts.headers,
        Some(done),
    ))
}

/// What ends with a push's `receive-pack`: its session, its task (holding the writer lock), the
/// permit of the one push at a time.
struct Session {
    git: std::sync::Arc<Git>,
    id: String,
    task: tokio::task::JoinHandle<()>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Session {
    async fn end(self) {
        // Dropping the sender ends the push task, which releases the writer lock.
        self.git.sessions().remove(&self.id);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "a push task failed");
        }
    }
}

/// `git <service> --stateless-rpc` with the server's settings, isolated from the server user's
/// and the system's git configuration.
fn git_cmd(git: &Git, service: Service, protocol: Option<&str>) -> Command {
    let mut command = Command::new("git");
    let repo = git.repo.display().to_string();
    let settings = [
        format!("safe.directory={repo}"),
        format!("core.hooksPath={}", git.hooks.display()),
        // The server moves main itself (`push`); git only hands the command to our hook.
        "receive.procReceiveRefs=refs/heads/main".to_owned(),
        "receive.denyNonFastForwards=true".to_owned(),
        // Deleting a tag is allowed; deleting main is refused by the pre-receive hook.
        "receive.denyDeletes=false".to_owned(),
        format!("receive.maxInputSize={}", git.options.max_pack),
        "receive.fsckObjects=true".to_owned(),
        "uploadpack.allowFilter=true".to_owned(),
    ];
    for s in settings {
        command.arg("-c").arg(s);
    }
    command
        .arg(service.command())
        .arg("--stateless-rpc")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("GIT_DIR")
        .kill_on_drop(true);
    if let Some(p) = protocol {
        command.env("GIT_PROTOCOL", p);
    }
    command
}

/// The `Git-Protocol` header, if it holds only what git's values may (`version=2:key=value`).
fn git_protocol(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("git-protocol")?.to_str().ok()?;
    value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"=:.,-_".contains(&b))
        .then(|| value.to_owned())
}

fn spawn(mut command: Command) -> Result<Child, Error> {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(Error::Spawn)
}

/// Feeds `body` to the child and answers with its stdout as it comes. A task reaps the child
/// (killing it past the time limit) and then ends the push session, if any.
fn stream(
    git: &Git,
    service: Service,
    mut child: Child,
    body: Body,
    headers: &HeaderMap,
    session: Option<Session>,
) -> Response {
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip") || v.eq_ignore_ascii_case("x-gzip"));
    // The pack, plus room for the ref commands and capabilities in front of it.
    let limit = git.options.max_pack.saturating_add(1 << 20);
    if let Some(stdin) = child.stdin.take() {
        tokio::spawn(feed(stdin, body, gzip, limit));
    }
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let timeout = git.options.timeout;
    tokio::spawn(async move {
        let mut errors = String::new();
        let waited = tokio::time::timeout(timeout, async {
            if let Some(mut stderr) = stderr {
                let _ = stderr.read_to_string(&mut errors).await;
            }
            child.wait().await
        })
        .await;
        match waited {
            Ok(Ok(status)) if !status.success() => {
                tracing::info!(service = service.command(), %status, stderr = %errors.trim(), "git ended with an error");
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "cannot wait for git"),
            Err(_) => {
                tracing::warn!(
                    service = service.command(),
                    "git ran past the time limit; killed"
                );
                let _ = child.kill().await;
            }
        }
        if let Some(session) = session {
            session.end().await;
        }
    });
    let body = match stdout {
        Some(stdout) => Body::from_stream(futures_util::stream::unfold(stdout, |mut out| async {
            let mut buf = vec![0u8; 64 << 10];
            match out.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok::<_, std::io::Error>(Bytes::from(buf)), out))
                }
                Err(e) => Some((Err(e), out)),
            }
        })),
        None => Body::empty(),
    };
    let kind = format!("application/x-git-{}-result", service.command());
    with_headers(Response::new(body), &kind)
}

/// Copies the request body to git's stdin, gunzipping it on the way, up to `limit` bytes.
async fn feed(mut stdin: ChildStdin, body: Body, gzip: bool, limit: u64) {
    let mut decoder = gzip.then(|| flate2::write::GzDecoder::new(Vec::new()));
    let mut total: u64 = 0;
    let mut chunks = body.into_data_stream();
    while let Some(chunk) = chunks.next().await {
        let Ok(chunk) = chunk else {
            tracing::info!("a git request body ended early");
            return;
        };
        let data = match &mut decoder {
            None => chunk.to_vec(),
            Some(d) => {
                if let Err(e) = std::io::Write::write_all(d, &chunk) {
                    tracing::info!(error = %e, "a gzip request body does not decode");
                    return;
                }
                std::mem::take(d.get_mut())
            }
        };
        total += data.len() as u64;
        if total > limit {
            tracing::info!(limit, "a git request body is past the limit; stopped");
            return;
        }
        if stdin.write_all(&data).await.is_err() {
            return;
        }
    }
    if let Some(d) = decoder {
        match d.finish() {
            Ok(rest) => {
                let _ = stdin.write_all(&rest).await;
            }
            Err(e) => tracing::info!(error = %e, "a gzip request body does not end well"),
        }
    }
    let _ = stdin.shutdown().await;
}

fn with_headers(mut response: Response, kind: &str) -> Response {
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(kind) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
