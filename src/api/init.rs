//! `POST /api/v1/init` (admin): the first run on a running server whose configuration is still on
//! the template's example values (issue 12). The same setup as `mailu-git init` (`model::setup`):
//! `mail.domain`, `mail.hostnames`, `mail.postmaster`, `tls.flavor`, the domain and a first global
//! admin user, as ONE change, so one version. The web admin's first-run page calls it.
//!
//! Refused with 409 once the configuration no longer holds an example value (the settings are
//! then changed like any other, `PATCH /api/v1/settings`), and with 400 naming the field for a bad
//! value. The password is hashed off the async threads before the writer's lock is taken, as user
//! creation does.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

use super::resource::{self, Change, View};
use super::write::{self, Wait};
use super::{Authorized, Context, Error, Write, body};
use crate::model::setup::{Input, Setup};
use crate::model::{Config, Problem, RepoPath};
use crate::password::{self, Cost};
use crate::store::Edit;

/// The body of `POST /api/v1/init`. No `Debug`: it holds a plaintext password.
#[derive(Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InitBody {
    /// The main mail domain (`mail.domain`); also the first domain, the admin's.
    pub domain: Option<String>,
    /// This server's host names (`mail.hostnames`); the first is the primary one.
    pub hostnames: Option<Vec<String>>,
    /// `tls.flavor`: cert (the default), letsencrypt, notls, mail or mail-letsencrypt.
    pub tls_flavor: Option<String>,
    /// The postmaster's local part, at the domain (`mail.postmaster`; default `postmaster`).
    pub postmaster: Option<String>,
    /// The first admin user's local part, at the domain (a global admin; default `admin`).
    pub admin: Option<String>,
    /// The admin's password: hashed on the server, never stored as given.
    pub password: Option<String>,
}

