//! `mailu-git tag list|create NAME VERSION|delete NAME` (`/api/v1/tag`) and `mailu-git gc`
//! (`POST /api/v1/gc`): naming versions so cleanup keeps them, and running cleanup now.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{Value, json};

use super::{Column, Session};
use crate::client::encode;

const TAG_COLUMNS: &[Column] = &[
    ("NAME", "name"),
    ("VERSION", "version"),
    ("COMMIT", "commit"),
    ("MESSAGE", "message"),
];

#[derive(Debug, Subcommand)]
pub enum TagCommand {
    /// List the tags and the versions they name.
    List,
    /// Tag version VERSION (a number) as NAME.
    Create { name: String, version: u64 },
    /// Delete a tag; the version stays, and cleanup may then remove it.
    Delete { name: String },
}

pub fn tag(session: &Session, command: TagCommand) -> anyhow::Result<ExitCode> {
    match command {
        TagCommand::List => session.list("tag", TAG_COLUMNS),
        TagCommand::Create { name, version } => {
            session.post_showing("tag", &json!({ "name": name, "version": version }), |v| {
                format!("tagged version {} as {}\n", v["version"], text(&v["name"]))
            })
        }
        TagCommand::Delete { name } => {
            let answer = session.runtime.block_on(session.client.delete::<Value>(
                &format!("tag/{}", encode(&name)),
                crate::client::Wait(false),
            ))?;
            session.print(&answer, |v| {
                format!(
                    "deleted the tag {} (version {})\n",
                    text(&v["name"]),
                    v["version"]
                )
            })
        }
    }
}

pub fn gc(session: &Session) -> anyhow::Result<ExitCode> {
    let answer = session.post_value("gc", &json!({}))?;
    session.print(&answer, report)
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), ToOwned::to_owned)
}

/// A cleanup's report for people.
fn report(v: &Value) -> String {
    let size = |s: &Value| {
        format!(
            "{} objects, {} KiB",
            s["objects"],
            s["bytes"].as_u64().unwrap_or(0) / 1024
        )
    };
    let mut out = match v["removed"].as_object() {
        Some(r) => format!(
            "squashed versions {}–{} ({} commits) into one root; rewrote {} commits; moved {}\n",
            r["first"],
            r["last"],
            r["commits"],
            v["rewritten"],
            v["refs_moved"]
                .as_array()
                .map(|a| a.iter().map(text).collect::<Vec<_>>().join(", "))
                .unwrap_or_default()
        ),
        None => "nothing to clean: every version is kept\n".to_owned(),
    };
    out.push_str(&format!(
        "repository: {} before, {} after; took {} ms\n",
        size(&v["before"]),
        size(&v["after"]),
        v["durations"]["total_ms"]
    ));
    out
}
