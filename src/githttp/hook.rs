//! The hooks' way back to the server. `git receive-pack` runs `<data>/git-hooks/<hook>`, a script
//! that `exec`s `mailu-git hook <hook>` ([`run`]); that process sends what git gave it (the ref
//! updates, the quarantine directory) as one JSON line over the Unix socket named in
//! `MAILU_GIT_HOOK_SOCKET`, with the push id from `MAILU_GIT_PUSH`, prints the server's messages on
//! stderr (git shows them as `remote: ...`), and exits with the server's verdict. The server side
//! ([`serve`]) hands each request to the push task of that id (`push`).
//!
//! `pre-receive` reads `<old> <new> <ref>` lines on stdin and exits non-zero to refuse the whole
//! push. `proc-receive` speaks git's pkt-line protocol on stdin/stdout (version negotiation, the
//! commands, then one `ok <ref>` or `ng <ref> <reason>` per command).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Weak;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

use super::Git;

/// The environment variable naming the socket, set on `receive-pack` by the server.
pub const SOCKET_ENV: &str = "MAILU_GIT_HOOK_SOCKET";
/// The environment variable naming the push, set on `receive-pack` by the server.
pub const PUSH_ENV: &str = "MAILU_GIT_PUSH";
/// The largest request or reply line: a push of many refs, or many problems.
const MAX_LINE: u64 = 16 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    PreReceive,
    ProcReceive,
}

/// One ref update as git gives it: ids in hex, the all-zero id for "none".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    pub old: String,
    pub new: String,
    pub name: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    pub push: String,
    pub hook: Kind,
    /// `GIT_QUARANTINE_PATH` (absolute), for `pre-receive`.
    pub quarantine: Option<PathBuf>,
    pub updates: Vec<Update>,
}

/// The outcome of one command of `proc-receive`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefResult {
    pub name: String,
    /// `None`: done, else why not.
    pub refused: Option<String>,
    /// Where the ref was moved (the version made of the push).
    pub new: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Reply {
    /// Lines for the git client (`remote: ...`).
    pub messages: Vec<String>,
    pub ok: bool,
    pub results: Vec<RefResult>,
}

impl Reply {
    pub fn refused(message: impl Into<String>) -> Reply {
        Reply {
            messages: vec![message.into()],
            ok: false,
            results: Vec::new(),
        }
    }
}

/// A request on its way to a push task, with where to answer.
#[derive(Debug)]
pub struct Call {
    pub request: Request,
    pub reply: oneshot::Sender<Reply>,
}

/// Accepts hook connections until the git routes are dropped.
pub(super) async fn serve(listener: tokio::net::UnixListener, git: Weak<Git>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "cannot accept a hook connection");
                continue;
            }
        };
        let Some(git) = git.upgrade() else { return };
        tokio::spawn(async move {
            if let Err(e) = answer(stream, &git).await {
                tracing::warn!(error = %e, "a hook connection failed");
            }
        });
    }
}

async fn answer(stream: tokio::net::UnixStream, git: &Git) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    tokio::io::AsyncReadExt::take(tokio::io::BufReader::new(read), MAX_LINE)
        .read_line(&mut line)
        .await?;
    let reply = match serde_json::from_str::<Request>(&line) {
        Err(e) => Reply::refused(format!("mailu-git: malformed hook request: {e}")),
        Ok(request) => {
            let session = git.sessions().get(&request.push).cloned();
            match session {
                None => Reply::refused("mailu-git: this push is unknown to the server"),
                Some(task) => {
                    let (tx, rx) = oneshot::channel();
                    let sent = task.send(Call { request, reply: tx }).await;
                    match (sent, rx.await) {
                        (Ok(()), Ok(reply)) => reply,
                        _ => Reply::refused("mailu-git: the push ended on the server"),
                    }
                }
            }
        }
    };
    let mut out = serde_json::to_vec(&reply).map_err(std::io::Error::other)?;
    out.push(b'\n');
    write.write_all(&out).await?;
    write.shutdown().await
}

