//! `mailu-git domain|alternative|relay|manager|dkim ...`: Mailu's domain-level resources through
//! `/api/v1/domain`, `/alternative`, `/relay`, `/domain/<d>/manager` and `/domain/<d>/dkim`. Only argument handling and
//! output live here; every rule is the server's.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::{Value, json};

use super::{Column, Session, fields, set, written};
use crate::client::encode;

const DOMAIN_COLUMNS: &[Column] = &[
    ("NAME", "name"),
    ("MAX_USERS", "max_users"),
    ("MAX_ALIASES", "max_aliases"),
    ("MAX_QUOTA_BYTES", "max_quota_bytes"),
    ("ALTERNATIVES", "alternatives"),
    ("COMMENT", "comment"),
];

#[derive(Debug, Subcommand)]
pub enum DomainCommand {
    /// List the domains.
    List {
        /// Keep names containing this text.
        #[arg(long)]
        search: Option<String>,
    },
    /// Show one domain, with its managers and DNS records.
    Show { domain: String },
    /// Create a domain.
    Add {
        domain: String,
        #[command(flatten)]
        fields: DomainFields,
    },
    /// Change a domain (alternatives are only added).
    Update {
        domain: String,
        #[command(flatten)]
        fields: DomainFields,
    },
    /// Delete a domain with its users and aliases.
    Delete { domain: String },
}

#[derive(Debug, clap::Args)]
pub struct DomainFields {
    /// The most users the domain may hold (-1: no limit).
    #[arg(long, allow_negative_numbers = true)]
    max_users: Option<i64>,
    /// The most aliases the domain may hold (-1: no limit).
    #[arg(long, allow_negative_numbers = true)]
    max_aliases: Option<i64>,
    /// The largest quota a user of the domain may have (0: no limit).
    #[arg(long)]
    max_quota_bytes: Option<u64>,
    #[arg(long)]
    comment: Option<String>,
    /// Whether people may sign up for an account (`--signup-enabled`, `--signup-enabled=false`).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    signup_enabled: Option<bool>,
    /// An alternative name of the domain (repeatable).
    #[arg(long = "alternative")]
    alternatives: Vec<String>,
}

impl DomainFields {
    fn body(self, mut body: Value) -> Value {
        set(&mut body, "max_users", self.max_users);
        set(&mut body, "max_aliases", self.max_aliases);
        set(&mut body, "max_quota_bytes", self.max_quota_bytes);
        set(&mut body, "comment", self.comment);
        set(&mut body, "signup_enabled", self.signup_enabled);
        if !self.alternatives.is_empty() {
            set(&mut body, "alternatives", Some(self.alternatives));
        }
        body
    }
}

pub fn domain(session: &Session, command: DomainCommand) -> anyhow::Result<ExitCode> {
    match command {
        DomainCommand::List { search } => session.list(
            &super::with_query("domain", &[("q", search.as_deref())]),
            DOMAIN_COLUMNS,
        ),
        DomainCommand::Show { domain } => {
            session.show(&format!("domain/{}", encode(&domain)), fields)
        }
        DomainCommand::Add { domain, fields } => {
            session.post("domain", &fields.body(json!({ "name": domain })))
        }
        DomainCommand::Update { domain, fields } => session.patch(
            &format!("domain/{}", encode(&domain)),
            &fields.body(json!({})),
        ),
        DomainCommand::Delete { domain } => session.delete(&format!("domain/{}", encode(&domain))),
    }
}

#[derive(Debug, Subcommand)]
pub enum AlternativeCommand {
    /// List the alternative domain names.
    List,
    /// Add an alternative name to a domain.
    Add {
        alternative: String,
        #[arg(long)]
        domain: String,
    },
    /// Remove an alternative name.
    Delete { alternative: String },
}

