//! The Docker calls of the worker, on bollard: the engine's API version, networks and volumes,
//! images (pulled per policy), the containers labelled as ours, creating one with our entrypoint
//! copied in, starting, stopping, removing, `exec` with its exit code, and waiting for health
//! (`engine/health.rs`).
//! Nothing here decides what should run: that is the reconcile step's job.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ImageConfig, NetworkConnectRequest,
    NetworkCreateRequest, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, ListContainersOptions,
    RemoveContainerOptionsBuilder, StopContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use futures_util::StreamExt;

use super::spec::{ENTRYPOINT_PATH, ImageDefaults, Spec, label};

mod health;
use crate::model::service::PullPolicy;
pub use health::Health;

/// The oldest Docker engine API we test against (Debian bookworm's docker.io 20.10).
pub const MIN_API: (u32, u32) = (1, 41);

/// Everything that can go wrong talking to Docker.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot reach the Docker engine: {0}")]
    Connect(#[source] bollard::errors::Error),
    #[error("the Docker engine speaks API {found}, older than the {}.{} mailu-git needs", MIN_API.0, MIN_API.1)]
    TooOld { found: String },
    #[error("image {image} is not present and its pull policy is `never`")]
    ImageMissing { image: String },
    #[error("docker: cannot {action}: {source}")]
    Docker {
        action: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("cannot build the archive of the entrypoint: {0}")]
    Archive(#[source] std::io::Error),
}

impl Error {
    /// Whether the engine could not be reached (rather than refusing a request): the connection
    /// is to be made again.
    pub fn is_connection(&self) -> bool {
        use bollard::errors::Error as B;
        match self {
            Error::Connect(_) => true,
            Error::Docker { source, .. } => !matches!(
                source,
                B::DockerResponseServerError { .. }
                    | B::JsonDataError { .. }
                    | B::JsonSerdeError { .. }
                    | B::DockerStreamError { .. }
            ),
            Error::TooOld { .. } | Error::ImageMissing { .. } | Error::Archive(_) => false,
        }
    }
}

fn docker(action: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> Error {
    let action = action.into();
    move |source| Error::Docker { action, source }
}

/// A container of ours, as listed by Docker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ours {
    pub id: String,
    /// Its name, without Docker's leading `/`.
    pub name: String,
    pub service: String,
    /// The [`Spec`] hash it was created from.
    pub spec: String,
    pub running: bool,
}

/// What came of an `exec`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exec {
    pub exit_code: i64,
    /// stdout and stderr, interleaved, cut to the last 64 KiB.
    pub output: String,
}

/// The Docker engine of one project's containers.
#[derive(Debug, Clone)]
pub struct Engine {
    docker: Docker,
    project: String,
    /// The full ids of containers this worker removed, until their `destroy` event is read: the
    /// worker's own removals are not someone else's (`removed_by_us`).
    removed: Arc<Mutex<HashSet<String>>>,
}

impl Engine {
    /// Connects (`DOCKER_HOST` or the local socket), pings and checks the engine's API version.
    pub async fn connect(project: &str) -> Result<Engine, Error> {
        let docker = Docker::connect_with_defaults().map_err(Error::Connect)?;
        Engine::on(docker, project).await
    }

    /// The same checks on a client made elsewhere (a test's proxy socket).
    pub async fn on(docker: Docker, project: &str) -> Result<Engine, Error> {
        docker.ping().await.map_err(Error::Connect)?;
        let version = docker.version().await.map_err(Error::Connect)?;
        let found = version.api_version.unwrap_or_default();
        if !api_at_least(&found, MIN_API) {
            return Err(Error::TooOld { found });
        }
        Ok(Engine {
            docker,
            project: project.to_owned(),
            removed: Arc::default(),
        })
    }

