//! The server's own container (`src/worker/server.rs`) on the real engine: made from the server
//! image (`images/server/build.sh` on the bookworm image) when the project has none, labelled as
//! the stack's `admin`, its data on the named volume, the worker's token handed over (the worker
//! token reads the deploy summary), published on 127.0.0.1 only; an existing one, running or
//! stopped, is never recreated.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use mailu_git::worker::Engine;
use mailu_git::worker::server::{ServerContainer, ensure};

use crate::bundle::WORKER;
use crate::entrypoint::{docker, healthy};
use crate::image;
use crate::support::{bin, request};
use crate::worker_engine::{Cleanup, runtime};

/// Removes the test's server image when dropped.
struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        let _ = docker(&["image", "rm", "-f", &self.0]);
    }
}

fn inspect(container: &str, format: &str) -> String {
    let out = docker(&["inspect", "-f", format, container]);
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn the_servers_container_is_created_when_missing_and_then_left_alone() {
    let Some(base) = image::ensure() else { return };
    let project = format!("mgadmin{}", std::process::id());
    let _cleanup = Cleanup {
        project: project.clone(),
    };
    let image = Image(format!(
        "mailu-git/server:test-admin-{}",
        std::process::id()
    ));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("images/server/build.sh");
    let out = Command::new(&script)
        .args(["--binary", bin(), "--base", base, "--tag", &image.0])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A free port on 127.0.0.1 for the API.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = ServerContainer {
        image: image.0.clone(),
        volume: format!("{project}-data"),
        network: format!("{project}-net"),
        publish: Some(("127.0.0.1".into(), port)),
    };
    let rt = runtime();
    let engine = rt.block_on(Engine::connect(&project)).unwrap();
    let id = rt
        .block_on(ensure(&engine, &server, WORKER))
        .unwrap()
        .expect("none existed: created");
    let name = format!("{project}-admin");
    assert_eq!(inspect(&name, "{{.Id}}"), id);
    assert_eq!(
        inspect(&name, "{{index .Config.Labels \"org.mailu-git.service\"}}"),
        "admin"
    );
    assert_eq!(
        inspect(&name, "{{range .Mounts}}{{.Name}}:{{.Destination}}{{end}}"),
        format!("{project}-data:/data")
    );
    let nets = inspect(
        &name,
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{join $v.Aliases \",\"}}{{end}}",
    );
    assert!(
        nets.starts_with(&format!("{project}-net=")) && nets.contains("admin"),
        "{nets}"
    );

    // It serves on the published port, and knows the worker's token.
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !healthy(&format!("{url}/healthz")) {
        assert!(
            Instant::now() < deadline,
            "the server did not answer: {}",
            crate::entrypoint::logs(&name)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let summary = request("GET", &format!("{url}/api/v1/deploy"), WORKER, None);
    assert_eq!(summary.status, 200, "{}", summary.body);

    // Existing, it is left alone; stopped (an operator's offline command), too.
    assert_eq!(rt.block_on(ensure(&engine, &server, WORKER)).unwrap(), None);
    rt.block_on(engine.stop(&id, Duration::from_secs(10)))
        .unwrap();
    assert_eq!(rt.block_on(ensure(&engine, &server, WORKER)).unwrap(), None);
    let ours = rt.block_on(engine.ours()).unwrap();
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!((ours[0].id.as_str(), ours[0].running), (id.as_str(), false));
}
