//! `mailu-git backup FILE` and `mailu-git restore FILE --data DIR` (`docs/operations.md`). A backup
//! is taken through the API while the server runs, or offline with `--data` while it is stopped;
//! either way the archive is written to `FILE.partial`, synced, and renamed to FILE only when
//! complete, so an interrupted backup never replaces a good one. Restore works offline on a new
//! data directory (`crate::backup::restore`).

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use super::admin;
use crate::backup;
use crate::data_dir::{self, DataDir};

#[derive(Debug, clap::Args)]
pub(super) struct BackupArgs {
    /// Where to write the archive (a tar). Written as FILE.partial, renamed when complete.
    file: PathBuf,
    /// Leave the secret key out. Keep the key apart then: without it every DKIM key, fetch
    /// password, relay password and the TLS key in the backup is lost.
    #[arg(long)]
    without_key: bool,
    /// Read this data directory directly (offline: the server must be stopped).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Offline: the secret key file, if not `<data>/secret.key`.
    #[arg(long, env = "MAILU_GIT_SECRET_KEY", requires = "data")]
    secret_key: Option<PathBuf>,
    #[command(flatten)]
    connection: admin::Connection,
}

#[derive(Debug, clap::Args)]
pub(super) struct RestoreArgs {
    /// The archive `mailu-git backup` wrote.
    file: PathBuf,
    /// The new data directory (must not exist, or be empty).
    #[arg(long, env = "MAILU_GIT_DATA")]
    data: PathBuf,
    /// The secret key, for a backup made with --without-key.
    #[arg(long)]
    secret_key: Option<PathBuf>,
}

pub(super) fn backup(args: BackupArgs) -> anyhow::Result<ExitCode> {
    let partial = partial_path(&args.file);
    let out = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .with_context(|| format!("cannot write {}", partial.display()))?;
    let result = match &args.data {
        Some(data) => offline(data, args.secret_key.as_deref(), !args.without_key, &out),
        None => online(args.connection, !args.without_key, &out),
    };
    let (version, bytes) = match result.and_then(|r| {
        out.sync_all()
            .with_context(|| format!("cannot sync {}", partial.display()))?;
        Ok(r)
    }) {
        Ok(r) => r,
        Err(e) => {
            let _ = fs::remove_file(&partial);
            return Err(e);
        }
    };
    fs::rename(&partial, &args.file)
        .with_context(|| format!("cannot rename {} into place", partial.display()))?;
    if let Some(dir) = args.file.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir).and_then(|d| d.sync_all()).ok();
    }
    println!(
        "mailu-git: backup of version {version} written to {} ({bytes} bytes{})",
        args.file.display(),
        if args.without_key {
            "; WITHOUT the secret key: keep the key apart, a restore needs it"
        } else {
            "; it holds the secret key: keep it as safe as the server"
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// `FILE.partial` beside FILE.
fn partial_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

fn online(connection: admin::Connection, with_key: bool, out: &File) -> anyhow::Result<(u64, u64)> {
    let session = admin::Session::open(connection)?;
    let path = if with_key {
        "backup"
    } else {
        "backup?secret_key=false"
    };
    let mut writer = BufWriter::new(out);
    let (bytes, headers) = session.download(path, &mut writer)?;
    writer.flush().context("cannot write the archive")?;
    let version = headers
        .get("x-mailu-version")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // The archive ends with its checksums; an answer cut short is not a backup.
    check_complete(out, bytes)?;
    Ok((version, bytes))
}

fn offline(
    data: &Path,
    secret_key: Option<&Path>,
    with_key: bool,
    out: &File,
) -> anyhow::Result<(u64, u64)> {
    let dir = match DataDir::open(data) {
        Ok(dir) => dir,
        Err(data_dir::Error::Busy { pid, .. }) => anyhow::bail!(
            "the server is running{}; back up through the API (the same command without --data, \
             with --server and --token)",
            pid.map_or_else(String::new, |p| format!(" (pid {p})"))
        ),
        Err(e) => return Err(e.into()),
    };
    if !dir.repo().exists() {
        anyhow::bail!("no configuration repository in {}", data.display());
    }
    let sources = backup::Sources {
        root: dir.root().to_owned(),
        secret_key: secret_key.map_or_else(|| dir.secret_key(), Path::to_owned),
    };
    let staged = backup::stage(&sources, with_key)?;
    let mut writer = BufWriter::new(out);
    let bytes = backup::write(&staged, &mut writer)?;
    writer.flush().context("cannot write the archive")?;
    Ok((staged.manifest.version, bytes))
}

/// Reads the archive just written back through its checksums, so a backup that cannot be restored
/// is reported now, not on the day it is needed.
fn check_complete(out: &File, bytes: u64) -> anyhow::Result<()> {
    let mut file = out.try_clone().context("cannot read the archive back")?;
    use std::io::Seek as _;
    file.seek(std::io::SeekFrom::Start(0))
        .context("cannot read the archive back")?;
    backup::restore::check_archive(file).with_context(|| {
        format!("the archive the server sent ({bytes} bytes) is incomplete or damaged")
    })?;
    Ok(())
}

pub(super) fn restore(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let file =
        File::open(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    let restored = backup::restore::restore(
        std::io::BufReader::new(file),
        &args.data,
        args.secret_key.as_deref(),
    )?;
    println!(
        "mailu-git: restored version {} ({} versions, {} secrets, {} access tokens{}) into {}",
        restored.manifest.version,
        restored.versions,
        restored.secrets,
        restored.tokens,
        if restored.pending_journal {
            "; acknowledged changes not yet in a version come back at the server's start"
        } else {
            ""
        },
        args.data.display()
    );
    println!(
        "mailu-git: start it with: mailu-git serve --data {}",
        args.data.display()
    );
    Ok(ExitCode::SUCCESS)
}