    /// Whether the container `id` (a full id, as events give it) was removed by this worker;
    /// answers `true` once per removal.
    pub fn removed_by_us(&self, id: &str) -> bool {
        self.removed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id)
    }

    pub fn project(&self) -> &str {
        &self.project
    }

    /// The bollard client, for the event stream.
    pub fn client(&self) -> &Docker {
        &self.docker
    }

    /// Creates the network unless one of that name exists (ours or the operator's).
    pub async fn ensure_network(&self, name: &str) -> Result<(), Error> {
        match self.docker.inspect_network(name, None).await {
            Ok(_) => return Ok(()),
            Err(e) if not_found(&e) => {}
            Err(e) => return Err(docker(format!("inspect network {name}"))(e)),
        }
        let request = NetworkCreateRequest {
            name: name.to_owned(),
            driver: Some("bridge".into()),
            labels: Some(HashMap::from([(
                label::PROJECT.to_owned(),
                self.project.clone(),
            )])),
            ..Default::default()
        };
        match self.docker.create_network(request).await {
            Ok(_) => Ok(()),
            // Created meanwhile by someone else: fine.
            Err(e) if conflict(&e) => Ok(()),
            Err(e) => Err(docker(format!("create network {name}"))(e)),
        }
    }

    /// Creates the named volume unless it exists. Volumes are never removed by the worker.
    pub async fn ensure_volume(&self, name: &str) -> Result<(), Error> {
        match self.docker.inspect_volume(name).await {
            Ok(_) => return Ok(()),
            Err(e) if not_found(&e) => {}
            Err(e) => return Err(docker(format!("inspect volume {name}"))(e)),
        }
        let request = VolumeCreateRequest {
            name: Some(name.to_owned()),
            labels: Some(HashMap::from([(
                label::PROJECT.to_owned(),
                self.project.clone(),
            )])),
            ..Default::default()
        };
        self.docker
            .create_volume(request)
            .await
            .map(|_| ())
            .map_err(docker(format!("create volume {name}")))
    }

    /// The image's id, entrypoint and command, pulling it first as `pull` says.
    pub async fn image(&self, image: &str, pull: PullPolicy) -> Result<ImageDefaults, Error> {
        let present = match self.docker.inspect_image(image).await {
            Ok(found) => Some(found),
            Err(e) if not_found(&e) => None,
            Err(e) => return Err(docker(format!("inspect image {image}"))(e)),
        };
        let inspect = match (present, pull) {
            (Some(found), PullPolicy::Missing | PullPolicy::Never) => found,
            (None, PullPolicy::Never) => {
                return Err(Error::ImageMissing {
                    image: image.to_owned(),
                });
            }
            (_, PullPolicy::Always | PullPolicy::Missing) => {
                let options = CreateImageOptionsBuilder::new().from_image(image).build();
                let mut progress = self.docker.create_image(Some(options), None, None);
                while let Some(step) = progress.next().await {
                    step.map_err(docker(format!("pull image {image}")))?;
                }
                self.docker
                    .inspect_image(image)
                    .await
                    .map_err(docker(format!("inspect image {image}")))?
            }
        };
        let config = inspect.config.unwrap_or_default();
        Ok(ImageDefaults {
            id: inspect.id.unwrap_or_default(),
            entrypoint: config.entrypoint.unwrap_or_default(),
            cmd: config.cmd.unwrap_or_default(),
        })
    }

    /// Every container (running or not) labelled with this project.
    pub async fn ours(&self) -> Result<Vec<Ours>, Error> {
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([(
                "label".to_owned(),
                vec![format!("{}={}", label::PROJECT, self.project)],
            )])),
            ..Default::default()
        };
        let list = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(docker("list containers"))?;
        Ok(list
            .into_iter()
            .filter_map(|c| {
                let labels = c.labels.unwrap_or_default();
                let name = c
                    .names
                    .and_then(|n| n.into_iter().next())
                    .unwrap_or_default()
                    .trim_start_matches('/')
                    .to_owned();
                Some(Ours {
                    id: c.id?,
                    name,
                    service: labels.get(label::SERVICE)?.clone(),
                    spec: labels.get(label::SPEC).cloned().unwrap_or_default(),
                    running: c.state.is_some_and(|s| s.to_string() == "running"),
                })
            })
            .collect())
    }

    /// The container's whole configuration and state, as `docker inspect` shows it.
    pub async fn inspect(&self, id: &str) -> Result<ContainerInspectResponse, Error> {
        self.docker
            .inspect_container(id, None)
            .await
            .map_err(docker(format!("inspect {id}")))
    }

    /// The image's own configuration (entrypoint, command, env, labels, ...); `None` when the
    /// engine no longer has it.
    pub async fn image_config(&self, image: &str) -> Result<Option<ImageConfig>, Error> {
        match self.docker.inspect_image(image).await {
            Ok(found) => Ok(Some(found.config.unwrap_or_default())),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(docker(format!("inspect image {image}"))(e)),
        }
    }

    /// Connects a created container to one more network, with its endpoint settings (aliases).
    pub async fn join(
        &self,
        id: &str,
        network: &str,
        endpoint: bollard::models::EndpointSettings,
    ) -> Result<(), Error> {
        let request = NetworkConnectRequest {
            container: id.to_owned(),
            endpoint_config: Some(endpoint),
        };
        self.docker
            .connect_network(network, request)
            .await
            .map_err(docker(format!("connect {id} to {network}")))
    }

    /// Creates the container of `spec` (not started): joins its networks and copies our
    /// `entrypoint` script in, so the first start already runs it.
    pub async fn create(
        &self,
        spec: &Spec,
        networks: &[String],
        entrypoint: &[u8],
    ) -> Result<String, Error> {
        for net in networks {
            self.ensure_network(net).await?;
        }
        if let Some(mounts) = spec
            .body
            .host_config
            .as_ref()
            .and_then(|h| h.mounts.as_ref())
        {
            for m in mounts {
                if let Some(name) = &m.source {
                    self.ensure_volume(name).await?;
                }
            }
        }
        let id = self
            .create_container(&spec.container_name, spec.body.clone())
            .await?;
        for net in networks.iter().skip(1) {
            let request = NetworkConnectRequest {
                container: id.clone(),
                endpoint_config: Some(bollard::models::EndpointSettings {
                    aliases: spec.body.hostname.clone().map(|h| vec![h]),
                    ..Default::default()
                }),
            };
            self.docker
                .connect_network(net, request)
                .await
                .map_err(docker(format!("connect {} to {net}", spec.container_name)))?;
        }
        self.upload(&id, ENTRYPOINT_PATH, entrypoint, 0o755).await?;
        Ok(id)
    }

    /// Creates a container named `name` from `body` (not started).
    pub async fn create_container(
        &self,
        name: &str,
        body: ContainerCreateBody,
    ) -> Result<String, Error> {
        let options = CreateContainerOptionsBuilder::new().name(name).build();
        Ok(self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(docker(format!("create container {name}")))?
            .id)
    }

    /// Writes one file into a container (created or running), parents created as needed.
    pub async fn upload(
        &self,
        id: &str,
        path: &str,
        content: &[u8],
        mode: u32,
    ) -> Result<(), Error> {
        let archive = single_file_tar(path, content, mode).map_err(Error::Archive)?;
        let options = UploadToContainerOptionsBuilder::new().path("/").build();
        self.docker
            .upload_to_container(id, Some(options), bollard::body_full(archive.into()))
            .await
            .map_err(docker(format!("copy {path} into {id}")))
    }

    pub async fn start(&self, id: &str) -> Result<(), Error> {
        self.docker
            .start_container(id, None)
            .await
            .map_err(docker(format!("start {id}")))
    }

    /// Stops gracefully (SIGTERM, then SIGKILL after `grace`).
    pub async fn stop(&self, id: &str, grace: Duration) -> Result<(), Error> {
        let t = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
        let options = StopContainerOptionsBuilder::new().t(t).build();
        match self.docker.stop_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            // 304: already stopped.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(docker(format!("stop {id}"))(e)),
        }
    }

    /// Restarts the container (its entrypoint fetches the bundle again as it starts).
    pub async fn restart(&self, id: &str, grace: Duration) -> Result<(), Error> {
        let t = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
        let options = bollard::query_parameters::RestartContainerOptionsBuilder::new()
            .t(t)
            .build();
        self.docker
            .restart_container(id, Some(options))
            .await
            .map_err(docker(format!("restart {id}")))
    }

    /// Renames the container (a recreate moves the old one aside while the new one starts).
    pub async fn rename(&self, id: &str, name: &str) -> Result<(), Error> {
        let options = bollard::query_parameters::RenameContainerOptionsBuilder::new()
            .name(name)
            .build();
        self.docker
            .rename_container(id, options)
            .await
            .map_err(docker(format!("rename {id} to {name}")))
    }

    /// Removes the container (never its named volumes). `id` may be a name.
    pub async fn remove(&self, id: &str) -> Result<(), Error> {
        let full = match self.docker.inspect_container(id, None).await {
            Ok(found) => found.id.unwrap_or_default(),
            Err(e) if not_found(&e) => return Ok(()),
            Err(e) => return Err(docker(format!("inspect {id}"))(e)),
        };
        self.removed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(full);
        let options = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(false)
            .build();
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(docker(format!("remove {id}"))(e)),
        }
    }

    /// Runs `argv` in the running container and returns its exit code and output.
    pub async fn exec(&self, id: &str, argv: &[String]) -> Result<Exec, Error> {
        use bollard::exec::{StartExecOptions, StartExecResults};
        use bollard::models::ExecConfig;
        let created = self
            .docker
            .create_exec(
                id,
                ExecConfig {
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    cmd: Some(argv.to_vec()),
                    ..Default::default()
                },
            )
            .await
            .map_err(docker(format!("exec in {id}")))?;
        let started = self
            .docker
            .start_exec(&created.id, None::<StartExecOptions>)
            .await
            .map_err(docker(format!("exec in {id}")))?;
        let mut output = Vec::new();
        if let StartExecResults::Attached {
            output: mut stream, ..
        } = started
        {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(docker(format!("read exec output in {id}")))?;
                output.extend_from_slice(&chunk.into_bytes());
                if output.len() > 2 * OUTPUT_KEEP {
                    output.drain(..output.len() - OUTPUT_KEEP);
                }
            }
        }
        if output.len() > OUTPUT_KEEP {
            output.drain(..output.len() - OUTPUT_KEEP);
        }
        let inspect = self
            .docker
            .inspect_exec(&created.id)
            .await
            .map_err(docker(format!("inspect exec in {id}")))?;
        Ok(Exec {
            exit_code: inspect.exit_code.unwrap_or(-1),
            output: String::from_utf8_lossy(&output).into_owned(),
        })
    }

    /// The bundle `ETag` the container's entrypoint last wrote: the `MAILU_BUNDLE_ETAG` of
    /// `<state>/info`, read through the archive API (no `exec`, so a stopped container answers
    /// too); `""` when the container holds no bundle yet.
    pub async fn bundle_etag(&self, id: &str, state: &str) -> Result<String, Error> {
        let path = format!("{}/info", state.trim_end_matches('/'));
        let options = bollard::query_parameters::DownloadFromContainerOptionsBuilder::new()
            .path(&path)
            .build();
        let mut stream = self.docker.download_from_container(id, Some(options));
        let mut archive = Vec::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => archive.extend_from_slice(&bytes),
                Err(e) if not_found(&e) => return Ok(String::new()),
                Err(e) => return Err(docker(format!("read {path} in {id}"))(e)),
            }
            if archive.len() > 1 << 20 {
                break;
            }
        }
        Ok(etag_in_info(&archive).unwrap_or_default())
    }
}

