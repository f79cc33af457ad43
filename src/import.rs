//! Migration from and to Mailu: its `config-export` document (YAML or JSON) imported as ONE
//! change of the repository, and the configuration exported in that format again.
//!
//! The command parses the file where it runs (`parse`: errors with the entry, the field and the
//! line) and sends the document as JSON to `POST /api/v1/import`; the server converts it
//! (`convert`: Mailu's conventions — hashes kept as hashes, `<hidden>` and `-generate-` DKIM keys,
//! fetched accounts), merges it into the current configuration for `--update` (`merge`: Mailu's
//! delete and prune notation), plans the file edits (`plan`) and submits them as one change that
//! the versioner validates as a whole and commits as one version. `export` writes the
//! configuration back in Mailu's format (`GET /api/v1/export`). `env` turns a `mailu.env` into
//! `mailu.toml` settings. Not here: HTTP (`api/import.rs`), the command line (`cli/migrate.rs`).

pub mod convert;
pub mod document;
pub mod env;
pub mod export;
pub mod merge;
pub mod parse;
pub mod plan;

#[cfg(test)]
mod tests;

pub use convert::{Entry, Objects, Problem};
pub use document::Document;
pub use plan::Summary;

/// How an import treats what the document does not mention.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The document's domains, users, aliases and relays become the only ones (the default).
    #[default]
    Replace,
    /// The document is merged into the current configuration (Mailu's `--update` notation).
    Update,
}

/// The body of `POST /api/v1/import`.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Request {
    #[serde(default)]
    pub mode: Mode,
    /// Plan and validate, change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// The `config-export` document, as JSON; absent: domains, users, aliases and relays stay.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub document: Option<serde_json::Value>,
    /// A JSON merge patch of the settings (`mailu.toml`), e.g. from a `mailu.env`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub settings: Option<serde_json::Value>,
    /// Secrets `settings/<name>` (`secret_key`, `relay_password`, `recaptcha_private_key`).
    #[serde(default)]
    pub secrets: std::collections::BTreeMap<String, String>,
    /// Mailu override files, `<dir>/<file>` (`postfix/postfix.cf`) to their text.
    #[serde(default)]
    pub mailu_overrides: std::collections::BTreeMap<String, String>,
}

/// The answer of `POST /api/v1/import`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Outcome {
    pub code: u16,
    pub message: String,
    pub dry_run: bool,
    /// The change id (absent for a dry run or when nothing changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    pub summary: Summary,
}

/// The domains whose `dkim_key` asks for a new key (`-generate-`), from the raw document, so the
/// keys can be made before the writer's lock is taken.
pub fn domains_to_generate(document: &serde_json::Value) -> Vec<crate::model::DomainName> {
    document
        .get("domain")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter(|d| {
            d.get("dkim_key").and_then(serde_json::Value::as_str) == Some(document::GENERATE)
        })
        .filter_map(|d| d.get("name").and_then(serde_json::Value::as_str))
        .filter_map(|n| crate::model::DomainName::parse(n).ok())
        .collect()
}

/// Hashes the plaintext passwords marked `hash_password: true` in the raw document (CPU work, before
/// the writer's lock), so the merge and the conversion only ever see hashes.
pub fn hash_passwords(
    document: &mut serde_json::Value,
    cost: crate::password::Cost,
) -> Result<(), crate::password::Error> {
    use serde_json::Value;
    fn hash_entry(
        entry: &mut Value,
        hash: &dyn Fn(&str) -> Result<String, crate::password::Error>,
    ) -> Result<(), crate::password::Error> {
        let Some(m) = entry.as_object_mut() else {
            return Ok(());
        };
        if m.get("hash_password").and_then(Value::as_bool) == Some(true) {
            if let Some(plain) = m.get("password").and_then(Value::as_str) {
                let hashed = hash(plain)?;
                m.insert("password".into(), Value::String(hashed));
            }
            m.remove("hash_password");
        }
        Ok(())
    }
    let users = document
        .get_mut("user")
        .and_then(Value::as_array_mut)
        .map(|a| a.iter_mut())
        .into_iter()
        .flatten();
    for user in users {
        hash_entry(user, &|p| {
            Ok(crate::password::hash(p, cost)?.as_str().to_owned())
        })?;
        let tokens = user
            .get_mut("tokens")
            .and_then(Value::as_array_mut)
            .map(|a| a.iter_mut())
            .into_iter()
            .flatten();
        for token in tokens {
            hash_entry(token, &|p| {
                Ok(crate::password::token_hash(p)?.as_str().to_owned())
            })?;
        }
    }
    Ok(())
}

/// The typed document of a JSON value, errors naming the entry and field (`user[3].enabled`).
pub fn typed(value: serde_json::Value) -> Result<Document, Vec<Problem>> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let (entry, field) = split_path(&path);
        vec![Problem {
            entry,
            field,
            message: e.into_inner().to_string(),
        }]
    })
}

/// `user[3].tokens[0].id` as the entry `user[3]` and the field `tokens.0.id`.
fn split_path(path: &str) -> (Entry, String) {
    let mut entry = Entry {
        section: path.to_owned(),
        index: 0,
        key: String::new(),
    };
    let mut field = String::new();
    if let Some((section, rest)) = path.split_once('[')
        && let Some((index, rest)) = rest.split_once(']')
    {
        entry.section = section.to_owned();
        entry.index = index.parse().unwrap_or(0);
        field = rest
            .trim_start_matches('.')
            .replace('[', ".")
            .replace(']', "");
    }
    (entry, field)
}
