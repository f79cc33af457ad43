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
use crate::client;
use crate::import::parse::{self, Format};
use crate::import::{self, Document, Mode, Outcome, Problem, Request};

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The document from `flask mailu config-export` (YAML, or JSON with `--json` there); `-` reads
    /// standard input.
    pub file: PathBuf,
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
        if let Some(m) = entry.as_object_mut() {
            if m.get("hash_password").and_then(Value::as_bool) == Some(true) {
                m.insert("password".into(), Value::String(placeholder.clone()));
                m.remove("hash_password");
            }
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

pub fn import(connection: Connection, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let text = read_input(&args.file)?;
    let file = args.file.display().to_string();
    let format = Format::guess(&text);
    let lines = parse::entry_lines(&text, format);
    let mode = if args.update {
        Mode::Update
    } else {
        Mode::Replace
    };
    let document = match parse::value(&text, format) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{file}:{}: {}", e.line.unwrap_or(1), e.message);
            return Ok(ExitCode::from(super::EXIT_INVALID));
        }
    };
    if mode == Mode::Replace {
        // The strict reading names the field; the conversion finds every other problem the
        // document has on its own (not against the server's configuration).
        if let Err(e) = parse::document(&text, format) {
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
            print_problems(&file, &lines, &problems);
            eprintln!(
                "mailu-git: {} problem(s) in {file}; nothing was sent",
                problems.len()
            );
            return Ok(ExitCode::from(super::EXIT_INVALID));
        }
    }
    let entries = lines.len();
    eprintln!(
        "mailu-git: {file}: {entries} entries read; sending them to the server as one change{}",
        if args.dry_run { " (dry run)" } else { "" }
    );
    let session = Session::open(connection)?;
    let request = Request {
        mode,
        dry_run: args.dry_run,
        document,
    };
    let body = serde_json::to_value(&request)?;
    let answer = match session.post_value("import", &body) {
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
                        eprintln!("{}: {key}: {text}", place(&file, &lines, section, index));
                    }
                    None => eprintln!("{file}: {key}: {text}"),
                }
            }
            if errors.is_empty() {
                eprintln!("{file}: {message}");
            }
            eprintln!("mailu-git: the server refused the import; nothing was changed");
            return Ok(ExitCode::from(super::EXIT_INVALID));
        }
        Err(e) => return Err(e.into()),
    };
    session.print(&answer, |v| {
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
    })
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
