//! `mailu-git import` / `export` against a real server: Mailu `config-export` documents (every
//! section, hidden and generated DKIM keys, wildcard aliases, managers, app tokens, fetched accounts,
//! IDNA domains) land in the repository as ONE version, come back out equivalent, merge with Mailu's
//! `--update` notation, and a broken document is refused with its entry, field and line while nothing
//! changes. The repository is read with the real `git`; legacy hashes are checked with our checker,
//! native ones with dovecot's `doveadm pw`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use mailu_git::password::{Hash, verify};
use serde_json::{Value, json};

use crate::support::{TestServer, bin, git, have_tool, request};

/// Mailu's hashes of known passwords, made by passlib (the same vectors as `password/tests.rs`).
const ALICE_PASSWORD: &str = "correct horse";
const ALICE_HASH: &str =
    "$bcrypt-sha256$v=2,t=2b,r=4$8LJGK4woxc5AWtct94XGw.$PUjXREz2dDi4Gs.79vu5b/7hzw4KVzK";
const TOKEN_PLAIN: &str = "tok";
const TOKEN_HASH: &str =
    "$pbkdf2-sha256$1000$DEGIMSZkjPHe2/u/l1KK8Q$yg9yH9zZi/hC6z7OqzjYrdZmptnxLoaE.2oKQ/0YPo8";
const OLD_ADMIN_HASH: &str = "{PBKDF2}$pbkdf2-sha512$1000$zPlfK2VMyZmT8r43BkDo3Q$jK5EVXx3tz5/XiDfDe4Zyd2Zaj7.g8OHvI85rFhPLETFXsq6Uuif5YnLFm3UcM.sCckIw4Zw33Ah6iM3aaPL8w";

/// A document with every section and convention, as `flask mailu config-export` prints it.
fn document() -> String {
    format!(
        r#"# flask mailu config-export --output-file mailu.yaml
domain:
- name: example.com
  comment: the main one
  max_users: 100
  max_quota_bytes: 5000000000
  signup_enabled: true
  alternatives:
  - example.net
  dkim_key: -generate-
- name: bücher.example
  dkim_key: <hidden>
user:
- email: alice@example.com
  password: '{ALICE_HASH}'
  displayed_name: Alice
  global_admin: true
  quota_bytes: 2000000000
  spam_threshold: 60
  forward_enabled: true
  forward_destination: alice@elsewhere.org, alice2@elsewhere.org
  reply_enabled: true
  reply_subject: away
  reply_body: back soon
  reply_enddate: '2030-01-31'
  manager_of:
  - example.com
  - bücher.example
  tokens:
  - id: 3
    comment: phone
    ip:
    - 192.0.2.0/24
    password: '{TOKEN_HASH}'
  fetches:
  - id: 7
    protocol: imap
    host: imap.remote.example
    port: 993
    tls: true
    username: alice
    password: remote-secret
    keep: true
    folders: [INBOX, Archive]
- email: old@example.com
  password: '{OLD_ADMIN_HASH}'
  enabled: false
- email: joerg@bücher.example
  password: new-plaintext
  hash_password: true
alias:
- email: postmaster@example.com
  destination:
  - alice@example.com
- email: '%@bücher.example'
  wildcard: true
  destination: alice@example.com
- email: list@example.com
  comment: to the outside
  destination: [a@outside.org, old@example.com]
  disabled: true
relay:
- name: relayed.example.org
  comment: backup MX
  smtp: mx:relay.example.org:2525
"#
    )
}

