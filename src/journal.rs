//! The journal: acknowledged API writes that are not yet part of a version.
//!
//! A write is appended here and fsynced before it is answered, so no acknowledged write is lost by a
//! crash. One writer thread owns the file and appends in groups: every request that arrives while an
//! fsync is running is written and synced by the next one, so concurrent writers share fsyncs. After a
//! batch of records has been committed as a version, [`Journal::trim`] drops them.
//!
//! This module knows files and records; it does not know the model, the store or the debounce timer.

pub mod log;

#[cfg(test)]
mod durability;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;

pub use log::{Edit, Record};

/// The journal file's name inside its directory.
const FILE: &str = "journal.log";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Read(#[from] log::ReadError),
    #[error("cannot {action} the journal at {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("the change is too large to journal ({size} bytes; at most {max})")]
    TooLarge { size: usize, max: usize },
    #[error("cannot encode a journal record: {0}")]
    Encode(#[from] serde_json::Error),
    /// The group this record was written with did not reach the disk (`kind` tells a full disk);
    /// the file was cut back to its last synced length, so nothing of it remains.
    #[error("cannot write the journal at {path}: {message}")]
    Write {
        path: PathBuf,
        kind: io::ErrorKind,
        message: String,
    },
    #[error("the journal stopped accepting writes after an earlier failure: {0}")]
    Failed(String),
    #[error("the journal's writer thread is gone")]
    Gone,
}

impl Error {
    /// Whether the disk was full: the caller can say so, and retrying after space is freed works.
    pub fn is_storage_full(&self) -> bool {
        matches!(self, Error::Write { kind, .. } if *kind == io::ErrorKind::StorageFull)
    }
}

enum Job {
    Append(Record, tokio::sync::oneshot::Sender<Result<(), Error>>),
    /// Drop the records whose ids are given (they are part of a version now).
    Trim(Vec<String>, tokio::sync::oneshot::Sender<Result<(), Error>>),
    /// Accept appends again after a failure, once the disk takes a write; answers the ids of the
    /// records refused since the failure.
    Resume(tokio::sync::oneshot::Sender<Result<Vec<String>, Error>>),
}

/// How many bytes [`Journal::resume`] writes and syncs to a probe file before it accepts appends
/// again: a disk that was full must take at least this much.
const PROBE: usize = 64 << 10;

/// A handle to the journal; cheap to clone.
#[derive(Clone)]
pub struct Journal {
    tx: mpsc::Sender<Job>,
    stats: Arc<Mutex<Stats>>,
}

/// Counters for `/metrics` and for tests that check fsyncs are shared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub appended: u64,
    pub fsyncs: u64,
    pub pending: u64,
}

