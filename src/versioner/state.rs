//! [`State`]: the acknowledged configuration — the files of main's head (a [`Snapshot`]) with the
//! pending changes laid over them, and the [`Config`] they load to.
//!
//! The overlay maps each path written by a pending change to its newest content and the sequence
//! number of the change that wrote it, so when a batch becomes a version the entries it covered drop
//! out and later ones stay. The `Config` is kept up to date incrementally for the frequent writes
//! (users, aliases, secrets: a parse of one file and an O(log n) insert); anything that touches the
//! cross-file indexes in a way `Config` cannot undo (a domain, a relay, the settings, a service, a
//! user losing an app token or fetch id) reloads the whole tree. Not here: locking, the journal, or
//! committing (see the parent module).

use std::collections::BTreeMap;
use std::sync::Arc;

use gix::ObjectId;

use crate::model::{self, Config, Diagnostics, Entry, RepoPath, SecretRef, toml_file};
use crate::store::{self, Edit, Snapshot};

/// One overlaid file: its newest pending content (`None`: deleted) and who wrote it.
#[derive(Debug, Clone)]
pub(super) struct Layer {
    pub seq: u64,
    pub content: Option<Arc<[u8]>>,
}

/// The acknowledged state. Read it through [`super::Versioner::state`]; every write goes through
/// [`super::Versioner::write`].
pub struct State {
    base: Snapshot,
    overlay: BTreeMap<RepoPath, Layer>,
    config: Result<Config, Diagnostics>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("base", &self.base)
            .field("overlay", &self.overlay.len())
            .finish()
    }
}

impl State {
    /// The state of `base` with `overlay` on it, loading the whole tree (blocking; ~0.2 s at 100k
    /// users).
    pub(super) fn load(
        base: Snapshot,
        overlay: BTreeMap<RepoPath, Layer>,
    ) -> Result<State, store::Error> {
        let config = load_config(&base, &overlay)?;
        Ok(State {
            base,
            overlay,
            config,
        })
    }

    /// The content of the file at `path` as acknowledged, `None` if there is none.
    pub fn read(&self, path: &RepoPath) -> Result<Option<Vec<u8>>, store::Error> {
        match self.overlay.get(path) {
            Some(layer) => Ok(layer.content.as_deref().map(<[u8]>::to_vec)),
            None => self.base.read(path),
        }
    }

    /// The blob id the file at `path` has (or will have once committed): the API's `ETag`.
    pub fn blob_id(&self, path: &RepoPath) -> Result<Option<ObjectId>, store::Error> {
        match self.overlay.get(path) {
            Some(layer) => Ok(layer.content.as_deref().map(store::blob_id)),
            None => self.base.blob_id(path),
        }
    }

    /// The files under the directory `dir` (recursively) with their blob ids, in path order.
    pub fn list(&self, dir: &RepoPath) -> Result<Vec<(RepoPath, ObjectId)>, store::Error> {
        let mut files: BTreeMap<RepoPath, ObjectId> = self.base.list(dir)?.into_iter().collect();
        let prefix = format!("{}/", dir.as_str());
        // Keys between `dir` and `dir/` (`dir-x`, ...) sort first and are skipped.
        for (path, layer) in self
            .overlay
            .range(dir.clone()..)
            .skip_while(|(p, _)| p.as_str() < prefix.as_str())
            .take_while(|(p, _)| p.as_str().starts_with(&prefix))
        {
            match &layer.content {
                Some(bytes) => files.insert(path.clone(), store::blob_id(bytes)),
                None => files.remove(path),
            };
        }
        Ok(files.into_iter().collect())
    }

    /// The acknowledged configuration, or why it does not load (a bug or a hand edit: writes are
    /// validated before they are acknowledged, pushes before main moves).
    pub fn config(&self) -> Result<&Config, &Diagnostics> {
        self.config.as_ref()
    }

    /// The commit of main the overlay lies on.
    pub fn base(&self) -> &Snapshot {
        &self.base
    }

    /// How many files pending changes touch.
    pub fn overlaid(&self) -> usize {
        self.overlay.len()
    }

