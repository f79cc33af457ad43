//! `mailu-git service ...`: the services the worker deploys (`/api/v1/service`, one JSON merge patch
//! per `set`). Not here: which fields a service has; the server says. The files that change what a
//! service's container gets are `overrides.rs`.

use std::process::ExitCode;

use clap::Subcommand;

use super::{Column, Session, fields, merge_patch};
use crate::client::encode;

const SERVICE_COLUMNS: &[Column] = &[("NAME", "name"), ("ENABLED", "enabled"), ("IMAGE", "image")];

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// List the services.
    List,
    /// Show one service's fields.
    Show { name: String },
    /// Set one field of a service: `service set webdav enabled true`, `service set smtp
    /// env.LOG_LEVEL debug`. VALUE is read as JSON when it parses (`true`, `3`, `["a"]`, `null`
    /// to remove), else as a string; a dotted KEY names a key inside a table.
    Set {
        name: String,
        key: String,
        value: String,
    },
}

pub fn service(session: &Session, command: ServiceCommand) -> anyhow::Result<ExitCode> {
    match command {
        ServiceCommand::List => session.list("service", SERVICE_COLUMNS),
        ServiceCommand::Show { name } => {
            session.show(&format!("service/{}", encode(&name)), fields)
        }
        ServiceCommand::Set { name, key, value } => session.patch(
            &format!("service/{}", encode(&name)),
            &merge_patch(&key, &value)?,
        ),
    }
}
