//! A Mailu `mailu.env` turned into settings for `mailu.toml` (a JSON merge patch of
//! `model::settings::Settings`), secrets for the secret store, and the `API_TOKEN` to report.
//!
//! The mapping is `docs/settings.md`'s table "Every Mailu setting", read from the document itself
//! (embedded at build time), so the importer and the documentation cannot disagree: a row
//! `` `NAME` | `table.key` `` sets that key, `` secret `settings/x` `` stores the secret `x`, any
//! other row (dropped, derived) is reported as ignored with the table's reason. A value takes the
//! type of the key's default: integers, booleans (`true`/`false`, as Mailu), lists (comma-separated),
//! durations (Mailu's bare seconds become `Ns`), text. No IO.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::settings::Settings;

/// The table rows of `docs/settings.md`.
const TABLE: &str = include_str!("../../docs/settings.md");

/// Where one Mailu variable goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A dotted key of `mailu.toml`.
    Field(String),
    /// A secret `settings/<name>`.
    Secret(String),
    /// Mailu's global API token: becomes an admin access token in a separate step.
    ApiToken,
    /// Nothing in mailu-git; why (the table's words).
    Ignored(String),
}

/// The mapping of every Mailu variable `docs/settings.md` names.
pub fn mapping() -> BTreeMap<String, Target> {
    let mut out = BTreeMap::new();
    for line in TABLE.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 || !cells[1].starts_with('`') {
            continue;
        }
        let names: Vec<&str> = cells[1]
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|n| {
                !n.is_empty()
                    && n.bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            })
            .collect();
        let target = cells[2];
        let why = cells.get(3).copied().unwrap_or("");
        let mapped = if let Some(secret) = target
            .strip_prefix("secret `settings/")
            .and_then(|s| s.strip_suffix('`'))
        {
            Target::Secret(secret.to_owned())
        } else if target.starts_with('`') && target.ends_with('`') && target.len() > 2 {
            Target::Field(target.trim_matches('`').to_owned())
        } else {
            let reason = if why.is_empty() { target } else { why };
            Target::Ignored(format!("{target}: {reason}"))
        };
        for name in names {
            let t = if name == "API_TOKEN" {
                Target::ApiToken
            } else {
                mapped.clone()
            };
            out.entry(name.to_owned()).or_insert(t);
        }
    }
    out
}

/// One problem of the file: its 1-based line, the variable and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub name: String,
    pub message: String,
}

/// What a `mailu.env` becomes.
#[derive(Debug, Clone, Default)]
pub struct Converted {
    /// A JSON merge patch of the settings (`{"mail": {"domain": ...}}`).
    pub settings: serde_json::Map<String, Value>,
    /// Secrets `settings/<name>` and their values.
    pub secrets: BTreeMap<String, String>,
    /// `API_TOKEN`, when set.
    pub api_token: Option<String>,
    /// Variables with no place in mailu-git, and why.
    pub ignored: Vec<(String, String)>,
    pub problems: Vec<Problem>,
    /// The line each variable came from, to point at it when the server refuses a value.
    pub lines: BTreeMap<String, usize>,
}

/// Reads a `mailu.env` (`NAME=value` lines, `#` comments, optional quotes).
pub fn convert(text: &str) -> Converted {
    let map = mapping();
    let defaults = serde_json::to_value(Settings::default()).unwrap_or(Value::Null);
    let mut out = Converted::default();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let raw = raw.trim();
        if raw.is_empty() || raw.starts_with('#') {
            continue;
        }
        let raw = raw.strip_prefix("export ").unwrap_or(raw);
        let Some((name, value)) = raw.split_once('=') else {
            out.problems.push(Problem {
                line,
                name: raw.to_owned(),
                message: "is not a NAME=value line".into(),
            });
            continue;
        };
        let name = name.trim().to_owned();
        let value = unquote(value.trim());
        out.lines.insert(name.clone(), line);
        match map.get(&name) {
            None => out.ignored.push((
                name,
                "not a Mailu setting that docs/settings.md lists".into(),
            )),
            Some(Target::Ignored(why)) => out.ignored.push((name, why.clone())),
            Some(Target::ApiToken) => out.api_token = Some(value).filter(|v| !v.is_empty()),
            Some(Target::Secret(secret)) => {
                if !value.is_empty() {
                    out.secrets.insert(secret.clone(), value);
                }
            }
            Some(Target::Field(field)) => match typed(&defaults, field, &value) {
                Ok(v) => set(&mut out.settings, field, v),
                Err(message) => out.problems.push(Problem {
                    line,
                    name,
                    message: format!("{field}: {message}"),
                }),
            },
        }
    }
    out
}

