//! `domains/<domain>/users/<local>.toml`: one mail user, with its app tokens (`[[tokens]]`) and
//! fetched accounts (`[[fetches]]`). The path is the address. Every field of Mailu's `user` table is
//! here with Mailu's default, except runtime state (`quota_bytes_used`), which never enters the
//! repository. Fields at their default are left out when a file is written.

pub mod fetch;
pub mod token;

use super::date::Date;
use super::domain::{check_comment, duplicates, is_false, is_true};
use super::{Email, FileType, Problem};

pub use fetch::{Fetch, Protocol};
pub use token::Token;

/// Mailu's default quota (`quota_bytes` column default: 10⁹ bytes).
pub const DEFAULT_QUOTA_BYTES: u64 = 1_000_000_000;
/// Mailu's `DEFAULT_SPAM_THRESHOLD`.
pub const DEFAULT_SPAM_THRESHOLD: u8 = 80;

/// A mail user (Mailu's `user` table).
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct User {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub comment: String,
    /// The password as a hash (`{SCHEME}...` or `$id$...`), never plaintext. Required.
    pub password: String,
    #[serde(skip_serializing_if = "is_default_quota")]
    pub quota_bytes: u64,
    #[serde(skip_serializing_if = "is_false")]
    pub global_admin: bool,
    /// A disabled user cannot log in anywhere, and the aliases it owns are suspended.
    #[serde(skip_serializing_if = "is_true")]
    pub enabled: bool,
    #[serde(skip_serializing_if = "is_true")]
    pub enable_imap: bool,
    #[serde(skip_serializing_if = "is_true")]
    pub enable_pop: bool,
    /// May send as any sender of its own domain.
    #[serde(skip_serializing_if = "is_false")]
    pub allow_spoofing: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub forward_enabled: bool,
    /// Required (non-empty) when `forward_enabled`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub forward_destination: Vec<Email>,
    /// Keep a local copy of forwarded mail.
    #[serde(skip_serializing_if = "is_true")]
    pub forward_keep: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub reply_enabled: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reply_subject: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reply_body: String,
    /// The autoreply is active from this day ...
    #[serde(skip_serializing_if = "is_default_start")]
    pub reply_startdate: Date,
    /// ... to this day, both included.
    #[serde(skip_serializing_if = "is_default_end")]
    pub reply_enddate: Date,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub displayed_name: String,
    /// File spam into the Junk folder.
    #[serde(skip_serializing_if = "is_true")]
    pub spam_enabled: bool,
    #[serde(skip_serializing_if = "is_true")]
    pub spam_mark_as_read: bool,
    /// Percent (0-100), compared by sieve's spamtest.
    #[serde(skip_serializing_if = "is_default_threshold")]
    pub spam_threshold: u8,
    #[serde(skip_serializing_if = "is_false")]
    pub change_pw_next_login: bool,
    /// App tokens (mail application passwords).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<Token>,
    /// Remote mailboxes fetched into this one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fetches: Vec<Fetch>,
}

impl Default for User {
    fn default() -> Self {
        User {
            comment: String::new(),
            password: String::new(),
            quota_bytes: DEFAULT_QUOTA_BYTES,
            global_admin: false,
            enabled: true,
            enable_imap: true,
            enable_pop: true,
            allow_spoofing: false,
            forward_enabled: false,
            forward_destination: Vec::new(),
            forward_keep: true,
            reply_enabled: false,
            reply_subject: String::new(),
            reply_body: String::new(),
            reply_startdate: default_start(),
            reply_enddate: default_end(),
            displayed_name: String::new(),
            spam_enabled: true,
            spam_mark_as_read: true,
            spam_threshold: DEFAULT_SPAM_THRESHOLD,
            change_pw_next_login: false,
            tokens: Vec::new(),
            fetches: Vec::new(),
        }
    }
}

impl FileType for User {
    fn validate(&self, problems: &mut Vec<Problem>) {
        check_comment(&self.comment, "comment", problems);
        check_hash(&self.password, "password", problems);
        if self.forward_enabled && self.forward_destination.is_empty() {
            problems.push(Problem::new(
                "forward_destination",
                "forward_enabled is true, so at least one forward destination is required",
            ));
        }
        duplicates(&self.forward_destination, "forward_destination", problems);
        if self.spam_threshold > 100 {
            problems.push(Problem::new("spam_threshold", "is a percentage: 0 to 100"));
        }
        if self.reply_enddate < self.reply_startdate {
            problems.push(Problem::new("reply_enddate", "is before reply_startdate"));
        }
        if self.displayed_name.chars().count() > 160 {
            problems.push(Problem::new(
                "displayed_name",
                "is longer than 160 characters",
            ));
        }
        if self.reply_subject.chars().count() > 255 {
            problems.push(Problem::new(
                "reply_subject",
                "is longer than 255 characters",
            ));
        }
        let token_ids: Vec<_> = self.tokens.iter().map(|t| &t.id).collect();
        for (i, id) in token_ids.iter().enumerate() {
            if token_ids[..i].contains(id) {
                problems.push(Problem::new(
                    format!("tokens.{i}.id"),
                    format!("token id `{id}` is used twice"),
                ));
            }
        }
        let fetch_ids: Vec<_> = self.fetches.iter().map(|f| &f.id).collect();
        for (i, id) in fetch_ids.iter().enumerate() {
            if fetch_ids[..i].contains(id) {
                problems.push(Problem::new(
                    format!("fetches.{i}.id"),
                    format!("fetch id `{id}` is used twice"),
                ));
            }
        }
        for (i, token) in self.tokens.iter().enumerate() {
            token.validate(&format!("tokens.{i}"), problems);
        }
        for (i, fetch) in self.fetches.iter().enumerate() {
            fetch.validate(&format!("fetches.{i}"), problems);
        }
    }
}

