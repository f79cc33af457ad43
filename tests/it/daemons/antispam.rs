//! antispam (rspamd 3.4): the rendered files pass `rspamadm configtest` in the bookworm image for the
//! small and the large fixture, and a running rspamd shows they mean what they say: mail of a domain
//! with a key and of its alternative is DKIM-signed with that key, a domain without one is not, the
//! headers imap's sieve reads are set and a sender's copies removed, and the controller trusts the
//! stack's network but refuses a client forwarded from outside it. Mailu's overrides folder is
//! merged, copied and ignored as in Mailu.

use std::collections::BTreeMap;
use std::path::Path;

use crate::fixtures::{self, Fixture};
use crate::image::{self, run_check};
use crate::support::mailu_git;

/// What the bundle and `pre_start` do before rspamd starts, standing in for the stack: the
/// services' names resolve (to loopback, where nothing listens, so nothing leaves the container),
/// every DKIM key placeholder line becomes a freshly generated key (the fixture's key is encrypted
/// for the tests' age key, not filled here), the key files get services/antispam.toml's owner and
/// mode, and the start-up script runs.
const PREPARE: &str = r#"set -eu
echo "127.0.0.1 resolver redis antivirus oletools smtp" >> /etc/hosts
for f in /etc/rspamd/dkim/*.key; do
  [ -e "$f" ] || continue
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
      *@@mailu-secret:*@@*) openssl genrsa 2048 2>/dev/null ;;
      *) printf '%s\n' "$line" ;;
    esac
  done < "$f" > "$f.new"
  mv "$f.new" "$f"
  chown _rspamd:_rspamd "$f"
  chmod 0600 "$f"
done
sh /etc/rspamd/mailu/pre-start.sh
"#;

/// The rendered root of antispam (`OUT/antispam`).
fn antispam_root(out: &Path) -> std::path::PathBuf {
    out.join("antispam")
}

/// `rspamadm configtest`, then the configuration rspamd actually built from the files.
fn configtest_and_dump(root: &Path) -> crate::image::CheckOutput {
    run_check(
        root,
        &format!(
            "{PREPARE}rspamadm configtest\n\
             for section in dkim_signing arc milter_headers options worker multimap ratelimit; do\n\
               echo \"== $section\"; rspamadm configdump \"$section\" 2>/dev/null\n\
             done\n"
        ),
    )
}

/// The body of the block `name { ... }` of a dump (keys come in no fixed order).
fn block<'a>(dump: &'a str, name: &str) -> &'a str {
    let start = dump
        .find(&format!("{name} {{\n"))
        .unwrap_or_else(|| panic!("no block {name} in:\n{dump}"));
    let rest = &dump[start..];
    &rest[..rest.find('}').unwrap_or(rest.len())]
}

/// The text between `== name` and the next `== ` line of a dump.
fn section<'a>(out: &'a str, name: &str) -> &'a str {
    let start = out
        .find(&format!("== {name}\n"))
        .unwrap_or_else(|| panic!("no section {name} in:\n{out}"));
    let rest = &out[start + name.len() + 4..];
    &rest[..rest.find("\n== ").unwrap_or(rest.len())]
}

#[test]
fn rspamd_accepts_the_small_fixture_and_reads_what_was_meant() {
    if image::ensure().is_none() {
        return;
    }
    let out = fixtures::rendered(Fixture::Small);
    let check = configtest_and_dump(&antispam_root(out.path()));
    check.assert_success();
    assert!(check.stdout.contains("syntax OK"), "{check}");

    // Signing: example.com has a key; example.net is its alternative and signs with it;
    // example.org has none and is not listed.
    let dkim = section(&check.stdout, "dkim_signing");
    for (domain, key) in [
        ("example.com", "example.com"),
        ("example.net", "example.com"),
    ] {
        let entry = block(dkim, domain);
        assert!(
            entry.contains(&format!("path = \"/etc/rspamd/dkim/{key}.key\";"))
                && entry.contains("selector = \"dkim\";"),
            "dkim_signing's {domain}: {entry:?}\n{check}"
        );
    }
    assert!(!dkim.contains("example.org"), "{check}");
    assert!(dkim.contains("try_fallback = false;"), "{check}");
    assert!(
        section(&check.stdout, "arc").contains("path = \"/etc/rspamd/dkim/example.com.key\";"),
        "{check}"
    );

    // The headers imap's sieve reads, and the removal of a sender's copies.
    let milter = section(&check.stdout, "milter_headers");
    assert!(milter.contains("\"x-spam-level\","), "{check}");
    assert!(milter.contains("X-Spam-Level = 0;"), "{check}");

    // Local means loopback and the stack's network, not every private range (override.d).
    let options = section(&check.stdout, "options");
    assert!(options.contains("\"192.168.203.0/24\","), "{check}");
    assert!(!options.contains("\"10.0.0.0/8\""), "{check}");

    // The controller's whole list of trusted addresses, loopback included.
    let workers = section(&check.stdout, "worker");
    assert!(workers.contains("bind_socket = \"*:11334\";"), "{check}");
    assert!(
        workers.contains("secure_ip [\n        \"127.0.0.1\",\n        \"::1\",\n        \"192.168.203.0/24\",\n    ]"),
        "{check}"
    );
    assert!(workers.contains("bind_socket = \"*:11332\";"), "{check}");
}

#[test]
fn rspamd_accepts_the_large_fixture() {
    if image::ensure().is_none() {
        return;
    }
    let out = fixtures::rendered(Fixture::Large);
    let root = antispam_root(out.path());
    let map = std::fs::read_to_string(root.join("etc/rspamd/local.d/local_domains.map")).unwrap();
    let names: Vec<&str> = map.lines().filter(|l| !l.starts_with('#')).collect();
    // Every domain (the small fixture's two and the generated ones) and every alternative.
    let alternatives = fixtures::LARGE_DOMAINS.div_ceil(10) + 1;
    assert_eq!(
        names.len(),
        2 + fixtures::LARGE_DOMAINS + alternatives,
        "{map}"
    );
    assert!(names.contains(&"alt190.test"), "{map}");

    let check = configtest_and_dump(&root);
    check.assert_success();
    assert!(check.stdout.contains("syntax OK"), "{check}");
    assert!(
        section(&check.stdout, "multimap").contains("/etc/rspamd/local.d/local_domains.map"),
        "{check}"
    );
}

#[test]
fn configtest_refuses_a_broken_file() {
    if image::ensure().is_none() {
        return;
    }
    let out = fixtures::rendered(Fixture::Small);
    let root = antispam_root(out.path());
    let conf = root.join("etc/rspamd/local.d/dkim_signing.conf");
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text.push_str("domain {\n");
    std::fs::write(&conf, text).unwrap();
    run_check(&root, &format!("{PREPARE}rspamadm configtest")).assert_failure("dkim_signing.conf");
}

/// Starts rspamd and waits (two minutes at most; it compiles its regular expressions first) until
/// the controller answers. Nothing listens behind the stack's names, so DNS and redis fail fast or
/// time out: scans still run, only slower.
const START: &str = r#"rspamd -f -u _rspamd -g _rspamd > /tmp/rspamd.log 2>&1 &
i=0
until busybox wget -q -O /dev/null http://127.0.0.1:11334/ping 2>/dev/null; do
  i=$((i + 1))
  if [ "$i" -ge 120 ]; then echo "rspamd did not start"; tail -50 /tmp/rspamd.log; exit 1; fi
  sleep 1
done
"#;

#[test]
fn running_rspamd_signs_our_domains_and_guards_its_controller() {
    if image::ensure().is_none() {
        return;
    }
    let out = fixtures::rendered(Fixture::Small);
    let script = format!(
        r#"{PREPARE}{START}
echo "== listening"
busybox netstat -ltn
echo "== controller"
busybox wget -q -O /dev/null http://127.0.0.1:11334/stat && echo "direct: allowed"
busybox wget -q -O /dev/null --header 'X-Forwarded-For: 203.0.113.5' http://127.0.0.1:11334/stat \
  || echo "forwarded from outside: refused"
echo "== reload"
sh /etc/rspamd/mailu/reload.sh && echo "reload: sent"
mkdir /tmp/m
for from in alice@example.com alice@example.net carol@example.org; do
  printf 'From: <%s>\nTo: <someone@example.test>\nSubject: hello\nMessage-ID: <1@x.test>\nDate: Sun, 29 Nov 2026 01:00:00 +0000\nX-Spam-Level: ***************\n\nHello.\n' \
    "$from" > "/tmp/m/$from"
done
# A logged-in user's mail; the same message from the stack's network without a login (imap's
# vacation reply) and from outside. In parallel: every scan waits for DNS timeouts.
# (A bare `wait` would also wait for rspamd.)
timeout 300 rspamc -h 127.0.0.1:11333 -j -u alice@example.com -i 192.0.2.10 /tmp/m/* > /tmp/scans.json &
a=$!
timeout 300 rspamc -h 127.0.0.1:11333 -j -i 192.168.203.7 /tmp/m/alice@example.com > /tmp/local.json &
b=$!
timeout 300 rspamc -h 127.0.0.1:11333 -j -i 203.0.113.9 /tmp/m/alice@example.com > /tmp/outside.json &
c=$!
wait "$a" "$b" "$c"
echo "== scans"
cat /tmp/scans.json
echo "== from the stack's network"
cat /tmp/local.json
echo "== from outside"
cat /tmp/outside.json
"#
    );
    let check = run_check(&antispam_root(out.path()), &script);
    check.assert_success();
    let listening = section(&check.stdout, "listening");
    for port in [":11332 ", ":11334 "] {
        assert!(listening.contains(&format!("0.0.0.0{port}")), "{check}");
    }
    assert!(listening.contains("127.0.0.1:11333 "), "{check}");
    let controller = section(&check.stdout, "controller");
    assert!(controller.contains("direct: allowed"), "{check}");
    assert!(
        controller.contains("forwarded from outside: refused"),
        "{check}"
    );
    assert!(
        section(&check.stdout, "reload").contains("reload: sent"),
        "{check}"
    );

    // One JSON result per message, keyed by its file name.
    let results = |name: &str| -> BTreeMap<String, serde_json::Value> {
        serde_json::Deserializer::from_str(section(&check.stdout, name))
            .into_iter::<serde_json::Value>()
            .map(|v| {
                let v = v.unwrap_or_else(|e| panic!("rspamc's output: {e}\n{check}"));
                (v["filename"].as_str().unwrap().to_owned(), v)
            })
            .collect()
    };
    let scans = results("scans");
    let scan = |from: &str| &scans[&format!("/tmp/m/{from}")];
    for (from, domain) in [
        ("alice@example.com", "example.com"),
        ("alice@example.net", "example.net"),
    ] {
        let signature = scan(from)["dkim-signature"].as_str().unwrap_or_default();
        assert!(
            signature.contains(&format!("d={domain}; s=dkim;")),
            "{from}: {signature:?}\n{check}"
        );
    }
    assert!(
        scan("carol@example.org").get("dkim-signature").is_none(),
        "{check}"
    );
    let milter = &scan("alice@example.com")["milter"];
    assert_eq!(milter["remove_headers"]["X-Spam-Level"], 0, "{check}");
    let added = &milter["add_headers"];
    assert!(
        added["X-Spam-Status"]["value"]
            .as_str()
            .is_some_and(|v| v.starts_with("No, score=")),
        "{check}"
    );
    assert!(added.get("X-Spamd-Result").is_some(), "{check}");
    assert!(
        scan("alice@example.net")["symbols"]
            .get("IS_LOCAL_DOMAIN_H")
            .is_some(),
        "the alternative is a local domain: {check}"
    );

    // From the stack's network (override.d's local_addrs): signed, and not mistaken for spoofing
    // (no DMARC verdict to enforce). From outside without a login: not signed.
    let local = &results("from the stack's network")["/tmp/m/alice@example.com"];
    assert!(
        local["dkim-signature"]
            .as_str()
            .is_some_and(|s| s.contains("d=example.com; s=dkim;")),
        "{check}"
    );
    assert_eq!(local["action"], "no action", "{check}");
    assert!(local["symbols"].get("DMARC_NA").is_none(), "{check}");
    let outside = &results("from outside")["/tmp/m/alice@example.com"];
    assert!(outside.get("dkim-signature").is_none(), "{check}");
}

#[test]
fn mailu_overrides_are_merged_copied_replaced_or_ignored_as_in_mailu() {
    if image::ensure().is_none() {
        return;
    }
    let checkout = fixtures::copy_of(Fixture::Small, |root| {
        let files = [
            ("dkim_signing.conf", "sign_local = false;\n"),
            ("ratelimit.conf", "rates {\n  to = \"100 / 1h\";\n}\n"),
            ("forbidden_file_extension.map", "exe\nzip\n"),
            (
                "it's.map",
                "# a quote in the name and the text: it's\nfoo.test\n",
            ),
            ("maps/senders.map", "bar.test\n"),
            ("options.inc", "local_addrs = [];\n"),
            ("local_domains.map", "evil.test\n"),
        ];
        for (name, text) in files {
            let path = root.join("mailu-overrides/rspamd").join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    });
    // The two ignored files are named in warnings.
    let tmp = tempfile::tempdir().unwrap();
    let o = mailu_git(
        &[
            "render",
            checkout.path().to_str().unwrap(),
            "--out",
            tmp.path().to_str().unwrap(),
        ],
        checkout.path(),
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    for ignored in [
        "rspamd/options.inc is ignored",
        "rspamd/local_domains.map is ignored",
    ] {
        assert!(stderr.contains(ignored), "{stderr}");
    }
    assert!(!stderr.contains("ratelimit"), "{stderr}");

    let root = antispam_root(tmp.path());
    let list =
        std::fs::read_to_string(root.join("etc/rspamd/local.d/forbidden_file_extension.map"))
            .unwrap();
    assert_eq!(list, "exe\nzip\n");
    let check = run_check(
        &root,
        &format!(
            "{PREPARE}rspamadm configtest\n\
             echo \"== dkim_signing\"; rspamadm configdump dkim_signing 2>/dev/null\n\
             echo \"== ratelimit\"; rspamadm configdump ratelimit 2>/dev/null\n\
             echo \"== options\"; rspamadm configdump options 2>/dev/null\n\
             echo \"== files\"; cat \"/etc/rspamd/local.d/it's.map\" /overrides/maps/senders.map\n\
             ls /etc/rspamd/local.d/options.inc /overrides\n\
             echo \"== again, without overrides\"\n\
             cp /etc/rspamd/local.d/.mailu-overrides /tmp/copies\n\
             sed -i '/^put /,$d' /etc/rspamd/mailu/pre-start.sh\n\
             sh /etc/rspamd/mailu/pre-start.sh\n\
             ls -A /overrides; ls /etc/rspamd/local.d\n"
        ),
    );
    check.assert_success();
    assert!(check.stdout.contains("syntax OK"), "{check}");
    // Merged over Mailu's file of the same name.
    let dkim = section(&check.stdout, "dkim_signing");
    assert!(dkim.contains("sign_local = false;"), "{check}");
    assert!(dkim.contains("example.net {"), "{check}");
    // Copied into local.d: rspamd's ratelimit module reads it.
    assert!(
        section(&check.stdout, "ratelimit").contains("to = \"100 / 1h\";"),
        "{check}"
    );
    // Ignored: the rendered local_addrs stands.
    assert!(
        section(&check.stdout, "options").contains("\"192.168.203.0/24\","),
        "{check}"
    );
    let files = section(&check.stdout, "files");
    assert!(files.contains("it's\nfoo.test\nbar.test\n"), "{check}");
    // Run again without overrides: the copies and /overrides are gone, the rendered files stay.
    let again = section(&check.stdout, "again, without overrides");
    assert!(!again.contains("ratelimit.conf"), "{check}");
    assert!(!again.contains("it's.map"), "{check}");
    assert!(again.contains("dkim_signing.conf"), "{check}");
    assert!(again.contains("local_domains.map"), "{check}");
}

/// Renders `checkout` with the real `mailu-git render`, returning the output folder and its
/// warnings (stderr).
fn render_with_warnings(checkout: &Path) -> (tempfile::TempDir, String) {
    let out = tempfile::tempdir().unwrap();
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
    assert!(o.status.success(), "{stderr}");
    (out, stderr)
}

#[test]
fn optional_scanners_ipv6_relaynets_and_dmarc_reports_when_switched_on() {
    if image::ensure().is_none() {
        return;
    }
    let checkout = fixtures::copy_of(Fixture::Small, |root| {
        let path = root.join("mailu.toml");
        let settings = std::fs::read_to_string(&path).unwrap();
        let edited = settings
            .replace("antivirus = \"none\"", "antivirus = \"clamav\"")
            .replace(
                "antivirus_action = \"discard\"",
                "antivirus_action = \"reject\"",
            )
            .replace("scan_macros = false", "scan_macros = true")
            .replace(
                "# subnet6 = \"fd00:1234::/64\"",
                "subnet6 = \"fd00:1234::/64\"",
            )
            .replace("relaynets = []", "relaynets = [\"10.1.0.0/16\"]")
            .replace("send_reports = false", "send_reports = true")
            .replace(
                "site_name = \"Mailu\"",
                "site_name = \"Mail \\\"and\\\" more\"",
            );
        assert_eq!(
            edited.matches(" = ").count(),
            settings.matches(" = ").count()
        );
        assert!(
            !edited.contains("# subnet6"),
            "mailu.toml changed its comments"
        );
        std::fs::write(path, edited).unwrap();
    });
    // clamav without its service, and macro scanning without an oletools service: both said.
    let (_, warnings) = render_with_warnings(checkout.path());
    assert!(
        warnings.contains("services/antivirus.toml is missing or disabled"),
        "{warnings}"
    );
    assert!(
        warnings.contains("no enabled oletools service"),
        "{warnings}"
    );

    let service = checkout.path().join("services/antivirus.toml");
    let text = std::fs::read_to_string(&service).unwrap();
    std::fs::write(&service, text.replace("enabled = false", "enabled = true")).unwrap();
    let (out, warnings) = render_with_warnings(checkout.path());
    assert!(!warnings.contains("services/antivirus.toml"), "{warnings}");

    let check = run_check(
        &antispam_root(out.path()),
        &format!(
            "{PREPARE}rspamadm configtest\n\
             for section in antivirus external_services composites dmarc options worker; do\n\
               echo \"== $section\"; rspamadm configdump \"$section\" 2>/dev/null\n\
             done\n"
        ),
    );
    check.assert_success();
    assert!(check.stdout.contains("syntax OK"), "{check}");
    let antivirus = section(&check.stdout, "antivirus");
    assert!(
        antivirus.contains("servers = \"antivirus:3310\";"),
        "{check}"
    );
    assert!(antivirus.contains("action = \"reject\";"), "{check}");
    assert!(
        section(&check.stdout, "external_services").contains("servers = \"oletools:11343\";"),
        "{check}"
    );
    assert!(
        section(&check.stdout, "composites").contains("OLETOOLS_MACRO_MRAPTOR {"),
        "{check}"
    );
    let dmarc = section(&check.stdout, "dmarc");
    assert!(dmarc.contains("enabled = true;"), "{check}");
    assert!(
        dmarc.contains("org_name = \"Mail \\\"and\\\" more\";"),
        "{check}"
    );
    assert!(dmarc.contains("smtp_port = 10025;"), "{check}");
    let options = section(&check.stdout, "options");
    for net in ["\"fd00:1234::/64\",", "\"10.1.0.0/16\","] {
        assert!(options.contains(net), "local_addrs lacks {net}: {check}");
    }
    assert!(
        section(&check.stdout, "worker").contains("\"fd00:1234::/64\",\n    ]"),
        "the controller trusts the IPv6 subnet: {check}"
    );
}
