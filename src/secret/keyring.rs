//! [`Keyring`]: the server's age identities, read from a key file outside the repository, and key
//! rotation. The file is an ordinary age identity file (what `age-keygen` writes), so the `age` tool
//! can decrypt a secret with it in an emergency.
//!
//! The first identity in the file is the current one: new secrets are encrypted to it. Every identity
//! decrypts, so a secret written before a rotation (still present in old versions, which a revert may
//! bring back) stays readable until the operator drops the old identity.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use age::x25519;
use secrecy::ExposeSecret;

use super::{Error, SecretBytes, decrypt_with, encrypt, secret_ref};
use crate::model::RepoPath;

/// The key file's name in the data dir.
pub const KEY_FILE: &str = "secret.key";

/// The server's age identities; the first is current. Debug output shows only public recipients.
pub struct Keyring {
    identities: Vec<x25519::Identity>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("recipients", &self.recipients())
            .finish()
    }
}

impl Keyring {
    /// The key file's path in a data dir.
    pub fn default_path(data_dir: &Path) -> PathBuf {
        data_dir.join(KEY_FILE)
    }

    /// Creates a key file with one new identity (mode 0600). Refuses to replace an existing file:
    /// losing the key loses every secret.
    pub fn generate(path: &Path) -> Result<Keyring, Error> {
        let keyring = Keyring {
            identities: vec![x25519::Identity::generate()],
        };
        write_key_file(path, &keyring.identities, false)?;
        Ok(keyring)
    }

    /// Reads a key file. Refuses a file that group or others can read, and one without identities.
    pub fn load(path: &Path) -> Result<Keyring, Error> {
        let read_err = |source| Error::KeyFileRead {
            path: path.to_owned(),
            source,
        };
        // The mode is checked on the open file, and the text read from that same file, so a file
        // swapped in between cannot slip past the check.
        let mut file = File::open(path).map_err(read_err)?;
        let mode = file.metadata().map_err(read_err)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(Error::KeyFileMode {
                path: path.to_owned(),
                mode: mode & 0o7777,
            });
        }
        let mut text = String::new();
        let read = file.read_to_string(&mut text);
        let text = secrecy::SecretString::from(text);
        read.map_err(read_err)?;
        let mut identities = Vec::new();
        for (index, line) in text.expose_secret().lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let identity =
                line.parse::<x25519::Identity>()
                    .map_err(|reason| Error::KeyFileInvalid {
                        path: path.to_owned(),
                        line: index + 1,
                        reason: format!("not an AGE-SECRET-KEY-1... identity ({reason})"),
                    })?;
            identities.push(identity);
        }
        if identities.is_empty() {
            return Err(Error::KeyFileEmpty {
                path: path.to_owned(),
            });
        }
        Ok(Keyring { identities })
    }

    /// Loads the key file, or creates it if it does not exist yet (the first start of a server).
    pub fn load_or_generate(path: &Path) -> Result<Keyring, Error> {
        match Keyring::load(path) {
            Err(Error::KeyFileRead { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Keyring::generate(path)
            }
            other => other,
        }
    }

    /// Adds a new current identity to the key file, keeping the old ones so old secrets still
    /// decrypt. The file is replaced atomically. Follow with [`Keyring::reencrypt`] so the newest
    /// version needs only the new identity.
    pub fn rotate(path: &Path) -> Result<Keyring, Error> {
        let old = Keyring::load(path)?;
        let mut identities = vec![x25519::Identity::generate()];
        identities.extend(old.identities);
        write_key_file(path, &identities, true)?;
        Ok(Keyring { identities })
    }

    /// The current recipient (`age1...`): what the server publishes so operators can encrypt a secret
    /// for a push without holding the server's key.
    pub fn recipient(&self) -> String {
        self.current().to_public().to_string()
    }

    /// Every identity's recipient, current first.
    pub fn recipients(&self) -> Vec<String> {
        self.identities
            .iter()
            .map(|i| i.to_public().to_string())
            .collect()
    }

    fn current(&self) -> &x25519::Identity {
        self.identities
            .first()
            .expect("a keyring always holds an identity: load and generate refuse an empty one")
    }

    /// Encrypts to the current identity: the bytes of a new secret file.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, Error> {
        encrypt(&[self.current().to_public()], plaintext)
    }

    /// Decrypts a secret file with any of the identities.
    pub fn decrypt(&self, file: &[u8]) -> Result<SecretBytes, Error> {
        decrypt_with(self.identities.iter().map(|i| i as _), file)
    }

    /// After a rotation: given the secret files of the newest version, returns the files that must
    /// be re-encrypted to the current identity, with their new bytes, as edits for one version. Files
    /// the current identity already decrypts are left alone, so running this twice changes nothing.
    pub fn reencrypt<'a>(
        &self,
        files: impl IntoIterator<Item = (&'a RepoPath, &'a [u8])>,
    ) -> Result<Vec<(RepoPath, Vec<u8>)>, Error> {
        let current: &dyn age::Identity = self.current();
        let mut edits = Vec::new();
        for (path, bytes) in files {
            let secret = secret_ref(path)?;
            match decrypt_with(std::iter::once(current), bytes) {
                Ok(_) => continue,
                Err(Error::NotForThisServer) => {}
                Err(e) => {
                    return Err(Error::In {
                        secret,
                        source: Box::new(e),
                    });
                }
            }
            let plain = self.decrypt(bytes).map_err(|e| Error::In {
                secret: secret.clone(),
                source: Box::new(e),
            })?;
            edits.push((path.clone(), self.encrypt(plain.expose_secret())?));
        }
        Ok(edits)
    }
}

/// Writes the identities to `path` with mode 0600, durably and atomically: a temporary file in the
/// same directory, fsynced, then linked (new file) or renamed (replace) into place, then the
/// directory fsynced. A crash leaves either the old file or the new one, never a torn key.
fn write_key_file(
    path: &Path,
    identities: &[x25519::Identity],
    replace: bool,
) -> Result<(), Error> {
    let write_err = |source| Error::KeyFileWrite {
        path: path.to_owned(),
        source,
    };
    if !replace && path.exists() {
        return Err(Error::KeyFileExists {
            path: path.to_owned(),
        });
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map_or_else(|| KEY_FILE.into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut text = String::from(
        "# mailu-git secret key (an age identity file). The first identity encrypts new secrets;\n\
         # every identity decrypts. Keep this file private (mode 0600) and backed up: without it\n\
         # the secrets in the repository cannot be read.\n",
    );
    let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for (i, identity) in identities.iter().enumerate() {
        if i == 0 {
            text.push_str(&format!("# current, written {created}\n"));
        }
        text.push_str(&format!("# public key: {}\n", identity.to_public()));
        text.push_str(identity.to_string().expose_secret());
        text.push('\n');
    }
    let text = secrecy::SecretString::from(text);
    let result = (|| {
        let _ = fs::remove_file(&tmp);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(text.expose_secret().as_bytes())?;
        file.sync_all()?;
        if replace {
            fs::rename(&tmp, path)?;
        } else {
            // A hard link fails if `path` appeared meanwhile, where a rename would replace it.
            fs::hard_link(&tmp, path)?;
            fs::remove_file(&tmp)?;
        }
        File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::KeyFileExists {
                path: path.to_owned(),
            }
        } else {
            write_err(e)
        }
    })
}
