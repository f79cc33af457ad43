//! `/api/v1/relay`: Mailu's relayed domains over `relays/<domain>.toml`. `smtp` takes Mailu's target
//! grammar (`host`, `host:port`, `[host]:port`, `mx:host`, `lmtp:host:port`; empty or absent for the
//! domain's own MX), checked when written rather than when postfix reads it. A relay's name shares
//! one namespace with domains and alternatives (409 when taken).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::domain::{current, parse_domain, rewrite};
use super::listing::{Page, Search};
use super::request::Tagged;
use super::resource::{Change, View, check_if_match, etag_of, invalid};
use super::{Authorized, Context, Error, Read};
use crate::journal::Edit;
use crate::model::relay::{Relay, Target};
use crate::model::{Config, DomainName, FileType, RepoPath, rules};

/// Mailu's `Relay`: the body of `POST /relay` and what GET answers. `smtp` is `null` when mail goes
/// to the domain's own MX.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelayDto {
    pub name: String,
    #[serde(default)]
    pub smtp: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

/// Mailu's `RelayUpdate`: the body of `PATCH /relay/<name>`; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelayUpdate {
    pub smtp: Option<String>,
    pub comment: Option<String>,
}

impl RelayDto {
    fn new(name: &DomainName, relay: &Relay) -> RelayDto {
        RelayDto {
            name: name.to_unicode(),
            smtp: match relay.smtp {
                Target::DomainMx => None,
                ref target => Some(target.to_string()),
            },
            comment: Some(relay.comment.clone()),
        }
    }
}

/// `GET /relay`, in name order (ASCII), filtered and paged.
pub fn list(view: &dyn View, page: &Search) -> Page<RelayDto> {
    page.apply(view.config().relays.iter(), |(name, _)| {
        vec![name.as_str().to_owned(), name.to_unicode()]
    })
    .map(|(name, relay)| RelayDto::new(name, relay))
}

/// `GET /relay/<name>`.
pub fn get(view: &dyn View, raw: &str) -> Result<Tagged<RelayDto>, Error> {
    let (name, relay) = existing(view.config(), raw)?;
    Ok(Tagged {
        value: RelayDto::new(&name, relay),
        etag: etag_of(&current(view, &RepoPath::relay(&name))?),
    })
}

/// `POST /relay`.
pub fn plan_create(view: &dyn View, body: RelayDto) -> Result<Change, Error> {
    let config = view.config();
    let name = parse_domain(&body.name, "name", "Relayed domain")?;
    if let Some(holder) = config.fqdn(&name) {
        return Err(Error::Conflict(format!(
            "Duplicate domain {}: it is {}",
            name.to_unicode(),
            holder.describe(&name)
        )));
    }
    let mut relay = Relay::default();
    apply(&mut relay, body.smtp, body.comment)?;
    validate(config, &name, &relay)?;
    Ok(Change {
        summary: format!("Relayed domain {} has been created", name.to_unicode()),
        edits: vec![rewrite(view, &RepoPath::relay(&name), &relay)?],
    })
}

/// `PATCH /relay/<name>`.
pub fn plan_update(
    view: &dyn View,
    raw: &str,
    headers: &HeaderMap,
    body: RelayUpdate,
) -> Result<Change, Error> {
    let config = view.config();
    let (name, relay) = existing(config, raw)?;
    let path = RepoPath::relay(&name);
    check_if_match(headers, Some(&current(view, &path)?))?;
    let mut relay = relay.clone();
    apply(&mut relay, body.smtp, body.comment)?;
    validate(config, &name, &relay)?;
    Ok(Change {
        summary: format!("Relayed domain {} has been updated", name.to_unicode()),
        edits: vec![rewrite(view, &path, &relay)?],
    })
}

/// `DELETE /relay/<name>`.
pub fn plan_delete(view: &dyn View, raw: &str, headers: &HeaderMap) -> Result<Change, Error> {
    let (name, _) = existing(view.config(), raw)?;
    let path = RepoPath::relay(&name);
    check_if_match(headers, Some(&current(view, &path)?))?;
    Ok(Change {
        summary: format!("Relayed domain {} has been deleted", name.to_unicode()),
        edits: vec![Edit {
            path,
            content: None,
        }],
    })
}

