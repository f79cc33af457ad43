//! `/api/v1/tag`: operators' names for versions (`refs/tags/<name>`). Cleanup keeps every version a
//! tag reaches and moves the tag with the rewrite, so a tag is also how a version is kept for good;
//! deleting it lets cleanup go past it. Tags are created at versions only (a version number), as
//! lightweight tags; `git push` can add annotated ones, whose message is listed here. Creation and
//! deletion run with the writers held off ([`crate::versioner::Versioner::exclusive`]), so they never
//! interleave with a cleanup's rewrite, and move the ref by compare-and-swap.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};

use super::request::parse_json;
use super::{Authorized, Body, Context, Error, Read, Write};
use crate::store::{self, Person, RefMove, Rev, Store, TAGS};

/// One tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Tag {
    /// The name without `refs/tags/`.
    pub name: String,
    /// The number of the version it names (the newest version at or before its commit).
    pub version: Option<u64>,
    /// The commit it reaches.
    pub commit: String,
    /// An annotated tag's message; `null` for a lightweight tag.
    pub message: Option<String>,
}

/// `POST /api/v1/tag`'s body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTag {
    pub name: String,
    /// A version number on main.
    pub version: u64,
}

fn list(store: &Store) -> Result<Vec<Tag>, Error> {
    let mut out = Vec::new();
    for tag in store.tags()? {
        let version = store.history(tag.commit, 1)?.first().map(|v| v.number);
        out.push(Tag {
            name: tag.name[TAGS.len()..].to_owned(),
            version,
            commit: tag.commit.to_string(),
            message: (tag.target != tag.commit)
                .then(|| store.tag_message(tag.target))
                .transpose()?
                .flatten(),
        });
    }
    Ok(out)
}

/// A tag name as git accepts it under `refs/tags/`, refused with the field named otherwise.
fn check_name(name: &str) -> Result<String, Error> {
    let full = format!("{TAGS}{name}");
    let valid = !name.is_empty()
        && !name.starts_with('-')
        && gix::refs::FullName::try_from(full.as_str()).is_ok();
    if !valid {
        return Err(Error::field(
            "name",
            format!("`{name}` is not a valid git tag name"),
        ));
    }
    Ok(full)
}

fn by(caller: &crate::auth::Caller) -> Person {
    Person {
        name: caller.name.replace(['<', '>', '\n', '\r', '\0'], ""),
        email: crate::server::server_person().email,
    }
}

/// `GET /api/v1/tag`.
#[utoipa::path(
    get,
    path = "/api/v1/tag",
    operation_id = "list_tag",
    tag = "version",
    summary = "List the tags, with the version each names",
    responses((status = 200, description = "the tags, by name", body = [Tag])),
)]
pub async fn get_all(
    _caller: Authorized<Read>,
    State(ctx): State<Context>,
) -> Result<Json<Vec<Tag>>, Error> {
    let store = ctx.store.clone();
    Ok(Json(
        tokio::task::spawn_blocking(move || list(&store)).await??,
    ))
}

/// `POST /api/v1/tag`.
#[utoipa::path(
    post,
    path = "/api/v1/tag",
    operation_id = "create_tag",
    tag = "version",
    summary = "Tag a version (cleanup keeps it until the tag is deleted)",
    request_body = NewTag,
    responses(
        (status = 200, description = "the new tag", body = Tag),
        (status = 400, description = "a bad name, or no such version on main", body = super::error::Body),
        (status = 409, description = "the tag exists", body = super::error::Body),
    ),
)]
pub async fn post(
    caller: Authorized<Write>,
    State(ctx): State<Context>,
    Body(body): Body,
) -> Result<Json<Tag>, Error> {
    let new: NewTag = parse_json(&body)?;
    let full = check_name(&new.name)?;
    let by = by(&caller.caller);
    let answer = ctx
        .versioner
        .exclusive(|ex| async move {
            let store = ex.store().clone();
            tokio::task::spawn_blocking(move || -> Result<Tag, Error> {
                let commit = match store.resolve(&Rev::Version(new.version)) {
                    Ok(commit) => commit,
                    Err(store::Error::RevNotFound(_)) => {
                        return Err(Error::field(
                            "version",
                            format!("there is no version {} on main", new.version),
                        ));
                    }
                    Err(e) => return Err(e.into()),
                };
                let moved = RefMove {
                    name: full,
                    expected: None,
                    new: Some(commit),
                };
                match store.move_refs(&[moved], &format!("tag: version {}", new.version), &by) {
                    Ok(()) => {}
                    Err(store::Error::RefConflict { .. }) => {
                        return Err(Error::Conflict(format!(
                            "the tag `{}` exists already",
                            new.name
                        )));
                    }
                    Err(e) => return Err(e.into()),
                }
                Ok(Tag {
                    name: new.name,
                    version: Some(new.version),
                    commit: commit.to_string(),
                    message: None,
                })
            })
            .await?
        })
        .await??;
    Ok(Json(answer))
}

/// `DELETE /api/v1/tag/<name>`.
#[utoipa::path(
    delete,
    path = "/api/v1/tag/{name}",
    operation_id = "delete_tag",
    tag = "version",
    summary = "Delete a tag (the version stays; cleanup may then remove it)",
    params(("name" = String, Path, description = "the tag's name")),
    responses(
        (status = 200, description = "the deleted tag", body = Tag),
        (status = 404, description = "no such tag", body = super::error::Body),
    ),
)]
pub async fn delete(
    caller: Authorized<Write>,
    State(ctx): State<Context>,
    Path(name): Path<String>,
) -> Result<Json<Tag>, Error> {
    let full = check_name(&name)?;
    let by = by(&caller.caller);
    let answer = ctx
        .versioner
        .exclusive(|ex| async move {
            let store = ex.store().clone();
            tokio::task::spawn_blocking(move || -> Result<Tag, Error> {
                let tags = list(&store)?;
                let raw = store.tags()?;
                let (Some(tag), Some(found)) = (
                    tags.into_iter().find(|t| t.name == name),
                    raw.into_iter().find(|t| t.name == full),
                ) else {
                    return Err(Error::NotFound(format!("no tag `{name}`")));
                };
                let moved = RefMove {
                    name: full,
                    expected: Some(found.target),
                    new: None,
                };
                store.move_refs(&[moved], "tag deleted", &by)?;
                Ok(tag)
            })
            .await?
        })
        .await??;
    Ok(Json(answer))
}
