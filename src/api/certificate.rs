//! `/api/v1/certificate`: the TLS certificate of front, smtp and imap (`tls` module). GET (read
//! scope) shows it ([`crate::tls::Summary`]: names, issuer, validity, source, last renewal attempt);
//! PUT (admin) installs an uploaded chain and key after checking that the key matches, that every
//! certificate is valid now and that the names cover `mail.hostnames`. The key is encrypted to the
//! server's key before it enters the change; it is never shown. Also the public HTTP-01 answers at
//! `/.well-known/acme-challenge/<token>`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::resource::{Change, View};
use super::write::{self, Wait};
use super::{Authorized, Context, Error, Read, Write};
use crate::tls::{self, CertError, Key, Source};

/// Encrypts a secret's plaintext for the repository.
pub type Encrypt<'a> = &'a dyn Fn(&[u8]) -> Result<Vec<u8>, crate::secret::Error>;

/// The largest upload: a chain and a key are a few KiB; long chains of RSA-4096 stay far below.
pub const BODY_LIMIT: usize = 256 << 10;

/// `PUT /api/v1/certificate`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Upload {
    /// The chain in PEM, the certificate first, then its intermediates.
    pub cert: String,
    /// Its private key in PEM (`PRIVATE KEY` or `RSA PRIVATE KEY`). Stored encrypted, never shown.
    pub key: String,
}

/// `GET /api/v1/certificate`.
#[utoipa::path(
    get,
    path = "/api/v1/certificate",
    operation_id = "find_certificate",
    tag = "certificate",
    summary = "The TLS certificate in use and its renewal",
    responses(
        (status = 200, description = "the certificate", body = crate::tls::Summary),
        (status = 404, description = "the configuration holds no certificate", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn get(_caller: Authorized<Read>, State(ctx): State<Context>) -> Result<Response, Error> {
    let summary = {
        let state = ctx.versioner.state();
        tls::status::current(&state, &ctx.tls, tls::now())
    };
    match summary {
        Some(s) => Ok(Json(s).into_response()),
        None => Err(Error::NotFound(
            "the configuration holds no certificate (certificates/cert.pem)".into(),
        )),
    }
}

/// `PUT /api/v1/certificate`.
#[utoipa::path(
    put,
    path = "/api/v1/certificate",
    operation_id = "update_certificate",
    tag = "certificate",
    summary = "Install an uploaded certificate chain and its key",
    params(crate::api::openapi::WaitQuery),
    request_body(content = Upload, description = "the PEM chain and key"),
    responses(
        crate::api::openapi::WriteAnswers,
        (status = 400, description = "the chain or key is refused: `errors` says why", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn put(
    caller: Authorized<Write>,
    State(ctx): State<Context>,
    Wait(wait): Wait,
    super::Body(body): super::Body<BODY_LIMIT>,
) -> Result<Response, Error> {
    let upload: Upload = super::request::parse_json(&body)?;
    let recipient = ctx.recipient.clone();
    write::apply(&ctx, &caller.caller.name, wait, move |view| {
        plan_upload(view, &upload, tls::now(), &|b| {
            crate::secret::encrypt_for_recipient(&recipient, b)
        })
    })
    .await
}

/// The change an upload makes, after every check.
pub fn plan_upload(
    view: &dyn View,
    upload: &Upload,
    now: i64,
    encrypt: Encrypt<'_>,
) -> Result<Change, Error> {
    let (chain, key) = check_upload(upload, &view.config().settings.mail.hostnames, now)?;
    let edits = tls::edits(&upload.cert, &key, Source::Uploaded, encrypt)
        .map_err(|e| Error::field("key", format!("the key cannot be encrypted: {e}")))?;
    Ok(Change {
        summary: format!(
            "Install the uploaded certificate for {}",
            chain.info.names.join(", ")
        ),
        edits,
    })
}

/// Parses and checks an upload against the host names at `now`.
pub fn check_upload(
    upload: &Upload,
    hostnames: &[crate::model::DomainName],
    now: i64,
) -> Result<(tls::Chain, Key), Error> {
    let chain = tls::cert::parse_chain(upload.cert.as_bytes()).map_err(|e| refused("cert", e))?;
    let key = Key::parse(upload.key.as_bytes()).map_err(|e| refused("key", e))?;
    chain.check_key(&key).map_err(|e| refused("key", e))?;
    chain.check_validity(now).map_err(|e| refused("cert", e))?;
    chain
        .check_hostnames(hostnames)
        .map_err(|e| refused("cert", e))?;
    Ok((chain, key))
}

fn refused(field: &str, e: CertError) -> Error {
    Error::field(field, e.to_string())
}

/// `GET /.well-known/acme-challenge/{token}`: the key authorization of a pending HTTP-01
/// challenge, as plain text; 404 for any other token.
pub async fn challenge(State(ctx): State<Context>, Path(token): Path<String>) -> Response {
    match ctx.tls.challenge(&token) {
        Some(answer) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/octet-stream")],
            answer,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such challenge\n").into_response(),
    }
}
