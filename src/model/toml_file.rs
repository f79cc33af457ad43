//! Parsing one TOML file of the config repository into its typed value, or into every problem of that
//! file with its line and dotted field.
//!
//! The fast path is a plain `toml::from_str` followed by [`FileType::validate`]: a valid file is never
//! parsed twice. Only a file with problems is parsed again with `toml_edit` to find spans, and then
//! deserialized repeatedly: each time the offending key-value is blanked out (replaced by spaces, so
//! offsets and lines stay valid) and the next problem is looked for, a bounded number of times.
//! This module knows TOML and serde; it knows nothing about Mailu's rules.

use std::ops::Range;

use toml_edit::{Item, Value};

use super::diagnostic::line_of;
use super::{Diagnostic, FileType, Problem};

/// How many problems one file may report before the loader stops looking for more in it.
const MAX_PROBLEMS_PER_FILE: usize = 20;

/// Parses `text`, the content of repository file `file`, into a `T` that passed its own validation.
pub fn parse<T: FileType>(file: &str, text: &str) -> Result<T, Vec<Diagnostic>> {
    match toml::from_str::<T>(text) {
        Ok(value) => {
            let mut problems = Vec::new();
            value.validate(&mut problems);
            if problems.is_empty() {
                Ok(value)
            } else {
                Err(locate_all(file, text, &problems))
            }
        }
        Err(_) => Err(all_errors::<T>(file, text)),
    }
}

/// Ties field-level problems of one file to lines, parsing the file once for all of them.
pub fn locate_all(file: &str, text: &str, problems: &[Problem]) -> Vec<Diagnostic> {
    let nodes = toml_edit::Document::parse(text)
        .map(|doc| nodes(doc.as_item()))
        .unwrap_or_default();
    problems
        .iter()
        .map(|p| {
            let line = locate(&nodes, &p.field).map(|offset| line_of(text, offset));
            Diagnostic::field(file, line, p.field.clone(), p.message.clone())
        })
        .collect()
}

/// The slow path: every deserialization problem of a file that failed to parse.
fn all_errors<T: FileType>(file: &str, text: &str) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    let doc = match toml_edit::Document::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let line = e.span().map(|s| line_of(text, s.start));
            found.push(Diagnostic {
                file: file.to_owned(),
                line,
                field: None,
                message: format!("TOML syntax error: {}", e.message().trim_end()),
            });
            return found;
        }
    };
    let nodes = nodes(doc.as_item());
    let mut current = text.to_owned();
    let mut removed: Vec<String> = Vec::new();
    while found.len() < MAX_PROBLEMS_PER_FILE {
        let err = match toml::from_str::<T>(&current) {
            Ok(_) => break,
            Err(e) => e,
        };
        let message = err.message().trim_end().to_owned();
        let span = err.span();
        if let Some(missing) = missing_field(&message) {
            // A missing field is reported on the table that lacks it; it is the last error serde
            // reports for that table, and a key we blanked out ourselves is not missing at all.
            let table = span
                .as_ref()
                .and_then(|s| table_at(&nodes, s))
                .map(|n| n.path.clone())
                .unwrap_or_default();
            let field = join(&table, missing);
            if !removed.contains(&field) {
                let line = span.map(|s| line_of(text, s.start));
                found.push(Diagnostic::field(file, line, field, message));
            }
            break;
        }
        let Some(node) = span.as_ref().and_then(|s| node_at(&nodes, s.start)) else {
            found.push(Diagnostic {
                file: file.to_owned(),
                line: span.map(|s| line_of(text, s.start)),
                field: None,
                message,
            });
            break;
        };
        let line = span.map(|s| line_of(text, s.start));
        let message = explain_unknown(&message).unwrap_or(message);
        found.push(Diagnostic::field(file, line, node.path.clone(), message));
        removed.push(node.path.clone());
        let before = current.clone();
        blank(&mut current, &nodes, node);
        if current == before {
            break;
        }
    }
    if found.is_empty() {
        // toml_edit accepted what toml refused (or the loop could not isolate the problem).
        if let Err(e) = toml::from_str::<T>(text) {
            found.push(Diagnostic {
                file: file.to_owned(),
                line: e.span().map(|s| line_of(text, s.start)),
                field: None,
                message: e.message().trim_end().to_owned(),
            });
        }
    }
    found
}

