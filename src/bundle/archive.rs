//! Building one service's bundle: a tar archive (ustar) of its rendered files, paths relative to the
//! container's `/` (`/etc/postfix/main.cf` is `etc/postfix/main.cf`), secrets filled, owner and mode
//! from the service file, and first the manifest `.mailu-bundle/` the entrypoint reads:
//!
//! - `info`: shell assignments `MAILU_BUNDLE_SERVICE`, `MAILU_BUNDLE_ETAG` (the token, unquoted),
//!   `MAILU_BUNDLE_VERSION` (the deployed version the bundle was built at; later versions that leave
//!   the service alone serve the same bytes).
//! - `files`: one line per file, `<mode> <owner> <path>` (mode octal, owner `user[:group]` names or
//!   numeric ids as the service file writes them, path relative to `/`, may hold spaces).
//! - `pre-start`: a shell script running the service's `pre_start` commands in order, each by
//!   `sh -c`, stopping at the first failure.
//! - `reload`: a shell script that `exec`s the reload command (empty when the service has none).
//! - `reload-paths`: the reload's paths and globs, one a line.
//! - `env`: the service's secret environment variables (`{ secret = "kind/name" }`), as
//!   `export NAME='value'` lines the entrypoint sources before it `exec`s the command (mode 0600).
//!   Plain variables stay in the container's configuration; secret ones only travel here, so
//!   neither the worker nor `docker inspect` ever holds them.
//!
//! Entries carry fixed times (0) and the owner and mode also in their headers, so equal content gives
//! equal bytes. No directory entries: the entrypoint creates missing parents as root, mode 0755.

use std::collections::{BTreeSet, HashMap};

use secrecy::ExposeSecret;
use zeroize::Zeroizing;

use super::{Error, Etag, etag, rendered_dir, secret_ids};
use crate::model::service::{EnvValue, FileMode, Service, glob};
use crate::model::{RepoPath, SecretRef, ServiceName};
use crate::secret::{self, Keyring, Resolver, SecretBytes};
use crate::store::Snapshot;

/// The manifest's directory at the archive's root.
pub const MANIFEST_DIR: &str = ".mailu-bundle";

/// A built bundle.
#[derive(Debug)]
pub struct Built {
    pub etag: Etag,
    /// The secrets the files reference, sorted, each once.
    pub references: Vec<SecretRef>,
    pub bytes: Vec<u8>,
}

/// Owner and mode of a file at `path` (absolute): the first matching `files` entry, else root:root
/// 0644.
pub fn mode_of<'a>(service: &'a Service, path: &str) -> (&'a str, u32) {
    service
        .files
        .iter()
        .find(|f| glob::matches(&f.path, path))
        .map(|f: &FileMode| (f.owner.as_str(), f.bits().unwrap_or(0o644)))
        .unwrap_or(("root:root", 0o644))
}

/// Builds `name`'s bundle at `snapshot`. Blocking; reads every rendered file of the service.
pub fn build(
    snapshot: &Snapshot,
    name: &ServiceName,
    service: &Service,
    keyring: &Keyring,
    version: u64,
) -> Result<Built, Error> {
    let dir = rendered_dir(name)?;
    let rendered = snapshot.tree_id(&dir)?;
    let service_blob = snapshot
        .blob_id(&RepoPath::service(name))?
        .ok_or_else(|| Error::UnknownService(name.to_string()))?;
    let prefix = format!("{}/", dir.as_str());
    let mut files = Vec::new();
    let mut references = BTreeSet::new();
    for (path, _) in snapshot.list(&dir)? {
        let rel = path.as_str()[prefix.len()..].to_owned();
        if rel == MANIFEST_DIR || rel.starts_with(&format!("{MANIFEST_DIR}/")) {
            return Err(Error::Reserved { file: path });
        }
        let bytes = snapshot.read(&path)?.unwrap_or_default();
        let has = bytes
            .windows(secret::PLACEHOLDER_PREFIX.len())
            .any(|w| w == secret::PLACEHOLDER_PREFIX.as_bytes());
        if has {
            let text =
                std::str::from_utf8(&bytes).map_err(|_| Error::NotText { file: path.clone() })?;
            let found = secret::references(text).map_err(|source| Error::Secret {
                file: path.clone(),
                source,
            })?;
            references.extend(found.into_iter().map(|(r, _)| r));
        }
        files.push((path, rel, bytes, has));
    }
    // Secret environment values are read like a file's placeholders, at the secret's current blob.
    let env_secrets: Vec<(&String, &SecretRef)> = service
        .env
        .iter()
        .filter_map(|(key, value)| match value {
            EnvValue::Secret(r) => Some((key, r)),
            EnvValue::Plain(_) => None,
        })
        .collect();
    references.extend(env_secrets.iter().map(|(_, r)| (*r).clone()));
    let references: Vec<SecretRef> = references.into_iter().collect();
    let ids = secret_ids(snapshot, &references)?;
    let etag = etag(name, rendered, service_blob, &ids);

    // Only the secrets these files reference are read and decrypted, each once.
    let mut encrypted = HashMap::new();
    for (secret, id) in &ids {
        if let Some(id) = id {
            let path =
                RepoPath::secret(&secret.kind, &secret.name).map_err(crate::store::Error::from)?;
            if let Some(bytes) = snapshot.read(&path)? {
                encrypted.insert(secret.clone(), (*id, bytes));
            }
        }
    }
    let mut resolver = Resolver::new(keyring);
    for (secret, (id, bytes)) in &encrypted {
        resolver.insert(secret.clone(), *id, bytes);
    }
    // Each secret is decrypted once per build; the copies are wiped when dropped.
    let mut plain: HashMap<(SecretRef, gix::ObjectId), SecretBytes> = HashMap::new();

    let mut tar = tar::Builder::new(Vec::new());
    let manifest = manifest(name, service, &etag, version, &files);
    for (file, content) in &manifest {
        append(
            &mut tar,
            &format!("{MANIFEST_DIR}/{file}"),
            content.as_bytes(),
            "root:root",
            0o644,
        )?;
    }
    let env = env_file(name, &env_secrets, &ids, &resolver)?;
    append(
        &mut tar,
        &format!("{MANIFEST_DIR}/env"),
        env.as_bytes(),
        "root:root",
        0o600,
    )?;
    drop(env);
    for (path, rel, bytes, has) in &files {
        let abs = format!("/{rel}");
        let (owner, mode) = mode_of(service, &abs);
        if *has {
            let text =
                std::str::from_utf8(bytes).map_err(|_| Error::NotText { file: path.clone() })?;
            let filled = secret::fill(text, |r, id| {
                let key = (r.clone(), *id);
                if let Some(v) = plain.get(&key) {
                    return Ok(SecretBytes::from(v.expose_secret().to_vec()));
                }
                let value = resolver.resolve(r, id)?;
                let copy = SecretBytes::from(value.expose_secret().to_vec());
                plain.insert(key, value);
                Ok(copy)
            })
            .map_err(|source| Error::Secret {
                file: path.clone(),
                source,
            })?;
            append(&mut tar, rel, filled.as_bytes(), owner, mode)?;
        } else {
            append(&mut tar, rel, bytes, owner, mode)?;
        }
    }
    drop(plain);
    let bytes = tar.into_inner().map_err(Error::Archive)?;
    Ok(Built {
        etag,
        references,
        bytes,
    })
}

