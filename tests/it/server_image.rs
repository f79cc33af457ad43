//! The server image (`images/server/`): built from the bookworm image and the binary under test,
//! run as a container with its port published on 127.0.0.1, answering the API from a volume that
//! survives the container, and stopping cleanly (pending changes committed) on `docker stop`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::image;
use crate::support::{bin, request};

const ADMIN: &str = "server-image-admin-token-0123456789";

/// Runs `docker` and returns stdout; panics with stderr on failure.
fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs");
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Removes what the test made, also when it fails.
struct Cleanup {
    containers: Vec<String>,
    volume: String,
    image: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = Command::new("docker").args(["rm", "-f", c]).output();
        }
        let _ = Command::new("docker")
            .args(["volume", "rm", "-f", &self.volume])
            .output();
        let _ = Command::new("docker")
            .args(["image", "rm", "-f", &self.image])
            .output();
    }
}

/// Starts a server container on `volume` and returns its id and base URL (127.0.0.1, published).
fn start(image: &str, volume: &str, name: &str) -> (String, String) {
    let id = docker(&[
        "run",
        "-d",
        "--name",
        name,
        "--label",
        "org.mailu-git.test=server-image",
        "-p",
        "127.0.0.1::8080",
        "-v",
        &format!("{volume}:/data"),
        "-e",
        &format!("MAILU_GIT_ADMIN_TOKEN={ADMIN}"),
        image,
    ]);
    let port = docker(&["port", &id, "8080/tcp"]);
    let port = port.lines().next().unwrap().rsplit(':').next().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if healthy(port) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server container did not answer: {}",
            docker(&["logs", &id])
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    (id, url)
}

/// Whether `/healthz` answers 200 on the published port. docker-proxy accepts connections before
/// the server listens (and resets them), so a failed request means "not yet", not an error.
fn healthy(port: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(format!("127.0.0.1:{port}")) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let sent = stream.write_all(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    let mut answer = String::new();
    sent.is_ok()
        && stream.read_to_string(&mut answer).is_ok()
        && answer.split_whitespace().nth(1) == Some("200")
}

#[test]
fn the_server_image_serves_from_its_volume_and_stops_cleanly() {
    let Some(base) = image::ensure() else { return };
    let tag = format!("mailu-git/server:test-{}", std::process::id());
    let volume = format!("mailu-git-test-data-{}", std::process::id());
    let mut cleanup = Cleanup {
        containers: Vec::new(),
        volume: volume.clone(),
        image: tag.clone(),
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("images/server/build.sh");
    let out = Command::new(&script)
        .args(["--binary", bin(), "--base", base, "--tag", &tag])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), tag);

    let first = format!("mailu-git-test-server-{}-a", std::process::id());
    cleanup.containers.push(first.clone());
    let (id, url) = start(&tag, &volume, &first);
    // The image's own health check command works inside the container.
    docker(&[
        "exec",
        &id,
        "busybox",
        "wget",
        "-q",
        "-O",
        "/dev/null",
        "http://127.0.0.1:8080/healthz",
    ]);
    // A write acknowledged but not yet a version (the default quiet period) when the stop comes.
    let made = request(
        "POST",
        &format!("{url}/api/v1/domain"),
        ADMIN,
        Some(json!({"name": "image.example"})),
    );
    assert_eq!(made.status, 200, "{}", made.body);
    docker(&["stop", "--time", "30", &id]);
    let code = docker(&["inspect", "--format", "{{.State.ExitCode}}", &id]);
    assert_eq!(code, "0", "{}", docker(&["logs", &id]));

    // A new container on the same volume has the write, committed as a version.
    let second = format!("mailu-git-test-server-{}-b", std::process::id());
    cleanup.containers.push(second.clone());
    let (_, url) = start(&tag, &volume, &second);
    let domain = request(
        "GET",
        &format!("{url}/api/v1/domain/image.example"),
        ADMIN,
        None,
    );
    assert_eq!(domain.status, 200, "{}", domain.body);
    let pending = request("GET", &format!("{url}/api/v1/pending"), ADMIN, None);
    assert_eq!(pending.status, 200, "{}", pending.body);
    assert_eq!(
        pending.json()["changes"].as_array().map(Vec::len),
        Some(0),
        "committed at shutdown, not replayed: {}",
        pending.body
    );
}
