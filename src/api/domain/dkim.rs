//! `POST /api/v1/domain/<d>/dkim` (admin): a new DKIM key for a domain, as Mailu's endpoint makes.
//! The private key is encrypted to the server's key at `secrets/dkim/<domain>` (never in the clear in
//! the repository); its public half goes into `domain.toml` (`dkim_public_key`) so `dns_dkim` can be
//! shown without decrypting anything. Key generation is CPU work: it runs off the async threads, in
//! the same queue as password hashing.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use secrecy::ExposeSecret;

use super::{check_if_match, current, existing, parse_domain, rewrite};
use crate::api::resource::{Change, View};
use crate::api::write::{self, Wait};
use crate::api::{Authorized, Context, Error, Write};
use crate::model::RepoPath;
use crate::secret::dkim::Generated;
use crate::store::Edit;

/// The change that installs `key` as the DKIM key of the domain at `raw`.
pub fn plan(
    view: &dyn View,
    raw: &str,
    headers: &HeaderMap,
    recipient: &str,
    key: &Generated,
) -> Result<Change, Error> {
    let name = parse_domain(raw, "domain", "Domain")?;
    let entry = existing(view.config(), &name)?;
    let path = RepoPath::domain(&name);
    check_if_match(headers, Some(&current(view, &path)?))?;
    let mut domain = entry.domain.clone();
    domain.dkim_public_key.clone_from(&key.public);
    let secret =
        RepoPath::secret("dkim", name.as_str()).map_err(|e| Error::HeadInvalid(e.to_string()))?;
    let ciphertext =
        crate::secret::encrypt_for_recipient(recipient, key.private_pem.expose_secret().as_bytes())
            .map_err(|e| Error::HeadInvalid(e.to_string()))?;
    Ok(Change {
        summary: format!("DKIM key for {} has been generated", name.to_unicode()),
        edits: vec![
            Edit::write(secret, ciphertext),
            rewrite(view, &path, &domain)?,
        ],
    })
}

/// `POST /api/v1/domain/{domain}/dkim`.
#[utoipa::path(
    post,
    path = "/api/v1/domain/{domain}/dkim",
    operation_id = "generate_dkim",
    tag = "domain",
    summary = "Generate a new DKIM key (RSA-2048); the private key is stored encrypted",
    params(
        ("domain" = String, Path, description = "domain name"),
        ("If-Match" = Option<String>, Header, description = "the `ETag` the change is based on; 412 when the object changed since"),
        crate::api::openapi::WaitQuery,
    ),
    responses(
        crate::api::openapi::WriteAnswers,
        (status = 400, description = "the domain name is not valid", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such domain", body = crate::api::openapi::ErrorBody),
        (status = 412, description = "`If-Match` names another version of the object", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn post(
    caller: Authorized<Write>,
    State(ctx): State<Context>,
    Wait(wait): Wait,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let key = {
        let _permit = ctx
            .hashing
            .acquire()
            .await
            .map_err(|_| Error::Unavailable("the server is shutting down".into()))?;
        tokio::task::spawn_blocking(crate::secret::dkim::generate)
            .await?
            .map_err(|e| Error::HeadInvalid(e.to_string()))?
    };
    let recipient = ctx.recipient.clone();
    write::apply(&ctx, &caller.caller.name, wait, move |view| {
        plan(view, &raw, &headers, &recipient, &key)
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::api::resource::Fixed;

    #[test]
    fn the_private_key_is_encrypted_and_the_public_half_lands_in_the_domain() {
        let files = BTreeMap::from([
            (RepoPath::settings(), b"format = 1\n".to_vec()),
            (
                RepoPath::parse("domains/example.com/domain.toml").unwrap(),
                b"# ours\ncomment = \"x\"\n".to_vec(),
            ),
        ]);
        let view = Fixed::load(files).unwrap();
        let key = crate::secret::dkim::generate().unwrap();
        let identity = age::x25519::Identity::generate();
        let recipient = identity.to_public().to_string();
        let change = plan(&view, "example.com", &HeaderMap::new(), &recipient, &key).unwrap();
        let secret = String::from_utf8(change.edits[0].content.clone().unwrap()).unwrap();
        assert_eq!(change.edits[0].path.as_str(), "secrets/dkim/example.com");
        assert!(
            secret.starts_with("-----BEGIN AGE ENCRYPTED FILE-----")
                && !secret.contains("PRIVATE KEY")
        );
        let domain = String::from_utf8(change.edits[1].content.clone().unwrap()).unwrap();
        assert!(
            domain.contains("# ours") && domain.contains(&key.public),
            "{domain}"
        );
        assert_eq!(
            plan(&view, "nowhere.org", &HeaderMap::new(), &recipient, &key)
                .unwrap_err()
                .status(),
            404
        );
    }
}