/// A stored password must be a hash the `password` module recognises: a dovecot-native scheme, or
/// one of Mailu's legacy passlib hashes (accepted from import and push, replaced at the next change).
pub(crate) fn check_hash(hash: &str, field: &str, problems: &mut Vec<Problem>) {
    if hash.is_empty() {
        problems.push(Problem::new(field, "a password hash is required"));
    } else if let Err(err) = crate::password::Hash::parse(hash) {
        problems.push(Problem::new(field, err.to_string()));
    }
}

fn default_start() -> Date {
    Date::ymd(1900, 1, 1)
}

fn default_end() -> Date {
    Date::ymd(2999, 12, 31)
}

fn is_default_start(d: &Date) -> bool {
    *d == default_start()
}

fn is_default_end(d: &Date) -> bool {
    *d == default_end()
}

fn is_default_quota(q: &u64) -> bool {
    *q == DEFAULT_QUOTA_BYTES
}

fn is_default_threshold(t: &u8) -> bool {
    *t == DEFAULT_SPAM_THRESHOLD
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::toml_file::parse;

    const FILE: &str = "domains/a.com/users/bob.toml";

    fn problem(text: &str) -> (Option<u32>, String, String) {
        let err = parse::<User>(FILE, text).unwrap_err();
        assert_eq!(err[0].file, FILE);
        (
            err[0].line,
            err[0].field.clone().unwrap_or_default(),
            err[0].message.clone(),
        )
    }

    #[test]
    fn minimal_user_has_mailus_defaults() {
        let u: User = parse(
            FILE,
            "password = \"$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS\"\n",
        )
        .unwrap();
        assert_eq!(u.quota_bytes, DEFAULT_QUOTA_BYTES);
        assert!(u.enabled && u.forward_keep && u.spam_enabled);
        assert_eq!(u.reply_enddate.to_string(), "2999-12-31");
        assert_eq!(
            toml::to_string(&u).unwrap(),
            "password = \"$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS\"\n"
        );
    }

    #[test]
    fn plaintext_and_missing_passwords_are_refused() {
        let (line, field, msg) = problem("comment = \"x\"\npassword = \"hunter2\"\n");
        assert_eq!((line, field.as_str()), (Some(2), "password"));
        assert!(msg.contains("plaintext"));
        let (_, field, msg) = problem("comment = \"x\"\n");
        assert_eq!(field, "password");
        assert!(msg.contains("required"));
    }

    #[test]
    fn forwarding_needs_a_destination() {
        let (line, field, _) = problem(
            "password = \"$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS\"\n\nforward_enabled = true\n",
        );
        assert_eq!(field, "forward_destination");
        // The field is absent: the nearest thing is the file itself.
        assert_eq!(line, None);
        let (line, field, _) = problem(
            "password = \"$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS\"\nforward_enabled = true\nforward_destination = []\n",
        );
        assert_eq!((line, field.as_str()), (Some(3), "forward_destination"));
    }

    #[test]
    fn forward_destination_must_be_emails() {
        let (line, field, msg) = problem(
            "password = \"$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS\"\nforward_destination = [\"a@b.com\", \"nope\"]\n",
        );
        assert_eq!(line, Some(2));
        assert!(field.starts_with("forward_destination"), "{field}");
        assert!(msg.contains("no @"), "{msg}");
    }

    #[test]
    fn spam_threshold_and_dates() {
        let (line, field, _) = problem(
            "password = \"$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS\"\nspam_threshold = 101\n",
        );
        assert_eq!((line, field.as_str()), (Some(2), "spam_threshold"));
        let (line, field, _) = problem(
            "password = \"$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS\"\nreply_startdate = 2025-01-02\nreply_enddate = \"2025-01-01\"\n",
        );
        assert_eq!((line, field.as_str()), (Some(3), "reply_enddate"));
        let (line, field, _) = problem(
            "password = \"$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS\"\nreply_startdate = \"2025-13-01\"\n",
        );
        assert_eq!((line, field.as_str()), (Some(2), "reply_startdate"));
    }

    #[test]
    fn unknown_user_key_suggests() {
        let (line, field, msg) = problem(
            "password = \"$2b$04$pCERoCNaXC1nrSmJENAwgeeuy5IXTYw611ivkuKJiCbtOQr0q6nzS\"\nquota_byte = 5\n",
        );
        assert_eq!((line, field.as_str()), (Some(2), "quota_byte"));
        assert!(msg.contains("did you mean `quota_bytes`"), "{msg}");
    }
}
