//! The access-token file (`<data>/access-tokens.json`): token hashes with their names and scopes, the
//! key service tokens are derived from, and each service's generation. Written atomically (temporary
//! file, fsync, rename, directory fsync) with mode 0600, so a crash leaves the old or the new file.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::{Error, Scope, generate, hash};
use crate::model::ServiceName;

/// One stored access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub scope: Scope,
    /// SHA-256 of the token, hex.
    pub sha256: String,
    /// When it was created, RFC 3339.
    pub created: String,
}

#[derive(Serialize, Deserialize)]
struct RawEntry {
    name: String,
    scope: String,
    sha256: String,
    created: String,
}

#[derive(Serialize, Deserialize)]
struct Raw {
    format: u32,
    service_key: String,
    #[serde(default)]
    service_generations: BTreeMap<String, u64>,
    #[serde(default)]
    tokens: Vec<RawEntry>,
}

/// The access tokens of one data directory, in memory.
#[derive(Debug, Clone)]
pub struct TokenFile {
    path: PathBuf,
    service_key: Vec<u8>,
    generations: BTreeMap<ServiceName, u64>,
    entries: Vec<Entry>,
}

impl TokenFile {
    /// Loads the file at `path`, or starts an empty one (with a new service key) if it does not exist.
    /// Nothing is written until [`TokenFile::save`].
    pub fn load(path: &Path) -> Result<TokenFile, Error> {
        let corrupt = |reason: String| Error::Corrupt {
            path: path.to_owned(),
            reason,
        };
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = vec![0u8; 32];
                rand::rng().fill_bytes(&mut key);
                return Ok(TokenFile {
                    path: path.to_owned(),
                    service_key: key,
                    generations: BTreeMap::new(),
                    entries: Vec::new(),
                });
            }
            Err(source) => {
                return Err(Error::Io {
                    action: "read",
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let raw: Raw = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        if raw.format != 1 {
            return Err(corrupt(format!(
                "format {} is not supported (this version reads format 1)",
                raw.format
            )));
        }
        let service_key =
            hex::decode(&raw.service_key).map_err(|e| corrupt(format!("service_key: {e}")))?;
        let mut generations = BTreeMap::new();
        for (name, generation) in raw.service_generations {
            let service = ServiceName::parse(&name).map_err(|e| corrupt(e.0))?;
            generations.insert(service, generation);
        }
        let mut entries = Vec::new();
        for e in raw.tokens {
            let scope = Scope::parse(&e.scope).map_err(|err| corrupt(err.to_string()))?;
            entries.push(Entry {
                name: e.name,
                scope,
                sha256: e.sha256,
                created: e.created,
            });
        }
        Ok(TokenFile {
            path: path.to_owned(),
            service_key,
            generations,
            entries,
        })
    }

    /// Writes the file atomically and durably.
    pub fn save(&self) -> Result<(), Error> {
        let raw = Raw {
            format: 1,
            service_key: hex::encode(&self.service_key),
            service_generations: self
                .generations
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            tokens: self
                .entries
                .iter()
                .map(|e| RawEntry {
                    name: e.name.clone(),
                    scope: e.scope.to_string(),
                    sha256: e.sha256.clone(),
                    created: e.created.clone(),
                })
                .collect(),
        };
        let io = |action: &'static str, path: &Path| {
            let path = path.to_owned();
            move |source| Error::Io {
                action,
                path,
                source,
            }
        };
        let mut text = serde_json::to_string_pretty(&raw).map_err(|e| Error::Corrupt {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        text.push('\n');
        let tmp = self.path.with_extension("json.tmp");
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io("write", &tmp))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io("write", &tmp))?;
        fs::rename(&tmp, &self.path).map_err(io("replace", &self.path))?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io("sync", dir))?;
        Ok(())
    }

    /// Creates a token and returns its plaintext (shown once). Names are unique.
    pub fn create(&mut self, name: &str, scope: Scope) -> Result<String, Error> {
        check_name(name)?;
        if self.entries.iter().any(|e| e.name == name) {
            return Err(Error::Exists(name.to_owned()));
        }
        let token = generate();
        self.entries.push(Entry {
            name: name.to_owned(),
            scope,
            sha256: hash(&token),
            created: now(),
        });
        Ok(token)
    }

    /// Sets the token named `name` to `token` (given from outside, e.g. `MAILU_GIT_ADMIN_TOKEN`),
    /// replacing the stored hash if the name exists. Returns whether anything changed.
    pub fn put(&mut self, name: &str, scope: Scope, token: &str) -> Result<bool, Error> {
        check_name(name)?;
        let sha256 = hash(token);
        if let Some(e) = self.entries.iter_mut().find(|e| e.name == name) {
            let changed = e.sha256 != sha256 || e.scope != scope;
            e.sha256 = sha256;
            e.scope = scope;
            return Ok(changed);
        }
        self.entries.push(Entry {
            name: name.to_owned(),
            scope,
            sha256,
            created: now(),
        });
        Ok(true)
    }

