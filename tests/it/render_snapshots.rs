//! The rendered files of the small fixture, compared byte for byte with `tests/snapshots/small/`.
//! `MAILU_GIT_BLESS=1` writes the snapshots instead; read the diff before committing it.

use std::collections::BTreeMap;
use std::path::Path;

use crate::fixtures::{self, Fixture};
use crate::support::{TestServer, git, have_tool, mailu_git, request};

fn files_under(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                let rel = e
                    .path()
                    .strip_prefix(root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                out.insert(rel, std::fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

#[test]
fn the_small_fixture_renders_as_its_snapshots() {
    let rendered = fixtures::rendered(Fixture::Small);
    let got = files_under(rendered.path());
    let snapshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/small");
    if std::env::var("MAILU_GIT_BLESS").as_deref() == Ok("1") {
        let _ = std::fs::remove_dir_all(&snapshots);
        for (path, bytes) in &got {
            let p = snapshots.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        }
        eprintln!("wrote {} snapshots to {}", got.len(), snapshots.display());
        return;
    }
    let want = files_under(&snapshots);
    let missing: Vec<&String> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<&String> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "rendered files differ from the snapshots: missing {missing:?}, new {extra:?} \
         (MAILU_GIT_BLESS=1 rewrites them)"
    );
    for (path, bytes) in &want {
        assert!(
            &got[path] == bytes,
            "{path} differs from its snapshot (MAILU_GIT_BLESS=1 rewrites it):\n{}",
            String::from_utf8_lossy(&got[path])
        );
    }
}

#[test]
fn render_updates_a_checkout_exactly_as_the_server_renders_it() {
    if !have_tool("git") {
        return;
    }
    let server = TestServer::start();
    let token = server.generated_admin_token().unwrap();
    let api = format!("{}/api/v1", server.url);
    let r = request(
        "POST",
        &format!("{api}/domain?wait=true"),
        &token,
        Some(serde_json::json!({"name": "example.com"})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = request(
        "POST",
        &format!("{api}/user?wait=true"),
        &token,
        Some(serde_json::json!({"email": "alice@example.com", "raw_password": "password1"})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let repo = server.data.join("config.git");
    let tmp = tempfile::tempdir().unwrap();
    let checkout = tmp.path().join("checkout");
    let o = std::process::Command::new("git")
        .args(["clone", "-q"])
        .arg(&repo)
        .arg(&checkout)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // The server's rendered files are exactly what `render` makes of the same sources.
    let o = mailu_git(&["render", checkout.to_str().unwrap()], &checkout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(": 0 file(s) written, 0 removed"), "{out}");

    // A hand edit of a rendered file and a stale file are put right; `git status` shows it.
    let rendered = files_under(&checkout.join("rendered"));
    let first = rendered
        .keys()
        .next()
        .expect("the server's version holds rendered files");
    std::fs::write(checkout.join("rendered").join(first), "edited by hand\n").unwrap();
    std::fs::write(checkout.join("rendered/smtp-stale"), "x").unwrap();
    let o = mailu_git(&["render", checkout.to_str().unwrap()], &checkout);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(": 1 file(s) written, 1 removed"), "{out}");
    assert_eq!(git(&checkout, &["status", "--porcelain"]), "");
    assert!(server.stop().success());
}