/// One key-value (or array element, or table) of a parsed file, with where it sits.
#[derive(Debug, Clone)]
struct Node {
    /// Dotted path: keys and array indices (`tokens.0.ip`).
    path: String,
    /// The key's span, when the node has a key.
    key: Option<Range<usize>>,
    /// The value's span; for a `[table]` only its header.
    value: Option<Range<usize>>,
}

impl Node {
    fn start(&self) -> Option<usize> {
        self.key.as_ref().or(self.value.as_ref()).map(|r| r.start)
    }

    fn end(&self) -> Option<usize> {
        self.value.as_ref().or(self.key.as_ref()).map(|r| r.end)
    }
}

fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}.{child}")
    }
}

/// Every node of a document, parents before children.
fn nodes(root: &Item) -> Vec<Node> {
    let mut out = Vec::new();
    walk_item(root, "", &mut out);
    out
}

fn walk_item(item: &Item, path: &str, out: &mut Vec<Node>) {
    match item {
        Item::Table(table) => {
            for (key, child) in table.iter() {
                let child_path = join(path, key);
                out.push(Node {
                    path: child_path.clone(),
                    key: table.key(key).and_then(|k| k.span()),
                    value: child.span(),
                });
                walk_item(child, &child_path, out);
            }
        }
        Item::ArrayOfTables(array) => {
            for (i, table) in array.iter().enumerate() {
                let child_path = join(path, &i.to_string());
                out.push(Node {
                    path: child_path.clone(),
                    key: None,
                    value: table.span(),
                });
                for (key, child) in table.iter() {
                    let grand = join(&child_path, key);
                    out.push(Node {
                        path: grand.clone(),
                        key: table.key(key).and_then(|k| k.span()),
                        value: child.span(),
                    });
                    walk_item(child, &grand, out);
                }
            }
        }
        Item::Value(value) => walk_value(value, path, out),
        Item::None => {}
    }
}

fn walk_value(value: &Value, path: &str, out: &mut Vec<Node>) {
    match value {
        Value::Array(array) => {
            for (i, element) in array.iter().enumerate() {
                let child_path = join(path, &i.to_string());
                out.push(Node {
                    path: child_path.clone(),
                    key: None,
                    value: element.span(),
                });
                walk_value(element, &child_path, out);
            }
        }
        Value::InlineTable(table) => {
            for (key, child) in table.iter() {
                let child_path = join(path, key);
                out.push(Node {
                    path: child_path.clone(),
                    key: table.key(key).and_then(|k| k.span()),
                    value: child.span(),
                });
                walk_value(child, &child_path, out);
            }
        }
        _ => {}
    }
}

/// The byte offset where `field` (dotted) is written: its key, or the nearest enclosing node found.
fn locate(nodes: &[Node], field: &str) -> Option<usize> {
    let mut wanted = field;
    loop {
        if let Some(offset) = nodes
            .iter()
            .find(|n| n.path == wanted)
            .and_then(Node::start)
        {
            return Some(offset);
        }
        wanted = &wanted[..wanted.rfind('.')?];
    }
}

/// The node at `offset`: the deepest whose key holds it (serde points unknown keys at the key),
/// else the deepest whose text holds it.
fn node_at(nodes: &[Node], offset: usize) -> Option<&Node> {
    let depth = |n: &&Node| n.path.matches('.').count();
    nodes
        .iter()
        .filter(|n| n.key.as_ref().is_some_and(|k| k.contains(&offset)))
        .max_by_key(depth)
        .or_else(|| {
            nodes
                .iter()
                .filter(|n| match (n.start(), n.end()) {
                    (Some(start), Some(end)) => start <= offset && offset < end.max(start + 1),
                    _ => false,
                })
                .max_by_key(depth)
        })
}

