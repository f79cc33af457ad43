//! The first run (issue 12): the identity a configuration starts with (`mail.domain`,
//! `mail.hostnames`, `mail.postmaster`, `tls.flavor`), its mail domain and a first global admin
//! user, checked and turned into the files that hold them.
//!
//! One implementation serves both ways in: `mailu-git init` (version 1 of a new repository,
//! `server::init`) and `POST /api/v1/init` (a running server still on the template's example
//! values, `api::init`), so a setup is never judged or written two ways. No IO and no hashing:
//! the caller hashes the admin's password and hands in the hash.

use serde::Deserialize;

use super::settings::{Settings, TlsFlavor, mail::is_example};
use super::user::User;
use super::{DomainName, Email, Localpart, Problem, RepoPath, edit};

/// The `tls.flavor` values, for messages.
pub const FLAVORS: &str = "cert, letsencrypt, notls, mail, mail-letsencrypt";

/// A setup as given (command-line flags, a JSON body): text, not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub domain: String,
    /// The first is the primary host name.
    pub hostnames: Vec<String>,
    pub tls_flavor: String,
    pub postmaster: String,
    /// The first admin's local part, at `domain`.
    pub admin: String,
}

/// A checked setup: what the first run writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    pub domain: DomainName,
    /// The first is the primary host name.
    pub hostnames: Vec<DomainName>,
    pub tls_flavor: TlsFlavor,
    pub postmaster: Localpart,
    /// The first admin user's local part, at `domain`.
    pub admin: Localpart,
    /// The admin's password hash (`crate::password::hash`); empty until the caller hashed it.
    pub password_hash: String,
}

/// Why the setup's files cannot be made: the current `mailu.toml` is not one the model reads (main
/// never holds such a file; the embedded template would be broken).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("mailu.toml does not hold valid settings: {0}")]
    Settings(String),
    #[error("mailu.toml cannot be rewritten: {0}")]
    Edit(#[from] edit::Error),
}

impl Input {
    /// Checks every value, returning every problem at once, each naming its field: `domain`,
    /// `hostnames` / `hostnames.N`, `tls_flavor`, `postmaster`, `admin`. The template's example
    /// domain (and names under it) is refused: it never deploys.
    pub fn parse(&self) -> Result<Setup, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut name = |field: String, raw: &str| match DomainName::parse(raw) {
            Ok(name) if is_example(&name) => {
                problems.push(Problem::new(
                    field,
                    format!(
                        "`{name}` is the template's example, which is never deployed: give your own"
                    ),
                ));
                None
            }
            Ok(name) => Some(name),
            Err(e) => {
                problems.push(Problem::new(field, e.0));
                None
            }
        };
        let domain = name("domain".into(), &self.domain);
        let mut hostnames: Vec<DomainName> = Vec::new();
        let mut twice = Vec::new();
        for (i, raw) in self.hostnames.iter().enumerate() {
            if let Some(host) = name(format!("hostnames.{i}"), raw) {
                if hostnames.contains(&host) {
                    twice.push(Problem::new(
                        format!("hostnames.{i}"),
                        format!("`{host}` is given twice"),
                    ));
                } else {
                    hostnames.push(host);
                }
            }
        }
        problems.extend(twice);
        if self.hostnames.is_empty() {
            problems.push(Problem::new(
                "hostnames",
                "needs at least one host name (the first is the primary one)",
            ));
        }
        let tls_flavor = flavor(&self.tls_flavor)
            .map_err(|()| {
                problems.push(Problem::new(
                    "tls_flavor",
                    format!("`{}` is not one of {FLAVORS}", self.tls_flavor),
                ))
            })
            .ok();
        let mut local = |field: &str, raw: &str| {
            Localpart::parse(raw)
                .map_err(|e| problems.push(Problem::new(field, e.0)))
                .ok()
        };
        let postmaster = local("postmaster", &self.postmaster);
        let admin = local("admin", &self.admin);
        match (domain, tls_flavor, postmaster, admin) {
            (Some(domain), Some(tls_flavor), Some(postmaster), Some(admin))
                if problems.is_empty() =>
            {
                Ok(Setup {
                    domain,
                    hostnames,
                    tls_flavor,
                    postmaster,
                    admin,
                    password_hash: String::new(),
                })
            }
            _ => Err(problems),
        }
    }
}

/// `tls.flavor` as `mailu.toml` writes it (`cert`, `mail-letsencrypt`, ...).
fn flavor(raw: &str) -> Result<TlsFlavor, ()> {
    use serde::de::value::{Error as ValueError, StrDeserializer};
    TlsFlavor::deserialize(StrDeserializer::<ValueError>::new(raw.trim())).map_err(|_| ())
}

impl Setup {
    /// The admin user's address.
    pub fn admin_email(&self) -> Email {
        Email {
            local: self.admin.clone(),
            domain: self.domain.clone(),
        }
    }

