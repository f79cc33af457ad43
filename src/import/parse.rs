//! Reading a document where the command runs: YAML (what `flask mailu config-export` prints) or
//! JSON (`--json`), strictly into a [`Document`] (errors name the entry, the field and the line),
//! or loosely into a JSON value for the `--update` notation. [`entry_lines`] finds the line where
//! each entry of a section starts, so problems found later (by `convert` or by the server) can
//! point at the file too.

use std::collections::BTreeMap;

use serde_json::Value;

use super::document::{Document, SECTIONS};

/// The syntax of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

impl Format {
    /// JSON when the text starts with `{`, else YAML.
    pub fn guess(text: &str) -> Format {
        if text.trim_start().starts_with('{') {
            Format::Json
        } else {
            Format::Yaml
        }
    }
}

/// A document that cannot be read: where (the 1-based line when known, the dotted path of the
/// field when known) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default(), if path.is_empty() || path == "." { String::new() } else { format!("{path}: ") })]
pub struct Error {
    pub line: Option<usize>,
    pub path: String,
    pub message: String,
}

/// The document, strictly: unknown keys and wrong types are errors.
pub fn document(text: &str, format: Format) -> Result<Document, Error> {
    let lines = entry_lines(text, format);
    match format {
        Format::Json => {
            let mut de = serde_json::Deserializer::from_str(text);
            serde_path_to_error::deserialize(&mut de).map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                let line = (inner.line() > 0).then_some(inner.line());
                located(line, path, inner.to_string(), &lines)
            })
        }
        Format::Yaml => {
            if text.trim().is_empty() {
                return Ok(Document::default());
            }
            let de = serde_norway::Deserializer::from_str(text);
            serde_path_to_error::deserialize(de).map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                let line = inner.location().map(|l| l.line());
                located(line, path, inner.to_string(), &lines)
            })
        }
    }
}

/// The document as a JSON value (for the `--update` notation, whose `-key`s the typed form refuses).
pub fn value(text: &str, format: Format) -> Result<Value, Error> {
    let parsed = match format {
        Format::Json => serde_json::from_str::<Value>(text).map_err(|e| Error {
            line: Some(e.line()),
            path: String::new(),
            message: e.to_string(),
        }),
        Format::Yaml if text.trim().is_empty() => Ok(Value::Object(Default::default())),
        Format::Yaml => serde_norway::from_str::<Value>(text).map_err(|e| Error {
            line: e.location().map(|l| l.line()),
            path: String::new(),
            message: e.to_string(),
        }),
    }?;
    if parsed.is_object() {
        Ok(parsed)
    } else {
        Err(Error {
            line: None,
            path: String::new(),
            message: "the document must be a mapping of sections (domain, user, alias, relay)"
                .into(),
        })
    }
}

/// A deserialization error at `path` (`user[3].tokens[0].id`); when the parser gave no line, the
/// line of the entry the path names.
fn located(
    line: Option<usize>,
    path: String,
    message: String,
    lines: &BTreeMap<(String, usize), usize>,
) -> Error {
    let line = line.or_else(|| {
        let (section, rest) = path.split_once('[')?;
        let index: usize = rest.split_once(']')?.0.parse().ok()?;
        lines.get(&(section.to_owned(), index)).copied()
    });
    // The parser's message repeats the position; the error shows it once.
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_owned();
    Error {
        line,
        path,
        message,
    }
}

/// The 1-based line where each entry of each section starts: `(section, index) -> line`.
pub fn entry_lines(text: &str, format: Format) -> BTreeMap<(String, usize), usize> {
    match format {
        Format::Yaml => yaml_lines(text),
        Format::Json => json_lines(text),
    }
}

fn yaml_lines(text: &str) -> BTreeMap<(String, usize), usize> {
    let mut out = BTreeMap::new();
    let mut section: Option<(&str, Option<usize>, usize)> = None;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("---") {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if indent == 0 && !trimmed.starts_with('-') {
            let key = trimmed
                .split(':')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches(['"', '\'']);
            section = SECTIONS
                .iter()
                .find(|(s, _)| *s == key)
                .map(|(s, _)| (*s, None, 0));
            continue;
        }
        if let Some((name, item_indent, count)) = &mut section
            && (trimmed.starts_with("- ") || trimmed == "-")
        {
            let at = *item_indent.get_or_insert(indent);
            if at == indent {
                out.insert(((*name).to_owned(), *count), n + 1);
                *count += 1;
            }
        }
    }
    out
}

fn json_lines(text: &str) -> BTreeMap<(String, usize), usize> {
    let mut out = BTreeMap::new();
    let mut line = 1;
    let mut depth = 0usize;
    let mut last_key: Option<String> = None;
    let mut in_section: Option<(String, usize)> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            '"' => {
                let mut s = String::new();
                let mut escaped = false;
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                    }
                    if escaped {
                        escaped = false;
                        s.push(c);
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    } else {
                        s.push(c);
                    }
                }
                if depth == 1 {
                    last_key = Some(s);
                }
            }
            '[' | '{' => {
                if depth == 1 && c == '[' {
                    in_section = last_key
                        .take()
                        .filter(|k| SECTIONS.iter().any(|(s, _)| s == k))
                        .map(|k| (k, 0));
                }
                if depth == 2
                    && c == '{'
                    && let Some((name, count)) = &mut in_section
                {
                    out.insert((name.clone(), *count), line);
                    *count += 1;
                }
                depth += 1;
            }
            ']' | '}' => {
                depth = depth.saturating_sub(1);
                if depth == 1 {
                    in_section.take_if(|_| c == ']');
                }
            }
            _ => {}
        }
    }
    out
}