/// `mailu-git hook <pre-receive|proc-receive>`, run by git inside `receive-pack`.
pub fn run(hook: &str) -> ExitCode {
    match client(hook) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mailu-git hook {hook}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn client(hook: &str) -> std::io::Result<ExitCode> {
    let env = |name: &str| {
        std::env::var(name).map_err(|_| {
            std::io::Error::other(format!("{name} is not set (run only by the server's git)"))
        })
    };
    let socket = env(SOCKET_ENV)?;
    let push = env(PUSH_ENV)?;
    match hook {
        "pre-receive" => {
            let mut updates = Vec::new();
            for line in std::io::stdin().lock().lines() {
                let line = line?;
                let mut parts = line.splitn(3, ' ');
                if let (Some(old), Some(new), Some(name)) =
                    (parts.next(), parts.next(), parts.next())
                {
                    updates.push(Update {
                        old: old.into(),
                        new: new.into(),
                        name: name.into(),
                    });
                }
            }
            // Relative to the repository, which is the hook's working directory.
            let quarantine = std::env::var_os("GIT_QUARANTINE_PATH")
                .map(PathBuf::from)
                .map(|p| std::path::absolute(&p).unwrap_or(p));
            let reply = call(
                &socket,
                &Request {
                    push,
                    hook: Kind::PreReceive,
                    quarantine,
                    updates,
                },
            )?;
            print_messages(&reply);
            Ok(if reply.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        "proc-receive" => proc_receive(&socket, push),
        other => Err(std::io::Error::other(format!("unknown hook `{other}`"))),
    }
}

fn print_messages(reply: &Reply) {
    let mut err = std::io::stderr().lock();
    for m in &reply.messages {
        let _ = writeln!(err, "{m}");
    }
}

fn call(socket: &str, request: &Request) -> std::io::Result<Reply> {
    let mut stream = std::os::unix::net::UnixStream::connect(socket)?;
    let mut line = serde_json::to_vec(request).map_err(std::io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line)?;
    let mut answer = String::new();
    BufReader::new(stream.take(MAX_LINE)).read_line(&mut answer)?;
    serde_json::from_str(&answer)
        .map_err(|e| std::io::Error::other(format!("malformed answer from the server: {e}")))
}

/// git's `proc-receive` protocol (githooks(5)), version 1, without push options.
fn proc_receive(socket: &str, push: String) -> std::io::Result<ExitCode> {
    let mut input = BufReader::new(std::io::stdin().lock());
    let mut output = std::io::stdout().lock();
    let hello = read_section(&mut input)?;
    let version = hello.first().and_then(|l| l.split('\0').next());
    if version != Some("version=1") {
        return Err(std::io::Error::other(
            "git offers no proc-receive version 1",
        ));
    }
    write_pkt(&mut output, "version=1\n")?;
    output.write_all(b"0000")?;
    output.flush()?;
    let mut updates = Vec::new();
    for line in read_section(&mut input)? {
        let mut parts = line.splitn(3, ' ');
        if let (Some(old), Some(new), Some(name)) = (parts.next(), parts.next(), parts.next()) {
            updates.push(Update {
                old: old.into(),
                new: new.into(),
                name: name.into(),
            });
        }
    }
    let reply = call(
        socket,
        &Request {
            push,
            hook: Kind::ProcReceive,
            quarantine: None,
            updates: updates.clone(),
        },
    )?;
    print_messages(&reply);
    for u in &updates {
        match reply.results.iter().find(|r| r.name == u.name) {
            Some(RefResult {
                refused: None,
                new: Some(new),
                ..
            }) => {
                // No `option new-oid`: the client would point its tracking ref at the version,
                // which it does not have yet. It keeps its own commit; `git pull` brings the version.
                let _ = new;
                write_pkt(&mut output, &format!("ok {}\n", u.name))?;
            }
            Some(RefResult {
                refused: Some(why), ..
            }) => write_pkt(&mut output, &format!("ng {} {why}\n", u.name))?,
            _ => write_pkt(
                &mut output,
                &format!("ng {} refused by the server\n", u.name),
            )?,
        }
    }
    output.write_all(b"0000")?;
    output.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Reads pkt-lines up to a flush packet, without their trailing newlines.
fn read_section(input: &mut impl Read) -> std::io::Result<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let mut len = [0u8; 4];
        input.read_exact(&mut len)?;
        let len = std::str::from_utf8(&len)
            .ok()
            .and_then(|s| usize::from_str_radix(s, 16).ok())
            .ok_or_else(|| std::io::Error::other("malformed pkt-line length"))?;
        if len == 0 {
            return Ok(lines);
        }
        if len < 4 {
            return Err(std::io::Error::other("malformed pkt-line length"));
        }
        let mut data = vec![0u8; len - 4];
        input.read_exact(&mut data)?;
        let text = String::from_utf8_lossy(&data);
        lines.push(text.strip_suffix('\n').unwrap_or(&text).to_owned());
    }
}

fn write_pkt(output: &mut impl Write, line: &str) -> std::io::Result<()> {
    write!(output, "{:04x}{line}", line.len() + 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkt_lines_round_trip() {
        let mut buf = Vec::new();
        write_pkt(&mut buf, "version=1\n").unwrap();
        buf.extend_from_slice(b"0000");
        assert_eq!(&buf[..4], b"000e");
        assert_eq!(
            read_section(&mut buf.as_slice()).unwrap(),
            vec!["version=1"]
        );
        assert!(read_section(&mut &b"0002"[..]).is_err());
    }
}
