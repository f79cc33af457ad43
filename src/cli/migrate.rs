//! `mailu-git import` and `mailu-git export`: Mailu's `config-export` document in and out, through
//! `POST /api/v1/import` and `GET /api/v1/export` (`import` has the format's rules).
//!
//! The file is read and checked here, where the operator is, so every problem points at its line
//! (`users.yaml:42: user[3] (alice@example.com).password: ...`, exit code 3) before anything is
//! sent; the server checks again against the current configuration and answers with the entry and
//! field of each problem, which are mapped back to lines the same way.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use serde_json::Value;

use super::admin::{Connection, Session};
use super::progress::Progress;
use crate::client;
use crate::import::parse::{self, Format};
use crate::import::{self, Document, Mode, Outcome, Problem, Request};

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The document from `flask mailu config-export` (YAML, or JSON with `--json` there); `-` reads
    /// standard input. Without it, only `--env` and `--overrides` are imported.
    pub file: Option<PathBuf>,
    /// A Mailu `mailu.env`: its settings go to `mailu.toml` (as `docs/settings.md` maps them),
    /// SECRET_KEY, RELAYPASSWORD and RECAPTCHA_PRIVATE_KEY to the secret store; API_TOKEN is reported.
    #[arg(long)]
    pub env: Option<PathBuf>,
    /// A Mailu `overrides/` folder (`postfix/`, `dovecot/`, `nginx/`, `rspamd/`, ...): its files go
    /// to `mailu-overrides/`, with Mailu's meaning.
    #[arg(long)]
    pub overrides: Option<PathBuf>,
    /// Merge into the current configuration with Mailu's notation (`-name: x` deletes,
    /// `-email: null` prunes, `-item` and `-prune-` in lists) instead of replacing domains, users,
    /// aliases and relays.
    #[arg(long)]
    pub update: bool,
    /// Show what would change; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Include DKIM private keys and fetch passwords in the clear (else `<hidden>`).
    #[arg(long)]
    pub secrets: bool,
    /// Write JSON instead of YAML.
    #[arg(long = "as-json")]
    pub as_json: bool,
    /// Write to this file instead of standard output (created with mode 0600: it holds hashes).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

fn read_input(path: &Path) -> anyhow::Result<String> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read standard input")?;
        return Ok(text);
    }
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Where the problems of `entry` point: `FILE:LINE` when the line is known.
fn place(
    file: &str,
    lines: &BTreeMap<(String, usize), usize>,
    section: &str,
    index: usize,
) -> String {
    match lines.get(&(section.to_owned(), index)) {
        Some(line) => format!("{file}:{line}"),
        None => file.to_owned(),
    }
}

fn print_problems(file: &str, lines: &BTreeMap<(String, usize), usize>, problems: &[Problem]) {
    for p in problems {
        eprintln!(
            "{}: {p}",
            place(file, lines, &p.entry.section, p.entry.index)
        );
    }
}

/// The document's plaintext passwords replaced by a placeholder hash, so the local check judges
/// everything else (the server hashes the real ones).
fn without_plaintext(mut value: Value) -> Value {
    let placeholder = crate::password::hash("placeholder", crate::password::Cost::clamped(0))
        .map(|h| h.as_str().to_owned())
        .unwrap_or_default();
    let mut fix = |entry: &mut Value| {
        if let Some(m) = entry.as_object_mut()
            && m.get("hash_password").and_then(Value::as_bool) == Some(true)
        {
            m.insert("password".into(), Value::String(placeholder.clone()));
            m.remove("hash_password");
        }
    };
    if let Some(users) = value.get_mut("user").and_then(Value::as_array_mut) {
        for user in users {
            fix(user);
            if let Some(tokens) = user.get_mut("tokens").and_then(Value::as_array_mut) {
                tokens.iter_mut().for_each(&mut fix);
            }
        }
    }
    value
}

