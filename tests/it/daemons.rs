//! The bookworm image as referee: each daemon's own check passes on a tiny valid configuration
//! (`tests/it/fixtures/daemons/`) and fails on a copy broken on purpose, so a check that could not
//! fail would show here first. Also the image's promises: fixed ids, `/etc/mtab`, no snakeoil key.

mod antispam;
mod front;
mod imap;
mod others;
mod smtp;

use std::fs;
use std::path::Path;

/// What the per-service checks render: `rendered(Fixture::Small)` is every rendered file of the
/// fixture, laid out `OUT/<service>/<absolute path>`.
#[allow(unused_imports)]
pub use crate::fixtures::{Fixture, copy_of, rendered, rendered_dir, rendered_with_warnings};

use crate::image::{self, POSTFIX_CHECK, run_check};

/// The small fixture's TLS key (`secrets/tls/cert`), decrypted with the tests' age key at run time,
/// so no key is kept in clear in the tree.
fn fixture_tls_key() -> String {
    use secrecy::ExposeSecret;
    let tmp = tempfile::tempdir().expect("temp dir");
    let key = tmp.path().join("age.key");
    fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures/age.key"),
        &key,
    )
    .expect("the tests' age key");
    fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let keyring = mailu_git::secret::Keyring::load(&key).expect("the tests' age key loads");
    let file = fs::read(crate::fixtures::small_dir().join("secrets/tls/cert")).unwrap();
    let plain = keyring
        .decrypt(&file)
        .expect("the fixture's TLS key decrypts");
    String::from_utf8(plain.expose_secret().to_vec()).expect("a PEM key")
}

/// A shell step filling the rendered `/etc/mailu/tls/key.pem` (a secret placeholder) with the
/// small fixture's key, as the bundle will, so the daemons read the rendered certificate. Where
/// nothing was rendered (the repository template has no certificate until the server's first start)
/// a throwaway one stands in.
pub(super) fn fill_tls() -> String {
    let key = fixture_tls_key();
    assert!(!key.contains('\''), "a PEM key has no quote");
    format!(
        "mkdir -p /etc/mailu/tls && if [ -e /etc/mailu/tls/key.pem ]; then \
           grep -q '^@@mailu-secret:tls/cert:' /etc/mailu/tls/key.pem && \
           printf '%s' '{key}' > /etc/mailu/tls/key.pem; \
         else openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
           -subj /CN=mail.example.com -keyout /etc/mailu/tls/key.pem \
           -out /etc/mailu/tls/cert.pem 2>/dev/null; fi"
    )
}

/// A writable copy of the fixture root `name`, to break or extend without touching the fixture.
fn fixture(name: &str) -> tempfile::TempDir {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/fixtures/daemons")
        .join(name);
    let tmp = tempfile::tempdir().expect("temp dir");
    copy_tree(&from, tmp.path());
    tmp
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create dir");
    for entry in fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy fixture file");
        }
    }
}

/// Appends `text` to the file `rel` under `root` (the usual way to break a fixture).
fn append(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    let mut content = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
    content.push_str(text);
    fs::write(&path, content).expect("write fixture file");
}

/// The fixed ids promised by `images/bookworm/README.md`: (user, uid, group, gid), `-` for none.
fn readme_ids() -> Vec<[String; 4]> {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("images/bookworm/README.md");
    let text = fs::read_to_string(&readme).expect("images/bookworm/README.md");
    let section = text
        .split("## Fixed ids")
        .nth(1)
        .expect("README.md has a '## Fixed ids' section");
    let rows: Vec<[String; 4]> = section
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.starts_with('|') && !l.starts_with("| user") && !l.starts_with("|-"))
        .map(|l| {
            let cells: Vec<String> = l.split('|').map(|c| c.trim().replace('`', "")).collect();
            [
                cells[1].clone(),
                cells[2].clone(),
                cells[3].clone(),
                cells[4].clone(),
            ]
        })
        .collect();
    assert!(
        rows.len() >= 7,
        "the fixed-id table has too few rows: {rows:?}"
    );
    rows
}

