//! [`RepoPath`]: the one definition of which paths may exist in the config repository, and of how an
//! object's identity (a domain, a user, an alias, ...) maps to the path of its file and back.
//!
//! Every path that enters the repository, from the API, a push or an import, is checked here once, so
//! the store can write trees without checking names again. Localparts map to file names by escaping
//! the few characters that are unsafe in a path or on common file systems as `~XX` (hex); the wildcard
//! characters `%` and `_` stay as they are. Anything that cannot map is refused.

use std::fmt;

use super::name::{DomainName, Email, Localpart, NameError, ServiceName};

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid path `{path}`: {reason}")]
pub struct PathError {
    pub path: String,
    pub reason: String,
}

/// A validated path inside the config repository: relative, `/`-separated, with no empty, `.`, `..`
/// or `.git` component, no NUL, control character or backslash, 255 bytes per component at most.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct RepoPath(String);

/// The longest path accepted, in bytes.
pub const MAX_PATH: usize = 4096;

/// The path of the global settings file.
pub const SETTINGS: &str = "mailu.toml";

/// The characters of a localpart that are escaped in file names, besides the escape character `~`.
const ESCAPED: &[char] = &['~', '/', '*', '?', '|'];

/// What object a path names, for the paths the model knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Settings,
    Domain(DomainName),
    User(Email),
    Alias(Email),
    Relay(DomainName),
    Service(ServiceName),
    /// `secrets/<kind>/<name>`.
    Secret {
        kind: String,
        name: String,
    },
    /// `templates/<service>/<path>.j2`: replaces a built-in template.
    Template {
        service: ServiceName,
        path: String,
    },
    /// `overrides/<service>/<absolute path>`: replaces one rendered file.
    Override {
        service: ServiceName,
        path: String,
    },
    /// `mailu-overrides/<mailu dir>/...`: Mailu's override files, with Mailu's meaning.
    MailuOverride {
        path: String,
    },
    /// `certificates/...`.
    Certificate {
        path: String,
    },
    /// `rendered/<service>/<absolute path>`: generated, never edited by hand.
    Rendered {
        service: ServiceName,
        path: String,
    },
    /// A path the model does not interpret (a README, `.gitignore`, ...). Loading reports files that
    /// look like model files but sit in the wrong place; other files are left alone.
    Other,
}

