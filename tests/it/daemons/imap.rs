//! imap's rendered files judged by dovecot itself in the bookworm image: `doveconf -n` and `sievec`
//! accept them for the small and the large fixture, and a dovecot started on the small fixture
//! lets in (or refuses) each of its users as Mailu would, files delivered mail by each user's spam
//! settings, and runs the imapsieve learning when mail is moved into Junk. Failed logins cost
//! dovecot's 2-second delay each, so the login checks run side by side.

use std::path::Path;

use crate::fixtures::{self, Fixture};
use crate::image::{self, run_check};

/// What the imap container's entrypoint does before dovecot starts: the owners and modes of
/// `services/imap.toml`, and the rendered certificate's key filled in as the bundle will.
pub(super) fn prepare() -> String {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config-repo-template/services/imap.toml");
    let text = std::fs::read_to_string(&path).expect("services/imap.toml");
    let service: mailu_git::model::service::Service =
        toml::from_str(&text).expect("services/imap.toml parses");
    let mut script = format!("set -eu\n{}\n", super::fill_tls());
    // The first matching entry wins, so apply them last to first.
    for f in service.files.iter().rev() {
        script.push_str(&format!(
            "for f in {path}; do [ -e \"$f\" ] || continue; chown {owner} \"$f\"; chmod {mode} \"$f\"; done\n",
            path = f.path,
            owner = f.owner,
            mode = f.mode,
        ));
    }
    script
}

/// `doveconf -n` is silent, the settings mailu-git relies on are in effect, and every rendered
/// sieve script compiles.
pub(super) const CONFIG_CHECK: &str = r#"
doveconf -n > /tmp/doveconf.out
test "$(doveconf -h mail_location)" = "maildir:~/Maildir"
test "$(doveconf -h ssl)" = "required"
grep -q 'args = /etc/dovecot/bin/legacy-checkpw' /tmp/doveconf.out
# One sievec run over copies of every script (the large fixture has hundreds; perl copies them
# without a process per file).
mkdir /tmp/scripts
find /etc/dovecot/sieve -name '*.sieve' | perl -MFile::Copy -ne '
  chomp; (my $name = $_) =~ s{^/etc/dovecot/sieve/}{}; $name =~ tr{/}{_};
  copy($_, "/tmp/scripts/$name") or die "$_: $!\n"'
test -e /tmp/scripts/before.sieve
sievec -c /etc/dovecot/dovecot.conf /tmp/scripts
echo checked
"#;

/// Helpers of the behaviour checks: `check NAME CONDITION` records a failure without stopping, so
/// one run shows every broken expectation; `auth` logs in with doveadm as a given protocol and
/// client address; `deliver` hands a message with an X-Spam-Level of N stars to LMTP.
const HELPERS: &str = r#"
# Logins run in background jobs, so failures are counted in a file, not a variable.
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; echo "$1" >> /tmp/failed; fi; }
auth() { # expected(ok|fail) protocol user password [client address]
  out=$(doveadm auth test -x service="$2" ${5:+-x rip="$5"} "$3" "$4" 2>&1)
  case "$out" in *"auth succeeded"*) got=ok ;; *"auth failed"*) got=fail ;; *) got="other: $out" ;; esac
  check "login $3 over $2 ${5:+from $5 }is $1" "[ \"\$got\" = $1 ]"
}
deliver() { # recipient stars
  stars=$(printf '%*s' "$2" '' | tr ' ' '*')
  printf 'LHLO check\r\nMAIL FROM:<sender@remote.test>\r\nRCPT TO:<%s>\r\nDATA\r\nFrom: sender@remote.test\r\nSubject: %s stars\r\nX-Spam-Level: %s\r\n\r\nhello\r\n.\r\nQUIT\r\n' \
    "$1" "$2" "$stars" | busybox nc 127.0.0.1 2525 | grep -q '^250 2.0.0 <'
}
mailbox() { doveadm -f flow mailbox status -u "$1" "messages unseen" "$2"; }
dovecot
# The master listens before it returns; wait for the auth socket anyway, on a busy machine.
i=0
until [ -S /run/dovecot/auth-client ] || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
"#;

fn run(root: &Path, body: &str) {
    let script = format!("{}{HELPERS}{body}\ntest ! -s /tmp/failed\n", prepare());
    let out = run_check(root, &script);
    out.assert_success();
    for bad in ["Error:", "Fatal:", "Panic:"] {
        assert!(!out.stderr.contains(bad), "dovecot logged an {bad}\n{out}");
    }
}

