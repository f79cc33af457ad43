//! The minijinja environment of one service: built-in templates under `builtin:<service>/<file>`,
//! the repository's `templates/<service>/<file>` replacing them under `<service>/<file>`, strict
//! undefined, no auto-escaping, a fuel limit when the repository supplies templates, the filters, and
//! `warn()`. Errors become diagnostics naming the template file and line.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};

use super::builtin::Builtins;
use super::filters;
use crate::model::Diagnostic;

/// Templates nest at most this deep (includes, macros, recursion).
const RECURSION_LIMIT: usize = 100;

fn set_syntax(env: &mut Environment<'_>) {
    match SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
    {
        Ok(syntax) => env.set_syntax(syntax),
        Err(e) => tracing::error!(error = %e, "cannot configure the template syntax"),
    }
}

/// Parses a repository template without rendering it: a push must not bring a template that does
/// not compile, even one that no file uses yet (it would fail the day one does).
pub fn check_syntax(file: &str, source: &str) -> Result<(), Diagnostic> {
    let mut env = Environment::new();
    set_syntax(&mut env);
    match env.template_from_named_str(file, source) {
        Ok(_) => Ok(()),
        Err(e) => {
            let mut message = e.kind().to_string();
            if let Some(detail) = e.detail() {
                message = format!("{message}: {detail}");
            }
            Err(Diagnostic {
                file: file.to_owned(),
                line: e.line().and_then(|l| u32::try_from(l).ok()),
                field: None,
                message,
            })
        }
    }
}

/// One service's environment and the warnings its templates raised.
pub struct Engine {
    pub env: Environment<'static>,
    repo: Arc<BTreeMap<String, String>>,
    warnings: Arc<Mutex<Vec<Diagnostic>>>,
}

impl Engine {
    /// `repo` maps `<service>/<file>` to the repository's template sources; `fuel` limits each render
    /// (set when `repo` is not empty: templates from a push must not loop forever).
    pub fn new(
        builtins: &'static Builtins,
        repo: BTreeMap<String, String>,
        fuel: Option<u64>,
    ) -> Engine {
        let repo = Arc::new(repo);
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_recursion_limit(RECURSION_LIMIT);
        env.set_fuel(fuel);
        set_syntax(&mut env);
        let loader_repo = repo.clone();
        env.set_loader(move |name: &str| {
            if let Some(builtin) = name.strip_prefix("builtin:") {
                return Ok(builtins.source(builtin).map(str::to_owned));
            }
            if let Some(source) = loader_repo.get(name) {
                return Ok(Some(source.clone()));
            }
            Ok(builtins.source(name).map(str::to_owned))
        });
        filters::register(&mut env);
        let warnings: Arc<Mutex<Vec<Diagnostic>>> = Arc::default();
        let sink = warnings.clone();
        let names = repo.clone();
        env.add_function(
            "warn",
            move |state: &minijinja::State, message: String| -> String {
                let file = file_of(&names, state.name());
                sink.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(Diagnostic::file(file, message));
                String::new()
            },
        );
        Engine {
            env,
            repo,
            warnings,
        }
    }

    /// Renders template `<service>/<file>` with `ctx`; an error names the template file and line.
    pub fn render(
        &self,
        template: &str,
        output: &str,
        ctx: &minijinja::Value,
    ) -> Result<String, Diagnostic> {
        let result = self.env.get_template(template).and_then(|t| t.render(ctx));
        result.map_err(|e| self.diagnostic(template, output, &e))
    }

    /// The warnings raised so far.
    pub fn take_warnings(&self) -> Vec<Diagnostic> {
        std::mem::take(&mut *self.warnings.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn diagnostic(&self, template: &str, output: &str, e: &minijinja::Error) -> Diagnostic {
        // The innermost error names the template that failed (an include, a parent).
        let mut inner: &minijinja::Error = e;
        while let Some(next) =
            std::error::Error::source(inner).and_then(|s| s.downcast_ref::<minijinja::Error>())
        {
            if next.name().is_none() {
                break;
            }
            inner = next;
        }
        let name = inner.name().or(e.name()).unwrap_or(template);
        let line = inner.line().or(e.line());
        let mut message = inner.kind().to_string();
        if let Some(detail) = inner.detail() {
            message = format!("{message}: {detail}");
        }
        Diagnostic {
            file: file_of(&self.repo, name),
            line: line.and_then(|l| u32::try_from(l).ok()),
            field: None,
            message: format!("{message} (while rendering {output})"),
        }
    }
}

/// The file a template name stands for: the repository's `templates/...` when it supplies it, else
/// the built-in `builtin:...`.
fn file_of(repo: &BTreeMap<String, String>, name: &str) -> String {
    if name.starts_with("builtin:") {
        name.to_owned()
    } else if repo.contains_key(name) {
        format!("templates/{name}")
    } else {
        format!("builtin:{name}")
    }
}
