//! `mailu-git log|show|diff|revert|suspend|resume|status`: versioning from the command line.
//! Online (the default) each command is one or two calls to the REST API through the admin
//! [`Session`]; `revert`, `suspend`, `resume` and `status` also work OFFLINE with `--data DIR`
//! while the server is down (when an admin most needs to roll back): the command takes the data
//! directory's lock, opens the versioner as the server does (journal replayed, renderer on),
//! commits what is pending, calls the same `versions` functions the API handlers call, and shuts
//! the versioner down. A revert asks for confirmation on a terminal, since the WHOLE configuration
//! returns, and refuses without one unless `--yes`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;
use serde_json::Value;

use super::admin::{Column, Connection, Session, table};
use crate::client::encode;
use crate::data_dir::{self, DataDir};
use crate::store::{Revision, Store};
use crate::versioner::{self, Versioner};
use crate::versions::{self, DiffQuery};

/// The columns of `log`.
const LOG: &[Column] = &[
    ("VERSION", "number"),
    ("COMMIT", "short"),
    ("TIME", "when"),
    ("AUTHORS", "authors"),
    ("SERVICES", "services"),
    ("MARKS", "marks"),
    ("SUMMARY", "summary"),
];

/// How many changed files a revert's confirmation lists before "and N more".
const SHOWN_CHANGES: usize = 40;

/// `mailu-git log`.
pub fn log(connection: Connection, limit: usize) -> anyhow::Result<ExitCode> {
    let session = Session::open(connection)?;
    let answer = session.get(&format!("version?limit={limit}"))?;
    session.print(&answer, |v| {
        let rows: Vec<Value> = v
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .map(log_row)
            .collect();
        table(&rows, LOG)
    })
}

/// One `log` row: the short id, the time in UTC, and the marks (head, deployed, held, tags).
fn log_row(v: &Value) -> Value {
    let mut row = v.clone();
    let commit = v["commit"].as_str().unwrap_or("");
    row["short"] = Value::from(commit.get(..10).unwrap_or(commit));
    row["when"] = Value::from(time(v["time"].as_i64().unwrap_or(0)));
    let mut marks = Vec::new();
    for (flag, mark) in [("head", "main"), ("deployed", "deployed"), ("held", "held")] {
        if v[flag].as_bool() == Some(true) {
            marks.push(mark.to_owned());
        }
    }
    for t in v["tags"].as_array().into_iter().flatten() {
        marks.push(format!("tag:{}", t.as_str().unwrap_or("")));
    }
    row["marks"] = Value::from(marks.join(","));
    row
}

/// Seconds since the epoch, as `2026-11-29 04:18:14Z`.
fn time(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
        .unwrap_or_else(|| seconds.to_string())
}

/// `mailu-git show REV`.
pub fn show(connection: Connection, rev: &str) -> anyhow::Result<ExitCode> {
    let session = Session::open(connection)?;
    let answer = session.get(&format!("version/{}", encode(rev)))?;
    session.print(&answer, |v| {
        let mut out = format!(
            "version {}  commit {}\n{}  by {}\n    {}\n",
            v["number"],
            v["commit"].as_str().unwrap_or(""),
            time(v["time"].as_i64().unwrap_or(0)),
            join(&v["authors"]),
            v["summary"].as_str().unwrap_or("")
        );
        out.push_str(&changes(v));
        out
    })
}