/// The files of a Mailu `overrides/` folder as `<dir>/<file>` → text (sub-folders kept).
fn read_overrides(root: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) -> anyhow::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .collect::<Result<_, _>>()?;
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                walk(root, &path, out)?;
            } else {
                let rel = path.strip_prefix(root)?.to_string_lossy().into_owned();
                let text = std::fs::read_to_string(&path).with_context(|| {
                    format!("{}: override files must be UTF-8 text", path.display())
                })?;
                out.insert(rel, text);
            }
        }
        Ok(())
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out)?;
    Ok(out)
}

pub fn import(connection: Connection, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let mut request = Request {
        mode: if args.update {
            Mode::Update
        } else {
            Mode::Replace
        },
        dry_run: args.dry_run,
        ..Request::default()
    };
    let mut env_lines = BTreeMap::new();
    let mut api_token = false;
    if let Some(env) = &args.env {
        let text = read_input(env)?;
        let converted = import::env::convert(&text);
        for p in &converted.problems {
            eprintln!("{}:{}: {}: {}", env.display(), p.line, p.name, p.message);
        }
        if !converted.problems.is_empty() {
            return Ok(ExitCode::from(super::EXIT_INVALID));
        }
        for (name, why) in &converted.ignored {
            eprintln!("mailu-git: {}: {name} ignored ({why})", env.display());
        }
        if !converted.settings.is_empty() {
            request.settings = Some(Value::Object(converted.settings));
        }
        request.secrets = converted.secrets;
        api_token = converted.api_token.is_some();
        env_lines = converted.lines;
    }
    if let Some(dir) = &args.overrides {
        request.mailu_overrides = read_overrides(dir)?;
    }
    let Some(path) = args.file.clone() else {
        if args.env.is_none() && args.overrides.is_none() {
            anyhow::bail!("nothing to import: name a config-export file, --env or --overrides");
        }
        return send(
            connection,
            request,
            "",
            &BTreeMap::new(),
            &env_lines,
            api_token,
        );
    };
    let file = path.display().to_string();
    let progress = Progress::start(format!("reading {file}"));
    let text = read_input(&path)?;
    progress.phase(format!(
        "checking {file} ({:.1} MiB)",
        text.len() as f64 / 1_048_576.0
    ));
    let format = Format::guess(&text);
    let lines = parse::entry_lines(&text, format);
    let document = match parse::value(&text, format) {
        Ok(v) => v,
        Err(e) => {
            progress.finish();
            eprintln!("{file}:{}: {}", e.line.unwrap_or(1), e.message);
            return Ok(ExitCode::from(super::EXIT_INVALID));
        }
    };
    if request.mode == Mode::Replace {
        // The strict reading names the field; the conversion finds every other problem the
        // document has on its own (not against the server's configuration).
        if let Err(e) = parse::document(&text, format) {
            progress.finish();
            let path = if e.path.is_empty() || e.path == "." {
                String::new()
            } else {
                format!("{}: ", e.path)
            };
            eprintln!("{file}:{}: {path}{}", e.line.unwrap_or(1), e.message);
            return Ok(ExitCode::from(super::EXIT_INVALID));
        }
        let checked: Result<Document, Vec<Problem>> =
            import::typed(without_plaintext(document.clone()));
        let problems = match checked.map(|d| import::convert::objects(&d)) {
            Ok(Ok(_)) => Vec::new(),
            Ok(Err(p)) | Err(p) => p,
        };
        if !problems.is_empty() {
            progress.finish();
            print_problems(&file, &lines, &problems);
            eprintln!(
                "mailu-git: {} problem(s) in {file}; nothing was sent",
                problems.len()
            );
            return Ok(ExitCode::from(super::EXIT_INVALID));
        }
    }
    request.document = Some(document);
    progress.finish();
    eprintln!(
        "mailu-git: {file}: {} entries read; sending them to the server as one change{}",
        lines.len(),
        if args.dry_run { " (dry run)" } else { "" }
    );
    send(connection, request, &file, &lines, &env_lines, api_token)
}