/// Runs `mailu-git args...` against `server` with stdin from `input`.
fn cli(server: &TestServer, token: &str, args: &[&str], input: &str) -> Output {
    let mut child = Command::new(bin())
        .args(args)
        .env("MAILU_GIT_URL", &server.url)
        .env("MAILU_GIT_TOKEN", token)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed ({:?}): {}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn repo(server: &TestServer) -> std::path::PathBuf {
    server.data.join("config.git")
}

fn show(server: &TestServer, path: &str) -> String {
    git(&repo(server), &["show", &format!("main:{path}")])
}

fn versions(server: &TestServer) -> usize {
    git(&repo(server), &["rev-list", "--first-parent", "main"])
        .lines()
        .count()
}

fn toml_of(server: &TestServer, path: &str) -> toml::Table {
    show(server, path).parse().unwrap()
}

fn started() -> (TestServer, String) {
    let server = TestServer::start();
    let token = server.generated_admin_token().expect("a generated token");
    (server, token)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn a_mailu_export_imports_as_one_version_and_exports_back_equivalent() {
    let (server, token) = started();
    let tmp = tempfile::tempdir().unwrap();
    let file = write(tmp.path(), "mailu.yaml", &document());
    let before = versions(&server);

    let dry = ok(&cli(&server, &token, &["import", &file, "--dry-run"], ""));
    assert!(
        dry.contains("create domains/example.com/domain.toml"),
        "{dry}"
    );
    assert_eq!(versions(&server), before, "a dry run changes nothing");

    let out = ok(&cli(&server, &token, &["import", &file, "--wait"], ""));
    assert!(out.contains("in version"), "{out}");
    assert_eq!(versions(&server), before + 1, "one import, one version");
    let log = git(&repo(&server), &["log", "-1", "--format=%B", "main"]);
    assert!(log.contains("Import of a Mailu configuration"), "{log}");

    // Domains: limits, alternatives, managers (from the users' manager_of), IDNA folders.
    let domain = toml_of(&server, "domains/example.com/domain.toml");
    assert_eq!(domain["max_users"].as_integer(), Some(100));
    assert_eq!(domain["signup_enabled"].as_bool(), Some(true));
    assert_eq!(
        domain["alternatives"].as_array().unwrap()[0].as_str(),
        Some("example.net")
    );
    assert_eq!(
        domain["managers"].as_array().unwrap()[0].as_str(),
        Some("alice@example.com")
    );
    assert!(
        !domain["dkim_public_key"].as_str().unwrap().is_empty(),
        "-generate- made a key"
    );
    let idna = toml_of(&server, "domains/xn--bcher-kva.example/domain.toml");
    assert!(
        idna.get("dkim_public_key").is_none(),
        "<hidden> with no key: none"
    );
    // The DKIM key and the fetch password are secrets, encrypted.
    let dkim = show(&server, "secrets/dkim/example.com");
    assert!(dkim.starts_with("-----BEGIN AGE ENCRYPTED FILE-----") && !dkim.contains("PRIVATE"));
    let fetch_secret = show(&server, "secrets/fetch/7");
    assert!(!fetch_secret.contains("remote-secret"));

    // Users: hashes kept as written (legacy), tokens and fetches with Mailu's ids.
    let alice = toml_of(&server, "domains/example.com/users/alice.toml");
    assert_eq!(alice["password"].as_str(), Some(ALICE_HASH));
    assert_eq!(alice["spam_threshold"].as_integer(), Some(60));
    assert_eq!(alice["reply_enddate"].as_str(), Some("2030-01-31"));
    assert_eq!(alice["forward_destination"].as_array().unwrap().len(), 2);
    assert_eq!(alice["tokens"][0]["id"].as_str(), Some("3"));
    assert_eq!(alice["tokens"][0]["ip"][0].as_str(), Some("192.0.2.0/24"));
    assert_eq!(alice["fetches"][0]["id"].as_str(), Some("7"));
    assert!(!show(&server, "domains/example.com/users/alice.toml").contains("remote-secret"));
    let old = toml_of(&server, "domains/example.com/users/old.toml");
    assert_eq!(old["enabled"].as_bool(), Some(false));
    // Aliases: the wildcard's file, destinations in a comma string.
    let wildcard = toml_of(&server, "domains/xn--bcher-kva.example/aliases/%.toml");
    assert_eq!(wildcard["wildcard"].as_bool(), Some(true));
    let list = toml_of(&server, "domains/example.com/aliases/list.toml");
    assert_eq!(list["disabled"].as_bool(), Some(true));
    let relay = toml_of(&server, "relays/relayed.example.org.toml");
    assert_eq!(relay["smtp"].as_str(), Some("mx:relay.example.org:2525"));

    // Passwords keep working: the legacy hashes verify with the legacy checker...
    let hash = Hash::parse(alice["password"].as_str().unwrap()).unwrap();
    assert!(hash.is_legacy() && verify(&hash, ALICE_PASSWORD));
    assert!(!verify(&hash, "wrong horse"));
    let token_hash = Hash::parse(alice["tokens"][0]["password"].as_str().unwrap()).unwrap();
    assert!(verify(&token_hash, TOKEN_PLAIN));
    let old_hash = Hash::parse(old["password"].as_str().unwrap()).unwrap();
    assert!(verify(&old_hash, "old admin"));
    // ... and a plaintext `hash_password` one was hashed in a scheme dovecot verifies itself.
    let jorg = toml_of(&server, "domains/xn--bcher-kva.example/users/joerg.toml");
    let native = Hash::parse(jorg["password"].as_str().unwrap()).unwrap();
    assert!(!native.is_legacy() && verify(&native, "new-plaintext"));
    if have_tool("doveadm") {
        let check = Command::new("doveadm")
            .args([
                "pw",
                "-t",
                &native.dovecot().unwrap(),
                "-p",
                "new-plaintext",
            ])
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stderr)
        );
    }

    // Export: the same document back (hashes included, secrets hidden unless asked for).
    let exported = ok(&cli(&server, &token, &["export", "--as-json"], ""));
    let exported: Value = serde_json::from_str(&exported).unwrap();
    let original: Value = serde_norway::from_str(&document()).unwrap();
    assert_eq!(exported["domain"][0]["dkim_key"], json!("<hidden>"));
    assert_eq!(
        exported["user"][0]["fetches"][0]["password"],
        json!("<hidden>")
    );
    assert_eq!(exported["user"][0]["password"], json!(ALICE_HASH));
    assert_eq!(
        exported["user"][0]["tokens"][0],
        original["user"][0]["tokens"][0]
    );
    assert_eq!(
        exported["user"][0]["manager_of"],
        original["user"][0]["manager_of"]
    );
    assert_eq!(exported["alias"].as_array().unwrap().len(), 3);
    assert_eq!(exported["relay"], original["relay"]);
    let secrets = ok(&cli(
        &server,
        &token,
        &["export", "--as-json", "--secrets"],
        "",
    ));
    let secrets: Value = serde_json::from_str(&secrets).unwrap();
    assert!(
        secrets["domain"][0]["dkim_key"]
            .as_str()
            .unwrap()
            .contains("BEGIN PRIVATE KEY")
    );
    assert_eq!(
        secrets["user"][0]["fetches"][0]["password"],
        json!("remote-secret")
    );

    // Round trip: the exported YAML imports into the same tree, so nothing changes at all.
    let yaml = ok(&cli(&server, &token, &["export", "--secrets"], ""));
    let again = write(tmp.path(), "exported.yaml", &yaml);
    let out = ok(&cli(&server, &token, &["import", &again, "--wait"], ""));
    assert!(out.contains("nothing to change"), "{out}");
    assert_eq!(versions(&server), before + 1);
    // And into a fresh server, the same configuration (compare the two exports).
    let (other, other_token) = started();
    ok(&cli(
        &other,
        &other_token,
        &["import", &again, "--wait"],
        "",
    ));
    let first = ok(&cli(
        &server,
        &token,
        &["export", "--secrets", "--as-json"],
        "",
    ));
    let second = ok(&cli(
        &other,
        &other_token,
        &["export", "--secrets", "--as-json"],
        "",
    ));
    assert_eq!(first, second);
}