impl Journal {
    /// Opens (or creates) the journal in `dir` and returns it with the records that are still pending
    /// from an earlier run, in order. A torn tail is cut off (it was never acknowledged).
    pub fn open(dir: &Path) -> Result<(Journal, Vec<Record>), Error> {
        let io_err = |action, path: &Path| {
            let path = path.to_owned();
            move |source| Error::Io {
                action,
                path,
                source,
            }
        };
        fs::create_dir_all(dir).map_err(io_err("create", dir))?;
        let path = dir.join(FILE);
        let contents = log::read(&path)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err("open", &path))?;
        if contents.torn > 0 {
            tracing::warn!(
                bytes = contents.torn,
                "cutting a torn record off the end of the journal"
            );
            file.set_len(contents.valid_len)
                .map_err(io_err("truncate", &path))?;
        }
        file.sync_all().map_err(io_err("sync", &path))?;
        sync_dir(dir).map_err(io_err("sync", dir))?;
        let pending = contents.records.clone();
        let stats = Arc::new(Mutex::new(Stats {
            pending: pending.len() as u64,
            ..Stats::default()
        }));
        let (tx, rx) = mpsc::channel();
        let writer = Writer {
            dir: dir.to_owned(),
            path,
            file,
            len: contents.valid_len,
            records: contents.records,
            failed: None,
            refused: Vec::new(),
            untrimmed: Vec::new(),
            stats: stats.clone(),
        };
        thread::Builder::new()
            .name("journal".into())
            .spawn(move || writer.run(rx))
            .map_err(io_err("start the writer of", dir))?;
        Ok((Journal { tx, stats }, pending))
    }

    /// Appends `record` and returns once it is on disk.
    pub async fn append(&self, record: Record) -> Result<(), Error> {
        self.enqueue(record).await
    }

    /// Queues `record` now, in call order, and returns a future that resolves once it is on disk.
    /// A caller that serializes writers can queue under its lock and wait for the fsync after
    /// releasing it, so the next writer's record joins the same fsync.
    pub fn enqueue(
        &self,
        record: Record,
    ) -> impl std::future::Future<Output = Result<(), Error>> + Send + 'static {
        let (reply, done) = tokio::sync::oneshot::channel();
        let sent = self.tx.send(Job::Append(record, reply));
        async move {
            sent.map_err(|_| Error::Gone)?;
            done.await.map_err(|_| Error::Gone)?
        }
    }

    /// The blocking form of [`Journal::append`], for offline commands and threads outside tokio.
    pub fn append_blocking(&self, record: Record) -> Result<(), Error> {
        let (reply, done) = tokio::sync::oneshot::channel();
        self.tx
            .send(Job::Append(record, reply))
            .map_err(|_| Error::Gone)?;
        done.blocking_recv().map_err(|_| Error::Gone)?
    }

    /// Drops the records with these ids, durably. Call after they were committed as a version.
    pub async fn trim(&self, ids: Vec<String>) -> Result<(), Error> {
        let (reply, done) = tokio::sync::oneshot::channel();
        self.tx
            .send(Job::Trim(ids, reply))
            .map_err(|_| Error::Gone)?;
        done.await.map_err(|_| Error::Gone)?
    }

    /// After a failed append: checks that the disk takes a write and sync again (a probe file of
    /// [`PROBE`] bytes, removed after), then accepts appends again. Answers the ids of every record
    /// refused since the failure (the failed group included), in order, so the caller can forget
    /// them; appends queued before this call are answered before it. Without a failure, answers
    /// nothing. Fails, and keeps refusing, while the disk still fails.
    pub async fn resume(&self) -> Result<Vec<String>, Error> {
        let (reply, done) = tokio::sync::oneshot::channel();
        self.tx.send(Job::Resume(reply)).map_err(|_| Error::Gone)?;
        done.await.map_err(|_| Error::Gone)?
    }

    pub fn stats(&self) -> Stats {
        self.stats.lock().map(|s| *s).unwrap_or_default()
    }
}

