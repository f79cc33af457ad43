//! `/metrics`: Prometheus text for operators. Hand-rolled atomic counters (no metrics crate: a few
//! counters do not justify one): requests by status class, a request-latency histogram with fixed
//! buckets, failed authentications by reason, and the current version number (read from the store
//! at scrape time).
//!
//! `/metrics` needs no token, like `/healthz`: it holds counts and the version number, nothing of
//! the configuration, and scrapers are simpler without a secret. Restrict it at the network or
//! proxy if even that is too much. Not here yet: journal depth and commit latency (they arrive with
//! the write path).

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Context;
use crate::store;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Why an authentication failed.
#[derive(Debug, Clone, Copy)]
pub enum AuthFailure {
    /// No `Authorization` header (401).
    Missing,
    /// A token that matches nothing (403; counted by the rate limiter).
    Invalid,
    /// A valid token whose scope is too narrow (403).
    Scope,
    /// Refused because of earlier failures (429).
    RateLimited,
}

impl AuthFailure {
    const ALL: [AuthFailure; 4] = [
        AuthFailure::Missing,
        AuthFailure::Invalid,
        AuthFailure::Scope,
        AuthFailure::RateLimited,
    ];

    fn label(self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing",
            AuthFailure::Invalid => "invalid",
            AuthFailure::Scope => "scope",
            AuthFailure::RateLimited => "rate_limited",
        }
    }
}

/// The server's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Responses by status class: index 0 is 1xx, 4 is 5xx.
    by_class: [AtomicU64; 5],
    /// Requests per latency bucket (not cumulative; summed when rendered), the last one is `+Inf`.
    latency: [AtomicU64; BUCKETS.len() + 1],
    latency_micros: AtomicU64,
    auth_failures: [AtomicU64; AuthFailure::ALL.len()],
}

