//! Secrets as an operator handles them: encrypt for the server's recipient, commit by git, rotate the
//! key offline; the age tool (what operators use) decrypts with the server's key file before and after.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::{TestServer, git, have_tool, mailu_git};

fn age_decrypt(key: &std::path::Path, ciphertext: &[u8]) -> String {
    let mut child = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(ciphertext).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "age -d failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn an_operator_encrypts_a_secret_commits_it_and_a_rotation_keeps_it_readable() {
    if !have_tool("git") || !have_tool("age") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    assert!(TestServer::start_on(&data).stop().success());
    let data_arg = data.to_str().unwrap();

    let out = mailu_git(&["secret", "recipient", "--data", data_arg], tmp.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recipient = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(recipient.starts_with("age1"), "{recipient}");

    let clone = tmp.path().join("clone");
    let repo = data.join("config.git");
    git(
        tmp.path(),
        &["clone", "-q", repo.to_str().unwrap(), "clone"],
    );
    let encrypt = Command::new(crate::support::bin())
        .args([
            "secret",
            "encrypt",
            "relay",
            "password",
            "--recipient",
            &recipient,
        ])
        .current_dir(&clone)
        .stdin(Stdio::piped())
        .output_with_stdin(b"s3cret-relay");
    assert!(
        encrypt.status.success(),
        "{}",
        String::from_utf8_lossy(&encrypt.stderr)
    );
    let written = std::fs::read(clone.join("secrets/relay/password")).unwrap();
    assert!(
        !String::from_utf8_lossy(&written).contains("s3cret-relay"),
        "the plaintext reached the file"
    );
    assert_eq!(
        age_decrypt(&data.join("secret.key"), &written),
        "s3cret-relay"
    );

    git(&clone, &["add", "secrets/relay/password"]);
    git(
        &clone,
        &[
            "-c",
            "user.name=op",
            "-c",
            "user.email=op@example.com",
            "commit",
            "-qm",
            "Relay password",
        ],
    );
    git(&clone, &["push", "-q", "origin", "main"]);

    let out = mailu_git(&["secret", "rotate", "--data", data_arg], tmp.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        // The relay password, the two secrets the server generated at first start and the key of
        // its self-signed certificate.
        stdout.contains("re-encrypted 4 secret(s) in version 2"),
        "{stdout}"
    );

    let rotated = git(&repo, &["show", "main:secrets/relay/password"]);
    assert_ne!(rotated.as_bytes(), written.as_slice());
    let key = data.join("secret.key");
    assert_eq!(age_decrypt(&key, rotated.as_bytes()), "s3cret-relay");
    // The version before the rotation stays readable: revert must keep working.
    let before = git(&repo, &["show", "main~1:secrets/relay/password"]);
    assert_eq!(age_decrypt(&key, before.as_bytes()), "s3cret-relay");
    let new_recipient = mailu_git(&["secret", "recipient", "--data", data_arg], tmp.path());
    assert_ne!(
        String::from_utf8_lossy(&new_recipient.stdout).trim(),
        recipient
    );

    // Each rotation makes a new current key, so the secret moves once more.
    let again = mailu_git(&["secret", "rotate", "--data", data_arg], tmp.path());
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("re-encrypted 4 secret(s) in version 3")
    );
    git(&repo, &["fsck", "--strict"]);

    // The rendered files name each secret's new blob: the rotation's version renders them too.
    let after = tmp.path().join("after");
    git(
        tmp.path(),
        &[
            "clone",
            "-q",
            repo.to_str().unwrap(),
            after.to_str().unwrap(),
        ],
    );
    let render = mailu_git(&["render", after.to_str().unwrap()], &after);
    let out = String::from_utf8_lossy(&render.stdout);
    assert!(out.contains(": 0 file(s) written, 0 removed"), "{out}");
}

/// Runs a command with `input` on its standard input.
trait OutputWithStdin {
    fn output_with_stdin(&mut self, input: &[u8]) -> std::process::Output;
}

impl OutputWithStdin for Command {
    fn output_with_stdin(&mut self, input: &[u8]) -> std::process::Output {
        let mut child = self
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    }
}

#[test]
fn encrypt_asks_the_running_server_for_its_recipient() {
    if !have_tool("age") {
        return;
    }
    let server = TestServer::start();
    let token = server
        .generated_admin_token()
        .expect("a first start prints the admin token");
    let work = tempfile::tempdir().unwrap();
    let out = Command::new(crate::support::bin())
        .args([
            "secret",
            "encrypt",
            "dkim",
            "example.com",
            "-o",
            "-",
            "--server",
            &server.url,
        ])
        .env("MAILU_GIT_TOKEN", &token)
        .env_remove("MAILU_GIT_DATA")
        .current_dir(work.path())
        .stdin(Stdio::piped())
        .output_with_stdin(b"-----BEGIN PRIVATE KEY-----");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        age_decrypt(&server.data.join("secret.key"), &out.stdout),
        "-----BEGIN PRIVATE KEY-----"
    );

    // A wrong token is refused with the server's own message, and nothing is written.
    let out = Command::new(crate::support::bin())
        .args([
            "secret",
            "encrypt",
            "dkim",
            "example.com",
            "--server",
            &server.url,
            "--token",
            "nope",
        ])
        .env_remove("MAILU_GIT_DATA")
        .current_dir(work.path())
        .stdin(Stdio::piped())
        .output_with_stdin(b"x");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("403"), "{stderr}");
    assert!(!work.path().join("secrets").exists());
}