/// The `name:x:id:...` line of `name` in getent output.
fn entry<'a>(getent: &'a str, name: &str) -> Option<Vec<&'a str>> {
    getent
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f[0] == name)
}

#[test]
fn image_has_the_fixed_ids_of_its_readme_an_mtab_and_no_snakeoil_key() {
    if image::ensure().is_none() {
        return;
    }
    let empty = tempfile::tempdir().unwrap();
    let out = run_check(empty.path(), "getent passwd; echo ---; getent group");
    out.assert_success();
    let (passwd, group) = out.stdout.split_once("---").expect("two listings");
    for [user, uid, group_name, gid] in readme_ids() {
        if user != "-" {
            let pw = entry(passwd, &user).unwrap_or_else(|| panic!("no user {user}:\n{out}"));
            assert_eq!((pw[2], pw[3]), (uid.as_str(), gid.as_str()), "user {user}");
        }
        let gr = entry(group, &group_name).unwrap_or_else(|| panic!("no group {group_name}"));
        assert_eq!(gr[2], gid, "group {group_name}");
    }

    let out = run_check(
        empty.path(),
        "id vmail; stat -c '%u:%g %a' /mail; test -e /etc/mtab && echo mtab; \
         find / -xdev -name '*snakeoil*'; grep -rl 'PRIVATE KEY-----' /etc /var/lib; \
         ls -A /etc/ssl/private",
    );
    assert_eq!(
        out.stdout, "uid=5000(vmail) gid=5000(vmail) groups=5000(vmail)\n5000:5000 750\nmtab\n",
        "vmail, /mail and /etc/mtab as promised, nothing named snakeoil, no private key:\n{out}"
    );
}

#[test]
fn postfix_check_and_lmdb_maps_pass_on_a_valid_config_and_fail_on_a_broken_one() {
    if image::ensure().is_none() {
        return;
    }
    let valid = fixture("postfix");
    let out = run_check(
        valid.path(),
        &format!(
            "postmap lmdb:/etc/postfix/vmailbox && {POSTFIX_CHECK} && \
             postmap -q user1@example.com lmdb:/etc/postfix/vmailbox"
        ),
    );
    out.assert_success();
    assert_eq!(out.stdout, "OK\n", "the lmdb lookup answers:\n{out}");
    assert_eq!(
        out.stderr, "",
        "postfix check is silent on a valid config:\n{out}"
    );

    // A key the map does not have: postmap -q says so with status 1.
    let out = run_check(
        valid.path(),
        "postmap lmdb:/etc/postfix/vmailbox && postmap -q nobody@example.com lmdb:/etc/postfix/vmailbox",
    );
    assert_eq!((out.status, out.stdout.as_str()), (1, ""), "{out}");

    let broken = fixture("postfix");
    append(
        broken.path(),
        "etc/postfix/main.cf",
        "this line has no equals sign\n",
    );
    run_check(broken.path(), POSTFIX_CHECK)
        .assert_failure("main.cf, line 21: missing '=' after attribute name");

    let broken = fixture("postfix");
    append(
        broken.path(),
        "etc/postfix/master.cf",
        "submission inet n\n",
    );
    run_check(broken.path(), POSTFIX_CHECK).assert_failure("master.cf: line 25: bad field count");

    // A misspelt parameter is not an error to postfix, only a warning: visible on stderr.
    let typo = fixture("postfix");
    append(
        typo.path(),
        "etc/postfix/main.cf",
        "virtual_mailbox_map = lmdb:/etc/postfix/vmailbox\n",
    );
    let out = run_check(typo.path(), POSTFIX_CHECK);
    out.assert_success();
    assert!(
        out.stderr
            .contains("unused parameter: virtual_mailbox_map="),
        "{out}"
    );
}

