//! The remaining groups of `mailu.toml`: Mailu's `[antispam]`, `[fetchmail]`, `[dmarc]`, `[welcome]`,
//! `[dkim]` and `[system]`, and mailu-git's own `[debounce]` (when API writes become a version) and
//! `[history]` (which versions cleanup keeps, and when cleanup and repacking run).

use super::check;
use super::value::HumanDuration;
use crate::model::cron::Schedule;
use crate::model::{Localpart, Problem};
use serde::{Deserialize, Serialize};

/// What rspamd does with a message carrying a virus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AntivirusAction {
    Reject,
    Discard,
}

/// `[antispam]`: rspamd.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Antispam {
    /// Spam score (0-100) above which a new user's mail goes to Junk.
    pub default_spam_threshold: u8,
    /// Infected messages: "reject" (the sender is told) or "discard" (silently dropped).
    pub antivirus_action: AntivirusAction,
    /// Treat Office documents with macros as suspicious (runs the oletools service).
    pub scan_macros: bool,
}

impl Default for Antispam {
    fn default() -> Self {
        Antispam {
            default_spam_threshold: 80,
            antivirus_action: AntivirusAction::Discard,
            scan_macros: false,
        }
    }
}

impl Antispam {
    pub(super) fn validate(&self, problems: &mut Vec<Problem>) {
        check(
            problems,
            self.default_spam_threshold <= 100,
            "antispam.default_spam_threshold",
            "must be from 0 to 100",
        );
    }
}

/// `[fetchmail]`: fetching users' mail from other servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fetchmail {
    /// Let users fetch mail from other accounts (runs the fetchmail service).
    pub enabled: bool,
    /// Time between two fetch rounds.
    pub delay: HumanDuration,
    /// Extra fetchmail options for every account, e.g. "--sslproto TLS1.2+".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<String>,
}

impl Default for Fetchmail {
    fn default() -> Self {
        Fetchmail {
            enabled: false,
            delay: HumanDuration::from_secs(600),
            options: None,
        }
    }
}

impl Fetchmail {
    pub(super) fn validate(&self, problems: &mut Vec<Problem>) {
        check(
            problems,
            self.delay.get().as_secs() >= 1,
            "fetchmail.delay",
            "must be at least 1s",
        );
        if let Some(options) = &self.options {
            check(
                problems,
                !options.contains(['\n', '\r', '\0']),
                "fetchmail.options",
                "must be one line",
            );
        }
    }
}

/// `[dmarc]`: DMARC reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Dmarc {
    /// Localpart (at `mail.domain`) receiving aggregate reports, shown in the suggested DMARC record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rua: Option<Localpart>,
    /// Localpart (at `mail.domain`) receiving failure reports, shown in the suggested DMARC record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ruf: Option<Localpart>,
    /// Send DMARC aggregate reports to other domains (rspamd, daily).
    pub send_reports: bool,
}

impl Default for Dmarc {
    fn default() -> Self {
        let postmaster = Localpart::parse("postmaster").expect("a valid constant localpart");
        Dmarc {
            rua: Some(postmaster.clone()),
            ruf: Some(postmaster),
            send_reports: false,
        }
    }
}

/// `[welcome]`: the message a new user finds in the inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Welcome {
    /// Send a welcome message to each new user.
    pub enabled: bool,
    /// Its subject.
    pub subject: String,
    /// Its text.
    pub body: String,
}

impl Default for Welcome {
    fn default() -> Self {
        Welcome {
            enabled: false,
            subject: "Welcome to your new email account".into(),
            body: "Welcome to your new email account, if you can read this, then it is configured properly!".into(),
        }
    }
}

impl Welcome {
    pub(super) fn validate(&self, problems: &mut Vec<Problem>) {
        check(
            problems,
            !self.subject.contains(['\n', '\r']),
            "welcome.subject",
            "must be one line",
        );
        if self.enabled {
            check(
                problems,
                !self.subject.trim().is_empty(),
                "welcome.subject",
                "cannot be empty when the welcome message is on",
            );
        }
    }
}

/// `[dkim]`: signing. The keys are secrets (`dkim/<domain>`), not settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Dkim {
    /// DKIM selector: keys are published at `<selector>._domainkey.<domain>`.
    pub selector: String,
}

impl Default for Dkim {
    fn default() -> Self {
        Dkim {
            selector: "dkim".into(),
        }
    }
}

