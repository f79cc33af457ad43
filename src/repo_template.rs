//! The config repository template: the files of a new repository's first version, embedded in the
//! binary from `config-repo-template/` so that `mailu-git serve` works from any directory.

use crate::model::{PathError, RepoPath};

#[derive(rust_embed::Embed)]
#[folder = "config-repo-template/"]
struct Template;

/// Every file of the template with its repository path, sorted by path.
pub fn files() -> Result<Vec<(RepoPath, Vec<u8>)>, PathError> {
    let mut files = Vec::new();
    for name in Template::iter() {
        let path = RepoPath::parse(&name)?;
        if let Some(file) = Template::get(&name) {
            files.push((path, file.data.into_owned()));
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

#[cfg(test)]
mod tests {
    #[test]
    fn template_has_settings_and_valid_paths() {
        let files = super::files().unwrap();
        assert!(files.iter().any(|(p, _)| p.as_str() == "mailu.toml"));
        for (path, _) in &files {
            path.entry()
                .unwrap_or_else(|e| panic!("template path {path}: {e}"));
        }
    }
}