/// The deepest table or array element whose value span holds all of `span` (the root when none).
fn table_at<'a>(nodes: &'a [Node], span: &Range<usize>) -> Option<&'a Node> {
    nodes
        .iter()
        .filter(|n| {
            n.value
                .as_ref()
                .is_some_and(|v| v.start <= span.start && span.end <= v.end)
        })
        .max_by_key(|n| n.path.matches('.').count())
}

/// Replaces the text of `node` with spaces (newlines kept), so the next deserialization attempt
/// skips it. A key-value inside an element of an array is blanked as a whole key-value; a
/// `[table]` is blanked with everything under it; a comma after an inline value goes too.
fn blank(text: &mut String, nodes: &[Node], node: &Node) {
    // Blank the innermost node that has a key: an array element alone cannot be removed cleanly.
    let mut target = node;
    while target.key.is_none() {
        let Some(parent) = target
            .path
            .rfind('.')
            .and_then(|i| nodes.iter().find(|n| n.path == target.path[..i]))
        else {
            break;
        };
        target = parent;
    }
    let prefix = format!("{}.", target.path);
    let mut ranges: Vec<Range<usize>> = nodes
        .iter()
        .filter(|n| n.path == target.path || n.path.starts_with(&prefix))
        .filter_map(|n| Some(n.start()?..n.end()?))
        .collect();
    ranges.sort_by_key(|r| r.start);
    let mut bytes = std::mem::take(text).into_bytes();
    for range in ranges {
        let mut range = range;
        // A table header (`[name]`, `[[name]]`) goes as a whole line: blanking only the name
        // would leave `[ ]`, which is not TOML.
        let line_start = bytes[..range.start.min(bytes.len())]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let first = bytes[line_start..]
            .iter()
            .position(|b| !b" \t".contains(b))
            .map(|i| line_start + i);
        if first.is_some_and(|i| bytes[i] == b'[') {
            let line_end = bytes[range.start.min(bytes.len())..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(bytes.len(), |i| range.start + i);
            range = line_start..range.end.max(line_end);
        }
        let mut end = range.end.min(bytes.len());
        let mut look = end;
        while look < bytes.len() && (bytes[look] == b' ' || bytes[look] == b'\t') {
            look += 1;
        }
        if look < bytes.len() && bytes[look] == b',' {
            end = look + 1;
        }
        for b in &mut bytes[range.start.min(end)..end] {
            if *b != b'\n' && *b != b'\r' {
                *b = b' ';
            }
        }
    }
    // Only ASCII spaces replaced whole UTF-8 sequences inside spans that start and end on
    // character boundaries, so the text stays valid UTF-8; fall back to lossy just in case.
    *text = String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
}

/// `missing field `x`` → `x`.
fn missing_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next()
}

