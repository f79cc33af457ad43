//! The smtp templates judged by postfix itself, in the bookworm image: the tables built as the
//! container's pre_start builds them, `postfix check` silent, `postconf -n` as meant, and the
//! addresses resolved by postfix's own lookups (`postmap -q`, `sendmail -bv`, port 25's RCPT
//! answers) the way Mailu's admin resolved them. The script is `smtp.sh`; each test appends the
//! questions and reads the answers.

use std::fs;
use std::path::Path;

use crate::daemons::{Fixture, copy_of, rendered};
use crate::image::{self, CheckOutput, run_check};
use crate::support::mailu_git;

pub(super) const SCRIPT: &str = include_str!("smtp.sh");

fn check(root: &Path, questions: &str) -> CheckOutput {
    let out = run_check(&root.join("smtp"), &format!("{SCRIPT}\n{questions}\n"));
    out.assert_success();
    out
}

/// Panics unless the check printed every line of `expected` as a whole line.
#[track_caller]
fn assert_lines(out: &CheckOutput, expected: &[&str]) {
    let lines: Vec<&str> = out.stdout.lines().collect();
    let missing: Vec<&&str> = expected.iter().filter(|e| !lines.contains(e)).collect();
    assert!(missing.is_empty(), "missing {missing:#?}\n{out}");
}

/// What every rendered smtp configuration must show, whatever its data.
#[track_caller]
fn assert_sane(out: &CheckOutput) {
    assert_lines(
        out,
        &[
            "N virtual_transport = lmtp:inet:imap:2525",
            "N smtpd_milters = inet:antispam:11332",
            "N smtpd_sasl_path = inet:imap:12345",
            "N maillog_file = /dev/stdout",
            "N mynetworks = 127.0.0.0/8 [::1]/128",
            "S sasl_passwd.lmdb 600",
        ],
    );
    let services: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("M "))
        .map(|l| l.split_whitespace().collect())
        .collect();
    for name in ["smtp", "submission", "submissions", "postlog"] {
        assert!(
            services.iter().any(|s| s[0] == name),
            "no {name} in master.cf\n{out}"
        );
    }
    for s in &services {
        assert_eq!(s[4], "n", "{} {} runs chrooted\n{out}", s[0], s[1]);
    }
    let submission = services.iter().find(|s| s[0] == "submission").unwrap();
    for option in [
        "smtpd_tls_security_level=encrypt",
        "smtpd_sasl_auth_enable=yes",
        "smtpd_sender_restrictions=$mailu_submission_sender_restrictions",
    ] {
        assert!(
            submission.contains(&option),
            "submission lacks {option}\n{out}"
        );
    }
    assert!(
        out.stdout.lines().any(
            |l| l.starts_with("N mailu_submission_sender_restrictions =")
                && l.contains("reject_sender_login_mismatch")
        ),
        "{out}"
    );
}

const ALIASES: &str = "lmdb:/etc/postfix/mailu/aliases";
const WILDCARDS: &str = "regexp:/etc/postfix/mailu/wildcards";
const SENDERS: &str = "lmdb:/etc/postfix/mailu/senders";
const SENDER_WILDCARDS: &str = "regexp:/etc/postfix/mailu/sender_wildcards";

