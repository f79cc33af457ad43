//! `POST /api/v1/import` and `GET /api/v1/export` (admin): Mailu's `config-export` format in and
//! out (`import`). An import is ONE change: every domain, user, alias and relay file it writes or
//! deletes is validated as a whole by the versioner and committed as one version; a document with
//! any problem is refused (400, each problem under `errors` as `user[3].password`) and changes
//! nothing. Plaintext passwords are hashed and `-generate-` DKIM keys made before the writer's lock;
//! the plan itself (100,000 users: seconds) runs under the lock, off the async threads. The export
//! holds password and token hashes; `?secrets=true` adds DKIM keys and fetch passwords in the clear.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;

use super::resource::{Acked, View};
use super::write::{self, Wait};
use super::{Authorized, Body, Context, Error, Write};
use crate::import::{self, Mode, Outcome, Problem, Request};
use crate::model::{RepoPath, SecretRef};
use crate::store::Edit;
use crate::versioner::{self, Status};

/// The largest import body: 100,000 users with their hashes are about 30 MB of JSON.
pub const LIMIT: usize = 256 << 20;

/// Problems of the document as Mailu's 400 (`errors`: `user[3].password` → message).
fn refused(problems: Vec<Problem>) -> Error {
    let mut errors = BTreeMap::new();
    let mut lines = Vec::new();
    for p in &problems {
        let mut key = format!("{}[{}]", p.entry.section, p.entry.index);
        if !p.field.is_empty() {
            key = format!("{key}.{}", p.field);
        }
        errors.entry(key).or_insert_with(|| p.message.clone());
        lines.push(p.to_string());
    }
    Error::Invalid {
        message: format!(
            "the document has {} problem(s); nothing was changed: {}",
            problems.len(),
            lines.join("; ")
        ),
        errors,
    }
}

/// Runs blocking work in place on a multi-threaded runtime (the server's), so a plan that takes
/// seconds does not stall the other tasks of this worker thread.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// What an import asks for, once passwords are hashed and DKIM keys made.
struct Prepared {
    mode: Mode,
    document: Option<serde_json::Value>,
    settings: Option<serde_json::Value>,
    secrets: BTreeMap<String, String>,
    mailu_overrides: BTreeMap<String, String>,
    generated: BTreeMap<crate::model::DomainName, crate::secret::dkim::Generated>,
}

/// The secrets of the settings an import may set (`docs/settings.md`).
const SETTINGS_SECRETS: [&str; 3] = ["secret_key", "relay_password", "recaptcha_private_key"];

/// The change the import makes against `view`: the document's edits, then the settings, their
/// secrets and Mailu's override files, as one.
fn plan(
    view: &dyn View,
    prepared: Prepared,
    keyring: &crate::secret::Keyring,
    recipient: &str,
) -> Result<(Vec<Edit>, import::Summary), Error> {
    let Prepared {
        mode,
        document,
        settings,
        secrets,
        mailu_overrides,
        generated,
    } = prepared;
    let (mut edits, mut summary) = match document {
        Some(document) => plan_document(view, mode, document, keyring, recipient, generated)?,
        None => (Vec::new(), import::Summary::default()),
    };
    let mut record = |path: &RepoPath, existed: bool| {
        let list = if existed {
            &mut summary.updated
        } else {
            &mut summary.created
        };
        list.push(path.to_string());
    };
    if let Some(patch) = settings {
        let change = super::settings::plan_patch(view, &axum::http::HeaderMap::new(), patch)?;
        for e in change.edits {
            if view.read(&e.path) != e.content {
                record(&e.path, true);
                edits.push(e);
            }
        }
    }
    for (name, value) in secrets {
        if !SETTINGS_SECRETS.contains(&name.as_str()) {
            return Err(Error::field(
                &format!("secrets.{name}"),
                format!(
                    "not a secret of the settings ({})",
                    SETTINGS_SECRETS.join(", ")
                ),
            ));
        }
        let path = RepoPath::secret("settings", &name)
            .map_err(|e| Error::field("secrets", e.to_string()))?;
        let old = view.read(&path);
        let same = old
            .as_deref()
            .and_then(|o| keyring.decrypt(o).ok())
            .is_some_and(|p| p.expose_secret() == value.as_bytes());
        if same {
            continue;
        }
        let encrypted = crate::secret::encrypt_for_recipient(recipient, value.as_bytes())
            .map_err(|e| Error::HeadInvalid(e.to_string()))?;
        record(&path, old.is_some());
        edits.push(Edit::write(path, encrypted));
    }
    for (file, text) in mailu_overrides {
        let (dir, name) = file.split_once('/').ok_or_else(|| {
            Error::field(
                &format!("mailu_overrides.{file}"),
                "must be <folder>/<file>, e.g. postfix/postfix.cf",
            )
        })?;
        let path =
            super::overrides::path_of(view, super::overrides::Tree::MailuOverride, dir, name)?;
        super::overrides::check_body(
            super::overrides::Tree::MailuOverride,
            &path,
            text.as_bytes(),
        )?;
        let old = view.read(&path);
        if old.as_deref() == Some(text.as_bytes()) {
            continue;
        }
        record(&path, old.is_some());
        edits.push(Edit::write(path, text.into_bytes()));
    }
    Ok((edits, summary))
}