    /// How `edits` change the `Config` incrementally, `None` when only a reload is right. Planned
    /// under the writer lock, against the configuration the edits will be applied to.
    pub(super) fn plan(&self, edits: &[Edit]) -> Option<Update> {
        let config = self.config.as_ref().ok()?;
        let mut seen = std::collections::HashSet::new();
        let mut patches = Vec::with_capacity(edits.len());
        for e in edits {
            // The same path twice in one change: the second would be planned against a stale view.
            if !seen.insert(&e.path) {
                return None;
            }
            patches.push(classify(config, e)?);
        }
        Some(Update::Patch(patches))
    }

    /// Lays `edits` of change `seq` over the state and updates the configuration as planned.
    pub(super) fn apply(&mut self, seq: u64, edits: &[Edit], update: Update) {
        for e in edits {
            self.overlay.insert(
                e.path.clone(),
                Layer {
                    seq,
                    content: e.content.as_deref().map(Arc::from),
                },
            );
        }
        match update {
            Update::Reloaded(c) => self.config = *c,
            Update::Patch(patches) => {
                if let Ok(c) = &mut self.config {
                    for p in patches {
                        patch(c, p);
                    }
                }
            }
        }
    }

    /// Moves the base to `base` (a version holding every change up to `seq`) and drops the overlay
    /// entries those changes wrote. The configuration is unchanged: the acknowledged state is the same.
    pub(super) fn rebase(&mut self, base: Snapshot, seq: u64) {
        self.base = base;
        self.overlay.retain(|_, layer| layer.seq > seq);
    }

    /// The configuration as `update` would leave it (a copy; for checks before the change is taken).
    pub(super) fn preview(&self, update: &Update) -> Option<Config> {
        match update {
            Update::Reloaded(c) => c.as_ref().as_ref().ok().cloned(),
            Update::Patch(patches) => {
                let mut config = self.config.as_ref().ok()?.clone();
                for p in patches {
                    patch(&mut config, p.clone());
                }
                Some(config)
            }
        }
    }

    /// A copy of the overlay, for reloading on another base.
    pub(super) fn overlay(&self) -> &BTreeMap<RepoPath, Layer> {
        &self.overlay
    }
}

/// The configuration `edits` would give applied to `state` (blocking: reads and loads every file).
pub(super) fn reload_with(
    base: &Snapshot,
    overlay: &BTreeMap<RepoPath, Layer>,
    edits: &[Edit],
) -> Result<Result<Config, Diagnostics>, store::Error> {
    let mut overlay = overlay.clone();
    for e in edits {
        overlay.insert(
            e.path.clone(),
            Layer {
                seq: u64::MAX,
                content: e.content.as_deref().map(Arc::from),
            },
        );
    }
    load_config(base, &overlay)
}

fn load_config(
    base: &Snapshot,
    overlay: &BTreeMap<RepoPath, Layer>,
) -> Result<Result<Config, Diagnostics>, store::Error> {
    let mut files = base.files()?;
    for (path, layer) in overlay {
        match &layer.content {
            Some(bytes) => files.insert(path.clone(), bytes.to_vec()),
            None => files.remove(path),
        };
    }
    Ok(model::load(&files))
}

/// How the configuration follows a change.
pub(super) enum Update {
    Patch(Vec<Patch>),
    /// The whole tree was reloaded with the change.
    Reloaded(Box<Result<Config, Diagnostics>>),
}

/// What an edit does to the configuration, when it can be patched in.
#[derive(Clone)]
pub(super) enum Patch {
    /// Nothing the `Config` holds (rendered files, templates, overrides, ...).
    None,
    User(model::Email, Option<model::user::User>),
    Alias(model::Email, Option<model::alias::Alias>),
    Secret(SecretRef, bool),
}

