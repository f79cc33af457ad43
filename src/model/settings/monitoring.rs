//! `[monitoring]`: what needs an admin's attention (`docs/operations.md`): how often the server
//! looks, the thresholds, and where it sends notifications.

use super::check;
use super::value::HumanDuration;
use crate::model::Problem;
use serde::{Deserialize, Serialize};

/// `[monitoring]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Monitoring {
    /// How often the server checks what needs attention.
    pub check_every: HumanDuration,
    /// Warn when the TLS certificate expires within this many days.
    pub certificate_warn_days: u32,
    /// Warn when the data directory's file system has less free space than this, in MiB.
    pub disk_free_min_mb: u64,
    /// POST a JSON notification here when a condition starts or ends (http:// or https://; empty: none).
    pub webhook: String,
    /// The DNS resolver that checks each domain's published records, `IP` or `IP:PORT` (empty: no
    /// DNS check).
    pub resolver: String,
    /// How often the DNS records are checked (a new version checks at once).
    pub dns_check_every: HumanDuration,
}

impl Default for Monitoring {
    fn default() -> Self {
        Monitoring {
            check_every: HumanDuration::from_secs(60),
            certificate_warn_days: 14,
            disk_free_min_mb: 1024,
            webhook: String::new(),
            resolver: String::new(),
            dns_check_every: HumanDuration::from_secs(3600),
        }
    }
}

impl Monitoring {
    pub(super) fn validate(&self, problems: &mut Vec<Problem>) {
        check(
            problems,
            self.check_every.get() >= std::time::Duration::from_secs(1),
            "monitoring.check_every",
            "must be at least 1s",
        );
        check(
            problems,
            self.certificate_warn_days <= 365,
            "monitoring.certificate_warn_days",
            "must be at most 365",
        );
        check(
            problems,
            self.disk_free_min_mb <= 1 << 40,
            "monitoring.disk_free_min_mb",
            "must be at most 1099511627776 (1 EiB)",
        );
        let scheme_ok = self.webhook.is_empty()
            || reqwest::Url::parse(&self.webhook)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        check(
            problems,
            scheme_ok,
            "monitoring.webhook",
            "must be empty or an http:// or https:// URL with a host",
        );
        check(
            problems,
            self.resolver.is_empty()
                || crate::monitor::dns::parse_resolver(&self.resolver).is_some(),
            "monitoring.resolver",
            "must be empty or an IP address with an optional port, like \"127.0.0.1:53\" or \"[::1]:5353\"",
        );
        check(
            problems,
            self.dns_check_every.get() >= std::time::Duration::from_secs(1),
            "monitoring.dns_check_every",
            "must be at least 1s",
        );
    }

    /// The webhook's URL, if one is set.
    pub fn webhook(&self) -> Option<&str> {
        (!self.webhook.is_empty()).then_some(self.webhook.as_str())
    }
}
