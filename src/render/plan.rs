//! Which files a change must render again, with their contexts ([`plan`]), and rendering them into
//! edits of `rendered/` ([`Plan::render`]).
//!
//! Planning is cheap and runs where the configuration is consistent (under the versioner's writer
//! lock); rendering is the expensive part and runs outside it, on every core. A global file is
//! rendered again when the settings or what its `reads` declare changed; a per-domain file when its
//! domain's files (domain, users, aliases, DKIM key) changed; a per-user file when its user or domain
//! changed. An override (`overrides/<service>/<path>`) replaces the file at that path; a repository
//! template (`templates/<service>/...`) renders its whole service again.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use gix::ObjectId;
use minijinja::Value;

use super::builtin::Builtins;
use super::context;
use super::engine::Engine;
use super::files::{Files, ReadError};
use super::manifest::{FileSpec, Per, Read};
use crate::model::path::file_name;
use crate::model::{
    Config, Diagnostic, Diagnostics, DomainName, Email, Entry, RepoPath, SecretRef,
};
use crate::store::{self, Edit};

/// Fuel for one render of a repository template: a floor, plus room for each user and alias.
const FUEL_FLOOR: u64 = 20_000_000;
const FUEL_PER_OBJECT: u64 = 2_000;

/// What to render.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Everything; files no longer produced are deleted.
    Full,
    /// What these changed paths affect.
    Changed(&'a [RepoPath]),
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read the tree: {0}")]
    Read(#[from] ReadError),
    #[error("{0}")]
    Invalid(Diagnostics),
}

/// The renders one change needs, with their contexts; [`Plan::render`] does the work.
pub struct Plan {
    services: Vec<ServicePlan>,
    /// Rendered files to delete (their domain, user or service is gone).
    deletes: BTreeSet<RepoPath>,
    /// Rendered files as the tree has them, for the paths the plan may write.
    existing: HashMap<RepoPath, ObjectId>,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("jobs", &self.jobs())
            .field("deletes", &self.deletes.len())
            .finish()
    }
}

struct ServicePlan {
    name: String,
    repo_templates: BTreeMap<String, String>,
    fuel: Option<u64>,
    jobs: Vec<Job>,
    /// Overrides replacing (or adding) files: output path → content.
    fixed: BTreeMap<RepoPath, Vec<u8>>,
}

struct Job {
    template: String,
    output: RepoPath,
    context: Value,
    skip_empty: bool,
}

/// What [`Plan::render`] made.
#[derive(Debug, Default)]
pub struct Rendered {
    /// Writes and deletes under `rendered/`, only where the content changes.
    pub edits: Vec<Edit>,
    /// Problems templates reported with `warn()`; they do not stop the render.
    pub warnings: Vec<Diagnostic>,
    /// How many files were rendered.
    pub rendered: usize,
    /// Every rendered path the plan decided (written, deleted or found unchanged).
    pub decided: BTreeSet<RepoPath>,
}

/// What a set of changed paths touches.
#[derive(Default)]
struct Touched {
    full: bool,
    services: BTreeSet<String>,
    reads: BTreeSet<Read>,
    /// Domains whose per-domain and per-user files all render again.
    domains: BTreeSet<DomainName>,
    /// Domains whose per-domain files render again.
    domain_files: BTreeSet<DomainName>,
    users: BTreeSet<Email>,
    overrides: BTreeSet<(String, String)>,
}