fn join(list: &Value) -> String {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// The changed paths of a `show` answer, sources then rendered by service.
fn changes(v: &Value) -> String {
    let mut out = String::new();
    let line = |out: &mut String, c: &Value| {
        out.push_str(&format!(
            "  {:<8} {}\n",
            c["kind"].as_str().unwrap_or(""),
            c["path"].as_str().unwrap_or("")
        ));
    };
    if let Some(sources) = v["sources"].as_array().filter(|s| !s.is_empty()) {
        out.push_str("sources:\n");
        sources.iter().for_each(|c| line(&mut out, c));
    }
    if let Some(rendered) = v["rendered"].as_object() {
        for (service, files) in rendered {
            out.push_str(&format!("rendered ({service}):\n"));
            files
                .as_array()
                .into_iter()
                .flatten()
                .for_each(|c| line(&mut out, c));
        }
    }
    out
}

/// `mailu-git diff A B`: every page, printed as unified diffs (secrets and binaries as notes).
pub fn diff(
    connection: Connection,
    a: &str,
    b: &str,
    service: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let session = Session::open(connection)?;
    let base = format!("version/{}/diff/{}", encode(a), encode(b));
    let filter = service.map_or_else(String::new, |s| format!("&service={}", encode(s)));
    let mut page = 1;
    loop {
        let answer = session.get(&format!("{base}?page={page}{filter}"))?;
        session.print(&answer, |v| {
            let mut out = String::new();
            for f in v["files"].as_array().into_iter().flatten() {
                out.push_str(&file_text(&session, &base, f));
            }
            out
        })?;
        let pages = answer["pages"].as_u64().unwrap_or(1);
        if page as u64 >= pages {
            return Ok(ExitCode::SUCCESS);
        }
        page += 1;
    }
}

/// One file of a diff: its whole diff text (fetching the rest of a truncated one), or its note.
fn file_text(session: &Session, base: &str, f: &Value) -> String {
    let path = f["path"].as_str().unwrap_or("");
    if let Some(note) = f["note"].as_str() {
        return format!(
            "--- {path}: {} ({note})\n",
            f["kind"].as_str().unwrap_or("")
        );
    }
    let mut out = f["diff"].as_str().unwrap_or("").to_owned();
    let mut next = f["next_offset"].as_u64();
    // Bounded: each part is at least one byte, and a file's diff is finite; stop on any refusal.
    let mut parts = 0;
    while let Some(offset) = next {
        parts += 1;
        if parts > 10_000 {
            break;
        }
        let url = format!("{base}?path={}&offset={offset}", encode(path));
        let Ok(more) = session.get(&url) else {
            out.push_str("\n[the rest of this diff could not be fetched]\n");
            break;
        };
        let part = &more["files"][0];
        out.push_str(part["diff"].as_str().unwrap_or(""));
        next = part["next_offset"].as_u64();
    }
    out
}

/// Where a command acts: a running server, or the data directory of a stopped one.
pub enum Target {
    Online(Connection),
    Offline { data: PathBuf, json: bool },
}

impl Target {
    pub fn new(connection: Connection, data: Option<PathBuf>) -> Target {
        match data {
            Some(data) => Target::Offline {
                json: connection.json(),
                data,
            },
            None => Target::Online(connection),
        }
    }
}

/// `mailu-git revert REV`.
pub fn revert(target: Target, rev: &str, yes: bool, deploy: bool) -> anyhow::Result<ExitCode> {
    match target {
        Target::Online(connection) => {
            let session = Session::open(connection)?;
            let version = session.get(&format!("version/{}", encode(rev)))?;
            let number = version["number"].as_u64().unwrap_or(0);
            if !yes {
                let what = session.get(&format!("version/main/diff/{}", encode(rev)))?;
                confirm(number, &what)?;
            }
            let path = format!(
                "version/{}/revert{}",
                encode(rev),
                if deploy { "?deploy=true" } else { "" }
            );
            let answer = session.post_value(&path, &Value::Null)?;
            session.print(&answer, reverted_text)
        }
        Target::Offline { data, json } => {
            let revision = Revision::parse(rev)?;
            offline(
                &data,
                json,
                move |versioner| async move {
                    let store = versioner.store().clone();
                    if !yes {
                        let r = revision.clone();
                        let what = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                            let number = store.resolve_version(&r)?.number;
                            let query = DiffQuery {
                                page: 1,
                                ..DiffQuery::default()
                            };
                            let diff = versions::diff(&store, &Revision::Main, &r, &query)?;
                            Ok((number, serde_json::to_value(diff)?))
                        })
                        .await??;
                        confirm(what.0, &what.1)?;
                    }
                    let reverted =
                        versions::revert(&versioner, &revision, &offline_author(), deploy).await?;
                    Ok(reverted)
                },
                |v| reverted_text(&serde_json::to_value(v).unwrap_or_default()),
            )
        }
    }
}

