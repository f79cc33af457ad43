//! The JSON shapes of Mailu's `user` resource: `UserGet` (what a read shows: never the hash) and
//! `UserBody` (what a create or update sends), and how a body applies to a `model::user::User`.

use serde::{Deserialize, Serialize};

use crate::model::Email;
use crate::model::date::Date;
use crate::model::user::User;

/// Mailu's `UserGet`, without `password` (the hash) and `quota_bytes_used` (runtime state).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct UserGet {
    /// In Unicode form.
    pub email: String,
    pub comment: String,
    pub quota_bytes: u64,
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
    pub fn new(email: &Email, u: &User) -> UserGet {
        UserGet {
            email: email.to_unicode(),
            comment: u.comment.clone(),
            quota_bytes: u.quota_bytes,
            global_admin: u.global_admin,
            enabled: u.enabled,
            change_pw_next_login: u.change_pw_next_login,
            enable_imap: u.enable_imap,
            enable_pop: u.enable_pop,
            allow_spoofing: u.allow_spoofing,
            forward_enabled: u.forward_enabled,
            forward_destination: u
                .forward_destination
                .iter()
                .map(Email::to_unicode)
                .collect(),
            forward_keep: u.forward_keep,
            reply_enabled: u.reply_enabled,
            reply_subject: u.reply_subject.clone(),
            reply_body: u.reply_body.clone(),
            reply_startdate: u.reply_startdate,
            reply_enddate: u.reply_enddate,
            displayed_name: u.displayed_name.clone(),
            spam_enabled: u.spam_enabled,
            spam_mark_as_read: u.spam_mark_as_read,
            spam_threshold: u.spam_threshold,
        }
    }
}

/// Mailu's `UserCreate` (POST) and `UserUpdate` (PATCH, which has no `email`): every field
/// optional, so a PATCH changes only what it names. No `Debug`: it holds a plaintext password.
#[derive(Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserBody {
    #[schema(value_type = Option<String>)]
    pub email: Option<Email>,
    pub raw_password: Option<String>,
    pub comment: Option<String>,
    pub quota_bytes: Option<u64>,
    pub global_admin: Option<bool>,
    pub enabled: Option<bool>,
    pub change_pw_next_login: Option<bool>,
    pub enable_imap: Option<bool>,
    pub enable_pop: Option<bool>,
    pub allow_spoofing: Option<bool>,
    pub forward_enabled: Option<bool>,
    #[schema(value_type = Option<Vec<String>>)]
    pub forward_destination: Option<Vec<Email>>,
    pub forward_keep: Option<bool>,
    pub reply_enabled: Option<bool>,
    pub reply_subject: Option<String>,
    pub reply_body: Option<String>,
    #[schema(value_type = Option<String>, format = Date)]
    pub reply_startdate: Option<Date>,
    #[schema(value_type = Option<String>, format = Date)]
    pub reply_enddate: Option<Date>,
    pub displayed_name: Option<String>,
    pub spam_enabled: Option<bool>,
    pub spam_mark_as_read: Option<bool>,
    pub spam_threshold: Option<u8>,
}

impl UserBody {
    /// Sets every field the body names (not `email`, not the password).
    pub(super) fn apply(self, u: &mut User) {
        fn set<T>(field: &mut T, value: Option<T>) {
            if let Some(v) = value {
                *field = v;
            }
        }
        set(&mut u.comment, self.comment);
        set(&mut u.quota_bytes, self.quota_bytes);
        set(&mut u.global_admin, self.global_admin);
        set(&mut u.enabled, self.enabled);
        set(&mut u.change_pw_next_login, self.change_pw_next_login);
        set(&mut u.enable_imap, self.enable_imap);
        set(&mut u.enable_pop, self.enable_pop);
        set(&mut u.allow_spoofing, self.allow_spoofing);
        set(&mut u.forward_enabled, self.forward_enabled);
        set(&mut u.forward_destination, self.forward_destination);
        set(&mut u.forward_keep, self.forward_keep);
        set(&mut u.reply_enabled, self.reply_enabled);
        set(&mut u.reply_subject, self.reply_subject);
        set(&mut u.reply_body, self.reply_body);
        set(&mut u.reply_startdate, self.reply_startdate);
        set(&mut u.reply_enddate, self.reply_enddate);
        set(&mut u.displayed_name, self.displayed_name);
        set(&mut u.spam_enabled, self.spam_enabled);
        set(&mut u.spam_mark_as_read, self.spam_mark_as_read);
        set(&mut u.spam_threshold, self.spam_threshold);
    }
}
