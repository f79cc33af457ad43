//! The command-line admin: `mailu-git domain|alternative|relay|manager|user|alias|fetch|dkim|
//! settings|service|override|template|mailu-override|pending|change ...`, each a thin layer over one REST API path through [`crate::client`]. This module holds
//! what every such command shares: the connection options (`--server`, `--token`), `--json` and
//! `--wait`, printing answers (tables for people, the server's JSON as is for scripts) and reading
//! passwords (from the terminal without echo, or from stdin; never from argv, which every user of
//! the machine can read in `/proc`). The resources' rules live in the server, not here: the CLI sends
//! what it is told and prints the server's refusal.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::Value;

use crate::client::{self, Client, Wait};

pub mod certificate;
pub mod cleanup;
pub mod domain;
pub mod fetch;
pub mod overrides;
pub mod service;
pub mod settings;
pub mod user;

/// The options every admin command takes, before or after its subcommand.
#[derive(Debug, clap::Args)]
pub struct Connection {
    /// The server's base URL.
    #[arg(long, global = true, env = "MAILU_GIT_URL", default_value = client::DEFAULT_URL)]
    server: String,
    /// The access token (an admin token for writes, read is enough for reads). Prefer the
    /// environment variable: arguments are visible to every user of the machine.
    #[arg(long, global = true, env = "MAILU_GIT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print the server's JSON answer as is, for scripts.
    #[arg(long, global = true)]
    json: bool,
    /// On writes: wait until the change is in a version, and print the version's number.
    #[arg(long, global = true)]
    wait: bool,
}

impl Connection {
    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        self.json
    }

    /// The same connection, its writes waiting until their change is in a version.
    pub fn waiting(self) -> Connection {
        Connection { wait: true, ..self }
    }
}

/// One command's connection to the server, with its output choices.
pub struct Session {
    runtime: tokio::runtime::Runtime,
    client: Client,
    json: bool,
    wait: Wait,
}

impl Session {
    pub fn open(connection: Connection) -> anyhow::Result<Session> {
        let token = connection
            .token
            .filter(|t| !t.is_empty())
            .context("no access token: set MAILU_GIT_TOKEN (or pass --token)")?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        Ok(Session {
            runtime,
            client: Client::new(&connection.server, &token),
            json: connection.json,
            wait: Wait(connection.wait),
        })
    }

    pub fn get(&self, path: &str) -> Result<Value, client::Error> {
        self.runtime.block_on(self.client.get(path))
    }

    /// GETs `path` and prints it: as is with `--json`, else with `human`.
    pub fn show(
        &self,
        path: &str,
        human: impl FnOnce(&Value) -> String,
    ) -> anyhow::Result<ExitCode> {
        let answer = self.get(path)?;
        self.print(&answer, human)
    }

    /// GETs a list and prints it as is with `--json`, else as a table of `columns`.
    pub fn list(&self, path: &str, columns: &[Column]) -> anyhow::Result<ExitCode> {
        self.show(path, |v| {
            table(v.as_array().map(Vec::as_slice).unwrap_or(&[]), columns)
        })
    }

    pub fn post(&self, path: &str, body: &Value) -> anyhow::Result<ExitCode> {
        let answer = self
            .runtime
            .block_on(self.client.post(path, body, self.wait))?;
        self.print(&answer, written)
    }

    pub fn patch(&self, path: &str, body: &Value) -> anyhow::Result<ExitCode> {
        let answer = self
            .runtime
            .block_on(self.client.patch(path, body, self.wait))?;
        self.print(&answer, written)
    }

    pub fn delete(&self, path: &str) -> anyhow::Result<ExitCode> {
        let answer = self.runtime.block_on(self.client.delete(path, self.wait))?;
        self.print(&answer, written)
    }

    /// A create whose answer is not a write receipt (an app token): printed with `human`.
    pub fn post_showing(
        &self,
        path: &str,
        body: &Value,
        human: impl FnOnce(&Value) -> String,
    ) -> anyhow::Result<ExitCode> {
        let answer = self
            .runtime
            .block_on(self.client.post(path, body, self.wait))?;
        self.print(&answer, human)
    }

    /// A POST whose receipt the caller prints itself (with what it reads next).
    pub fn post_value(&self, path: &str, body: &Value) -> Result<Value, client::Error> {
        self.runtime
            .block_on(self.client.post(path, body, self.wait))
    }

