//! `/api/v1/secret/recipient`: the server's age recipient (a public key), so an operator can encrypt a
//! secret for a `git push` without the server's key (`mailu-git secret encrypt --server`). Read scope:
//! the key is public, but the API publishes nothing to anonymous callers besides health and metrics.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use super::{Authorized, Context, Read};

#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Recipient {
    pub recipient: String,
}

/// `GET /api/v1/secret/recipient`.
#[utoipa::path(
    get,
    path = "/api/v1/secret/recipient",
    operation_id = "find_secret_recipient",
    tag = "secret",
    summary = "The server's age recipient (public key) to encrypt secrets for",
    responses(
        (status = 200, description = "the recipient", body = Recipient),
    ),
)]
pub async fn recipient(_caller: Authorized<Read>, State(ctx): State<Context>) -> Json<Recipient> {
    Json(Recipient {
        recipient: ctx.recipient.to_string(),
    })
}
