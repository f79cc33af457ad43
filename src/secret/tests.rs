//! Tests of the secret store: keys, files, rotation and placeholders.

use std::os::unix::fs::PermissionsExt;

use secrecy::ExposeSecret;

use super::*;

/// An identity file and a secret made by the real `age` tools (age 1.1.1, Debian bookworm):
/// `age-keygen -o key.txt`, then `printf 'relay-password\n' | age -a -r <public key>`.
/// It is a test-only key. It pins the operator path: `age -a -r` output must decrypt here.
const AGE_CLI_KEY: &str = "# created: 2026-11-28T22:58:29Z
# public key: age1226f9rkmz5ftda05f40cluv29d5hgepyy0qak3c4t9umtfm9c3nqm6y940
AGE-SECRET-KEY-1PDH24JCSY8E89YRZFD95VMTUANVMH843NJEYTPKXGX7DT20U8ALS9U52DX
";
const AGE_CLI_RECIPIENT: &str = "age1226f9rkmz5ftda05f40cluv29d5hgepyy0qak3c4t9umtfm9c3nqm6y940";
const AGE_CLI_SECRET: &str = "-----BEGIN AGE ENCRYPTED FILE-----
YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSA2UCtjT0FCaTVFZDZRSFVi
K0UzMFlGWVB2M2txR21GamY2Wnl0dWhOOUY0CnZUTEF1MGs4UzNKbjJMNUNtdThv
V2lxRnp4YSsxQTMzSWpqdUlzRHVxOXcKLS0tIFM1UVlYUnBibVkxQytPbzlqaSsr
NjFPUm43ck1sRzVPazI1aUhkVm55N0EK95LA0giY4MbNAyBz/dkcVHAZHHcnZd0+
rRqy/mT4Pk0Ri61pQ6l8GWtP/4vYpgg=
-----END AGE ENCRYPTED FILE-----
";

fn key_path(dir: &tempfile::TempDir) -> std::path::PathBuf {
    Keyring::default_path(dir.path())
}

fn write_private(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn blob_id(bytes: &[u8]) -> gix::ObjectId {
    gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::objs::Kind::Blob, bytes).unwrap()
}

fn dkim() -> SecretRef {
    SecretRef::parse("dkim/example.com").unwrap()
}

#[test]
fn encrypt_then_decrypt_round_trips_as_armored_age() {
    let dir = tempfile::tempdir().unwrap();
    let keyring = Keyring::generate(&key_path(&dir)).unwrap();
    let file = keyring.encrypt(b"-----BEGIN PRIVATE KEY-----\n").unwrap();
    assert!(file.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----"));
    assert!(!file.windows(11).any(|w| w == b"PRIVATE KEY"));
    let plain = keyring.decrypt(&file).unwrap();
    assert_eq!(plain.expose_secret(), b"-----BEGIN PRIVATE KEY-----\n");
}

#[test]
fn generated_key_file_is_private_and_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let path = key_path(&dir);
    let keyring = Keyring::generate(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let again = Keyring::load(&path).unwrap();
    assert_eq!(again.recipient(), keyring.recipient());
    assert!(keyring.recipient().starts_with("age1"));
    assert!(!format!("{keyring:?}").contains("AGE-SECRET-KEY"));
    // No temporary file is left next to the key.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn generate_refuses_to_replace_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = key_path(&dir);
    let first = Keyring::generate(&path).unwrap();
    assert!(matches!(
        Keyring::generate(&path),
        Err(Error::KeyFileExists { .. })
    ));
    let same = Keyring::load_or_generate(&path).unwrap();
    assert_eq!(same.recipient(), first.recipient());
}

#[test]
fn key_file_readable_by_others_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = key_path(&dir);
    Keyring::generate(&path).unwrap();
    for mode in [0o644, 0o640, 0o604] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let err = Keyring::load(&path).unwrap_err();
        assert!(matches!(err, Error::KeyFileMode { .. }), "{err}");
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }
}

#[test]
fn key_file_with_garbage_or_no_identity_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = key_path(&dir);
    write_private(&path, "# nothing here\n\n");
    assert!(matches!(
        Keyring::load(&path),
        Err(Error::KeyFileEmpty { .. })
    ));
    write_private(&path, "# comment\nAGE-SECRET-KEY-1NOTAKEY\n");
    let err = Keyring::load(&path).unwrap_err();
    assert!(
        matches!(err, Error::KeyFileInvalid { line: 2, .. }),
        "{err}"
    );
}

