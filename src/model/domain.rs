//! `domains/<domain>/domain.toml`: one mail domain. The folder name is the domain (punycode); the
//! file holds its limits, its alternative names and its managers. Its DKIM key is not here: it is a
//! secret at `secrets/dkim/<domain>` (the selector is a global setting, as in Mailu).

use super::{DomainName, Email, FileType, Problem};

/// A mail domain (Mailu's `domain` table, with `alternative` and `manager` folded in).
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Domain {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub comment: String,
    /// The most users this domain may have; -1 means no limit.
    #[serde(skip_serializing_if = "is_unlimited")]
    pub max_users: i64,
    /// The most aliases this domain may have; -1 means no limit.
    #[serde(skip_serializing_if = "is_unlimited")]
    pub max_aliases: i64,
    /// The largest quota a user of this domain may have, in bytes; 0 means no cap.
    #[serde(skip_serializing_if = "is_zero")]
    pub max_quota_bytes: u64,
    /// Whether anyone may sign up for an account on this domain.
    #[serde(skip_serializing_if = "is_false")]
    pub signup_enabled: bool,
    /// Whether users of this domain may create random (anonymous) aliases.
    #[serde(skip_serializing_if = "is_false")]
    pub anonmail_enabled: bool,
    /// Other names of this domain (Mailu's alternatives): mail to `x@alt` is mail to `x@domain`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<DomainName>,
    /// Users who may administer this domain, as full addresses. As in Mailu a manager may be a user
    /// of any local domain; each must exist.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub managers: Vec<Email>,
    /// The public half of the domain's DKIM key (base64 DER, the `p=` of its DNS record); the
    /// private key is the secret `secrets/dkim/<domain>`. Written by `POST /domain/<d>/dkim`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub dkim_public_key: String,
}

impl Default for Domain {
    fn default() -> Self {
        Domain {
            comment: String::new(),
            max_users: -1,
            max_aliases: -1,
            max_quota_bytes: 0,
            signup_enabled: false,
            anonmail_enabled: false,
            alternatives: Vec::new(),
            managers: Vec::new(),
            dkim_public_key: String::new(),
        }
    }
}

impl FileType for Domain {
    fn validate(&self, problems: &mut Vec<Problem>) {
        check_comment(&self.comment, "comment", problems);
        for (field, value) in [
            ("max_users", self.max_users),
            ("max_aliases", self.max_aliases),
        ] {
            if value < -1 {
                problems.push(Problem::new(field, "must be -1 (no limit) or at least 0"));
            }
        }
        duplicates(&self.alternatives, "alternatives", problems);
        duplicates(&self.managers, "managers", problems);
        let base64_ok = self
            .dkim_public_key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b));
        if !base64_ok || self.dkim_public_key.len() > 2048 {
            problems.push(Problem::new(
                "dkim_public_key",
                "must be the base64 of a public key (the `p=` of a DKIM record)",
            ));
        }
    }
}

/// Reports the second and later occurrence of each repeated item of a list.
pub(crate) fn duplicates<T: PartialEq + std::fmt::Display>(
    items: &[T],
    field: &str,
    problems: &mut Vec<Problem>,
) {
    for (i, item) in items.iter().enumerate() {
        if items[..i].contains(item) {
            problems.push(Problem::new(
                format!("{field}.{i}"),
                format!("`{item}` is listed twice"),
            ));
        }
    }
}

/// Mailu's `comment` columns are 255 characters at most.
pub(crate) fn check_comment(comment: &str, field: &str, problems: &mut Vec<Problem>) {
    if comment.chars().count() > 255 {
        problems.push(Problem::new(field, "is longer than 255 characters"));
    }
}

pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

pub(crate) fn is_true(b: &bool) -> bool {
    *b
}

fn is_unlimited(n: &i64) -> bool {
    *n == -1
}

pub(crate) fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::toml_file::parse;

    #[test]
    fn defaults_are_mailus() {
        let d: Domain = parse("d", "").unwrap();
        assert_eq!(d, Domain::default());
        assert_eq!(toml::to_string(&d).unwrap(), "");
    }

    #[test]
    fn limits_below_minus_one_are_refused() {
        let err = parse::<Domain>(
            "domains/a.com/domain.toml",
            "comment = \"x\"\nmax_users = -2\n",
        )
        .unwrap_err();
        assert_eq!(err[0].line, Some(2));
        assert_eq!(err[0].field.as_deref(), Some("max_users"));
    }

    #[test]
    fn repeated_alternative_is_refused() {
        let err = parse::<Domain>("d", "alternatives = [\"b.com\",\n  \"B.com\"]\n").unwrap_err();
        assert_eq!(err[0].field.as_deref(), Some("alternatives.1"));
        assert_eq!(err[0].line, Some(2));
    }

    #[test]
    fn bad_alternative_name_is_refused() {
        let err = parse::<Domain>("d", "\nalternatives = [\"not a domain\"]\n").unwrap_err();
        assert_eq!(err[0].line, Some(2));
        assert!(err[0].field.as_deref().unwrap().starts_with("alternatives"));
    }
}
