//! `services/<name>.toml`: one container of the stack, with what the worker needs to deploy it (image,
//! env, ports, volumes, ...) and what it needs to apply a new version (which rendered paths a reload
//! command covers; a change anywhere else means a restart). The `admin` service is mailu-git itself.
//! This module describes a container; it does not talk to Docker.

pub mod env;
pub mod glob;

use std::collections::BTreeMap;
use std::fmt;

use super::domain::is_false;
use super::{FileType, Problem};

pub use env::EnvValue;

/// One service (container).
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// A disabled service is not deployed (its volumes are kept).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The image, `name:tag` or `name@digest`.
    pub image: String,
    #[serde(default)]
    pub pull: PullPolicy,
    /// The command (argv) the container runs after the entrypoint fetched its bundle; empty means
    /// the image's own command.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// The user the container runs as (`name`, `uid` or `uid:gid`); empty means the image's.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(default)]
    pub restart: RestartPolicy,
    /// Docker networks to join.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<String>,
    /// Shell commands (`sh -c`) run in order inside the container after its files are written and
    /// before its command starts, and again on every refresh (e.g. `postmap` the maps).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_start: Vec<String>,
    /// Environment variables; a value is a string or `{ secret = "kind/name" }`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, EnvValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// How a change to some rendered files is applied without a restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reload: Option<Reload>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// Owner and mode of rendered files, by path or glob; the first match wins, the default is
    /// `root:root` and `0644`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileMode>,
}

fn yes() -> bool {
    true
}

/// When the worker pulls the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PullPolicy {
    Always,
    #[default]
    Missing,
    Never,
}

/// Docker's restart policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    No,
    Always,
    #[default]
    UnlessStopped,
    OnFailure,
}

/// A published port.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Port {
    /// The host address to bind; absent means every address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<std::net::IpAddr>,
    /// The host port; 0 lets Docker pick a free one (tests, or a port reached only through
    /// `docker port`).
    pub host_port: u16,
    pub container_port: u16,
    #[serde(default)]
    pub protocol: Protocol,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
}

/// A named volume mounted into the container. Only named volumes: the worker never removes them,
/// so mail data survives every deploy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    pub name: String,
    /// Absolute path in the container.
    pub target: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
}

/// The container's health check.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// argv, run inside the container; exit 0 means healthy.
    pub command: Vec<String>,
    #[serde(default = "thirty_seconds")]
    pub interval: Duration,
    #[serde(default = "ten_seconds")]
    pub timeout: Duration,
    #[serde(default = "three")]
    pub retries: u32,
}

fn thirty_seconds() -> Duration {
    Duration(std::time::Duration::from_secs(30))
}

fn ten_seconds() -> Duration {
    Duration(std::time::Duration::from_secs(10))
}

fn three() -> u32 {
    3
}

/// A reload command and the rendered paths it covers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Reload {
    /// argv, run inside the container after the new files are written.
    pub command: Vec<String>,
    /// Absolute paths or globs (`*` within one component, `**` across components) in the container.
    pub paths: Vec<String>,
}

impl Reload {
    /// Whether a change to rendered file `path` can be applied by this reload.
    pub fn covers(&self, path: &str) -> bool {
        self.paths.iter().any(|p| glob::matches(p, path))
    }
}

/// Owner and mode of the rendered files matching `path`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileMode {
    /// An absolute path or glob in the container.
    pub path: String,
    /// `user`, `user:group`, or numeric ids.
    #[serde(default = "root")]
    pub owner: String,
    /// Octal permission bits, e.g. `"0640"`.
    #[serde(default = "default_mode")]
    pub mode: String,
}

fn root() -> String {
    "root:root".into()
}

fn default_mode() -> String {
    "0644".into()
}

impl FileMode {
    /// The mode as bits, when it is valid octal up to `07777`.
    pub fn bits(&self) -> Option<u32> {
        let ok = (3..=4).contains(&self.mode.len())
            && self.mode.bytes().all(|b| (b'0'..=b'7').contains(&b));
        ok.then(|| u32::from_str_radix(&self.mode, 8).ok())
            .flatten()
    }
}

/// A length of time written the humantime way (`30s`, `1m 30s`, `2h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration(pub std::time::Duration);

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl serde::Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        humantime::parse_duration(&raw).map(Duration).map_err(|e| {
            serde::de::Error::custom(format!("`{raw}` is not a duration (`30s`, `2m`): {e}"))
        })
    }
}

