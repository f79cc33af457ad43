//! The worker's report of what it did for one deployed version (`POST /api/v1/deploy/report`): per
//! service the action taken and whether it worked. The server keeps the last one in the data dir
//! (`deploy-report.json`, replaced atomically; never in the repository: it is what happened, not
//! configuration) and shows it in `GET /api/v1/status` as `deploy`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::model::ServiceName;

/// The file's name in the data dir.
pub const FILE: &str = "deploy-report.json";
/// At most this many services in one report.
pub const MAX_SERVICES: usize = 256;
/// At most this many characters of one error text.
pub const MAX_ERROR: usize = 4096;

/// What the worker did for one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// The deployed version's number the worker applied.
    pub version: u64,
    /// When the worker finished, RFC 3339 (the worker's clock).
    pub time: String,
    /// One entry per service the worker acted on (untouched services are not listed).
    #[serde(default)]
    pub services: Vec<Outcome>,
    /// What happened besides the actions, for the operator: the Docker engine lost (while it is
    /// away, a report with only this), then found again. At most 16, each at most 4096 characters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incidents: Vec<String>,
}

/// One service's action and its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    pub service: String,
    /// `create`, `recreate`, `start`, `refresh`, `restart` or `remove`.
    pub action: String,
    pub ok: bool,
    /// Why it failed (absent when `ok`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// At most this many incidents in one report.
pub const MAX_INCIDENTS: usize = 16;

/// The actions a report may name.
pub const ACTIONS: &[&str] = &[
    "create", "recreate", "start", "refresh", "restart", "remove",
];

/// What storing a report can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The report breaks a rule; `field` names where (`services[2].action`).
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Report {
    /// Every rule a report must follow; the first problem, naming its field.
    pub fn check(&self) -> Result<(), Error> {
        let invalid = |field: String, message: &str| {
            Err(Error::Invalid {
                field,
                message: message.to_owned(),
            })
        };
        if chrono::DateTime::parse_from_rfc3339(&self.time).is_err() {
            return invalid("time".into(), "is not an RFC 3339 time");
        }
        if self.services.len() > MAX_SERVICES {
            return invalid("services".into(), "lists more than 256 services");
        }
        if self.incidents.len() > MAX_INCIDENTS {
            return invalid("incidents".into(), "lists more than 16 incidents");
        }
        for (i, text) in self.incidents.iter().enumerate() {
            if text.chars().count() > MAX_ERROR {
                return invalid(format!("incidents[{i}]"), "is longer than 4096 characters");
            }
        }
        for (i, s) in self.services.iter().enumerate() {
            if ServiceName::parse(&s.service).is_err() {
                return invalid(format!("services[{i}].service"), "is not a service name");
            }
            if !ACTIONS.contains(&s.action.as_str()) {
                return invalid(
                    format!("services[{i}].action"),
                    "is not one of create, recreate, start, refresh, restart, remove",
                );
            }
            if s.error
                .as_ref()
                .is_some_and(|e| e.chars().count() > MAX_ERROR)
            {
                return invalid(
                    format!("services[{i}].error"),
                    "is longer than 4096 characters",
                );
            }
        }
        Ok(())
    }
}

/// The last report, in memory and in its file. One per server.
#[derive(Debug)]
pub struct Reports {
    path: PathBuf,
    last: Mutex<Option<Report>>,
}

impl Reports {
    /// The reports kept at `path`; a missing or unreadable file means none yet (logged: the
    /// next report replaces it).
    pub fn open(path: PathBuf) -> Reports {
        let last = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<Report>(&bytes) {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "ignoring an unreadable deploy report");
                    None
                }
            },
            Err(_) => None,
        };
        Reports {
            path,
            last: Mutex::new(last),
        }
    }

    /// The last report stored.
    pub fn last(&self) -> Option<Report> {
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Checks `report` and replaces the stored one with it (written, fsynced, renamed). Blocking.
    pub fn store(&self, report: Report) -> Result<(), Error> {
        report.check()?;
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        write_atomic(
            &self.path,
            &serde_json::to_vec_pretty(&report).unwrap_or_default(),
        )?;
        *last = Some(report);
        Ok(())
    }
}

/// Writes `bytes` to `path` through a temporary file, fsyncing the file and the directory.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let io = |action, path: &Path| {
        let path = path.to_owned();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    };
    let tmp = path.with_extension("json.tmp");
    let mut file = std::fs::File::create(&tmp).map_err(io("create", &tmp))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(io("write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io("replace", path))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("sync", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            version: 3,
            time: "2026-01-01T00:00:00Z".into(),
            services: vec![Outcome {
                service: "smtp".into(),
                action: "refresh".into(),
                ok: false,
                error: Some("reload exited with 1".into()),
            }],
            incidents: vec!["the Docker engine came back".into()],
        }
    }

    #[test]
    fn a_report_is_kept_across_opens_and_bad_ones_name_their_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let reports = Reports::open(path.clone());
        assert_eq!(reports.last(), None);
        reports.store(report()).unwrap();
        assert_eq!(Reports::open(path.clone()).last(), Some(report()));

        let mut bad = report();
        bad.services[0].action = "explode".into();
        let err = reports.store(bad).unwrap_err().to_string();
        assert!(err.starts_with("services[0].action"), "{err}");
        let mut bad = report();
        bad.time = "yesterday".into();
        assert!(
            reports
                .store(bad)
                .unwrap_err()
                .to_string()
                .starts_with("time")
        );
        let mut bad = report();
        bad.services[0].service = "../x".into();
        assert!(reports.store(bad).is_err());
        let mut bad = report();
        bad.incidents = vec!["x".repeat(MAX_ERROR + 1)];
        let err = reports.store(bad).unwrap_err().to_string();
        assert!(err.starts_with("incidents[0]"), "{err}");
        // Nothing changed.
        assert_eq!(Reports::open(path).last(), Some(report()));
    }
}
