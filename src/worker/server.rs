//! The server's own container (the `admin` service): created by the worker when none exists, so
//! a stack can be brought up by starting the worker alone (`mailu-git worker --server-image ...`).
//!
//! The worker recognises the server by its labels (`org.mailu-git.project=<project>`,
//! `org.mailu-git.service=admin`), as the compose file sets them. One that exists, running or
//! not, is left alone: an operator stops it for the offline commands (`mailu-git revert --data`),
//! and Docker's restart policy brings a crashed one back. A new one is `<project>-admin`: the
//! image's entrypoint (`mailu-git` in `images/server/`) with `serve --data /data --listen
//! 0.0.0.0:8080`, the data on a named volume
//! (never removed), on the stack's network as `admin`, `MAILU_GIT_WORKER_TOKEN` set to the
//! worker's own token, restarted unless stopped, its port published only where asked.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, Mount, MountType, NetworkingConfig,
    PortBinding, RestartPolicy, RestartPolicyNameEnum,
};

use super::engine::{Engine, Error};
use super::reconcile::SERVER_SERVICE;
use super::spec::label;
use crate::model::service::PullPolicy;

/// Where the server keeps its data in its container.
pub const DATA_DIR: &str = "/data";
/// The port the server listens on in its container.
pub const PORT: u16 = 8080;

/// How to create the server's container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerContainer {
    /// An image whose entrypoint is `mailu-git` (`images/server/`).
    pub image: String,
    /// The named volume of the data dir.
    pub volume: String,
    /// The stack's network; the server is `admin` on it.
    pub network: String,
    /// `IP:PORT` on the host to publish the API on (`127.0.0.1:8080`), or none.
    pub publish: Option<(String, u16)>,
}

impl ServerContainer {
    /// `<project>-admin`.
    pub fn container_name(&self, project: &str) -> String {
        format!("{project}-{SERVER_SERVICE}")
    }

    /// The create request.
    pub fn body(&self, project: &str, worker_token: &str) -> ContainerCreateBody {
        let port = format!("{PORT}/tcp");
        let port_bindings = self.publish.as_ref().map(|(ip, host_port)| {
            HashMap::from([(
                port.clone(),
                Some(vec![PortBinding {
                    host_ip: Some(ip.clone()),
                    host_port: Some(host_port.to_string()),
                }]),
            )])
        });
        ContainerCreateBody {
            image: Some(self.image.clone()),
            cmd: Some(
                [
                    "serve",
                    "--data",
                    DATA_DIR,
                    "--listen",
                    &format!("0.0.0.0:{PORT}"),
                ]
                .map(str::to_owned)
                .to_vec(),
            ),
            env: Some(vec![format!("MAILU_GIT_WORKER_TOKEN={worker_token}")]),
            hostname: Some(SERVER_SERVICE.to_owned()),
            exposed_ports: Some(vec![port]),
            labels: Some(HashMap::from([
                (label::PROJECT.to_owned(), project.to_owned()),
                (label::SERVICE.to_owned(), SERVER_SERVICE.to_owned()),
            ])),
            host_config: Some(HostConfig {
                port_bindings,
                mounts: Some(vec![Mount {
                    target: Some(DATA_DIR.to_owned()),
                    source: Some(self.volume.clone()),
                    typ: Some(MountType::VOLUME),
                    ..Default::default()
                }]),
                restart_policy: Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                    maximum_retry_count: None,
                }),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    self.network.clone(),
                    EndpointSettings {
                        aliases: Some(vec![SERVER_SERVICE.to_owned()]),
                        ..Default::default()
                    },
                )])),
            }),
            ..Default::default()
        }
    }
}

/// Creates and starts the server's container unless one exists; its id when it was created.
pub async fn ensure(
    engine: &Engine,
    server: &ServerContainer,
    worker_token: &str,
) -> Result<Option<String>, Error> {
    if engine
        .ours()
        .await?
        .iter()
        .any(|c| c.service == SERVER_SERVICE)
    {
        return Ok(None);
    }
    engine.image(&server.image, PullPolicy::Missing).await?;
    engine.ensure_network(&server.network).await?;
    engine.ensure_volume(&server.volume).await?;
    let name = server.container_name(engine.project());
    let id = engine
        .create_container(&name, server.body(engine.project(), worker_token))
        .await?;
    engine.start(&id).await?;
    tracing::info!(container = %name, id = %id, "created the server's container");
    Ok(Some(id))
}

/// `--server-publish`'s value: `IP:PORT`.
pub fn parse_publish(raw: &str) -> Result<(String, u16), String> {
    let (ip, port) = raw
        .rsplit_once(':')
        .ok_or_else(|| format!("`{raw}` is not IP:PORT (e.g. 127.0.0.1:8080)"))?;
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    ip.parse::<std::net::IpAddr>()
        .map_err(|_| format!("`{ip}` in `{raw}` is not an IP address"))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("`{port}` in `{raw}` is not a port number"))?;
    Ok((ip.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_container_is_labelled_as_the_stacks_admin_with_its_data_on_the_volume() {
        let server = ServerContainer {
            image: "mailu-git/server:latest".into(),
            volume: "mailu-git-data".into(),
            network: "mailu".into(),
            publish: Some(("127.0.0.1".into(), 8080)),
        };
        let body = server.body("mailu", "mgit_wrk_x");
        let labels = body.labels.clone().unwrap();
        assert_eq!(labels[label::SERVICE], "admin");
        assert_eq!(labels[label::PROJECT], "mailu");
        assert_eq!(
            body.env.unwrap(),
            ["MAILU_GIT_WORKER_TOKEN=mgit_wrk_x".to_owned()]
        );
        let host = body.host_config.unwrap();
        assert_eq!(
            host.mounts.unwrap()[0].source.as_deref(),
            Some("mailu-git-data")
        );
        let ports = host.port_bindings.unwrap();
        assert_eq!(
            ports["8080/tcp"].as_ref().unwrap()[0].host_ip.as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(server.container_name("mailu"), "mailu-admin");
    }

    #[test]
    fn publish_addresses_are_checked() {
        assert_eq!(
            parse_publish("127.0.0.1:8080").unwrap(),
            ("127.0.0.1".to_owned(), 8080)
        );
        assert_eq!(parse_publish("[::1]:80").unwrap(), ("::1".to_owned(), 80));
        assert!(parse_publish("8080").unwrap_err().contains("IP:PORT"));
        assert!(
            parse_publish("localhost:80")
                .unwrap_err()
                .contains("not an IP")
        );
        assert!(
            parse_publish("127.0.0.1:http")
                .unwrap_err()
                .contains("port")
        );
    }
}
