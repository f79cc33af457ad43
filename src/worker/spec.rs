//! What container a service file asks for: the Docker create request the worker sends, derived
//! from the service file, the image's own entrypoint and command, and where the container finds
//! the server. Pure: no Docker calls here, so every rule is unit-tested.
//!
//! The container runs our entrypoint first (`ENTRYPOINT_PATH start ARGV...`), which fetches the
//! service's bundle and then `exec`s `ARGV`: the image's entrypoint followed by the service's
//! `command` (or the image's command when the service gives none) — Docker's own rule for a
//! command given without an entrypoint.
//!
//! Secret environment values (`{ secret = "kind/name" }`) are not set here: they travel in the
//! service's bundle, so neither the worker nor `docker inspect` ever holds them.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, Mount, MountType,
    NetworkingConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use sha2::{Digest, Sha256};

use crate::model::service::{EnvValue, Protocol, RestartPolicy as Restart, Service};

/// Where our entrypoint is copied in every container we create.
pub const ENTRYPOINT_PATH: &str = "/usr/local/lib/mailu-git/entrypoint";

/// Labels on everything the worker creates.
pub mod label {
    /// The stack (project) a container belongs to: one worker manages one project.
    pub const PROJECT: &str = "org.mailu-git.project";
    /// The service a container runs.
    pub const SERVICE: &str = "org.mailu-git.service";
    /// A hash of the create request: a container whose hash differs is recreated.
    pub const SPEC: &str = "org.mailu-git.spec";
}

/// The image's own entrypoint and command (from `docker image inspect`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageDefaults {
    /// The image id, so a new image under the same tag changes the spec.
    pub id: String,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
}

/// How containers reach the server and identify themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// The server's URL as containers see it, e.g. `http://admin:8080`.
    pub server_url: String,
    /// The service token handed to the container's entrypoint.
    pub token: String,
}

/// One container to create.
#[derive(Debug, Clone)]
pub struct Spec {
    /// `<project>-<service>`.
    pub container_name: String,
    pub body: ContainerCreateBody,
    /// Hex SHA-256 of what decides the container (see [`label::SPEC`]).
    pub hash: String,
}

impl Spec {
    /// The container for service `name` of `project`.
    pub fn new(
        project: &str,
        name: &str,
        service: &Service,
        image: &ImageDefaults,
        access: &Access,
    ) -> Spec {
        let mut argv = image.entrypoint.clone();
        if service.command.is_empty() {
            argv.extend(image.cmd.iter().cloned());
        } else {
            argv.extend(service.command.iter().cloned());
        }
        let mut cmd = vec!["start".to_owned()];
        cmd.extend(argv);

        let mut env: Vec<String> = service
            .env
            .iter()
            .filter_map(|(key, value)| match value {
                EnvValue::Plain(v) => Some(format!("{key}={v}")),
                EnvValue::Secret(_) => None,
            })
            .collect();
        env.push(format!("MAILU_GIT_URL={}", access.server_url));
        env.push(format!("MAILU_GIT_SERVICE={name}"));
        env.push(format!("MAILU_GIT_TOKEN={}", access.token));

        let mut port_bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        let mut exposed = Vec::new();
        for p in &service.ports {
            let proto = match p.protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
            };
            let key = format!("{}/{proto}", p.container_port);
            if !exposed.contains(&key) {
                exposed.push(key.clone());
            }
            port_bindings
                .entry(key)
                .or_default()
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: p.host_ip.map(|ip| ip.to_string()),
                    host_port: Some(p.host_port.to_string()),
                });
        }
        let mounts = service
            .volumes
            .iter()
            .map(|v| Mount {
                target: Some(v.target.clone()),
                source: Some(v.name.clone()),
                typ: Some(MountType::VOLUME),
                read_only: Some(v.read_only),
                ..Default::default()
            })
            .collect::<Vec<_>>();
        let restart = RestartPolicy {
            name: Some(match service.restart {
                Restart::No => RestartPolicyNameEnum::NO,
                Restart::Always => RestartPolicyNameEnum::ALWAYS,
                Restart::UnlessStopped => RestartPolicyNameEnum::UNLESS_STOPPED,
                Restart::OnFailure => RestartPolicyNameEnum::ON_FAILURE,
            }),
            maximum_retry_count: None,
        };
        let healthcheck = service.health.as_ref().map(|h| {
            let mut test = vec!["CMD".to_owned()];
            test.extend(h.command.iter().cloned());
            HealthConfig {
                test: Some(test),
                interval: Some(nanos(h.interval.0)),
                timeout: Some(nanos(h.timeout.0)),
                retries: Some(i64::from(h.retries)),
                ..Default::default()
            }
        });
        // Docker attaches a container to one network at creation; the others are connected
        // before it starts (`Engine::create`).
        let networking = service.networks.first().map(|net| NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                net.clone(),
                EndpointSettings {
                    aliases: Some(vec![name.to_owned()]),
                    ..Default::default()
                },
            )])),
        });
        exposed.sort();
        let body = ContainerCreateBody {
            image: Some(service.image.clone()),
            entrypoint: Some(vec![ENTRYPOINT_PATH.to_owned()]),
            cmd: Some(cmd),
            env: Some(env),
            user: (!service.user.is_empty()).then(|| service.user.clone()),
            hostname: Some(name.to_owned()),
            exposed_ports: (!exposed.is_empty()).then_some(exposed),
            healthcheck,
            host_config: Some(HostConfig {
                port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
                mounts: (!mounts.is_empty()).then_some(mounts),
                restart_policy: Some(restart),
                // The image's stop signal (nginx, postfix, dovecot handle SIGTERM).
                ..Default::default()
            }),
            networking_config: networking,
            ..Default::default()
        };
        let hash = spec_hash(&body, image, &service.networks);
        let mut labels = HashMap::from([
            (label::PROJECT.to_owned(), project.to_owned()),
            (label::SERVICE.to_owned(), name.to_owned()),
            (label::SPEC.to_owned(), hash.clone()),
        ]);
        labels.shrink_to_fit();
        Spec {
            container_name: format!("{project}-{name}"),
            body: ContainerCreateBody {
                labels: Some(labels),
                ..body
            },
            hash,
        }
    }

    /// The networks to connect after creation (all but the first, which the create request joins).
    pub fn extra_networks<'a>(&self, service: &'a Service) -> &'a [String] {
        service.networks.get(1..).unwrap_or(&[])
    }
}

