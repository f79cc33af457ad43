//! Archive checks that need no server: names, checksums, truncation, formats. The whole path
//! (a running server, restore, the restored server) is tested in `tests/it/backup.rs`.

use super::restore::{Problem, check_archive};
use super::*;

/// An archive written the way `write` writes one, from a staging directory of `files`.
fn archive(files: &[(&str, &[u8])], with_key: bool) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in files {
        let path = dir.path().join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    }
    let staged = Staged {
        dir,
        manifest: Manifest {
            format: FORMAT,
            mailu_git: "test".into(),
            created: 0,
            main: "0".repeat(40),
            version: 1,
            held: None,
            secret_key: with_key,
            recipients: vec![],
        },
    };
    let mut out = Vec::new();
    let bytes = write(&staged, &mut out).unwrap();
    assert_eq!(bytes, out.len() as u64);
    out
}

fn problem(result: Result<Manifest, Error>) -> Problem {
    match result {
        Err(Error::Restore(p)) => p,
        other => panic!("expected a problem, got {other:?}"),
    }
}

#[test]
fn a_whole_archive_checks() {
    let bytes = archive(
        &[
            ("config.git/HEAD", b"ref: refs/heads/main\n"),
            ("access-tokens.json", b"{}"),
        ],
        false,
    );
    let manifest = check_archive(bytes.as_slice()).unwrap();
    assert_eq!(manifest.version, 1);
}

#[test]
fn a_truncated_archive_is_refused() {
    let bytes = archive(
        &[("config.git/objects/pack/p.pack", &[7u8; 100_000])],
        false,
    );
    for cut in [bytes.len() / 2, bytes.len() - 2048] {
        let p = problem(check_archive(&bytes[..cut]));
        assert!(matches!(p, Problem::Truncated), "cut at {cut}: {p}");
    }
}

#[test]
fn a_changed_byte_is_refused_naming_the_file() {
    let mut bytes = archive(&[("config.git/config", b"[core]\n\tbare = true\n")], false);
    let at = bytes
        .windows(4)
        .position(|w| w == b"bare")
        .expect("the file's content is in the archive");
    bytes[at] = b'c';
    let p = problem(check_archive(bytes.as_slice()));
    assert!(
        matches!(&p, Problem::Checksum(n) if n == "config.git/config"),
        "{p}"
    );
}

#[test]
fn entries_outside_a_backup_are_refused() {
    for name in [
        "../evil",
        "/etc/passwd",
        "config.git/../../x",
        "other/file",
        "secret.key",
        "config.git",
    ] {
        assert!(
            matches!(
                restore::check_name_for_test(name, false),
                Err(Error::Restore(Problem::BadEntry(_)))
            ),
            "{name} was accepted"
        );
    }
    restore::check_name_for_test("secret.key", true).unwrap();
    restore::check_name_for_test("config.git/objects/ab/cdef", false).unwrap();
    restore::check_name_for_test("journal/0001.log", false).unwrap();
}

#[test]
fn a_newer_format_names_the_version_that_reads_it() {
    let mut tar = tar::Builder::new(Vec::new());
    let text = "format = 9\nmailu_git = \"7.0.0\"\nsomething_new = 1\n";
    append_bytes(&mut tar, MANIFEST, text.as_bytes(), 0o600).unwrap();
    let bytes = tar.into_inner().unwrap();
    let p = problem(check_archive(bytes.as_slice()));
    assert!(p.to_string().contains("mailu-git 7.0.0"), "{p}");
}

#[test]
fn something_else_is_not_a_backup() {
    let mut tar = tar::Builder::new(Vec::new());
    append_bytes(&mut tar, "hello.txt", b"hi", 0o600).unwrap();
    let bytes = tar.into_inner().unwrap();
    assert!(matches!(
        problem(check_archive(bytes.as_slice())),
        Problem::NotABackup
    ));
    assert!(matches!(
        problem(check_archive(&b"not a tar at all"[..])),
        Problem::NotABackup
    ));
}