#[test]
fn doveconf_passes_on_a_valid_config_and_fails_on_a_broken_one() {
    if image::ensure().is_none() {
        return;
    }
    let valid = fixture("dovecot");
    let out = run_check(valid.path(), "doveconf -n");
    out.assert_success();
    assert!(out.stdout.contains("first_valid_uid = 5000"), "{out}");
    // No `setmntent(/etc/mtab) failed` or any other complaint (mailflow pitfall 2).
    assert_eq!(
        out.stderr, "",
        "doveconf is silent on a valid config:\n{out}"
    );

    let broken = fixture("dovecot");
    append(
        broken.path(),
        "etc/dovecot/dovecot.conf",
        "no_such_setting = yes\n",
    );
    run_check(broken.path(), "doveconf -n").assert_failure("Unknown setting: no_such_setting");
}

/// A stand-in certificate made inside the container, so nothing key-like is kept in the tree.
const MAKE_CERT: &str = "mkdir -p /etc/ssl/check && openssl req -x509 -newkey ec \
    -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=mail.example.test \
    -keyout /etc/ssl/check/key.pem -out /etc/ssl/check/cert.pem 2>/dev/null";

#[test]
fn nginx_t_passes_on_a_valid_front_and_fails_on_a_broken_one() {
    if image::ensure().is_none() {
        return;
    }
    let valid = fixture("nginx");
    let out = run_check(valid.path(), &format!("{MAKE_CERT} && nginx -t"));
    out.assert_success();
    assert!(out.stderr.contains("test is successful"), "{out}");

    let broken = fixture("nginx");
    append(
        broken.path(),
        "etc/nginx/nginx.conf",
        "no_such_directive on;\n",
    );
    run_check(broken.path(), &format!("{MAKE_CERT} && nginx -t"))
        .assert_failure("unknown directive \"no_such_directive\"");

    // Without its certificate the same valid file fails: nginx -t reads the files it names.
    run_check(valid.path(), "nginx -t").assert_failure("/etc/ssl/check/cert.pem");
}

#[test]
fn rspamadm_configtest_passes_on_valid_local_options_and_fails_on_broken_ones() {
    if image::ensure().is_none() {
        return;
    }
    let valid = fixture("rspamd");
    let out = run_check(valid.path(), "rspamadm configtest");
    out.assert_success();
    assert!(out.stdout.contains("syntax OK"), "{out}");

    let broken = fixture("rspamd");
    append(broken.path(), "etc/rspamd/local.d/options.inc", "dns {\n");
    run_check(broken.path(), "rspamadm configtest")
        .assert_failure("options.inc:7 unmatched open brace");
}

#[test]
fn unbound_checkconf_passes_on_a_valid_config_and_fails_on_a_broken_one() {
    if image::ensure().is_none() {
        return;
    }
    let valid = fixture("unbound");
    let out = run_check(valid.path(), "unbound-checkconf");
    out.assert_success();
    assert!(out.stdout.contains("no errors"), "{out}");

    let broken = fixture("unbound");
    append(
        broken.path(),
        "etc/unbound/unbound.conf",
        "  no-such-option: yes\n",
    );
    run_check(broken.path(), "unbound-checkconf")
        .assert_failure("unbound.conf:14: error: unknown keyword 'no-such-option'");
}

#[test]
fn php_l_passes_on_valid_php_and_fails_on_a_syntax_error() {
    if image::ensure().is_none() {
        return;
    }
    let valid = fixture("php");
    let out = run_check(valid.path(), "php -l /etc/roundcube/config.inc.php");
    out.assert_success();
    assert!(out.stdout.contains("No syntax errors detected"), "{out}");

    let broken = fixture("php");
    append(
        broken.path(),
        "etc/roundcube/config.inc.php",
        "$config[ = ;\n",
    );
    run_check(broken.path(), "php -l /etc/roundcube/config.inc.php").assert_failure("syntax error");
}

