//! First start and what start adds to an older repository: the data directory's secret key and the
//! repository created from `config-repo-template/` (version 1 rendered, with the generated secrets
//! and a self-signed certificate), and the generated secrets a repository made before them lacks.

use super::{Error, debounce_of, server_person};
use crate::data_dir::DataDir;
use crate::store::{self, Store};
use crate::versioner::{self, Versioner};
use crate::{model, repo_template, secret};

/// Opens the data directory, creating the secret key and the repository on first start.
pub(super) fn open(
    root: &std::path::Path,
    key_file: Option<&std::path::Path>,
) -> Result<Opened, Error> {
    let data = DataDir::open(root)?;
    let keyring = match key_file {
        // A key given from outside is never generated: a typo must not silently make a new key.
        Some(path) => secret::Keyring::load(path)?,
        None if !data.secret_key().exists() => {
            let keyring = secret::Keyring::generate(&data.secret_key())?;
            tracing::info!(path = %data.secret_key().display(), "generated the secret key");
            keyring
        }
        // Loaded at start so a key readable by others is refused now, not at the first secret.
        None => secret::Keyring::load(&data.secret_key())?,
    };
    let repo = data.repo();
    let store = if repo.exists() {
        let store = Store::open(&repo)?;
        check_format(&store)?;
        store
    } else {
        create_repository(&repo, &keyring, None)?
    };
    let debounce = debounce_of(&store)?;
    Ok(Opened {
        data,
        store,
        debounce,
        keyring,
    })
}

/// Refuses a repository whose `mailu.toml` at main has a `format` newer than this binary reads:
/// serving it would half-work (every write refused, nothing deployable), so the server does not
/// start and says to upgrade. Nothing is written.
fn check_format(store: &Store) -> Result<(), Error> {
    let path = model::RepoPath::settings();
    let text = store
        .snapshot(&store::Rev::Head)?
        .read(&path)?
        .unwrap_or_default();
    let found = String::from_utf8_lossy(&text)
        .parse::<toml::Table>()
        .ok()
        .and_then(|t| t.get("format").and_then(toml::Value::as_integer));
    match found {
        Some(n) if n > i64::from(model::settings::FORMAT) => Err(Error::NewerFormat(
            model::settings::newer_format(u32::try_from(n).unwrap_or(u32::MAX)),
        )),
        _ => Ok(()),
    }
}

/// Creates the repository at `repo` with its first version: the template, with `setup`'s identity
/// and first admin when given (`mailu-git init`), else as it is.
pub(super) fn create_repository(
    repo: &std::path::Path,
    keyring: &secret::Keyring,
    setup: Option<&super::init::Setup>,
) -> Result<Store, Error> {
    let files = first_version(keyring, setup)?;
    let summary = match setup {
        Some(s) => format!("Create the configuration repository for {}", s.domain),
        None => "Create the configuration repository".to_owned(),
    };
    let store = Store::init(
        repo,
        &files,
        &store::CommitMeta {
            renderer: Some(crate::render::stamp().to_owned()),
            ..store::CommitMeta::new(server_person(), &summary)
        },
    )?;
    tracing::info!(path = %repo.display(), "created the configuration repository");
    Ok(store)
}

/// The secrets the server makes itself (`settings/secret_key`, `webmail/roundcube_key`) that `has`
/// says are missing, random and encrypted to the server's key.
pub fn generated_secrets(
    keyring: &secret::Keyring,
    has: impl Fn(&model::SecretRef) -> bool,
) -> Result<Vec<store::Edit>, Error> {
    use rand::RngCore;
    let mut edits = Vec::new();
    for (secret, digits) in model::settings::secrets::generated() {
        if has(&secret) {
            continue;
        }
        let mut bytes = vec![0u8; digits / 2];
        rand::rng().fill_bytes(&mut bytes);
        let path = model::RepoPath::parse(&format!("secrets/{secret}"))?;
        edits.push(store::Edit::write(
            path,
            keyring.encrypt(hex::encode(bytes).as_bytes())?,
        ));
    }
    Ok(edits)
}

/// A repository made before a generated secret existed gets it now, as one change.
pub(super) async fn generate_missing_secrets(
    versioner: &Versioner,
    keyring: &secret::Keyring,
) -> Result<(), Error> {
    let edits = {
        let state = versioner.state();
        let Ok(config) = state.config() else {
            return Ok(());
        };
        generated_secrets(keyring, |s| config.secrets.contains(s))?
    };
    if edits.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = edits
        .iter()
        .map(|e| &e.path.as_str()["secrets/".len()..])
        .collect();
    let summary = format!("Generate the secret {}", names.join(", "));
    tracing::info!(%summary, "generating missing secrets");
    versioner
        .submit(versioner::Change {
            author: "mailu-git".into(),
            summary,
            edits,
        })
        .await?;
    Ok(())
}

/// The first version: the embedded template (with `setup` applied), the generated secrets, and
/// the files rendered from them.
fn first_version(
    keyring: &secret::Keyring,
    setup: Option<&super::init::Setup>,
) -> Result<Vec<(model::RepoPath, Vec<u8>)>, Error> {
    let mut files: std::collections::BTreeMap<_, _> = repo_template::files()?.into_iter().collect();
    if let Some(setup) = setup {
        super::init::apply(setup, &mut files)?;
    }
    for edit in generated_secrets(keyring, |_| false)? {
        if let Some(content) = edit.content {
            files.insert(edit.path, content);
        }
    }
    let invalid = |problems: model::Diagnostics| {
        Error::Template(format!(
            "the embedded repository template is invalid:\n{problems}"
        ))
    };
    // Nothing ever starts without TLS: the first version holds a self-signed certificate.
    let config = model::load(&files).map_err(invalid)?;
    let certificate =
        crate::tls::self_signed_edits(&config, crate::tls::now(), |b| keyring.encrypt(b))
            .map_err(|e| Error::Template(format!("cannot make the first certificate: {e}")))?;
    for edit in certificate {
        if let Some(content) = edit.content {
            files.insert(edit.path, content);
        }
    }
    let config = model::load(&files).map_err(invalid)?;
    let rendered =
        crate::render::render(&config, &files, crate::render::Scope::Full).map_err(|e| {
            Error::Template(format!(
                "the embedded repository template does not render: {e}"
            ))
        })?;
    let mut all = files;
    for edit in rendered.edits {
        if let Some(content) = edit.content {
            all.insert(edit.path, content);
        }
    }
    Ok(all.into_iter().collect())
}

/// What [`open`] prepared for the server.
pub(super) struct Opened {
    pub(super) data: DataDir,
    pub(super) store: Store,
    pub(super) debounce: model::settings::Debounce,
    pub(super) keyring: secret::Keyring,
}