fn touched(config: &Config, changed: &[RepoPath]) -> Touched {
    let mut t = Touched::default();
    for path in changed {
        let Ok(entry) = path.entry() else { continue };
        match entry {
            Entry::Settings => t.full = true,
            Entry::Service(s) => {
                t.reads.insert(Read::Services);
                t.services.insert(s.to_string());
            }
            Entry::Domain(d) => {
                t.reads.insert(Read::Domains);
                t.domains.insert(d);
            }
            Entry::User(e) => {
                t.reads.insert(Read::Fetches);
                t.domain_files.insert(e.domain.clone());
                t.users.insert(e);
            }
            Entry::Alias(e) => {
                t.domain_files.insert(e.domain);
            }
            Entry::Relay(_) => {
                t.reads.insert(Read::Relays);
            }
            Entry::Secret { kind, name } => {
                t.reads.insert(Read::Secrets);
                if kind == crate::tls::KEY_KIND {
                    t.reads.insert(Read::Certificate);
                }
                if kind == "dkim"
                    && let Ok(d) = DomainName::parse(&name)
                {
                    t.domains.insert(d);
                }
                if kind == "fetch" {
                    t.reads.insert(Read::Fetches);
                    let owner = crate::model::item_id::ItemId::parse(&name)
                        .ok()
                        .and_then(|id| config.fetch_owner(&id).cloned());
                    if let Some(owner) = owner {
                        t.domain_files.insert(owner.domain.clone());
                        t.users.insert(owner);
                    }
                }
            }
            Entry::Template { service, .. } => {
                t.services.insert(service.to_string());
            }
            Entry::Override { service, path } => {
                t.overrides.insert((service.to_string(), path));
            }
            Entry::MailuOverride { .. } => {
                t.reads.insert(Read::MailuOverrides);
            }
            Entry::Certificate { .. } => {
                t.reads.insert(Read::Certificate);
            }
            Entry::Rendered { .. } | Entry::Other => {}
        }
    }
    t
}