pub fn alternative(session: &Session, command: AlternativeCommand) -> anyhow::Result<ExitCode> {
    match command {
        AlternativeCommand::List => {
            session.list("alternative", &[("NAME", "name"), ("DOMAIN", "domain")])
        }
        AlternativeCommand::Add {
            alternative,
            domain,
        } => session.post(
            "alternative",
            &json!({ "name": alternative, "domain": domain }),
        ),
        AlternativeCommand::Delete { alternative } => {
            session.delete(&format!("alternative/{}", encode(&alternative)))
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum RelayCommand {
    /// List the relayed domains.
    List,
    /// Show one relayed domain.
    Show { name: String },
    /// Relay a domain (to its own MX, or to --smtp).
    Add {
        name: String,
        #[command(flatten)]
        fields: RelayFields,
    },
    /// Change a relayed domain.
    Update {
        name: String,
        #[command(flatten)]
        fields: RelayFields,
    },
    /// Stop relaying a domain.
    Delete { name: String },
}

#[derive(Debug, clap::Args)]
pub struct RelayFields {
    /// The host (and port) to relay to, e.g. `mx.example.net:25`.
    #[arg(long)]
    smtp: Option<String>,
    #[arg(long)]
    comment: Option<String>,
}

impl RelayFields {
    fn body(self, mut body: Value) -> Value {
        set(&mut body, "smtp", self.smtp);
        set(&mut body, "comment", self.comment);
        body
    }
}

pub fn relay(session: &Session, command: RelayCommand) -> anyhow::Result<ExitCode> {
    match command {
        RelayCommand::List => session.list(
            "relay",
            &[("NAME", "name"), ("SMTP", "smtp"), ("COMMENT", "comment")],
        ),
        RelayCommand::Show { name } => session.show(&format!("relay/{}", encode(&name)), fields),
        RelayCommand::Add { name, fields } => {
            session.post("relay", &fields.body(json!({ "name": name })))
        }
        RelayCommand::Update { name, fields } => {
            session.patch(&format!("relay/{}", encode(&name)), &fields.body(json!({})))
        }
        RelayCommand::Delete { name } => session.delete(&format!("relay/{}", encode(&name))),
    }
}

#[derive(Debug, Subcommand)]
pub enum ManagerCommand {
    /// List the managers of a domain.
    List { domain: String },
    /// Make a user a manager of a domain.
    Add { domain: String, email: String },
    /// Take a domain's management from a user.
    Delete { domain: String, email: String },
}

pub fn manager(session: &Session, command: ManagerCommand) -> anyhow::Result<ExitCode> {
    match command {
        ManagerCommand::List { domain } => {
            session.show(&format!("domain/{}/manager", encode(&domain)), |v| {
                let managers = v["managers"].as_array().cloned().unwrap_or_default();
                managers
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|m| format!("{m}\n"))
                    .collect()
            })
        }
        ManagerCommand::Add { domain, email } => session.post(
            &format!("domain/{}/manager", encode(&domain)),
            &json!({ "user_email": email }),
        ),
        ManagerCommand::Delete { domain, email } => session.delete(&format!(
            "domain/{}/manager/{}",
            encode(&domain),
            encode(&email)
        )),
    }
}

#[derive(Debug, Subcommand)]
pub enum DkimCommand {
    /// Make a new DKIM key for a domain (the private key stays encrypted on the server) and print
    /// the DNS record to publish for it.
    Generate { domain: String },
}

pub fn dkim(session: &Session, command: DkimCommand) -> anyhow::Result<ExitCode> {
    let DkimCommand::Generate { domain } = command;
    let path = format!("domain/{}", encode(&domain));
    let mut answer = session.post_value(&format!("{path}/dkim"), &json!({}))?;
    // Reads see an acknowledged write at once, so the record is there even before the version.
    let record = session.get(&path)?["dns_dkim"].clone();
    if let Some(map) = answer.as_object_mut() {
        map.insert("dns_dkim".into(), record.clone());
    }
    session.print(&answer, |a| match record.as_str() {
        Some(record) => format!("{}\nPublish this DNS record:\n{record}\n", written(a)),
        None => format!(
            "{}\n(the server shows no DKIM record for {domain})\n",
            written(a)
        ),
    })
}