/// Sends the import and prints the answer; a refusal's problems point at their lines.
fn send(
    connection: Connection,
    request: Request,
    file: &str,
    lines: &BTreeMap<(String, usize), usize>,
    env_lines: &BTreeMap<String, usize>,
    api_token: bool,
) -> anyhow::Result<ExitCode> {
    let dry_run = request.dry_run;
    let session = Session::open(connection)?;
    let body = serde_json::to_vec(&request)?;
    drop(request);
    let progress = Progress::start("connecting");
    progress.bytes("uploading", body.len() as u64);
    let answer = session.post_encoded("import", body, progress.counter(), || {
        progress.phase(if dry_run {
            "the server is checking the change"
        } else {
            "the server is importing it as one change"
        })
    });
    progress.finish();
    let answer = match answer {
        Ok(answer) => answer,
        Err(client::Error::Refused {
            status: 400,
            message,
            errors,
        }) => {
            for (key, text) in &errors {
                let at = key
                    .split_once('[')
                    .and_then(|(s, rest)| Some((s, rest.split_once(']')?.0.parse().ok()?)));
                match at {
                    Some((section, index)) => {
                        eprintln!("{}: {key}: {text}", place(file, lines, section, index));
                    }
                    None => eprintln!("{key}: {text}"),
                }
            }
            if errors.is_empty() {
                eprintln!("{message}");
            }
            if !env_lines.is_empty() {
                eprintln!("(settings keys are those of mailu.toml; see docs/settings.md)");
            }
            eprintln!("mailu-git: the server refused the import; nothing was changed");
            return Ok(ExitCode::from(super::EXIT_INVALID));
        }
        Err(e) => return Err(e.into()),
    };
    let code = session.print(&answer, |v| {
        let outcome: Option<Outcome> = serde_json::from_value(v.clone()).ok();
        let Some(o) = outcome else {
            return format!("{v}\n");
        };
        let mut out = format!("{}\n", o.message);
        if o.dry_run {
            for (what, paths) in [
                ("create", &o.summary.created),
                ("update", &o.summary.updated),
                ("delete", &o.summary.deleted),
            ] {
                for p in paths.iter().take(50) {
                    out.push_str(&format!("  {what} {p}\n"));
                }
                if paths.len() > 50 {
                    out.push_str(&format!("  ... and {} more to {what}\n", paths.len() - 50));
                }
            }
        }
        if let Some(change) = &o.change {
            match o.version {
                Some(n) => out.push_str(&format!("change {change}: in version {n}\n")),
                None => out.push_str(&format!(
                    "change {change}: pending (see `mailu-git change {change}`)\n"
                )),
            }
        }
        out
    })?;
    if api_token && !dry_run {
        // Access tokens live outside the repository: the separate step, reported, not done here.
        eprintln!(
            "mailu-git: mailu.env sets API_TOKEN. So that scripts using it keep working, make it an \
             admin access token: start the server with MAILU_GIT_ADMIN_TOKEN set to the same value \
             (stored as the access token `env-admin`; see docs/api.md)."
        );
    }
    Ok(code)
}

pub fn export(connection: Connection, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let session = Session::open(connection)?;
    let path = format!("export?secrets={}", args.secrets);
    let answer = session.get(&path)?;
    let document: Document =
        serde_json::from_value(answer).context("the server's export is not a Mailu document")?;
    let text = if args.as_json {
        format!("{}\n", serde_json::to_string_pretty(&document)?)
    } else {
        serde_norway::to_string(&document)?
    };
    match &args.output {
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
        Some(path) => {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            f.write_all(text.as_bytes())?;
            eprintln!(
                "mailu-git: wrote {} ({} domains, {} users, {} aliases, {} relays)",
                path.display(),
                document.domain.len(),
                document.user.len(),
                document.alias.len(),
                document.relay.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