fn apply(relay: &mut Relay, smtp: Option<String>, comment: Option<String>) -> Result<(), Error> {
    if let Some(raw) = smtp {
        relay.smtp = Target::parse(&raw).map_err(|e| Error::field("smtp", e.to_string()))?;
    }
    if let Some(c) = comment {
        relay.comment = c;
    }
    Ok(())
}

fn validate(config: &Config, name: &DomainName, relay: &Relay) -> Result<(), Error> {
    let mut problems = Vec::new();
    relay.validate(&mut problems);
    problems.extend(rules::check_relay(config, name, relay));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(invalid(problems))
    }
}

/// The relay named `raw`, or Mailu's 400/404.
fn existing<'a>(config: &'a Config, raw: &str) -> Result<(DomainName, &'a Relay), Error> {
    let name = parse_domain(raw, "name", "Relayed domain")?;
    match config.relays.get(&name) {
        Some(relay) => Ok((name, relay)),
        None => Err(Error::NotFound(format!(
            "Relayed domain {} cannot be found",
            name.to_unicode()
        ))),
    }
}

/// `GET /api/v1/relay`.
#[utoipa::path(
    get,
    path = "/api/v1/relay",
    operation_id = "list_relays",
    tag = "relay",
    summary = "List relayed domains",
    params(
        crate::api::openapi::PageQuery,
    ),
    responses(
        (status = 200, description = "the relays (total in `X-Total-Count`)", body = Vec<RelayDto>),
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn get_all(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
    query: Result<Query<std::collections::BTreeMap<String, String>>, QueryRejection>,
) -> Result<Response, Error> {
    let page = Search::parse(query)?;
    let paged = crate::api::resource::read(&ctx, move |view| Ok(list(view, &page))).await?;
    Ok(paged.into_response())
}

/// `GET /api/v1/relay/{name}`.
#[utoipa::path(
    get,
    path = "/api/v1/relay/{name}",
    operation_id = "find_relay",
    tag = "relay",
    summary = "One relayed domain",
    params(
        ("name" = String, Path, description = "the relayed domain"),
    ),
    responses(
        (status = 200, description = "the relay, with its `ETag`", body = RelayDto),
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such relay", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn get_one(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
    Path(name): Path<String>,
) -> Result<Response, Error> {
    let tagged = crate::api::resource::read(&ctx, move |view| get(view, &name)).await?;
    Ok(tagged.into_response())
}

// Write handlers: parse the body (400 naming the field), plan under the writer's lock, submit.

type Ctx = axum::extract::State<crate::api::Context>;
type Raw = axum::extract::Path<String>;

/// `POST /api/v1/relay`.
#[utoipa::path(
    post,
    path = "/api/v1/relay",
    operation_id = "create_relay",
    tag = "relay",
    summary = "Create a relayed domain",
    params(
        crate::api::openapi::WaitQuery,
    ),
    request_body(content = RelayDto),
    responses(
        crate::api::openapi::WriteAnswers,
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
        (status = 409, description = "the name is taken", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn post(
    caller: crate::api::Authorized<crate::api::Write>,
    axum::extract::State(ctx): Ctx,
    crate::api::write::Wait(wait): crate::api::write::Wait,
    crate::api::Body(body): crate::api::Body,
) -> Result<axum::response::Response, Error> {
    let body: RelayDto = crate::api::request::parse_json(&body)?;
    crate::api::write::apply(&ctx, &caller.caller.name, wait, move |view| {
        plan_create(view, body)
    })
    .await
}

/// `PATCH /api/v1/relay/{name}`.
#[utoipa::path(
    patch,
    path = "/api/v1/relay/{name}",
    operation_id = "update_relay",
    tag = "relay",
    summary = "Change a relayed domain",
    params(
        ("name" = String, Path, description = "the relayed domain"),
        ("If-Match" = Option<String>, Header, description = "the `ETag` the change is based on; 412 when the object changed since"),
        crate::api::openapi::WaitQuery,
    ),
    request_body(content = RelayUpdate),
    responses(
        crate::api::openapi::WriteAnswers,
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such relay", body = crate::api::openapi::ErrorBody),
        (status = 412, description = "`If-Match` names another version of the object", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn patch(
    caller: crate::api::Authorized<crate::api::Write>,
    axum::extract::State(ctx): Ctx,
    crate::api::write::Wait(wait): crate::api::write::Wait,
    axum::extract::Path(raw): Raw,
    headers: HeaderMap,
    crate::api::Body(body): crate::api::Body,
) -> Result<axum::response::Response, Error> {
    let body: RelayUpdate = crate::api::request::parse_json(&body)?;
    crate::api::write::apply(&ctx, &caller.caller.name, wait, move |view| {
        plan_update(view, &raw, &headers, body)
    })
    .await
}

/// `DELETE /api/v1/relay/{name}`.
#[utoipa::path(
    delete,
    path = "/api/v1/relay/{name}",
    operation_id = "delete_relay",
    tag = "relay",
    summary = "Delete a relayed domain",
    params(
        ("name" = String, Path, description = "the relayed domain"),
        ("If-Match" = Option<String>, Header, description = "the `ETag` the change is based on; 412 when the object changed since"),
        crate::api::openapi::WaitQuery,
    ),
    responses(
        crate::api::openapi::WriteAnswers,
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such relay", body = crate::api::openapi::ErrorBody),
        (status = 412, description = "`If-Match` names another version of the object", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn delete(
    caller: crate::api::Authorized<crate::api::Write>,
    axum::extract::State(ctx): Ctx,
    crate::api::write::Wait(wait): crate::api::write::Wait,
    axum::extract::Path(raw): Raw,
    headers: HeaderMap,
) -> Result<axum::response::Response, Error> {
    crate::api::write::apply(&ctx, &caller.caller.name, wait, move |view| {
        plan_delete(view, &raw, &headers)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::domain::tests::{fixture, headers_matching, text_of};

    fn body(name: &str, smtp: Option<&str>) -> RelayDto {
        RelayDto {
            name: name.into(),
            smtp: smtp.map(Into::into),
            comment: None,
        }
    }

    #[test]
    fn create_update_delete() {
        let view = fixture(&[]);
        let change = plan_create(&view, body("New.Example", Some("mx:Mail.example.net"))).unwrap();
        assert_eq!(
            change.summary,
            "Relayed domain new.example has been created"
        );
        assert_eq!(
            text_of(&change, "relays/new.example.toml"),
            "smtp = \"mx:mail.example.net\"\n"
        );

        let got = get(&view, "relayed.example").unwrap();
        assert_eq!(got.value.smtp.as_deref(), Some("smtp.example.net:2525"));
        let update = RelayUpdate {
            smtp: Some(String::new()),
            comment: Some("now by MX".into()),
        };
        let change = plan_update(
            &view,
            "relayed.example",
            &headers_matching(&got.etag),
            update,
        )
        .unwrap();
        let text = text_of(&change, "relays/relayed.example.toml");
        assert!(text.contains("# the partner's gateway"), "{text}");
        assert!(!text.contains("smtp ="), "{text}");
        assert!(text.contains("comment = \"now by MX\""), "{text}");

        let change = plan_delete(&view, "relayed.example", &HeaderMap::new()).unwrap();
        assert_eq!(change.edits[0].content, None);
    }

    #[test]
    fn refusals() {
        let view = fixture(&[]);
        let status = |r: Result<Change, Error>| r.unwrap_err().status();
        assert_eq!(status(plan_create(&view, body("example.com", None))), 409);
        assert_eq!(status(plan_create(&view, body("other.example", None))), 409);
        assert_eq!(
            status(plan_create(&view, body("relayed.example", None))),
            409
        );
        assert_eq!(status(plan_create(&view, body("bad name", None))), 400);
        match plan_create(&view, body("x.example", Some("host:port"))).unwrap_err() {
            Error::Invalid { errors, .. } => assert!(errors.contains_key("smtp")),
            other => panic!("{other:?}"),
        }
        assert_eq!(get(&view, "nowhere.example").unwrap_err().status(), 404);
        let stale = headers_matching("\"0000\"");
        assert_eq!(status(plan_delete(&view, "relayed.example", &stale)), 412);
        assert_eq!(
            status(plan_update(
                &view,
                "nowhere.example",
                &stale,
                RelayUpdate::default()
            )),
            404
        );
    }

    #[test]
    fn paging_and_search() {
        let view = fixture(&[("relays/b.example.toml", ""), ("relays/c.test.toml", "")]);
        let page = Search {
            q: Some("example".into()),
            limit: Some(1),
            offset: 1,
            ..Search::default()
        };
        let got = list(&view, &page);
        assert_eq!(got.total, 2);
        assert_eq!(got.items[0].name, "relayed.example");
    }
}
