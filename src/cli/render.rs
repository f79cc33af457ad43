//! `mailu-git check DIR` and `mailu-git render DIR [--out OUT]`: the validation and the rendering a
//! push gets, on a working tree, byte for byte as the server does them.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use super::EXIT_INVALID;
use crate::model::{Config, Diagnostic, RepoPath};
use crate::render::{self, Scope};

/// A checkout's files and the configuration they hold.
type Checkout = (BTreeMap<RepoPath, Vec<u8>>, Config);

/// Reads and validates a checkout; prints every problem and returns `None` when it is invalid.
fn load(dir: &Path) -> anyhow::Result<Option<Checkout>> {
    let files =
        crate::checkout::read(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    match crate::model::load(&files) {
        Ok(config) => Ok(Some((files, config))),
        Err(problems) => {
            report(problems.iter())?;
            Ok(None)
        }
    }
}

fn report<'a>(problems: impl Iterator<Item = &'a Diagnostic>) -> anyhow::Result<()> {
    let mut err = std::io::stderr().lock();
    let mut n = 0;
    for p in problems {
        writeln!(err, "{p}")?;
        n += 1;
    }
    writeln!(err, "mailu-git: {n} problem(s) found")?;
    Ok(())
}

fn warn(warnings: &[Diagnostic]) -> anyhow::Result<()> {
    let mut err = std::io::stderr().lock();
    for w in warnings {
        writeln!(err, "warning: {w}")?;
    }
    Ok(())
}

/// `mailu-git check DIR`: the model and every template, as a push is checked.
pub fn check(dir: &Path) -> anyhow::Result<ExitCode> {
    let Some((files, config)) = load(dir)? else {
        return Ok(ExitCode::from(EXIT_INVALID));
    };
    match render::render(&config, &files, Scope::Full) {
        Ok(out) => {
            warn(&out.warnings)?;
            println!("{}: valid ({})", dir.display(), config.summary());
            if !out.edits.is_empty() {
                println!(
                    "{} rendered file(s) differ from what the server makes; the server renders them \
                     again on push (`mailu-git render` shows them)",
                    out.edits.len()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(render::Error::Invalid(problems)) => {
            report(problems.iter())?;
            Ok(ExitCode::from(EXIT_INVALID))
        }
        Err(e) => Err(e.into()),
    }
}

/// `mailu-git render DIR [--out OUT]`: writes `DIR/rendered/` as the server would (or every file
/// into the empty folder OUT, as `OUT/<service>/<absolute path>`).
pub fn render(dir: &Path, out: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let Some((mut files, config)) = load(dir)? else {
        return Ok(ExitCode::from(EXIT_INVALID));
    };
    if out.is_some() {
        // Every file is wanted, not only those that differ from the checkout's.
        files.retain(|p, _| !p.as_str().starts_with("rendered/"));
    }
    let rendered = match render::render(&config, &files, Scope::Full) {
        Ok(r) => r,
        Err(render::Error::Invalid(problems)) => {
            report(problems.iter())?;
            return Ok(ExitCode::from(EXIT_INVALID));
        }
        Err(e) => return Err(e.into()),
    };
    warn(&rendered.warnings)?;
    let (root, strip) = match &out {
        Some(out) => {
            if out.exists()
                && std::fs::read_dir(out)
                    .with_context(|| format!("cannot read {}", out.display()))?
                    .next()
                    .is_some()
            {
                anyhow::bail!("{} is not empty; give a new or empty folder", out.display());
            }
            (out.clone(), "rendered/")
        }
        None => (dir.to_owned(), ""),
    };
    let (mut written, mut deleted) = (0, 0);
    for edit in &rendered.edits {
        let rel = edit
            .path
            .as_str()
            .strip_prefix(strip)
            .unwrap_or(edit.path.as_str());
        let target = root.join(rel);
        match &edit.content {
            Some(bytes) => {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("cannot create {}", parent.display()))?;
                }
                std::fs::write(&target, bytes)
                    .with_context(|| format!("cannot write {}", target.display()))?;
                written += 1;
            }
            None => {
                std::fs::remove_file(&target)
                    .with_context(|| format!("cannot remove {}", target.display()))?;
                remove_empty_parents(&target, &root);
                deleted += 1;
            }
        }
    }
    println!(
        "{}: {written} file(s) written, {deleted} removed ({} rendered)",
        root.display(),
        rendered.rendered
    );
    Ok(ExitCode::SUCCESS)
}

/// Removes the folders left empty by a deleted file, up to `root`.
fn remove_empty_parents(file: &Path, root: &Path) {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d == root || std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}
