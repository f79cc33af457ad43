//! What the server shows of its certificate: [`Summary`] (for `GET /api/v1/certificate`, `/metrics`
//! and the status page), and [`Shared`], the state the renewal task and the HTTP side share: the last
//! renewal attempt and the pending HTTP-01 challenges. Neither is configuration, so both live in
//! memory; after a restart the renewal task checks again at once.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use serde::Serialize;

use super::cert::format_time;
use super::{Source, Stored};

/// The last renewal attempt.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Attempt {
    /// When it ended (RFC 3339), `None` before the first.
    pub at: Option<String>,
    /// Unix seconds of `at`.
    #[serde(skip)]
    pub at_unix: Option<i64>,
    /// Why it failed; `None` when it succeeded.
    pub error: Option<String>,
    /// Failures in a row (the backoff grows with them).
    pub failures: u32,
    /// When the next attempt is planned (RFC 3339), if one is.
    pub next: Option<String>,
}

/// State shared by the renewal task and the HTTP handlers.
#[derive(Debug, Default)]
pub struct Shared {
    attempt: Mutex<Attempt>,
    /// HTTP-01 tokens and their key authorizations while an order is being validated.
    challenges: Mutex<HashMap<String, String>>,
    /// Attempts made (successful or not), for `/metrics`.
    attempts: std::sync::atomic::AtomicU64,
    /// When the last successful attempt ended (Unix seconds).
    last_success: Mutex<Option<i64>>,
}

impl Shared {
    pub fn attempt(&self) -> Attempt {
        self.attempt
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Records the end of an attempt (`error` = `None` on success) and when the next one is planned.
    pub fn record(&self, now: i64, error: Option<String>, next: Option<i64>) {
        let mut a = self.attempt.lock().unwrap_or_else(|e| e.into_inner());
        a.failures = if error.is_some() { a.failures + 1 } else { 0 };
        a.at = Some(format_time(now));
        a.at_unix = Some(now);
        a.error = error;
        a.next = next.map(format_time);
        if a.error.is_none() {
            *self.last_success.lock().unwrap_or_else(|e| e.into_inner()) = Some(now);
        }
        self.attempts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// When the last successful attempt ended.
    pub fn last_success(&self) -> Option<i64> {
        *self.last_success.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Failures in a row so far.
    pub fn failures(&self) -> u32 {
        self.attempt
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .failures
    }

    pub fn add_challenge(&self, token: String, key_authorization: String) {
        self.challenges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token, key_authorization);
    }

    pub fn remove_challenge(&self, token: &str) {
        self.challenges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(token);
    }

    /// The key authorization of a pending HTTP-01 challenge.
    pub fn challenge(&self, token: &str) -> Option<String> {
        self.challenges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
            .cloned()
    }
}

/// The certificate in use and its renewal, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Summary {
    /// `self-signed`, `uploaded` or `acme`.
    pub source: Source,
    /// The DNS names it covers (subject alternative names).
    pub hostnames: Vec<String>,
    pub subject: String,
    pub issuer: String,
    /// RFC 3339, UTC.
    pub not_before: String,
    pub not_after: String,
    /// Seconds until it expires (negative once expired).
    pub expires_in: i64,
    pub serial: String,
    /// Certificates in the chain, the leaf included.
    pub chain_length: usize,
    /// Whether it covers every name of `mail.hostnames`.
    pub covers_hostnames: bool,
    /// SHA-256 of the leaf's public key (SubjectPublicKeyInfo), hex: the `TLSA 3 1 1` data.
    pub spki_sha256: String,
    /// The last renewal attempt (ACME, `tls.flavor` "letsencrypt" or "mail-letsencrypt").
    pub renewal: Attempt,
}

/// The summary of `stored` at `now` against the configured host names.
pub fn summary(
    stored: &Stored,
    hostnames: &[crate::model::DomainName],
    shared: &Shared,
    now: i64,
) -> Summary {
    let i = &stored.chain.info;
    Summary {
        source: stored.source,
        hostnames: i.names.clone(),
        subject: i.subject.clone(),
        issuer: i.issuer.clone(),
        not_before: format_time(i.not_before),
        not_after: format_time(i.not_after),
        expires_in: i.not_after - now,
        serial: i.serial.clone(),
        chain_length: i.chain_len,
        covers_hostnames: stored.chain.check_hostnames(hostnames).is_ok(),
        spki_sha256: i.spki_sha256.clone(),
        renewal: shared.attempt(),
    }
}

/// The Prometheus lines of the certificate (none when there is none).
pub fn metrics(summary: Option<&Summary>, shared: &Shared, now: i64) -> String {
    let mut out = String::new();
    let a = shared.attempt();
    out.push_str(
        "# HELP mailu_git_certificate_renewal_attempts_total Certificate renewal attempts since start.\n\
         # TYPE mailu_git_certificate_renewal_attempts_total counter\n",
    );
    let _ = writeln!(
        out,
        "mailu_git_certificate_renewal_attempts_total {}",
        shared.attempts.load(std::sync::atomic::Ordering::Relaxed)
    );
    out.push_str(
        "# HELP mailu_git_certificate_renewal_failures Failed renewal attempts in a row (0 after a success).\n\
         # TYPE mailu_git_certificate_renewal_failures gauge\n",
    );
    let _ = writeln!(out, "mailu_git_certificate_renewal_failures {}", a.failures);
    if let Some(at) = a.at_unix {
        out.push_str(
            "# HELP mailu_git_certificate_last_renewal_attempt_timestamp_seconds When the last renewal attempt ended.\n\
             # TYPE mailu_git_certificate_last_renewal_attempt_timestamp_seconds gauge\n",
        );
        let _ = writeln!(
            out,
            "mailu_git_certificate_last_renewal_attempt_timestamp_seconds {at}"
        );
    }
    if let Some(s) = summary {
        let labels = format!(
            "source=\"{}\",hostnames=\"{}\",issuer=\"{}\"",
            s.source.as_str(),
            label(&s.hostnames.join(",")),
            label(&s.issuer)
        );
        out.push_str(
            "# HELP mailu_git_certificate_expiry_seconds Seconds until the certificate expires.\n\
             # TYPE mailu_git_certificate_expiry_seconds gauge\n",
        );
        let _ = writeln!(
            out,
            "mailu_git_certificate_expiry_seconds{{{labels}}} {}",
            s.expires_in
        );
        out.push_str(
            "# HELP mailu_git_certificate_not_after_timestamp_seconds When the certificate expires.\n\
             # TYPE mailu_git_certificate_not_after_timestamp_seconds gauge\n",
        );
        let _ = writeln!(
            out,
            "mailu_git_certificate_not_after_timestamp_seconds{{{labels}}} {}",
            now + s.expires_in
        );
    }
    out
}

/// Escapes a Prometheus label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The summary of the certificate of the acknowledged state `state`, or `None` when it holds none
/// (what the status page shows).
pub fn current(state: &crate::versioner::State, shared: &Shared, now: i64) -> Option<Summary> {
    let stored = super::stored(|p| state.read(p).ok().flatten())?;
    let hostnames = state
        .config()
        .map(|c| c.settings.mail.hostnames.clone())
        .unwrap_or_default();
    Some(summary(&stored, &hostnames, shared, now))
}