#[test]
fn the_imap_files_of_both_fixtures_pass_doveconf_and_sievec() {
    if image::ensure().is_none() {
        return;
    }
    for fixture in [Fixture::Small, Fixture::Large] {
        let rendered = fixtures::rendered(fixture);
        let root = rendered.path().join("imap");
        let out = run_check(&root, &format!("{}{CONFIG_CHECK}", prepare()));
        out.assert_success();
        assert!(
            out.stderr.trim().is_empty(),
            "{fixture:?}: doveconf or sievec complained\n{out}"
        );
    }
}

#[test]
fn the_small_fixture_logs_in_delivers_and_learns_as_mailu_would() {
    if image::ensure().is_none() {
        return;
    }
    let rendered = fixtures::rendered(Fixture::Small);
    // carol's hash is Mailu's passlib bcrypt_sha256 of "correct horse" (src/password/tests.rs);
    // alice's app token is allowed from 192.0.2.0/24 only; dave is disabled; carol may not use POP3.
    run(
        &rendered.path().join("imap"),
        r#"
auth ok imap alice@example.com password1 &
auth ok imap Alice@Example.COM password1 &
auth fail imap alice@example.com password2 &
auth ok pop3 alice@example.com password1 &
auth ok smtp bob@example.com password2 &
auth fail imap dave@example.org password1 &
auth ok imap carol@example.org 'correct horse' &
auth fail imap carol@example.org 'correct horsE' &
auth fail pop3 carol@example.org 'correct horse' &
auth ok sieve carol@example.org 'correct horse' &
auth ok imap alice@example.com apptoken-0123456789abcdef 192.0.2.10 &
auth fail imap alice@example.com apptoken-0123456789abcdef 198.51.100.10 &
auth fail imap alice@example.net password1 &
wait

check "spam for bob is accepted" "deliver bob@example.com 15"
check "ham for bob+tag is accepted" "deliver bob+tag@example.com 3"
check "spam for carol is accepted" "deliver carol@example.org 15"
check "mail for disabled dave is accepted" "deliver dave@example.org 0"
check "mail for an unknown user is refused" "! deliver nobody@example.com 0"
check "bob's spam is in Junk, read" "[ \"\$(mailbox bob@example.com Junk)\" = 'Junk messages=1 unseen=0' ]"
check "bob's ham is in INBOX" "[ \"\$(mailbox bob@example.com INBOX)\" = 'INBOX messages=1 unseen=1' ]"
check "carol (spam_enabled = false) keeps spam in INBOX" "[ \"\$(mailbox carol@example.org INBOX)\" = 'INBOX messages=1 unseen=1' ]"
check "dave's mail is in INBOX" "[ \"\$(mailbox dave@example.org INBOX)\" = 'INBOX messages=1 unseen=1' ]"
check "alice's quota is her quota_bytes" "doveadm quota get -u alice@example.com | grep -q 'STORAGE *0 *1953125 '"
check "alice's autoresponder runs after before.sieve" "doveadm user alice@example.com | grep -q 'sieve_before2.*/reply/example.com/alice.sieve'"

# Copying into Junk runs report-spam.sieve: rspamd-learn (rspamd is unreachable here, which it
# logs and ignores) and the \Seen flag.
printf 'a SELECT INBOX\r\nb COPY 1 Junk\r\nc LOGOUT\r\n' | doveadm exec imap -u bob@example.com > /tmp/imap.log 2>&1
cat /tmp/imap.log >&2
check "a message copied into Junk is marked read" "[ \"\$(mailbox bob@example.com Junk)\" = 'Junk messages=2 unseen=0' ]"
check "and taught rspamd (which is unreachable here)" "grep -q 'rspamd-learn: rspamc learn_spam failed' /tmp/imap.log"
"#,
    );
}

#[test]
fn with_require_tokens_only_app_tokens_log_in() {
    if image::ensure().is_none() {
        return;
    }
    let checkout = fixtures::copy_of(Fixture::Small, |root| {
        let path = root.join("mailu.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let text = text.replace("require_tokens = false", "require_tokens = true");
        assert!(text.contains("require_tokens = true"), "mailu.toml changed");
        std::fs::write(&path, text).unwrap();
    });
    let rendered = fixtures::rendered_dir(checkout.path());
    run(
        &rendered.path().join("imap"),
        r#"
auth fail imap alice@example.com password1 &
auth fail smtp bob@example.com password2 &
auth fail imap carol@example.org 'correct horse' &
auth ok imap alice@example.com apptoken-0123456789abcdef 192.0.2.10 &
auth ok smtp alice@example.com apptoken-0123456789abcdef 192.0.2.10 &
wait
"#,
    );
}