/// The edits of the `config-export` document against `view`.
fn plan_document(
    view: &dyn View,
    mode: Mode,
    document: serde_json::Value,
    keyring: &crate::secret::Keyring,
    recipient: &str,
    generated: BTreeMap<crate::model::DomainName, crate::secret::dkim::Generated>,
) -> Result<(Vec<Edit>, import::Summary), Error> {
    let config = view.config();
    let document = match mode {
        Mode::Replace => document,
        Mode::Update => {
            let current = import::export::document(config, &|_| None);
            let current = serde_json::to_value(current)
                .map_err(|e| Error::HeadInvalid(format!("cannot export the state: {e}")))?;
            import::merge::merge(current, &document).map_err(refused)?
        }
    };
    let document = import::typed(document).map_err(refused)?;
    let objects = import::convert::objects(&document).map_err(refused)?;
    let mut files = Vec::new();
    for scope in import::plan::scopes() {
        files.extend(view.list(&scope));
    }
    let read = |p: &RepoPath| view.read(p);
    let decrypt = |b: &[u8]| keyring.decrypt(b).ok().map(|s| s.expose_secret().to_vec());
    let current = import::plan::Current {
        config,
        read: &read,
        files,
        decrypt: &decrypt,
        recipient,
    };
    import::plan::plan(objects, &current, generated).map_err(|e| match e {
        import::plan::Error::Missing { field, message } => Error::field(&field, message),
        other => Error::HeadInvalid(other.to_string()),
    })
}