impl Dkim {
    pub(super) fn validate(&self, problems: &mut Vec<Problem>) {
        // A selector is one or more DNS labels (RFC 6376 §3.1).
        let ok = !self.selector.is_empty()
            && self.selector.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        check(
            problems,
            ok,
            "dkim.selector",
            "must be DNS labels of letters, digits and `-`, e.g. \"dkim\"",
        );
    }
}

/// Log verbosity of the services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LogLevel {
    Debug,
    Info,
    Warning,
    Error,
    Critical,
}

/// `[system]`: settings every container gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct System {
    /// Log level: "DEBUG", "INFO", "WARNING", "ERROR" or "CRITICAL".
    pub log_level: LogLevel,
    /// Timezone of the containers (`TZ`), e.g. "Europe/Berlin"; schedules below stay in UTC.
    pub tz: String,
}

impl Default for System {
    fn default() -> Self {
        System {
            log_level: LogLevel::Info,
            tz: "Etc/UTC".into(),
        }
    }
}

impl System {
    pub(super) fn validate(&self, problems: &mut Vec<Problem>) {
        // The shape of an IANA zone name; whether the zone exists is up to each image's tzdata.
        let ok = !self.tz.is_empty()
            && !self.tz.starts_with('/')
            && !self.tz.contains("..")
            && self
                .tz
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_-+".contains(&b));
        check(
            problems,
            ok,
            "system.tz",
            "must be a timezone name such as \"Etc/UTC\" or \"Europe/Berlin\"",
        );
    }
}

/// `[debounce]`: how API writes are grouped into one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Debounce {
    /// Commit once no write has arrived for this long.
    pub quiet: HumanDuration,
    /// Commit at the latest this long after the first pending write, even if writes keep coming.
    pub max_delay: HumanDuration,
}

impl Default for Debounce {
    fn default() -> Self {
        Debounce {
            quiet: HumanDuration::from_secs(2),
            max_delay: HumanDuration::from_secs(30),
        }
    }
}

impl Debounce {
    pub(super) fn validate(&self, problems: &mut Vec<Problem>) {
        check(
            problems,
            !self.quiet.get().is_zero(),
            "debounce.quiet",
            "must be longer than 0s",
        );
        check(
            problems,
            !self.max_delay.get().is_zero(),
            "debounce.max_delay",
            "must be longer than 0s",
        );
        check(
            problems,
            self.quiet <= self.max_delay,
            "debounce.quiet",
            "must not be longer than `debounce.max_delay`",
        );
    }
}

/// `[history]`: which versions cleanup keeps, and when maintenance runs (5-field cron, UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct History {
    /// Keep at least this many most recent versions (1 or more).
    pub keep_last: u32,
    /// Also keep every version younger than this many days (0 keeps only `keep_last`).
    pub keep_days: u32,
    /// When cleanup runs (squash older history, prune): "minute hour day-of-month month day-of-week", UTC.
    pub cleanup_schedule: Schedule,
    /// When the repository is repacked: "minute hour day-of-month month day-of-week", UTC.
    pub repack_schedule: Schedule,
}

impl Default for History {
    fn default() -> Self {
        History {
            keep_last: 50,
            keep_days: 30,
            cleanup_schedule: Schedule::parse("30 3 * * *").expect("a valid constant schedule"),
            repack_schedule: Schedule::parse("0 4 * * 0").expect("a valid constant schedule"),
        }
    }
}

impl History {
    pub(super) fn validate(&self, problems: &mut Vec<Problem>) {
        check(
            problems,
            self.keep_last >= 1,
            "history.keep_last",
            "must be at least 1 (the current version is always kept)",
        );
        // A bound keeps `keep_days` convertible to a duration without overflow; 100 years is plenty.
        check(
            problems,
            self.keep_days <= 36_500,
            "history.keep_days",
            "must be at most 36500 (100 years)",
        );
    }

    /// Whether cleanup keeps a version: it is among the last `keep_last` (`rank` 0 = newest), or its
    /// `age` is under `keep_days` days. Tags and the hold ref are kept by the caller regardless.
    pub fn keeps(&self, rank: usize, age: std::time::Duration) -> bool {
        let by_count = rank < usize::try_from(self.keep_last).unwrap_or(usize::MAX);
        let by_age = age < std::time::Duration::from_secs(u64::from(self.keep_days) * 86_400);
        by_count || by_age
    }
}