#[test]
fn a_broken_document_is_refused_with_entry_field_and_line_and_nothing_changes() {
    let (server, token) = started();
    let tmp = tempfile::tempdir().unwrap();
    ok(&cli(
        &server,
        &token,
        &["domain", "add", "keep.example", "--wait"],
        "",
    ));
    let before = versions(&server);
    let broken = "domain:\n- name: example.com\nuser:\n- email: a@example.com\n  password: x\n- email: b@example.com\n  password: plaintext\n  quota_bytes: -5\n";
    let file = write(tmp.path(), "broken.yaml", broken);
    let out = cli(&server, &token, &["import", &file], "");
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{file}:8: ")), "{err}");
    assert!(err.contains("user[1].quota_bytes"), "{err}");
    // Type errors pass: the conversion names each problem with its entry's line.
    let bad = "domain:\n- name: example.com\nuser:\n- email: a@example.com\n  password: x\nalias:\n- email: al@example.com\n  destination: [nobody@nowhere.org]\n- email: al@example.com\n  destination: [x@y.org]\n";
    let file = write(tmp.path(), "bad.yaml", bad);
    let out = cli(&server, &token, &["import", &file], "");
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{file}:4: user[0] (a@example.com).password")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{file}:9: alias[1] (al@example.com).email")),
        "{err}"
    );
    // A document fine on its own but refused by the server's rules (an alias to a local address
    // that does not exist), sent through the API: 400 naming the file, nothing changed.
    let doc = json!({
        "domain": [{"name": "example.com"}],
        "alias": [{"email": "x@example.com", "destination": ["ghost@example.com"]}],
    });
    let reply = request(
        "POST",
        &format!("{}/api/v1/import", server.url),
        &token,
        Some(json!({"document": doc})),
    );
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("ghost@example.com"), "{}", reply.body);
    // Unknown keys are refused with the entry and field.
    let reply = request(
        "POST",
        &format!("{}/api/v1/import", server.url),
        &token,
        Some(json!({"document": {"domain": [{"name": "example.com", "max_user": 3}]}})),
    );
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("domain[0]"), "{}", reply.body);
    assert_eq!(versions(&server), before, "nothing changed");
    let files = git(&repo(&server), &["ls-tree", "-r", "--name-only", "main"]);
    assert!(
        files.contains("domains/keep.example/domain.toml"),
        "{files}"
    );
}

