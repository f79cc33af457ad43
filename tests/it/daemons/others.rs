//! Daemon checks of the rendered resolver, webmail, fetchmail and webdav files, in the bookworm
//! image. The image has unbound, php-cli and nginx, so those are judged by the daemons; it has no
//! fetchmail, radicale or php-fpm yet, so their files are checked for structure here (and were
//! run by hand against Debian's packages, see the report of the branch).

use std::fs;
use std::path::Path;

use super::{Fixture, copy_of, rendered, rendered_dir, rendered_with_warnings};
use crate::image::{self, run_check};

/// The DNSSEC root anchor (KSK-2017 and KSK-2024, as Debian's dns-root-data has it), written only
/// when the image lacks that package: unbound-checkconf refuses a missing trust-anchor-file.
const ROOT_KEY_STAND_IN: &str = "[ -e /usr/share/dns/root.key ] || { mkdir -p /usr/share/dns && \
    printf '%s\\n' \
    '. IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D' \
    '. IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16' \
    > /usr/share/dns/root.key && echo 'stand-in root.key: the image lacks dns-root-data' >&2; }";

/// Starts unbound and waits until it answers `localhost` (unbound's own zone: no network needed).
const UNBOUND_ANSWERS: &str = "unbound -d -c /etc/unbound/unbound.conf 2>/tmp/unbound.log & pid=$!; \
    for i in $(seq 100); do busybox nslookup localhost 127.0.0.1 >/tmp/ns 2>&1 && break; sleep 0.1; done; \
    cat /tmp/ns /tmp/unbound.log; kill $pid";

