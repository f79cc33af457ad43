//! Who may clone and push: HTTP basic auth whose password is an access token. The user name is
//! ignored (git needs one in the URL; any will do), so `http://x:TOKEN@host/config.git` works and a
//! credential helper may store it like any password. `read` and `admin` clone, `admin` pushes; the
//! token's name is the pusher. Failed authentications count in the API's rate limiter.
//!
//! Order, as in `api::access`: a client past the failure limit is refused whatever it sends; no
//! credentials is 401 and not a failure (git always asks without them first); a token that matches
//! nothing is 401 (git then says "Authentication failed") and counts; a valid token with too narrow
//! a scope is 403 and does not count.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::PoisonError;
use std::time::Instant;

use axum::extract::ConnectInfo;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine as _;

use super::{Context, Error};
use crate::api::metrics::AuthFailure;
use crate::auth::{Caller, Need};

/// Checks the request's credentials for `need`; `action` names it in a 403.
pub(super) fn check(
    ctx: &Context,
    parts: &Parts,
    need: Need,
    action: &'static str,
) -> Result<Caller, Error> {
    let api = &ctx.api;
    let client = client(parts);
    let now = Instant::now();
    let limited = api
        .limiter
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .is_limited(client, now);
    if limited {
        api.metrics.auth_failed(AuthFailure::RateLimited);
        return Err(Error::RateLimited);
    }
    let Some(token) = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(password)
    else {
        api.metrics.auth_failed(AuthFailure::Missing);
        return Err(Error::MissingCredentials);
    };
    let caller = api
        .tokens
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .authenticate(&token);
    let Some(caller) = caller else {
        api.limiter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .fail(client, now);
        api.metrics.auth_failed(AuthFailure::Invalid);
        tracing::info!(%client, "a git request presented an invalid access token");
        return Err(Error::InvalidToken);
    };
    if !caller.scope.allows(&need) {
        api.metrics.auth_failed(AuthFailure::Scope);
        return Err(Error::Scope {
            name: caller.name,
            scope: caller.scope,
            action,
        });
    }
    Ok(caller)
}

/// The password of a `Basic` header (the token); `None` when there is none, or it is empty.
fn password(header: &str) -> Option<String> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (_user, password) = text.split_once(':')?;
    (!password.is_empty()).then(|| password.to_owned())
}

fn client(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_the_token_and_the_user_is_ignored() {
        let header = |s: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(s)
            )
        };
        assert_eq!(password(&header("x:mgit_abc")).as_deref(), Some("mgit_abc"));
        assert_eq!(password(&header(":a:b")).as_deref(), Some("a:b"));
        assert_eq!(password(&header("x:")), None);
        assert_eq!(password("Bearer mgit_abc"), None);
        assert_eq!(password("Basic !!!"), None);
    }
}
