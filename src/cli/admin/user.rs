//! `mailu-git user ...`, `mailu-git user token ...` and `mailu-git alias ...`: Mailu's mailbox-level
//! resources through `/api/v1/user`, `/tokenuser/<email>`, `/token/<id>` and `/alias`. A password is
//! read by [`super::read_password`] (terminal or stdin), never taken from an argument.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{Value, json};

use super::{Column, Session, fields, read_password, set, with_query};
use crate::client::encode;

const USER_COLUMNS: &[Column] = &[
    ("EMAIL", "email"),
    ("NAME", "displayed_name"),
    ("QUOTA_BYTES", "quota_bytes"),
    ("ADMIN", "global_admin"),
    ("ENABLED", "enabled"),
    ("COMMENT", "comment"),
];

const ALIAS_COLUMNS: &[Column] = &[
    ("EMAIL", "email"),
    ("DESTINATION", "destination"),
    ("WILDCARD", "wildcard"),
    ("DISABLED", "disabled"),
    ("COMMENT", "comment"),
];

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// List the users.
    List {
        /// Keep one domain's users.
        #[arg(long)]
        domain: Option<String>,
        /// Keep users whose address, name or comment contains this text.
        #[arg(long)]
        search: Option<String>,
    },
    /// Show one user (never its password hash).
    Show { email: String },
    /// Create a user. The password is asked for on the terminal, or read from stdin when it is not
    /// one (`printf '%s' "$PW" | mailu-git user add a@example.com`).
    Add {
        email: String,
        #[command(flatten)]
        fields: UserFields,
    },
    /// Change a user.
    Update {
        email: String,
        /// Set a new password, asked for like `user add` does.
        #[arg(long)]
        password: bool,
        #[command(flatten)]
        fields: UserFields,
    },
    /// Delete a user (and its app tokens).
    Delete { email: String },
    /// A user's app tokens (mail passwords for one application each).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Debug, clap::Args)]
pub struct UserFields {
    /// The mailbox's quota in bytes (at most the domain's max_quota_bytes).
    #[arg(long)]
    quota_bytes: Option<u64>,
    /// Whether the user is a global admin (`--admin`, `--admin=false`).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    admin: Option<bool>,
    /// Whether the user may log in and receive mail (`--enabled=false` disables).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    enabled: Option<bool>,
    /// The name shown to people (webmail, sent mail).
    #[arg(long)]
    displayed_name: Option<String>,
    /// A note for admins.
    #[arg(long)]
    comment: Option<String>,
    /// Ask the user to change the password at the next login.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    change_pw_next_login: Option<bool>,
}

impl UserFields {
    fn body(self, mut body: Value) -> Value {
        set(&mut body, "quota_bytes", self.quota_bytes);
        set(&mut body, "global_admin", self.admin);
        set(&mut body, "enabled", self.enabled);
        set(&mut body, "displayed_name", self.displayed_name);
        set(&mut body, "comment", self.comment);
        set(&mut body, "change_pw_next_login", self.change_pw_next_login);
        body
    }
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// List a user's app tokens.
    List { email: String },
    /// Create an app token; its secret is printed once.
    Add {
        email: String,
        #[arg(long)]
        comment: Option<String>,
        /// A network or address the token may be used from (repeatable; none: anywhere).
        #[arg(long = "ip")]
        ips: Vec<String>,
    },
    /// Delete an app token by its id.
    Delete { id: String },
}

pub fn user(session: &Session, command: UserCommand) -> anyhow::Result<ExitCode> {
    match command {
        UserCommand::List { domain, search } => session.list(
            &with_query(
                "user",
                &[("domain", domain.as_deref()), ("q", search.as_deref())],
            ),
            USER_COLUMNS,
        ),
        UserCommand::Show { email } => session.show(&format!("user/{}", encode(&email)), fields),
        UserCommand::Add { email, fields } => {
            let password = read_password(&format!("Password for {email}"))?;
            session.post(
                "user",
                &fields.body(json!({ "email": email, "raw_password": password })),
            )
        }
        UserCommand::Update {
            email,
            password,
            fields,
        } => {
            let mut body = fields.body(json!({}));
            if password {
                let password = read_password(&format!("New password for {email}"))?;
                set(&mut body, "raw_password", Some(password));
            }
            session.patch(&format!("user/{}", encode(&email)), &body)
        }
        UserCommand::Delete { email } => session.delete(&format!("user/{}", encode(&email))),
        UserCommand::Token { command } => token(session, command),
    }
}