/// Plans what `scope` needs rendered for the configuration `config` of the tree `files`.
pub fn plan(
    builtins: &'static Builtins,
    config: &Config,
    files: &dyn Files,
    scope: Scope<'_>,
) -> Result<Plan, Error> {
    let secret_ids = |r: &SecretRef| -> Option<ObjectId> {
        let path = RepoPath::parse(&format!("secrets/{r}")).ok()?;
        files.blob_id(&path).ok().flatten()
    };
    let shared = context::Shared::new(config);
    let touched = match scope {
        Scope::Full => Touched {
            full: true,
            ..Touched::default()
        },
        Scope::Changed(paths) => touched(config, paths),
    };
    let mut plan = Plan {
        services: Vec::new(),
        deletes: BTreeSet::new(),
        existing: HashMap::new(),
    };
    let mut mailu_overrides: Option<BTreeMap<String, String>> = None;
    let mut certificate: Option<Option<String>> = None;
    let objects: u64 = config
        .domains
        .values()
        .map(|d| (d.users.len() + d.aliases.len()) as u64)
        .sum();

    // Services that left the configuration lose their rendered files.
    if !touched.full {
        for s in &touched.services {
            if !config.services.keys().any(|k| k.as_str() == s) {
                for (path, _) in files.list(&dir(&format!("rendered/{s}"))?)? {
                    plan.deletes.insert(path);
                }
            }
        }
    }

    for service in config.services.keys().map(|s| s.as_str().to_owned()) {
        let empty = super::manifest::Manifest { files: Vec::new() };
        let manifest = builtins.manifests.get(&service).unwrap_or(&empty);
        let whole = touched.full || touched.services.contains(&service);
        let overrides = overrides_of(files, &service)?;

        let mut sp = ServicePlan {
            name: service.clone(),
            repo_templates: BTreeMap::new(),
            fuel: None,
            jobs: Vec::new(),
            fixed: BTreeMap::new(),
        };
        let mut outputs: BTreeSet<RepoPath> = BTreeSet::new();
        let add = |sp: &mut ServicePlan,
                   outputs: &mut BTreeSet<RepoPath>,
                   spec: &FileSpec,
                   abs: &str,
                   ctx: &dyn Fn() -> Value|
         -> Result<(), Error> {
            let output = rendered_path(&service, abs)?;
            if !outputs.insert(output.clone()) {
                return Ok(());
            }
            if let Some(content) = overrides.get(abs) {
                sp.fixed.insert(output, content.clone());
            } else {
                sp.jobs.push(Job {
                    template: format!("{service}/{}", spec.template),
                    output,
                    context: ctx(),
                    skip_empty: spec.skip_empty,
                });
            }
            Ok(())
        };

        for spec in &manifest.files {
            match spec.per {
                Per::Service => {
                    let wanted = whole || spec.reads.iter().any(|r| touched.reads.contains(r));
                    if !wanted {
                        continue;
                    }
                    if spec.reads(Read::MailuOverrides) && mailu_overrides.is_none() {
                        mailu_overrides = Some(read_mailu_overrides(files)?);
                    }
                    if spec.reads(Read::Certificate) && certificate.is_none() {
                        certificate = Some(read_certificate(files)?);
                    }
                    let mo = mailu_overrides.clone().unwrap_or_default();
                    let inputs = context::Inputs {
                        mailu_overrides: &mo,
                        certificate: certificate.as_ref().and_then(|c| c.as_deref()),
                    };
                    add(&mut sp, &mut outputs, spec, &spec.path, &|| {
                        context::global(config, &shared, &service, spec, &secret_ids, inputs)
                    })?;
                }
                Per::Domain => {
                    let domains: Vec<&DomainName> = if whole {
                        config.domains.keys().collect()
                    } else {
                        touched
                            .domains
                            .iter()
                            .chain(&touched.domain_files)
                            .collect()
                    };
                    for d in domains {
                        let abs = spec.path_for(d.as_str(), "");
                        match config.domains.get(d) {
                            Some(entry) => add(&mut sp, &mut outputs, spec, &abs, &|| {
                                shared.domain(&service, d, entry, &secret_ids)
                            })?,
                            None => {
                                plan.deletes.insert(rendered_path(&service, &abs)?);
                            }
                        }
                    }
                }
                Per::User => {
                    let mut users: Vec<Email> = Vec::new();
                    let all_of: Vec<&DomainName> = if whole {
                        config.domains.keys().collect()
                    } else {
                        touched.domains.iter().collect()
                    };
                    for d in all_of {
                        match config.domains.get(d) {
                            Some(entry) => users.extend(entry.users.keys().map(|l| Email {
                                local: l.clone(),
                                domain: d.clone(),
                            })),
                            None => {
                                // The domain is gone: every file its users had.
                                let pattern = spec.path.replace("{domain}", d.as_str());
                                for (path, _) in list_pattern(files, &service, &pattern)? {
                                    plan.deletes.insert(path);
                                }
                            }
                        }
                    }
                    if !whole {
                        users.extend(touched.users.iter().cloned());
                    }
                    for email in users {
                        let abs = spec.path_for(email.domain.as_str(), &file_name(&email.local));
                        let found = config
                            .domains
                            .get(&email.domain)
                            .and_then(|e| e.users.get(&email.local).map(|u| (e, u)));
                        match found {
                            Some((entry, user)) => add(&mut sp, &mut outputs, spec, &abs, &|| {
                                shared.user(
                                    &service,
                                    &email.domain,
                                    entry,
                                    &email.local,
                                    user,
                                    &secret_ids,
                                )
                            })?,
                            None => {
                                plan.deletes.insert(rendered_path(&service, &abs)?);
                            }
                        }
                    }
                }
            }
        }

        // Overrides: every one on a whole render; the changed ones otherwise. An override of a
        // file no template makes adds it; a removed override gives the template's file back (the
        // loop above planned it when the path is a template's) or deletes the file.
        for (abs, content) in &overrides {
            let changed = touched.overrides.contains(&(service.clone(), abs.clone()));
            if whole || changed {
                let output = rendered_path(&service, abs)?;
                if outputs.insert(output.clone()) {
                    sp.fixed.insert(output, content.clone());
                }
            }
        }
        for (s, abs) in &touched.overrides {
            if s != &service || overrides.contains_key(abs) {
                continue;
            }
            let output = rendered_path(&service, abs)?;
            if outputs.contains(&output) {
                continue;
            }
            match template_for(manifest, abs, config) {
                Some((spec, domain, local)) => match (&domain, &local) {
                    (None, _) => {
                        if spec.reads(Read::MailuOverrides) && mailu_overrides.is_none() {
                            mailu_overrides = Some(read_mailu_overrides(files)?);
                        }
                        if spec.reads(Read::Certificate) && certificate.is_none() {
                            certificate = Some(read_certificate(files)?);
                        }
                        let mo = mailu_overrides.clone().unwrap_or_default();
                        let inputs = context::Inputs {
                            mailu_overrides: &mo,
                            certificate: certificate.as_ref().and_then(|c| c.as_deref()),
                        };
                        add(&mut sp, &mut outputs, spec, abs, &|| {
                            context::global(config, &shared, &service, spec, &secret_ids, inputs)
                        })?
                    }
                    (Some(d), None) => {
                        let entry = &config.domains[d];
                        add(&mut sp, &mut outputs, spec, abs, &|| {
                            shared.domain(&service, d, entry, &secret_ids)
                        })?
                    }
                    (Some(d), Some(l)) => {
                        let entry = &config.domains[d];
                        let user = &entry.users[l];
                        add(&mut sp, &mut outputs, spec, abs, &|| {
                            shared.user(&service, d, entry, l, user, &secret_ids)
                        })?
                    }
                },
                None => {
                    plan.deletes.insert(output);
                }
            }
        }

        if !sp.jobs.is_empty() {
            sp.repo_templates = repo_templates(files, &service)?;
            if !sp.repo_templates.is_empty() {
                sp.fuel = Some(FUEL_FLOOR + FUEL_PER_OBJECT * objects);
            }
        }
        if !sp.jobs.is_empty() || !sp.fixed.is_empty() {
            plan.services.push(sp);
        }
    }

    // What the tree has now, to write only what changes (and, on a whole render, to delete files
    // nothing produces any more).
    if touched.full {
        let produced: BTreeSet<&RepoPath> = plan
            .services
            .iter()
            .flat_map(|s| s.jobs.iter().map(|j| &j.output).chain(s.fixed.keys()))
            .collect();
        for (path, id) in files.list(&dir("rendered")?)? {
            if !produced.contains(&path) {
                plan.deletes.insert(path.clone());
            }
            plan.existing.insert(path, id);
        }
    } else {
        let outputs: Vec<RepoPath> = plan
            .services
            .iter()
            .flat_map(|s| {
                s.jobs
                    .iter()
                    .map(|j| j.output.clone())
                    .chain(s.fixed.keys().cloned())
            })
            .chain(plan.deletes.iter().cloned())
            .collect();
        for path in outputs {
            if let Some(id) = files.blob_id(&path)? {
                plan.existing.insert(path, id);
            }
        }
    }
    Ok(plan)
}

