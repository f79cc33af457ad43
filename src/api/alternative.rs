//! `/api/v1/alternative`: Mailu's alternative domain names. They are not files of their own: each
//! is an entry of `alternatives` in its domain's `domain.toml`, so an alternative's `ETag` is that
//! file's and a write rewrites that file (keeping its comments). There is no PATCH, as in Mailu.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::domain::{check_newly_local, current, existing, parse_domain, rewrite, validate};
use super::request::Tagged;
use super::resource::{Change, View, check_if_match, etag_of};
use super::{Authorized, Context, Error, Read};
use crate::model::{DomainName, Fqdn, RepoPath};

/// Mailu's `AlternativeDomain`: what GET answers and POST takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlternativeDomain {
    pub name: String,
    pub domain: String,
}

impl AlternativeDomain {
    fn new(name: &DomainName, domain: &DomainName) -> AlternativeDomain {
        AlternativeDomain {
            name: name.to_unicode(),
            domain: domain.to_unicode(),
        }
    }
}

/// `GET /alternative`: every alternative, by domain, in the order of each domain's file.
pub fn list(view: &dyn View) -> Vec<AlternativeDomain> {
    view.config()
        .domains
        .iter()
        .flat_map(|(domain, entry)| {
            entry
                .domain
                .alternatives
                .iter()
                .map(move |alt| AlternativeDomain::new(alt, domain))
        })
        .collect()
}

/// `GET /alternative/<alt>`, tagged with its domain file's `ETag`.
pub fn get(view: &dyn View, raw: &str) -> Result<Tagged<AlternativeDomain>, Error> {
    let (name, domain) = find(view, raw)?;
    Ok(Tagged {
        value: AlternativeDomain::new(&name, &domain),
        etag: etag_of(&current(view, &RepoPath::domain(&domain))?),
    })
}

/// `POST /alternative`.
pub fn plan_create(
    view: &dyn View,
    headers: &HeaderMap,
    body: AlternativeDomain,
) -> Result<Change, Error> {
    let config = view.config();
    let name = parse_domain(&body.name, "name", "Alternative domain")?;
    let domain_name = parse_domain(&body.domain, "domain", "Domain")?;
    let mut domain = existing(config, &domain_name)?.domain.clone();
    if let Some(holder) = config.fqdn(&name) {
        return Err(Error::Conflict(format!(
            "Duplicate alternative domain name {}: it is {}",
            name.to_unicode(),
            holder.describe(&name)
        )));
    }
    let path = RepoPath::domain(&domain_name);
    check_if_match(headers, Some(&current(view, &path)?))?;
    domain.alternatives.push(name.clone());
    validate(config, &domain_name, &domain)?;
    check_newly_local(config, &domain_name, std::slice::from_ref(&name))?;
    Ok(Change {
        summary: format!(
            "Alternative {} for domain {} has been created",
            name.to_unicode(),
            domain_name.to_unicode()
        ),
        edits: vec![rewrite(view, &path, &domain)?],
    })
}

/// `DELETE /alternative/<alt>`.
pub fn plan_delete(view: &dyn View, raw: &str, headers: &HeaderMap) -> Result<Change, Error> {
    let (name, domain_name) = find(view, raw)?;
    let path = RepoPath::domain(&domain_name);
    check_if_match(headers, Some(&current(view, &path)?))?;
    let mut domain = existing(view.config(), &domain_name)?.domain.clone();
    domain.alternatives.retain(|a| *a != name);
    Ok(Change {
        summary: format!(
            "Alternative {} for domain {} has been deleted",
            name.to_unicode(),
            domain_name.to_unicode()
        ),
        edits: vec![rewrite(view, &path, &domain)?],
    })
}

/// The alternative named `raw` and the domain it belongs to, or Mailu's 400/404.
fn find(view: &dyn View, raw: &str) -> Result<(DomainName, DomainName), Error> {
    let name = parse_domain(raw, "alt", "Alternative domain")?;
    match view.config().fqdn(&name) {
        Some(Fqdn::Alternative(of)) => Ok((name.clone(), of.clone())),
        _ => Err(Error::NotFound(format!(
            "Alternative domain {} does not exist",
            name.to_unicode()
        ))),
    }
}

/// `GET /api/v1/alternative`.
#[utoipa::path(
    get,
    path = "/api/v1/alternative",
    operation_id = "list_alternative",
    tag = "alternative",
    summary = "List alternative domains",
    responses(
        (status = 200, description = "the alternative domains", body = Vec<AlternativeDomain>),
    ),
)]
pub async fn get_all(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
) -> Result<Response, Error> {
    let all = crate::api::resource::read(&ctx, |view| Ok(list(view))).await?;
    Ok(axum::Json(all).into_response())
}