/// Rewrites serde's "unknown field `x`, expected one of `a`, `b`" (and the same for an enum's
/// variants) as a "did you mean" hint.
fn explain_unknown(message: &str) -> Option<String> {
    let (what, rest) = if let Some(rest) = message.strip_prefix("unknown field `") {
        ("key", rest)
    } else if let Some(rest) = message.strip_prefix("unknown variant `") {
        ("value", rest)
    } else {
        return None;
    };
    let (unknown, rest) = rest.split_once('`')?;
    let allowed: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    let best = allowed
        .iter()
        .map(|a| (strsim::jaro_winkler(unknown, a), *a))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let list = allowed.join(", ");
    Some(match best {
        Some((_, suggestion)) => {
            format!("unknown {what} `{unknown}`; did you mean `{suggestion}`?")
        }
        None if allowed.is_empty() => format!("unknown {what} `{unknown}`; none is allowed here"),
        None if what == "key" => {
            format!("unknown key `{unknown}`; the keys allowed here are: {list}")
        }
        None => format!("unknown value `{unknown}`; expected one of: {list}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, serde::Serialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        name: String,
        #[serde(default)]
        count: u32,
        #[serde(default)]
        items: Vec<Item2>,
    }

    #[derive(Debug, serde::Deserialize, serde::Serialize)]
    #[serde(deny_unknown_fields)]
    struct Item2 {
        id: String,
        #[serde(default)]
        port: u16,
    }

    impl FileType for Sample {
        fn validate(&self, problems: &mut Vec<Problem>) {
            if self.count > 10 {
                problems.push(Problem::new("count", "must be at most 10"));
            }
            for (i, item) in self.items.iter().enumerate() {
                if item.port == 0 {
                    problems.push(Problem::new(format!("items.{i}.port"), "must not be 0"));
                }
            }
        }
    }

    #[test]
    fn valid_file_parses() {
        let s: Sample = parse("s.toml", "name = \"x\"\ncount = 3\n").unwrap();
        assert_eq!(s.count, 3);
    }

    #[test]
    fn syntax_error_has_line() {
        let err = parse::<Sample>("s.toml", "name = \"x\"\ncount = = 3\n").unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].line, Some(2));
        assert!(err[0].message.contains("syntax"), "{}", err[0].message);
    }

    #[test]
    fn unknown_key_suggests_and_all_problems_are_reported() {
        let text =
            "name = \"x\"\ncuont = 3\n\n[[items]]\nid = \"a\"\nprot = 1\n\n[[items]]\nid = 7\n";
        let err = parse::<Sample>("s.toml", text).unwrap_err();
        assert_eq!(err.len(), 3, "{err:#?}");
        assert_eq!(err[0].line, Some(2));
        assert_eq!(err[0].field.as_deref(), Some("cuont"));
        assert!(
            err[0].message.contains("did you mean `count`"),
            "{}",
            err[0].message
        );
        assert_eq!(err[1].line, Some(6));
        assert_eq!(err[1].field.as_deref(), Some("items.0.prot"));
        assert!(err[1].message.contains("did you mean `port`"));
        assert_eq!(err[2].line, Some(9));
        assert_eq!(err[2].field.as_deref(), Some("items.1.id"));
    }

    #[test]
    fn unknown_table_is_reported_once_with_a_hint() {
        let text = "name = \"x\"\n\n[itmes]\nid = \"a\"\nport = 1\n";
        let err = parse::<Sample>("s.toml", text).unwrap_err();
        assert_eq!(err.len(), 1, "{err:#?}");
        assert_eq!(err[0].line, Some(3));
        assert_eq!(err[0].field.as_deref(), Some("itmes"));
        assert!(
            err[0].message.contains("did you mean `items`"),
            "{}",
            err[0].message
        );
    }

    #[test]
    fn unknown_array_of_tables_is_reported_once() {
        let text = "name = \"x\"\n[[itmes]]\nid = \"a\"\n\n[[itmes]]\nid = \"b\"\n";
        let err = parse::<Sample>("s.toml", text).unwrap_err();
        assert_eq!(err.len(), 1, "{err:#?}");
        assert_eq!(err[0].field.as_deref(), Some("itmes"));
    }

    #[test]
    fn dotted_keys_are_located() {
        let err = parse::<Sample>("s.toml", "name = \"x\"\nitems.bad = 1\n").unwrap_err();
        assert_eq!(err[0].line, Some(2));
        assert!(err[0].field.as_deref().unwrap().starts_with("items"));
    }

    #[test]
    fn missing_field_is_named() {
        let err = parse::<Sample>("s.toml", "count = 3\n").unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].field.as_deref(), Some("name"));
    }

    #[test]
    fn blanked_required_key_is_not_reported_missing() {
        let err = parse::<Sample>("s.toml", "name = 5\n").unwrap_err();
        assert_eq!(err.len(), 1, "{err:#?}");
        assert_eq!(err[0].field.as_deref(), Some("name"));
        assert_eq!(err[0].line, Some(1));
    }

    #[test]
    fn validation_problems_get_lines() {
        let text = "name = \"x\"\ncount = 30\n[[items]]\nid = \"a\"\nport = 0\n";
        let err = parse::<Sample>("s.toml", text).unwrap_err();
        assert_eq!(err.len(), 2);
        assert_eq!(
            (err[0].line, err[0].field.as_deref()),
            (Some(2), Some("count"))
        );
        assert_eq!(
            (err[1].line, err[1].field.as_deref()),
            (Some(5), Some("items.0.port"))
        );
    }
}
