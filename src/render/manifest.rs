//! `templates/<service>/manifest.toml`: which files a service gets, from which template, once or per
//! domain or user, and what each global file reads. The reads are what make rendering incremental: a
//! change re-renders only the files that read what it touched (and a file cannot see what it did not
//! declare, so the declaration cannot be wrong).

use serde::Deserialize;

/// The files of one service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(default, rename = "file")]
    pub files: Vec<FileSpec>,
}

/// One file of a service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// The template, a file of `templates/<service>/`.
    pub template: String,
    /// Where the file lands in the container; `{domain}` and `{localpart}` for per-domain and
    /// per-user files.
    pub path: String,
    #[serde(default)]
    pub per: Per,
    /// What a global file reads besides the settings.
    #[serde(default)]
    pub reads: Vec<Read>,
    /// An empty result means no file.
    #[serde(default)]
    pub skip_empty: bool,
}

/// How often a file is rendered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Per {
    /// Once.
    #[default]
    Service,
    /// Once per mail domain, seeing its users and aliases.
    Domain,
    /// Once per user, seeing its domain and itself.
    User,
}

/// What a global file may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Read {
    Domains,
    Relays,
    Services,
    Fetches,
    Secrets,
    MailuOverrides,
    /// The TLS certificate (`certificates/cert.pem`) and the placeholder of its key.
    Certificate,
}

impl Manifest {
    /// Parses a manifest and checks its paths and placeholders.
    pub fn parse(service: &str, text: &str) -> Result<Manifest, String> {
        let manifest: Manifest =
            toml::from_str(text).map_err(|e| format!("templates/{service}/manifest.toml: {e}"))?;
        for f in &manifest.files {
            let fail = |why: &str| {
                Err(format!(
                    "templates/{service}/manifest.toml: file `{}`: {why}",
                    f.path
                ))
            };
            if !f.path.starts_with('/') || f.path.contains("/../") || f.path.ends_with('/') {
                return fail("the path must be absolute and name a file");
            }
            let domain = f.path.contains("{domain}");
            let local = f.path.contains("{localpart}");
            match f.per {
                Per::Service if domain || local => {
                    return fail("only per-domain and per-user files have placeholders");
                }
                Per::Domain if !domain || local => {
                    return fail("needs {domain} (and no {localpart})");
                }
                Per::User if !domain || !local => return fail("needs {domain} and {localpart}"),
                _ => {}
            }
            if f.per != Per::Service && !f.reads.is_empty() {
                return fail("only global files declare reads");
            }
        }
        Ok(manifest)
    }
}

impl FileSpec {
    /// The container path for a domain and a localpart (file-name form).
    pub fn path_for(&self, domain: &str, local: &str) -> String {
        self.path
            .replace("{domain}", domain)
            .replace("{localpart}", local)
    }

    pub fn reads(&self, read: Read) -> bool {
        self.reads.contains(&read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_must_match_the_scope() {
        let bad = "[[file]]\ntemplate = \"a.j2\"\npath = \"/etc/a/{domain}\"\n";
        assert!(
            Manifest::parse("x", bad)
                .unwrap_err()
                .contains("placeholders")
        );
        let bad = "[[file]]\ntemplate = \"a.j2\"\npath = \"/etc/a\"\nper = \"domain\"\n";
        assert!(Manifest::parse("x", bad).unwrap_err().contains("{domain}"));
        let bad = "[[file]]\ntemplate = \"a.j2\"\npath = \"etc/a\"\n";
        assert!(Manifest::parse("x", bad).unwrap_err().contains("absolute"));
        let bad = "[[file]]\ntemplate = \"a.j2\"\npath = \"/a\"\nreads = [\"users\"]\n";
        assert!(Manifest::parse("x", bad).is_err());
        let good = "[[file]]\ntemplate = \"a.j2\"\npath = \"/a/{domain}/{localpart}\"\nper = \"user\"\nskip_empty = true\n";
        let m = Manifest::parse("x", good).unwrap();
        assert_eq!(
            m.files[0].path_for("d.test", "al~2Aice"),
            "/a/d.test/al~2Aice"
        );
    }
}
