//! Obtaining a certificate from an ACME server (RFC 8555) with `instant-acme`, answering HTTP-01:
//! the key authorizations are published in [`Shared`] and served by the server at
//! `/.well-known/acme-challenge/<token>` (front proxies that path to mailu-git on port 80).
//!
//! The ACME account lives in the data directory (`<data>/acme/account-<hash of the directory
//! URL>.json`, mode 0600), not in the repository: it is the server's identity towards one CA, not
//! configuration; a revert must not swap it, and a clone needs nothing of it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
use sha2::{Digest, Sha256};

use super::Shared;
use super::cert::Key;

/// Let's Encrypt's production directory, the default.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// How the server talks to its ACME server.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The directory URL.
    pub directory: String,
    /// A PEM file of the CA that signs the ACME server's own HTTPS certificate (a test CA such as
    /// pebble's); `None` trusts the system's roots.
    pub ca: Option<PathBuf>,
    /// Where the account credentials are kept (`<data>/acme`).
    pub account_dir: PathBuf,
    /// The contact address given to the CA (`mailto:` is added).
    pub contact: Option<String>,
    /// How long one order may take, from creation to the certificate.
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("ACME: {0}")]
    Acme(#[from] instant_acme::Error),
    #[error("ACME account file {path}: {reason}")]
    Account { path: PathBuf, reason: String },
    #[error("ACME: the authorization for {name} is {status}")]
    Authorization { name: String, status: String },
    #[error("ACME: the server offers no http-01 challenge for {0}")]
    NoHttp01(String),
    #[error("ACME: the order ended {0}")]
    Order(String),
    #[error("ACME: the certificate request cannot be made: {0}")]
    Csr(String),
    #[error("ACME: no host names to ask a certificate for (mail.hostnames)")]
    NoNames,
}

/// Orders a certificate for `names` with `key` and returns its chain (PEM). The challenges are
/// published in `shared` while the order runs and removed after.
pub async fn obtain(
    settings: &Settings,
    names: &[String],
    key: &Key,
    shared: &Shared,
) -> Result<String, Error> {
    if names.is_empty() {
        return Err(Error::NoNames);
    }
    let account = account(settings).await?;
    let identifiers: Vec<Identifier> = names.iter().map(|n| Identifier::Dns(n.clone())).collect();
    let mut order = account.new_order(&NewOrder::new(&identifiers)).await?;
    let mut tokens = Vec::new();
    let result = async {
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz?;
            match authz.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => {
                    return Err(Error::Authorization {
                        name: authz.identifier().to_string(),
                        status: format!("{other:?}").to_lowercase(),
                    });
                }
            }
            let name = authz.identifier().to_string();
            let mut challenge = authz
                .challenge(ChallengeType::Http01)
                .ok_or(Error::NoHttp01(name))?;
            shared.add_challenge(
                challenge.token.clone(),
                challenge.key_authorization().as_str().to_owned(),
            );
            tokens.push(challenge.token.clone());
            challenge.set_ready().await?;
        }
        let retry = RetryPolicy::new()
            .initial_delay(Duration::from_millis(100))
            .timeout(settings.timeout);
        let status = order.poll_ready(&retry).await?;
        if status != OrderStatus::Ready {
            let detail = order
                .state()
                .error
                .as_ref()
                .map(|p| format!(": {p}"))
                .unwrap_or_default();
            return Err(Error::Order(format!(
                "{}{detail}",
                format!("{status:?}").to_lowercase()
            )));
        }
        let mut params =
            rcgen::CertificateParams::new(names.to_vec()).map_err(|e| Error::Csr(e.to_string()))?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        let csr = params
            .serialize_request(key.pair())
            .map_err(|e| Error::Csr(e.to_string()))?;
        order.finalize_csr(csr.der()).await?;
        Ok(order.poll_certificate(&retry).await?)
    }
    .await;
    for t in &tokens {
        shared.remove_challenge(t);
    }
    result
}

/// The account for the directory: loaded from its file, or created (and saved) the first time.
async fn account(settings: &Settings) -> Result<Account, Error> {
    let path = account_file(&settings.account_dir, &settings.directory);
    let builder = || match &settings.ca {
        Some(ca) => Account::builder_with_root(ca),
        None => Account::builder(),
    };
    if let Ok(text) = std::fs::read(&path) {
        let credentials: AccountCredentials =
            serde_json::from_slice(&text).map_err(|e| Error::Account {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        return Ok(builder()?.from_credentials(credentials).await?);
    }
    let contact = settings.contact.as_ref().map(|c| format!("mailto:{c}"));
    let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
    let (account, credentials) = builder()?
        .create(
            &NewAccount {
                contact: &contacts,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            settings.directory.clone(),
            None,
        )
        .await?;
    save_account(&path, &credentials).map_err(|e| Error::Account {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    tracing::info!(directory = %settings.directory, "created an ACME account");
    Ok(account)
}

fn account_file(dir: &Path, directory: &str) -> PathBuf {
    let hash = hex::encode(Sha256::digest(directory.as_bytes()));
    dir.join(format!("account-{}.json", &hash[..16]))
}

/// Writes the credentials with mode 0600, atomically and durably.
fn save_account(path: &Path, credentials: &AccountCredentials) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().expect("the account file is in a folder");
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(&serde_json::to_vec(credentials).map_err(std::io::Error::other)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}
