//! Filters of the smtp (postfix) templates: Mailu's override files merged the way its `postconf -e`
//! and `postconf -Me` calls merged them, and the address analysis that keeps Mailu's alias
//! precedence in postfix tables when a recipient carries an extension (`user+tag@`). Pure string
//! functions; the templates decide what is rendered where.

use minijinja::value::Value;
use minijinja::{Environment, Error};

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("postfix_main_edit", |base: String, edits: String| {
        main_edit(&base, &edits)
    });
    env.add_filter("postfix_main_problems", |edits: String, file: String| {
        main_problems(&edits, &file)
    });
    env.add_filter("postfix_master_edit", |base: String, edits: String| {
        master_edit(&base, &edits)
    });
    env.add_filter("postfix_master_problems", |edits: String, file: String| {
        master_problems(&edits, &file)
    });
    env.add_filter(
        "postfix_tagged_names",
        |names: Vec<String>, patterns: Vec<String>, delimiters: String, whole: bool| {
            tagged_names(&names, &patterns, &delimiters, whole)
        },
    );
    env.add_filter("postfix_wildcards", wildcards);
    env.add_filter(
        "postfix_like_untagged",
        |pattern: String, delimiters: String| like_untagged(&pattern, &delimiters),
    );
}

/// The lines Mailu hands to `postconf`: not empty, not a comment (Mailu skips lines starting with
/// `#`; a blank line or one of spaces only is skipped here too, postconf would refuse it).
fn override_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().filter_map(|(i, line)| {
        let t = line.trim();
        (!t.is_empty() && !t.starts_with('#')).then_some((i + 1, t))
    })
}

/// `name = value` of one `postconf -e` argument, or why postconf refuses it.
fn parameter(line: &str) -> Result<(&str, &str), &'static str> {
    let (name, value) = line
        .split_once('=')
        .ok_or("is not `name = value` (postconf -e refuses it)")?;
    let name = name.trim();
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
    if ok {
        Ok((name, value.trim()))
    } else {
        Err("does not start with a parameter name (letters, digits, `_`)")
    }
}

/// The parameters of a postfix.cf override in order of first definition, each with its last value.
fn parameters(edits: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (_, line) in override_lines(edits) {
        let Ok((name, value)) = parameter(line) else {
            continue;
        };
        match out.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value.to_owned(),
            None => out.push((name.to_owned(), value.to_owned())),
        }
    }
    out
}

