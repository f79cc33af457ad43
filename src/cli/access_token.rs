//! `mailu-git access-token create|list|revoke`: managing the server's access tokens offline, on the
//! data directory. The command takes the data directory's lock, so it refuses to run while a server
//! uses the directory: an admin who lost every token stops the server and creates a new one here.
//! Managing tokens online through the API comes with a later step.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use serde::Serialize;

use crate::auth::{Scope, TokenFile};
use crate::data_dir::{self, DataDir};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a token and print it once (only its hash is stored).
    Create {
        /// The token's name: the author of the changes made with it.
        name: String,
        /// admin, read, worker or service:<name>.
        #[arg(long)]
        scope: String,
        #[command(flatten)]
        common: Common,
    },
    /// List the tokens: name, scope, creation time (never the hashes).
    List {
        #[command(flatten)]
        common: Common,
    },
    /// Revoke a token: it stops working at the next server start.
    Revoke {
        name: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, clap::Args)]
pub struct Common {
    /// The server's data directory (the server must be stopped).
    #[arg(long, env = "MAILU_GIT_DATA", default_value = data_dir::DEFAULT)]
    data: PathBuf,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Listed<'a> {
    name: &'a str,
    scope: String,
    created: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<&'a str>,
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Create {
            name,
            scope,
            common,
        } => {
            let scope = Scope::parse(&scope)?;
            let (_dir, mut tokens) = open(&common.data)?;
            let token = tokens.create(&name, scope)?;
            tokens.save()?;
            let entry = tokens
                .entries()
                .iter()
                .find(|e| e.name == name)
                .context("the created token is not in the file")?;
            if common.json {
                println!(
                    "{}",
                    serde_json::to_string(&Listed {
                        name: &entry.name,
                        scope: entry.scope.to_string(),
                        created: &entry.created,
                        token: Some(&token),
                    })?
                );
            } else {
                println!("{token}");
                eprintln!(
                    "mailu-git: created access token `{name}` (scope {}); it is shown only this once",
                    entry.scope
                );
            }
        }
        Command::List { common } => {
            let (_dir, tokens) = open(&common.data)?;
            let listed: Vec<Listed> = tokens
                .entries()
                .iter()
                .map(|e| Listed {
                    name: &e.name,
                    scope: e.scope.to_string(),
                    created: &e.created,
                    token: None,
                })
                .collect();
            if common.json {
                println!("{}", serde_json::to_string_pretty(&listed)?);
            } else {
                print!("{}", table(&listed));
            }
        }
        Command::Revoke { name, common } => {
            let (_dir, mut tokens) = open(&common.data)?;
            tokens.revoke(&name)?;
            tokens.save()?;
            if common.json {
                println!("{}", serde_json::json!({ "revoked": name }));
            } else {
                eprintln!("mailu-git: revoked access token `{name}`");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Opens the data directory (holding its lock until the returned `DataDir` drops) and its tokens.
fn open(data: &Path) -> anyhow::Result<(DataDir, TokenFile)> {
    let dir = DataDir::open(data).context(
        "access-token works offline: stop the server using this data directory first \
         (online token management through the API comes later)",
    )?;
    let tokens = TokenFile::load(&dir.access_tokens())?;
    Ok((dir, tokens))
}

fn table(rows: &[Listed]) -> String {
    let width = |f: fn(&Listed) -> usize, title: &str| {
        rows.iter().map(f).max().unwrap_or(0).max(title.len())
    };
    let name_w = width(|r| r.name.chars().count(), "NAME");
    let scope_w = width(|r| r.scope.len(), "SCOPE");
    let mut out = format!("{:name_w$}  {:scope_w$}  CREATED\n", "NAME", "SCOPE");
    for r in rows {
        out.push_str(&format!(
            "{:name_w$}  {:scope_w$}  {}\n",
            r.name, r.scope, r.created
        ));
    }
    out
}