#[test]
fn small_fixture_postfix_resolves_addresses_as_mailu() {
    if image::ensure().is_none() {
        return;
    }
    let dir = rendered(Fixture::Small);
    let out = check(
        dir.path(),
        &format!(
            "q {ALIASES} alice@example.com\n\
             q {ALIASES} postmaster@example.com\n\
             q {ALIASES} alice@example.net\n\
             q {ALIASES} bob@example.com\n\
             q {ALIASES} @example.com\n\
             q {ALIASES} old@example.org\n\
             q {WILDCARDS} sales-x@example.com\n\
             q {SENDERS} alice@example.com\n\
             q {SENDERS} team@example.net\n\
             q {SENDERS} @example.com\n\
             q {SENDERS} carol@example.org\n\
             q {SENDER_WILDCARDS} sales-x@example.com\n\
             q lmdb:/etc/postfix/mailu/transport relayed.test\n\
             q lmdb:/etc/postfix/mailu/transport mx-relayed.test\n\
             q lmdb:/etc/postfix/mailu/domains example.net\n\
             trace alice@example.com alice+tag@example.com bob@example.com team@example.net \
                   sales-x@example.com sales+x@example.com random@example.com random+x@example.com \
                   alice+t@example.net\n\
             rcpt '' alice@example.com dave@example.org alice@example.net random@example.com \
                  old@example.org nobody@example.org victim@foreign.test\n\
             rcpt alice@example.com carol@example.org\n"
        ),
    );
    assert_sane(&out);
    assert_lines(
        &out,
        &[
            "N myhostname = mail.example.com",
            "N mydomain = example.com",
            "N message_size_limit = 50000000",
            // A user is its own alias, so no wildcard takes its mail.
            "Q lmdb:/etc/postfix/mailu/aliases alice@example.com = alice@example.com",
            "Q lmdb:/etc/postfix/mailu/aliases postmaster@example.com = alice@example.com",
            // An alternative is the same address at the domain.
            "Q lmdb:/etc/postfix/mailu/aliases alice@example.net = alice@example.com",
            // A forward without a copy.
            "Q lmdb:/etc/postfix/mailu/aliases bob@example.com = carol@example.org",
            // The catch-all, tried last.
            "Q lmdb:/etc/postfix/mailu/aliases @example.com = alice@example.com",
            // A disabled alias receives nothing.
            "Q lmdb:/etc/postfix/mailu/aliases old@example.org = -",
            "Q regexp:/etc/postfix/mailu/wildcards sales-x@example.com = bob@example.com",
            // bob may send as anyone of example.com (allow_spoofing).
            "Q lmdb:/etc/postfix/mailu/senders alice@example.com = alice@example.com, bob@example.com",
            "Q lmdb:/etc/postfix/mailu/senders team@example.net = alice@example.com, carol@example.org, someone@elsewhere.test, bob@example.com",
            "Q lmdb:/etc/postfix/mailu/senders @example.com = alice@example.com, bob@example.com",
            "Q lmdb:/etc/postfix/mailu/senders carol@example.org = carol@example.org",
            "Q regexp:/etc/postfix/mailu/sender_wildcards sales-x@example.com = bob@example.com",
            "Q lmdb:/etc/postfix/mailu/transport relayed.test = smtp:[mx.relayed.test]:2525",
            "Q lmdb:/etc/postfix/mailu/transport mx-relayed.test = smtp:mx-relayed.test",
            "Q lmdb:/etc/postfix/mailu/domains example.net = OK",
            "T alice@example.com => alice@example.com",
            // The catch-all would match alice+tag too; the user wins and keeps the extension.
            "T alice+tag@example.com => alice+tag@example.com",
            "T bob@example.com => carol@example.org",
            "T team@example.net => alice@example.com",
            "T team@example.net => carol@example.org",
            "T team@example.net => someone@elsewhere.test",
            // sales% (to bob, who forwards to carol) before the catch-all, with or without tag.
            "T sales-x@example.com => carol@example.org",
            "T sales+x@example.com => carol@example.org",
            "T random@example.com => alice@example.com",
            "T random+x@example.com => alice@example.com",
            "T alice+t@example.net => alice+t@example.com",
            "R <> alice@example.com 250",
            // A disabled user still receives mail, as in Mailu.
            "R <> dave@example.org 250",
            "R <> alice@example.net 250",
            "R <> random@example.com 250",
            "R <> old@example.org 550",
            "R <> nobody@example.org 550",
            "R <> victim@foreign.test 554",
            // Port 25 refuses local senders: they log in on 465 or 587.
            "R <alice@example.com> carol@example.org 554",
        ],
    );
}

/// Mailu override files, as an operator would drop them into `mailu-overrides/postfix/`.
const OVERRIDES: [(&str, &str); 6] = [
    (
        "postfix.cf",
        "# Mailu's postconf -e lines\nmessage_size_limit = 1000\ndelay_warning_time = 1h\n\
         smtpd_helo_required=no\ndelay_warning_time = 2h\nnot a setting\n",
    ),
    (
        "postfix.master",
        "smtp/inet=smtp inet n - n - 10 smtpd\n2525/inet=2525 inet n - n - - smtpd\n",
    ),
    ("transport.map", "slow.test polite:\n"),
    ("tls_policy.map", "secure.test secure\n"),
    ("other.map", "a b\n"),
    ("mta-sts-daemon.yml", "cache: {}\n"),
];

