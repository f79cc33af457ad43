//! Git over HTTP's limits and upkeep against the real server: gzip request bodies with protocol
//! v2, the pack size limit, one push at a time (503 with `Retry-After`), and repacking once loose
//! objects pile up.

use serde_json::json;

use crate::githttp::{ADMIN, Fixture, noise, write};
use crate::support::{TestServer, git, have_tool, request};

#[test]
fn gzip_bodies_protocol_v2_and_the_pack_limit() {
    if !have_tool("git") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = TestServer::launch_with(
        &data,
        &["--git-max-pack", "20000"],
        &[("MAILU_GIT_ADMIN_TOKEN", ADMIN)],
    );
    let fx = Fixture { server, home: tmp };
    // A v2 `ls-refs` command, gzipped, as git sends large fetch requests.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, b"0014command=ls-refs\n0000").unwrap();
    let body = gz.finish().unwrap();
    let url = format!("{}/config.git/git-upload-pack", fx.server.url);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, text) = runtime.block_on(async {
        let reply = ::reqwest::Client::new()
            .post(&url)
            .basic_auth("anyone", Some(ADMIN))
            .header("Git-Protocol", "version=2")
            .header("Content-Encoding", "gzip")
            .header("Content-Type", "application/x-git-upload-pack-request")
            .body(body)
            .send()
            .await
            .unwrap();
        (reply.status().as_u16(), reply.text().await.unwrap())
    });
    assert_eq!(status, 200);
    assert!(text.contains("refs/heads/main"), "{text}");

    // A pack past --git-max-pack is refused and leaves nothing.
    let dir = fx.clone("big", &[]);
    let noise = noise(200_000);
    write(&dir, "overrides/front/etc/big.bin", &noise);
    fx.ok(&dir, &["add", "-A"]);
    fx.ok(&dir, &["commit", "-q", "-m", "big"]);
    let before = fx.server_head();
    let err = fx.fails(&dir, &["push", "origin", "main"]);
    assert!(
        err.contains("maximum allowed size") || err.contains("unpack"),
        "{err}"
    );
    assert_eq!(fx.server_head(), before);
}

/// The loose objects `git count-objects` reports in the server's repository.
fn loose(fx: &Fixture) -> u64 {
    let out = git(&fx.repo(), &["count-objects", "-v"]);
    out.lines()
        .find_map(|l| l.strip_prefix("count: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn loose_objects_are_packed_once_they_pile_up() {
    if !have_tool("git") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = TestServer::launch_with(
        &data,
        &["--repack-loose", "20"],
        &[("MAILU_GIT_ADMIN_TOKEN", ADMIN)],
    );
    let fx = Fixture { server, home: tmp };
    for n in 0..10 {
        let reply = request(
            "POST",
            &format!("{}/api/v1/domain?wait=true", fx.server.url),
            ADMIN,
            Some(json!({"name": format!("p{n}.example.net")})),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    // Each version leaves a few loose objects; past 20 the server packs them (polled, not timed).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while loose(&fx) >= 20 {
        assert!(std::time::Instant::now() < deadline, "never repacked");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let packs = std::fs::read_dir(fx.repo().join("objects/pack"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "pack")
        })
        .count();
    assert!(packs >= 1);
    fx.clone("after", &[]);
    git(&fx.repo(), &["fsck", "--strict", "--no-dangling"]);
}

#[test]
fn a_second_push_waits_then_gets_503_with_retry_after() {
    use std::io::Write;
    if !have_tool("git") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = TestServer::launch_with(
        &data,
        &["--git-push-wait", "1s"],
        &[("MAILU_GIT_ADMIN_TOKEN", ADMIN)],
    );
    let fx = Fixture { server, home: tmp };
    let dir = fx.clone("second", &[]);
    fx.ok(&dir, &["commit", "-q", "--allow-empty", "-m", "second"]);
    // A first push whose body never ends holds the one push slot.
    let host = fx.server.url.trim_start_matches("http://");
    let mut first = std::net::TcpStream::connect(host).unwrap();
    let auth = base64_basic(ADMIN);
    write!(
        first,
        "POST /config.git/git-receive-pack HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {auth}\r\n\
         Content-Type: application/x-git-receive-pack-request\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .unwrap();
    first.flush().unwrap();
    // Once the server holds the slot, a push gets 503 (after --git-push-wait). Should a push slip
    // in before the first request is handled, it succeeds; another commit then tries again.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        fx.ok(&dir, &["commit", "-q", "--allow-empty", "-m", "again"]);
        let err =
            String::from_utf8_lossy(&fx.git(&dir, &["push", "origin", "main"]).stderr).into_owned();
        if err.contains("503") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never 503: {err}");
    }
    let url = format!("{}/config.git/git-receive-pack", fx.server.url);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let retry = runtime.block_on(async {
        let reply = ::reqwest::Client::new()
            .post(&url)
            .basic_auth("x", Some(ADMIN))
            .body("0000")
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status().as_u16(), 503);
        reply
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned())
    });
    assert!(retry.is_some());
    // Once the first ends, pushes go through again.
    write!(first, "0\r\n\r\n").unwrap();
    drop(first);
    loop {
        if fx
            .git(&dir, &["push", "-q", "origin", "main"])
            .status
            .success()
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the slot was never released"
        );
    }
}

fn base64_basic(token: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("x:{token}"))
}
