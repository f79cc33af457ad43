//! Who is calling: the [`Authorized`] extractor checks the request's access token and its scope
//! before a handler runs, and hands the handler the [`Caller`] (whose name is the author of the
//! changes the request makes).
//!
//! Order, as Mailu's `api_token_authorization`: a client past the failure limit gets 429 whatever it
//! sends; a missing `Authorization` header is 401 and does not count as a failure; a token that
//! matches nothing is 403 and counts; a valid token with too narrow a scope is 403 and does not count
//! (it is not a guess). The client is the peer address: the server is not behind a proxy yet. Not
//! here: the token file and scope rules themselves (`auth`).

use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::PoisonError;
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::metrics::AuthFailure;
use super::{Context, Error};
use crate::auth::{self, Caller, Need};

/// What a route needs of its caller's scope.
pub trait Requirement {
    const NEED: Need;
    /// What the caller is refused, for the 403 message ("may not ...").
    const ACTION: &'static str;
}

/// Read the configuration (scopes `read` and `admin`).
#[derive(Debug)]
pub enum Read {}
/// Change the configuration (`admin`).
#[derive(Debug)]
pub enum Write {}
/// The deploy worker's calls, e.g. obtaining service tokens (`worker` and `admin`).
#[derive(Debug)]
pub enum Worker {}

impl Requirement for Read {
    const NEED: Need = Need::Read;
    const ACTION: &'static str = "read the configuration";
}
impl Requirement for Write {
    const NEED: Need = Need::Write;
    const ACTION: &'static str = "change the configuration";
}
impl Requirement for Worker {
    const NEED: Need = Need::Worker;
    const ACTION: &'static str = "make the worker's calls";
}

/// An authenticated caller whose scope allows `R`.
#[derive(Debug)]
pub struct Authorized<R> {
    pub caller: Caller,
    _need: PhantomData<fn() -> R>,
}

impl<R: Requirement> FromRequestParts<Context> for Authorized<R> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, ctx: &Context) -> Result<Self, Error> {
        let caller = authenticate(parts, ctx)?;
        if !caller.scope.allows(&R::NEED) {
            ctx.metrics.auth_failed(AuthFailure::Scope);
            return Err(Error::Scope {
                name: caller.name,
                scope: caller.scope,
                action: R::ACTION,
            });
        }
        Ok(Authorized {
            caller,
            _need: PhantomData,
        })
    }
}

/// An authenticated caller of any scope, for routes whose need depends on the request (a bundle:
/// its service's token or admin); the handler checks with [`Authenticated::require`].
#[derive(Debug)]
pub struct Authenticated {
    pub caller: Caller,
}

impl FromRequestParts<Context> for Authenticated {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, ctx: &Context) -> Result<Self, Error> {
        Ok(Authenticated {
            caller: authenticate(parts, ctx)?,
        })
    }
}

impl Authenticated {
    /// Refuses (403, counted as a scope failure) unless the caller's scope allows `need`.
    pub fn require(&self, ctx: &Context, need: &Need, action: &'static str) -> Result<(), Error> {
        if self.caller.scope.allows(need) {
            return Ok(());
        }
        ctx.metrics.auth_failed(AuthFailure::Scope);
        Err(Error::Scope {
            name: self.caller.name.clone(),
            scope: self.caller.scope.clone(),
            action,
        })
    }
}

fn authenticate(parts: &Parts, ctx: &Context) -> Result<Caller, Error> {
    let client = client(parts);
    let now = Instant::now();
    // A poisoned lock only means another request panicked mid-update of plain counters or a token
    // list that is replaced whole: the data is still usable.
    let limited = ctx
        .limiter
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .is_limited(client, now);
    if limited {
        ctx.metrics.auth_failed(AuthFailure::RateLimited);
        return Err(Error::RateLimited);
    }
    let Some(value) = parts.headers.get(AUTHORIZATION) else {
        ctx.metrics.auth_failed(AuthFailure::Missing);
        return Err(Error::MissingToken);
    };
    let token = value.to_str().map(auth::from_header).unwrap_or_default();
    let caller = if token.is_empty() {
        None
    } else {
        ctx.tokens
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .authenticate(token)
    };
    match caller {
        Some(caller) => Ok(caller),
        None => {
            ctx.limiter
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .fail(client, now);
            ctx.metrics.auth_failed(AuthFailure::Invalid);
            tracing::info!(%client, "an API request presented an invalid access token");
            Err(Error::InvalidToken)
        }
    }
}

/// The client's address; unspecified when the server was started without connection info (unit
/// tests), which then share one failure count.
fn client(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}
