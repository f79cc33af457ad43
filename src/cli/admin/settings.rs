//! `mailu-git settings show|set`, `mailu-git pending` and `mailu-git change ID`: the global settings
//! (`/api/v1/settings`, a JSON merge patch per change) and the state of the write path's changes.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use serde_json::Value;

use super::{Session, fields, table};
use crate::client::encode;

#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// Show every setting (defaults included) as `table.key = value` lines.
    Show,
    /// Set one setting: `settings set mail.message_size_limit 50000000`. VALUE is read as JSON when
    /// it parses (numbers, `true`, `["a","b"]`, `null` to reset to the default), else as a string.
    Set {
        /// The setting's dotted name: `table.key` (or deeper).
        key: String,
        value: String,
    },
}

pub fn settings(session: &Session, command: SettingsCommand) -> anyhow::Result<ExitCode> {
    match command {
        SettingsCommand::Show => session.show("settings", |v| {
            let mut lines = Vec::new();
            flatten("", v, &mut lines);
            lines.into_iter().map(|l| l + "\n").collect()
        }),
        SettingsCommand::Set { key, value } => {
            session.patch("settings", &merge_patch(&key, &value)?)
        }
    }
}

/// A one-setting merge patch: settings live in tables, so a key has at least two parts.
fn merge_patch(key: &str, value: &str) -> anyhow::Result<Value> {
    anyhow::ensure!(
        key.split('.').count() >= 2,
        "`{key}` is not a setting's name: write TABLE.KEY, e.g. mail.message_size_limit"
    );
    super::merge_patch(key, value)
}

/// Nested objects as `a.b = value` lines, values in JSON form so strings show their quotes.
fn flatten(prefix: &str, value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, inner) in map {
                let name = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&name, inner, out);
            }
        }
        other => out.push(format!("{prefix} = {other}")),
    }
}

/// `mailu-git pending`: the changes acknowledged but not yet in a version.
pub fn pending(session: &Session) -> anyhow::Result<ExitCode> {
    session.show("pending", |v| {
        let changes = v["changes"].as_array().cloned().unwrap_or_default();
        let mut out = table(
            &changes,
            &[
                ("CHANGE", "change"),
                ("AUTHOR", "author"),
                ("SUMMARY", "summary"),
            ],
        );
        match v["due_in_ms"].as_u64() {
            Some(ms) => out.push_str(&format!("next version due in {ms} ms\n")),
            None => out.push_str("no version due\n"),
        }
        out
    })
}

/// `mailu-git change ID`: whether a change is in a version yet, and which.
pub fn change(session: &Session, id: &str) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(!id.is_empty(), "the change id is empty");
    session
        .show(&format!("change/{}", encode(id)), fields)
        .with_context(|| format!("cannot look up change {id}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_setting_becomes_a_one_key_merge_patch() {
        assert_eq!(
            merge_patch("mail.message_size_limit", "2000000").unwrap(),
            json!({"mail": {"message_size_limit": 2000000}})
        );
        assert_eq!(
            merge_patch("mail.domain", "example.com").unwrap(),
            json!({"mail": {"domain": "example.com"}})
        );
        assert_eq!(
            merge_patch("a.b", "null").unwrap(),
            json!({"a": {"b": null}})
        );
        assert!(merge_patch("mail", "1").is_err());
        assert!(merge_patch("mail..x", "1").is_err());
    }

    #[test]
    fn settings_show_as_dotted_lines() {
        let mut out = Vec::new();
        flatten(
            "",
            &json!({"mail": {"domain": "x.y", "limit": 5}}),
            &mut out,
        );
        assert_eq!(out, ["mail.domain = \"x.y\"", "mail.limit = 5"]);
    }
}
