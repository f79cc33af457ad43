//! What needs an admin's attention (`docs/operations.md`): a deploy that failed, versions that
//! cannot be committed, a certificate close to expiry (or not covering the host names), low disk
//! space in the data directory, a domain whose published DNS records differ from what it needs
//! (`dns.rs`, every `[monitoring] dns_check_every`). A background task looks every `[monitoring] check_every`; the
//! conditions it finds are `attention` in `GET /api/v1/status`, `mailu_git_attention` in `/metrics`,
//! and, when `[monitoring] webhook` is set, a notification when each starts and when it ends
//! (`webhook.rs`).
//!
//! [`evaluate`] is a pure function of what the server knows; [`Monitor`] keeps the current alerts
//! with the time each was first seen, so a condition that lasts is one alert, not one per check.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::deploy_report::Report;
use crate::model::settings::Monitoring;
use crate::tls::status::Summary;

pub mod dns;
pub mod webhook;

/// The conditions, as `kind` in the API and the metrics' label.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The worker's last report has a failed action, or says it lost its Docker engine.
    DeployFailed,
    /// Writes are refused: versions cannot be committed.
    NotWritable,
    /// The certificate expires within `certificate_warn_days`, or has expired.
    CertificateExpiring,
    /// The certificate does not cover the host names.
    CertificateMismatch,
    /// The data directory's file system has less than `disk_free_min_mb` free.
    DiskLow,
    /// A domain's published MX, SPF, DKIM or DMARC record differs from what it needs, or the
    /// resolver of `monitoring.resolver` does not answer.
    DnsMismatch,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::DeployFailed,
        Kind::NotWritable,
        Kind::CertificateExpiring,
        Kind::CertificateMismatch,
        Kind::DiskLow,
        Kind::DnsMismatch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::DeployFailed => "deploy_failed",
            Kind::NotWritable => "not_writable",
            Kind::CertificateExpiring => "certificate_expiring",
            Kind::CertificateMismatch => "certificate_mismatch",
            Kind::DiskLow => "disk_low",
            Kind::DnsMismatch => "dns_mismatch",
        }
    }
}

/// One condition that needs attention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Alert {
    pub kind: Kind,
    /// What it is about: a service, the certificate, the data directory.
    pub subject: String,
    /// What is wrong and what to do, for people.
    pub message: String,
    /// When a check first saw it, seconds since the Unix epoch.
    pub since: i64,
}

/// What [`evaluate`] judges.
#[derive(Debug, Default)]
pub struct Inputs<'a> {
    pub deploy: Option<&'a Report>,
    /// Why writes are refused, when they are.
    pub not_writable: Option<&'a str>,
    pub certificate: Option<&'a Summary>,
    /// Free bytes on the data directory's file system, if it could be read.
    pub disk_free: Option<u64>,
    /// What the last DNS check found (`dns.rs`), already judged.
    pub dns: Vec<Found>,
    pub settings: Monitoring,
}

/// A condition found: (kind, subject, message).
pub type Found = (Kind, String, String);

/// The conditions `inputs` show, in a stable order.
pub fn evaluate(inputs: &Inputs<'_>) -> Vec<Found> {
    let mut out = Vec::new();
    if let Some(report) = inputs.deploy {
        // A report with incidents and no action is the worker telling it lost its engine.
        if report.services.is_empty() && !report.incidents.is_empty() {
            out.push((
                Kind::DeployFailed,
                "worker".into(),
                format!(
                    "the worker cannot deploy: {} (running containers keep their files)",
                    report.incidents.join("; ")
                ),
            ));
        }
        for failed in report.services.iter().filter(|s| !s.ok) {
            out.push((
                Kind::DeployFailed,
                failed.service.clone(),
                format!(
                    "version {}: {} of {} failed: {} (the previous files or container are kept)",
                    report.version,
                    failed.action,
                    failed.service,
                    failed.error.as_deref().unwrap_or("no reason given")
                ),
            ));
        }
    }
    if let Some(reason) = inputs.not_writable {
        out.push((
            Kind::NotWritable,
            "versions".into(),
            format!("changes are refused: {reason}"),
        ));
    }
    if let Some(cert) = inputs.certificate {
        let warn = i64::from(inputs.settings.certificate_warn_days) * 86_400;
        if cert.expires_in <= 0 {
            out.push((
                Kind::CertificateExpiring,
                "certificate".into(),
                format!("the TLS certificate expired on {}", cert.not_after),
            ));
        } else if cert.expires_in < warn {
            out.push((
                Kind::CertificateExpiring,
                "certificate".into(),
                format!(
                    "the TLS certificate expires on {} (in {} days){}",
                    cert.not_after,
                    cert.expires_in / 86_400,
                    cert.renewal
                        .error
                        .as_deref()
                        .map_or_else(String::new, |e| format!("; the last renewal failed: {e}"))
                ),
            ));
        }
        if !cert.covers_hostnames {
            out.push((
                Kind::CertificateMismatch,
                "certificate".into(),
                format!(
                    "the TLS certificate names {} but not every host name of mail.hostnames",
                    cert.hostnames.join(", ")
                ),
            ));
        }
    }
    if let Some(free) = inputs.disk_free {
        let min = inputs.settings.disk_free_min_mb.saturating_mul(1 << 20);
        if free < min {
            out.push((
                Kind::DiskLow,
                "data directory".into(),
                format!(
                    "{} MiB free in the data directory's file system, under the {} MiB of \
                     monitoring.disk_free_min_mb: a full disk stops every change",
                    free >> 20,
                    inputs.settings.disk_free_min_mb
                ),
            ));
        }
    }
    out.extend(inputs.dns.iter().cloned());
    out
}

