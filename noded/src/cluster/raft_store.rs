//! Storage for openraft: a durable log (an append-only file of JSON records,
//! fsynced before a flush is reported) and the state machine holding the
//! [`ClusterState`] and the [`CoordState`], snapshotted to a file. Both
//! live in `DATA/raft/`. The coordination state is not copied out after
//! each apply (it can be large): readers borrow it through [`CoordStore`].

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::File;
use std::io::{Cursor, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage, RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, OptionalSend, RaftLogReader, RaftSnapshotBuilder,
    SnapshotMeta, StorageError, StorageIOError, StoredMembership, Vote,
};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::TypeConfig;
use super::coord::CoordState;
use super::state::{ClusterState, Command, Reply};

type NodeId = u64;
type StorageResult<T> = Result<T, StorageError<NodeId>>;

/// Rewrite the log file once it holds this many records beyond the live ones.
const COMPACT_AFTER: usize = 10_000;

fn io_err(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::write(&e).into()
}

/// One line of the log file.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Record {
    Entry(Entry<TypeConfig>),
    Truncate(u64),
    Purge(LogId<NodeId>),
    Vote(Vote<NodeId>),
    Committed(Option<LogId<NodeId>>),
}

#[derive(Default)]
struct LogData {
    entries: BTreeMap<u64, Entry<TypeConfig>>,
    vote: Option<Vote<NodeId>>,
    committed: Option<LogId<NodeId>>,
    last_purged: Option<LogId<NodeId>>,
    records_written: usize,
}

impl LogData {
    fn apply(&mut self, record: Record) {
        match record {
            Record::Entry(e) => {
                self.entries.insert(e.log_id.index, e);
            }
            Record::Truncate(index) => {
                self.entries.split_off(&index);
            }
            Record::Purge(log_id) => {
                self.entries = self.entries.split_off(&(log_id.index + 1));
                self.last_purged = Some(log_id);
            }
            Record::Vote(v) => self.vote = Some(v),
            Record::Committed(c) => self.committed = c,
        }
    }
}

struct LogInner {
    path: PathBuf,
    file: File,
    data: LogData,
}

impl LogInner {
    /// Appends records and fsyncs them.
    fn write(&mut self, records: Vec<Record>, sync: bool) -> std::io::Result<()> {
        let mut buf = Vec::new();
        for r in &records {
            serde_json::to_writer(&mut buf, r)?;
            buf.push(b'\n');
        }
        self.file.write_all(&buf)?;
        if sync {
            self.file.sync_data()?;
        }
        self.data.records_written += records.len();
        for r in records {
            self.data.apply(r);
        }
        if self.data.records_written > self.data.entries.len() + COMPACT_AFTER {
            self.compact()?;
        }
        Ok(())
    }

    /// Rewrites the file with only what is live.
    fn compact(&mut self) -> std::io::Result<()> {
        let mut buf = Vec::new();
        let d = &self.data;
        let mut records = Vec::new();
        if let Some(v) = &d.vote {
            records.push(serde_json::to_vec(&Record::Vote(*v))?);
        }
        if let Some(p) = &d.last_purged {
            records.push(serde_json::to_vec(&Record::Purge(*p))?);
        }
        records.push(serde_json::to_vec(&Record::Committed(d.committed))?);
        for e in d.entries.values() {
            records.push(serde_json::to_vec(&Record::Entry(e.clone()))?);
        }
        for r in &records {
            buf.extend_from_slice(r);
            buf.push(b'\n');
        }
        let tmp = self.path.with_extension("tmp");
        let mut f = File::create(&tmp)?;
        f.write_all(&buf)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        crate::records::sync_dir(&self.path)?;
        self.file = std::fs::OpenOptions::new().append(true).open(&self.path)?;
        self.data.records_written = records.len();
        Ok(())
    }
}

/// The raft log. Clones share the same log (one is the reader).
#[derive(Clone)]
pub struct LogStore {
    /// File and in-memory index; held only for a write or a copy, never
    /// across an await.
    inner: Arc<Mutex<LogInner>>,
}