/// main.cf with `postconf -e` applied for every line of `edits`: a parameter main.cf has is
/// replaced where it stands (with its continuation lines), a new one is appended at the end; a
/// parameter given twice takes its last value. Lines postconf would refuse change nothing.
pub fn main_edit(base: &str, edits: &str) -> String {
    let mut pending = parameters(edits);
    let mut out = String::with_capacity(base.len() + edits.len());
    let mut skipping = false;
    for line in base.lines() {
        let continuation = line.starts_with([' ', '\t']) && !line.trim().is_empty();
        if skipping && continuation {
            continue;
        }
        skipping = false;
        let own = !continuation && !line.trim_start().starts_with('#');
        let name = own
            .then(|| line.split_once('=').map(|(n, _)| n.trim()))
            .flatten();
        if let Some(i) = name.and_then(|n| pending.iter().position(|(p, _)| p == n)) {
            let (name, value) = pending.remove(i);
            out.push_str(&format!("{name} = {value}\n"));
            skipping = true;
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if !pending.is_empty() {
        out.push_str("\n# From mailu-overrides/postfix/postfix.cf.\n");
        for (name, value) in pending {
            out.push_str(&format!("{name} = {value}\n"));
        }
    }
    out
}

/// What postconf would have refused in a postfix.cf override, as messages naming file and line.
pub fn main_problems(edits: &str, file: &str) -> Vec<String> {
    override_lines(edits)
        .filter_map(|(n, line)| {
            parameter(line)
                .err()
                .map(|why| format!("{file} line {n}: `{line}` {why}; the line is ignored"))
        })
        .collect()
}

/// One `postconf -Me` argument: `service/type=entry`, the entry a whole master.cf line.
fn master_entry(line: &str) -> Result<(&str, &str, &str), String> {
    let (key, entry) = line
        .split_once('=')
        .ok_or("is not `service/type = entry` (postconf -Me refuses it)")?;
    let (service, kind) = key
        .trim()
        .split_once('/')
        .ok_or("does not start with `service/type`")?;
    let entry = entry.trim();
    let fields: Vec<&str> = entry.split_whitespace().collect();
    if fields.len() < 8 {
        return Err(format!(
            "has {} fields after `=`; a master.cf entry has 8 (service type private unpriv chroot wakeup maxproc command)",
            fields.len()
        ));
    }
    if fields[0] != service || fields[1] != kind {
        return Err(format!(
            "names `{service}/{kind}` but its entry is `{} {}`",
            fields[0], fields[1]
        ));
    }
    Ok((service, kind, entry))
}

/// master.cf with `postconf -Me` applied for every line of `edits`: an entry replaces the one of
/// the same service and type (with its `-o` continuation lines) where it stands, or is appended.
pub fn master_edit(base: &str, edits: &str) -> String {
    let mut pending: Vec<(String, String, String)> = Vec::new();
    for (_, line) in override_lines(edits) {
        let Ok((service, kind, entry)) = master_entry(line) else {
            continue;
        };
        match pending
            .iter_mut()
            .find(|(s, k, _)| s == service && k == kind)
        {
            Some(slot) => slot.2 = entry.to_owned(),
            None => pending.push((service.to_owned(), kind.to_owned(), entry.to_owned())),
        }
    }
    let mut out = String::with_capacity(base.len() + edits.len());
    let mut skipping = false;
    for line in base.lines() {
        let continuation = line.starts_with([' ', '\t']) && !line.trim().is_empty();
        if skipping && continuation {
            continue;
        }
        skipping = false;
        let mut fields = line.split_whitespace();
        let own = !continuation && !line.starts_with('#');
        let key = own.then(|| (fields.next(), fields.next()));
        if let Some((Some(service), Some(kind))) = key
            && let Some(i) = pending
                .iter()
                .position(|(s, k, _)| s == service && k == kind)
        {
            let (_, _, entry) = pending.remove(i);
            out.push_str(&entry);
            out.push('\n');
            skipping = true;
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if !pending.is_empty() {
        out.push_str("\n# From mailu-overrides/postfix/postfix.master.\n");
        for (_, _, entry) in pending {
            out.push_str(&entry);
            out.push('\n');
        }
    }
    out
}

/// What postconf -Me would have refused in a postfix.master override, naming file and line.
pub fn master_problems(edits: &str, file: &str) -> Vec<String> {
    override_lines(edits)
        .filter_map(|(n, line)| {
            master_entry(line)
                .err()
                .map(|why| format!("{file} line {n}: `{line}` {why}; the line is ignored"))
        })
        .collect()
}

/// A domain's wildcard aliases (its `aliases`, in Mailu's precedence) as postfix tables hold them:
/// `catchall`, the first enabled one whose pattern is only `%` (it matches every localpart, so it
/// becomes the `@domain` entry, the last thing postfix tries), or none; and `rules`, the enabled
/// wildcards that come before it, for the regexp table. Wildcards after a catch-all never match in
/// Mailu and are left out; disabled ones receive nothing.
fn wildcards(aliases: Vec<Value>) -> Result<Value, Error> {
    let mut rules = Vec::new();
    let mut catchall = Value::from(());
    for alias in aliases {
        if !alias.get_attr("wildcard")?.is_true() || alias.get_attr("disabled")?.is_true() {
            continue;
        }
        let local = alias.get_attr("localpart")?;
        if local.as_str().is_some_and(|l| l.chars().all(|c| c == '%')) {
            catchall = alias;
            break;
        }
        rules.push(alias);
    }
    let view: std::collections::BTreeMap<&str, Value> =
        [("rules", Value::from(rules)), ("catchall", catchall)].into();
    Ok(Value::from(view))
}

/// Whether the SQL `LIKE` pattern matches `local` (`%` any run, `_` one character).
fn like(pattern: &[char], local: &[char]) -> bool {
    match pattern.split_first() {
        None => local.is_empty(),
        Some(('%', rest)) => (0..=local.len()).any(|i| like(rest, &local[i..])),
        Some(('_', rest)) => !local.is_empty() && like(rest, &local[1..]),
        Some((c, rest)) => local.first() == Some(c) && like(rest, &local[1..]),
    }
}

/// Whether some localpart that starts with `prefix` matches the `LIKE` pattern: the pattern can
/// consume the whole prefix (whatever is left of it matches some suffix).
fn like_prefix(pattern: &[char], prefix: &[char]) -> bool {
    match (pattern.split_first(), prefix.split_first()) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(('%', rest)), Some(_)) => {
            like_prefix(rest, prefix) || like_prefix(pattern, &prefix[1..])
        }
        (Some(('_', rest)), Some(_)) => like_prefix(rest, &prefix[1..]),
        (Some((c, rest)), Some((p, more))) => c == p && like_prefix(rest, more),
    }
}

/// The exact localparts (users, exact aliases) whose extended addresses (`name<delimiter>tag`) a
/// wildcard rule of the regexp table would catch before postfix tries the address without its
/// extension in the exact table. Mailu strips the extension first, so these names get their own
/// rules ahead of the wildcards. A wildcard catches `name+tag` when it matches `name` (the rules
/// for extended addresses test the part before the delimiter) or, with `whole`, when it matches
/// the whole extended localpart. Catch-all patterns (only `%`) are not asked about: they live in
/// the exact table as `@domain`, after the extension is stripped.
pub fn tagged_names(
    names: &[String],
    patterns: &[String],
    delimiters: &str,
    whole: bool,
) -> Vec<String> {
    if delimiters.is_empty() {
        // Without a delimiter no address has an extension.
        return Vec::new();
    }
    let patterns: Vec<Vec<char>> = patterns
        .iter()
        .filter(|p| !p.chars().all(|c| c == '%'))
        .map(|p| p.chars().collect())
        .collect();
    names
        .iter()
        .filter(|name| !name.chars().any(|c| delimiters.contains(c)))
        .filter(|name| {
            let local: Vec<char> = name.chars().collect();
            patterns.iter().any(|p| {
                like(p, &local)
                    || (whole
                        && delimiters.chars().any(|d| {
                            let mut prefix = local.clone();
                            prefix.push(d);
                            like_prefix(p, &prefix)
                        }))
            })
        })
        .cloned()
        .collect()
}

/// The `LIKE` pattern as a regular expression for the part of a localpart before its first
/// delimiter: `%` and `_` match no delimiter (and no `@`). None when the pattern holds a delimiter
/// itself, since such a part never does.
pub fn like_untagged(pattern: &str, delimiters: &str) -> Option<String> {
    if pattern.chars().any(|c| delimiters.contains(c)) {
        return None;
    }
    let mut class = String::from("[^@");
    for d in delimiters.chars() {
        // Inside a bracket expression only `]`, `^` and `-` are special; `\` and `/` are kept
        // literal by POSIX, and postfix's own `/` delimiter is escaped.
        match d {
            ']' | '^' | '-' => {}
            '/' => class.push_str("\\/"),
            d => class.push(d),
        }
    }
    if delimiters.contains('^') {
        class.push('^');
    }
    if delimiters.contains(']') {
        // `]` is literal right after `[^`.
        class.insert(2, ']');
    }
    if delimiters.contains('-') {
        class.push('-');
    }
    class.push(']');
    let mut re = String::new();
    for c in pattern.chars() {
        match c {
            '%' => {
                re.push_str(&class);
                re.push('*');
            }
            '_' => re.push_str(&class),
            c => {
                if "\\.^$|?*+()[]{}/".contains(c) {
                    re.push('\\');
                }
                re.push(c);
            }
        }
    }
    Some(re)
}

#[cfg(test)]
#[path = "smtp/tests.rs"]
mod tests;
