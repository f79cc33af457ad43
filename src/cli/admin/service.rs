//! `mailu-git service ...` and `mailu-git override ...`: the services the worker deploys
//! (`/api/v1/service`, one JSON merge patch per `set`) and the operator's own files that replace a
//! rendered file in a service's container (`/api/v1/override/<service>/<path>`, raw bytes, not JSON).
//! Not here: which fields a service has or which paths are allowed; the server says.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
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

#[derive(Debug, Subcommand)]
pub enum OverrideCommand {
    /// List a service's override files.
    List { service: String },
    /// Print an override file as stored (or write it to a file with -o).
    Get {
        service: String,
        /// The absolute path in the container, e.g. `/etc/postfix/main.cf`.
        path: String,
        /// Write the file here instead of to stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Store an override file, from FILE or (`-`, the default) stdin, byte for byte.
    Put {
        service: String,
        /// The absolute path in the container, e.g. `/etc/postfix/main.cf`.
        path: String,
        #[arg(default_value = "-")]
        file: PathBuf,
    },
    /// Remove an override file (the rendered file is used again).
    Delete {
        service: String,
        /// The absolute path in the container.
        path: String,
    },
}

pub fn overrides(session: &Session, command: OverrideCommand) -> anyhow::Result<ExitCode> {
    match command {
        OverrideCommand::List { service } => session.list(
            &format!("override/{}", encode(&service)),
            &[("PATH", "path"), ("ETAG", "etag")],
        ),
        OverrideCommand::Get {
            service,
            path,
            output,
        } => {
            let bytes = session.get_bytes(&file_path(&service, &path)?)?;
            match output {
                Some(target) if target.as_os_str() != "-" => std::fs::write(&target, &bytes)
                    .with_context(|| format!("cannot write {}", target.display()))?,
                _ => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&bytes)?;
                    out.flush()?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        OverrideCommand::Put {
            service,
            path,
            file,
        } => {
            let target = file_path(&service, &path)?;
            let bytes = if file.as_os_str() == "-" {
                let mut bytes = Vec::new();
                std::io::stdin()
                    .read_to_end(&mut bytes)
                    .context("cannot read the file from standard input")?;
                bytes
            } else {
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?
            };
            session.put_bytes(&target, bytes)
        }
        OverrideCommand::Delete { service, path } => session.delete(&file_path(&service, &path)?),
    }
}

/// `override/<service>/<segment>/...` for the absolute path `path`, each segment encoded on its
/// own so the slashes stay separators and nothing else in a name can change the URL.
fn file_path(service: &str, path: &str) -> anyhow::Result<String> {
    let relative = path.strip_prefix('/').with_context(|| {
        format!("`{path}` is not an absolute path: write the path in the container, e.g. /etc/postfix/main.cf")
    })?;
    anyhow::ensure!(!relative.is_empty(), "the path names no file");
    let segments: Vec<String> = relative.split('/').map(encode).collect();
    Ok(format!(
        "override/{}/{}",
        encode(service),
        segments.join("/")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_override_path_is_encoded_segment_by_segment() {
        assert_eq!(
            file_path("smtp", "/etc/postfix/main.cf").unwrap(),
            "override/smtp/etc/postfix/main.cf"
        );
        assert_eq!(
            file_path("smtp", "/etc/a b/x?y").unwrap(),
            "override/smtp/etc/a%20b/x%3Fy"
        );
        assert!(file_path("smtp", "etc/postfix/main.cf").is_err());
        assert!(file_path("smtp", "/").is_err());
    }
}
