//! The Python client (`clients/python/mailu_git/`) as a wheel, built by this binary from sources
//! embedded at compile time: no pip, no PyPI, nothing read at run time. A wheel is a zip holding
//! the package and a `*.dist-info/` folder (`METADATA`, `WHEEL`, `RECORD` with the sha256 of every
//! file, PEP 427/376); its version is the crate's, in PEP 440 form. Entries are stored
//! uncompressed with a fixed date, so one binary always serves the same bytes. Not here: serving
//! it (`api/python.rs`).

use std::sync::OnceLock;

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The distribution's name (PyPI form) and its import package.
pub const NAME: &str = "mailu-git";
const PACKAGE: &str = "mailu_git";

/// The package's files: path in the wheel, content.
const SOURCES: &[(&str, &str)] = &[
    (
        "mailu_git/__init__.py",
        include_str!("../clients/python/mailu_git/__init__.py"),
    ),
    (
        "mailu_git/_client.py",
        include_str!("../clients/python/mailu_git/_client.py"),
    ),
    (
        "mailu_git/_errors.py",
        include_str!("../clients/python/mailu_git/_errors.py"),
    ),
    (
        "mailu_git/py.typed",
        include_str!("../clients/python/mailu_git/py.typed"),
    ),
];

/// A built wheel.
#[derive(Debug)]
pub struct Wheel {
    pub version: String,
    /// `mailu_git-<version>-py3-none-any.whl`.
    pub file_name: String,
    pub bytes: Vec<u8>,
    /// The hex sha256 of `bytes` (pip's `#sha256=` check).
    pub sha256: String,
}

/// The wheel of this binary's client, built once.
pub fn get() -> &'static Wheel {
    static WHEEL: OnceLock<Wheel> = OnceLock::new();
    WHEEL.get_or_init(|| build(env!("CARGO_PKG_VERSION")))
}

/// A semver version in PEP 440 form: `1.2.3-rc.1` → `1.2.3rc1`, `-alpha.N` → `aN`, `-beta.N` →
/// `bN`, any other pre-release → `.devN`; build metadata becomes a local version (`+abc.1`).
pub fn pep440(semver: &str) -> String {
    let (core, build) = match semver.split_once('+') {
        Some((c, b)) => (c, Some(b)),
        None => (semver, None),
    };
    let (release, pre) = match core.split_once('-') {
        Some((r, p)) => (r, Some(p)),
        None => (core, None),
    };
    let mut out = release.to_owned();
    if let Some(pre) = pre {
        let (label, number) = match pre.split_once('.') {
            Some((l, n)) => (l, n),
            None => {
                let digits = pre.trim_start_matches(|c: char| c.is_ascii_alphabetic());
                (&pre[..pre.len() - digits.len()], digits)
            }
        };
        let number: u64 = number.parse().unwrap_or(0);
        match label.to_ascii_lowercase().as_str() {
            "alpha" | "a" => out.push_str(&format!("a{number}")),
            "beta" | "b" => out.push_str(&format!("b{number}")),
            "rc" | "c" => out.push_str(&format!("rc{number}")),
            _ => out.push_str(&format!(".dev{number}")),
        }
    }
    if let Some(build) = build {
        let local: String = build
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '.'
                }
            })
            .collect();
        out.push('+');
        out.push_str(&local);
    }
    out
}

/// The wheel for crate version `semver`.
pub fn build(semver: &str) -> Wheel {
    let version = pep440(semver);
    let dist_info = format!("{PACKAGE}-{version}.dist-info");
    let mut files: Vec<(String, Vec<u8>)> = SOURCES
        .iter()
        .map(|(path, text)| {
            (
                path.to_string(),
                text.replace("@VERSION@", &version).into_bytes(),
            )
        })
        .collect();
    files.push((
        format!("{dist_info}/METADATA"),
        format!(
            "Metadata-Version: 2.1\nName: {NAME}\nVersion: {version}\n\
             Summary: A client of the mailu-git REST API (standard library only)\n\
             License: MIT\nRequires-Python: >=3.8\n\n\
             The Python client of mailu-git, served by the server at /api/v1/client/python.\n"
        )
        .into_bytes(),
    ));
    files.push((
        format!("{dist_info}/WHEEL"),
        format!(
            "Wheel-Version: 1.0\nGenerator: mailu-git {semver}\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        .into_bytes(),
    ));
    let mut record = String::new();
    for (path, content) in &files {
        let digest =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(content));
        record.push_str(&format!("{path},sha256={digest},{}\n", content.len()));
    }
    record.push_str(&format!("{dist_info}/RECORD,,\n"));
    files.push((format!("{dist_info}/RECORD"), record.into_bytes()));
    let bytes = zip(&files);
    Wheel {
        file_name: format!("{PACKAGE}-{version}-py3-none-any.whl"),
        sha256: hex::encode(Sha256::digest(&bytes)),
        version,
        bytes,
    }
}