/// How much of an exec's output is kept.
const OUTPUT_KEEP: usize = 64 * 1024;

/// Whether `found` ("1.41") is at least `min`.
fn api_at_least(found: &str, min: (u32, u32)) -> bool {
    let mut parts = found.split('.').map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= min,
        _ => false,
    }
}

fn not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

fn conflict(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            ..
        }
    )
}

/// The `ETag` in a tar archive holding the entrypoint's `info` (`MAILU_BUNDLE_ETAG='b1-...'`).
fn etag_in_info(archive: &[u8]) -> Option<String> {
    let mut tar = tar::Archive::new(archive);
    let mut entry = tar.entries().ok()?.next()?.ok()?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut entry, &mut text).ok()?;
    text.lines().find_map(|l| {
        let value = l.strip_prefix("MAILU_BUNDLE_ETAG=")?;
        Some(value.trim_matches('\'').to_owned())
    })
}

/// A tar archive holding one file at `path` (absolute), owned by root.
fn single_file_tar(path: &str, content: &[u8], mode: u32) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    );
    header.set_entry_type(tar::EntryType::Regular);
    builder.append_data(&mut header, path.trim_start_matches('/'), content)?;
    builder.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_compare_as_numbers() {
        assert!(api_at_least("1.41", (1, 41)));
        assert!(api_at_least("1.53", (1, 41)));
        assert!(!api_at_least("1.40", (1, 41)));
        assert!(!api_at_least("1.9", (1, 41)));
        assert!(!api_at_least("", (1, 41)));
    }

    #[test]
    fn the_kept_etag_is_read_from_the_info_archive() {
        let info =
            b"MAILU_BUNDLE_SERVICE='smtp'\nMAILU_BUNDLE_ETAG='b1-abc'\nMAILU_BUNDLE_VERSION=3\n";
        let archive = single_file_tar("/var/lib/mailu-git/info", info, 0o644).unwrap();
        assert_eq!(etag_in_info(&archive).as_deref(), Some("b1-abc"));
        let none = single_file_tar("/info", b"", 0o644).unwrap();
        assert_eq!(etag_in_info(&none), None);
    }
}
