//! The three trees of the repository through which an operator changes any file a container gets,
//! with one implementation behind their endpoints (`docs/api.md`, "Overrides"):
//!
//! | tree | repository | endpoints (`file.rs`, `template.rs`, `mailu.rs`) |
//! |---|---|---|
//! | [`Tree::Override`] | `overrides/<service>/<absolute path>` | `/override/<service>[/<path>]` |
//! | [`Tree::Template`] | `templates/<service>/<file>` | `/template/<service>[/<file>]` |
//! | [`Tree::MailuOverride`] | `mailu-overrides/<mailu dir>/<file>` | `/mailu-override[/<dir>/<file>]` |
//!
//! Each has a listing (read), and `GET` (read), `PUT` and `DELETE` (admin) of one file, with `ETag`,
//! `If-Match`, `?wait=true` and a [`LIMIT`] on the body. Paths are checked by `RepoPath` (no `..`,
//! no `.git`, no control characters), so a body can never land outside its folder. Overrides are any
//! bytes; templates and Mailu's files are UTF-8 text, as the renderer reads them. A template is
//! parsed here before the write (a syntax error names its file and line even when nothing renders it
//! yet); whether it renders is the versioner's check, under the writer lock. Not here: what the
//! files mean (`render`).

pub mod file;
pub mod mailu;
pub mod template;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::resource::{self, Change, View};
use super::{Context, Error, write};
use crate::model::{RepoPath, ServiceName};
use crate::store::Edit;

/// The largest file accepted: config files are small; a map of many thousand lines fits.
pub const LIMIT: usize = 4 << 20;

/// Mailu's override folders (its `$ROOT/overrides/<dir>`), the only ones its containers read.
pub const MAILU_DIRS: &[&str] = &[
    "postfix",
    "dovecot",
    "nginx",
    "rspamd",
    "roundcube",
    "snappymail",
];

/// One of the three trees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tree {
    /// `overrides/<service>/<absolute path>`: replaces the rendered file of that path.
    Override,
    /// `templates/<service>/<file>`: replaces the built-in template of that name.
    Template,
    /// `mailu-overrides/<mailu dir>/<file>`: Mailu's override files, with Mailu's meaning.
    MailuOverride,
}

impl Tree {
    fn root(self) -> &'static str {
        match self {
            Tree::Override => "overrides",
            Tree::Template => "templates",
            Tree::MailuOverride => "mailu-overrides",
        }
    }

    /// What one file is called in messages.
    fn noun(self) -> &'static str {
        match self {
            Tree::Override => "override",
            Tree::Template => "template",
            Tree::MailuOverride => "Mailu override",
        }
    }

    /// The path parameter naming the file, for 400s.
    fn file_param(self) -> &'static str {
        match self {
            Tree::Override => "path",
            Tree::Template | Tree::MailuOverride => "file",
        }
    }

    /// Whether the renderer reads the files as text (templates; `mailu_overrides` leaves out
    /// anything else, which would be a silent trap).
    fn is_text(self) -> bool {
        !matches!(self, Tree::Override)
    }

    fn content_type(self) -> &'static str {
        if self.is_text() {
            "text/plain; charset=utf-8"
        } else {
            "application/octet-stream"
        }
    }
}

/// One file in a listing.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Listed {
    /// The file: its absolute path in the container (`/override`), its name in the service's
    /// template folder (`/template`), or `<mailu dir>/<file>` (`/mailu-override`).
    pub path: String,
    pub etag: String,
}

/// A folder of a tree, resolved against the acknowledged configuration.
struct Folder {
    tree: Tree,
    dir: RepoPath,
    /// How many leading bytes of a file's repository path are not shown to clients.
    hidden: usize,
    /// ` of smtp` in messages; empty for Mailu's tree, whose folders are not services.
    owner: String,
}

impl Folder {
    /// `raw` is the service, or Mailu's folder; `None` (Mailu's tree only) is the whole tree.
    fn resolve(view: &dyn View, tree: Tree, raw: Option<&str>) -> Result<Folder, Error> {
        let root = tree.root();
        let (dir, hidden, owner) = match (tree, raw) {
            (Tree::MailuOverride, None) => (root.to_owned(), root.len() + 1, String::new()),
            (Tree::MailuOverride, Some(raw)) => {
                if !MAILU_DIRS.contains(&raw) {
                    return Err(Error::NotFound(format!(
                        "`{raw}` is not one of Mailu's override folders ({})",
                        MAILU_DIRS.join(", ")
                    )));
                }
                (format!("{root}/{raw}"), root.len() + 1, String::new())
            }
            (_, raw) => {
                let raw = raw.unwrap_or_default();
                let service = ServiceName::parse(raw)
                    .ok()
                    .filter(|s| view.config().services.contains_key(s))
                    .ok_or_else(|| Error::NotFound(format!("there is no service `{raw}`")))?;
                let dir = format!("{root}/{service}");
                // An override's path is absolute in the container: its leading `/` is shown.
                let hidden = dir.len() + usize::from(tree == Tree::Template);
                (dir, hidden, format!(" of {service}"))
            }
        };
        let dir = RepoPath::parse(&dir).map_err(|e| Error::NotFound(e.to_string()))?;
        Ok(Folder {
            tree,
            dir,
            hidden,
            owner,
        })
    }

