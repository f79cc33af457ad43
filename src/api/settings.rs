//! `/api/v1/settings`: the global settings (`mailu.toml`), which Mailu keeps in `mailu.env` and has
//! no API for. GET (read scope) returns the typed settings of the acknowledged state as JSON with an
//! `ETag` (the blob id of `mailu.toml`) and answers `If-None-Match` with 304. PATCH (admin) takes a
//! JSON merge patch (RFC 7396: objects merge, `null` resets a key to its default), honours
//! `If-Match`, and rewrites `mailu.toml` keeping its comments.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::resource::{self, Change, View};
use super::write::{self, Wait};
use super::{Authorized, Context, Error, Read, Write};
use crate::model::settings::Settings;
use crate::model::{FileType, RepoPath, edit};
use crate::store::Edit;

/// `GET /api/v1/settings`.
#[utoipa::path(
    get,
    path = "/api/v1/settings",
    operation_id = "find_settings",
    tag = "settings",
    summary = "The global settings (mailu.toml) as JSON",
    params(
        ("If-None-Match" = Option<String>, Header, description = "answers 304 when it names the current `ETag`"),
    ),
    responses(
        (status = 200, description = "the settings, with their `ETag`", body = crate::api::openapi::Settings),
        (status = 304, description = "not modified"),
    ),
)]
pub async fn get(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let (settings, etag) = {
        let state = ctx.versioner.state();
        let view = resource::Acked::new(&state)?;
        let bytes = view
            .read(&RepoPath::settings())
            .ok_or_else(|| Error::HeadInvalid("mailu.toml is missing".into()))?;
        (view.config().settings.clone(), resource::etag_of(&bytes))
    };
    if super::none_match(&headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    Ok(([(header::ETAG, etag)], axum::Json(settings)).into_response())
}

/// `PATCH /api/v1/settings`.
#[utoipa::path(
    patch,
    path = "/api/v1/settings",
    operation_id = "update_settings",
    tag = "settings",
    summary = "Change settings with a JSON merge patch (RFC 7396)",
    params(
        ("If-Match" = Option<String>, Header, description = "the `ETag` the change is based on; 412 when the object changed since"),
        crate::api::openapi::WaitQuery,
    ),
    request_body(content = crate::api::openapi::Settings, description = "a JSON merge patch: objects merge, `null` resets a key to its default"),
    responses(
        crate::api::openapi::WriteAnswers,
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
        (status = 412, description = "`If-Match` names another version of the object", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn patch(
    caller: Authorized<Write>,
    State(ctx): State<Context>,
    headers: HeaderMap,
    Wait(wait): Wait,
    super::Body(body): super::Body,
) -> Result<Response, Error> {
    let body: serde_json::Value = super::request::parse_json(&body)?;
    write::apply(&ctx, &caller.caller.name, wait, |view| {
        plan_patch(view, &headers, body)
    })
    .await
}

/// The change a settings patch makes, validated against the acknowledged state.
pub fn plan_patch(
    view: &dyn View,
    headers: &HeaderMap,
    patch: serde_json::Value,
) -> Result<Change, Error> {
    let path = RepoPath::settings();
    let current = view.read(&path);
    resource::check_if_match(headers, current.as_deref())?;
    let serde_json::Value::Object(tables) = &patch else {
        return Err(Error::field(
            "_",
            "the body must be a JSON object of settings tables, e.g. {\"mail\": {...}}",
        ));
    };
    let keys: Vec<String> = tables.keys().cloned().collect();
    let mut value = serde_json::to_value(&view.config().settings)
        .map_err(|e| Error::HeadInvalid(e.to_string()))?;
    resource::merge_patch(&mut value, patch);
    let new: Settings = serde_path_to_error::deserialize(value).map_err(|e| {
        // The dotted path of the offending key (`history.cleanup_schedule`); when serde cannot
        // tell, the table the patch touched if there is one, so `errors` points at the right place.
        let path = e.path().to_string();
        let field = if !path.is_empty() && path != "." {
            path
        } else if keys.len() == 1 {
            keys[0].clone()
        } else {
            "_".into()
        };
        Error::field(&field, e.into_inner().to_string())
    })?;
    let mut problems = Vec::new();
    new.validate(&mut problems);
    if !problems.is_empty() {
        return Err(resource::invalid(problems));
    }
    let current_text = current
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let text = edit::update(&current_text, &new).map_err(|e| Error::HeadInvalid(e.to_string()))?;
    Ok(Change {
        summary: format!("Update the settings ({})", keys.join(", ")),
        edits: vec![Edit::write(path, text)],
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::api::resource::Fixed;

    fn view(settings: &str) -> Fixed {
        let files = BTreeMap::from([(RepoPath::settings(), settings.as_bytes().to_vec())]);
        Fixed::load(files).unwrap()
    }

    fn text(change: &Change) -> String {
        String::from_utf8(change.edits[0].content.clone().unwrap()).unwrap()
    }

    #[test]
    fn a_patch_changes_one_key_and_keeps_the_comments() {
        let v = view(
            "# my server\nformat = 1\n\n[mail]\n# keep it small\nmessage_size_limit = 1000000\n",
        );
        let change = plan_patch(
            &v,
            &HeaderMap::new(),
            serde_json::json!({"mail": {"message_size_limit": 2000000}}),
        )
        .unwrap();
        let t = text(&change);
        assert!(
            t.contains("# my server") && t.contains("# keep it small"),
            "{t}"
        );
        assert!(t.contains("message_size_limit = 2000000"), "{t}");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_naming_the_field() {
        let v = view("format = 1\n");
        let err = plan_patch(
            &v,
            &HeaderMap::new(),
            serde_json::json!({"mail": {"message_size_limt": 1}}),
        )
        .unwrap_err();
        match err {
            Error::Invalid { errors, message } => {
                assert!(errors.contains_key("mail.message_size_limt"), "{errors:?}");
                assert!(message.contains("message_size_limt"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let err = plan_patch(
            &v,
            &HeaderMap::new(),
            serde_json::json!({"history": {"keep_last": 0}}),
        )
        .unwrap_err();
        match err {
            Error::Invalid { errors, .. } => {
                assert!(errors.contains_key("history.keep_last"), "{errors:?}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            plan_patch(&v, &HeaderMap::new(), serde_json::json!([1]))
                .unwrap_err()
                .status(),
            400
        );
    }

    #[test]
    fn null_resets_a_key_and_if_match_is_honoured() {
        let v = view("format = 1\n[mail]\nmessage_size_limit = 5\n");
        let change = plan_patch(
            &v,
            &HeaderMap::new(),
            serde_json::json!({"mail": {"message_size_limit": null}}),
        )
        .unwrap();
        assert!(
            text(&change).contains("message_size_limit = 50000000\n"),
            "{}",
            text(&change)
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            header::IF_MATCH,
            "\"0000000000000000000000000000000000000000\""
                .parse()
                .unwrap(),
        );
        let err = plan_patch(&v, &headers, serde_json::json!({"mail": {}})).unwrap_err();
        assert_eq!(err.status(), 412);
    }
}
