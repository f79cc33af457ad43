//! `GET /domain/<d>/users`: the users of one domain as Mailu's `UserGet` list, without the password
//! hash (Mailu returns it; we never do) and with `quota_bytes_used` at 0 (runtime state, which the
//! configuration does not hold).
//!
//! The DTO is local to this listing: the `user` resource owns the canonical `UserGet`, and the two
//! should become one when both are merged (the fields are Mailu's either way).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::{existing, parse_domain};
use crate::api::listing::{Page, Search};
use crate::api::resource::View;
use crate::api::{Authorized, Context, Error, Read};
use crate::model::Email;
use crate::model::date::Date;
use crate::model::user::User;

/// Mailu's `UserGet` minus `password`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = DomainUser)]
pub struct UserGet {
    pub email: String,
    pub comment: String,
    pub quota_bytes: u64,
    pub quota_bytes_used: u64,
    pub global_admin: bool,
    pub enabled: bool,
    pub change_pw_next_login: bool,
    pub enable_imap: bool,
    pub enable_pop: bool,
    pub allow_spoofing: bool,
    pub forward_enabled: bool,
    pub forward_destination: Vec<String>,
    pub forward_keep: bool,
    pub reply_enabled: bool,
    pub reply_subject: String,
    pub reply_body: String,
    #[schema(value_type = String, format = Date)]
    pub reply_startdate: Date,
    #[schema(value_type = String, format = Date)]
    pub reply_enddate: Date,
    pub displayed_name: String,
    pub spam_enabled: bool,
    pub spam_mark_as_read: bool,
    pub spam_threshold: u8,
}

impl UserGet {
    pub fn new(email: &Email, user: &User) -> UserGet {
        UserGet {
            email: email.to_unicode(),
            comment: user.comment.clone(),
            quota_bytes: user.quota_bytes,
            quota_bytes_used: 0,
            global_admin: user.global_admin,
            enabled: user.enabled,
            change_pw_next_login: user.change_pw_next_login,
            enable_imap: user.enable_imap,
            enable_pop: user.enable_pop,
            allow_spoofing: user.allow_spoofing,
            forward_enabled: user.forward_enabled,
            forward_destination: user
                .forward_destination
                .iter()
                .map(Email::to_unicode)
                .collect(),
            forward_keep: user.forward_keep,
            reply_enabled: user.reply_enabled,
            reply_subject: user.reply_subject.clone(),
            reply_body: user.reply_body.clone(),
            reply_startdate: user.reply_startdate,
            reply_enddate: user.reply_enddate,
            displayed_name: user.displayed_name.clone(),
            spam_enabled: user.spam_enabled,
            spam_mark_as_read: user.spam_mark_as_read,
            spam_threshold: user.spam_threshold,
        }
    }
}

/// The users of domain `raw`, in localpart order, filtered by `q` (on the address) and paged.
pub fn list(view: &dyn View, raw: &str, page: &Search) -> Result<Page<UserGet>, Error> {
    let name = parse_domain(raw, "domain", "Domain")?;
    let entry = existing(view.config(), &name)?;
    let emails = entry.users.iter().map(|(local, user)| {
        let email = Email {
            local: local.clone(),
            domain: name.clone(),
        };
        (email, user)
    });
    Ok(page
        .apply(emails, |(email, _)| {
            vec![email.to_string(), email.to_unicode()]
        })
        .map(|(email, user)| UserGet::new(&email, user)))
}

/// `GET /api/v1/domain/{domain}/users`.
#[utoipa::path(
    get,
    path = "/api/v1/domain/{domain}/users",
    operation_id = "list_user_domain",
    tag = "domain",
    summary = "The users of a domain",
    params(
        ("domain" = String, Path, description = "domain name (Unicode or ASCII)"),
        crate::api::openapi::PageQuery,
    ),
    responses(
        (status = 200, description = "the users (total in `X-Total-Count`)", body = Vec<UserGet>),
        (status = 400, description = "a field breaks a rule: `errors` names it", body = crate::api::openapi::ErrorBody),
        (status = 404, description = "no such domain", body = crate::api::openapi::ErrorBody),
    ),
)]
pub async fn get_all(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
    Path(domain): Path<String>,
    query: Result<Query<std::collections::BTreeMap<String, String>>, QueryRejection>,
) -> Result<Response, Error> {
    let page = Search::parse(query)?;
    let paged = crate::api::resource::read(&ctx, move |view| list(view, &domain, &page)).await?;
    Ok(paged.into_response())
}