    /// The repository path of `raw` (relative to the folder; a leading `/` is ignored).
    fn file(&self, raw: &str) -> Result<RepoPath, Error> {
        RepoPath::parse(&format!("{}/{}", self.dir, raw.trim_start_matches('/')))
            .map_err(|e| Error::field(self.tree.file_param(), e.to_string()))
    }

    /// How clients see a file of this folder.
    fn shown<'p>(&self, path: &'p RepoPath) -> &'p str {
        &path.as_str()[self.hidden..]
    }
}

/// The files of a folder (`folder` as for [`Folder::resolve`]).
pub fn list(view: &dyn View, tree: Tree, folder: Option<&str>) -> Result<Vec<Listed>, Error> {
    let folder = Folder::resolve(view, tree, folder)?;
    Ok(view
        .list(&folder.dir)
        .into_iter()
        .map(|p| Listed {
            etag: resource::etag_of(&view.read(&p).unwrap_or_default()),
            path: folder.shown(&p).to_owned(),
        })
        .collect())
}

/// The repository path of file `raw` of `folder`.
pub fn path_of(view: &dyn View, tree: Tree, folder: &str, raw: &str) -> Result<RepoPath, Error> {
    Folder::resolve(view, tree, Some(folder))?.file(raw)
}

/// Stores `body` as file `raw` of `folder`.
pub fn plan_put(
    view: &dyn View,
    tree: Tree,
    folder: &str,
    raw: &str,
    headers: &HeaderMap,
    body: Vec<u8>,
) -> Result<Change, Error> {
    let folder = Folder::resolve(view, tree, Some(folder))?;
    let path = folder.file(raw)?;
    let current = view.read(&path);
    resource::check_if_match(headers, current.as_deref())?;
    let verb = if current.is_some() {
        "updated"
    } else {
        "created"
    };
    Ok(Change {
        summary: format!(
            "{} {}{} has been {verb}",
            capitalized(tree.noun()),
            folder.shown(&path),
            folder.owner
        ),
        edits: vec![Edit::write(path, body)],
    })
}

/// Removes file `raw` of `folder`.
pub fn plan_delete(
    view: &dyn View,
    tree: Tree,
    folder: &str,
    raw: &str,
    headers: &HeaderMap,
) -> Result<Change, Error> {
    let folder = Folder::resolve(view, tree, Some(folder))?;
    let path = folder.file(raw)?;
    let Some(current) = view.read(&path) else {
        return Err(missing(&folder, &path));
    };
    resource::check_if_match(headers, Some(&current))?;
    Ok(Change {
        summary: format!(
            "{} {}{} has been deleted",
            capitalized(tree.noun()),
            folder.shown(&path),
            folder.owner
        ),
        edits: vec![Edit::delete(path)],
    })
}

/// Refuses a body its tree cannot use: text trees take UTF-8 only, and a template must parse.
/// `path` is the file's repository path (checked already).
pub fn check_body(tree: Tree, path: &RepoPath, body: &[u8]) -> Result<(), Error> {
    if !tree.is_text() {
        return Ok(());
    }
    let text = std::str::from_utf8(body).map_err(|e| {
        Error::field(
            "body",
            format!(
                "is not UTF-8 text (invalid byte at offset {}): {} files are read as text",
                e.valid_up_to(),
                tree.root()
            ),
        )
    })?;
    if tree == Tree::Template {
        let name = &path.as_str()[tree.root().len() + 1..];
        crate::render::check_syntax(name, text).map_err(|problem| {
            Error::from(crate::versioner::Error::Rejected(
                crate::model::Diagnostics(vec![problem]),
            ))
        })?;
    }
    Ok(())
}

fn missing(folder: &Folder, path: &RepoPath) -> Error {
    Error::NotFound(format!(
        "there is no {} {}{}",
        folder.tree.noun(),
        folder.shown(path),
        folder.owner
    ))
}