/// Free bytes (for unprivileged users) on the file system holding `path`.
pub fn disk_free(path: &Path) -> Option<u64> {
    let st = rustix::fs::statvfs(path).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// The alerts in force, and when each started.
#[derive(Debug, Default)]
pub struct Monitor {
    current: Mutex<Vec<Alert>>,
}

/// What changed at one check.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub raised: Vec<Alert>,
    pub cleared: Vec<Alert>,
}

impl Monitor {
    pub fn current(&self) -> Vec<Alert> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the alerts with `found` at `now`: one still in force keeps its `since` (its message
    /// may change, e.g. the days left), a new one is raised, a gone one is cleared.
    pub fn update(&self, found: Vec<Found>, now: i64) -> Changes {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = Vec::with_capacity(found.len());
        let mut changes = Changes::default();
        for (kind, subject, message) in found {
            match current
                .iter()
                .find(|a| a.kind == kind && a.subject == subject)
            {
                Some(old) => next.push(Alert {
                    message,
                    ..old.clone()
                }),
                None => {
                    let alert = Alert {
                        kind,
                        subject,
                        message,
                        since: now,
                    };
                    changes.raised.push(alert.clone());
                    next.push(alert);
                }
            }
        }
        changes.cleared = current
            .iter()
            .filter(|a| {
                !next
                    .iter()
                    .any(|n| n.kind == a.kind && n.subject == a.subject)
            })
            .cloned()
            .collect();
        *current = next;
        changes
    }

    /// `mailu_git_attention{kind}`: how many alerts of each kind are in force.
    pub fn metrics(&self) -> String {
        let current = self.current();
        let mut out = String::from(
            "# HELP mailu_git_attention Conditions that need an admin's attention, by kind.\n\
             # TYPE mailu_git_attention gauge\n",
        );
        for kind in Kind::ALL {
            let n = current.iter().filter(|a| a.kind == kind).count();
            out.push_str(&format!(
                "mailu_git_attention{{kind=\"{}\"}} {n}\n",
                kind.as_str()
            ));
        }
        out
    }
}

/// What the background task reads.
#[derive(Clone)]
pub struct Sources {
    pub versioner: crate::versioner::Versioner,
    pub tls: Arc<crate::tls::Shared>,
    pub deploy_report: Arc<crate::deploy_report::Reports>,
    pub data: PathBuf,
}

/// One check: the inputs read now, evaluated, and the monitor updated.
pub fn check(
    monitor: &Monitor,
    sources: &Sources,
    now: i64,
    dns: Vec<Found>,
) -> (Changes, Monitoring) {
    let health = sources.versioner.health();
    let not_writable = match &health {
        crate::versioner::Health::Ok => None,
        crate::versioner::Health::Unavailable { reason } => Some(reason.as_str()),
    };
    let (settings, certificate) = {
        let state = sources.versioner.state();
        let settings = state
            .config()
            .map(|c| c.settings.monitoring.clone())
            .unwrap_or_default();
        let cert = crate::tls::status::current(&state, &sources.tls, now);
        (settings, cert)
    };
    let report = sources.deploy_report.last();
    let inputs = Inputs {
        deploy: report.as_ref(),
        not_writable,
        certificate: certificate.as_ref(),
        disk_free: disk_free(&sources.data),
        dns,
        settings,
    };
    let found = evaluate(&inputs);
    (monitor.update(found, now), inputs.settings)
}

/// The background task: a check every `check_every` and after every new version (the settings,
/// the certificate or the hold may have changed), notifications for what changed.
pub async fn run(monitor: Arc<Monitor>, sources: Sources) {
    let notifier = webhook::Notifier::new();
    let mut versions = sources.versioner.versions();
    let mut dns = dns::Schedule::default();
    loop {
        let target = {
            let state = sources.versioner.state();
            dns::Target::read(state.config().ok())
        };
        let dns = dns.current(target).await;
        let now = crate::tls::now();
        let (changes, settings) = {
            let monitor = monitor.clone();
            let sources = sources.clone();
            match tokio::task::spawn_blocking(move || check(&monitor, &sources, now, dns)).await {
                Ok(out) => out,
                Err(err) => {
                    tracing::error!(error = %err, "the monitoring check failed");
                    (Changes::default(), Monitoring::default())
                }
            }
        };
        if sources.versioner.stopping() {
            // A server shutting down refuses writes on purpose (the version its flush makes wakes
            // this loop): that is no `not_writable` to notify. Read after the check's health, so
            // a check that saw the shutdown's refusal always stops here.
            return;
        }
        for alert in &changes.raised {
            tracing::warn!(kind = alert.kind.as_str(), subject = %alert.subject, "{}", alert.message);
        }
        for alert in &changes.cleared {
            tracing::info!(kind = alert.kind.as_str(), subject = %alert.subject, "resolved");
        }
        if let Some(url) = settings.webhook() {
            notifier.send(url, &changes);
        }
        let every = settings.check_every.get().max(Duration::from_secs(1));
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            changed = versions.changed() => {
                if changed.is_err() {
                    // The versioner is gone: the server is shutting down.
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