fn read(root: &Path, rel: &str) -> String {
    fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Replaces `from` by `to` in the checkout's file `rel`, which must contain it.
fn edit(root: &Path, rel: &str, from: &str, to: &str) {
    let text = read(root, rel);
    assert!(text.contains(from), "{rel} has no {from:?}");
    fs::write(root.join(rel), text.replacen(from, to, 1)).unwrap();
}

#[test]
fn resolver_passes_unbound_checkconf_and_answers() {
    let out = rendered(Fixture::Small);
    let conf = read(out.path(), "resolver/etc/unbound/unbound.conf");
    // Every service name reaches Docker's DNS, outside DNSSEC validation.
    for name in ["imap", "smtp", "antispam", "redis", "admin"] {
        assert!(
            conf.contains(&format!(
                "forward-zone:\n  name: \"{name}.\"\n  forward-addr: 127.0.0.11\n"
            )),
            "{name}:\n{conf}"
        );
        assert!(
            conf.contains(&format!("domain-insecure: \"{name}.\"")),
            "{name}"
        );
    }
    assert!(conf.contains("access-control: 192.168.203.0/24 allow\n"));
    if image::ensure().is_none() {
        return;
    }
    let check = run_check(
        &out.path().join("resolver"),
        &format!(
            "{ROOT_KEY_STAND_IN} && unbound-checkconf && unbound-checkconf -o do-ip6 && \
             unbound-checkconf -o trust-anchor-file && {UNBOUND_ANSWERS}"
        ),
    );
    check.assert_success();
    assert!(
        check
            .stdout
            .starts_with("unbound-checkconf: no errors in /etc/unbound/unbound.conf\nno\n/usr/share/dns/root.key\n"),
        "{check}"
    );
    assert!(
        check
            .stdout
            .contains("Name:\tlocalhost\nAddress: 127.0.0.1"),
        "unbound runs with this file and answers:\n{check}"
    );
}

#[test]
fn an_ipv6_stack_and_other_durations_render_valid_files() {
    let checkout = copy_of(Fixture::Small, |root| {
        edit(
            root,
            "mailu.toml",
            "# subnet6 = \"fd00:1234::/64\"",
            "subnet6 = \"fd00:1234::/64\"",
        );
        // humantime prints 45 days and an hour as "1month 14days 14h 26m 24s".
        edit(
            root,
            "mailu.toml",
            "session_lifetime = \"30days\"",
            "session_lifetime = \"45days 1h\"",
        );
        edit(root, "mailu.toml", "delay = \"10m\"", "delay = \"90s\"");
    });
    let out = rendered_dir(checkout.path());
    let unbound = read(out.path(), "resolver/etc/unbound/unbound.conf");
    assert!(unbound.contains("  interface: ::0\n"), "{unbound}");
    assert!(unbound.contains("access-control: fd00:1234::/64 allow\n"));
    let roundcube = read(out.path(), "webmail/etc/roundcube/config.inc.php");
    assert!(
        roundcube.contains("$config['session_lifetime'] = 64860;\n"),
        "3891600 s is 64860 minutes:\n{roundcube}"
    );
    let rc = read(out.path(), "fetchmail/etc/fetchmailrc");
    assert!(rc.contains("\nset daemon 90\n"), "{rc}");
    let radicale = read(out.path(), "webdav/etc/radicale/config");
    assert!(
        radicale.contains("\nhosts = 0.0.0.0:5232, [::]:5232\n"),
        "{radicale}"
    );
    if image::ensure().is_none() {
        return;
    }
    let check = run_check(
        &out.path().join("resolver"),
        &format!("{ROOT_KEY_STAND_IN} && unbound-checkconf && unbound-checkconf -o do-ip6"),
    );
    check.assert_success();
    assert!(check.stdout.ends_with("\nyes\n"), "{check}");
    let check = run_check(&out.path().join("webmail"), "nginx -t");
    check.assert_success();
}

#[test]
fn webmail_php_passes_php_l_and_loads_with_the_settings() {
    let out = rendered(Fixture::Small);
    let root = out.path().join("webmail");
    let config = read(&root, "etc/roundcube/config.inc.php");
    assert!(
        config.contains("$config['des_key'] = '@@mailu-secret:webmail/roundcube_key:"),
        "{config}"
    );
    if image::ensure().is_none() {
        return;
    }
    let php_files = [
        "/etc/roundcube/config.inc.php",
        "/etc/roundcube/plugins/managesieve/config.inc.php",
        "/var/lib/roundcube/plugins/carddav/config.inc.php",
    ];
    for file in php_files {
        assert!(root.join(&file[1..]).is_file(), "{file} is rendered");
    }
    let lint: Vec<String> = php_files.iter().map(|f| format!("php -l {f}")).collect();
    let check = run_check(
        &root,
        &format!(
            "{} && php -r '{}' && php -c /etc/php/8.2/fpm/conf.d/99-mailu.ini -r '{}' && nginx -t",
            lint.join(" && "),
            "include \"/etc/roundcube/config.inc.php\"; \
             echo $config[\"imap_host\"], \"|\", $config[\"smtp_host\"], \"|\", \
             substr($config[\"des_key\"], 0, 14), \"|\", $config[\"session_lifetime\"], \"\\n\"; \
             include \"/etc/roundcube/plugins/managesieve/config.inc.php\"; \
             echo $config[\"managesieve_host\"], \"\\n\";",
            "echo ini_get(\"upload_max_filesize\"), \"|\", ini_get(\"post_max_size\"), \"|\", \
             ini_get(\"date.timezone\"), \"\\n\";",
        ),
    );
    check.assert_success();
    assert_eq!(
        check.stdout,
        "No syntax errors detected in /etc/roundcube/config.inc.php\n\
         No syntax errors detected in /etc/roundcube/plugins/managesieve/config.inc.php\n\
         No syntax errors detected in /var/lib/roundcube/plugins/carddav/config.inc.php\n\
         tls://imap:143|tls://smtp:587|@@mailu-secret|43200\n\
         tls://imap:4190\n\
         31M|31M|Etc/UTC\n",
        "{check}"
    );
    assert!(check.stderr.contains("test is successful"), "{check}");
}

#[test]
fn webmail_includes_mailu_overrides_and_warns_about_what_mailu_ignores() {
    let checkout = copy_of(Fixture::Small, |root| {
        let dir = root.join("mailu-overrides/roundcube");
        fs::create_dir_all(dir.join("sub")).unwrap();
        // The usual PHP file without a closing tag, and one with it and text after.
        fs::write(
            dir.join("a.inc.php"),
            "<?php\n// ours\n$config['product_name'] = \"Our 'Mail'\";\n",
        )
        .unwrap();
        fs::write(
            dir.join("b.inc"),
            "<?php $config['default_list_mode'] = 'threads'; ?>\n",
        )
        .unwrap();
        fs::write(dir.join("notes.txt"), "not PHP\n").unwrap();
        fs::write(dir.join("sub/c.inc"), "<?php\n").unwrap();
    });
    let (out, warnings) = rendered_with_warnings(checkout.path());
    assert!(
        warnings.contains("mailu-overrides/roundcube/notes.txt: Mailu's webmail only includes")
            && warnings.contains("mailu-overrides/roundcube/sub/c.inc: Mailu's webmail only"),
        "{warnings}"
    );
    let root = out.path().join("webmail");
    let config = read(&root, "etc/roundcube/config.inc.php");
    assert!(!config.contains("not PHP"), "{config}");
    if image::ensure().is_none() {
        return;
    }
    let check = run_check(
        &root,
        "php -l /etc/roundcube/config.inc.php && php -r 'include \"/etc/roundcube/config.inc.php\"; \
         echo $config[\"product_name\"], \"|\", $config[\"default_list_mode\"], \"\\n\";'",
    );
    check.assert_success();
    assert!(check.stdout.ends_with("\nOur 'Mail'|threads\n"), "{check}");
}

#[test]
fn webmail_without_its_key_refuses_logins_and_says_so() {
    let checkout = copy_of(Fixture::Small, |root| {
        fs::remove_file(root.join("secrets/webmail/roundcube_key")).unwrap();
        edit(
            root,
            "services/webmail.toml",
            "enabled = false",
            "enabled = true",
        );
    });
    let (out, warnings) = rendered_with_warnings(checkout.path());
    assert!(
        warnings.contains("the secret webmail/roundcube_key does not exist"),
        "{warnings}"
    );
    let config = read(&out.path().join("webmail"), "etc/roundcube/config.inc.php");
    // Roundcube stops with "Request for unconfigured crypto key" rather than use a known key.
    assert!(config.contains("$config['des_key'] = '';\n"), "{config}");
}

#[test]
fn fetchmailrc_polls_every_fetch_into_its_user() {
    let out = rendered(Fixture::Small);
    let rc = read(out.path(), "fetchmail/etc/fetchmailrc");
    let want = "set daemon 600\nset no syslog\n\
        # Which messages of kept mailboxes were seen (POP3), in the service's volume.\n\
        set idfile \"/var/lib/fetchmail/.fetchids\"\n\
        set postmaster \"postmaster@example.com\"\n\n\
        # carol@example.org: fetch f0e1d2c3b4a5\n\
        poll \"imap.remote.test\" with proto IMAP port 993\n    \
        user \"carol.remote\" password \"@@mailu-secret:fetch/f0e1d2c3b4a5:";
    assert!(rc.contains(want), "{rc}");
    let rest = rc.split_once("@@\" ").expect("the password placeholder").1;
    assert_eq!(
        rest,
        "is \"carol@example.org\"\n    folder \"INBOX\"\n    \
         # Straight to imap's LMTP, as Mailu does for accounts that are not scanned.\n    \
         smtphost \"imap/2525\" lmtp\n    antispam 501, 504, 550, 553, 554\n    ssl\n    keep\n",
        "{rc}"
    );
    assert_eq!(read(out.path(), "fetchmail/etc/fetchmail/options"), "");

    // fetchmail refuses an rc file others can read, or that is not its user's.
    let service: toml::Table = toml::from_str(&read(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        "config-repo-template/services/fetchmail.toml",
    ))
    .unwrap();
    let files = service["files"].as_array().expect("files");
    let rc_mode = files
        .iter()
        .find(|f| f["path"].as_str() == Some("/etc/fetchmailrc"))
        .expect("a mode for /etc/fetchmailrc");
    assert_eq!(rc_mode["mode"].as_str(), Some("0600"));
    assert_eq!(rc_mode["owner"].as_str(), Some("fetchmail:nogroup"));
    assert_eq!(service["user"].as_str(), Some("fetchmail"));
}

#[test]
fn fetchmailrc_quotes_hostile_names_and_skips_what_it_cannot_fetch() {
    let checkout = copy_of(Fixture::Small, |root| {
        edit(
            root,
            "mailu.toml",
            "# options = \"--sslproto TLS1.2+\"",
            "options = \"--sslproto TLS1.2+\"",
        );
        let bob = root.join("domains/example.com/users/bob.toml");
        let mut text = fs::read_to_string(&bob).unwrap();
        text.push_str(
            "\n[[fetches]]\nid = \"b0b0b0b0b0b0\"\nprotocol = \"pop3\"\nhost = \"pop.remote.test\"\n\
             port = 110\nusername = 'bob \"the\" \\builder'\nscan = true\n\
             \n[[fetches]]\nid = \"b1b1b1b1b1b1\"\nprotocol = \"imap\"\nhost = \"imap.remote.test\"\n\
             tls = true\nusername = \"bob2\"\nfolders = [\"Junk & Spam\", \"Entwürfe\"]\n\
             \n[[fetches]]\nid = \"b2b2b2b2b2b2\"\nprotocol = \"imap\"\nhost = \"imap.remote.test\"\n\
             username = \"bob3\"\n",
        );
        fs::write(&bob, text).unwrap();
        // The last has no password (any secret stands in for the others: only its name counts).
        let carol = fs::read(root.join("secrets/fetch/f0e1d2c3b4a5")).unwrap();
        fs::write(root.join("secrets/fetch/b0b0b0b0b0b0"), &carol).unwrap();
        fs::write(root.join("secrets/fetch/b1b1b1b1b1b1"), &carol).unwrap();
    });
    let (out, warnings) = rendered_with_warnings(checkout.path());
    let rc = read(out.path(), "fetchmail/etc/fetchmailrc");
    assert!(
        rc.contains(
            "poll \"pop.remote.test\" with proto POP3 port 110 uidl\n    \
             user \"bob \\x22the\\x22 \\x5cbuilder\" password \"@@mailu-secret:fetch/b0b0b0b0b0b0:"
        ),
        "{rc}"
    );
    assert!(
        rc.contains(
            "    # Through smtp (port 25), so antispam sees the message.\n    smtphost \"smtp\"\n"
        ),
        "{rc}"
    );
    assert!(
        rc.contains("    sslproto \"\"\n    fetchall\n"),
        "no TLS, and the mailbox emptied:\n{rc}"
    );
    // IMAP's folder names are modified UTF-7: `&` is `&-`; a non-ASCII name is left out.
    assert!(rc.contains("    folder \"Junk &- Spam\"\n"), "{rc}");
    assert!(
        warnings
            .contains("the folder Entwürfe of fetch b1b1b1b1b1b1 (bob@example.com) is not ASCII"),
        "{warnings}"
    );
    assert!(!rc.contains("b2b2b2b2b2b2"), "no password, no poll:\n{rc}");
    assert!(
        warnings.contains("the fetch b2b2b2b2b2b2 of bob@example.com has no password"),
        "{warnings}"
    );
    assert_eq!(
        read(out.path(), "fetchmail/etc/fetchmail/options"),
        "--sslproto TLS1.2+\n"
    );
}

#[test]
fn fetchmailrc_is_empty_of_polls_when_fetchmail_is_off() {
    let checkout = copy_of(Fixture::Small, |root| {
        edit(
            root,
            "mailu.toml",
            "# Let users fetch mail from other accounts (runs the fetchmail service).\nenabled = true",
            "# Let users fetch mail from other accounts (runs the fetchmail service).\nenabled = false",
        );
    });
    let out = rendered_dir(checkout.path());
    let rc = read(out.path(), "fetchmail/etc/fetchmailrc");
    assert!(!rc.contains("poll "), "{rc}");
    assert!(
        rc.ends_with("# fetchmail.enabled is false: no account is fetched.\n"),
        "{rc}"
    );
}

#[test]
fn radicale_trusts_front_for_the_user_and_keeps_each_to_their_own() {
    let out = rendered(Fixture::Small);
    let conf = read(out.path(), "webdav/etc/radicale/config");
    // An INI file: every line a comment, a [section] or a key = value inside a section.
    let mut section = String::new();
    let mut keys = Vec::new();
    for line in conf
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
        } else {
            let (key, value) = line
                .split_once(" = ")
                .unwrap_or_else(|| panic!("not `key = value`: {line:?}"));
            assert!(!section.is_empty(), "{key} outside a section");
            keys.push(format!("{section}.{key}={value}"));
        }
    }
    for want in [
        "server.hosts=0.0.0.0:5232",
        "server.ssl=False",
        "auth.type=http_x_remote_user",
        "rights.type=owner_only",
        "storage.filesystem_folder=/var/lib/radicale/collections",
        "logging.level=info",
    ] {
        assert!(keys.iter().any(|k| k == want), "{want} in {keys:?}");
    }
}