impl FileType for Service {
    fn validate(&self, problems: &mut Vec<Problem>) {
        if self.image.is_empty() || self.image.contains(char::is_whitespace) {
            problems.push(Problem::new(
                "image",
                "must be an image reference such as `name:tag`",
            ));
        }
        for (i, arg) in self.command.iter().enumerate() {
            if arg.contains('\0') {
                problems.push(Problem::new(format!("command.{i}"), "contains a NUL byte"));
            }
        }
        for (i, network) in self.networks.iter().enumerate() {
            if !is_docker_name(network) {
                problems.push(Problem::new(format!("networks.{i}"), docker_name_rule()));
            }
        }
        for (i, cmd) in self.pre_start.iter().enumerate() {
            if cmd.trim().is_empty() {
                problems.push(Problem::new(
                    format!("pre_start.{i}"),
                    "is an empty command",
                ));
            }
        }
        for name in self.env.keys() {
            if !env::is_name(name) {
                problems.push(Problem::new(
                    format!("env.{name}"),
                    "an environment variable name is letters, digits and `_`, not starting with a digit",
                ));
            }
        }
        if let Some(health) = &self.health {
            if health.command.is_empty() {
                problems.push(Problem::new("health.command", "must not be empty"));
            }
            if health.interval.0.is_zero() {
                problems.push(Problem::new("health.interval", "must be longer than 0s"));
            }
            if health.timeout.0.is_zero() {
                problems.push(Problem::new("health.timeout", "must be longer than 0s"));
            }
            if health.retries == 0 {
                problems.push(Problem::new("health.retries", "must be at least 1"));
            }
        }
        if let Some(reload) = &self.reload {
            if reload.command.is_empty() {
                problems.push(Problem::new("reload.command", "must not be empty"));
            }
            if reload.paths.is_empty() {
                problems.push(Problem::new(
                    "reload.paths",
                    "must name at least one path or glob",
                ));
            }
            for (i, p) in reload.paths.iter().enumerate() {
                check_abs(p, &format!("reload.paths.{i}"), problems);
            }
        }
        self.validate_ports(problems);
        self.validate_volumes(problems);
        for (i, file) in self.files.iter().enumerate() {
            check_abs(&file.path, &format!("files.{i}.path"), problems);
            if file.bits().is_none() {
                problems.push(Problem::new(
                    format!("files.{i}.mode"),
                    "must be octal permission bits such as \"0640\"",
                ));
            }
            let owner_ok = !file.owner.is_empty()
                && file.owner.split(':').count() <= 2
                && file.owner.split(':').all(|part| {
                    !part.is_empty()
                        && part
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                });
            if !owner_ok {
                problems.push(Problem::new(
                    format!("files.{i}.owner"),
                    "must be `user` or `user:group` (names or numeric ids)",
                ));
            }
        }
    }
}

impl Service {
    fn validate_ports(&self, problems: &mut Vec<Problem>) {
        for (i, port) in self.ports.iter().enumerate() {
            if port.container_port == 0 {
                problems.push(Problem::new(
                    format!("ports.{i}.container_port"),
                    "must be 1 to 65535",
                ));
            }
            // Port 0 asks Docker for any free port: two of them never collide.
            let same = |p: &Port| {
                port.host_port != 0
                    && p.host_port == port.host_port
                    && p.protocol == port.protocol
                    && p.host_ip == port.host_ip
            };
            if self.ports[..i].iter().any(same) {
                problems.push(Problem::new(
                    format!("ports.{i}.host_port"),
                    "this host port is published twice",
                ));
            }
        }
    }

    fn validate_volumes(&self, problems: &mut Vec<Problem>) {
        for (i, volume) in self.volumes.iter().enumerate() {
            if !is_docker_name(&volume.name) {
                problems.push(Problem::new(
                    format!("volumes.{i}.name"),
                    docker_name_rule(),
                ));
            }
            check_abs(&volume.target, &format!("volumes.{i}.target"), problems);
            if self.volumes[..i].iter().any(|v| v.target == volume.target) {
                problems.push(Problem::new(
                    format!("volumes.{i}.target"),
                    "two volumes are mounted at this path",
                ));
            }
        }
    }
}

fn check_abs(path: &str, field: &str, problems: &mut Vec<Problem>) {
    let ok =
        path.starts_with('/') && !path.contains('\0') && !path.split('/').any(|part| part == "..");
    if !ok {
        problems.push(Problem::new(
            field,
            "must be an absolute path in the container, without `..`",
        ));
    }
}