/// `GET /api/v1/alternative/{alt}`.
#[utoipa::path(
    get,
    path = "/api/v1/alternative/{alt}",
    operation_id = "find_alternative",
    tag = "alternative",
    summary = "One alternative domain",
    params(
        ("alt" = String, Path, description = "the alternative domain name"),
    ),
    responses(
        (status = 200, description = "the alternative, with its `ETag`", body = AlternativeDomain),
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such alternative domain", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn get_one(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
    Path(alt): Path<String>,
) -> Result<Response, Error> {
    let tagged = crate::api::resource::read(&ctx, move |view| get(view, &alt)).await?;
    Ok(tagged.into_response())
}

// Write handlers: parse the body (400 naming the field), plan under the writer's lock, submit.

type Ctx = axum::extract::State<crate::api::Context>;
type Raw = axum::extract::Path<String>;

/// `POST /api/v1/alternative`.
#[utoipa::path(
    post,
    path = "/api/v1/alternative",
    operation_id = "create_alternative",
    tag = "alternative",
    summary = "Create an alternative domain",
    params(
        crate::api::openapi::WaitQuery,
    ),
    request_body(content = AlternativeDomain),
    responses(
        crate::api::openapi::WriteAnswers,
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such domain", body = crate::api::openapi::ErrorBody),
        (status = 409, description = "the name is taken", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn post(
    caller: crate::api::Authorized<crate::api::Write>,
    axum::extract::State(ctx): Ctx,
    crate::api::write::Wait(wait): crate::api::write::Wait,
    headers: HeaderMap,
    crate::api::Body(body): crate::api::Body,
) -> Result<axum::response::Response, Error> {
    let body: AlternativeDomain = crate::api::request::parse_json(&body)?;
    crate::api::write::apply(&ctx, &caller.caller.name, wait, move |view| {
        plan_create(view, &headers, body)
    })
    .await
}

/// `DELETE /api/v1/alternative/{alt}`.
#[utoipa::path(
    delete,
    path = "/api/v1/alternative/{alt}",
    operation_id = "delete_alternative",
    tag = "alternative",
    summary = "Delete an alternative domain",
    params(
        ("alt" = String, Path, description = "the alternative domain name"),
        ("If-Match" = Option<String>, Header, description = "the `ETag` the change is based on; 412 when the object changed since"),
        crate::api::openapi::WaitQuery,
    ),
    responses(
        crate::api::openapi::WriteAnswers,
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such alternative domain", body = crate::api::openapi::ErrorBody),
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

    #[test]
    fn create_get_delete_round_trip_keeps_comments() {
        let view = fixture(&[]);
        let change = plan_create(
            &view,
            &HeaderMap::new(),
            AlternativeDomain {
                name: "Bücher.example".into(),
                domain: "example.com".into(),
            },
        )
        .unwrap();
        assert_eq!(
            change.summary,
            "Alternative bücher.example for domain example.com has been created"
        );
        let text = text_of(&change, "domains/example.com/domain.toml");
        assert!(text.contains("# limits agreed with the customer"), "{text}");
        assert!(text.contains("xn--bcher-kva.example"), "{text}");

        let got = get(&view, "other.example").unwrap();
        assert_eq!(got.value.domain, "example.com");
        assert_eq!(list(&view).len(), 1);
        let change = plan_delete(&view, "OTHER.example", &headers_matching(&got.etag)).unwrap();
        let text = text_of(&change, "domains/example.com/domain.toml");
        assert!(!text.contains("other.example"), "{text}");
        assert!(text.contains("# limits agreed with the customer"), "{text}");
    }

    #[test]
    fn names_in_use_missing_domains_and_bad_names() {
        let view = fixture(&[]);
        let create = |name: &str, domain: &str| {
            plan_create(
                &view,
                &HeaderMap::new(),
                AlternativeDomain {
                    name: name.into(),
                    domain: domain.into(),
                },
            )
            .unwrap_err()
            .status()
        };
        assert_eq!(create("relayed.example", "example.com"), 409);
        assert_eq!(create("example.com", "example.com"), 409);
        assert_eq!(create("other.example", "example.com"), 409);
        assert_eq!(create("new.example", "nowhere.example"), 404);
        assert_eq!(create("not a name", "example.com"), 400);
        assert_eq!(get(&view, "relayed.example").unwrap_err().status(), 404);
        let err = plan_delete(&view, "other.example", &headers_matching("\"stale\"")).unwrap_err();
        assert_eq!(err.status(), 412);
    }
}