impl LogStore {
    /// Opens (or creates) the log in `dir`.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("log");
        let mut data = LogData::default();
        if let Ok(bytes) = std::fs::read(&path) {
            let lines: Vec<&[u8]> = bytes
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .collect();
            for (i, line) in lines.iter().enumerate() {
                match serde_json::from_slice::<Record>(line) {
                    Ok(r) => {
                        data.records_written += 1;
                        data.apply(r);
                    }
                    // A torn last line: its write was never reported done.
                    Err(e) if i + 1 == lines.len() => {
                        tracing::warn!(error = %e, "skipping a torn last raft log record")
                    }
                    Err(e) => {
                        return Err(std::io::Error::other(format!(
                            "corrupt raft log {} at record {}: {e}",
                            path.display(),
                            i + 1
                        )));
                    }
                }
            }
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        Ok(LogStore {
            inner: Arc::new(Mutex::new(LogInner { path, file, data })),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes records on a blocking thread: the fsync (and now and then a
    /// compaction, which rewrites the file) must not hold up a runtime
    /// worker. openraft calls the log one operation at a time, so writes
    /// keep their order.
    async fn write(&self, records: Vec<Record>, sync: bool) -> std::io::Result<()> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            inner
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .write(records, sync)
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> StorageResult<Vec<Entry<TypeConfig>>> {
        Ok(self
            .lock()
            .data
            .entries
            .range(range)
            .map(|(_, e)| e.clone())
            .collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> StorageResult<LogState<TypeConfig>> {
        let inner = self.lock();
        let last_purged_log_id = inner.data.last_purged;
        let last_log_id = inner
            .data
            .entries
            .values()
            .last()
            .map(|e| e.log_id)
            .or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> StorageResult<()> {
        LogStore::write(self, vec![Record::Vote(*vote)], true)
            .await
            .map_err(io_err)
    }

    async fn read_vote(&mut self) -> StorageResult<Option<Vote<NodeId>>> {
        Ok(self.lock().data.vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> StorageResult<()> {
        LogStore::write(self, vec![Record::Committed(committed)], false)
            .await
            .map_err(io_err)
    }

    async fn read_committed(&mut self) -> StorageResult<Option<LogId<NodeId>>> {
        Ok(self.lock().data.committed)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StorageResult<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let records: Vec<Record> = entries.into_iter().map(Record::Entry).collect();
        let result = LogStore::write(self, records, true).await;
        match result {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                let err = io_err(std::io::Error::new(e.kind(), e.to_string()));
                callback.log_io_completed(Err(e));
                Err(err)
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> StorageResult<()> {
        LogStore::write(self, vec![Record::Truncate(log_id.index)], true)
            .await
            .map_err(io_err)
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> StorageResult<()> {
        LogStore::write(self, vec![Record::Purge(log_id)], true)
            .await
            .map_err(io_err)
    }
}

/// What a snapshot holds.
#[derive(Clone, Default, Serialize, Deserialize)]
struct SmData {
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
    cluster: ClusterState,
    /// Absent in snapshots from before the coordination primitives.
    #[serde(default)]
    coord: CoordState,
}

#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, BasicNode>,
    data: Vec<u8>,
}

struct SmInner {
    data: SmData,
    snapshot: Option<StoredSnapshot>,
    snapshot_path: PathBuf,
    builds: u64,
}

/// The state machine. Clones share it (one is the snapshot builder).
#[derive(Clone)]
pub struct StateMachine {
    /// Held only while applying or copying, never across an await.
    inner: Arc<Mutex<SmInner>>,
    /// Publishes the cluster state after every apply, for the rest of noded.
    published: watch::Sender<ClusterState>,
    /// Counts applies that changed the coordination state.
    coord_changed: watch::Sender<u64>,
}

/// A reader of the coordination state: borrows it briefly under the state
/// machine's lock, and says when it changed.
#[derive(Clone)]
pub struct CoordStore {
    inner: Arc<Mutex<SmInner>>,
    changed: watch::Receiver<u64>,
}

impl CoordStore {
    /// Runs `f` on the current state (keep it short: applies wait).
    pub fn read<R>(&self, f: impl FnOnce(&CoordState) -> R) -> R {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&inner.data.coord)
    }

    /// A receiver that changes after every apply that touched the state.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changed.clone()
    }
}

impl std::fmt::Debug for CoordStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoordStore").finish_non_exhaustive()
    }
}

impl StateMachine {
    /// Opens the state machine in `dir`, starting from its last snapshot.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let snapshot_path = dir.join("snapshot.json");
        let corrupt = |e: serde_json::Error| {
            std::io::Error::other(format!(
                "corrupt raft snapshot {}: {e}",
                snapshot_path.display()
            ))
        };
        let snapshot: Option<StoredSnapshot> = match std::fs::read(&snapshot_path) {
            Ok(b) => Some(serde_json::from_slice(&b).map_err(corrupt)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let data = match &snapshot {
            Some(s) => serde_json::from_slice::<SmData>(&s.data).map_err(corrupt)?,
            None => SmData::default(),
        };
        let (published, _) = watch::channel(data.cluster.clone());
        let (coord_changed, _) = watch::channel(0);
        Ok(StateMachine {
            inner: Arc::new(Mutex::new(SmInner {
                data,
                snapshot,
                snapshot_path,
                builds: 0,
            })),
            published,
            coord_changed,
        })
    }

    /// The coordination state's reader.
    pub fn coord(&self) -> CoordStore {
        CoordStore {
            inner: self.inner.clone(),
            changed: self.coord_changed.subscribe(),
        }
    }

    /// Watches the cluster state.
    pub fn subscribe(&self) -> watch::Receiver<ClusterState> {
        self.published.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SmInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `snapshot` and writes it durably, on a blocking thread (the
    /// write and its fsync must not hold up a runtime worker). One older
    /// than the snapshot kept (a build overtaken by an install) is dropped.
    async fn save_snapshot(&self, snapshot: StoredSnapshot) -> std::io::Result<()> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut inner = inner.lock().unwrap_or_else(|e| e.into_inner());
            let kept = inner.snapshot.as_ref().map(|s| s.meta.last_log_id);
            if kept.is_some_and(|kept| kept > snapshot.meta.last_log_id) {
                return Ok(());
            }
            let bytes = serde_json::to_vec(&snapshot)?;
            crate::records::write_durably(&inner.snapshot_path, &bytes)?;
            inner.snapshot = Some(snapshot);
            Ok(())
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> StorageResult<Snapshot<TypeConfig>> {
        let (data, meta) = {
            let mut inner = self.lock();
            let data = serde_json::to_vec(&inner.data).map_err(io_err)?;
            inner.builds += 1;
            let meta = SnapshotMeta {
                last_log_id: inner.data.last_applied,
                last_membership: inner.data.membership.clone(),
                snapshot_id: format!(
                    "{}-{}",
                    inner.data.last_applied.map_or(0, |l| l.index),
                    inner.builds
                ),
            };
            (data, meta)
        };
        self.save_snapshot(StoredSnapshot {
            meta: meta.clone(),
            data: data.clone(),
        })
        .await
        .map_err(io_err)?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> StorageResult<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>)> {
        let inner = self.lock();
        Ok((inner.data.last_applied, inner.data.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> StorageResult<Vec<Reply>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut replies = Vec::new();
        let (mut cluster_changed, mut coord_changed) = (false, false);
        let cluster = {
            let mut inner = self.lock();
            for entry in entries {
                inner.data.last_applied = Some(entry.log_id);
                let reply = match entry.payload {
                    EntryPayload::Blank => Reply::Done,
                    EntryPayload::Normal(Command::Coord(command)) => {
                        coord_changed = true;
                        Reply::Coord(inner.data.coord.apply(&command))
                    }
                    EntryPayload::Normal(command) => {
                        cluster_changed = true;
                        inner.data.cluster.apply(&command)
                    }
                    EntryPayload::Membership(m) => {
                        cluster_changed = true;
                        inner.data.membership = StoredMembership::new(Some(entry.log_id), m);
                        Reply::Done
                    }
                };
                replies.push(reply);
            }
            cluster_changed.then(|| inner.data.cluster.clone())
        };
        if let Some(cluster) = cluster {
            self.published.send_replace(cluster);
        }
        if coord_changed {
            self.coord_changed.send_modify(|n| *n += 1);
        }
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> StorageResult<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> StorageResult<()> {
        let bytes = snapshot.into_inner();
        let data: SmData = serde_json::from_slice(&bytes).map_err(io_err)?;
        let cluster = data.cluster.clone();
        self.lock().data = data;
        self.save_snapshot(StoredSnapshot {
            meta: meta.clone(),
            data: bytes,
        })
        .await
        .map_err(io_err)?;
        self.published.send_replace(cluster);
        self.coord_changed.send_modify(|n| *n += 1);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> StorageResult<Option<Snapshot<TypeConfig>>> {
        let inner = self.lock();
        Ok(inner.snapshot.as_ref().map(|s| Snapshot {
            meta: s.meta.clone(),
            snapshot: Box::new(Cursor::new(s.data.clone())),
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use openraft::storage::RaftLogStorage;

    use super::*;

    #[tokio::test]
    async fn the_log_survives_a_restart_and_a_torn_tail_but_not_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LogStore::open(dir.path()).unwrap();
        log.save_vote(&Vote::new(1, 1)).await.unwrap();
        log.save_vote(&Vote::new(2, 3)).await.unwrap();
        drop(log);
        let path = dir.path().join("log");
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"vote\":")
            .unwrap();
        let mut log = LogStore::open(dir.path()).unwrap();
        assert_eq!(
            log.read_vote().await.unwrap(),
            Some(Vote::new(2, 3)),
            "a torn last record is skipped"
        );
        drop(log);

        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("garbage\n{text}")).unwrap();
        assert!(
            LogStore::open(dir.path()).is_err(),
            "corruption before the end is refused"
        );
    }

    #[test]
    fn a_corrupt_snapshot_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(StateMachine::open(dir.path()).is_ok());
        std::fs::write(dir.path().join("snapshot.json"), b"{").unwrap();
        assert!(StateMachine::open(dir.path()).is_err());
    }
}