/// `POST /api/v1/init`.
#[utoipa::path(
    post,
    path = "/api/v1/init",
    operation_id = "init",
    tag = "settings",
    summary = "First run: replace the template's example identity, add the domain and the first admin, as one version",
    params(
        crate::api::openapi::WaitQuery,
    ),
    request_body(content = InitBody),
    responses(
        crate::api::openapi::WriteAnswers,
        (status = 400, description = "a field breaks a rule: `errors` names it (`domain`, `hostnames.0`, `password`, ...)", body = crate::api::openapi::ErrorBody),
        (status = 409, description = "already set up: the configuration holds no example value any more", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn post(
    caller: Authorized<Write>,
    State(ctx): State<Context>,
    Wait(wait): Wait,
    super::Body(bytes): super::Body,
) -> Result<Response, Error> {
    let (setup, password) = parse(&bytes)?;
    // Refused before the (slow) hash when already set up; checked again under the lock.
    let cost = resource::read(&ctx, |view| {
        refuse_when_set_up(view.config())?;
        Ok(crate::api::user::cost(view))
    })
    .await?;
    let hash = hash(&ctx, password, cost).await?;
    let setup = Setup {
        password_hash: hash.to_string(),
        ..setup
    };
    write::apply(&ctx, &caller.caller.name, wait, move |view| {
        plan(view, &setup)
    })
    .await
}

/// The body as a checked setup (without its hash) and the password; every problem at once.
fn parse(bytes: &[u8]) -> Result<(Setup, String), Error> {
    let b: InitBody = body::parse(bytes)?;
    let mut problems = Vec::new();
    let required = |value: Option<String>, field: &str, problems: &mut Vec<Problem>| {
        let value = value.unwrap_or_default();
        if value.trim().is_empty() {
            problems.push(Problem::new(
                field,
                format!("'{field}' is a required property"),
            ));
        }
        value
    };
    let domain = required(b.domain, "domain", &mut problems);
    let password = required(b.password, "password", &mut problems);
    let input = Input {
        domain,
        hostnames: b.hostnames.unwrap_or_default(),
        tls_flavor: b.tls_flavor.unwrap_or_else(|| "cert".into()),
        postmaster: b.postmaster.unwrap_or_else(|| "postmaster".into()),
        admin: b.admin.unwrap_or_else(|| "admin".into()),
    };
    match input.parse() {
        Ok(setup) if problems.is_empty() => Ok((setup, password)),
        Ok(_) => Err(resource::invalid(problems)),
        Err(found) => {
            // A missing domain is said once, as missing.
            let missing: Vec<String> = problems.iter().map(|p| p.field.clone()).collect();
            problems.extend(found.into_iter().filter(|p| !missing.contains(&p.field)));
            Err(resource::invalid(problems))
        }
    }
}

/// Hashes the password off the async threads, at most [`crate::api::HASHING`] at a time.
async fn hash(ctx: &Context, password: String, cost: Cost) -> Result<password::Hash, Error> {
    let _permit = ctx
        .hashing
        .acquire()
        .await
        .map_err(|_| Error::Unavailable("the server is shutting down".into()))?;
    tokio::task::spawn_blocking(move || password::hash(&password, cost))
        .await?
        .map_err(|e| Error::field("password", e.to_string()))
}

/// 409 when the configuration no longer holds the template's example identity.
fn refuse_when_set_up(config: &Config) -> Result<(), Error> {
    let mail = &config.settings.mail;
    if !mail.placeholders().is_empty() {
        return Ok(());
    }
    let hostnames: Vec<&str> = mail.hostnames.iter().map(|h| h.as_str()).collect();
    Err(Error::Conflict(format!(
        "already set up: mail.domain is {} and mail.hostnames are {}; the first run only \
         replaces the template's example values: use settings to change them \
         (PATCH /api/v1/settings, `mailu-git settings set`)",
        mail.domain,
        hostnames.join(", ")
    )))
}

/// The change of the first run, validated against the acknowledged state: 409 when already set
/// up; 400 at `domain` when the name is another domain's alternative or a relay, at `admin` when
/// the address is taken. A domain already there is kept as it is.
pub fn plan(view: &dyn View, setup: &Setup) -> Result<Change, Error> {
    let config = view.config();
    refuse_when_set_up(config)?;
    let email = setup.admin_email();
    let has_domain = match config.domain(&setup.domain) {
        Some(entry) => {
            if entry.users.contains_key(&setup.admin) || entry.aliases.contains_key(&setup.admin) {
                return Err(Error::field(
                    "admin",
                    format!(
                        "{} already exists: choose another admin",
                        email.to_unicode()
                    ),
                ));
            }
            true
        }
        None => {
            if let Some(holder) = config.fqdn(&setup.domain) {
                return Err(Error::field(
                    "domain",
                    format!("is already {}", holder.describe(&setup.domain)),
                ));
            }
            false
        }
    };
    let settings = RepoPath::settings();
    let text = view
        .read(&settings)
        .ok_or_else(|| Error::HeadInvalid("mailu.toml is missing".into()))?;
    let files = setup
        .files(&String::from_utf8_lossy(&text), has_domain)
        .map_err(|e| Error::HeadInvalid(e.to_string()))?;
    Ok(Change {
        summary: format!(
            "First run: {} served by {}, first admin {}",
            setup.domain.to_unicode(),
            setup
                .hostnames
                .iter()
                .map(|h| h.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            email.to_unicode()
        ),
        edits: files
            .into_iter()
            .map(|(path, content)| Edit::write(path, content))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::api::resource::Fixed;

    fn template() -> Fixed {
        let files: BTreeMap<_, _> = crate::repo_template::files().unwrap().into_iter().collect();
        let settings = files[&RepoPath::settings()].clone();
        // The settings alone: the rest of the template needs the generated secrets to load.
        Fixed::load(BTreeMap::from([(RepoPath::settings(), settings)])).unwrap()
    }

    fn fields(err: Error) -> Vec<String> {
        match err {
            Error::Invalid { errors, .. } => errors.into_keys().collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_values_are_named_by_their_field() {
        let err =
            parse(br#"{"domain": "bad_domain", "hostnames": ["ok.one.test", "mail.example.com"]}"#)
                .err()
                .unwrap();
        assert_eq!(fields(err), ["domain", "hostnames.1", "password"]);
        let err = parse(br#"{"hostnames": ["mail.one.test"], "password": "pw-12345"}"#)
            .err()
            .unwrap();
        assert_eq!(fields(err), ["domain"]);
        let err = parse(br#"{"domain": "one.test", "hostnames": [], "password": "x", "tls": 1}"#)
            .err()
            .unwrap();
        assert_eq!(fields(err), ["tls"]);
        let (setup, password) =
            parse(br#"{"domain": "one.test", "hostnames": ["mail.one.test"], "password": "pw"}"#)
                .unwrap();
        assert_eq!(password, "pw");
        assert_eq!(setup.admin_email().to_string(), "admin@one.test");
        assert_eq!(setup.postmaster.as_str(), "postmaster");
    }

    #[test]
    fn one_change_on_the_template_and_409_once_set_up() {
        let view = template();
        let (setup, _) =
            parse(br#"{"domain": "one.test", "hostnames": ["mail.one.test"], "password": "pw"}"#)
                .unwrap();
        let change = plan(&view, &setup).unwrap();
        let paths: Vec<&str> = change.edits.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "mailu.toml",
                "domains/one.test/domain.toml",
                "domains/one.test/users/admin.toml"
            ]
        );
        let settings = String::from_utf8(change.edits[0].content.clone().unwrap()).unwrap();
        let done = Fixed::load(BTreeMap::from([(
            RepoPath::settings(),
            settings.into_bytes(),
        )]))
        .unwrap();
        let err = plan(&done, &setup).unwrap_err();
        assert_eq!(err.status(), 409);
        assert!(err.to_string().contains("already set up"), "{err}");
    }
}
