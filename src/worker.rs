//! `mailu-git worker`: the only part of mailu-git with Docker access. It follows the deployed
//! version through the REST API (never the store) and makes Docker's containers match it.
//!
//! - `spec.rs`: the container a service file asks for (pure).
//! - `plan.rs`: what to do per service for a version, and in which order (pure).
//! - `engine.rs`: the Docker calls, on bollard: networks, volumes, images, our labelled containers,
//!   creation with our entrypoint copied in, exec, health.
//! - `reconcile.rs`: one pass (plan against the deploy summary, carry out, report).
//! - `supervise.rs`: the loop around passes: long-poll the server, keep the engine's connection
//!   and events, back off and reconnect when either goes away.
//! - `server.rs`: the server's own container (`admin`), created when none exists.
//! - `upgrade.rs`: the server's container replaced by one of the image `services/admin.toml`
//!   names, and put back when the new one does not serve.

pub mod engine;
pub mod plan;
pub mod reconcile;
pub mod server;
pub mod spec;
pub mod supervise;
pub mod upgrade;

pub use engine::{Engine, Error};
pub use spec::{Access, ImageDefaults, Spec};
