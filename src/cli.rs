//! The command line: `mailu-git <command>`. Parses arguments with clap, sets up logging, runs the
//! command and turns its outcome into an exit code. The commands' logic lives in the modules they
//! name; this file only wires them.
//!
//! Exit codes: 0 success; 1 an error (printed with its causes), including every refusal by the server
//! (any 4xx or 5xx: its message and each `field: message` go to stderr; a script that needs the
//! status reads it from that message or calls the API itself); 2 a usage error (clap); 3 the
//! configuration is invalid (every problem printed as `file:line: field: message`).
//!
//! `init` makes a new data directory offline (`server::init`). The admin commands (`domain`, `alternative`, `relay`, `manager`, `dkim`, `user`, `alias`,
//! `fetch`, `settings`, `service`, `override`, `template`, `mailu-override`, `pending`, `change`) go through the REST API (`admin`); so do `upgrade` and `log`, `show`, `diff`, `revert`, `suspend`, `resume` and `status` (`versions`), the last four also offline with `--data DIR`; the others work on local files.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::{data_dir, server};

mod access_token;
mod admin;
mod backup;
mod init;
mod migrate;
mod progress;
mod render;
mod secrets;
mod upgrade;
mod versions;

/// Exit code for an invalid configuration.
pub const EXIT_INVALID: u8 = 3;

