//! mailu-git: the central configuration server of the Mailu mail stack, rebuilt on Git.
//!
//! The configuration lives in a bare Git repository: typed TOML sources (the [`model`]), encrypted
//! secrets ([`secret`]) and, later, the files rendered for each container. [`store`] is the only code
//! that writes the repository. See `docs/ARCHITECTURE.md` for the code map and the invariants.

pub mod api;
pub mod auth;
pub mod backup;
pub mod bundle;
pub mod checkout;
pub mod cli;
pub mod client;
pub mod crash;
pub mod data_dir;
pub mod deploy_report;
pub mod gc;
pub mod githttp;
pub mod import;
pub mod journal;
pub mod model;
pub mod monitor;
pub mod password;
pub mod render;
pub mod repack;
pub mod repo_template;
pub mod secret;
pub mod server;
pub mod store;
pub mod tls;
pub mod versioner;
pub mod versions;
pub mod web;
pub mod wheel;
pub mod worker;
