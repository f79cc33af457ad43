//! The whole Mailu configuration as typed TOML: what each file of the config repository may hold,
//! and the rules that hold across files. No IO: callers hand in file contents and get a validated
//! [`Config`] or every problem at once, as [`Diagnostics`].

pub mod alias;
pub mod config;
pub mod cron;
pub mod date;
pub mod diagnostic;
pub mod dns;
pub mod domain;
pub mod edit;
pub mod file_type;
pub mod item_id;
pub mod load;
pub mod migrate;
pub mod name;
pub mod path;
pub mod relay;
pub mod rules;
pub mod service;
pub mod settings;
pub mod setup;
pub mod toml_file;
pub mod user;

pub use config::{Config, DomainEntry, Fqdn};
pub use diagnostic::{Diagnostic, Diagnostics, Problem};
pub use file_type::FileType;
pub use load::load;
pub use name::{DomainName, Email, Localpart, NameError, SecretRef, ServiceName};
pub use path::{Entry, PathError, RepoPath};