    /// `current` with the setup's identity.
    pub fn settings(&self, current: &Settings) -> Settings {
        let mut settings = current.clone();
        settings.mail.domain = self.domain.clone();
        settings.mail.hostnames = self.hostnames.clone();
        settings.mail.postmaster = self.postmaster.clone();
        settings.tls.flavor = self.tls_flavor;
        settings
    }

    /// The files the setup writes: `mailu.toml` (from its current text, comments kept), the
    /// domain's file unless `has_domain` (a domain already there is kept as it is), and the admin
    /// user's file (a global admin).
    pub fn files(
        &self,
        settings_text: &str,
        has_domain: bool,
    ) -> Result<Vec<(RepoPath, Vec<u8>)>, Error> {
        let current: Settings =
            toml::from_str(settings_text).map_err(|e| Error::Settings(e.message().to_owned()))?;
        let mut files = vec![(
            RepoPath::settings(),
            edit::update(settings_text, &self.settings(&current))?.into_bytes(),
        )];
        if !has_domain {
            files.push((
                RepoPath::domain(&self.domain),
                edit::render(&super::domain::Domain::default())?.into_bytes(),
            ));
        }
        let user = User {
            password: self.password_hash.clone(),
            global_admin: true,
            comment: "the first admin, made at the first run".into(),
            ..User::default()
        };
        files.push((
            RepoPath::user(&self.admin_email()),
            edit::render(&user)?.into_bytes(),
        ));
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn input() -> Input {
        Input {
            domain: "one.test".into(),
            hostnames: vec!["mail.one.test".into(), "smtp.one.test".into()],
            tls_flavor: "mail".into(),
            postmaster: "pm".into(),
            admin: "boss".into(),
        }
    }

    fn fields(input: &Input) -> Vec<String> {
        input
            .parse()
            .unwrap_err()
            .into_iter()
            .map(|p| p.field)
            .collect()
    }

    #[test]
    fn a_good_input_parses() {
        let setup = input().parse().unwrap();
        assert_eq!(setup.domain.as_str(), "one.test");
        assert_eq!(setup.hostnames.len(), 2);
        assert_eq!(setup.tls_flavor, TlsFlavor::Mail);
        assert_eq!(setup.admin_email().to_string(), "boss@one.test");
    }

    #[test]
    fn every_problem_is_named_by_its_field() {
        let bad = Input {
            domain: "bad_domain".into(),
            hostnames: vec![
                "mail.one.test".into(),
                "mx.example.com".into(),
                "mail.one.test".into(),
            ],
            tls_flavor: "sometimes".into(),
            postmaster: "p m".into(),
            admin: "a b".into(),
        };
        assert_eq!(
            fields(&bad),
            [
                "domain",
                "hostnames.1",
                "hostnames.2",
                "tls_flavor",
                "postmaster",
                "admin"
            ]
        );
        let example = Input {
            domain: "example.com".into(),
            hostnames: Vec::new(),
            ..input()
        };
        assert_eq!(fields(&example), ["domain", "hostnames"]);
        let problems = example.parse().unwrap_err();
        assert!(problems[0].message.contains("example"), "{problems:?}");
    }

    #[test]
    fn the_files_keep_the_comments_and_hold_no_example_value() {
        let files: BTreeMap<RepoPath, Vec<u8>> =
            crate::repo_template::files().unwrap().into_iter().collect();
        let template = String::from_utf8(files[&RepoPath::settings()].clone()).unwrap();
        let setup = Setup {
            password_hash: "{BLF-CRYPT}$2y$05$hash".into(),
            ..input().parse().unwrap()
        };
        let made: BTreeMap<RepoPath, Vec<u8>> =
            setup.files(&template, false).unwrap().into_iter().collect();
        assert_eq!(made.len(), 3);
        let text = String::from_utf8(made[&RepoPath::settings()].clone()).unwrap();
        assert!(
            text.contains("# The main mail domain"),
            "the comments are kept:\n{text}"
        );
        let settings: Settings =
            crate::model::toml_file::parse(crate::model::path::SETTINGS, &text).unwrap();
        assert!(settings.mail.placeholders().is_empty(), "{text}");
        assert_eq!(settings.mail.postmaster.as_str(), "pm");
        assert_eq!(settings.tls.flavor, TlsFlavor::Mail);
        assert!(made.contains_key(&RepoPath::domain(&setup.domain)));
        let user: User = toml::from_str(
            std::str::from_utf8(&made[&RepoPath::user(&setup.admin_email())]).unwrap(),
        )
        .unwrap();
        assert!(user.global_admin);
        assert_eq!(user.password, "{BLF-CRYPT}$2y$05$hash");
        // A domain already there is kept as it is.
        assert_eq!(setup.files(&template, true).unwrap().len(), 2);
    }
}