impl Plan {
    /// How many files the plan renders from templates.
    pub fn jobs(&self) -> usize {
        self.services.iter().map(|s| s.jobs.len()).sum()
    }

    /// Renders every planned file on all cores; every template error is reported.
    pub fn render(self, builtins: &'static Builtins) -> Result<Rendered, Diagnostics> {
        let mut out = Rendered::default();
        let mut problems = Vec::new();
        let mut produced: BTreeMap<RepoPath, Option<Vec<u8>>> = BTreeMap::new();
        for sp in self.services {
            let engine = Engine::new(builtins, sp.repo_templates, sp.fuel);
            let results = render_jobs(&engine, &sp.jobs);
            for (job, result) in sp.jobs.iter().zip(results) {
                match result {
                    Ok(text) if job.skip_empty && text.trim().is_empty() => {
                        produced.insert(job.output.clone(), None);
                    }
                    Ok(text) => {
                        produced.insert(job.output.clone(), Some(text.into_bytes()));
                    }
                    Err(d) => problems.push(d),
                }
            }
            out.rendered += sp.jobs.len();
            for w in engine.take_warnings() {
                if !out.warnings.contains(&w) {
                    out.warnings.push(w);
                }
            }
            tracing::debug!(service = %sp.name, files = sp.jobs.len(), "rendered");
            for (path, content) in sp.fixed {
                produced.insert(path, Some(content));
            }
        }
        if !problems.is_empty() {
            return Err(Diagnostics(problems));
        }
        for path in self.deletes {
            produced.entry(path).or_insert(None);
        }
        for (path, content) in produced {
            out.decided.insert(path.clone());
            let before = self.existing.get(&path);
            match content {
                Some(bytes) => {
                    if before != Some(&store::blob_id(&bytes)) {
                        out.edits.push(Edit::write(path, bytes));
                    }
                }
                None => {
                    if before.is_some() {
                        out.edits.push(Edit::delete(path));
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Renders `jobs` in order, split over the machine's cores.
fn render_jobs(engine: &Engine, jobs: &[Job]) -> Vec<Result<String, Diagnostic>> {
    let one = |j: &Job| {
        let abs = j.output.as_str().splitn(3, '/').nth(2).unwrap_or_default();
        engine.render(&j.template, &format!("/{abs}"), &j.context)
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if jobs.len() < 8 || cores == 1 {
        return jobs.iter().map(one).collect();
    }
    let chunk = jobs.len().div_ceil(cores);
    std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(one).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| match h.join() {
                Ok(results) => results,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

fn dir(path: &str) -> Result<RepoPath, Error> {
    RepoPath::parse(path).map_err(|e| Error::Read(e.to_string().into()))
}

/// `rendered/<service>/<absolute path>`.
fn rendered_path(service: &str, abs: &str) -> Result<RepoPath, Error> {
    dir(&format!("rendered/{service}{abs}"))
}

/// The service's overrides: absolute container path → content.
fn overrides_of(files: &dyn Files, service: &str) -> Result<BTreeMap<String, Vec<u8>>, Error> {
    let prefix = format!("overrides/{service}");
    let mut out = BTreeMap::new();
    for (path, _) in files.list(&dir(&prefix)?)? {
        if let Some(content) = files.read(&path)? {
            out.insert(path.as_str()[prefix.len()..].to_owned(), content);
        }
    }
    Ok(out)
}

/// The repository's templates of a service: `<service>/<file>` → source.
fn repo_templates(files: &dyn Files, service: &str) -> Result<BTreeMap<String, String>, Error> {
    let mut out = BTreeMap::new();
    let mut problems = Vec::new();
    for (path, _) in files.list(&dir(&format!("templates/{service}"))?)? {
        let Some(bytes) = files.read(&path)? else {
            continue;
        };
        let name = path.as_str()["templates/".len()..].to_owned();
        match String::from_utf8(bytes) {
            Ok(text) => {
                out.insert(name, text);
            }
            Err(_) => problems.push(Diagnostic::file(path.as_str(), "a template must be UTF-8")),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(Error::Invalid(Diagnostics(problems)))
    }
}

/// Mailu's override files (`mailu-overrides/...`), as text; binary files are left out.
/// The text of `certificates/cert.pem`, if there is one.
fn read_certificate(files: &dyn Files) -> Result<Option<String>, Error> {
    Ok(files
        .read(&crate::tls::chain_path())?
        .and_then(|b| String::from_utf8(b).ok()))
}

fn read_mailu_overrides(files: &dyn Files) -> Result<BTreeMap<String, String>, Error> {
    let mut out = BTreeMap::new();
    for (path, _) in files.list(&dir("mailu-overrides")?)? {
        if let Some(bytes) = files.read(&path)?
            && let Ok(text) = String::from_utf8(bytes)
        {
            out.insert(path.as_str()["mailu-overrides/".len()..].to_owned(), text);
        }
    }
    Ok(out)
}

/// The rendered files of `service` whose container path matches `pattern` (`{localpart}` standing
/// for one path component).
fn list_pattern(
    files: &dyn Files,
    service: &str,
    pattern: &str,
) -> Result<Vec<(RepoPath, ObjectId)>, Error> {
    let Some((before, after)) = pattern.split_once("{localpart}") else {
        return Ok(Vec::new());
    };
    let parent = before.rsplit_once('/').map_or("", |(p, _)| p);
    let all = files.list(&dir(&format!("rendered/{service}{parent}"))?)?;
    let head = format!("rendered/{service}{before}");
    Ok(all
        .into_iter()
        .filter(|(p, _)| {
            p.as_str()
                .strip_prefix(&head)
                .and_then(|rest| rest.strip_suffix(after))
                .is_some_and(|local| !local.is_empty() && !local.contains('/'))
        })
        .collect())
}

/// The manifest file producing container path `abs`, with the domain and user it is for.
fn template_for<'m>(
    manifest: &'m super::manifest::Manifest,
    abs: &str,
    config: &Config,
) -> Option<(
    &'m FileSpec,
    Option<DomainName>,
    Option<crate::model::Localpart>,
)> {
    for spec in &manifest.files {
        match spec.per {
            Per::Service if spec.path == abs => return Some((spec, None, None)),
            Per::Service => {}
            Per::Domain => {
                for d in config.domains.keys() {
                    if spec.path_for(d.as_str(), "") == abs {
                        return Some((spec, Some(d.clone()), None));
                    }
                }
            }
            Per::User => {
                for (d, e) in &config.domains {
                    for l in e.users.keys() {
                        if spec.path_for(d.as_str(), &file_name(l)) == abs {
                            return Some((spec, Some(d.clone()), Some(l.clone())));
                        }
                    }
                }
            }
        }
    }
    None
}