#[derive(Debug, Parser)]
#[command(
    name = "mailu-git",
    version,
    about = "The Mailu configuration server, on Git"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the central server (creates the data directory and its repository on first start).
    ///
    /// MAILU_GIT_ADMIN_TOKEN, if set, is stored as the admin access token `env-admin` (replacing the
    /// previous one) at each start; otherwise, if no admin token exists, one is generated and printed
    /// once on stdout. MAILU_GIT_WORKER_TOKEN likewise sets the worker token `env-worker`. Both need
    /// at least 16 visible ASCII characters.
    Serve {
        /// The data directory.
        #[arg(long, env = "MAILU_GIT_DATA", default_value = data_dir::DEFAULT)]
        data: PathBuf,
        /// The address to listen on.
        #[arg(long, env = "MAILU_GIT_LISTEN", default_value = server::DEFAULT_LISTEN)]
        listen: SocketAddr,
        /// The secret key file (age identities, mode 0600), if not `<data>/secret.key`; never generated.
        #[arg(long, env = "MAILU_GIT_SECRET_KEY")]
        secret_key: Option<PathBuf>,
        /// The largest pack a `git push` may send, in bytes.
        #[arg(long, env = "MAILU_GIT_MAX_PACK", default_value_t = crate::githttp::MAX_PACK)]
        git_max_pack: u64,
        /// How long one git request (a clone, a push) may run, e.g. `10m`.
        #[arg(long, env = "MAILU_GIT_TIMEOUT", default_value = "10m", value_parser = humantime::parse_duration)]
        git_timeout: std::time::Duration,
        /// How long a push waits for the one running before it gets 503, e.g. `30s`.
        #[arg(long, env = "MAILU_GIT_PUSH_WAIT", default_value = "30s", value_parser = humantime::parse_duration)]
        git_push_wait: std::time::Duration,
        /// Repack the repository once this many loose objects exist.
        #[arg(long, env = "MAILU_GIT_REPACK_LOOSE", default_value_t = 2000)]
        repack_loose: usize,
        /// Repack the whole repository into one pack this often, e.g. `6h`. Without it, at
        /// `[history] repack_schedule` of mailu.toml (default Sundays 04:00 UTC).
        #[arg(long, env = "MAILU_GIT_REPACK_EVERY", value_parser = humantime::parse_duration)]
        repack_every: Option<std::time::Duration>,
        /// The ACME directory for `tls.flavor` "letsencrypt" and "mail-letsencrypt".
        #[arg(long, env = "MAILU_GIT_ACME_DIRECTORY", default_value = crate::tls::acme::LETS_ENCRYPT)]
        acme_directory: String,
        /// A PEM CA certificate to trust for the ACME server's HTTPS (a test CA such as pebble's).
        #[arg(long, env = "MAILU_GIT_ACME_CA")]
        acme_ca: Option<PathBuf>,
        /// How often the certificate is looked at (renewal, host name and flavor changes), e.g. `1m`;
        /// a look reads one file and costs microseconds.
        #[arg(long, env = "MAILU_GIT_TLS_CHECK", default_value = "1m", value_parser = humantime::parse_duration)]
        tls_check: std::time::Duration,
        /// The first retry after a failed ACME renewal, doubled after each failure, e.g. `1m`.
        #[arg(long, env = "MAILU_GIT_ACME_RETRY", default_value = "1m", value_parser = humantime::parse_duration)]
        acme_retry: std::time::Duration,
        /// The longest wait between ACME retries, e.g. `1d`.
        #[arg(long, env = "MAILU_GIT_ACME_RETRY_MAX", default_value = "1d", value_parser = humantime::parse_duration)]
        acme_retry_max: std::time::Duration,
    },
    /// Make a new data directory (missing or empty) whose first version has your domain, host
    /// names and a first admin user, instead of the template's example values (offline, before
    /// the first `serve`). Prints the admin access token once.
    Init(init::InitArgs),
    /// Validate a checkout of the config repository (model and templates) and print every problem.
    Check {
        /// The checkout's root folder.
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Render a checkout's `rendered/` files exactly as the server does (preview, pre-commit).
    Render {
        /// The checkout's root folder.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Write every rendered file into this new or empty folder (`OUT/<service>/<path>`)
        /// instead of updating `DIR/rendered/`.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The server's access tokens, offline on the data directory (the server must be stopped).
    #[command(name = "access-token")]
    AccessToken {
        #[command(subcommand)]
        command: access_token::Command,
    },
    /// Domains (through the REST API at --server).
    Domain {
        #[command(flatten)]
        connection: admin::Connection,
        #[command(subcommand)]
        command: admin::domain::DomainCommand,
    },
    /// Alternative names of domains (through the REST API).
    Alternative {
        #[command(flatten)]
        connection: admin::Connection,
        #[command(subcommand)]
        command: admin::domain::AlternativeCommand,
    },
    /// Relayed domains (through the REST API).
    Relay {
        #[command(flatten)]
        connection: admin::Connection,
        #[command(subcommand)]
        command: admin::domain::RelayCommand,
    },
    /// Domain managers (through the REST API).
    Manager {
        #[command(flatten)]
        connection: admin::Connection,
        #[command(subcommand)]
        command: admin::domain::ManagerCommand,
    },
    /// DKIM keys of domains (through the REST API).
    Dkim {
        #[command(flatten)]
        connection: admin::Connection,
        #[command(subcommand)]
        command: admin::domain::DkimCommand,
    },
    /// Users and their app tokens (through the REST API).
    User {
        #[command(flatten)]
        connection: admin::Connection,
        #[command(subcommand)]
        command: admin::user::UserCommand,
    },
    /// Aliases (through the REST API).
    Alias {
        #[command(flatten)]
        connection: admin::Connection,
        #[command(subcommand)]
        command: admin::user::AliasCommand,
    },
    /// Accounts fetched into users' mailboxes (through the REST API).
    Fetch {
        #[command(flatten)]
        connection: admin::Connection,
        #[command(subcommand)]
        command: admin::fetch::FetchCommand,
    },
    /// The global settings, mailu.toml (through the REST API).
    Settings {
        #[command(flatten)]
        connection: admin::Connection,
        #[command(subcommand)]
        command: admin::settings::SettingsCommand,
    },
    /// The TLS certificate of front, smtp and imap (through the REST API).
    Certificate {
        #[command(flatten)]
        connection: admin::Connection,
        #[command(subcommand)]
        command: admin::certificate::CertificateCommand,
    },
    /// The services the worker deploys (through the REST API).
    Service {
        #[command(flatten)]
        connection: admin::Connection,
        #[command(subcommand)]
        command: admin::service::ServiceCommand,
    },
    /// The operator's files that replace a service's rendered files (through the REST API).
    Override {
        #[command(flatten)]
        connection: admin::Connection,
        #[command(subcommand)]
        command: admin::overrides::OverrideCommand,
    },
    /// The repository's templates, replacing a service's built-in ones (through the REST API).
    Template {
        #[command(flatten)]
        connection: admin::Connection,
        #[command(subcommand)]
        command: admin::overrides::TemplateCommand,
    },
    /// Mailu's override files (postfix.cf, nginx/*.conf, ...), with Mailu's meaning (through the
    /// REST API).
    MailuOverride {
        #[command(flatten)]
        connection: admin::Connection,
        #[command(subcommand)]
        command: admin::overrides::MailuOverrideCommand,
    },
    /// The changes acknowledged by the server but not yet in a version.
    Pending {
        #[command(flatten)]
        connection: admin::Connection,
    },
    /// Whether a change (by the id a write printed) is in a version yet.
    Change {
        id: String,
        #[command(flatten)]
        connection: admin::Connection,
    },
    /// Names for versions; cleanup keeps every tagged version (through the REST API).
    Tag {
        #[command(flatten)]
        connection: admin::Connection,
        #[command(subcommand)]
        command: admin::cleanup::TagCommand,
    },
    /// Clean up old versions now, by mailu.toml's [history] policy (through the REST API).
    Gc {
        #[command(flatten)]
        connection: admin::Connection,
    },
    /// Secrets kept encrypted in the repository.
    /// The versions, newest first.
    Log {
        /// How many versions to show.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[command(flatten)]
        connection: admin::Connection,
    },
    /// One version and the files it changed.
    Show {
        /// A version number, a (short) commit id, a tag, or main.
        rev: String,
        #[command(flatten)]
        connection: admin::Connection,
    },
    /// The diff from version A to version B (secrets shown as changed only).
    Diff {
        a: String,
        b: String,
        /// Only this service's rendered files.
        #[arg(long)]
        service: Option<String>,
        #[command(flatten)]
        connection: admin::Connection,
    },
    /// Commit a new version whose configuration is REV's: the WHOLE configuration returns, users'
    /// passwords and secrets included. Asks first on a terminal.
    Revert {
        rev: String,
        /// Do not ask (scripts). Without a terminal and without --yes, nothing is reverted.
        #[arg(long)]
        yes: bool,
        /// While deployment is suspended, move the hold to the new version (deploy it).
        #[arg(long)]
        deploy: bool,
        /// Act offline on this data directory (the server must be stopped).
        #[arg(long)]
        data: Option<PathBuf>,
        #[command(flatten)]
        connection: admin::Connection,
    },
    /// Suspend deployment: what is deployed stays; writes and pushes keep landing on main.
    Suspend {
        /// Act offline on this data directory (the server must be stopped).
        #[arg(long)]
        data: Option<PathBuf>,
        #[command(flatten)]
        connection: admin::Connection,
    },
    /// Resume deployment: main is deployed again.
    Resume {
        /// Act offline on this data directory (the server must be stopped).
        #[arg(long)]
        data: Option<PathBuf>,
        #[command(flatten)]
        connection: admin::Connection,
    },
    /// Run the Docker worker: follow the deployed version and make our containers match it
    /// (`docs/deploy.md`). The token (worker scope) comes from MAILU_GIT_WORKER_TOKEN only.
    Worker {
        /// The server's base URL, as the worker reaches it.
        #[arg(long, env = "MAILU_GIT_URL", default_value = crate::client::DEFAULT_URL)]
        url: String,
        /// The label that marks this stack's containers, and their names' prefix.
        #[arg(long, default_value = "mailu")]
        project: String,
        /// The server's base URL, as the containers reach it.
        #[arg(long, default_value = "http://admin:8080")]
        server_url_for_containers: String,
        /// Create the server's own container (`<project>-admin`) from this image when none
        /// exists; without it the worker never creates the server.
        #[arg(long)]
        server_image: Option<String>,
        /// The named volume of the created server's data dir.
        #[arg(long, default_value = "mailu-git-data")]
        server_volume: String,
        /// The network the created server joins (as `admin`).
        #[arg(long, default_value = "mailu")]
        server_network: String,
        /// Publish the created server's API on the host at IP:PORT (e.g. 127.0.0.1:8080).
        #[arg(long, value_parser = crate::worker::server::parse_publish)]
        server_publish: Option<(String, u16)>,
    },
    /// Run the server from another image: sets services/admin.toml's `image` (a version); the
    /// worker then replaces the server's container, or puts the old one back if the new one does
    /// not serve (docs/deploy.md, "Upgrading"). Take a backup first (`mailu-git backup`).
    Upgrade {
        #[command(flatten)]
        args: upgrade::UpgradeArgs,
        #[command(flatten)]
        connection: admin::Connection,
    },
    /// Main and deployed versions, suspension, pending changes, whether writes work.
    Status {
        /// Read offline from this data directory (the server must be stopped).
        #[arg(long)]
        data: Option<PathBuf>,
        #[command(flatten)]
        connection: admin::Connection,
    },
    /// Back up the whole server (repository, secret key, access-token hashes, journal) as one
    /// archive: through the API while it runs, or offline with --data (docs/operations.md).
    Backup(backup::BackupArgs),
    /// Rebuild a data directory from a backup, on a new host (offline; then `serve --data DIR`).
    Restore(backup::RestoreArgs),
    Secret {
        #[command(subcommand)]
        command: secrets::SecretCommand,
    },
    /// Run by the server's `git receive-pack` as a push hook; not for people.
    /// Import a Mailu `config-export` document (YAML or JSON) as one change: by default its
    /// domains, users, aliases and relays replace the current ones; `--update` merges.
    Import {
        #[command(flatten)]
        args: migrate::ImportArgs,
        #[command(flatten)]
        connection: admin::Connection,
    },
    /// Export the configuration as a Mailu `config-export` document (YAML; password hashes
    /// included), so it can be imported into Mailu or back.
    Export {
        #[command(flatten)]
        args: migrate::ExportArgs,
        #[command(flatten)]
        connection: admin::Connection,
    },
    #[command(hide = true)]
    Hook {
        /// `pre-receive` or `proc-receive`.
        name: String,
    },
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("mailu-git: error: {err:#}");
            ExitCode::from(1)
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MAILU_GIT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve {
            data,
            listen,
            secret_key,
            git_max_pack,
            git_timeout,
            git_push_wait,
            repack_loose,
            repack_every,
            acme_directory,
            acme_ca,
            tls_check,
            acme_retry,
            acme_retry_max,
        } => {
            let runtime =
                tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            let mut options = server::Options::new(data, listen);
            options.secret_key = secret_key;
            options.git.max_pack = git_max_pack;
            options.git.timeout = git_timeout;
            options.git.push_wait = git_push_wait;
            options.repack.loose_limit = repack_loose;
            options.repack.every = repack_every;
            options.tls.acme_directory = acme_directory;
            options.tls.acme_ca = acme_ca;
            options.tls.check = tls_check;
            options.tls.retry_min = acme_retry;
            options.tls.retry_max = acme_retry_max;
            // Read from the environment only, never from arguments, which other users can see.
            options.admin_token = env_token("MAILU_GIT_ADMIN_TOKEN")?;
            options.worker_token = env_token("MAILU_GIT_WORKER_TOKEN")?;
            runtime.block_on(server::serve(options))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Worker {
            url,
            project,
            server_url_for_containers,
            server_image,
            server_volume,
            server_network,
            server_publish,
        } => {
            // Read from the environment only, never from arguments, which other users can see.
            let token = env_token("MAILU_GIT_WORKER_TOKEN")?
                .context("MAILU_GIT_WORKER_TOKEN must hold a worker (or admin) access token")?;
            let runtime =
                tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            let server = server_image.map(|image| crate::worker::server::ServerContainer {
                image,
                volume: server_volume,
                network: server_network,
                publish: server_publish,
            });
            runtime.block_on(crate::worker::supervise::run(
                crate::worker::reconcile::Options {
                    url,
                    token,
                    project,
                    server_url_for_containers,
                    server,
                },
            ))
        }
        Command::Init(args) => init::run(args),
        Command::Check { dir } => render::check(&dir),
        Command::Backup(args) => backup::backup(args),
        Command::Restore(args) => backup::restore(args),
        Command::Hook { name } => Ok(crate::githttp::hook::run(&name)),
        Command::Render { dir, out } => render::render(&dir, out),
        Command::AccessToken { command } => access_token::run(command),
        Command::Domain {
            connection,
            command,
        } => admin::domain::domain(&admin::Session::open(connection)?, command),
        Command::Alternative {
            connection,
            command,
        } => admin::domain::alternative(&admin::Session::open(connection)?, command),
        Command::Relay {
            connection,
            command,
        } => admin::domain::relay(&admin::Session::open(connection)?, command),
        Command::Manager {
            connection,
            command,
        } => admin::domain::manager(&admin::Session::open(connection)?, command),
        Command::Dkim {
            connection,
            command,
        } => admin::domain::dkim(&admin::Session::open(connection)?, command),
        Command::Fetch {
            connection,
            command,
        } => admin::fetch::fetch(&admin::Session::open(connection)?, command),
        Command::Service {
            connection,
            command,
        } => admin::service::service(&admin::Session::open(connection)?, command),
        Command::Override {
            connection,
            command,
        } => admin::overrides::overrides(&admin::Session::open(connection)?, command),
        Command::Template {
            connection,
            command,
        } => admin::overrides::templates(&admin::Session::open(connection)?, command),
        Command::MailuOverride {
            connection,
            command,
        } => admin::overrides::mailu_overrides(&admin::Session::open(connection)?, command),
        Command::User {
            connection,
            command,
        } => admin::user::user(&admin::Session::open(connection)?, command),
        Command::Alias {
            connection,
            command,
        } => admin::user::alias(&admin::Session::open(connection)?, command),
        Command::Settings {
            connection,
            command,
        } => admin::settings::settings(&admin::Session::open(connection)?, command),
        Command::Certificate {
            connection,
            command,
        } => admin::certificate::certificate(&admin::Session::open(connection)?, command),
        Command::Pending { connection } => {
            admin::settings::pending(&admin::Session::open(connection)?)
        }
        Command::Change { id, connection } => {
            admin::settings::change(&admin::Session::open(connection)?, &id)
        }
        Command::Tag {
            connection,
            command,
        } => admin::cleanup::tag(&admin::Session::open(connection)?, command),
        Command::Import { args, connection } => migrate::import(connection, args),
        Command::Export { args, connection } => migrate::export(connection, args),
        Command::Gc { connection } => admin::cleanup::gc(&admin::Session::open(connection)?),
        Command::Log { limit, connection } => versions::log(connection, limit),
        Command::Show { rev, connection } => versions::show(connection, &rev),
        Command::Diff {
            a,
            b,
            service,
            connection,
        } => versions::diff(connection, &a, &b, service.as_deref()),
        Command::Revert {
            rev,
            yes,
            deploy,
            data,
            connection,
        } => versions::revert(versions::Target::new(connection, data), &rev, yes, deploy),
        Command::Suspend { data, connection } => {
            versions::hold(versions::Target::new(connection, data), true)
        }
        Command::Resume { data, connection } => {
            versions::hold(versions::Target::new(connection, data), false)
        }
        Command::Status { data, connection } => {
            versions::status(versions::Target::new(connection, data))
        }
        Command::Secret { command } => secrets::run(command),
        Command::Upgrade { args, connection } => upgrade::run(connection, args),
    }
}

/// A token from the environment; unset and empty both mean none.
fn env_token(var: &str) -> anyhow::Result<Option<String>> {
    match std::env::var(var) {
        Ok(v) if v.is_empty() => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => anyhow::bail!("{var} is not valid UTF-8"),
    }
}