/// The small fixture plus a user that a wildcard would also match, forwarding with a copy, and
/// Mailu override files: rendered with the real binary, so the warnings are seen too.
#[test]
fn overrides_and_a_user_inside_a_wildcard_keep_mailus_meaning() {
    if image::ensure().is_none() {
        return;
    }
    let config = copy_of(Fixture::Small, |root| {
        let users = root.join("domains/example.com/users");
        let alice = fs::read_to_string(users.join("alice.toml")).unwrap();
        let hash = alice.lines().find(|l| l.starts_with("password")).unwrap();
        fs::write(
            users.join("salesman.toml"),
            format!(
                "{hash}\nforward_enabled = true\nforward_destination = [\"dave@example.org\"]\n"
            ),
        )
        .unwrap();
        let overrides = root.join("mailu-overrides/postfix");
        fs::create_dir_all(&overrides).unwrap();
        for (name, text) in OVERRIDES {
            fs::write(overrides.join(name), text).unwrap();
        }
    });
    let out_dir = tempfile::tempdir().unwrap();
    let target = out_dir.path().join("out");
    let render = mailu_git(
        &[
            "render",
            config.path().to_str().unwrap(),
            "--out",
            target.to_str().unwrap(),
        ],
        config.path(),
    );
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&render.stdout),
        String::from_utf8_lossy(&render.stderr)
    );
    assert!(render.status.success(), "{said}");
    for warning in [
        "mailu-overrides/postfix/postfix.cf line 6: `not a setting`",
        "mailu-overrides/postfix/other.map is ignored",
        "mailu-overrides/postfix/mta-sts-daemon.yml is ignored",
    ] {
        assert!(said.contains(warning), "no warning {warning:?}:\n{said}");
    }

    let out = check(
        &target,
        &format!(
            "q {ALIASES} salesman@example.com\n\
             q {WILDCARDS} salesman+x@example.com\n\
             q {SENDER_WILDCARDS} salesman+x@example.com\n\
             q lmdb:/etc/postfix/transport.map slow.test\n\
             q lmdb:/etc/postfix/tls_policy.map secure.test\n\
             trace salesman@example.com salesman+x@example.com salesx+y@example.com\n"
        ),
    );
    assert_sane(&out);
    assert_lines(
        &out,
        &[
            "N message_size_limit = 1000",
            "N delay_warning_time = 2h",
            "N smtpd_helo_required = no",
            // A forward that keeps a copy.
            "Q lmdb:/etc/postfix/mailu/aliases salesman@example.com = dave@example.org, salesman@example.com",
            // sales% matches salesman+x; Mailu strips the extension first and finds the user.
            "Q regexp:/etc/postfix/mailu/wildcards salesman+x@example.com = dave@example.org, salesman+x@example.com",
            "Q regexp:/etc/postfix/mailu/sender_wildcards salesman+x@example.com = salesman@example.com, bob@example.com",
            "Q lmdb:/etc/postfix/transport.map slow.test = polite:",
            "Q lmdb:/etc/postfix/tls_policy.map secure.test = secure",
            "T salesman@example.com => dave@example.org",
            "T salesman@example.com => salesman@example.com",
            "T salesman+x@example.com => dave@example.org",
            "T salesman+x@example.com => salesman+x@example.com",
            "T salesx+y@example.com => carol@example.org",
        ],
    );
    let postconf = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("N delay_warning_time"));
    assert_eq!(postconf.count(), 1, "{out}");
    let master: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with("M ")).collect();
    assert!(
        master
            .iter()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["M", "smtp", "inet", "n", "-", "n", "-", "10", "smtpd"]),
        "{out}"
    );
    assert!(master.iter().any(|l| l.starts_with("M 2525 ")), "{out}");
}

