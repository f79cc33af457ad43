//! The create request of a container that replaces a running one with another image and nothing
//! else changed: the server's upgrade (`upgrade.rs`). Pure: it reads `docker inspect` of the old
//! container and the old image's own configuration, so every rule is unit-tested.
//!
//! Docker merges the image's configuration into a container's at creation (its env, labels,
//! command, entrypoint, health check, ...), so `inspect` cannot tell what was given explicitly.
//! The rule here: a value equal to the old image's default counts as the default and is left
//! out, so the new image's default applies (a new image may change its `PATH` or its command);
//! anything else (compose's labels, the tokens in the env, an explicit command) is kept as is.
//! Host settings (port bindings, mounts and binds, restart policy, ...) are kept whole; a volume
//! Docker made for an image's `VOLUME` without a name given (anonymous) is mounted again by its
//! name, so its data follows.

use std::collections::{BTreeSet, HashMap};

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, EndpointSettings, ImageConfig, Mount, MountType,
    NetworkingConfig,
};

/// What creating the replacement takes.
#[derive(Debug, Clone)]
pub struct Replacement {
    /// The old container's name (without Docker's `/`): the new one ends up under it.
    pub name: String,
    /// The create request: the old container's, with `image` changed.
    pub body: ContainerCreateBody,
    /// The networks to connect after creation, before the start (the first is in `body`).
    pub networks: Vec<(String, EndpointSettings)>,
}

/// Networks whose endpoints take no aliases.
const BUILT_IN_NETWORKS: [&str; 3] = ["bridge", "host", "none"];

/// The replacement of `old` running `image`; `old_image` is the old image's configuration
/// (`None` when the engine no longer has it: then every value counts as explicit).
pub fn replacement(
    old: &ContainerInspectResponse,
    old_image: Option<&ImageConfig>,
    image: &str,
) -> Replacement {
    let id = old.id.clone().unwrap_or_default();
    let short_id = &id[..id.len().min(12)];
    let name = old
        .name
        .clone()
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_owned();
    let config = old.config.clone().unwrap_or_default();
    let defaults = old_image.cloned().unwrap_or_default();

    let mut host = old.host_config.clone().unwrap_or_default();
    // Anonymous volumes (an image's `VOLUME` nobody named) by their names, so data follows.
    let mut taken: BTreeSet<String> = host
        .binds
        .iter()
        .flatten()
        .filter_map(|b| b.split(':').nth(1).map(str::to_owned))
        .collect();
    taken.extend(
        host.mounts
            .iter()
            .flatten()
            .filter_map(|m| m.target.clone()),
    );
    let anonymous: Vec<Mount> = old
        .mounts
        .iter()
        .flatten()
        .filter(|m| m.typ.as_deref() == Some("volume"))
        .filter_map(|m| {
            let target = m.destination.clone()?;
            (!taken.contains(&target)).then(|| Mount {
                target: Some(target),
                source: m.name.clone(),
                typ: Some(MountType::VOLUME),
                read_only: Some(m.rw == Some(false)),
                ..Default::default()
            })
        })
        .collect();
    if !anonymous.is_empty() {
        host.mounts.get_or_insert_with(Vec::new).extend(anonymous);
    }

    let mut networks: Vec<(String, EndpointSettings)> = old
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|(net, e)| {
            let endpoint = if BUILT_IN_NETWORKS.contains(&net.as_str()) {
                EndpointSettings::default()
            } else {
                EndpointSettings {
                    // Docker adds the container's short id as an alias; the new one gets its own.
                    aliases: e
                        .aliases
                        .map(|a| a.into_iter().filter(|a| a != short_id).collect()),
                    ipam_config: e.ipam_config,
                    links: e.links,
                    driver_opts: e.driver_opts,
                    ..Default::default()
                }
            };
            (net, endpoint)
        })
        .collect();
    // The network the container was created on (`NetworkMode`) first, the rest by name.
    let mode = host.network_mode.clone().unwrap_or_default();
    networks.sort_by(|a, b| (a.0 != mode, &a.0).cmp(&(b.0 != mode, &b.0)));
    let networking_config = networks.first().map(|(net, endpoint)| NetworkingConfig {
        endpoints_config: Some(HashMap::from([(net.clone(), endpoint.clone())])),
    });
    let rest = networks.into_iter().skip(1).collect();

    let body = ContainerCreateBody {
        image: Some(image.to_owned()),
        // Docker names a container's host after its short id unless one was given.
        hostname: config.hostname.filter(|h| !h.is_empty() && h != short_id),
        domainname: config.domainname.filter(|d| !d.is_empty()),
        user: explicit(config.user, &defaults.user).filter(|u| !u.is_empty()),
        attach_stdin: config.attach_stdin,
        attach_stdout: config.attach_stdout,
        attach_stderr: config.attach_stderr,
        exposed_ports: beyond(config.exposed_ports, &defaults.exposed_ports),
        tty: config.tty,
        open_stdin: config.open_stdin,
        stdin_once: config.stdin_once,
        env: beyond(config.env, &defaults.env),
        cmd: explicit(config.cmd, &defaults.cmd),
        healthcheck: explicit(config.healthcheck, &defaults.healthcheck),
        volumes: beyond(config.volumes, &defaults.volumes),
        working_dir: explicit(config.working_dir, &defaults.working_dir).filter(|w| !w.is_empty()),
        entrypoint: explicit(config.entrypoint, &defaults.entrypoint),
        network_disabled: config.network_disabled,
        labels: config.labels.map(|labels| {
            let image_labels = defaults.labels.clone().unwrap_or_default();
            labels
                .into_iter()
                .filter(|(k, v)| image_labels.get(k) != Some(v))
                .collect()
        }),
        stop_signal: explicit(config.stop_signal, &defaults.stop_signal),
        stop_timeout: config.stop_timeout,
        shell: explicit(config.shell, &defaults.shell),
        host_config: Some(host),
        networking_config,
        ..Default::default()
    };
    Replacement {
        name,
        body,
        networks: rest,
    }
}