/// `POST /api/v1/import`.
#[utoipa::path(
    post,
    path = "/api/v1/import",
    operation_id = "import",
    tag = "migration",
    summary = "Import a Mailu config-export document as one change (replace, or merge with Mailu's --update notation)",
    request_body = Request,
    params(crate::api::openapi::WaitQuery),
    responses(
        (status = 200, description = "imported (or, with `dry_run`, what would change)", body = Outcome),
        (status = 202, description = "imported; the version is still on its way (`?wait=true`)", body = Outcome),
        (status = 400, description = "the document has problems: `errors` names entry and field; nothing changed", body = crate::api::openapi::ErrorBody),
        (status = 413, description = "the body is too large", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn post(
    caller: Authorized<Write>,
    State(ctx): State<Context>,
    Wait(wait): Wait,
    Body(bytes): Body<LIMIT>,
) -> Result<Response, Error> {
    let request: Request = blocking(|| super::request::parse_json(&bytes))?;
    drop(bytes);
    let Request {
        mode,
        dry_run,
        document,
        settings,
        secrets,
        mailu_overrides,
    } = request;
    // CPU work before the writer's lock: hashing plaintext passwords, making DKIM keys.
    let cost = {
        let state = ctx.versioner.state();
        let view = Acked::new(&state)?;
        super::user::cost(&view)
    };
    let to_generate = document
        .as_ref()
        .map(import::domains_to_generate)
        .unwrap_or_default();
    let (document, generated) = {
        let _permit = ctx
            .hashing
            .acquire()
            .await
            .map_err(|_| Error::Unavailable("the server is shutting down".into()))?;
        tokio::task::spawn_blocking(move || -> Result<_, Error> {
            let mut document = document;
            if let Some(document) = document.as_mut() {
                import::hash_passwords(document, cost)
                    .map_err(|e| Error::field("user.password", e.to_string()))?;
            }
            let mut generated = BTreeMap::new();
            for name in to_generate {
                let key = crate::secret::dkim::generate()
                    .map_err(|e| Error::HeadInvalid(e.to_string()))?;
                generated.insert(name, key);
            }
            Ok((document, generated))
        })
        .await??
    };
    let prepared = Prepared {
        mode,
        document,
        settings,
        secrets,
        mailu_overrides,
        generated,
    };
    let keyring = ctx.keyring.clone();
    let recipient = ctx.recipient.clone();
    if dry_run {
        let (edits, summary) = blocking(|| {
            let state = ctx.versioner.state();
            let view = Acked::new(&state)?;
            plan(&view, prepared, &keyring, &recipient)
        })?;
        if !edits.is_empty() {
            ctx.versioner.check(edits).await?;
        }
        let message = format!("dry run: {}", summary.line());
        return Ok(Json(Outcome {
            code: 200,
            message,
            dry_run: true,
            change: None,
            version: None,
            summary,
        })
        .into_response());
    }
    let mut out = None;
    let written = ctx
        .versioner
        .write(|state| {
            let view = Acked::new(state)?;
            let (edits, summary) = blocking(|| plan(&view, prepared, &keyring, &recipient))?;
            let line = summary.line();
            out = Some(summary);
            if edits.is_empty() {
                // Nothing to change: refused below as "no change", answered as success.
                return Err(Error::Conflict(String::new()));
            }
            Ok::<_, Error>(versioner::Change {
                author: caller.caller.name.clone(),
                summary: format!("Import of a Mailu configuration: {line}"),
                edits,
            })
        })
        .await;
    let summary = out.unwrap_or_default();
    let id = match written {
        Ok(id) => id,
        Err(Error::Conflict(m)) if m.is_empty() => {
            return Ok(Json(Outcome {
                code: 200,
                message: "nothing to change: the configuration already holds the document".into(),
                dry_run: false,
                change: None,
                version: None,
                summary,
            })
            .into_response());
        }
        Err(e) => return Err(e),
    };
    let mut outcome = Outcome {
        code: 200,
        message: format!("imported: {}", summary.line()),
        dry_run: false,
        change: Some(id.to_string()),
        version: None,
        summary,
    };
    if !wait {
        return Ok(Json(outcome).into_response());
    }
    match ctx.versioner.wait_for(&id, write::WAIT_LIMIT).await? {
        Status::Committed(v) => {
            outcome.version = Some(v.number);
            Ok(Json(outcome).into_response())
        }
        Status::Pending | Status::Unknown => {
            Ok((axum::http::StatusCode::ACCEPTED, Json(outcome)).into_response())
        }
    }
}

/// The query of `GET /api/v1/export`.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Include DKIM private keys and fetch passwords in the clear (else `<hidden>`).
    #[serde(default)]
    pub secrets: bool,
}

/// `GET /api/v1/export`.
#[utoipa::path(
    get,
    path = "/api/v1/export",
    operation_id = "export",
    tag = "migration",
    summary = "The configuration as a Mailu config-export document, password and token hashes included (admin only)",
    params(ExportQuery),
    responses(
        (status = 200, description = "the document (JSON)", body = Object),
    ),
)]
pub async fn export(
    _caller: Authorized<Write>,
    State(ctx): State<Context>,
    query: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Error> {
    let Query(query) = query.map_err(|e| Error::field("secrets", e.body_text()))?;
    let keyring = ctx.keyring.clone();
    let document = super::resource::read(&ctx, move |view| {
        let reveal = |r: &SecretRef| -> Option<String> {
            if !query.secrets {
                return None;
            }
            let path = RepoPath::secret(&r.kind, &r.name).ok()?;
            let file = view.read(&path)?;
            let plain = keyring.decrypt(&file).ok()?;
            String::from_utf8(plain.expose_secret().to_vec()).ok()
        };
        Ok(import::export::document(view.config(), &reveal))
    })
    .await?;
    Ok(Json(document).into_response())
}
