//! The worker's Docker layer against the machine's real engine, with the locally built bookworm
//! image: a container made from a service file runs our entrypoint first, then the command; it
//! joins its networks, mounts its named volume, publishes its port on 127.0.0.1 only, reports
//! health; `exec` returns exit codes; removal keeps the volume. Every object carries a per-test
//! project label and is removed at the end, even on failure.

use std::process::Command;
use std::time::Duration;

use mailu_git::model::service::{PullPolicy, Service};
use mailu_git::model::toml_file::parse;
use mailu_git::worker::engine::Health;
use mailu_git::worker::{Access, Engine, Spec};

use crate::image;

/// Removes a project's containers, networks and volumes, also when the test fails.
pub(crate) struct Cleanup {
    pub(crate) project: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let label = format!("label=org.mailu-git.project={}", self.project);
        for (list, remove) in [
            (vec!["ps", "-aq", "--filter", &label], vec!["rm", "-f"]),
            (
                vec!["network", "ls", "-q", "--filter", &label],
                vec!["network", "rm"],
            ),
            (
                vec!["volume", "ls", "-q", "--filter", &label],
                vec!["volume", "rm", "-f"],
            ),
        ] {
            let Ok(out) = Command::new("docker").args(&list).output() else {
                continue;
            };
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let mut args = remove.clone();
                args.push(id);
                let _ = Command::new("docker").args(&args).output();
            }
        }
    }
}

/// A stand-in for the bundle-fetching entrypoint: records its arguments, then execs them.
const ENTRYPOINT: &[u8] = b"#!/bin/sh\nset -eu\n[ \"$1\" = start ] && shift\nprintf '%s\\n' \"$MAILU_GIT_SERVICE\" \"$@\" > /run/entrypoint-ran\nexec \"$@\"\n";

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_service_file_becomes_a_container_that_runs_our_entrypoint_first() {
    let Some(image) = image::ensure() else { return };
    let project = format!("mgtest{}", std::process::id());
    let _cleanup = Cleanup {
        project: project.clone(),
    };
    let net = format!("{project}-net");
    let extra = format!("{project}-extra");
    let volume = format!("{project}-data");
    let service: Service = parse(
        "services/web.toml",
        &format!(
            r#"image = "{image}"
pull = "never"
command = ["busybox", "httpd", "-f", "-p", "8000", "-h", "/srv"]
networks = ["{net}", "{extra}"]
env = {{ GREETING = "hello" }}
ports = [{{ host_ip = "127.0.0.1", host_port = 0, container_port = 8000 }}]
volumes = [{{ name = "{volume}", target = "/srv" }}]
[health]
command = ["busybox", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8000/"]
interval = "1s"
timeout = "2s"
retries = 30
"#
        ),
    )
    .unwrap();
    let rt = runtime();
    rt.block_on(async {
        let engine = Engine::connect(&project).await.unwrap();
        let defaults = engine.image(image, PullPolicy::Never).await.unwrap();
        assert!(defaults.id.starts_with("sha256:"), "{defaults:?}");
        let missing = engine
            .image("mailu-git/no-such-image:1", PullPolicy::Never)
            .await
            .unwrap_err();
        assert!(
            missing.to_string().contains("pull policy is `never`"),
            "{missing}"
        );
        let access = Access {
            server_url: "http://admin:8080".into(),
            token: "mgit_svc_web_test".into(),
        };
        let spec = Spec::new(&project, "web", &service, &defaults, &access);
        let id = engine
            .create(&spec, &service.networks, ENTRYPOINT)
            .await
            .unwrap();
        // The volume gets a page before the server starts, through exec-less upload.
        engine
            .upload(&id, "/srv/index.html", b"served\n", 0o644)
            .await
            .unwrap();
        engine.start(&id).await.unwrap();
        let health = engine
            .wait_healthy(&id, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(health, Health::Ok);

        let ours = engine.ours().await.unwrap();
        assert_eq!(ours.len(), 1, "{ours:?}");
        assert_eq!(ours[0].service, "web");
        assert_eq!(ours[0].spec, spec.hash);
        assert!(ours[0].running);

        // Our entrypoint ran first, with the service's command after it.
        let ran = engine
            .exec(&id, &["cat".into(), "/run/entrypoint-ran".into()])
            .await
            .unwrap();
        assert_eq!(ran.exit_code, 0, "{}", ran.output);
        assert_eq!(
            ran.output, "web\nbusybox\nhttpd\n-f\n-p\n8000\n-h\n/srv\n",
            "the image has no entrypoint of its own"
        );
        let env = engine
            .exec(
                &id,
                &["sh".into(), "-c".into(), "echo $GREETING; exit 7".into()],
            )
            .await
            .unwrap();
        assert_eq!((env.exit_code, env.output.as_str()), (7, "hello\n"));

        // Published on 127.0.0.1 only, and the page answers there.
        let port = docker(&["port", &id, "8000/tcp"]);
        assert!(port.lines().all(|l| l.starts_with("127.0.0.1:")), "{port}");
        let addr = port.lines().next().unwrap().to_owned();
        let body = http_get(&addr);
        assert!(body.ends_with("served\n"), "{body}");
        // Both networks joined, with the service name as alias on each.
        let nets = docker(&[
            "inspect",
            "--format",
            "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{join $v.Aliases \",\"}} {{end}}",
            &id,
        ]);
        for n in [&net, &extra] {
            assert!(nets.contains(&format!("{n}=")), "{nets}");
        }
        assert!(nets.matches("web").count() >= 2, "{nets}");

        engine.stop(&id, Duration::from_secs(5)).await.unwrap();
        engine.stop(&id, Duration::from_secs(5)).await.unwrap();
        engine.remove(&id).await.unwrap();
        engine.remove(&id).await.unwrap();
        assert!(engine.ours().await.unwrap().is_empty());
        // The named volume outlives its container.
        assert_eq!(
            docker(&["volume", "inspect", "--format", "{{.Name}}", &volume]),
            volume
        );
    });
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A plain HTTP GET to `addr` (127.0.0.1:port), retried while docker-proxy accepts before the
/// server answers.
fn http_get(addr: &str) -> String {
    use std::io::{Read, Write};
    for _ in 0..50 {
        if let Ok(mut s) = std::net::TcpStream::connect(addr) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut answer = String::new();
            if s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").is_ok()
                && s.read_to_string(&mut answer).is_ok()
                && !answer.is_empty()
            {
                return answer;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no answer from {addr}");
}