fn capitalized(noun: &str) -> String {
    let mut chars = noun.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

// The handlers' bodies, shared by the three trees' annotated handlers.

/// A listing, with an `ETag` of the whole listing (any file added, changed or removed changes it).
async fn list_files(
    ctx: &Context,
    tree: Tree,
    folder: Option<String>,
    headers: &HeaderMap,
) -> Result<Response, Error> {
    let listed = resource::read(ctx, move |view| list(view, tree, folder.as_deref())).await?;
    let json = serde_json::to_vec(&listed).expect("a list of strings serializes");
    let etag = resource::etag_of(&json);
    if super::none_match(headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    Ok((
        [
            (header::ETAG, etag),
            (header::CONTENT_TYPE, "application/json".to_owned()),
        ],
        json,
    )
        .into_response())
}

/// One file as stored, with its `ETag`.
async fn get_file(
    ctx: &Context,
    tree: Tree,
    folder: String,
    raw: String,
    headers: &HeaderMap,
) -> Result<Response, Error> {
    let bytes = resource::read(ctx, move |view| {
        let resolved = Folder::resolve(view, tree, Some(&folder))?;
        let path = resolved.file(&raw)?;
        view.read(&path).ok_or_else(|| missing(&resolved, &path))
    })
    .await?;
    let etag = resource::etag_of(&bytes);
    if super::none_match(headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    Ok((
        [
            (header::ETAG, etag),
            (header::CONTENT_TYPE, tree.content_type().to_owned()),
        ],
        bytes,
    )
        .into_response())
}

/// Stores a file. The body is checked before the writer's lock (a large template takes a while to
/// parse); the path again under it, where the change is planned.
#[allow(clippy::too_many_arguments)]
async fn put_file(
    ctx: &Context,
    author: &str,
    wait: bool,
    tree: Tree,
    folder: String,
    raw: String,
    headers: HeaderMap,
    body: Vec<u8>,
) -> Result<Response, Error> {
    let (f, r) = (folder.clone(), raw.clone());
    let path = resource::read(ctx, move |view| path_of(view, tree, &f, &r)).await?;
    let body = tokio::task::spawn_blocking(move || check_body(tree, &path, &body).map(|()| body))
        .await??;
    write::apply(ctx, author, wait, move |view| {
        plan_put(view, tree, &folder, &raw, &headers, body)
    })
    .await
}

async fn delete_file(
    ctx: &Context,
    author: &str,
    wait: bool,
    tree: Tree,
    folder: String,
    raw: String,
    headers: HeaderMap,
) -> Result<Response, Error> {
    write::apply(ctx, author, wait, move |view| {
        plan_delete(view, tree, &folder, &raw, &headers)
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::api::resource::Fixed;

    fn view() -> Fixed {
        let files = BTreeMap::from([
            (RepoPath::settings(), b"format = 1\n".to_vec()),
            (
                RepoPath::parse("services/smtp.toml").unwrap(),
                b"image = \"x\"\n".to_vec(),
            ),
            (
                RepoPath::parse("overrides/smtp/etc/postfix/header_checks").unwrap(),
                b"/^X-Spam/ IGNORE\n".to_vec(),
            ),
            (
                RepoPath::parse("templates/smtp/main.cf.j2").unwrap(),
                b"x = {{ hostname }}\n".to_vec(),
            ),
            (
                RepoPath::parse("mailu-overrides/postfix/postfix.cf").unwrap(),
                b"a = b\n".to_vec(),
            ),
            (
                RepoPath::parse("mailu-overrides/nginx/dovecot/proxy.conf").unwrap(),
                b"x\n".to_vec(),
            ),
        ]);
        Fixed::load(files).unwrap()
    }

    const TREES: [(Tree, &str); 3] = [
        (Tree::Override, "smtp"),
        (Tree::Template, "smtp"),
        (Tree::MailuOverride, "postfix"),
    ];

    #[test]
    fn traversal_is_refused_in_every_tree() {
        let v = view();
        for (tree, folder) in TREES {
            for bad in [
                "../../mailu.toml",
                "etc/../../x",
                "etc/.git/config",
                ".GIT/x",
                "a\u{0}b",
                "a\\b",
                "",
            ] {
                let err =
                    plan_put(&v, tree, folder, bad, &HeaderMap::new(), b"x".to_vec()).unwrap_err();
                assert_eq!(err.status(), 400, "{tree:?} {bad:?}");
                assert!(err.to_string().starts_with(tree.file_param()), "{err}");
            }
        }
    }

    #[test]
    fn unknown_services_and_mailu_folders_are_not_found() {
        let v = view();
        for (tree, folder) in [
            (Tree::Override, "nope"),
            (Tree::Template, "nope"),
            (Tree::Template, "../x"),
            (Tree::MailuOverride, "clamav"),
            (Tree::MailuOverride, ".."),
        ] {
            let err = plan_put(&v, tree, folder, "x", &HeaderMap::new(), vec![]).unwrap_err();
            assert_eq!(err.status(), 404, "{tree:?} {folder}");
        }
        let err = list(&v, Tree::MailuOverride, Some("clamav")).unwrap_err();
        assert!(err.to_string().contains("postfix, dovecot"), "{err}");
    }

    #[test]
    fn each_tree_lists_and_writes_where_it_says() {
        let v = view();
        let listed = |tree, folder| -> Vec<String> {
            list(&v, tree, folder)
                .unwrap()
                .into_iter()
                .map(|l| l.path)
                .collect()
        };
        assert_eq!(
            listed(Tree::Override, Some("smtp")),
            ["/etc/postfix/header_checks"]
        );
        assert_eq!(listed(Tree::Template, Some("smtp")), ["main.cf.j2"]);
        assert_eq!(
            listed(Tree::MailuOverride, None),
            ["nginx/dovecot/proxy.conf", "postfix/postfix.cf"]
        );
        assert_eq!(
            listed(Tree::MailuOverride, Some("postfix")),
            ["postfix/postfix.cf"]
        );

        let put = |tree, folder, raw: &str| {
            plan_put(&v, tree, folder, raw, &HeaderMap::new(), b"x\n".to_vec()).unwrap()
        };
        let c = put(Tree::Override, "smtp", "/etc/postfix/main.cf");
        assert_eq!(
            c.edits[0].path.as_str(),
            "overrides/smtp/etc/postfix/main.cf"
        );
        assert_eq!(
            c.summary,
            "Override /etc/postfix/main.cf of smtp has been created"
        );
        let c = put(Tree::Template, "smtp", "main.cf.j2");
        assert_eq!(c.edits[0].path.as_str(), "templates/smtp/main.cf.j2");
        assert_eq!(c.summary, "Template main.cf.j2 of smtp has been updated");
        let c = put(Tree::MailuOverride, "nginx", "dovecot/proxy.conf");
        assert_eq!(
            c.edits[0].path.as_str(),
            "mailu-overrides/nginx/dovecot/proxy.conf"
        );
        assert_eq!(
            c.summary,
            "Mailu override nginx/dovecot/proxy.conf has been updated"
        );

        let gone = plan_delete(&v, Tree::Template, "smtp", "main.cf.j2", &HeaderMap::new());
        assert_eq!(gone.unwrap().edits[0].content, None);
        let err = plan_delete(
            &v,
            Tree::MailuOverride,
            "postfix",
            "x.map",
            &HeaderMap::new(),
        )
        .unwrap_err();
        assert_eq!(err.status(), 404);
        assert_eq!(err.to_string(), "there is no Mailu override postfix/x.map");
    }

    #[test]
    fn if_match_guards_every_tree() {
        let v = view();
        let mut stale = HeaderMap::new();
        stale.insert(header::IF_MATCH, resource::etag_of(b"old").parse().unwrap());
        for (tree, folder, raw) in [
            (Tree::Override, "smtp", "etc/postfix/header_checks"),
            (Tree::Template, "smtp", "main.cf.j2"),
            (Tree::MailuOverride, "postfix", "postfix.cf"),
        ] {
            let err = plan_put(&v, tree, folder, raw, &stale, vec![]).unwrap_err();
            assert_eq!(err.status(), 412, "{tree:?}");
            let err = plan_delete(&v, tree, folder, raw, &stale).unwrap_err();
            assert_eq!(err.status(), 412, "{tree:?}");
        }
    }

    #[test]
    fn text_trees_take_utf8_and_templates_must_parse() {
        let path = |p: &str| RepoPath::parse(p).unwrap();
        let binary = b"\xff\x00".as_slice();
        check_body(Tree::Override, &path("overrides/smtp/x"), binary).unwrap();
        for (tree, p) in [
            (Tree::Template, "templates/smtp/x.j2"),
            (Tree::MailuOverride, "mailu-overrides/postfix/x.map"),
        ] {
            match check_body(tree, &path(p), binary).unwrap_err() {
                Error::Invalid { errors, .. } => assert!(errors.contains_key("body"), "{errors:?}"),
                other => panic!("{other:?}"),
            }
        }
        check_body(
            Tree::MailuOverride,
            &path("mailu-overrides/postfix/x.cf"),
            b"{% if",
        )
        .unwrap();
        match check_body(
            Tree::Template,
            &path("templates/smtp/x.j2"),
            b"a\n{% if %}\n",
        ) {
            Err(Error::Invalid { message, errors }) => {
                assert!(message.starts_with("templates/smtp/x.j2:2: "), "{message}");
                assert!(errors.contains_key("templates/smtp/x.j2"), "{errors:?}");
            }
            other => panic!("{other:?}"),
        }
    }
}