fn reverted_text(v: &Value) -> String {
    format!(
        "{}\nversion {} (commit {})\n",
        v["message"].as_str().unwrap_or("reverted"),
        v["number"],
        v["commit"].as_str().unwrap_or("")
    )
}

/// Says what a revert does and asks; refuses without a terminal (scripts pass `--yes`).
fn confirm(number: u64, diff: &Value) -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        anyhow::bail!(
            "a revert returns the WHOLE configuration to version {number}; there is no terminal to \
             confirm on: pass --yes to revert anyway"
        );
    }
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "Reverting returns the WHOLE configuration to version {number}: every user, alias, domain, \
         setting and file, users' passwords and secrets (DKIM keys, relay and fetch passwords) \
         included. Changes made since are undone (a new version; history keeps them)."
    )?;
    let files: Vec<&Value> = diff["files"].as_array().into_iter().flatten().collect();
    let total = diff["total_files"].as_u64().unwrap_or(files.len() as u64);
    if total == 0 {
        writeln!(
            err,
            "Nothing differs from main: the new version will equal it."
        )?;
    } else {
        writeln!(
            err,
            "What changes ({total} files, main -> version {number}):"
        )?;
        for f in files.iter().take(SHOWN_CHANGES) {
            writeln!(
                err,
                "  {:<8} {}",
                f["kind"].as_str().unwrap_or(""),
                f["path"].as_str().unwrap_or("")
            )?;
        }
        if total > SHOWN_CHANGES.min(files.len()) as u64 {
            writeln!(
                err,
                "  ... and {} more",
                total - SHOWN_CHANGES.min(files.len()) as u64
            )?;
        }
    }
    write!(err, "Revert to version {number}? Type yes to go on: ")?;
    err.flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    if !matches!(answer.trim(), "yes" | "y") {
        anyhow::bail!("not reverted");
    }
    Ok(())
}

/// `mailu-git suspend` / `resume`.
pub fn hold(target: Target, suspend: bool) -> anyhow::Result<ExitCode> {
    let text = |v: &Value| format!("{}\n", v["message"].as_str().unwrap_or("done"));
    match target {
        Target::Online(connection) => {
            let session = Session::open(connection)?;
            let path = if suspend { "suspend" } else { "resume" };
            let answer = session.post_value(path, &Value::Null)?;
            session.print(&answer, text)
        }
        Target::Offline { data, json } => offline(
            &data,
            json,
            move |versioner| async move {
                let who = offline_author();
                Ok(if suspend {
                    versions::suspend(&versioner, &who).await?
                } else {
                    versions::resume(&versioner, &who).await?
                })
            },
            |v| text(&serde_json::to_value(v).unwrap_or_default()),
        ),
    }
}

/// `mailu-git status`.
pub fn status(target: Target) -> anyhow::Result<ExitCode> {
    match target {
        Target::Online(connection) => {
            let session = Session::open(connection)?;
            let answer = session.get("status")?;
            session.print(&answer, status_text)
        }
        Target::Offline { data, json } => offline(
            &data,
            json,
            |versioner| async move { Ok(versions::status(&versioner).await?) },
            |v| status_text(&serde_json::to_value(v).unwrap_or_default()),
        ),
    }
}

