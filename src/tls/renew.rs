//! The background task that keeps the certificate fit for the configuration. At start and every
//! `check` interval it looks at the acknowledged state:
//! - no certificate (or no key), or a self-signed one that no longer covers `mail.hostnames`: a new
//!   self-signed certificate (any flavor);
//! - `tls.flavor` "letsencrypt" or "mail-letsencrypt" and a certificate that is not from ACME, does
//!   not cover the host names, or expires within `tls.renew_before_days`: an ACME order.
//!
//! Each new certificate is one change through the versioner (journaled, then a version). A failed
//! order is recorded in [`Shared`] and retried after an exponential backoff (`retry_min` doubling
//! up to `retry_max`); the certificate in place stays. The key is reused across renewals, so the
//! `TLSA 3 1 1` record published for it stays valid.

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;

use super::{Key, Shared, Source, acme};
use crate::model::settings::TlsFlavor;
use crate::secret::Keyring;
use crate::versioner::{self, Versioner};

/// How the task runs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub acme: acme::Settings,
    /// How often the certificate is looked at.
    pub check: Duration,
    /// The first retry after a failure; doubled after each further failure, up to `retry_max`.
    pub retry_min: Duration,
    pub retry_max: Duration,
}

impl Settings {
    pub fn new(acme: acme::Settings) -> Settings {
        Settings {
            acme,
            check: Duration::from_secs(60),
            retry_min: Duration::from_secs(60),
            retry_max: Duration::from_secs(24 * 3600),
        }
    }
}

/// What one look at the state decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// Nothing to do.
    Nothing,
    /// A new self-signed certificate, for this reason.
    SelfSigned(&'static str),
    /// An ACME order for these names, for this reason; `expiring` when the only reason is the
    /// renewal window.
    Acme {
        names: Vec<String>,
        why: String,
        expiring: bool,
    },
}

/// Decides what the state needs at `now`.
pub fn due(state: &versioner::State, now: i64) -> Due {
    let Ok(config) = state.config() else {
        return Due::Nothing;
    };
    let stored = super::stored(|p| state.read(p).ok().flatten());
    if let Some(why) = super::self_signed_needed(config, stored.as_ref()) {
        return Due::SelfSigned(why);
    }
    let tls = &config.settings.tls;
    if !matches!(
        tls.flavor,
        TlsFlavor::Letsencrypt | TlsFlavor::MailLetsencrypt
    ) {
        return Due::Nothing;
    }
    let names: Vec<String> = config
        .settings
        .mail
        .hostnames
        .iter()
        .map(|h| h.to_string())
        .collect();
    let Some(s) = stored else {
        return Due::Nothing;
    };
    let (why, expiring) = if s.source != Source::Acme {
        ("tls.flavor asks for an ACME certificate".to_owned(), false)
    } else if s
        .chain
        .check_hostnames(&config.settings.mail.hostnames)
        .is_err()
    {
        ("the host names changed".to_owned(), false)
    } else if s.chain.info.not_after - now < i64::from(tls.renew_before_days) * 86_400 {
        let why = format!(
            "it expires within {} days (tls.renew_before_days)",
            tls.renew_before_days
        );
        (why, true)
    } else {
        return Due::Nothing;
    };
    Due::Acme {
        names,
        why,
        expiring,
    }
}

/// Runs until the process ends.
pub async fn run(
    versioner: Versioner,
    keyring: Arc<Keyring>,
    shared: Arc<Shared>,
    settings: Settings,
) {
    // A new version may change the host names or the flavor: look at once, not at the next
    // check, so a self-signed certificate follows `mail.hostnames` within moments. A failure's
    // backoff is kept whatever arrives meanwhile (a CA is not asked again sooner).
    let mut versions = versioner.versions();
    loop {
        match step(&versioner, &keyring, &shared, &settings).await {
            Ok(()) => {
                tokio::select! {
                    () = tokio::time::sleep(settings.check) => {}
                    changed = versions.changed() => {
                        if changed.is_err() {
                            return;
                        }
                    }
                }
            }
            Err(backoff) => tokio::time::sleep(backoff).await,
        }
    }
}

