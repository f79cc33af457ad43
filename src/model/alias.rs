//! `domains/<domain>/aliases/<local>.toml`: one alias. The path is the alias's address; with
//! `wildcard = true` its localpart is an SQL `LIKE` pattern (`%` any run, `_` one character), as in
//! Mailu. Whether the destinations exist is a cross-file rule (`rules`), checked at load.

use super::domain::{check_comment, duplicates, is_false};
use super::{Email, FileType, Problem};

/// An alias (Mailu's `alias` table).
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Alias {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub comment: String,
    /// Where mail to this alias goes. Addresses in local domains must exist; others are free.
    pub destination: Vec<Email>,
    /// The localpart is a pattern (`%`, `_`); the longest non-wildcard match wins, as in Mailu.
    #[serde(skip_serializing_if = "is_false")]
    pub wildcard: bool,
    /// A disabled alias receives no mail.
    #[serde(skip_serializing_if = "is_false")]
    pub disabled: bool,
    /// Anonymous aliases: the website this alias was made for.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hostname: String,
}

impl FileType for Alias {
    fn validate(&self, problems: &mut Vec<Problem>) {
        check_comment(&self.comment, "comment", problems);
        if self.destination.is_empty() {
            problems.push(Problem::new(
                "destination",
                "an alias needs at least one destination",
            ));
        }
        duplicates(&self.destination, "destination", problems);
        if self.hostname.len() > 255 {
            problems.push(Problem::new("hostname", "is longer than 255 characters"));
        }
    }
}

/// Whether `local` matches the SQL `LIKE` pattern `pattern` (`%` any run, `_` one character);
/// both are lower-case already.
pub fn like(pattern: &str, local: &str) -> bool {
    fn go(p: &[char], s: &[char]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some(('%', rest)) => (0..=s.len()).any(|i| go(rest, &s[i..])),
            Some(('_', rest)) => !s.is_empty() && go(rest, &s[1..]),
            Some((c, rest)) => s.first() == Some(c) && go(rest, &s[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = local.chars().collect();
    go(&p, &s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::toml_file::parse;

    #[test]
    fn alias_needs_a_destination() {
        let err = parse::<Alias>("a.toml", "comment = \"x\"\ndestination = []\n").unwrap_err();
        assert_eq!(err[0].line, Some(2));
        assert_eq!(err[0].field.as_deref(), Some("destination"));
    }

    #[test]
    fn alias_destination_must_be_emails() {
        let err = parse::<Alias>("a.toml", "\ndestination = [\"x\"]\n").unwrap_err();
        assert_eq!(err[0].line, Some(2));
    }

    #[test]
    fn like_matches_sql_semantics() {
        assert!(like("%", "anything"));
        assert!(like("a_c", "abc"));
        assert!(!like("a_c", "ac"));
        assert!(like("sales-%", "sales-eu"));
        assert!(!like("sales-%", "sale"));
    }
}