fn status_text(v: &Value) -> String {
    let d = &v["deployed"];
    let mut out = format!(
        "main:      version {} ({}, {})\n",
        v["main"]["version"],
        v["main"]["commit"].as_str().unwrap_or(""),
        time(v["main"]["time"].as_i64().unwrap_or(0))
    );
    out.push_str(&format!(
        "deployed:  version {} ({}){}\n",
        d["version"],
        d["commit"].as_str().unwrap_or(""),
        match (d["held"].as_bool(), d["held_since"].as_i64()) {
            (Some(true), Some(since)) => format!(", SUSPENDED since {}", time(since)),
            (Some(true), None) => ", SUSPENDED".to_owned(),
            _ => String::new(),
        }
    ));
    if let Some(ahead) = v["versions_ahead"].as_u64() {
        out.push_str(&format!(
            "ahead:     {ahead} version(s) on main not deployed\n"
        ));
    }
    let j = &v["journal"];
    out.push_str(&format!("pending:   {} change(s)", j["pending"]));
    if let Some(ms) = j["next_version_due_ms"].as_u64() {
        out.push_str(&format!(", next version in {:.1} s", ms as f64 / 1000.0));
    }
    out.push('\n');
    match v["writable"]["ok"].as_bool() {
        Some(true) => out.push_str("writable:  yes\n"),
        _ => out.push_str(&format!(
            "writable:  NO: {}\n",
            v["writable"]["reason"].as_str().unwrap_or("unknown")
        )),
    }
    out.push_str(&format!(
        "renderer:  {} (main rendered by {})\n",
        v["renderer"]["server"].as_str().unwrap_or(""),
        v["renderer"]["main"].as_str().unwrap_or("none")
    ));
    out.push_str(&worker_text(&v["deploy"]));
    out
}

/// The worker's last report, if any: its failed actions and its incidents (a version not
/// deployable, the engine lost).
fn worker_text(report: &Value) -> String {
    if !report.is_object() {
        return String::new();
    }
    let mut out = format!(
        "worker:    reported version {} at {}\n",
        report["version"],
        report["time"].as_str().unwrap_or("")
    );
    for s in report["services"].as_array().into_iter().flatten() {
        if s["ok"] == false {
            out.push_str(&format!(
                "  FAILED {} {}: {}\n",
                s["action"].as_str().unwrap_or(""),
                s["service"].as_str().unwrap_or(""),
                s["error"].as_str().unwrap_or("")
            ));
        }
    }
    for i in report["incidents"].as_array().into_iter().flatten() {
        out.push_str(&format!("  {}\n", i.as_str().unwrap_or("")));
    }
    out
}

/// The author of offline changes: who ran the command.
fn offline_author() -> String {
    let user = std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty() && !u.contains(['<', '>', '\n']))
        .unwrap_or_else(|| "admin".into());
    format!("{user} (offline CLI)")
}

/// Runs `act` on the data directory of a stopped server: the lock, the versioner opened as the
/// server opens it, pending changes committed first, and the versioner shut down afterwards.
/// Prints the answer as JSON or with `human`.
fn offline<T, F, Fut>(
    data: &Path,
    json: bool,
    act: F,
    human: impl FnOnce(&T) -> String,
) -> anyhow::Result<ExitCode>
where
    T: Serialize,
    F: FnOnce(Versioner) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let dir = match DataDir::open(data) {
        Ok(dir) => dir,
        Err(data_dir::Error::Busy { pid, .. }) => anyhow::bail!(
            "the server is running{}; use the API (the same command without --data, with \
             --server and --token)",
            pid.map_or_else(String::new, |p| format!(" (pid {p})"))
        ),
        Err(e) => return Err(e.into()),
    };
    let repo = dir.repo();
    if !repo.exists() {
        anyhow::bail!(
            "no configuration repository in {} (start the server once to create it)",
            data.display()
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let answer = runtime.block_on(async {
        let store = Store::open(&repo)?;
        // Debounce times do not matter: what is pending is committed now, and nothing else comes.
        let settings = versioner::Settings {
            render: Some(crate::render::builtins()),
            committer: crate::server::server_person(),
            ..versioner::Settings::new(Duration::from_secs(1), Duration::from_secs(1))
        };
        let versioner = Versioner::open(store, &dir.journal(), settings).await?;
        if let Some(v) = versioner.flush().await? {
            eprintln!(
                "mailu-git: committed the pending changes as version {}",
                v.number
            );
        }
        let result = act(versioner.clone()).await;
        if let Err(e) = versioner.shutdown().await {
            eprintln!("mailu-git: warning: cannot shut the write path down cleanly: {e}");
        }
        result
    })?;
    let text = if json {
        format!("{}\n", serde_json::to_string_pretty(&answer)?)
    } else {
        human(&answer)
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    drop(dir);
    Ok(ExitCode::SUCCESS)
}