/// `value` unless it is the image's default.
fn explicit<T: PartialEq>(value: Option<T>, default: &Option<T>) -> Option<T> {
    if value == *default { None } else { value }
}

/// The entries of `value` the image's default does not hold (env, exposed ports, volumes).
fn beyond(value: Option<Vec<String>>, default: &Option<Vec<String>>) -> Option<Vec<String>> {
    let default = default.as_deref().unwrap_or(&[]);
    let kept: Vec<String> = value
        .unwrap_or_default()
        .into_iter()
        .filter(|v| !default.contains(v))
        .collect();
    (!kept.is_empty()).then_some(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docker inspect` of a server container as compose makes it, merged with its image.
    fn old() -> ContainerInspectResponse {
        serde_json::from_value(serde_json::json!({
            "Id": "0123456789abcdef0123",
            "Name": "/mailu-admin",
            "Image": "sha256:aaaa",
            "Config": {
                "Hostname": "0123456789ab",
                "Image": "mailu-git/server:1",
                "Env": ["MAILU_GIT_WORKER_TOKEN=t0ken", "PATH=/usr/bin", "MAILU_GIT_DATA=/data"],
                "Cmd": ["serve", "--data", "/data", "--listen", "0.0.0.0:8080"],
                "Entrypoint": ["/usr/local/bin/mailu-git"],
                "Healthcheck": {"Test": ["CMD", "true"]},
                "ExposedPorts": {"8080/tcp": {}},
                "Volumes": {"/data": {}, "/cache": {}},
                "Labels": {
                    "org.mailu-git.project": "mailu",
                    "org.mailu-git.service": "admin",
                    "com.docker.compose.project": "mailu",
                    "org.mailu-git.image": "server"
                }
            },
            "HostConfig": {
                "Binds": ["mailu-git-data:/data:rw"],
                "NetworkMode": "mailu",
                "PortBindings": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]},
                "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0}
            },
            "Mounts": [
                {"Type": "volume", "Name": "mailu-git-data", "Destination": "/data", "RW": true},
                {"Type": "volume", "Name": "4f1e", "Destination": "/cache", "RW": true}
            ],
            "NetworkSettings": {"Networks": {
                "mailu": {"Aliases": ["admin", "0123456789ab"], "NetworkID": "n1", "IPAddress": "172.18.0.2"},
                "other": {"Aliases": ["admin"]}
            }}
        }))
        .unwrap()
    }

    fn image() -> ImageConfig {
        serde_json::from_value(serde_json::json!({
            "Env": ["PATH=/usr/bin", "MAILU_GIT_DATA=/data"],
            "Cmd": ["serve"],
            "Entrypoint": ["/usr/local/bin/mailu-git"],
            "Healthcheck": {"Test": ["CMD", "true"]},
            "ExposedPorts": {"8080/tcp": {}},
            "Volumes": {"/data": {}, "/cache": {}},
            "Labels": {"org.mailu-git.image": "server"}
        }))
        .unwrap()
    }

    #[test]
    fn only_the_image_changes_and_the_images_defaults_are_left_to_the_new_image() {
        let r = replacement(&old(), Some(&image()), "mailu-git/server:2");
        assert_eq!(r.name, "mailu-admin");
        let b = &r.body;
        assert_eq!(b.image.as_deref(), Some("mailu-git/server:2"));
        // The explicit command is kept; the image's entrypoint, env and labels are its own.
        assert_eq!(
            b.cmd.as_deref().unwrap(),
            ["serve", "--data", "/data", "--listen", "0.0.0.0:8080"]
        );
        assert_eq!(b.entrypoint, None);
        assert_eq!(b.healthcheck, None);
        assert_eq!(b.exposed_ports, None);
        assert_eq!(b.env.as_deref().unwrap(), ["MAILU_GIT_WORKER_TOKEN=t0ken"]);
        let labels = b.labels.clone().unwrap();
        assert_eq!(labels["org.mailu-git.service"], "admin");
        assert_eq!(labels["com.docker.compose.project"], "mailu");
        assert!(!labels.contains_key("org.mailu-git.image"));
        // The generated host name is not copied.
        assert_eq!(b.hostname, None);
        // Host settings whole; the anonymous volume by its name, the named one left to its bind.
        let host = b.host_config.clone().unwrap();
        assert_eq!(host.binds.unwrap(), ["mailu-git-data:/data:rw"]);
        let mounts = host.mounts.unwrap();
        assert_eq!(mounts.len(), 1);
        assert_eq!(
            (mounts[0].source.as_deref(), mounts[0].target.as_deref()),
            (Some("4f1e"), Some("/cache"))
        );
        assert!(host.port_bindings.unwrap().contains_key("8080/tcp"));
        // The first network is the one it was created on, without the old id as an alias.
        let first = b
            .networking_config
            .clone()
            .unwrap()
            .endpoints_config
            .unwrap();
        assert_eq!(first["mailu"].aliases.as_deref().unwrap(), ["admin"]);
        assert_eq!(first["mailu"].ip_address, None);
        assert_eq!(r.networks.len(), 1);
        assert_eq!(r.networks[0].0, "other");
    }

    #[test]
    fn a_command_equal_to_the_images_counts_as_the_default_and_an_unknown_image_keeps_all() {
        let mut old = old();
        if let Some(c) = old.config.as_mut() {
            c.cmd = Some(vec!["serve".into()]);
        }
        let r = replacement(&old, Some(&image()), "b");
        assert_eq!(r.body.cmd, None);
        let r = replacement(&old, None, "b");
        assert_eq!(r.body.cmd.as_deref().unwrap(), ["serve"]);
        assert_eq!(r.body.env.as_ref().unwrap().len(), 3);
    }
}
