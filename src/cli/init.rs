//! `mailu-git init`: a new data directory with a real starting configuration and a first admin
//! (`server::init`). Offline: it runs before the first `serve`. Each bad value names its flag.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::model::setup::Input;
use crate::server::init::{Setup, init};

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The data directory to make (missing or empty).
    #[arg(long, env = "MAILU_GIT_DATA", default_value = crate::data_dir::DEFAULT)]
    data: PathBuf,
    /// The main mail domain (`mail.domain`); also the first domain, the admin's.
    #[arg(long)]
    domain: String,
    /// This server's host name (`mail.hostnames`); repeat for more, the first is the primary.
    #[arg(long = "hostname", required = true)]
    hostnames: Vec<String>,
    /// `tls.flavor`: cert, letsencrypt, notls, mail or mail-letsencrypt.
    #[arg(long, default_value = "cert")]
    tls_flavor: String,
    /// The postmaster's local part, at the domain (`mail.postmaster`).
    #[arg(long, default_value = "postmaster")]
    postmaster: String,
    /// The first admin user's local part, at the domain (a global admin). Its password is read
    /// from the terminal (twice, no echo) or from standard input.
    #[arg(long, default_value = "admin")]
    admin: String,
}

/// Checks every flag (naming the bad one), reads the admin's password, makes the data directory
/// and prints the admin access token once and the next steps.
pub fn run(args: InitArgs) -> anyhow::Result<ExitCode> {
    let setup = setup(&args)?;
    crate::server::init::check_empty(&args.data)?;
    let password = super::admin::read_password(&format!("Password for {}", setup.admin_email()))?;
    let cost = crate::password::Cost::clamped(
        crate::model::settings::Settings::default()
            .auth
            .credential_rounds,
    );
    let hash = crate::password::hash(&password, cost).context("the admin's password")?;
    let made = init(
        &args.data,
        &Setup {
            password_hash: hash.as_str().to_owned(),
            ..setup
        },
    )?;
    println!(
        "mailu-git: initialized {} for {} (version 1)",
        made.data.display(),
        args.domain
    );
    println!("mailu-git: admin user {} (global admin)", made.admin);
    // Printed once, on stdout, as serve's first start does; only its hash is kept.
    println!("mailu-git: admin token (shown once): {}", made.token);
    println!("mailu-git: next steps:");
    println!("  1. mailu-git serve --data {}", made.data.display());
    println!(
        "  2. publish DNS: MX {} pointing at {}; then `mailu-git dkim generate {}` and the \
         SPF, DKIM and DMARC records `mailu-git domain show {}` lists",
        args.domain,
        setup_primary(&args),
        args.domain,
        args.domain
    );
    println!(
        "  3. start the worker (deploy/compose.yaml, docs/deploy.md) with a worker token, e.g. \
         MAILU_GIT_WORKER_TOKEN=$(openssl rand -hex 32) given to both serve and the worker"
    );
    println!(
        "  4. keep a copy of {} apart from backups (docs/operations.md)",
        made.data.join("secret.key").display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The primary host name as given.
fn setup_primary(args: &InitArgs) -> &str {
    args.hostnames.first().map(String::as_str).unwrap_or("")
}

/// The setup the flags describe, without the password; every problem names its flag.
fn setup(args: &InitArgs) -> anyhow::Result<Setup> {
    let input = Input {
        domain: args.domain.clone(),
        hostnames: args.hostnames.clone(),
        tls_flavor: args.tls_flavor.clone(),
        postmaster: args.postmaster.clone(),
        admin: args.admin.clone(),
    };
    input.parse().map_err(|problems| {
        let lines: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}", flag(args, &p.field), p.message))
            .collect();
        anyhow::anyhow!(lines.join("\n"))
    })
}

/// The flag a field of `model::setup::Input` comes from (`hostnames.1` → `--hostname RAW`).
fn flag(args: &InitArgs, field: &str) -> String {
    match field.split_once('.') {
        Some(("hostnames", i)) => {
            let raw = i
                .parse::<usize>()
                .ok()
                .and_then(|i| args.hostnames.get(i))
                .map(String::as_str)
                .unwrap_or_default();
            format!("--hostname {raw}")
        }
        _ => format!(
            "--{}",
            field.replace('_', "-").replace("hostnames", "hostname")
        ),
    }
}
