//! The access tokens at start: the stored ones, the environment's (`MAILU_GIT_ADMIN_TOKEN`,
//! `MAILU_GIT_WORKER_TOKEN`), and the admin token generated (and shown once) on first start.

use super::{ENV_ADMIN, ENV_WORKER, Error, MIN_ENV_TOKEN_LEN, Options};
use crate::auth::{Scope, TokenFile};
use crate::data_dir::DataDir;

/// Loads the access tokens and applies the environment's: `MAILU_GIT_ADMIN_TOKEN` and
/// `MAILU_GIT_WORKER_TOKEN` replace the hashes of [`ENV_ADMIN`] and [`ENV_WORKER`]; without an admin
/// token from the environment and with no admin token stored, one is generated and returned to be
/// shown once. Saved (durably) only when something changed.
pub(super) fn bootstrap_tokens(
    data: &DataDir,
    options: &Options,
) -> Result<(TokenFile, Option<String>), Error> {
    let path = data.access_tokens();
    let mut tokens = TokenFile::load(&path)?;
    let mut changed = !path.exists();
    let env = [
        (
            "MAILU_GIT_ADMIN_TOKEN",
            &options.admin_token,
            ENV_ADMIN,
            Scope::Admin,
        ),
        (
            "MAILU_GIT_WORKER_TOKEN",
            &options.worker_token,
            ENV_WORKER,
            Scope::Worker,
        ),
    ];
    for (var, token, name, scope) in env {
        if let Some(token) = token {
            check_env_token(var, token)?;
            if tokens.put(name, scope, token)? {
                tracing::info!(name, "stored the access token given by {var}");
                changed = true;
            }
        }
    }
    let mut generated = None;
    let has_admin = tokens.entries().iter().any(|e| e.scope == Scope::Admin);
    if options.admin_token.is_none() && !has_admin {
        // `admin` may be taken by a token of another scope; the first free `admin-N` then.
        let name = std::iter::once("admin".to_owned())
            .chain((2..).map(|n| format!("admin-{n}")))
            .find(|n| !tokens.entries().iter().any(|e| &e.name == n))
            .expect("an unbounded sequence of names has a free one");
        generated = Some(tokens.create(&name, Scope::Admin)?);
        tracing::info!(name, "generated an admin access token (printed on stdout)");
        changed = true;
    }
    if changed {
        tokens.save()?;
    }
    Ok((tokens, generated))
}

/// An access token from the environment must be hard to guess and survive the `Authorization`
/// header: long enough, visible ASCII only, and not shaped like a derived service token.
pub(super) fn check_env_token(var: &'static str, token: &str) -> Result<(), Error> {
    let fail = |reason: String| Err(Error::EnvToken { var, reason });
    if token.chars().count() < MIN_ENV_TOKEN_LEN {
        return fail(format!(
            "it has {} characters, at least {MIN_ENV_TOKEN_LEN} are needed (e.g. `openssl rand -hex 32`)",
            token.chars().count()
        ));
    }
    if !token.chars().all(|c| c.is_ascii_graphic()) {
        return fail("only visible ASCII characters are allowed (no spaces)".into());
    }
    if token.starts_with("mgit_svc_") {
        return fail("`mgit_svc_` starts the tokens the server derives for services".into());
    }
    Ok(())
}