struct Writer {
    dir: PathBuf,
    path: PathBuf,
    file: File,
    /// The file's length after its last successful sync: everything before it is durable.
    len: u64,
    /// The records in the file, in order: needed to rewrite it on trim.
    records: Vec<Record>,
    /// Set after a failed write or sync, until [`Journal::resume`]: later records were validated
    /// against the failed ones (the versioner lays a change over its state before the fsync), so
    /// none is written until the caller has forgotten every refused record.
    failed: Option<String>,
    /// The ids of the records refused since `failed` was set, the failed group first.
    refused: Vec<String>,
    /// Ids a failed trim could not drop (a full disk): dropped by the next trim. Until then they
    /// stay in the file, where replay recognises them by main's trailers.
    untrimmed: Vec<String>,
    stats: Arc<Mutex<Stats>>,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Job>) {
        while let Ok(first) = rx.recv() {
            let mut appends = Vec::new();
            let mut next = Some(first);
            while let Some(job) = next.take() {
                match job {
                    Job::Append(record, reply) => appends.push((record, reply)),
                    Job::Trim(ids, reply) => {
                        // Appends queued before the trim are written first, keeping the order.
                        self.append_group(std::mem::take(&mut appends));
                        let _ = reply.send(self.trim(ids));
                    }
                    Job::Resume(reply) => {
                        self.append_group(std::mem::take(&mut appends));
                        let _ = reply.send(self.resume());
                    }
                }
                next = rx.try_recv().ok();
            }
            self.append_group(appends);
        }
    }

    fn append_group(
        &mut self,
        group: Vec<(Record, tokio::sync::oneshot::Sender<Result<(), Error>>)>,
    ) {
        if group.is_empty() {
            return;
        }
        let mut buf = Vec::new();
        let mut accepted = Vec::with_capacity(group.len());
        for (record, reply) in group {
            if let Some(reason) = &self.failed {
                self.refused.push(record.id);
                let _ = reply.send(Err(Error::Failed(reason.clone())));
                continue;
            }
            let start = buf.len();
            match log::encode(&record, &mut buf) {
                Ok(()) if buf.len() - start <= log::MAX_RECORD => accepted.push((record, reply)),
                Ok(()) => {
                    let size = buf.len() - start;
                    buf.truncate(start);
                    let _ = reply.send(Err(Error::TooLarge {
                        size,
                        max: log::MAX_RECORD,
                    }));
                }
                Err(e) => {
                    buf.truncate(start);
                    let _ = reply.send(Err(Error::Encode(e)));
                }
            }
        }
        if accepted.is_empty() {
            return;
        }
        let result = self
            .file
            .write_all(&buf)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = result {
            // A failed write (a full disk) or sync: cut the file back to its last synced length
            // and sync that, so the unsynced bytes, whatever reached the disk of them, are gone
            // and the file is exactly the acknowledged records again. Failed fsyncs are not
            // retried on the same data (the kernel may have dropped it from the page cache); these
            // records are refused, and a later append writes new bytes after a good end.
            let reason = format!("cannot write {}: {e}", self.path.display());
            if let Err(cut) = self.cut_back() {
                tracing::error!(%reason, error = %cut, "cannot cut the journal back after a failed write");
            }
            tracing::error!(%reason, "the journal failed; refusing writes until it takes one again");
            self.failed = Some(reason);
            for (record, reply) in accepted {
                self.refused.push(record.id);
                let _ = reply.send(Err(Error::Write {
                    path: self.path.clone(),
                    kind: e.kind(),
                    message: e.to_string(),
                }));
            }
            return;
        }
        self.len += buf.len() as u64;
        if let Ok(mut stats) = self.stats.lock() {
            stats.appended += accepted.len() as u64;
            stats.fsyncs += 1;
            stats.pending += accepted.len() as u64;
        }
        for (record, reply) in accepted {
            self.records.push(record);
            let _ = reply.send(Ok(()));
        }
    }

    /// Rewrites the file without the given records: a new file, synced, renamed over the old one, and
    /// the directory synced, so a crash leaves either the old or the new journal, never a mix.
    /// A failed trim (a full disk) leaves the old file in place and its ids for the next trim.
    fn trim(&mut self, ids: Vec<String>) -> Result<(), Error> {
        if let Some(reason) = &self.failed {
            self.untrimmed.extend(ids);
            return Err(Error::Failed(reason.clone()));
        }
        let mut ids = ids;
        ids.append(&mut self.untrimmed);
        let result = self.rewrite_without(&ids);
        if result.is_err() {
            self.untrimmed = ids;
        }
        result
    }

    fn rewrite_without(&mut self, ids: &[String]) -> Result<(), Error> {
        let drop: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
        let kept: Vec<Record> = self
            .records
            .iter()
            .filter(|r| !drop.contains(r.id.as_str()))
            .cloned()
            .collect();
        let tmp = self.dir.join(format!("{FILE}.tmp"));
        let io_err = |action, path: &Path| {
            let path = path.to_owned();
            move |source| Error::Io {
                action,
                path,
                source,
            }
        };
        let mut buf = Vec::new();
        for record in &kept {
            log::encode(record, &mut buf)?;
        }
        let written = File::create(&tmp).and_then(|mut file| {
            file.write_all(&buf)?;
            file.sync_all()
        });
        if let Err(e) = written {
            // Give the space back: on a full disk the partial copy is what fills it.
            let _ = fs::remove_file(&tmp);
            return Err(io_err("write", &tmp)(e));
        }
        fs::rename(&tmp, &self.path).map_err(io_err("replace", &self.path))?;
        sync_dir(&self.dir).map_err(io_err("sync", &self.dir))?;
        self.file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(io_err("reopen", &self.path))?;
        if let Ok(mut stats) = self.stats.lock() {
            stats.pending = kept.len() as u64;
        }
        self.len = buf.len() as u64;
        self.records = kept;
        Ok(())
    }

    /// Truncates the file to its last synced length and syncs that.
    fn cut_back(&mut self) -> io::Result<()> {
        self.file.set_len(self.len)?;
        self.file.sync_all()
    }

    fn resume(&mut self) -> Result<Vec<String>, Error> {
        if self.failed.is_none() {
            return Ok(Vec::new());
        }
        let path = self.path.clone();
        let still = move |e: io::Error| Error::Write {
            path: path.clone(),
            kind: e.kind(),
            message: e.to_string(),
        };
        self.cut_back().map_err(&still)?;
        let probe = self.dir.join(format!("{FILE}.probe"));
        let probed = File::create(&probe).and_then(|mut file| {
            file.write_all(&[0; PROBE])?;
            file.sync_all()
        });
        let _ = fs::remove_file(&probe);
        probed.map_err(still)?;
        tracing::info!("the journal takes writes again");
        self.failed = None;
        Ok(std::mem::take(&mut self.refused))
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RepoPath;

    fn record(id: &str) -> Record {
        Record {
            id: id.into(),
            author: "admin".into(),
            time_ms: 7,
            summary: "test".into(),
            edits: vec![Edit {
                path: RepoPath::parse("relays/a.example.toml").unwrap(),
                content: Some(id.as_bytes().to_vec()),
            }],
        }
    }

    #[tokio::test]
    async fn appended_records_are_pending_after_reopen_and_trim_drops_them() {
        let tmp = tempfile::tempdir().unwrap();
        {
            let (journal, pending) = Journal::open(tmp.path()).unwrap();
            assert!(pending.is_empty());
            for id in ["a", "b", "c"] {
                journal.append(record(id)).await.unwrap();
            }
            journal.trim(vec!["a".into(), "b".into()]).await.unwrap();
            journal.append(record("d")).await.unwrap();
        }
        let (_journal, pending) = Journal::open(tmp.path()).unwrap();
        let ids: Vec<&str> = pending.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["c", "d"]);
    }

    #[tokio::test]
    async fn a_torn_tail_is_cut_and_appends_continue_after_it() {
        let tmp = tempfile::tempdir().unwrap();
        {
            let (journal, _) = Journal::open(tmp.path()).unwrap();
            journal.append(record("a")).await.unwrap();
        }
        let path = tmp.path().join(FILE);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"MGJ1\x40\x00\x00\x00garbage").unwrap();
        drop(f);
        {
            let (journal, pending) = Journal::open(tmp.path()).unwrap();
            assert_eq!(pending.len(), 1);
            journal.append(record("b")).await.unwrap();
        }
        let (_j, pending) = Journal::open(tmp.path()).unwrap();
        let ids: Vec<&str> = pending.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
    }

    #[tokio::test]
    async fn a_trim_that_cannot_write_is_done_by_the_next_and_appends_go_on() {
        let tmp = tempfile::tempdir().unwrap();
        let (journal, _) = Journal::open(tmp.path()).unwrap();
        for id in ["a", "b", "c"] {
            journal.append(record(id)).await.unwrap();
        }
        // The trim's new file cannot be made (as on a full disk): the old file stays whole.
        let blocker = tmp.path().join(format!("{FILE}.tmp"));
        fs::create_dir(&blocker).unwrap();
        assert!(journal.trim(vec!["a".into()]).await.is_err());
        journal.append(record("d")).await.unwrap();
        fs::remove_dir(&blocker).unwrap();
        journal.trim(vec!["b".into()]).await.unwrap();
        drop(journal);
        let (_j, pending) = Journal::open(tmp.path()).unwrap();
        let ids: Vec<&str> = pending.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids,
            ["c", "d"],
            "the failed trim's record went with the next"
        );
    }

    #[tokio::test]
    async fn resume_without_a_failure_refuses_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let (journal, _) = Journal::open(tmp.path()).unwrap();
        journal.append(record("a")).await.unwrap();
        assert!(journal.resume().await.unwrap().is_empty());
        assert!(!tmp.path().join(format!("{FILE}.probe")).exists());
        journal.append(record("b")).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writers_share_fsyncs_and_nothing_is_lost_or_doubled() {
        let tmp = tempfile::tempdir().unwrap();
        let (journal, _) = Journal::open(tmp.path()).unwrap();
        let mut tasks = Vec::new();
        for client in 0..16 {
            let journal = journal.clone();
            tasks.push(tokio::spawn(async move {
                for n in 0..50 {
                    journal
                        .append(record(&format!("{client}-{n}")))
                        .await
                        .unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let stats = journal.stats();
        assert_eq!(stats.appended, 800);
        assert!(
            stats.fsyncs < 800,
            "16 concurrent writers never shared an fsync: {stats:?}"
        );
        drop(journal);
        let (_j, pending) = Journal::open(tmp.path()).unwrap();
        let mut ids: Vec<String> = pending.into_iter().map(|r| r.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 800);
    }
}