#[test]
fn wrong_key_says_the_secret_is_not_for_this_server() {
    let dir = tempfile::tempdir().unwrap();
    let ours = Keyring::generate(&dir.path().join("a.key")).unwrap();
    let theirs = Keyring::generate(&dir.path().join("b.key")).unwrap();
    let file = theirs.encrypt(b"secret").unwrap();
    let err = ours.decrypt(&file).unwrap_err();
    assert!(matches!(err, Error::NotForThisServer), "{err}");
    assert!(err.to_string().contains("none of this server's keys"));
}

#[test]
fn corrupt_and_foreign_files_are_not_age() {
    let dir = tempfile::tempdir().unwrap();
    let keyring = Keyring::generate(&key_path(&dir)).unwrap();
    let mut file = keyring.encrypt(b"secret").unwrap();
    for bad in [
        &b"hunter2"[..],
        b"",
        b"-----BEGIN AGE ENCRYPTED FILE-----\nxx\n",
    ] {
        let err = keyring.decrypt(bad).unwrap_err();
        assert!(matches!(err, Error::NotAge { .. }), "{err}");
    }
    // Flip one base64 character in the payload (the line before the END line).
    let lines: Vec<usize> = (0..file.len()).filter(|&i| file[i] == b'\n').collect();
    let target = lines[lines.len() - 3] + 3;
    file[target] = if file[target] == b'A' { b'B' } else { b'A' };
    let err = keyring.decrypt(&file).unwrap_err();
    assert!(matches!(err, Error::NotAge { .. }), "{err}");
}

#[test]
fn sizes_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let keyring = Keyring::generate(&key_path(&dir)).unwrap();
    let big = vec![b'x'; MAX_PLAINTEXT + 1];
    assert!(matches!(keyring.encrypt(&big), Err(Error::TooLarge { .. })));
    let largest = keyring.encrypt(&big[..MAX_PLAINTEXT]).unwrap();
    assert!(largest.len() <= MAX_FILE);
    assert_eq!(
        keyring.decrypt(&largest).unwrap().expose_secret().len(),
        MAX_PLAINTEXT
    );
    assert!(matches!(
        keyring.decrypt(&vec![b'-'; MAX_FILE + 1]),
        Err(Error::TooLarge { .. })
    ));
}

#[test]
fn rotation_keeps_old_secrets_readable_and_reencrypts_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = key_path(&dir);
    let old = Keyring::generate(&path).unwrap();
    let dkim_path = RepoPath::secret("dkim", "example.com").unwrap();
    let relay_path = RepoPath::secret("relay", "password").unwrap();
    let dkim_old = old.encrypt(b"dkim key").unwrap();

    let new = Keyring::rotate(&path).unwrap();
    assert_ne!(new.recipient(), old.recipient());
    assert_eq!(new.recipients()[1], old.recipient());
    assert_eq!(Keyring::load(&path).unwrap().recipients(), new.recipients());
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    // Old ciphertext still decrypts; new secrets go to the new key only.
    assert_eq!(new.decrypt(&dkim_old).unwrap().expose_secret(), b"dkim key");
    let relay_new = new.encrypt(b"relay").unwrap();
    assert!(matches!(
        old.decrypt(&relay_new),
        Err(Error::NotForThisServer)
    ));

    // Only the file that needs the old key is re-encrypted.
    let files = [
        (&dkim_path, dkim_old.as_slice()),
        (&relay_path, relay_new.as_slice()),
    ];
    let edits = new.reencrypt(files).unwrap();
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0].0, dkim_path);
    assert!(matches!(
        old.decrypt(&edits[0].1),
        Err(Error::NotForThisServer)
    ));
    assert_eq!(
        new.decrypt(&edits[0].1).unwrap().expose_secret(),
        b"dkim key"
    );

    // With the old identity dropped, the re-encrypted file is all the new key needs.
    let current_only = dir.path().join("current.key");
    let text = std::fs::read_to_string(&path).unwrap();
    let first_key = text
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap();
    write_private(&current_only, first_key);
    let pruned = Keyring::load(&current_only).unwrap();
    assert_eq!(
        pruned.decrypt(&edits[0].1).unwrap().expose_secret(),
        b"dkim key"
    );
    assert!(
        pruned
            .reencrypt([(&dkim_path, edits[0].1.as_slice())])
            .unwrap()
            .is_empty()
    );
}

#[test]
fn reencrypt_names_the_secret_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let keyring = Keyring::generate(&key_path(&dir)).unwrap();
    let path = RepoPath::secret("fetch", "3").unwrap();
    let err = keyring.reencrypt([(&path, &b"garbage"[..])]).unwrap_err();
    assert!(err.to_string().contains("fetch/3"), "{err}");
    let not_secret = RepoPath::parse("mailu.toml").unwrap();
    assert!(matches!(
        keyring.reencrypt([(&not_secret, &b""[..])]),
        Err(Error::NotASecretPath { .. })
    ));
}

