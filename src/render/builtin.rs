//! The built-in templates, embedded from the project's `templates/` folder, and the renderer's
//! stamp: the crate version and a hash of every built-in file, so a binary whose templates differ
//! renders every version again (`Mailu-Renderer`).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use super::manifest::Manifest;

#[derive(rust_embed::RustEmbed)]
#[folder = "templates/"]
struct Embedded;

/// The built-in templates: each service's manifest and template sources.
#[derive(Debug)]
pub struct Builtins {
    /// Service name → its manifest.
    pub manifests: BTreeMap<String, Manifest>,
    /// `<service>/<file>` → source.
    sources: BTreeMap<String, String>,
    stamp: String,
}

/// The built-ins of this binary (parsed once; a bad manifest is a build defect, caught by tests).
pub fn builtins() -> &'static Builtins {
    static BUILTINS: OnceLock<Builtins> = OnceLock::new();
    BUILTINS.get_or_init(|| match Builtins::load() {
        Ok(b) => b,
        Err(e) => panic!("the built-in templates are broken: {e}"),
    })
}

impl Builtins {
    fn load() -> Result<Builtins, String> {
        let mut sources = BTreeMap::new();
        for name in Embedded::iter() {
            let file = Embedded::get(&name).ok_or_else(|| format!("{name} vanished"))?;
            let text = String::from_utf8(file.data.into_owned())
                .map_err(|_| format!("templates/{name} is not UTF-8"))?;
            sources.insert(name.to_string(), text);
        }
        Builtins::from_sources(sources)
    }

    /// Built-ins from `<service>/<file>` → source (the embedded ones, or a test's).
    pub fn from_sources(sources: BTreeMap<String, String>) -> Result<Builtins, String> {
        let mut hash = Sha256::new();
        for (name, text) in &sources {
            hash.update(name.as_bytes());
            hash.update([0]);
            hash.update(text.as_bytes());
            hash.update([0]);
        }
        let mut manifests = BTreeMap::new();
        for (name, text) in &sources {
            if let Some(service) = name.strip_suffix("/manifest.toml") {
                let m = Manifest::parse(service, text)?;
                for f in &m.files {
                    if !sources.contains_key(&format!("{service}/{}", f.template)) {
                        return Err(format!(
                            "templates/{service}/manifest.toml names {}, which does not exist",
                            f.template
                        ));
                    }
                }
                manifests.insert(service.to_owned(), m);
            }
        }
        let digest = hash.finalize();
        let stamp = format!(
            "{}-{}",
            env!("CARGO_PKG_VERSION"),
            hex::encode(&digest[..4])
        );
        Ok(Builtins {
            manifests,
            sources,
            stamp,
        })
    }

    /// The source of built-in `<service>/<file>`.
    pub fn source(&self, name: &str) -> Option<&str> {
        self.sources.get(name).map(String::as_str)
    }

    /// This renderer's `Mailu-Renderer` stamp: `<version>-<hash of the built-in templates>`.
    pub fn stamp(&self) -> &str {
        &self.stamp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_load_and_stamp_is_one_word() {
        let b = builtins();
        assert!(b.stamp().starts_with(env!("CARGO_PKG_VERSION")));
        assert!(!b.stamp().contains(char::is_whitespace));
    }
}