/// Docker's rule for volume and network names.
fn is_docker_name(name: &str) -> bool {
    name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

fn docker_name_rule() -> &'static str {
    "a Docker name is letters, digits, `_`, `.` and `-`, starting with a letter or digit"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::toml_file::parse;

    const FILE: &str = "services/smtp.toml";

    fn first(text: &str) -> (Option<u32>, String, String) {
        let err = parse::<Service>(FILE, text).unwrap_err();
        (
            err[0].line,
            err[0].field.clone().unwrap_or_default(),
            err[0].message.clone(),
        )
    }

    #[test]
    fn full_service_parses() {
        let text = r#"
image = "mailu-git/bookworm:latest"
pull = "never"
command = ["postfix", "start-fg"]
networks = ["mailu"]
pre_start = ["postmap /etc/postfix/transport"]
env = { TZ = "UTC", RELAY_PASSWORD = { secret = "relay/password" } }
ports = [{ host_port = 25, container_port = 25 }, { host_ip = "127.0.0.1", host_port = 53, container_port = 53, protocol = "udp" }]
volumes = [{ name = "mailu-queue", target = "/var/spool/postfix" }]
files = [{ path = "/etc/postfix/*.cf", mode = "0644" }]

[health]
command = ["postfix", "status"]
interval = "1m"

[reload]
command = ["postfix", "reload"]
paths = ["/etc/postfix/**"]
"#;
        let s: Service = parse(FILE, text).unwrap();
        assert!(s.enabled);
        assert_eq!(s.health.as_ref().unwrap().interval.0.as_secs(), 60);
        assert_eq!(s.health.as_ref().unwrap().retries, 3);
        assert!(s.reload.as_ref().unwrap().covers("/etc/postfix/main.cf"));
        assert!(
            !s.reload
                .as_ref()
                .unwrap()
                .covers("/etc/dovecot/dovecot.conf")
        );
        assert_eq!(s.files[0].bits(), Some(0o644));
        assert!(matches!(s.env["RELAY_PASSWORD"], EnvValue::Secret(_)));
        // What is written reads back the same.
        let again: Service = parse(FILE, &toml::to_string(&s).unwrap()).unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn bad_fields_are_named_with_lines() {
        let (line, field, msg) = first("image = \"x\"\npull = \"misssing\"\n");
        assert_eq!((line, field.as_str()), (Some(2), "pull"));
        assert!(msg.contains("did you mean `missing`"), "{msg}");
        let (line, field, _) =
            first("image = \"x\"\n[health]\ncommand = [\"true\"]\ninterval = \"soon\"\n");
        assert_eq!((line, field.as_str()), (Some(4), "health.interval"));
        let (line, field, _) =
            first("image = \"x\"\nvolumes = [{ name = \"data\", target = \"relative\" }]\n");
        assert_eq!((line, field.as_str()), (Some(2), "volumes.0.target"));
        let (line, field, _) =
            first("image = \"x\"\n\n[[files]]\npath = \"/etc/x\"\nmode = \"999\"\n");
        assert_eq!((line, field.as_str()), (Some(5), "files.0.mode"));
        let (line, field, _) = first("image = \"x\"\n[env]\n1BAD = \"x\"\n");
        assert_eq!((line, field.as_str()), (Some(3), "env.1BAD"));
        let (line, field, _) = first("image = \"x\"\n[env]\nA = { secret = \"nope\" }\n");
        assert_eq!((line, field.as_str()), (Some(3), "env.A.secret"));
        let (line, field, _) = first(
            "image = \"x\"\nports = [{ host_port = 25, container_port = 25 },\n { host_port = 25, container_port = 26 }]\n",
        );
        assert_eq!((line, field.as_str()), (Some(3), "ports.1.host_port"));
        // Host port 0 = any free port: twice is not a collision; container port 0 is refused.
        let any = "image = \"x\"\nports = [{ host_port = 0, container_port = 25 },\n { host_port = 0, container_port = 26 }]\n";
        assert!(parse::<Service>(FILE, any).is_ok());
        let (line, field, _) =
            first("image = \"x\"\nports = [{ host_port = 0, container_port = 0 }]\n");
        assert_eq!((line, field.as_str()), (Some(2), "ports.0.container_port"));
    }
}