/// The `env` file: one `export NAME='value'` line per secret environment variable, its value
/// decrypted at the secret's current blob. A secret that does not exist, is not UTF-8 or holds a
/// NUL byte (which no environment can carry) fails the bundle, naming the variable.
fn env_file(
    name: &ServiceName,
    env: &[(&String, &SecretRef)],
    ids: &[(SecretRef, Option<gix::ObjectId>)],
    resolver: &Resolver<'_>,
) -> Result<Zeroizing<String>, Error> {
    let mut out = Zeroizing::new(String::new());
    for (key, secret) in env {
        let fail = |problem: String| Error::EnvSecret {
            service: name.clone(),
            var: (*key).clone(),
            secret: (*secret).clone(),
            problem,
        };
        let id = ids
            .iter()
            .find(|(r, _)| r == *secret)
            .and_then(|(_, id)| *id)
            .ok_or_else(|| fail("the secret does not exist at the deployed version".into()))?;
        let value = resolver
            .resolve(secret, &id)
            .map_err(|e| fail(e.to_string()))?;
        let text = std::str::from_utf8(value.expose_secret())
            .map_err(|_| fail("the value is not UTF-8 text".into()))?;
        if text.contains('\0') {
            return Err(fail(
                "the value holds a NUL byte, which an environment cannot carry".into(),
            ));
        }
        let line = Zeroizing::new(format!(
            "export {key}={}\n",
            Zeroizing::new(quote(text)).as_str()
        ));
        out.push_str(&line);
    }
    Ok(out)
}

/// The manifest's files, in archive order.
fn manifest(
    name: &ServiceName,
    service: &Service,
    etag: &Etag,
    version: u64,
    files: &[(RepoPath, String, Vec<u8>, bool)],
) -> Vec<(&'static str, String)> {
    let info = format!(
        "MAILU_BUNDLE_SERVICE={}\nMAILU_BUNDLE_ETAG={}\nMAILU_BUNDLE_VERSION={version}\n",
        quote(name.as_str()),
        quote(etag.as_str()),
    );
    let mut list = String::new();
    for (_, rel, _, _) in files {
        let (owner, mode) = mode_of(service, &format!("/{rel}"));
        list.push_str(&format!("{mode:04o} {owner} {rel}\n"));
    }
    let mut pre_start = String::from(
        "# The service's pre_start commands, in order; the first failure stops.\nset -e\n",
    );
    for cmd in &service.pre_start {
        pre_start.push_str(&format!("sh -c {}\n", quote(cmd)));
    }
    let (reload, paths) = match &service.reload {
        Some(r) => (
            format!(
                "exec {}\n",
                r.command
                    .iter()
                    .map(|a| quote(a))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            r.paths.iter().map(|p| format!("{p}\n")).collect(),
        ),
        None => (String::new(), String::new()),
    };
    vec![
        ("info", info),
        ("files", list),
        ("pre-start", pre_start),
        ("reload", reload),
        ("reload-paths", paths),
    ]
}

/// `s` as one shell word (single quotes; a `'` becomes `'\''`).
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn append(
    tar: &mut tar::Builder<Vec<u8>>,
    path: &str,
    bytes: &[u8],
    owner: &str,
    mode: u32,
) -> Result<(), Error> {
    let (user, group) = owner.split_once(':').unwrap_or((owner, "root"));
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(mode);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    // Numeric owners go in the id fields; names in the name fields, resolved by the container.
    header.set_uid(user.parse().unwrap_or(0));
    header.set_gid(group.parse().unwrap_or(0));
    if user.parse::<u64>().is_err() {
        header.set_username(user).map_err(Error::Archive)?;
    }
    if group.parse::<u64>().is_err() {
        header.set_groupname(group).map_err(Error::Archive)?;
    }
    tar.append_data(&mut header, path, bytes)
        .map_err(Error::Archive)
}