    /// A POST of a large, already encoded JSON body (an import): `sent` is told the bytes sent so
    /// far and `uploaded` is called once all are, while the server works on it.
    pub fn post_encoded(
        &self,
        path: &str,
        body: Vec<u8>,
        sent: impl Fn(u64) + Send + Sync + 'static,
        uploaded: impl FnOnce(),
    ) -> Result<Value, client::Error> {
        let length = body.len() as u64;
        let (done, mut told) = tokio::sync::watch::channel(false);
        let counter = move |n: u64| {
            sent(n);
            if n >= length {
                done.send_replace(true);
            }
        };
        self.runtime.block_on(async {
            let request = self.client.post_encoded(path, body, self.wait, counter);
            tokio::pin!(request);
            tokio::select! {
                answer = &mut request => return answer,
                _ = told.wait_for(|d| *d) => uploaded(),
            }
            request.await
        })
    }

    /// A PATCH whose receipt the caller prints itself.
    pub fn patch_value(&self, path: &str, body: &Value) -> Result<Value, client::Error> {
        self.runtime
            .block_on(self.client.patch(path, body, self.wait))
    }

    /// GETs a file's bytes as stored.
    pub fn get_bytes(&self, path: &str) -> Result<Vec<u8>, client::Error> {
        self.runtime.block_on(self.client.get_bytes(path))
    }

    /// GETs a large file into `out` as it arrives; its size and the answer's headers.
    pub fn download(
        &self,
        path: &str,
        out: &mut impl Write,
    ) -> Result<(u64, reqwest::header::HeaderMap), client::Error> {
        self.runtime.block_on(self.client.download(path, out))
    }

    /// PUTs a file's bytes as they are, and prints the receipt.
    pub fn put_bytes(&self, path: &str, body: Vec<u8>) -> anyhow::Result<ExitCode> {
        let answer = self
            .runtime
            .block_on(self.client.put_bytes(path, body, self.wait))?;
        self.print(&answer, written)
    }

    /// Prints `answer`: as is with `--json`, else with `human`.
    pub fn print(
        &self,
        answer: &Value,
        human: impl FnOnce(&Value) -> String,
    ) -> anyhow::Result<ExitCode> {
        let text = if self.json {
            format!("{}\n", serde_json::to_string_pretty(answer)?)
        } else {
            human(answer)
        };
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()?;
        Ok(ExitCode::SUCCESS)
    }
}

/// A write's receipt (`{"message", "change", "version"?}`) for people: the server's message, then
/// where the change is.
pub fn written(answer: &Value) -> String {
    let message = answer["message"].as_str().unwrap_or("done");
    let change = answer["change"].as_str().unwrap_or("-");
    match answer["version"].as_u64() {
        Some(version) => format!("{message}\nchange {change}: in version {version}\n"),
        None => format!("{message}\nchange {change}: pending (see `mailu-git change {change}`)\n"),
    }
}

/// One table column: its title and the JSON field it shows.
pub type Column = (&'static str, &'static str);