#[test]
fn operator_encrypts_with_a_bare_recipient() {
    let dir = tempfile::tempdir().unwrap();
    let keyring = Keyring::generate(&key_path(&dir)).unwrap();
    let file = encrypt_for_recipient(&format!(" {}\n", keyring.recipient()), b"pw").unwrap();
    assert!(file.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----\n"));
    assert!(file.ends_with(b"-----END AGE ENCRYPTED FILE-----\n"));
    assert_eq!(keyring.decrypt(&file).unwrap().expose_secret(), b"pw");
    let err = encrypt_for_recipient("age1nope", b"pw").unwrap_err();
    assert!(matches!(err, Error::BadRecipient { .. }), "{err}");
}

#[test]
fn age_cli_files_and_keys_interoperate() {
    let dir = tempfile::tempdir().unwrap();
    let path = key_path(&dir);
    write_private(&path, AGE_CLI_KEY);
    let keyring = Keyring::load(&path).unwrap();
    assert_eq!(keyring.recipient(), AGE_CLI_RECIPIENT);
    let plain = keyring.decrypt(AGE_CLI_SECRET.as_bytes()).unwrap();
    assert_eq!(plain.expose_secret(), b"relay-password\n");
}

/// Our key file and our ciphertext work with the real `age` tool (the emergency path).
#[test]
fn age_cli_decrypts_our_files_with_our_key_file() {
    let Ok(out) = std::process::Command::new("age").arg("--version").output() else {
        assert!(
            std::env::var_os("MAILU_GIT_REQUIRE_ALL").is_none(),
            "the `age` tool is missing and MAILU_GIT_REQUIRE_ALL is set"
        );
        eprintln!("skipped: the `age` tool is not installed (apt-get install age)");
        return;
    };
    assert!(out.status.success());
    let dir = tempfile::tempdir().unwrap();
    let path = key_path(&dir);
    let keyring = Keyring::generate(&path).unwrap();
    let file = dir.path().join("secret.age");
    std::fs::write(&file, keyring.encrypt(b"from mailu-git").unwrap()).unwrap();
    let out = std::process::Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&path)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"from mailu-git");
}

#[test]
fn placeholders_round_trip_and_fill() {
    let dir = tempfile::tempdir().unwrap();
    let keyring = Keyring::generate(&key_path(&dir)).unwrap();
    let relay = SecretRef::parse("relay/password").unwrap();
    let dkim_file = keyring.encrypt(b"DKIM-PEM").unwrap();
    let relay_file = keyring.encrypt(b"s3cr3t").unwrap();
    let (dkim_id, relay_id) = (blob_id(&dkim_file), blob_id(&relay_file));
    let p = placeholder(&dkim(), &dkim_id);
    assert_eq!(p, format!("@@mailu-secret:dkim/example.com:{dkim_id}@@"));

    let text = format!(
        "# {{{{ jinja }}}} %{{dovecot}} $postfix @@ @ \nkey = {p}\n[relay]:587 user:{}\n{p}",
        placeholder(&relay, &relay_id)
    );
    assert_eq!(
        references(&text).unwrap(),
        vec![
            (dkim(), dkim_id),
            (relay.clone(), relay_id),
            (dkim(), dkim_id)
        ]
    );
    let mut resolver = Resolver::new(&keyring);
    resolver.insert(dkim(), dkim_id, &dkim_file);
    resolver.insert(relay.clone(), relay_id, &relay_file);
    let filled = fill(&text, |r, id| resolver.resolve(r, id)).unwrap();
    assert_eq!(
        filled,
        "# {{ jinja }} %{dovecot} $postfix @@ @ \nkey = DKIM-PEM\n[relay]:587 user:s3cr3t\nDKIM-PEM"
    );
    assert_eq!(
        fill("no secrets", |_, _| unreachable!()).unwrap(),
        "no secrets"
    );
}

