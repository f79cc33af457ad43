//! `mailu-git secret encrypt|rotate|recipient`: secrets for a push (encrypted for the server's
//! recipient, which anyone may use), and the offline rotation of the server's key.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use crate::model::SecretRef;
use crate::{data_dir, secret, server};

#[derive(Debug, Subcommand)]
pub(super) enum SecretCommand {
    /// Encrypt a secret read from standard input for the server, to commit as `secrets/KIND/NAME`.
    Encrypt {
        /// The secret's kind (`dkim`, `fetch`, `relay`, ...).
        kind: String,
        /// The secret's name within its kind.
        name: String,
        /// The server's age recipient (`age1...`); see `mailu-git secret recipient`.
        #[arg(long, conflicts_with = "data")]
        recipient: Option<String>,
        /// Ask this server for its recipient (`GET /api/v1/secret/recipient`, read scope).
        #[arg(long, env = "MAILU_GIT_URL", conflicts_with = "recipient")]
        server: Option<String>,
        /// The access token for --server (read scope is enough).
        #[arg(long, env = "MAILU_GIT_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Read the recipient from this data directory instead (offline, on the server's machine).
        #[arg(long, env = "MAILU_GIT_DATA")]
        data: Option<PathBuf>,
        /// Write to this file instead of `secrets/KIND/NAME` under the current directory; `-` for stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Make a new secret key (keeping the old ones for older versions) and re-encrypt the current
    /// secrets to it, as one version. Offline: stop the server first.
    Rotate {
        #[arg(long, env = "MAILU_GIT_DATA", default_value = data_dir::DEFAULT)]
        data: PathBuf,
        /// The secret key file, if not `<data>/secret.key`.
        #[arg(long, env = "MAILU_GIT_SECRET_KEY")]
        secret_key: Option<PathBuf>,
    },
    /// Print the server's age recipient, which anyone may use to encrypt a secret for it.
    Recipient {
        #[arg(long, env = "MAILU_GIT_DATA", default_value = data_dir::DEFAULT)]
        data: PathBuf,
        /// The secret key file, if not `<data>/secret.key`.
        #[arg(long, env = "MAILU_GIT_SECRET_KEY")]
        secret_key: Option<PathBuf>,
    },
}

/// Runs one `secret` command.
pub(super) fn run(command: SecretCommand) -> anyhow::Result<ExitCode> {
    match command {
        SecretCommand::Encrypt {
            kind,
            name,
            recipient,
            server,
            token,
            data,
            output,
        } => {
            let source = match (recipient, server, data) {
                (Some(recipient), _, _) => RecipientSource::Given(recipient),
                (None, Some(url), _) => RecipientSource::Server { url, token },
                (None, None, Some(data)) => RecipientSource::DataDir(data),
                (None, None, None) => anyhow::bail!(
                    "say whose secret this is: --recipient age1... (ask the server's admin), \
                 --server URL with --token (the server publishes its recipient), or --data DIR \
                 on the server's machine"
                ),
            };
            secret_encrypt(&kind, &name, source, output)
        }
        SecretCommand::Rotate { data, secret_key } => secret_rotate(&data, secret_key),
        SecretCommand::Recipient { data, secret_key } => {
            let dir = data_dir::DataDir::open(&data)?;
            let keyring = secret::Keyring::load(&secret_key.unwrap_or_else(|| dir.secret_key()))?;
            println!("{}", keyring.recipient());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `mailu-git secret rotate`: the key first (so a crash after it leaves a usable keyring that still
/// decrypts everything), then one version with every secret re-encrypted to the new key.
fn secret_rotate(data: &Path, secret_key: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let dir = data_dir::DataDir::open(data)?;
    let key_file = secret_key.unwrap_or_else(|| dir.secret_key());
    let store = crate::store::Store::open(&dir.repo())
        .with_context(|| format!("cannot open the repository in {}", data.display()))?;
    let keyring = secret::Keyring::rotate(&key_file)?;
    let head = store.head()?;
    let snapshot = store.snapshot(&crate::store::Rev::Commit(head))?;
    let secrets_dir = crate::model::RepoPath::parse("secrets").expect("a constant valid path");
    let mut files = Vec::new();
    for (path, _) in snapshot.list(&secrets_dir)? {
        let bytes = snapshot.read(&path)?.unwrap_or_default();
        files.push((path, bytes));
    }
    let edits: Vec<crate::store::Edit> = keyring
        .reencrypt(files.iter().map(|(p, b)| (p, b.as_slice())))?
        .into_iter()
        .map(|(path, bytes)| crate::store::Edit::write(path, bytes))
        .collect();
    println!(
        "mailu-git: new secret key; recipient {}",
        keyring.recipient()
    );
    if edits.is_empty() {
        println!("mailu-git: no secret needed re-encrypting");
        return Ok(ExitCode::SUCCESS);
    }
    let secrets = edits.len();
    // Placeholders name each secret's blob: the rendered files change with them, in this version.
    let mut tree = snapshot.files()?;
    for e in &edits {
        if let Some(c) = &e.content {
            tree.insert(e.path.clone(), c.clone());
        }
    }
    let config = crate::model::load(&tree)
        .map_err(|problems| anyhow::anyhow!("main does not load:\n{problems}"))?;
    let rendered = crate::render::render(&config, &tree, crate::render::Scope::Full)?;
    let mut edits = edits;
    edits.extend(rendered.edits);
    let meta = crate::store::CommitMeta {
        renderer: Some(crate::render::stamp().to_owned()),
        ..crate::store::CommitMeta::new(
            server::server_person(),
            "Re-encrypt the secrets to a new key",
        )
    };
    let version = store.commit(head, &edits, &meta)?;
    println!(
        "mailu-git: re-encrypted {secrets} secret(s) in version {}",
        version.number
    );
    Ok(ExitCode::SUCCESS)
}

/// Where `secret encrypt` finds the server's age recipient.
enum RecipientSource {
    Given(String),
    Server { url: String, token: Option<String> },
    DataDir(PathBuf),
}

fn secret_encrypt(
    kind: &str,
    name: &str,
    source: RecipientSource,
    output: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let secret_ref = SecretRef::new(kind, name)?;
    let recipient = match source {
        RecipientSource::Given(r) => r,
        RecipientSource::DataDir(data) => {
            let dir = data_dir::DataDir::open(&data)?;
            secret::Keyring::load(&dir.secret_key())?.recipient()
        }
        RecipientSource::Server { url, token } => {
            let token =
                token.context("--server needs an access token: --token or MAILU_GIT_TOKEN")?;
            let runtime =
                tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            let answer: crate::api::secret::Recipient = runtime
                .block_on(crate::client::Client::new(&url, &token).get("secret/recipient"))?;
            answer.recipient
        }
    };
    let mut plaintext = Vec::new();
    std::io::stdin()
        .read_to_end(&mut plaintext)
        .context("cannot read the secret from standard input")?;
    let ciphertext = secret::encrypt_for_recipient(&recipient, &plaintext)?;
    let target = output.unwrap_or_else(|| {
        PathBuf::from(format!("secrets/{}/{}", secret_ref.kind, secret_ref.name))
    });
    if target.as_os_str() == "-" {
        std::io::stdout().write_all(&ciphertext)?;
    } else {
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&target, &ciphertext)
            .with_context(|| format!("cannot write {}", target.display()))?;
        eprintln!("mailu-git: wrote {} (commit and push it)", target.display());
    }
    Ok(ExitCode::SUCCESS)
}