/// Aligned columns, one row per object, titled in capitals. The last column is not padded.
pub fn table(rows: &[Value], columns: &[Column]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            columns
                .iter()
                .map(|(_, field)| cell(&row[*field]))
                .collect()
        })
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, (title, _))| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([title.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let titles: Vec<String> = columns.iter().map(|(t, _)| (*t).to_owned()).collect();
    for row in std::iter::once(&titles).chain(cells.iter()) {
        let mut line = String::new();
        for (i, text) in row.iter().enumerate() {
            if i + 1 < row.len() {
                let pad = widths[i] - text.chars().count();
                line.push_str(text);
                line.push_str(&" ".repeat(pad + 2));
            } else {
                line.push_str(text);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// One object as `field: value` lines, in the server's field order.
pub fn fields(object: &Value) -> String {
    let Some(map) = object.as_object() else {
        return format!("{}\n", cell(object));
    };
    let width = map.keys().map(|k| k.chars().count()).max().unwrap_or(0);
    map.iter()
        .map(|(key, value)| {
            format!("{key:width$}  {}", cell(value))
                .trim_end()
                .to_owned()
                + "\n"
        })
        .collect()
}

/// A JSON value as one table cell: strings bare, lists comma-separated, null as `-`.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Adds `key: value` to a request body when the option was given.
pub fn set(body: &mut Value, key: &str, value: Option<impl Into<Value>>) {
    if let (Some(value), Some(map)) = (value, body.as_object_mut()) {
        map.insert(key.into(), value.into());
    }
}

/// `{"a": {"b": VALUE}}` for `a.b`: a JSON merge patch (RFC 7396) that changes one key. VALUE is
/// read as JSON when it parses (numbers, `true`, `["a","b"]`, `null` to reset), else as a string.
pub fn merge_patch(key: &str, value: &str) -> anyhow::Result<Value> {
    let parts: Vec<&str> = key.split('.').collect();
    anyhow::ensure!(
        parts.iter().all(|p| !p.is_empty()),
        "`{key}` is not a key: write NAME or TABLE.KEY, with no empty part"
    );
    let mut patch = serde_json::from_str::<Value>(value).unwrap_or_else(|_| value.into());
    for part in parts.iter().rev() {
        let mut map = serde_json::Map::new();
        map.insert((*part).to_owned(), patch);
        patch = Value::Object(map);
    }
    Ok(patch)
}

/// Reads a password without it ever being an argument. On a terminal: a prompt on stderr, echo off,
/// then a confirmation. Otherwise: all of stdin, less one trailing newline, so `printf 'pw' |` and
/// `echo pw |` both work.
pub fn read_password(prompt: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let password = if stdin.is_terminal() {
        let first = prompt_hidden(&format!("{prompt}: "))?;
        let second = prompt_hidden(&format!("{prompt} (again): "))?;
        anyhow::ensure!(first == second, "the passwords do not match");
        first
    } else {
        let mut text = String::new();
        stdin
            .lock()
            .read_to_string(&mut text)
            .context("cannot read the password from standard input")?;
        let trimmed = text.strip_suffix('\n').unwrap_or(&text);
        trimmed.strip_suffix('\r').unwrap_or(trimmed).to_owned()
    };
    anyhow::ensure!(!password.is_empty(), "the password is empty");
    Ok(password)
}

/// One line from the terminal with echo off; echo is restored even when reading fails.
fn prompt_hidden(prompt: &str) -> anyhow::Result<String> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let saved = tcgetattr(&stdin).context("cannot read the terminal's settings")?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    tcsetattr(&stdin, OptionalActions::Now, &quiet).context("cannot turn the echo off")?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    let restored = tcsetattr(&stdin, OptionalActions::Now, &saved);
    eprintln!();
    read.context("cannot read the password from the terminal")?;
    restored.context("cannot turn the echo back on")?;
    let line = line.strip_suffix('\n').unwrap_or(&line);
    Ok(line.strip_suffix('\r').unwrap_or(line).to_owned())
}

/// `path` with `?k=v&...` for the parameters that are set, each value encoded.
pub fn with_query(path: &str, params: &[(&str, Option<&str>)]) -> String {
    let query: Vec<String> = params
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={}", client::encode(v))))
        .collect();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_aligns_columns_and_shows_lists_and_nulls() {
        let rows = [
            json!({"name": "a.example", "smtp": null, "tags": ["x", "y"]}),
            json!({"name": "bb", "smtp": "mx.example:25", "tags": []}),
        ];
        let out = table(
            &rows,
            &[("NAME", "name"), ("SMTP", "smtp"), ("TAGS", "tags")],
        );
        assert_eq!(
            out,
            "NAME       SMTP           TAGS\n\
             a.example  -              x,y\n\
             bb         mx.example:25\n"
        );
    }

    #[test]
    fn a_receipt_says_the_version_when_waited_for() {
        let done = json!({"code": 200, "message": "ok", "change": "c1", "version": 7});
        assert_eq!(written(&done), "ok\nchange c1: in version 7\n");
        let pending = json!({"code": 200, "message": "ok", "change": "c1"});
        assert!(written(&pending).contains("pending"));
    }

    #[test]
    fn a_dotted_key_becomes_a_nested_one_key_merge_patch() {
        assert_eq!(
            merge_patch("enabled", "true").unwrap(),
            json!({"enabled": true})
        );
        assert_eq!(
            merge_patch("env.LOG_LEVEL", "debug").unwrap(),
            json!({"env": {"LOG_LEVEL": "debug"}})
        );
        assert_eq!(
            merge_patch("a.b", "null").unwrap(),
            json!({"a": {"b": null}})
        );
        assert!(merge_patch("", "1").is_err());
        assert!(merge_patch("env..x", "1").is_err());
    }

    #[test]
    fn query_leaves_out_unset_parameters() {
        assert_eq!(with_query("user", &[("q", None)]), "user");
        assert_eq!(
            with_query("user", &[("domain", Some("x.y")), ("q", Some("a b"))]),
            "user?domain=x.y&q=a%20b"
        );
    }
}