/// One look, and what it calls for. `Err` carries the backoff before the next look.
async fn step(
    versioner: &Versioner,
    keyring: &Keyring,
    shared: &Shared,
    settings: &Settings,
) -> Result<(), Duration> {
    let now = super::now();
    let decision = {
        let state = versioner.state();
        due(&state, now)
    };
    match decision {
        Due::Nothing => Ok(()),
        Due::SelfSigned(why) => {
            if let Err(err) = write_self_signed(versioner, keyring, why).await {
                tracing::error!(error = %err, "cannot make a self-signed certificate");
            }
            Ok(())
        }
        Due::Acme {
            names,
            why,
            expiring,
        } => {
            // A window longer than the CA's certificates makes every new one due at once: renew
            // for that reason at most once per `retry_max`, not at every look.
            if expiring
                && shared
                    .last_success()
                    .is_some_and(|at| now - at < settings.retry_max.as_secs() as i64)
            {
                tracing::warn!(%why, "renewed less than --acme-retry-max ago: is tls.renew_before_days longer than the CA's certificates last?");
                return Ok(());
            }
            tracing::info!(names = ?names, %why, directory = %settings.acme.directory, "requesting a certificate");
            match order(versioner, keyring, shared, settings, &names).await {
                Ok(()) => {
                    shared.record(super::now(), None, None);
                    tracing::info!(names = ?names, "installed the ACME certificate");
                    Ok(())
                }
                Err(err) => {
                    let wait = backoff(settings, shared.failures());
                    let next = super::now() + wait.as_secs() as i64;
                    tracing::error!(error = %err, retry_in = ?wait, "the certificate could not be renewed; the current one stays");
                    shared.record(super::now(), Some(err), Some(next));
                    Err(wait)
                }
            }
        }
    }
}

/// `retry_min * 2^failures`, at most `retry_max` (`failures` made so far, before this one).
pub fn backoff(settings: &Settings, failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.min(30));
    settings
        .retry_min
        .saturating_mul(factor)
        .min(settings.retry_max)
}

/// Why a write of the task did not happen.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Another writer was first: nothing is needed any more.
    #[error("nothing to do")]
    Skip,
    #[error(transparent)]
    Versioner(#[from] versioner::Error),
    #[error(transparent)]
    Tls(#[from] super::Error),
}

/// Makes a self-signed certificate for the acknowledged host names, as one change.
pub async fn write_self_signed(
    versioner: &Versioner,
    keyring: &Keyring,
    why: &'static str,
) -> Result<(), WriteError> {
    let made = versioner
        .write(|state| {
            let now = super::now();
            // Checked again under the writer lock: another writer may have been first.
            let config = state.config().map_err(|_| WriteError::Skip)?;
            let stored = super::stored(|p| state.read(p).ok().flatten());
            if super::self_signed_needed(config, stored.as_ref()).is_none() {
                return Err(WriteError::Skip);
            }
            let edits = super::self_signed_edits(config, now, |b| keyring.encrypt(b))?;
            Ok(versioner::Change {
                author: "mailu-git".into(),
                summary: format!("Make a self-signed certificate ({why})"),
                edits,
            })
        })
        .await;
    match made {
        Ok(_) => {
            tracing::info!(%why, "made a self-signed certificate");
            Ok(())
        }
        Err(WriteError::Skip) => Ok(()),
        Err(err) => Err(err),
    }
}

/// One ACME order with the current key (a new one when there is none), installed as one change.
async fn order(
    versioner: &Versioner,
    keyring: &Keyring,
    shared: &Shared,
    settings: &Settings,
    names: &[String],
) -> Result<(), String> {
    let current = versioner
        .state()
        .read(&super::key_path())
        .ok()
        .flatten()
        .and_then(|bytes| keyring.decrypt(&bytes).ok())
        .and_then(|plain| Key::parse(plain.expose_secret()).ok());
    let key = match current {
        Some(key) => key,
        None => Key::generate().map_err(|e| e.to_string())?,
    };
    let chain = acme::obtain(&settings.acme, names, &key, shared)
        .await
        .map_err(|e| e.to_string())?;
    let parsed = super::cert::parse_chain(chain.as_bytes()).map_err(|e| e.to_string())?;
    parsed.check_key(&key).map_err(|e| e.to_string())?;
    let summary = format!("Install the ACME certificate for {}", names.join(", "));
    versioner
        .write(|_state| {
            let edits = super::edits(&chain, &key, Source::Acme, |b| keyring.encrypt(b))
                .map_err(super::Error::from)?;
            Ok::<_, WriteError>(versioner::Change {
                author: "mailu-git".into(),
                summary,
                edits,
            })
        })
        .await
        .map(|_| ())
        .map_err(|e| format!("the certificate was issued but cannot be stored: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let acme = acme::Settings {
            directory: acme::LETS_ENCRYPT.into(),
            ca: None,
            account_dir: "unused".into(),
            contact: None,
            timeout: Duration::from_secs(1),
        };
        let s = Settings::new(acme);
        assert_eq!(backoff(&s, 0), Duration::from_secs(60));
        assert_eq!(backoff(&s, 1), Duration::from_secs(120));
        assert_eq!(backoff(&s, 4), Duration::from_secs(960));
        assert_eq!(backoff(&s, 20), s.retry_max);
        assert_eq!(backoff(&s, u32::MAX), s.retry_max);
    }
}