fn nanos(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// The hash of what decides a container: the request (its maps in a stable order), the image's
/// id (a re-pulled tag is a new container) and every network.
fn spec_hash(body: &ContainerCreateBody, image: &ImageDefaults, networks: &[String]) -> String {
    // serde_json writes a HashMap in iteration order, and a `Value`'s maps keep insertion order
    // once any crate in the build enables serde_json's `preserve_order` (a dev-dependency does):
    // sort every map explicitly, or the same request hashes differently from pass to pass.
    let value = serde_json::to_value(body).expect("a create request serializes");
    let mut hasher = Sha256::new();
    hasher.update(canonical(&value).as_bytes());
    hasher.update(b"\0image\0");
    hasher.update(image.id.as_bytes());
    for net in networks {
        hasher.update(b"\0net\0");
        hasher.update(net.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// `value` as JSON text with every object's keys sorted, whatever order its maps keep.
fn canonical(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let sorted: std::collections::BTreeMap<&String, String> =
                map.iter().map(|(k, v)| (k, canonical(v))).collect();
            let fields: Vec<String> = sorted
                .into_iter()
                .map(|(k, v)| format!("{}:{v}", Value::String(k.clone())))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::toml_file::parse;

    fn service(toml: &str) -> Service {
        parse::<Service>("services/x.toml", toml)
            .map_err(|e| format!("{e:?}"))
            .unwrap()
    }

    fn access() -> Access {
        Access {
            server_url: "http://admin:8080".into(),
            token: "mgit_svc_smtp_x".into(),
        }
    }

    #[test]
    fn the_entrypoint_runs_first_then_the_images_entrypoint_and_the_services_command() {
        let image = ImageDefaults {
            id: "sha256:1".into(),
            entrypoint: vec!["/docker-entrypoint.sh".into()],
            cmd: vec!["nginx".into()],
        };
        let own = service("image = \"x\"\ncommand = [\"nginx\", \"-g\", \"daemon off;\"]\n");
        let spec = Spec::new("mailu", "front", &own, &image, &access());
        assert_eq!(spec.container_name, "mailu-front");
        assert_eq!(spec.body.entrypoint, Some(vec![ENTRYPOINT_PATH.to_owned()]));
        assert_eq!(
            spec.body.cmd.as_deref().unwrap(),
            [
                "start",
                "/docker-entrypoint.sh",
                "nginx",
                "-g",
                "daemon off;"
            ]
        );
        let none = service("image = \"x\"\n");
        let spec = Spec::new("mailu", "front", &none, &image, &access());
        assert_eq!(
            spec.body.cmd.as_deref().unwrap(),
            ["start", "/docker-entrypoint.sh", "nginx"]
        );
    }

    #[test]
    fn ports_volumes_health_restart_and_env_follow_the_service_file() {
        let s = service(
            r#"image = "mailu-git/bookworm:latest"
restart = "on-failure"
networks = ["mailu", "extra"]
env = { A = "1", KEY = { secret = "smtp/relay_password" } }
ports = [
  { host_ip = "127.0.0.1", host_port = 2525, container_port = 25 },
  { host_port = 53, container_port = 53, protocol = "udp" },
]
volumes = [{ name = "mailu-mail", target = "/mail" }]
[health]
command = ["true"]
interval = "5s"
"#,
        );
        let spec = Spec::new("mailu", "smtp", &s, &ImageDefaults::default(), &access());
        let env = spec.body.env.clone().unwrap();
        assert!(env.contains(&"A=1".to_owned()));
        assert!(
            !env.iter().any(|e| e.starts_with("KEY=")),
            "secrets travel in the bundle"
        );
        assert!(env.contains(&"MAILU_GIT_SERVICE=smtp".to_owned()));
        assert!(env.contains(&"MAILU_GIT_TOKEN=mgit_svc_smtp_x".to_owned()));
        let host = spec.body.host_config.clone().unwrap();
        let ports = host.port_bindings.unwrap();
        assert_eq!(
            ports["25/tcp"].as_ref().unwrap()[0],
            PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some("2525".into())
            }
        );
        assert_eq!(
            ports["53/udp"].as_ref().unwrap()[0].host_ip,
            None,
            "absent = every address"
        );
        assert_eq!(
            host.restart_policy.unwrap().name,
            Some(RestartPolicyNameEnum::ON_FAILURE)
        );
        let mount = &host.mounts.unwrap()[0];
        assert_eq!(mount.source.as_deref(), Some("mailu-mail"));
        assert_eq!(mount.typ, Some(MountType::VOLUME));
        let health = spec.body.healthcheck.clone().unwrap();
        assert_eq!(health.test.unwrap(), ["CMD", "true"]);
        assert_eq!(health.interval, Some(5_000_000_000));
        assert_eq!(spec.extra_networks(&s), ["extra".to_owned()]);
        let labels = spec.body.labels.clone().unwrap();
        assert_eq!(labels[label::SERVICE], "smtp");
        assert_eq!(labels[label::SPEC], spec.hash);
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth_whatever_the_map_order() {
        let a = serde_json::json!({"b": {"y": 1, "x": [{"q": 2, "p": 3}]}, "a": "s"});
        let mut reversed = serde_json::Map::new();
        reversed.insert(
            "b".into(),
            serde_json::json!({"x": [{"p": 3, "q": 2}], "y": 1}),
        );
        reversed.insert("a".into(), serde_json::json!("s"));
        let b = serde_json::Value::Object(reversed);
        assert_eq!(canonical(&a), canonical(&b));
        assert_eq!(
            canonical(&a),
            r#"{"a":"s","b":{"x":[{"p":3,"q":2}],"y":1}}"#
        );
    }

    #[test]
    fn the_hash_is_stable_and_changes_with_what_decides_the_container() {
        // Several ports: their map's iteration order differs from one HashMap to the next.
        let ports: Vec<String> = [25, 465, 587, 110, 143, 993]
            .iter()
            .map(|p| format!("{{ host_port = 0, container_port = {p} }}"))
            .collect();
        let s = service(&format!(
            "image = \"x\"\nenv = {{ A = \"1\", B = \"2\", C = \"3\" }}\nports = [{}]\n",
            ports.join(", ")
        ));
        let image = ImageDefaults {
            id: "sha256:1".into(),
            ..Default::default()
        };
        let a = Spec::new("mailu", "smtp", &s, &image, &access());
        for _ in 0..20 {
            assert_eq!(
                Spec::new("mailu", "smtp", &s, &image, &access()).hash,
                a.hash
            );
        }
        let other_env = service("image = \"x\"\nenv = { A = \"1\", B = \"2\", C = \"4\" }\n");
        assert_ne!(
            Spec::new("mailu", "smtp", &other_env, &image, &access()).hash,
            a.hash
        );
        let new_image = ImageDefaults {
            id: "sha256:2".into(),
            ..Default::default()
        };
        assert_ne!(
            Spec::new("mailu", "smtp", &s, &new_image, &access()).hash,
            a.hash
        );
    }
}
