//! `mailu-git fetch ...`: the accounts fetched into users' mailboxes (`/api/v1/fetch`). The remote
//! password is read like a user's ([`super::read_password`]: terminal or stdin, never argv); the
//! server stores it encrypted and never shows it, so no output here can hold it.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use super::{Column, Session, fields, read_password, set};
use crate::client::encode;

const FETCH_COLUMNS: &[Column] = &[
    ("ID", "id"),
    ("EMAIL", "email"),
    ("PROTOCOL", "protocol"),
    ("HOST", "host"),
    ("PORT", "port"),
    ("TLS", "tls"),
    ("USERNAME", "username"),
    ("KEEP", "keep"),
    ("FOLDERS", "folders"),
];

#[derive(Debug, Subcommand)]
pub enum FetchCommand {
    /// List the fetched accounts (never their passwords).
    List,
    /// Show one fetched account.
    Show { id: String },
    /// Fetch a remote account's mail into a user's mailbox. The remote password is asked for on
    /// the terminal, or read from stdin when it is not one.
    Add {
        /// The user whose mailbox receives the mail.
        email: String,
        #[arg(long, value_parser = ["imap", "pop3"])]
        protocol: String,
        /// The remote server.
        #[arg(long)]
        host: String,
        /// The login on the remote server.
        #[arg(long)]
        username: String,
        /// The remote port (left out: 993 for IMAP, 995 for POP3, their TLS ports).
        #[arg(long)]
        port: Option<u16>,
        /// Connect with TLS (`--tls`, `--tls=false`).
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
        tls: Option<bool>,
        /// Keep the fetched mail on the remote server (`--keep`, `--keep=false`).
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
        keep: Option<bool>,
        /// A remote folder to fetch (repeatable; IMAP only).
        #[arg(long = "folder")]
        folders: Vec<String>,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Stop fetching an account.
    Delete { id: String },
}

pub fn fetch(session: &Session, command: FetchCommand) -> anyhow::Result<ExitCode> {
    match command {
        FetchCommand::List => session.list("fetch", FETCH_COLUMNS),
        FetchCommand::Show { id } => session.show(&format!("fetch/{}", encode(&id)), fields),
        FetchCommand::Add {
            email,
            protocol,
            host,
            username,
            port,
            tls,
            keep,
            folders,
            comment,
        } => {
            let password = read_password("Remote password")?;
            let mut body = json!({
                "email": email,
                "protocol": protocol,
                "host": host,
                "username": username,
                "password": password,
            });
            set(&mut body, "port", port);
            set(&mut body, "tls", tls);
            set(&mut body, "keep", keep);
            if !folders.is_empty() {
                set(&mut body, "folders", Some(folders));
            }
            set(&mut body, "comment", comment);
            session.post("fetch", &body)
        }
        FetchCommand::Delete { id } => session.delete(&format!("fetch/{}", encode(&id))),
    }
}