#[test]
fn large_fixture_builds_and_resolves_as_mailu() {
    if image::ensure().is_none() {
        return;
    }
    let dir = rendered(Fixture::Large);
    // The compiled tables hold every line of their sources; a sample of the users resolves to
    // itself or its forwards, owns its address, and port 25 takes mail for it.
    let out = check(
        dir.path(),
        &format!(
            "for t in mailboxes aliases senders; do\n\
               echo \"C $t $(grep -c '^[^#]' /etc/postfix/mailu/$t) $(postmap -s lmdb:/etc/postfix/mailu/$t | wc -l)\"\n\
             done\n\
             set -- $(grep -v '^#' /etc/postfix/mailu/mailboxes | awk 'NR % 97 == 1 {{ print $1 }}')\n\
             for a in \"$@\"; do q {ALIASES} \"$a\"; q {SENDERS} \"$a\"; done\n\
             rcpt '' \"$@\"\n\
             q {ALIASES} u11@d001.test\n\
             q {ALIASES} u6@d000.test\n\
             q {ALIASES} @d000.test\n\
             q {ALIASES} u3@alt000.test\n\
             q {WILDCARDS} u1zz@d001.test\n\
             q {WILDCARDS} u11+x@d001.test\n\
             q {SENDERS} @d000.test\n\
             q lmdb:/etc/postfix/mailu/transport r00.relay.test\n\
             q lmdb:/etc/postfix/mailu/transport r01.relay.test\n\
             q lmdb:/etc/postfix/mailu/transport r03.relay.test\n\
             trace u11+x@d001.test u12+x@d003.test u1zz@d000.test nobody+x@d000.test u6@d000.test\n\
             rcpt '' nobody@d001.test nobody@d000.test u1zz@d001.test\n\
             echo \"P $(postmap -q '[smtp.relay.test]:587' lmdb:/etc/postfix/sasl_passwd | cut -d: -f1-3)\"\n"
        ),
    );
    assert_sane(&out);
    for line in out.stdout.lines().filter(|l| l.starts_with("C ")) {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            f[2], f[3],
            "{line}: source lines and table entries differ\n{out}"
        );
    }
    let sample: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("Q lmdb:/etc/postfix/mailu/senders u"))
        .collect();
    assert!(sample.len() > 20, "{out}");
    for line in sample {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert!(
            f[4..].contains(&f[2]) || f[4..].contains(&format!("{},", f[2]).as_str()),
            "{line}\n{out}"
        );
    }
    assert!(
        !out.stdout
            .lines()
            .any(|l| l.starts_with("R <> u") && !l.ends_with(" 250")),
        "a user of the sample is refused\n{out}"
    );
    assert_lines(
        &out,
        &[
            "N relayhost = [smtp.relay.test]:587",
            "N smtp_sasl_auth_enable = yes",
            "P mailu:@@mailu-secret:settings/relay_password",
            // u11 is a real user inside the wildcard u1%, forwarding without a copy.
            "Q lmdb:/etc/postfix/mailu/aliases u11@d001.test = u0@d002.test",
            "Q lmdb:/etc/postfix/mailu/aliases u6@d000.test = u0@d001.test, u6@d000.test",
            "Q lmdb:/etc/postfix/mailu/aliases @d000.test = u0@d000.test",
            "Q lmdb:/etc/postfix/mailu/aliases u3@alt000.test = u3@d000.test",
            "Q regexp:/etc/postfix/mailu/wildcards u1zz@d001.test = u2@d000.test",
            "Q regexp:/etc/postfix/mailu/wildcards u11+x@d001.test = u0@d002.test",
            "Q lmdb:/etc/postfix/mailu/senders @d000.test = u0@d000.test, u15@d000.test, u21@d000.test, u3@d000.test, u9@d000.test",
            "Q lmdb:/etc/postfix/mailu/transport r00.relay.test = smtp:r00.relay.test",
            "Q lmdb:/etc/postfix/mailu/transport r01.relay.test = smtp:[mx1.relay.test]:2525",
            "Q lmdb:/etc/postfix/mailu/transport r03.relay.test = lmtp:lmtp3.relay.test:24",
            "T u11+x@d001.test => u0@d002.test",
            "T u12+x@d003.test => u12+x@d003.test",
            // u1% before the catch-all of d000.
            "T u1zz@d000.test => u2@d000.test",
            "T nobody+x@d000.test => u0@d000.test",
            "T u6@d000.test => u0@d001.test",
            "T u6@d000.test => u6@d000.test",
            "R <> nobody@d001.test 550",
            "R <> nobody@d000.test 250",
            "R <> u1zz@d001.test 250",
        ],
    );
}

/// The check can fail: a main.cf line postfix cannot read makes `postfix check` complain.
#[test]
fn a_broken_main_cf_fails_the_smtp_check() {
    if image::ensure().is_none() {
        return;
    }
    let dir = rendered(Fixture::Small);
    let main_cf = dir.path().join("smtp/etc/postfix/main.cf");
    let mut text = fs::read_to_string(&main_cf).unwrap();
    text.push_str("this is not a parameter\n");
    fs::write(&main_cf, text).unwrap();
    run_check(&dir.path().join("smtp"), SCRIPT).assert_failure("missing '='");
}
