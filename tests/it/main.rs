//! Integration tests: the real `mailu-git` binary, on temporary data directories, checked with the
//! real `git` binary. One test binary, modules by area (see house style).

// Test code may panic on unexpected errors: that is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fixtures;
mod image;
mod support;

mod access;
mod admin_ui;
mod api_domain;
mod api_overrides;
mod api_user;
mod backup;
mod bundle;
mod cli_admin;
mod compose;
mod crash;
mod daemons;
mod docker_proxy;
mod entrypoint;
mod gc;
mod githttp;
mod githttp_limits;
mod init;
mod mailflow;
mod mailu_api;
mod migrate;
mod monitor;
mod monitor_disk;
mod monitor_dns;
mod openapi;
mod python_client;
mod render_snapshots;
mod secret;
mod serve;
mod server_image;
mod tls;
mod upgrade;
mod versions;
mod worker;
mod worker_engine;
mod worker_recovery;
mod worker_scenarios;
mod worker_server;
mod worker_upgrade;
mod write;