/// A zip archive of `files`, stored (no compression), dated 1980-01-01 00:00.
fn zip(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    const DATE: u16 = 0x21; // 1980-01-01 in DOS form (day 1, month 1, year 0)
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (path, content) in files {
        let offset = u32::try_from(out.len()).expect("a wheel is far below 4 GiB");
        let crc = crc32fast::hash(content);
        let size = u32::try_from(content.len()).expect("a source file is far below 4 GiB");
        let name_len = u16::try_from(path.len()).expect("a path is short");
        let common = |buf: &mut Vec<u8>| {
            buf.extend_from_slice(&20u16.to_le_bytes()); // version needed: 2.0
            buf.extend_from_slice(&0x0800u16.to_le_bytes()); // flags: names are UTF-8
            buf.extend_from_slice(&0u16.to_le_bytes()); // method: stored
            buf.extend_from_slice(&0u16.to_le_bytes()); // time
            buf.extend_from_slice(&DATE.to_le_bytes());
            buf.extend_from_slice(&crc.to_le_bytes());
            buf.extend_from_slice(&size.to_le_bytes()); // compressed
            buf.extend_from_slice(&size.to_le_bytes()); // uncompressed
            buf.extend_from_slice(&name_len.to_le_bytes());
            buf.extend_from_slice(&0u16.to_le_bytes()); // extra length
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        common(&mut out);
        out.extend_from_slice(path.as_bytes());
        out.extend_from_slice(content);

        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&(0x0300u16 | 20).to_le_bytes()); // made by: unix, 2.0
        common(&mut central);
        central.extend_from_slice(&0u16.to_le_bytes()); // comment length
        central.extend_from_slice(&0u16.to_le_bytes()); // disk number
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        central.extend_from_slice(&(0o100_644u32 << 16).to_le_bytes()); // external: -rw-r--r--
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(path.as_bytes());
    }
    let central_offset = u32::try_from(out.len()).expect("a wheel is far below 4 GiB");
    let central_size = u32::try_from(central.len()).expect("a wheel is far below 4 GiB");
    let count = u16::try_from(files.len()).expect("a wheel has few files");
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // this disk
    out.extend_from_slice(&0u16.to_le_bytes()); // disk of the central directory
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&central_size.to_le_bytes());
    out.extend_from_slice(&central_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // comment length
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_take_pep_440_form() {
        assert_eq!(pep440("0.1.0"), "0.1.0");
        assert_eq!(pep440("1.2.3-rc.1"), "1.2.3rc1");
        assert_eq!(pep440("1.2.3-alpha.2"), "1.2.3a2");
        assert_eq!(pep440("1.2.3-beta"), "1.2.3b0");
        assert_eq!(pep440("1.2.3-pre.4"), "1.2.3.dev4");
        assert_eq!(pep440("1.2.3+Build_7"), "1.2.3+build.7");
    }

    #[test]
    fn the_wheel_is_the_same_bytes_each_time_and_names_its_version() {
        let a = build("1.2.3-rc.1");
        let b = build("1.2.3-rc.1");
        assert_eq!(a.bytes, b.bytes);
        assert_eq!(a.file_name, "mailu_git-1.2.3rc1-py3-none-any.whl");
        let text = String::from_utf8_lossy(&a.bytes);
        assert!(text.contains("__version__ = \"1.2.3rc1\""));
        assert!(text.contains("mailu_git-1.2.3rc1.dist-info/RECORD,,"));
        assert!(!text.contains("@VERSION@"));
    }
}
