//! Names with rules: [`DomainName`], [`Localpart`] and [`Email`].
//!
//! Raw input is parsed into these once, at the edge (API body, pushed file, import); everything past
//! that point can rely on them being valid. Parsing normalises as Mailu does: domain names become
//! lower-case ASCII (punycode) and localparts lower-case. The Unicode form of a domain is only a view.

use std::fmt;

/// Why a name was refused. The message is meant for a person and names the offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NameError(pub String);

/// A mail domain, stored as lower-case ASCII (IDNA/punycode), e.g. `xn--bcher-kva.example`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct DomainName(String);

impl DomainName {
    /// Parses a domain given in Unicode or ASCII form. It must have at least two labels; each label is
    /// 1–63 characters of `a-z`, `0-9` and `-`, not starting or ending with `-`; 253 characters at most.
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let trimmed = raw.trim().trim_end_matches('.');
        if trimmed.is_empty() {
            return Err(NameError("a domain name cannot be empty".into()));
        }
        let ascii = idna::domain_to_ascii_strict(trimmed)
            .map_err(|_| NameError(format!("`{raw}` is not a valid domain name (IDNA)")))?
            .to_ascii_lowercase();
        if ascii.len() > 253 {
            return Err(NameError(format!("`{raw}` is longer than 253 characters")));
        }
        let labels: Vec<&str> = ascii.split('.').collect();
        if labels.len() < 2 {
            return Err(NameError(format!(
                "`{raw}` is not a fully qualified domain name (it needs a dot)"
            )));
        }
        for label in &labels {
            let ok_chars = label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if label.is_empty()
                || label.len() > 63
                || !ok_chars
                || label.starts_with('-')
                || label.ends_with('-')
            {
                return Err(NameError(format!("`{raw}` has an invalid label `{label}`")));
            }
        }
        Ok(DomainName(ascii))
    }

    /// The ASCII (punycode) form: the one used in paths, maps and comparisons.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The Unicode form, as Mailu's API shows it.
    pub fn to_unicode(&self) -> String {
        idna::domain_to_unicode(&self.0).0
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for DomainName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        DomainName::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// The characters a localpart may hold besides `a-z` and `0-9`: RFC 5322 `atext` and the dot.
/// `%` and `_` are the wildcard characters of wildcard aliases (SQL `LIKE`, as in Mailu).
const LOCALPART_PUNCT: &str = "!#$%&'*+-/=?^_`{|}~.";

/// The part of an address before the `@`, lower-case, in RFC 5322 dot-atom form, 64 bytes at most.
/// Quoted localparts are refused: no mail client needs them and they cannot map to a file name safely.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Localpart(String);

impl Localpart {
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let lower = raw.trim().to_lowercase();
        if lower.is_empty() {
            return Err(NameError("a localpart cannot be empty".into()));
        }
        if lower.len() > 64 {
            return Err(NameError(format!(
                "localpart `{raw}` is longer than 64 bytes"
            )));
        }
        if let Some(bad) = lower.chars().find(|c| {
            !(c.is_ascii_lowercase() || c.is_ascii_digit() || LOCALPART_PUNCT.contains(*c))
        }) {
            return Err(NameError(format!(
                "localpart `{raw}` contains `{bad}`, which is not allowed"
            )));
        }
        if lower.starts_with('.') || lower.ends_with('.') || lower.contains("..") {
            return Err(NameError(format!(
                "localpart `{raw}` may not start or end with a dot or hold two dots in a row"
            )));
        }
        Ok(Localpart(lower))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this localpart holds a wildcard character (`%` or `_`), meaningful for wildcard aliases.
    pub fn has_wildcard(&self) -> bool {
        self.0.contains(['%', '_'])
    }
}

impl fmt::Display for Localpart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Localpart {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Localpart::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A mail address: a [`Localpart`] at a [`DomainName`]. Displays in ASCII form.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Email {
    pub local: Localpart,
    pub domain: DomainName,
}

impl Email {
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let raw = raw.trim();
        let (local, domain) = raw
            .rsplit_once('@')
            .ok_or_else(|| NameError(format!("`{raw}` is not an email address (no @)")))?;
        Ok(Email {
            local: Localpart::parse(local)?,
            domain: DomainName::parse(domain)?,
        })
    }

    /// The Unicode form, as Mailu's API shows it.
    pub fn to_unicode(&self) -> String {
        format!("{}@{}", self.local, self.domain.to_unicode())
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

impl serde::Serialize for Email {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Email {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Email::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_is_lowercased_and_punycoded() {
        assert_eq!(
            DomainName::parse("Example.COM").unwrap().as_str(),
            "example.com"
        );
        let d = DomainName::parse("bücher.example").unwrap();
        assert_eq!(d.as_str(), "xn--bcher-kva.example");
        assert_eq!(d.to_unicode(), "bücher.example");
    }

    #[test]
    fn domain_refuses_bad_names() {
        for bad in [
            "",
            "localhost",
            "-a.com",
            "a-.com",
            "a..com",
            "a_b.com",
            "exa mple.com",
            "../x.com",
        ] {
            assert!(DomainName::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn localpart_rules() {
        assert_eq!(
            Localpart::parse("Alice.Smith").unwrap().as_str(),
            "alice.smith"
        );
        assert!(Localpart::parse("%").unwrap().has_wildcard());
        assert!(Localpart::parse("a_b").unwrap().has_wildcard());
        for bad in [
            "",
            ".a",
            "a.",
            "a..b",
            "a b",
            "a\"b",
            "a@b",
            "a\0b",
            &"x".repeat(65),
        ] {
            assert!(Localpart::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn email_parses_both_halves() {
        let e = Email::parse("Bob@Bücher.Example").unwrap();
        assert_eq!(e.to_string(), "bob@xn--bcher-kva.example");
        assert_eq!(e.to_unicode(), "bob@bücher.example");
        assert!(Email::parse("nobody").is_err());
    }
}

/// The name of a service (a container of the stack): `front`, `smtp`, ..., `admin` for mailu-git
/// itself, or an operator's own. 1–63 characters of `a-z`, `0-9` and `-`, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ServiceName(String);

impl ServiceName {
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let ok = !raw.is_empty()
            && raw.len() <= 63
            && raw.starts_with(|c: char| c.is_ascii_lowercase())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.ends_with('-');
        if ok {
            Ok(ServiceName(raw.to_owned()))
        } else {
            Err(NameError(format!(
                "`{raw}` is not a valid service name (1-63 characters of a-z, 0-9 and -, starting with a letter)"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ServiceName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        ServiceName::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A reference to an encrypted secret, `<kind>/<name>`, stored at `secrets/<kind>/<name>`
/// (e.g. `dkim/example.com`, `relay/password`, `fetch/3`). Both parts are 1–128 characters of
/// `a-z`, `0-9`, `.`, `_` and `-`, not starting with a dot.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretRef {
    pub kind: String,
    pub name: String,
}

impl SecretRef {
    pub fn new(kind: &str, name: &str) -> Result<Self, NameError> {
        for part in [kind, name] {
            let ok = !part.is_empty()
                && part.len() <= 128
                && !part.starts_with('.')
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
            if !ok {
                return Err(NameError(format!(
                    "`{kind}/{name}` is not a valid secret name (two parts of a-z, 0-9, `.`, `_` and `-`)"
                )));
            }
        }
        Ok(SecretRef {
            kind: kind.to_owned(),
            name: name.to_owned(),
        })
    }

    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let (kind, name) = raw.split_once('/').ok_or_else(|| {
            NameError(format!(
                "`{raw}` is not a secret name (expected `<kind>/<name>`)"
            ))
        })?;
        SecretRef::new(kind, name)
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

impl serde::Serialize for SecretRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for SecretRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        SecretRef::parse(&raw).map_err(serde::de::Error::custom)
    }
}