impl Metrics {
    pub fn auth_failed(&self, why: AuthFailure) {
        self.auth_failures[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    fn record(&self, status: StatusCode, seconds: f64) {
        let class = usize::from(status.as_u16() / 100).clamp(1, 5) - 1;
        self.by_class[class].fetch_add(1, Ordering::Relaxed);
        let bucket = BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(BUCKETS.len());
        self.latency[bucket].fetch_add(1, Ordering::Relaxed);
        // Micro-second resolution; a u64 of them lasts half a million years of summed latency.
        self.latency_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of the counters, and of `version` if known.
    pub fn render(&self, version: Option<u64>) -> String {
        let mut out = String::new();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        out.push_str(
            "# HELP mailu_git_http_requests_total HTTP requests answered, by status class.\n",
        );
        out.push_str("# TYPE mailu_git_http_requests_total counter\n");
        for (i, c) in self.by_class.iter().enumerate() {
            let _ = writeln!(
                out,
                "mailu_git_http_requests_total{{class=\"{}xx\"}} {}",
                i + 1,
                load(c)
            );
        }
        out.push_str(
            "# HELP mailu_git_http_request_duration_seconds Time to answer an HTTP request.\n",
        );
        out.push_str("# TYPE mailu_git_http_request_duration_seconds histogram\n");
        let mut cumulative = 0;
        for (i, c) in self.latency.iter().enumerate() {
            cumulative += load(c);
            let le = BUCKETS.get(i).map_or("+Inf".to_owned(), |b| b.to_string());
            let _ = writeln!(
                out,
                "mailu_git_http_request_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "mailu_git_http_request_duration_seconds_sum {}",
            load(&self.latency_micros) as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "mailu_git_http_request_duration_seconds_count {cumulative}"
        );
        out.push_str(
            "# HELP mailu_git_auth_failures_total Failed API authentications, by reason.\n",
        );
        out.push_str("# TYPE mailu_git_auth_failures_total counter\n");
        for why in AuthFailure::ALL {
            let _ = writeln!(
                out,
                "mailu_git_auth_failures_total{{reason=\"{}\"}} {}",
                why.label(),
                load(&self.auth_failures[why as usize])
            );
        }
        if let Some(version) = version {
            out.push_str(
                "# HELP mailu_git_version The number of the current version (head of main).\n",
            );
            out.push_str("# TYPE mailu_git_version gauge\n");
            let _ = writeln!(out, "mailu_git_version {version}");
        }
        out
    }
}

/// Middleware: counts every response by class and latency.
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let response = next.run(req).await;
    metrics.record(response.status(), start.elapsed().as_secs_f64());
    response
}

/// `GET /metrics`.
pub async fn render(State(ctx): State<Context>) -> Response {
    let store = ctx.store.clone();
    let version = tokio::task::spawn_blocking(move || {
        let head = store.head()?;
        Ok::<_, store::Error>(store.history(head, 1)?.first().map(|v| v.number))
    })
    .await;
    // The counters stay useful when the repository cannot be read: leave the gauge out, log why.
    let tls = {
        let state = ctx.versioner.state();
        let now = crate::tls::now();
        let summary = crate::tls::status::current(&state, &ctx.tls, now);
        crate::tls::status::metrics(summary.as_ref(), &ctx.tls, now)
    };
    let version = match version {
        Ok(Ok(v)) => v,
        Ok(Err(err)) => {
            tracing::error!(error = %err, "metrics cannot read the current version");
            None
        }
        Err(err) => {
            tracing::error!(error = %err, "metrics task failed");
            None
        }
    };
    let mut text = ctx.metrics.render(version);
    write_path(&mut text, &ctx.versioner.metrics(), &ctx.versioner.health());
    text.push_str(&tls);
    text.push_str(&ctx.monitor.metrics());
    let store = ctx.store.clone();
    match tokio::task::spawn_blocking(move || crate::versions::refs_status(&store)).await {
        Ok(Ok(refs)) => deployment(&mut text, &refs),
        Ok(Err(err)) => tracing::error!(error = %err, "metrics cannot read the deployed version"),
        Err(err) => tracing::error!(error = %err, "metrics task failed"),
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// The write path's figures: journal depth and fsyncs, versions made, commit latency and failures,
/// and whether writes are acknowledged.
fn write_path(out: &mut String, m: &crate::versioner::Metrics, health: &crate::versioner::Health) {
    let mut gauge = |name: &str, help: &str, kind: &str, value: String| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    gauge(
        "mailu_git_journal_pending",
        "Acknowledged changes not yet in a version.",
        "gauge",
        m.journal.pending.to_string(),
    );
    gauge(
        "mailu_git_journal_appended_total",
        "Changes appended to the journal.",
        "counter",
        m.journal.appended.to_string(),
    );
    gauge(
        "mailu_git_journal_fsyncs_total",
        "Journal fsyncs (shared by concurrent writers).",
        "counter",
        m.journal.fsyncs.to_string(),
    );
    gauge(
        "mailu_git_versions_total",
        "Versions committed by this process.",
        "counter",
        m.versions.to_string(),
    );
    gauge(
        "mailu_git_changes_committed_total",
        "Changes committed in versions by this process.",
        "counter",
        m.changes_committed.to_string(),
    );
    gauge(
        "mailu_git_commit_failures_total",
        "Versions that could not be committed.",
        "counter",
        m.commit_failures.to_string(),
    );
    if let Some(last) = m.last_commit {
        gauge(
            "mailu_git_last_commit_seconds",
            "How long the last version took to commit.",
            "gauge",
            last.as_secs_f64().to_string(),
        );
    }
    let up = u8::from(*health == crate::versioner::Health::Ok);
    gauge(
        "mailu_git_writes_acknowledged",
        "1 while writes are acknowledged, 0 while suspended.",
        "gauge",
        up.to_string(),
    );
}

/// Whether deployment is suspended, and how many versions main is ahead of what is deployed.
fn deployment(out: &mut String, refs: &crate::versions::RefsStatus) {
    let _ = writeln!(
        out,
        "# HELP mailu_git_suspended 1 while deployment is suspended (refs/mailu/hold exists).\n\
         # TYPE mailu_git_suspended gauge\nmailu_git_suspended {}",
        u8::from(refs.deployed.held)
    );
    if let Some(ahead) = refs.versions_ahead {
        let _ = writeln!(
            out,
            "# HELP mailu_git_versions_ahead Versions on main not deployed (while suspended).\n\
             # TYPE mailu_git_versions_ahead gauge\nmailu_git_versions_ahead {ahead}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_cumulative_buckets_and_counters() {
        let m = Metrics::default();
        m.record(StatusCode::OK, 0.0005);
        m.record(StatusCode::FORBIDDEN, 0.2);
        m.record(StatusCode::INTERNAL_SERVER_ERROR, 60.0);
        m.auth_failed(AuthFailure::Invalid);
        let text = m.render(Some(7));
        assert!(
            text.contains("mailu_git_http_requests_total{class=\"2xx\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("mailu_git_http_requests_total{class=\"4xx\"} 1\n"));
        assert!(text.contains("_bucket{le=\"0.001\"} 1\n"), "{text}");
        assert!(text.contains("_bucket{le=\"0.25\"} 2\n"), "{text}");
        assert!(text.contains("_bucket{le=\"+Inf\"} 3\n"), "{text}");
        assert!(text.contains("_count 3\n"));
        assert!(text.contains("mailu_git_auth_failures_total{reason=\"invalid\"} 1\n"));
        assert!(text.contains("mailu_git_version 7\n"));
    }
}