/// How to patch `edit` into `config`, `None` if only a reload is right.
fn classify(config: &Config, edit: &Edit) -> Option<Patch> {
    let entry = edit.path.entry().ok()?;
    let text = match &edit.content {
        Some(bytes) => Some(std::str::from_utf8(bytes).ok()?),
        None => None,
    };
    match entry {
        Entry::User(email) => {
            config.domain(&email.domain)?;
            let new: Option<model::user::User> = match text {
                Some(t) => Some(toml_file::parse(edit.path.as_str(), t).ok()?),
                None => None,
            };
            // `Config` can add app token and fetch ids to its index but not drop them: a user losing
            // one needs a reload.
            if let Some(old) = config.user(&email) {
                let tokens_kept = old.tokens.iter().all(|t| {
                    new.as_ref()
                        .is_some_and(|n| n.tokens.iter().any(|k| k.id == t.id))
                });
                let fetches_kept = old.fetches.iter().all(|f| {
                    new.as_ref()
                        .is_some_and(|n| n.fetches.iter().any(|k| k.id == f.id))
                });
                if !tokens_kept || !fetches_kept {
                    return None;
                }
            }
            Some(Patch::User(email, new))
        }
        Entry::Alias(email) => {
            config.domain(&email.domain)?;
            let new = match text {
                Some(t) => Some(toml_file::parse(edit.path.as_str(), t).ok()?),
                None => None,
            };
            Some(Patch::Alias(email, new))
        }
        Entry::Secret { kind, name } => Some(Patch::Secret(
            SecretRef::new(&kind, &name).ok()?,
            edit.content.is_some(),
        )),
        Entry::Template { .. }
        | Entry::Override { .. }
        | Entry::MailuOverride { .. }
        | Entry::Certificate { .. }
        | Entry::Rendered { .. }
        | Entry::Other => Some(Patch::None),
        Entry::Settings | Entry::Domain(_) | Entry::Relay(_) | Entry::Service(_) => None,
    }
}

/// Patches one planned edit in.
fn patch(config: &mut Config, p: Patch) {
    match p {
        Patch::None => {}
        Patch::User(email, new) => {
            if let Some(user) = &new {
                config.claim_ids(&email, user);
            }
            if let Some(entry) = config.domains.get_mut(&email.domain) {
                match new {
                    Some(user) => entry.users.insert(email.local, user),
                    None => entry.users.remove(&email.local),
                };
            }
        }
        Patch::Alias(email, new) => {
            if let Some(entry) = config.domains.get_mut(&email.domain) {
                match new {
                    Some(alias) => entry.aliases.insert(email.local, alias),
                    None => entry.aliases.remove(&email.local),
                };
            }
        }
        Patch::Secret(secret, present) => {
            if present {
                config.secrets.insert(secret);
            } else {
                config.secrets.remove(&secret);
            }
        }
    }
}

/// Rendering reads the acknowledged tree: repository templates, overrides, secrets' ids, and the
/// rendered files already there.
impl crate::render::Files for State {
    fn read(&self, path: &RepoPath) -> Result<Option<Vec<u8>>, crate::render::ReadError> {
        Ok(State::read(self, path)?)
    }
    fn blob_id(&self, path: &RepoPath) -> Result<Option<ObjectId>, crate::render::ReadError> {
        Ok(State::blob_id(self, path)?)
    }
    fn list(&self, dir: &RepoPath) -> Result<Vec<(RepoPath, ObjectId)>, crate::render::ReadError> {
        Ok(State::list(self, dir)?)
    }
}

/// The state with one change's edits laid over it, as rendering reads it.
pub(super) struct WithEdits<'a> {
    pub state: &'a State,
    pub edits: &'a [Edit],
}

impl crate::render::Files for WithEdits<'_> {
    fn read(&self, path: &RepoPath) -> Result<Option<Vec<u8>>, crate::render::ReadError> {
        match self.edits.iter().rev().find(|e| &e.path == path) {
            Some(e) => Ok(e.content.clone()),
            None => Ok(self.state.read(path)?),
        }
    }
    fn blob_id(&self, path: &RepoPath) -> Result<Option<ObjectId>, crate::render::ReadError> {
        match self.edits.iter().rev().find(|e| &e.path == path) {
            Some(e) => Ok(e.content.as_deref().map(store::blob_id)),
            None => Ok(self.state.blob_id(path)?),
        }
    }
    fn list(&self, dir: &RepoPath) -> Result<Vec<(RepoPath, ObjectId)>, crate::render::ReadError> {
        let prefix = format!("{}/", dir.as_str());
        let mut files: BTreeMap<RepoPath, ObjectId> = self.state.list(dir)?.into_iter().collect();
        for e in self
            .edits
            .iter()
            .filter(|e| e.path.as_str().starts_with(&prefix))
        {
            match &e.content {
                Some(bytes) => files.insert(e.path.clone(), store::blob_id(bytes)),
                None => files.remove(&e.path),
            };
        }
        Ok(files.into_iter().collect())
    }
}
