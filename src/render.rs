//! Rendering: the files each container gets, made from the model by minijinja templates and kept
//! under `rendered/<service>/<absolute path>` in every version.
//!
//! `builtin.rs`: the templates embedded from the project's `templates/` and the renderer's stamp;
//! `manifest.rs`: which files a service gets and what each reads; `context.rs`: what a template
//! sees; `engine.rs`: the minijinja environment (strict, fueled for repository templates, errors
//! with file and line); `plan.rs`: which files a change renders again, and the render into edits;
//! `files.rs`: read access to a tree. No IO beyond reading the tree it is given; callers commit.
//! The template contract is `docs/rendering.md`.

mod builtin;
mod context;
mod engine;
mod files;
mod filters;
mod manifest;
mod plan;

#[cfg(test)]
mod tests;

pub use builtin::{Builtins, builtins};
pub use engine::check_syntax;
pub use files::{Files, ReadError};
pub use manifest::{FileSpec, Manifest, Per, Read};
pub use plan::{Error, Plan, Rendered, Scope, plan};

use crate::model::{Config, Diagnostic, Diagnostics, RepoPath};

/// This binary's `Mailu-Renderer` stamp.
pub fn stamp() -> &'static str {
    builtins().stamp()
}

/// Plans and renders `scope` in one go (for callers that hold no lock: `mailu-git render`, tests).
pub fn render(config: &Config, files: &dyn Files, scope: Scope<'_>) -> Result<Rendered, Error> {
    let b = builtins();
    plan(b, config, files, scope)?
        .render(b)
        .map_err(Error::Invalid)
}

/// Every problem of the repository's own templates (`templates/**`) on their own: each must be
/// UTF-8 and compile. Rendering checks only the templates some file uses; a push checks them all.
pub fn check_templates(files: &dyn Files) -> Result<Diagnostics, ReadError> {
    let mut problems = Diagnostics::default();
    let dir = RepoPath::parse("templates").expect("a constant valid path");
    for (path, _) in files.list(&dir)? {
        let Some(bytes) = files.read(&path)? else {
            continue;
        };
        match std::str::from_utf8(&bytes) {
            Err(_) => problems.push(Diagnostic::file(path.as_str(), "a template must be UTF-8")),
            Ok(text) => {
                let name = &path.as_str()["templates/".len()..];
                if let Err(d) = engine::check_syntax(name, text) {
                    problems.push(d);
                }
            }
        }
    }
    Ok(problems)
}