fn token(session: &Session, command: TokenCommand) -> anyhow::Result<ExitCode> {
    match command {
        TokenCommand::List { email } => session.list(
            &format!("tokenuser/{}", encode(&email)),
            &[
                ("ID", "id"),
                ("CREATED", "Created"),
                ("AUTHORIZED_IP", "AuthorizedIP"),
                ("COMMENT", "comment"),
            ],
        ),
        TokenCommand::Add {
            email,
            comment,
            ips,
        } => {
            let mut body = json!({});
            set(&mut body, "comment", comment);
            if !ips.is_empty() {
                set(&mut body, "AuthorizedIP", Some(ips));
            }
            session.post_showing(&format!("tokenuser/{}", encode(&email)), &body, |v| {
                format!(
                    "{}\ncreated app token {} for {} (its secret, above, is shown only this once)\n",
                    v["token"].as_str().unwrap_or("-"),
                    v["id"].as_str().unwrap_or("-"),
                    v["email"].as_str().unwrap_or("-"),
                )
            })
        }
        TokenCommand::Delete { id } => session.delete(&format!("token/{}", encode(&id))),
    }
}

#[derive(Debug, Subcommand)]
pub enum AliasCommand {
    /// List the aliases.
    List {
        /// Keep one domain's aliases.
        #[arg(long)]
        domain: Option<String>,
        /// Keep aliases whose address or comment contains this text.
        #[arg(long)]
        search: Option<String>,
    },
    /// Show one alias.
    Show { email: String },
    /// Create an alias.
    Add {
        email: String,
        #[command(flatten)]
        fields: AliasFields,
    },
    /// Change an alias (`--to` replaces every destination).
    Update {
        email: String,
        #[command(flatten)]
        fields: AliasFields,
    },
    /// Delete an alias.
    Delete { email: String },
}

#[derive(Debug, clap::Args)]
pub struct AliasFields {
    /// A destination address (repeatable, or comma-separated).
    #[arg(long = "to", value_delimiter = ',')]
    destination: Vec<String>,
    /// Whether the local part is a SQL LIKE pattern (`%`, `_`), as in Mailu.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    wildcard: Option<bool>,
    /// Whether the alias is switched off (`--disabled`, `--disabled=false`).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    disabled: Option<bool>,
    #[arg(long)]
    comment: Option<String>,
}

impl AliasFields {
    fn body(self, mut body: Value) -> Value {
        if !self.destination.is_empty() {
            set(&mut body, "destination", Some(self.destination));
        }
        set(&mut body, "wildcard", self.wildcard);
        set(&mut body, "disabled", self.disabled);
        set(&mut body, "comment", self.comment);
        body
    }
}

pub fn alias(session: &Session, command: AliasCommand) -> anyhow::Result<ExitCode> {
    match command {
        AliasCommand::List { domain, search } => session.list(
            &with_query(
                "alias",
                &[("domain", domain.as_deref()), ("q", search.as_deref())],
            ),
            ALIAS_COLUMNS,
        ),
        AliasCommand::Show { email } => session.show(&format!("alias/{}", encode(&email)), fields),
        AliasCommand::Add { email, fields } => {
            session.post("alias", &fields.body(json!({ "email": email })))
        }
        AliasCommand::Update { email, fields } => session.patch(
            &format!("alias/{}", encode(&email)),
            &fields.body(json!({})),
        ),
        AliasCommand::Delete { email } => session.delete(&format!("alias/{}", encode(&email))),
    }
}
