//! The list of versions (newest first, paged) and one version with the paths it changed, grouped
//! into sources and rendered files per service.

use std::collections::{BTreeMap, BTreeSet};

use gix::ObjectId;
use serde::{Deserialize, Serialize};

use super::{Error, VersionRef, kind_name, rendered_service};
use crate::store::{Deployed, Revision, Store, VersionInfo};

/// One version in the history.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VersionEntry {
    pub number: u64,
    pub commit: String,
    /// Commit time, seconds since the Unix epoch.
    pub time: i64,
    /// The commit's author, then every other author of a change it holds.
    pub authors: Vec<String>,
    /// The first line of the message.
    pub summary: String,
    /// The `Mailu-Renderer` stamp; absent when nothing was rendered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renderer: Option<String>,
    /// The services whose `rendered/<service>/` files changed against the previous version.
    pub services: Vec<String>,
    /// Main's newest version.
    pub head: bool,
    /// What is deployed (the hold's version while suspended, else main's head).
    pub deployed: bool,
    /// Deployed because the hold pins it (deployment suspended).
    pub held: bool,
    /// Tags that name this version (short names, `v1`).
    pub tags: Vec<String>,
}

/// One changed file of a version.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PathChange {
    pub path: String,
    /// `added`, `modified` or `deleted`.
    pub kind: String,
}

/// One version with what it changed against the previous version.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VersionDetail {
    #[serde(flatten)]
    pub version: VersionEntry,
    /// The ids of the API changes it holds (`Mailu-Change` trailers).
    pub changes: Vec<String>,
    /// The version it is compared with; absent for the first version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<VersionRef>,
    /// Changed files outside `rendered/`.
    pub sources: Vec<PathChange>,
    /// Changed files under `rendered/<service>/`, by service.
    pub rendered: BTreeMap<String, Vec<PathChange>>,
}

/// A page of versions, newest first: `offset` versions skipped, then at most `limit`, among those
/// whose summary or authors hold `q` (case-insensitive). Returns the page and how many matched.
pub fn list(
    store: &Store,
    offset: usize,
    limit: usize,
    q: Option<&str>,
) -> Result<(usize, Vec<VersionEntry>), Error> {
    let head = store.head()?;
    let q = q.map(str::to_lowercase);
    let mut total = 0;
    let mut page = Vec::new();
    let end = offset.saturating_add(limit);
    store.each_version(head, |v| {
        let found = match &q {
            None => true,
            Some(q) => {
                v.summary.to_lowercase().contains(q)
                    || v.authors.iter().any(|a| a.to_lowercase().contains(q))
            }
        };
        if found {
            if total >= offset && total < end {
                page.push(v);
            }
            total += 1;
        }
        true
    })?;
    let context = Context::read(store, head)?;
    let items = page
        .iter()
        .map(|v| {
            let previous = store.previous_version(v.commit)?;
            let changed = store.changed_since(previous.map(|p| p.commit), v.commit)?;
            let services: BTreeSet<String> = changed
                .iter()
                .filter_map(|c| rendered_service(c.path.as_str()).map(str::to_owned))
                .collect();
            Ok(context.entry(v, services.into_iter().collect()))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok((total, items))
}

/// One version and the paths it changed.
pub fn show(store: &Store, rev: &Revision) -> Result<VersionDetail, Error> {
    let info = store.resolve_version(rev)?;
    let head = store.head()?;
    let context = Context::read(store, head)?;
    let previous = store.previous_version(info.commit)?;
    let changed = store.changed_since(previous.as_ref().map(|p| p.commit), info.commit)?;
    let mut sources = Vec::new();
    let mut rendered: BTreeMap<String, Vec<PathChange>> = BTreeMap::new();
    for c in &changed {
        let change = PathChange {
            path: c.path.as_str().to_owned(),
            kind: kind_name(c.kind).to_owned(),
        };
        match rendered_service(c.path.as_str()) {
            Some(service) => rendered.entry(service.to_owned()).or_default().push(change),
            None => sources.push(change),
        }
    }
    let services = rendered.keys().cloned().collect();
    Ok(VersionDetail {
        changes: info.changes.iter().map(|c| c.id.clone()).collect(),
        version: context.entry(&info, services),
        previous: previous.as_ref().map(VersionRef::of),
        sources,
        rendered,
    })
}

/// What marks a version in the list: main's head, the deployed version, tags.
struct Context {
    head: ObjectId,
    deployed: Deployed,
    tags: BTreeMap<ObjectId, Vec<String>>,
}

impl Context {
    fn read(store: &Store, head: ObjectId) -> Result<Context, Error> {
        let mut tags: BTreeMap<ObjectId, Vec<String>> = BTreeMap::new();
        for t in store.tags()? {
            let short = t
                .name
                .strip_prefix(crate::store::TAGS)
                .unwrap_or(&t.name)
                .to_owned();
            tags.entry(t.commit).or_default().push(short);
        }
        Ok(Context {
            head,
            deployed: store.deployed()?,
            tags,
        })
    }

    fn entry(&self, v: &VersionInfo, services: Vec<String>) -> VersionEntry {
        let deployed = v.commit == self.deployed.commit;
        VersionEntry {
            number: v.number,
            commit: v.commit.to_string(),
            time: v.time,
            authors: v.authors.clone(),
            summary: v.summary.clone(),
            renderer: v.renderer.clone(),
            services,
            head: v.commit == self.head,
            deployed,
            held: deployed && self.deployed.held,
            tags: self.tags.get(&v.commit).cloned().unwrap_or_default(),
        }
    }
}
