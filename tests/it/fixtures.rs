//! Configurations to render: the small fixed one (`tests/fixtures/render/small`, snapshot-tested) and
//! a large generated one (many domains, wildcard aliases, forwards, relays, a relay host with its
//! password, app tokens), and their rendered files from the real `mailu-git render`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::support::mailu_git;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fixture {
    /// The configuration of a new installation (`config-repo-template/`): no domain at all.
    Template,
    Small,
    Large,
}

/// The repository of the tests' age key (`tests/it/fixtures/age.key`).
pub const RECIPIENT: &str = "age1gzh86ss2fnk8sqawsw7xe935rkslvth9g3yl7sftqn0yg2hekupqjc25gf";

pub fn small_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/render/small")
}

/// The checkout folder of a fixture (the large one is generated once per test process).
pub fn dir(f: Fixture) -> PathBuf {
    match f {
        Fixture::Template => Path::new(env!("CARGO_MANIFEST_DIR")).join("config-repo-template"),
        Fixture::Small => small_dir(),
        Fixture::Large => {
            static LARGE: OnceLock<tempfile::TempDir> = OnceLock::new();
            LARGE.get_or_init(generate_large).path().to_owned()
        }
    }
}

/// A copy of a fixture to modify (`edit` gets the copy's root), e.g. another `tls.flavor`.
pub fn copy_of(f: Fixture, edit: impl FnOnce(&Path)) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_tree(&dir(f), tmp.path());
    edit(tmp.path());
    tmp
}

/// Every rendered file of a fixture, laid out `OUT/<service>/<absolute path>`.
pub fn rendered(f: Fixture) -> tempfile::TempDir {
    rendered_dir(&dir(f))
}

/// Every rendered file of the checkout at `checkout`, laid out `OUT/<service>/<absolute path>`.
pub fn rendered_dir(checkout: &Path) -> tempfile::TempDir {
    rendered_with_warnings(checkout).0
}

/// The same, with what `mailu-git render` printed on stderr (its warnings).
pub fn rendered_with_warnings(checkout: &Path) -> (tempfile::TempDir, String) {
    let out = tempfile::tempdir().unwrap();
    // `render --out` wants a new or empty folder: the temporary one itself is empty.
    let o = mailu_git(
        &[
            "render",
            checkout.to_str().unwrap(),
            "--out",
            out.path().to_str().unwrap(),
        ],
        checkout,
    );
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "mailu-git render failed: {stderr}");
    (out, stderr)
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Domains and users of the large fixture.
pub const LARGE_DOMAINS: usize = 200;
pub const LARGE_USERS_PER_DOMAIN: usize = 25;
pub const LARGE_RELAYS: usize = 50;

fn write(root: &Path, path: &str, text: &str) {
    let p = root.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn encrypt(root: &Path, kind: &str, name: &str, secret: &str) {
    let out = root.join(format!("secrets/{kind}/{name}"));
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let mut child = std::process::Command::new(crate::support::bin())
        .args(["secret", "encrypt", "--recipient", RECIPIENT, "-o"])
        .arg(&out)
        .args([kind, name])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(secret.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

const HASH: &str = "{SHA512-CRYPT}$6$fixedsaltAAAA$QGP1aDdvROIIyWaXROU8R03IpS7GrxrNiviS.k.woTq0ZLI0St8VXVu6yDH7m0Ye8mJ9gb8ySd5xjlgxO74XE0";
const TOKEN: &str = "{SSHA512}DW31vgWj15L3v/dSDs2Vd0WDJzhRcBfjTatw3eu9QFvlcNCYfEpniqT0RHIZvC0B7nUCEufEdSOAqp9V/rj1+nNhbHRzYWx0";

fn generate_large() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    copy_tree(&small_dir(), root);
    // A relay host with a login; its password is a secret.
    let settings = std::fs::read_to_string(root.join("mailu.toml")).unwrap();
    let settings = settings
        .replace(
            "# relay_host = \"[smtp.example.net]:587\"",
            "relay_host = \"[smtp.relay.test]:587\"",
        )
        .replace("# relay_user = \"mailu\"", "relay_user = \"mailu\"");
    assert!(
        settings.contains("relay_user = \"mailu\""),
        "mailu.toml changed its comments"
    );
    std::fs::write(root.join("mailu.toml"), settings).unwrap();
    encrypt(root, "settings", "relay_password", "relay-secret");

    for d in 0..LARGE_DOMAINS {
        let domain = format!("d{d:03}.test");
        let alt = if d % 10 == 0 {
            format!("alternatives = [\"alt{d:03}.test\"]\n")
        } else {
            String::new()
        };
        write(root, &format!("domains/{domain}/domain.toml"), &alt);
        for u in 0..LARGE_USERS_PER_DOMAIN {
            let mut user = format!("password = \"{HASH}\"\n");
            if u % 5 == 1 {
                user.push_str(&format!(
                    "forward_enabled = true\nforward_destination = [\"u0@d{:03}.test\"]\nforward_keep = {}\n",
                    (d + 1) % LARGE_DOMAINS,
                    u % 2 == 0
                ));
            }
            if u % 7 == 2 {
                user.push_str("reply_enabled = true\nreply_subject = \"Out\"\nreply_body = \"Back soon.\\nRegards\"\n");
            }
            if u % 6 == 3 {
                user.push_str("allow_spoofing = true\n");
            }
            if u % 9 == 4 {
                user.push_str("enabled = false\n");
            }
            if u % 4 == 0 {
                user.push_str(&format!(
                    "\n[[tokens]]\nid = \"t{d:03}u{u:03}\"\nip = [\"10.{}.0.0/16\"]\npassword = \"{TOKEN}\"\n",
                    d % 250
                ));
            }
            write(root, &format!("domains/{domain}/users/u{u}.toml"), &user);
        }
        write(
            root,
            &format!("domains/{domain}/aliases/team.toml"),
            "destination = [\"u0@d000.test\", \"u1@d001.test\", \"ext@remote.test\"]\n",
        );
        // A wildcard that also matches real users (u1x), and a catch-all on some domains.
        write(
            root,
            &format!("domains/{domain}/aliases/u1%.toml"),
            "destination = [\"u2@d000.test\"]\nwildcard = true\n",
        );
        if d % 3 == 0 {
            write(
                root,
                &format!("domains/{domain}/aliases/%.toml"),
                &format!("destination = [\"u0@{domain}\"]\nwildcard = true\n"),
            );
        }
    }
    for r in 0..LARGE_RELAYS {
        let target = match r % 4 {
            0 => String::new(),
            1 => format!("smtp = \"[mx{r}.relay.test]:2525\"\n"),
            2 => format!("smtp = \"mx:relay{r}.test\"\n"),
            _ => format!("smtp = \"lmtp:lmtp{r}.relay.test:24\"\n"),
        };
        write(root, &format!("relays/r{r:02}.relay.test.toml"), &target);
    }
    let check = mailu_git(&["check", root.to_str().unwrap()], root);
    assert!(
        check.status.success(),
        "the large fixture is invalid: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    tmp
}