#[test]
fn update_merges_with_mailus_delete_and_prune_notation() {
    let (server, token) = started();
    let tmp = tempfile::tempdir().unwrap();
    let file = write(tmp.path(), "mailu.yaml", &document());
    ok(&cli(&server, &token, &["import", &file, "--wait"], ""));
    ok(&cli(
        &server,
        &token,
        &["domain", "add", "added-by-hand.example", "--wait"],
        "",
    ));

    let update = format!(
        r#"domain:
- name: example.com
  alternatives: [-example.net, example.org]
- -name: relayed-nothing.example
user:
- email: alice@example.com
  -spam_threshold: null
  forward_destination: [-alice@elsewhere.org]
  manager_of: [-prune-, example.com]
  tokens:
  - -id: 3
  - comment: laptop
    password: '{TOKEN_HASH}'
- email: new@example.com
  password: '{ALICE_HASH}'
- -email: old@example.com
alias:
- email: postmaster@example.com
  comment: merged
- -email: null
relay:
- -name: relayed.example.org
"#
    );
    let file = write(tmp.path(), "update.yaml", &update);
    let out = ok(&cli(
        &server,
        &token,
        &["import", &file, "--update", "--wait"],
        "",
    ));
    assert!(out.contains("in version"), "{out}");

    let domain = toml_of(&server, "domains/example.com/domain.toml");
    let alternatives: Vec<&str> = domain["alternatives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(alternatives, ["example.org"]);
    // Untouched by the update: the domain added by hand, the other domain, its fields.
    assert_eq!(domain["max_users"].as_integer(), Some(100));
    let files = git(&repo(&server), &["ls-tree", "-r", "--name-only", "main"]);
    assert!(files.contains("domains/added-by-hand.example/domain.toml"));
    let idna = toml_of(&server, "domains/xn--bcher-kva.example/domain.toml");
    assert!(
        idna.get("managers").is_none(),
        "manager_of was pruned to example.com"
    );
    let alice = toml_of(&server, "domains/example.com/users/alice.toml");
    assert!(
        alice.get("spam_threshold").is_none(),
        "reset to the default"
    );
    assert_eq!(alice["displayed_name"].as_str(), Some("Alice"), "kept");
    assert_eq!(alice["forward_destination"].as_array().unwrap().len(), 1);
    let tokens = alice["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0]["comment"].as_str(), Some("laptop"));
    assert_eq!(alice["fetches"][0]["id"].as_str(), Some("7"), "fetch kept");
    assert!(files.contains("secrets/fetch/7"));
    assert!(files.contains("domains/example.com/users/new.toml"));
    assert!(!files.contains("domains/example.com/users/old.toml"));
    assert!(!files.contains("relays/relayed.example.org.toml"));
    // `-email: null` pruned every alias the update does not list; the listed one merged.
    assert!(files.contains("domains/example.com/aliases/postmaster.toml"));
    assert!(!files.contains("aliases/list.toml") && !files.contains("aliases/%.toml"));
    let postmaster = toml_of(&server, "domains/example.com/aliases/postmaster.toml");
    assert_eq!(postmaster["comment"].as_str(), Some("merged"));
    assert_eq!(
        postmaster["destination"][0].as_str(),
        Some("alice@example.com")
    );
}

#[test]
fn mailu_env_and_overrides_import_with_the_document_as_one_version() {
    let (server, token) = started();
    let tmp = tempfile::tempdir().unwrap();
    let file = write(tmp.path(), "mailu.yaml", &document());
    let env = write(
        tmp.path(),
        "mailu.env",
        "# Mailu main configuration file\nDOMAIN=example.com\nHOSTNAMES=mail.example.com,mx.example.com\n\
         POSTMASTER=admin\nMESSAGE_SIZE_LIMIT=20000000\nWELCOME=true\nFETCHMAIL_DELAY=900\n\
         RELAYPASSWORD=relay-secret\nSECRET_KEY=ABCDEFGHIJKLMNOP\nAPI_TOKEN=0123456789abcdef0123\n\
         DISABLE_STATISTICS=True\nCOMPOSE_PROJECT_NAME=mailu\n",
    );
    let overrides = tmp.path().join("overrides");
    std::fs::create_dir_all(overrides.join("postfix")).unwrap();
    std::fs::write(
        overrides.join("postfix/postfix.cf"),
        "smtpd_banner = $myhostname ESMTP imported\n",
    )
    .unwrap();
    let before = versions(&server);
    let out = cli(
        &server,
        &token,
        &[
            "import",
            &file,
            "--env",
            &env,
            "--overrides",
            overrides.to_str().unwrap(),
            "--wait",
        ],
        "",
    );
    let stdout = ok(&out);
    assert!(stdout.contains("in version"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("DISABLE_STATISTICS ignored"), "{stderr}");
    assert!(
        stderr.contains("MAILU_GIT_ADMIN_TOKEN"),
        "the API_TOKEN step is reported: {stderr}"
    );
    assert!(
        !stderr.contains("0123456789abcdef0123"),
        "the token is never printed"
    );
    assert_eq!(
        versions(&server),
        before + 1,
        "document, settings and overrides: one version"
    );

    let settings: toml::Table = show(&server, "mailu.toml").parse().unwrap();
    assert_eq!(settings["mail"]["domain"].as_str(), Some("example.com"));
    assert_eq!(settings["mail"]["hostnames"].as_array().unwrap().len(), 2);
    assert_eq!(
        settings["mail"]["message_size_limit"].as_integer(),
        Some(20_000_000)
    );
    assert_eq!(
        settings["fetchmail"]["delay"].as_str(),
        Some("15m"),
        "Mailu's seconds"
    );
    let relay = show(&server, "secrets/settings/relay_password");
    assert!(relay.starts_with("-----BEGIN AGE") && !relay.contains("relay-secret"));
    assert_eq!(
        show(&server, "mailu-overrides/postfix/postfix.cf"),
        "smtpd_banner = $myhostname ESMTP imported\n"
    );
    // The override took Mailu's meaning: it reaches postfix's rendered main.cf.
    let files = git(
        &repo(&server),
        &["ls-tree", "-r", "--name-only", "main", "rendered/smtp"],
    );
    let main_cf = files
        .lines()
        .find(|f| f.ends_with("main.cf"))
        .expect("a rendered main.cf");
    assert!(show(&server, main_cf).contains("ESMTP imported"));

    // A bad value is refused with the variable's line, before anything is sent.
    let bad = write(
        tmp.path(),
        "bad.env",
        "DOMAIN=example.com\nWELCOME=perhaps\n",
    );
    let out = cli(&server, &token, &["import", "--env", &bad], "");
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("{bad}:2: WELCOME")));
    assert_eq!(versions(&server), before + 1);
}