#[test]
fn placeholder_naming_a_missing_or_stale_secret_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let keyring = Keyring::generate(&key_path(&dir)).unwrap();
    let file = keyring.encrypt(b"v2").unwrap();
    let current = blob_id(&file);
    let old = blob_id(b"an older version");
    let mut resolver = Resolver::new(&keyring);
    resolver.insert(dkim(), current, &file);

    let missing = placeholder(&SecretRef::parse("relay/password").unwrap(), &current);
    let err = fill(&missing, |r, id| resolver.resolve(r, id)).unwrap_err();
    assert!(matches!(err, Error::MissingSecret { .. }), "{err}");
    assert!(err.to_string().contains("`relay/password`"), "{err}");

    let stale = placeholder(&dkim(), &old);
    let err = fill(&stale, |r, id| resolver.resolve(r, id)).unwrap_err();
    assert!(matches!(err, Error::StaleSecret { .. }), "{err}");

    let binary = keyring.encrypt(&[0xff, 0xfe]).unwrap();
    let binary_id = blob_id(&binary);
    resolver.insert(dkim(), binary_id, &binary);
    let err = fill(&placeholder(&dkim(), &binary_id), |r, id| {
        resolver.resolve(r, id)
    })
    .unwrap_err();
    assert!(matches!(err, Error::NotText { .. }), "{err}");
}

#[test]
fn malformed_placeholders_are_refused_with_their_line() {
    let id = "0123456789abcdef0123456789abcdef01234567";
    let long = "x".repeat(400);
    let cases = [
        "@@mailu-secret:dkim/example.com".to_owned(),
        format!("@@mailu-secret:dkim/example.com{id}@@"),
        format!("@@mailu-secret:dkim:{id}@@"),
        format!("@@mailu-secret:Dkim/x:{id}@@"),
        format!("@@mailu-secret:dkim/../x:{id}@@"),
        "@@mailu-secret:dkim/x:0123@@".to_owned(),
        format!("@@mailu-secret:dkim/x:{}@@", id.to_uppercase()),
        format!("@@mailu-secret:dkim/{long}:{id}@@"),
        "@@mailu-secret:dkim/x:é@@".to_owned(),
    ];
    for case in cases {
        let text = format!("a\nb\n{case}\n");
        let err = references(&text).unwrap_err();
        assert!(
            matches!(err, Error::MalformedPlaceholder { line: 3, .. }),
            "{case}: {err}"
        );
        assert!(fill(&text, |_, _| unreachable!()).is_err());
    }
}

#[test]
fn fill_is_linear_on_large_bundles() {
    // 2 MB with 20,000 placeholders: a quadratic fill would take minutes, this takes milliseconds.
    let dir = tempfile::tempdir().unwrap();
    let keyring = Keyring::generate(&key_path(&dir)).unwrap();
    let file = keyring.encrypt(b"v").unwrap();
    let id = blob_id(&file);
    let line = format!("{} {}\n", "y".repeat(40), placeholder(&dkim(), &id));
    let text = line.repeat(20_000);
    let mut calls = 0;
    let filled = fill(&text, |_, _| {
        calls += 1;
        Ok(SecretBytes::from(b"v".to_vec()))
    })
    .unwrap();
    assert_eq!(calls, 20_000);
    assert_eq!(filled.len(), 20_000 * 43);
}

#[test]
fn placeholders_with_an_escape_mode_fill_escaped_and_old_ones_stay_verbatim() {
    let dir = tempfile::tempdir().unwrap();
    let keyring = Keyring::generate(&key_path(&dir)).unwrap();
    let file = keyring.encrypt(b"p\"w\nd").unwrap();
    let id = blob_id(&file);
    let mut resolver = Resolver::new(&keyring);
    resolver.insert(dkim(), id, &file);
    let text = format!(
        "a {} b {} c {}",
        placeholder(&dkim(), &id),
        escaped(&dkim(), &id, Escape::Quoted),
        escaped(&dkim(), &id, Escape::Fetchmail)
    );
    assert_eq!(references(&text).unwrap().len(), 3);
    let filled = fill(&text, |r, i| resolver.resolve(r, i)).unwrap();
    assert_eq!(filled, "a p\"w\nd b p\\\"w\\nd c p\\x22w\\x0ad");

    let bad = format!("@@mailu-secret:dkim/example.com:{id}:sql@@");
    let err = references(&bad).unwrap_err();
    assert!(
        err.to_string().contains("`sql` is not an escape mode"),
        "{err}"
    );

    let nul = keyring.encrypt(b"a\0b").unwrap();
    let nul_id = blob_id(&nul);
    let mut resolver = Resolver::new(&keyring);
    resolver.insert(dkim(), nul_id, &nul);
    let err = fill(&escaped(&dkim(), &nul_id, Escape::Quoted), |r, i| {
        resolver.resolve(r, i)
    })
    .unwrap_err();
    assert!(err.to_string().contains("dkim/example.com"), "{err}");
    assert!(err.to_string().contains("NUL"), "{err}");
}