    pub fn revoke(&mut self, name: &str) -> Result<(), Error> {
        let before = self.entries.len();
        self.entries.retain(|e| e.name != name);
        if self.entries.len() == before {
            return Err(Error::NoSuchToken(name.to_owned()));
        }
        Ok(())
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(super) fn find_hash(&self, sha256: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.sha256 == sha256)
    }

    pub(super) fn service_key(&self) -> &[u8] {
        &self.service_key
    }

    pub fn service_generation(&self, service: &ServiceName) -> u64 {
        self.generations.get(service).copied().unwrap_or(1)
    }

    /// The current token of `service`.
    pub fn service_token(&self, service: &ServiceName) -> String {
        super::service_token(&self.service_key, service, self.service_generation(service))
    }

    /// Invalidates the service's token; the next one is derived from a new generation.
    pub fn rotate_service(&mut self, service: &ServiceName) -> String {
        let next = self.service_generation(service) + 1;
        self.generations.insert(service.clone(), next);
        self.service_token(service)
    }
}

fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty()
        || name.chars().count() > 64
        || name.chars().any(char::is_control)
        || name.trim() != name
    {
        return Err(Error::BadName(name.to_owned()));
    }
    Ok(())
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_save_load_authenticate_revoke() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("access-tokens.json");
        let mut file = TokenFile::load(&path).unwrap();
        let admin = file.create("alice", Scope::Admin).unwrap();
        let read = file.create("monitoring", Scope::Read).unwrap();
        assert!(matches!(
            file.create("alice", Scope::Read),
            Err(Error::Exists(_))
        ));
        file.save().unwrap();
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&fs::metadata(&path).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600);
        assert!(
            !fs::read_to_string(&path).unwrap().contains(&admin),
            "the plaintext must not be stored"
        );

        let mut file = TokenFile::load(&path).unwrap();
        assert_eq!(file.authenticate(&admin).unwrap().name, "alice");
        assert_eq!(file.authenticate(&read).unwrap().scope, Scope::Read);
        assert!(file.authenticate("mgit_wrong").is_none());
        file.revoke("alice").unwrap();
        assert!(file.authenticate(&admin).is_none());
        assert!(matches!(file.revoke("alice"), Err(Error::NoSuchToken(_))));
    }

    #[test]
    fn put_replaces_the_hash_of_an_env_token() {
        let tmp = tempfile::tempdir().unwrap();
        let mut file = TokenFile::load(&tmp.path().join("t.json")).unwrap();
        assert!(file.put("env-admin", Scope::Admin, "first-secret").unwrap());
        assert!(!file.put("env-admin", Scope::Admin, "first-secret").unwrap());
        assert!(
            file.put("env-admin", Scope::Admin, "second-secret")
                .unwrap()
        );
        assert!(file.authenticate("first-secret").is_none());
        assert_eq!(
            file.authenticate("second-secret").unwrap().scope,
            Scope::Admin
        );
    }

    #[test]
    fn service_tokens_are_derived_scoped_and_rotatable() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("t.json");
        let file = TokenFile::load(&path).unwrap();
        let smtp = ServiceName::parse("smtp").unwrap();
        let imap = ServiceName::parse("imap").unwrap();
        let token = file.service_token(&smtp);
        assert_eq!(
            file.authenticate(&token).unwrap().scope,
            Scope::Service(smtp.clone())
        );
        assert_ne!(token, file.service_token(&imap));
        // A token of one service relabelled as another does not verify.
        let forged = token.replace("_smtp_", "_imap_");
        assert!(file.authenticate(&forged).is_none());
        file.save().unwrap();
        let mut file = TokenFile::load(&path).unwrap();
        assert_eq!(
            file.service_token(&smtp),
            token,
            "derivation survives a restart"
        );
        let rotated = file.rotate_service(&smtp);
        assert!(file.authenticate(&token).is_none());
        assert!(file.authenticate(&rotated).is_some());
    }

    #[test]
    fn service_token_whose_mac_holds_an_underscore_verifies() {
        // Regression: the token was split at its last `_`, which base64url MACs may contain.
        let tmp = tempfile::tempdir().unwrap();
        let mut file = TokenFile::load(&tmp.path().join("t.json")).unwrap();
        let smtp = ServiceName::parse("smtp").unwrap();
        let mut token = file.service_token(&smtp);
        while !token["mgit_svc_smtp_".len()..].contains('_') {
            token = file.rotate_service(&smtp);
        }
        assert_eq!(
            file.authenticate(&token).unwrap().scope,
            Scope::Service(smtp)
        );
    }
}