fn unquote(value: &str) -> String {
    for q in ['"', '\''] {
        if value.len() >= 2 && value.starts_with(q) && value.ends_with(q) {
            return value[1..value.len() - 1].to_owned();
        }
    }
    value.to_owned()
}

/// `value` in the JSON type of `field`'s default.
fn typed(defaults: &Value, field: &str, value: &str) -> Result<Value, String> {
    let default = field
        .split('.')
        .try_fold(defaults, |v, k| v.get(k))
        .unwrap_or(&Value::Null);
    Ok(match default {
        Value::Bool(_) => match value.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Value::Bool(true),
            "false" | "0" | "no" | "off" | "" => Value::Bool(false),
            _ => return Err(format!("`{value}` is not true or false")),
        },
        Value::Number(_) => {
            if let Ok(n) = value.parse::<i64>() {
                Value::from(n)
            } else if let Ok(n) = value.parse::<u64>() {
                Value::from(n)
            } else {
                return Err(format!("`{value}` is not a whole number"));
            }
        }
        Value::Array(_) => Value::Array(
            value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        ),
        Value::String(d) => {
            let duration = humantime::parse_duration(d).is_ok();
            if duration && !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
                Value::String(format!("{value}s"))
            } else {
                Value::String(value.to_owned())
            }
        }
        _ => Value::String(value.to_owned()),
    })
}

fn set(patch: &mut serde_json::Map<String, Value>, field: &str, value: Value) {
    let mut parts: Vec<&str> = field.split('.').collect();
    let Some(last) = parts.pop() else { return };
    let mut table = patch;
    for p in parts {
        let entry = table
            .entry(p.to_owned())
            .or_insert_with(|| Value::Object(Default::default()));
        if !entry.is_object() {
            *entry = Value::Object(Default::default());
        }
        table = entry.as_object_mut().expect("made an object just above");
    }
    table.insert(last.to_owned(), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_maps_fields_secrets_and_the_api_token() {
        let m = mapping();
        assert_eq!(m["DOMAIN"], Target::Field("mail.domain".into()));
        assert_eq!(m["RELAYPASSWORD"], Target::Secret("relay_password".into()));
        assert_eq!(m["SECRET_KEY"], Target::Secret("secret_key".into()));
        assert_eq!(m["API_TOKEN"], Target::ApiToken);
        assert!(matches!(m["DISABLE_STATISTICS"], Target::Ignored(_)));
        assert!(matches!(m["DB_FLAVOR"], Target::Ignored(_)));
        // Every field the table names exists in the settings (a renamed key breaks this test).
        let defaults = serde_json::to_value(Settings::default()).unwrap();
        for (name, target) in &m {
            if let Target::Field(f) = target {
                let found = f.split('.').try_fold(&defaults, |v, k| v.get(k));
                let optional = found.is_none();
                // Optional keys (no default) are absent from the serialized defaults: check that
                // the table at least exists.
                let table = f.split('.').next().unwrap();
                assert!(
                    !optional || defaults.get(table).is_some(),
                    "{name} -> {f} is not a settings key"
                );
            }
        }
    }

    #[test]
    fn values_take_the_type_of_their_key() {
        let env = "# Mailu\nDOMAIN=example.org\nHOSTNAMES=mail.example.org,mx.example.org\n\
                   MESSAGE_SIZE_LIMIT=\"20000000\"\nWELCOME=true\nFETCHMAIL_DELAY=600\n\
                   RELAYPASSWORD=pw\nAPI_TOKEN=abcdefabcdefabcdef12\nDISABLE_STATISTICS=True\n\
                   CREDENTIAL_ROUNDS=many\nnot a line\n";
        let c = convert(env);
        assert_eq!(c.settings["mail"]["domain"], "example.org");
        assert_eq!(
            c.settings["mail"]["hostnames"],
            serde_json::json!(["mail.example.org", "mx.example.org"])
        );
        assert_eq!(c.settings["mail"]["message_size_limit"], 20_000_000);
        assert_eq!(c.settings["welcome"]["enabled"], true);
        assert_eq!(c.settings["fetchmail"]["delay"], "600s");
        assert_eq!(c.secrets["relay_password"], "pw");
        assert_eq!(c.api_token.as_deref(), Some("abcdefabcdefabcdef12"));
        assert!(c.ignored.iter().any(|(n, _)| n == "DISABLE_STATISTICS"));
        assert_eq!(c.problems.len(), 2, "{:?}", c.problems);
        assert_eq!(c.problems[0].line, 10);
        assert_eq!(c.problems[0].name, "CREDENTIAL_ROUNDS");
        assert_eq!(c.problems[1].line, 11);
    }
}
