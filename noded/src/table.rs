//! The process table: every process this node knows, running or kept as an
//! exit record, keyed by cluster PID. It allocates PIDs, hands spawns to the
//! supervisor, answers lookups, stops everything at shutdown and prunes old
//! exit records. The API (api/) is its only caller besides `run`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dashmap::DashMap;
use proto::Gpid;

use crate::error::ProcError;
use crate::pid_alloc::PidAllocator;
use crate::process::{Process, Status};
use crate::records::StoredProcess;

use crate::supervisor::{self, NodeContext, SpawnSpec};

/// How long shutdown waits for processes to be reaped after SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// All processes of this node.
#[derive(Debug)]
pub struct ProcessTable {
    ctx: Arc<NodeContext>,
    procs: DashMap<Gpid, Arc<Process>>,
    /// Picks serials; held only while choosing a number, never across an
    /// await.
    alloc: Mutex<PidAllocator>,
    /// Cleared when shutdown begins: no new spawns.
    accepting: AtomicBool,
}

impl ProcessTable {
    /// Builds the table from the records of earlier runs, recovering
    /// processes that were running when noded died.
    pub fn open(ctx: Arc<NodeContext>, stored: Vec<StoredProcess>) -> anyhow::Result<Self> {
        let procs = DashMap::new();
        let mut highest = 0;
        for s in stored {
            if let Some(p) = supervisor::restore(&ctx, s) {
                if p.gpid.slot() == ctx.slot {
                    highest = highest.max(p.gpid.serial());
                }
                procs.insert(p.gpid, p);
            }
        }
        let alloc = PidAllocator::open(&ctx.data_dir, ctx.slot, highest);
        let table = ProcessTable {
            ctx,
            procs,
            alloc: Mutex::new(alloc),
            accepting: AtomicBool::new(true),
        };
        table.prune();
        Ok(table)
    }

    /// This node's context.
    pub fn ctx(&self) -> &NodeContext {
        &self.ctx
    }

    /// Validates, allocates a PID and starts the process.
    pub async fn spawn(&self, spec: SpawnSpec) -> Result<Arc<Process>, ProcError> {
        if !self.accepting.load(Ordering::SeqCst) {
            return Err(ProcError::ShuttingDown(self.ctx.name.clone()));
        }
        let prepared = supervisor::prepare(spec, &self.ctx.limits, &self.ctx.name)?;
        let gpid = {
            let mut alloc = self.alloc.lock().unwrap_or_else(|e| e.into_inner());
            alloc.allocate(|g| self.procs.contains_key(&g))?
        };
        let process = supervisor::start(&self.ctx, gpid, prepared)?;
        self.procs.insert(gpid, process.clone());
        if !self.accepting.load(Ordering::SeqCst) {
            // Shutdown began while this spawn was in flight and may have
            // missed it: do not leave it behind.
            let _ = supervisor::signal(&process, libc::SIGKILL);
            return Err(ProcError::ShuttingDown(self.ctx.name.clone()));
        }
        tracing::debug!(pid = %gpid, host_pid = process.record.host_pid, argv = ?process.record.argv, "spawned");
        Ok(process)
    }

    /// Looks up a process of this node.
    pub fn get(&self, gpid: Gpid) -> Result<Arc<Process>, ProcError> {
        if let Some(p) = self.procs.get(&gpid) {
            return Ok(p.clone());
        }
        if gpid.slot() != self.ctx.slot {
            return Err(ProcError::UnknownSlot {
                pid: gpid,
                slot: gpid.slot(),
            });
        }
        Err(ProcError::NoSuchProcess(gpid))
    }

    /// Every process, ordered by PID.
    pub fn list(&self) -> Vec<Arc<Process>> {
        let mut all: Vec<_> = self.procs.iter().map(|e| e.value().clone()).collect();
        all.sort_by_key(|p| p.gpid);
        all
    }

    /// Processes not yet finished.
    pub fn running_count(&self) -> usize {
        self.procs
            .iter()
            .filter(|e| !e.value().is_finished())
            .count()
    }

    /// Shutdown: refuse new spawns, SIGTERM every group, wait up to `grace`,
    /// SIGKILL what is left, and wait for the exits to be recorded.
    pub async fn stop_all(&self, grace: Duration) {
        self.accepting.store(false, Ordering::SeqCst);
        let running: Vec<_> = self
            .list()
            .into_iter()
            .filter(|p| !p.is_finished())
            .collect();
        if running.is_empty() {
            return;
        }
        tracing::info!(count = running.len(), "stopping processes");
        for p in &running {
            let _ = supervisor::signal(p, libc::SIGTERM);
            // A stopped group would never see the SIGTERM.
            let _ = supervisor::signal(p, libc::SIGCONT);
        }
        let all_finished = futures::future::join_all(running.iter().map(|p| p.finished()));
        if tokio::time::timeout(grace, all_finished).await.is_ok() {
            return;
        }
        for p in running.iter().filter(|p| !p.is_finished()) {
            tracing::warn!(pid = %p.gpid, "still running after the grace period; killing");
            let _ = supervisor::signal(p, libc::SIGKILL);
        }
        let all_finished = futures::future::join_all(running.iter().map(|p| p.finished()));
        if tokio::time::timeout(KILL_WAIT, all_finished).await.is_err() {
            tracing::error!("some processes were not reaped after SIGKILL");
        }
    }

    /// Deletes exit records (and their output) beyond the retention limits:
    /// older than the TTL, or beyond the most recent `exit_records_max`.
    pub fn prune(&self) {
        let limits = &self.ctx.limits;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let ttl_ms = limits.exit_record_ttl_secs.saturating_mul(1000);
        let mut finished: Vec<(u64, Gpid)> = self
            .procs
            .iter()
            .filter_map(|e| match e.value().status() {
                Status::Finished(exit) => Some((exit.end_time_ms, *e.key())),
                Status::Running => None,
            })
            .collect();
        finished.sort();
        let excess = finished.len().saturating_sub(limits.exit_records_max);
        let mut pruned = HashSet::new();
        for (i, (ended, gpid)) in finished.into_iter().enumerate() {
            if (i < excess || now.saturating_sub(ended) > ttl_ms)
                && let Some((_, p)) = self.procs.remove(&gpid)
            {
                pruned.insert(gpid.as_raw());
                match std::fs::remove_dir_all(&p.dir) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        tracing::warn!(pid = %gpid, error = %e, "cannot delete output of a pruned record");
                    }
                    _ => {}
                }
            }
        }
        if let Err(e) = self.ctx.journal.remove(&pruned) {
            tracing::warn!(error = %e, "cannot remove pruned records from the journal");
        }
    }
}