impl RepoPath {
    /// Checks any repository path.
    pub fn parse(raw: &str) -> Result<Self, PathError> {
        let fail = |reason: &str| PathError {
            path: raw.escape_debug().to_string(),
            reason: reason.into(),
        };
        if raw.is_empty() {
            return Err(fail("it is empty"));
        }
        if raw.len() > MAX_PATH {
            return Err(fail("it is longer than 4096 bytes"));
        }
        if raw.starts_with('/') {
            return Err(fail("it must be relative to the repository root"));
        }
        for c in raw.chars() {
            if c == '\0' || c.is_control() {
                return Err(fail("it contains a control character"));
            }
            if c == '\\' {
                return Err(fail("it contains a backslash"));
            }
        }
        for part in raw.split('/') {
            if part.is_empty() {
                return Err(fail("it has an empty component (`//` or a trailing `/`)"));
            }
            if part == "." || part == ".." {
                return Err(fail("it has a `.` or `..` component"));
            }
            if is_git_dir_name(part) {
                return Err(fail("it has a `.git` component"));
            }
            if part.len() > 255 {
                return Err(fail("a component is longer than 255 bytes"));
            }
        }
        Ok(RepoPath(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn settings() -> Self {
        RepoPath(SETTINGS.to_owned())
    }

    pub fn domain(domain: &DomainName) -> Self {
        RepoPath(format!("domains/{domain}/domain.toml"))
    }

    /// The folder that holds a domain and everything in it.
    pub fn domain_dir(domain: &DomainName) -> Self {
        RepoPath(format!("domains/{domain}"))
    }

    pub fn user(email: &Email) -> Self {
        RepoPath(format!(
            "domains/{}/users/{}.toml",
            email.domain,
            file_name(&email.local)
        ))
    }

    pub fn alias(email: &Email) -> Self {
        RepoPath(format!(
            "domains/{}/aliases/{}.toml",
            email.domain,
            file_name(&email.local)
        ))
    }

    pub fn relay(domain: &DomainName) -> Self {
        RepoPath(format!("relays/{domain}.toml"))
    }

    pub fn service(service: &ServiceName) -> Self {
        RepoPath(format!("services/{service}.toml"))
    }

    /// `secrets/<kind>/<name>`; both parts must be valid path components.
    pub fn secret(kind: &str, name: &str) -> Result<Self, PathError> {
        for part in [kind, name] {
            if part.contains('/') {
                return Err(PathError {
                    path: format!("secrets/{kind}/{name}"),
                    reason: "a secret kind or name may not contain `/`".into(),
                });
            }
        }
        RepoPath::parse(&format!("secrets/{kind}/{name}"))
    }

    /// `rendered/<service>/<absolute path>`; `path` is absolute in the container (`/etc/postfix/main.cf`).
    pub fn rendered(service: &ServiceName, path: &str) -> Result<Self, PathError> {
        let rel = path.strip_prefix('/').ok_or_else(|| PathError {
            path: path.to_owned(),
            reason: "a rendered file's path must be absolute".into(),
        })?;
        RepoPath::parse(&format!("rendered/{service}/{rel}"))
    }

    /// What object this path names. Paths under the model's folders that do not fit their pattern are
    /// an error, so a misplaced file is reported instead of silently ignored.
    pub fn entry(&self) -> Result<Entry, PathError> {
        let fail = |reason: String| PathError {
            path: self.0.clone(),
            reason,
        };
        let name_err = |e: NameError| PathError {
            path: self.0.clone(),
            reason: e.0,
        };
        let parts: Vec<&str> = self.0.split('/').collect();
        let rest = |n: usize| parts[n..].join("/");
        match parts.as_slice() {
            [SETTINGS] => Ok(Entry::Settings),
            ["domains", domain, "domain.toml"] => {
                Ok(Entry::Domain(canonical_domain(domain).map_err(name_err)?))
            }
            ["domains", domain, kind @ ("users" | "aliases"), file] => {
                let domain = canonical_domain(domain).map_err(name_err)?;
                let stem = file
                    .strip_suffix(".toml")
                    .ok_or_else(|| fail(format!("files under {kind}/ must end in .toml")))?;
                let local = localpart_from_file_name(stem).map_err(name_err)?;
                let email = Email { local, domain };
                Ok(if *kind == "users" {
                    Entry::User(email)
                } else {
                    Entry::Alias(email)
                })
            }
            ["domains", ..] => Err(fail(
                "under domains/ only <domain>/domain.toml, <domain>/users/<local>.toml and \
                 <domain>/aliases/<local>.toml are allowed"
                    .into(),
            )),
            ["relays", file] => {
                let stem = file
                    .strip_suffix(".toml")
                    .ok_or_else(|| fail("relay files must end in .toml".into()))?;
                Ok(Entry::Relay(canonical_domain(stem).map_err(name_err)?))
            }
            ["relays", ..] => Err(fail("relays/ holds only <domain>.toml files".into())),
            ["services", file] => {
                let stem = file
                    .strip_suffix(".toml")
                    .ok_or_else(|| fail("service files must end in .toml".into()))?;
                Ok(Entry::Service(ServiceName::parse(stem).map_err(name_err)?))
            }
            ["services", ..] => Err(fail("services/ holds only <service>.toml files".into())),
            ["secrets", kind, name] => Ok(Entry::Secret {
                kind: (*kind).to_owned(),
                name: (*name).to_owned(),
            }),
            ["secrets", ..] => Err(fail("secrets/ holds only <kind>/<name> files".into())),
            ["templates", service, _, ..] => Ok(Entry::Template {
                service: ServiceName::parse(service).map_err(name_err)?,
                path: rest(2),
            }),
            ["overrides", service, _, ..] => Ok(Entry::Override {
                service: ServiceName::parse(service).map_err(name_err)?,
                path: format!("/{}", rest(2)),
            }),
            ["rendered", service, _, ..] => Ok(Entry::Rendered {
                service: ServiceName::parse(service).map_err(name_err)?,
                path: format!("/{}", rest(2)),
            }),
            ["mailu-overrides", _, ..] => Ok(Entry::MailuOverride { path: rest(1) }),
            ["certificates", _, ..] => Ok(Entry::Certificate { path: rest(1) }),
            _ => Ok(Entry::Other),
        }
    }
}

impl fmt::Display for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for RepoPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The file name stem of a localpart: `~`, `/`, `*`, `?` and `|` become `~XX` (upper-case hex).
pub fn file_name(local: &Localpart) -> String {
    let mut out = String::with_capacity(local.as_str().len());
    for c in local.as_str().chars() {
        if ESCAPED.contains(&c) {
            out.push_str(&format!("~{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// The inverse of [`file_name`]. Refuses anything [`file_name`] would not have produced, so one
/// localpart has exactly one file.
pub fn localpart_from_file_name(stem: &str) -> Result<Localpart, NameError> {
    let mut out = String::with_capacity(stem.len());
    let mut chars = stem.chars();
    while let Some(c) = chars.next() {
        if c != '~' {
            out.push(c);
            continue;
        }
        let hex: String = chars.by_ref().take(2).collect();
        let decoded = u8::from_str_radix(&hex, 16)
            .ok()
            .map(char::from)
            .filter(|d| ESCAPED.contains(d));
        match decoded {
            Some(d) if hex == format!("{:02X}", d as u32) => out.push(d),
            _ => {
                return Err(NameError(format!(
                    "file name `{stem}` has an invalid escape `~{hex}`"
                )));
            }
        }
    }
    let local = Localpart::parse(&out)?;
    if file_name(&local) != stem {
        return Err(NameError(format!(
            "file name `{stem}` is not in canonical form (expected `{}`; localparts are lower-case)",
            file_name(&local)
        )));
    }
    Ok(local)
}

/// A domain folder or file name must be the canonical (lower-case ASCII) form, so one domain has one path.
fn canonical_domain(raw: &str) -> Result<DomainName, NameError> {
    let domain = DomainName::parse(raw)?;
    if domain.as_str() != raw {
        return Err(NameError(format!(
            "`{raw}` is not in canonical form: the folder must be named `{domain}` (lower-case, punycode)"
        )));
    }
    Ok(domain)
}

/// `.git` and the names that some file systems treat as `.git` (`.GIT`, `.git.`, `.git `, `git~1`).
fn is_git_dir_name(part: &str) -> bool {
    let lower = part.to_ascii_lowercase();
    let trimmed = lower.trim_end_matches(['.', ' ']);
    trimmed == ".git" || lower == "git~1"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(s: &str) -> Email {
        Email::parse(s).unwrap()
    }

    #[test]
    fn refuses_traversal_and_git_and_control() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a/./b",
            "a//b",
            "a/",
            ".git/config",
            "x/.GIT/y",
            "x/.git./y",
            "git~1/x",
            "a\0b",
            "a\nb",
            "a\\b",
        ] {
            assert!(RepoPath::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(RepoPath::parse(&"a".repeat(256)).is_err());
        assert!(RepoPath::parse("domains/example.com/domain.toml").is_ok());
    }

    #[test]
    fn object_paths_round_trip() {
        let e = email("a/b*c@example.com");
        let p = RepoPath::user(&e);
        assert_eq!(p.as_str(), "domains/example.com/users/a~2Fb~2Ac.toml");
        assert_eq!(p.entry().unwrap(), Entry::User(e));
        let w = email("%_x~y@example.com");
        let p = RepoPath::alias(&w);
        assert_eq!(p.as_str(), "domains/example.com/aliases/%_x~7Ey.toml");
        assert_eq!(p.entry().unwrap(), Entry::Alias(w));
    }

    #[test]
    fn non_canonical_names_are_refused() {
        for bad in [
            "domains/Example.com/domain.toml",
            "domains/bücher.example/domain.toml",
            "domains/example.com/users/Alice.toml",
            "domains/example.com/users/a~2fb.toml",
            "domains/example.com/users/a~41.toml",
            "domains/example.com/users/a~.toml",
            "domains/example.com/users/alice.txt",
            "domains/example.com/notes.txt",
            "relays/x.toml/y",
            "services/Front.toml",
        ] {
            let p = RepoPath::parse(bad).unwrap();
            assert!(p.entry().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn other_paths_are_classified() {
        let p = RepoPath::parse("overrides/smtp/etc/postfix/main.cf").unwrap();
        assert_eq!(
            p.entry().unwrap(),
            Entry::Override {
                service: ServiceName::parse("smtp").unwrap(),
                path: "/etc/postfix/main.cf".into()
            }
        );
        assert_eq!(
            RepoPath::parse("README.md").unwrap().entry().unwrap(),
            Entry::Other
        );
        assert_eq!(
            RepoPath::parse("mailu.toml").unwrap().entry().unwrap(),
            Entry::Settings
        );
    }
}
