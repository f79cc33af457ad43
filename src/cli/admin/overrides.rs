//! `mailu-git override|template|mailu-override ...`: the three trees of files that change what a
//! container gets (`/api/v1/override`, `/api/v1/template`, `/api/v1/mailu-override`; see
//! `docs/api.md`). Files travel as raw bytes, not JSON: `put` sends FILE (or stdin) byte for byte,
//! `get` prints the stored bytes (or writes them with `-o`). Not here: which names and contents are
//! allowed; the server says.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;

use super::{Column, Session};
use crate::client::encode;

const COLUMNS: &[Column] = &[("PATH", "path"), ("ETAG", "etag")];

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

#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    /// List a service's templates in the repository.
    List { service: String },
    /// Print a template as stored (or write it to a file with -o).
    Get {
        service: String,
        /// The template's name in the service's folder, e.g. `main.cf.j2`.
        name: String,
        /// Write the template here instead of to stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Store a template (it replaces the built-in one of the same name), from FILE or (`-`, the
    /// default) stdin. The server refuses one that does not parse or render, with its line.
    Put {
        service: String,
        /// The template's name in the service's folder, e.g. `main.cf.j2`.
        name: String,
        #[arg(default_value = "-")]
        file: PathBuf,
    },
    /// Remove a template (the built-in one is used again).
    Delete { service: String, name: String },
}

#[derive(Debug, Subcommand)]
pub enum MailuOverrideCommand {
    /// List Mailu's override files, in every folder.
    List,
    /// Print one of Mailu's override files as stored (or write it to a file with -o).
    Get {
        /// `<dir>/<file>`, as under Mailu's overrides folder, e.g. `postfix/postfix.cf`.
        path: String,
        /// Write the file here instead of to stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Store one of Mailu's override files, from FILE or (`-`, the default) stdin.
    Put {
        /// `<dir>/<file>`, e.g. `postfix/postfix.cf`; `<dir>` is postfix, dovecot, nginx, rspamd,
        /// roundcube or snappymail.
        path: String,
        #[arg(default_value = "-")]
        file: PathBuf,
    },
    /// Remove one of Mailu's override files.
    Delete { path: String },
}

pub fn overrides(session: &Session, command: OverrideCommand) -> anyhow::Result<ExitCode> {
    let url = override_url;
    match command {
        OverrideCommand::List { service } => {
            session.list(&format!("override/{}", encode(&service)), COLUMNS)
        }
        OverrideCommand::Get {
            service,
            path,
            output,
        } => get(session, &url(&service, &path)?, output),
        OverrideCommand::Put {
            service,
            path,
            file,
        } => put(session, &url(&service, &path)?, &file),
        OverrideCommand::Delete { service, path } => session.delete(&url(&service, &path)?),
    }
}

pub fn templates(session: &Session, command: TemplateCommand) -> anyhow::Result<ExitCode> {
    let url = |service: &str, name: &str| file_url(&format!("template/{}", encode(service)), name);
    match command {
        TemplateCommand::List { service } => {
            session.list(&format!("template/{}", encode(&service)), COLUMNS)
        }
        TemplateCommand::Get {
            service,
            name,
            output,
        } => get(session, &url(&service, &name)?, output),
        TemplateCommand::Put {
            service,
            name,
            file,
        } => put(session, &url(&service, &name)?, &file),
        TemplateCommand::Delete { service, name } => session.delete(&url(&service, &name)?),
    }
}

pub fn mailu_overrides(
    session: &Session,
    command: MailuOverrideCommand,
) -> anyhow::Result<ExitCode> {
    let url = mailu_url;
    match command {
        MailuOverrideCommand::List => session.list("mailu-override", COLUMNS),
        MailuOverrideCommand::Get { path, output } => get(session, &url(&path)?, output),
        MailuOverrideCommand::Put { path, file } => put(session, &url(&path)?, &file),
        MailuOverrideCommand::Delete { path } => session.delete(&url(&path)?),
    }
}

/// `override/<service>/...` for the absolute path `path` in the container.
fn override_url(service: &str, path: &str) -> anyhow::Result<String> {
    let relative = path.strip_prefix('/').with_context(|| {
        format!("`{path}` is not an absolute path: write the path in the container, e.g. /etc/postfix/main.cf")
    })?;
    file_url(&format!("override/{}", encode(service)), relative)
}

/// `mailu-override/<dir>/...` for `<dir>/<file>`, as under Mailu's overrides folder.
fn mailu_url(path: &str) -> anyhow::Result<String> {
    let (dir, file) = path.split_once('/').with_context(|| {
        format!("`{path}` names no file in a folder: write <dir>/<file>, e.g. postfix/postfix.cf")
    })?;
    file_url(&format!("mailu-override/{}", encode(dir)), file)
}

/// `<folder>/<segment>/...` for the relative path `path`, each segment encoded on its own so the
/// slashes stay separators and nothing else in a name can change the URL.
fn file_url(folder: &str, path: &str) -> anyhow::Result<String> {
    anyhow::ensure!(!path.is_empty(), "the path names no file");
    let segments: Vec<String> = path.split('/').map(encode).collect();
    Ok(format!("{folder}/{}", segments.join("/")))
}

/// Prints the file at `url` as stored, or writes it to `output`.
fn get(session: &Session, url: &str, output: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let bytes = session.get_bytes(url)?;
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

/// Stores `source` (or stdin for `-`) at `url`, byte for byte.
fn put(session: &Session, url: &str, source: &std::path::Path) -> anyhow::Result<ExitCode> {
    let bytes = if source.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read the file from standard input")?;
        bytes
    } else {
        std::fs::read(source).with_context(|| format!("cannot read {}", source.display()))?
    };
    session.put_bytes(url, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_encoded_segment_by_segment() {
        assert_eq!(
            file_url("override/smtp", "etc/postfix/main.cf").unwrap(),
            "override/smtp/etc/postfix/main.cf"
        );
        assert_eq!(
            file_url("override/smtp", "etc/a b/x?y").unwrap(),
            "override/smtp/etc/a%20b/x%3Fy"
        );
        assert_eq!(
            file_url("mailu-override/nginx", "dovecot/proxy.conf").unwrap(),
            "mailu-override/nginx/dovecot/proxy.conf"
        );
        assert!(file_url("template/smtp", "").is_err());
        assert_eq!(
            override_url("smtp", "/etc/postfix/main.cf").unwrap(),
            "override/smtp/etc/postfix/main.cf"
        );
        assert!(override_url("smtp", "etc/postfix/main.cf").is_err());
        assert!(override_url("smtp", "/").is_err());
        assert_eq!(
            mailu_url("nginx/dovecot/proxy.conf").unwrap(),
            "mailu-override/nginx/dovecot/proxy.conf"
        );
        assert!(mailu_url("postfix.cf").is_err());
        assert!(mailu_url("postfix/").is_err());
    }
}