/// A new installation (no domain, no user, every map empty) passes each daemon's own check.
#[test]
fn the_template_configuration_passes_every_daemon_check() {
    if image::ensure().is_none() {
        return;
    }
    let out = rendered(Fixture::Template);
    let root = out.path();
    run_check(&root.join("smtp"), smtp::SCRIPT).assert_success();
    let imap = run_check(
        &root.join("imap"),
        // No domain holds a legacy hash, so there is no checkpassword passdb to look for.
        &format!(
            "{}{}",
            imap::prepare(),
            imap::CONFIG_CHECK.replace(
                "grep -q 'args = /etc/dovecot/bin/legacy-checkpw' /tmp/doveconf.out\n",
                ""
            )
        ),
    );
    imap.assert_success();
    assert!(imap.stderr.trim().is_empty(), "{imap}");
    let front = run_check(
        &root.join("front"),
        &format!("{} && nginx -t", front::make_tls()),
    );
    front.assert_success();
    run_check(&root.join("resolver"), "unbound-checkconf").assert_success();
    run_check(
        &root.join("webmail"),
        "for f in $(find /etc/roundcube -name '*.php'); do php -l \"$f\" >/dev/null || exit 1; done",
    )
    .assert_success();
}

/// The rendered certificate and its key, once filled, belong together in every service that gets
/// them, and the daemons' configurations name those files.
#[test]
fn the_rendered_certificate_and_its_filled_key_match_in_front_smtp_and_imap() {
    if image::ensure().is_none() {
        return;
    }
    let out = rendered(Fixture::Small);
    let same_key = "a=$(openssl x509 -in /etc/mailu/tls/cert.pem -noout -pubkey) && \
         b=$(openssl pkey -in /etc/mailu/tls/key.pem -pubout) && [ \"$a\" = \"$b\" ] && \
         openssl x509 -in /etc/mailu/tls/cert.pem -noout -subject";
    for (service, names) in [
        (
            "front",
            "nginx -T 2>/dev/null | grep -c 'ssl_certificate /etc/mailu/tls/cert.pem'",
        ),
        ("smtp", "postconf -h smtpd_tls_cert_file smtpd_tls_key_file"),
        ("imap", "doveconf -h ssl_cert | head -1"),
    ] {
        let check = run_check(
            &out.path().join(service),
            &format!("{} && {same_key} && {names}", fill_tls()),
        );
        check.assert_success();
        assert!(
            check.stdout.contains("mail.example.com"),
            "{service}: {check}"
        );
        assert!(
            check.stdout.contains("/etc/mailu/tls/") || check.stdout.contains("\n1\n"),
            "{service}: {check}"
        );
    }
}

/// `tls.flavor = "notls"` takes TLS off the web only: postfix and dovecot start from the rendered
/// certificate (its key filled) and dovecot still requires TLS for logins.
#[test]
fn with_notls_smtp_and_imap_keep_tls_with_the_rendered_certificate() {
    if image::ensure().is_none() {
        return;
    }
    let checkout = copy_of(Fixture::Small, |root| {
        let path = root.join("mailu.toml");
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("flavor = \"cert\""));
        fs::write(
            &path,
            text.replacen("flavor = \"cert\"", "flavor = \"notls\"", 1),
        )
        .unwrap();
    });
    let out = rendered_dir(checkout.path());
    let root = out.path();
    assert!(!root.join("front/etc/mailu/tls/cert.pem").exists());
    let smtp = run_check(
        &root.join("smtp"),
        &format!(
            "{}\n{}\npostconf -h smtpd_tls_security_level smtpd_tls_auth_only\n",
            fill_tls(),
            smtp::SCRIPT
        ),
    );
    smtp.assert_success();
    let imap = run_check(
        &root.join("imap"),
        &format!("{}{}", imap::prepare(), imap::CONFIG_CHECK),
    );
    imap.assert_success();
}
