//! Mailu's `--update` notation, applied to the current configuration's document: the input's
//! entries are merged into the current ones instead of replacing the whole set.
//!
//! - `- -name: example.com` (`-email` for users and aliases) deletes that object;
//!   `- -name: null` prunes every object of the section the input does not list.
//! - A listed object is merged field by field into the current one; `-field: null` resets a field
//!   to its default.
//! - In a list field (`alternatives`, `forward_destination`, `manager_of`, `destination`, `ip`,
//!   `folders`), `-item` removes that item and `-prune-` drops every item the input does not list;
//!   other items are added. App tokens and fetched accounts are matched by `id` (`-id: 3` deletes
//!   one; `-prune-` in the list drops the unlisted ones).
//!
//! It works on JSON values (the notation does not fit the typed [`super::Document`]); the result
//! is parsed strictly afterwards. No IO.

use serde_json::{Map, Value};

use super::convert::{Entry, Problem};
use super::document::SECTIONS;
use crate::model::{DomainName, Email};

const LISTS: [&str; 6] = [
    "alternatives",
    "forward_destination",
    "manager_of",
    "destination",
    "ip",
    "folders",
];
const CHILDREN: [&str; 2] = ["tokens", "fetches"];
const PRUNE: &str = "-prune-";

/// `input` (a document in the `--update` notation) merged into `current` (the current
/// configuration's document); every problem at once.
pub fn merge(current: Value, input: &Value) -> Result<Value, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut current = match current {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let Some(input) = input.as_object() else {
        return Err(vec![problem("document", 0, "", "", "must be a mapping")]);
    };
    for key in input.keys() {
        if !SECTIONS.iter().any(|(s, _)| s == key) {
            problems.push(problem(
                key,
                0,
                "",
                "",
                "unknown section (domain, user, alias or relay)",
            ));
        }
    }
    for (section, pk) in SECTIONS {
        let Some(given) = input.get(section) else {
            continue;
        };
        let Some(given) = given.as_array() else {
            problems.push(problem(section, 0, "", "", "must be a list"));
            continue;
        };
        let mut items: Vec<Map<String, Value>> = match current.remove(section) {
            Some(Value::Array(items)) => items
                .into_iter()
                .filter_map(|v| match v {
                    Value::Object(m) => Some(m),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let canon = |m: &Map<String, Value>, k: &str| -> Option<String> {
            m.get(k).and_then(Value::as_str).map(|s| canonical(pk, s))
        };
        let mut prune = false;
        let mut listed = Vec::new();
        for (i, item) in given.iter().enumerate() {
            let Some(item) = item.as_object() else {
                problems.push(problem(section, i, "", "", "must be a mapping"));
                continue;
            };
            let delete_key = format!("-{pk}");
            if let Some(v) = item.get(&delete_key) {
                match v {
                    Value::Null => prune = true,
                    Value::String(s) => {
                        let c = canonical(pk, s);
                        items.retain(|m| canon(m, pk).as_deref() != Some(c.as_str()));
                    }
                    _ => problems.push(problem(
                        section,
                        i,
                        "",
                        &delete_key,
                        "must be a name to delete, or null to prune",
                    )),
                }
                continue;
            }
            let Some(key) = item.get(pk).and_then(Value::as_str) else {
                problems.push(problem(section, i, "", pk, "is required"));
                continue;
            };
            let c = canonical(pk, key);
            listed.push(c.clone());
            let at = Entry {
                section: section.to_owned(),
                index: i,
                key: key.to_owned(),
            };
            match items
                .iter_mut()
                .find(|m| canon(m, pk).as_deref() == Some(c.as_str()))
            {
                Some(existing) => {
                    // The stored spelling of the key stays (`A.ORG` names `a.org`).
                    let stored = existing.get(pk).cloned();
                    merge_object(existing, item, &at, &mut problems);
                    if let Some(stored) = stored {
                        existing.insert(pk.to_owned(), stored);
                    }
                }
                None => {
                    let mut fresh = Map::new();
                    merge_object(&mut fresh, item, &at, &mut problems);
                    items.push(fresh);
                }
            }
        }
        if prune {
            items.retain(|m| canon(m, pk).is_some_and(|c| listed.contains(&c)));
        }
        current.insert(
            section.to_owned(),
            Value::Array(items.into_iter().map(Value::Object).collect()),
        );
    }
    if problems.is_empty() {
        Ok(Value::Object(current))
    } else {
        Err(problems)
    }
}

fn problem(section: &str, index: usize, key: &str, field: &str, message: &str) -> Problem {
    Problem {
        entry: Entry {
            section: section.to_owned(),
            index,
            key: key.to_owned(),
        },
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

/// The form two spellings of one key share (IDNA, case).
fn canonical(pk: &str, raw: &str) -> String {
    let parsed = if pk == "email" {
        Email::parse(raw).map(|e| e.to_string()).ok()
    } else {
        DomainName::parse(raw).map(|d| d.as_str().to_owned()).ok()
    };
    parsed.unwrap_or_else(|| raw.trim().to_lowercase())
}

fn merge_object(
    existing: &mut Map<String, Value>,
    item: &Map<String, Value>,
    at: &Entry,
    problems: &mut Vec<Problem>,
) {
    for (k, v) in item {
        if let Some(field) = k.strip_prefix('-') {
            if v.is_null() {
                existing.remove(field);
            } else {
                problems.push(Problem {
                    entry: at.clone(),
                    field: k.clone(),
                    message: "`-field` takes null (reset the field to its default)".into(),
                });
            }
            continue;
        }
        if LISTS.contains(&k.as_str()) {
            let old = existing.get(k).map(as_list).unwrap_or_default();
            let merged = merge_list(old, as_list(v));
            existing.insert(k.clone(), Value::Array(merged));
        } else if CHILDREN.contains(&k.as_str()) {
            let old = match existing.remove(k) {
                Some(Value::Array(a)) => a,
                _ => Vec::new(),
            };
            let merged = merge_children(old, v, k, at, problems);
            existing.insert(k.clone(), Value::Array(merged));
        } else {
            existing.insert(k.clone(), v.clone());
        }
    }
}

/// A list field's items; a comma-separated string is a list too (Mailu accepts both).
fn as_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::String(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| Value::String(s.to_owned()))
            .collect(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

fn merge_list(old: Vec<Value>, given: Vec<Value>) -> Vec<Value> {
    let prune = given.iter().any(|v| v.as_str() == Some(PRUNE));
    let mut out = if prune { Vec::new() } else { old };
    for v in given {
        match v.as_str() {
            Some(PRUNE) => {}
            Some(s) if s.starts_with('-') => {
                let gone = &s[1..];
                out.retain(|o| o.as_str().is_none_or(|x| !x.eq_ignore_ascii_case(gone)));
            }
            _ => {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
        }
    }
    out
}

fn id_of(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn merge_children(
    old: Vec<Value>,
    given: &Value,
    field: &str,
    at: &Entry,
    problems: &mut Vec<Problem>,
) -> Vec<Value> {
    let given = match given {
        Value::Array(a) => a.clone(),
        Value::Null => Vec::new(),
        _ => {
            problems.push(Problem {
                entry: at.clone(),
                field: field.to_owned(),
                message: "must be a list".into(),
            });
            return old;
        }
    };
    let prune = given.iter().any(|v| v.as_str() == Some(PRUNE));
    let mut listed = Vec::new();
    let mut out = old;
    for (i, v) in given.iter().enumerate() {
        let Some(m) = v.as_object() else {
            if v.as_str() != Some(PRUNE) {
                problems.push(Problem {
                    entry: at.clone(),
                    field: format!("{field}.{i}"),
                    message: "must be a mapping or `-prune-`".into(),
                });
            }
            continue;
        };
        if let Some(gone) = m.get("-id").and_then(id_of) {
            out.retain(|o| o.get("id").and_then(id_of).as_deref() != Some(gone.as_str()));
            continue;
        }
        let id = m.get("id").and_then(id_of);
        let found = id.as_ref().and_then(|id| {
            out.iter_mut()
                .find(|o| o.get("id").and_then(id_of).as_ref() == Some(id))
        });
        match found {
            Some(Value::Object(existing)) => {
                for (k, v) in m {
                    existing.insert(k.clone(), v.clone());
                }
            }
            _ => out.push(v.clone()),
        }
        listed.push(id);
    }
    if prune {
        out.retain(|o| {
            let id = o.get("id").and_then(id_of);
            id.is_none() || listed.contains(&id)
        });
    }
    out
}
