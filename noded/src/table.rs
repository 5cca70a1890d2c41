//! The process table: every process this node knows, running or kept as an
//! exit record, keyed by cluster PID. It allocates PIDs, hands spawns to the
//! supervisor, adopts what the keeper holds at start, applies the keeper's
//! events (output grew, a process ended), finds everything lost when the
//! keeper dies (and starts a new one), stops everything when asked and
//! prunes old exit records. The API (api/) is its only caller besides `run`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dashmap::DashMap;
use proto::Gpid;
use proto::keeper as k;
use tokio::sync::{Notify, mpsc, watch};

use crate::error::ProcError;
use crate::keeper::client::{self, Connected, Event, KeeperLink};
use crate::pid_alloc::PidAllocator;
use crate::process::{Process, Status};
use crate::records::{SpawnRecord, StoredProcess};

use crate::supervisor::{self, NodeContext, SpawnSpec};

/// How long a spawn waits for a new keeper after one died.
const KEEPER_WAIT: Duration = Duration::from_secs(15);
/// How long to wait between attempts to start a new keeper.
const KEEPER_RETRY: Duration = Duration::from_secs(1);

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
    /// The keeper new processes are given to (replaced when one dies).
    keeper: watch::Sender<Arc<KeeperLink>>,
    /// Events for processes whose spawn is in flight (the keeper may report
    /// output before the spawn's reply is handled), by raw PID. An entry
    /// exists exactly while its spawn is in flight.
    early: Mutex<HashMap<i32, Vec<Event>>>,
    /// Woken whenever a spawn in flight settles (its `early` entry goes).
    settled: Notify,
}

impl ProcessTable {
    /// Builds the table from the records of earlier runs and what the
    /// keeper holds: kept processes are adopted (running, or with the exit
    /// they had while noded was away); others that were running are lost.
    /// Then follows the keeper's events.
    pub fn open(
        ctx: Arc<NodeContext>,
        stored: Vec<StoredProcess>,
        connected: Connected,
    ) -> anyhow::Result<Arc<Self>> {
        let Connected {
            link,
            welcome,
            events,
        } = connected;
        let procs = DashMap::new();
        let mut highest = 0;
        let mut kept: HashMap<i32, k::Kept> =
            welcome.processes.into_iter().map(|p| (p.pid, p)).collect();
        let mut adopted = 0;
        for s in stored {
            let held = kept.remove(&s.spawn.pid.as_raw());
            let process = match held {
                Some(held) if s.exit.is_none() => {
                    adopted += 1;
                    Some(adopt(&ctx, &link, s.spawn, held))
                }
                other => {
                    if let Some(held) = other {
                        forget(&link, held.pid);
                    }
                    supervisor::restore(&ctx, s)
                }
            };
            if let Some(p) = process {
                if p.gpid.slot() == ctx.slot {
                    highest = highest.max(p.gpid.serial());
                }
                procs.insert(p.gpid, p);
            }
        }
        // Kept, but the journal lost the spawn line (noded died right after
        // the spawn): the keeper has the record.
        for (_, held) in kept {
            let Ok(mut record) = serde_json::from_slice::<SpawnRecord>(&held.record) else {
                tracing::warn!(
                    pid = held.pid,
                    "the keeper holds a process without a readable record; stopping it"
                );
                link.notify(k::to_keeper::Body::Signal(k::Signal {
                    pid: held.pid,
                    signal: libc::SIGKILL,
                }));
                continue;
            };
            record.host_pid = held.host_pid;
            record.host_start_ticks = held.host_start_ticks;
            if let Err(e) = ctx.journal.record_spawn(&record) {
                tracing::warn!(pid = held.pid, error = %e, "cannot save spawn record");
            }
            adopted += 1;
            let p = adopt(&ctx, &link, record, held);
            if p.gpid.slot() == ctx.slot {
                highest = highest.max(p.gpid.serial());
            }
            procs.insert(p.gpid, p);
        }
        if adopted > 0 {
            tracing::info!(adopted, "adopted the processes the keeper held");
        }
        let alloc = PidAllocator::open(&ctx.data_dir, ctx.slot, highest);
        let table = Arc::new(ProcessTable {
            ctx,
            procs,
            alloc: Mutex::new(alloc),
            accepting: AtomicBool::new(true),
            keeper: watch::Sender::new(link.clone()),
            early: Mutex::new(HashMap::new()),
            settled: Notify::new(),
        });
        table.prune();
        tokio::spawn(table.clone().follow_keeper(link, events));
        Ok(table)
    }

    /// Applies the keeper's events until it is gone; then every process it
    /// held is lost, and a new keeper is started for what comes next.
    async fn follow_keeper(
        self: Arc<Self>,
        mut link: Arc<KeeperLink>,
        mut events: mpsc::UnboundedReceiver<Event>,
    ) {
        loop {
            while let Some(event) = events.recv().await {
                self.apply(event, &link);
            }
            if !self.accepting.load(Ordering::SeqCst) && self.ctx.stop_processes {
                return; // shutting down: the keeper stopped with us
            }
            tracing::error!("the node's keeper is gone; its processes are lost");
            for p in self.list() {
                if p.keeper.as_ref().is_some_and(|l| Arc::ptr_eq(l, &link)) {
                    supervisor::lose(&self.ctx, &p, "its keeper died");
                }
            }
            let connected = loop {
                match client::connect(&self.ctx.data_dir, self.ctx.stop_processes).await {
                    Ok(c) => break c,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot start a new keeper; retrying");
                        tokio::time::sleep(KEEPER_RETRY).await;
                    }
                }
            };
            // A fresh keeper holds nothing; anything it does hold is not
            // ours to guess about.
            for held in &connected.welcome.processes {
                forget(&connected.link, held.pid);
            }
            link = connected.link;
            events = connected.events;
            self.keeper.send_replace(link.clone());
        }
    }

    /// One event from the keeper.
    fn apply(&self, event: Event, link: &Arc<KeeperLink>) {
        let pid = match &event {
            Event::Output(o) => o.pid,
            Event::Exited(e) => e.pid,
        };
        let mut early = self.early.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(waiting) = early.get_mut(&pid) {
            waiting.push(event);
            return;
        }
        drop(early);
        let Some(process) = Gpid::from_raw(i64::from(pid))
            .ok()
            .and_then(|g| self.procs.get(&g).map(|p| p.clone()))
        else {
            return;
        };
        match event {
            Event::Output(o) => supervisor::mirror_output(&process, &o),
            Event::Exited(e) => {
                crate::metrics::METRICS.exits.inc();
                supervisor::finish(&self.ctx, &process, supervisor::exit_record(&e));
                forget(link, pid);
            }
        }
    }

    /// This node's context.
    pub fn ctx(&self) -> &NodeContext {
        &self.ctx
    }

    /// Validates, allocates a PID and starts the process (counted in the
    /// metrics).
    pub async fn spawn(&self, spec: SpawnSpec) -> Result<Arc<Process>, ProcError> {
        let started = std::time::Instant::now();
        let result = self.start_process(spec).await;
        let metrics = &crate::metrics::METRICS;
        match &result {
            Ok(_) => {
                metrics.spawns.inc();
                metrics
                    .spawn_seconds
                    .observe(started.elapsed().as_secs_f64());
            }
            Err(_) => {
                metrics.spawn_failures.inc();
            }
        }
        result
    }

    async fn start_process(&self, spec: SpawnSpec) -> Result<Arc<Process>, ProcError> {
        if !self.accepting.load(Ordering::SeqCst) {
            return Err(ProcError::ShuttingDown(self.ctx.name.clone()));
        }
        // Resolving the executable and the user reads files: off the
        // runtime's workers.
        let ctx = self.ctx.clone();
        let prepared =
            tokio::task::spawn_blocking(move || supervisor::prepare(spec, &ctx.limits, &ctx.name))
                .await
                .map_err(|e| ProcError::Keeper(format!("spawn preparation failed: {e}")))??;
        let gpid = {
            let mut alloc = self.alloc.lock().unwrap_or_else(|e| e.into_inner());
            alloc.allocate(|g| self.procs.contains_key(&g))?
        };
        // Right after a keeper died, wait for its successor.
        let mut current = self.keeper.subscribe();
        let keeper =
            match tokio::time::timeout(KEEPER_WAIT, current.wait_for(|k| !k.gone.is_cancelled()))
                .await
            {
                Ok(Ok(k)) => k.clone(),
                _ => {
                    return Err(ProcError::Keeper(format!(
                        "node {} has no keeper to start processes (see keeper.log in its data dir)",
                        self.ctx.name
                    )));
                }
            };
        let raw = gpid.as_raw();
        self.early
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(raw, Vec::new());
        let started = supervisor::start(&self.ctx, &keeper, gpid, prepared).await;
        let (process, waiting) = {
            let mut early = self.early.lock().unwrap_or_else(|e| e.into_inner());
            let waiting = early.remove(&raw).unwrap_or_default();
            let inserted = started.inspect(|p| {
                self.procs.insert(gpid, p.clone());
            });
            self.settled.notify_waiters();
            (inserted?, waiting)
        };
        for event in waiting {
            self.apply(event, &keeper);
        }
        if !self.accepting.load(Ordering::SeqCst) && self.ctx.stop_processes {
            // Shutdown began while this spawn was in flight and may have
            // missed it: do not leave it behind.
            let _ = process.signal(libc::SIGKILL).await;
            return Err(ProcError::ShuttingDown(self.ctx.name.clone()));
        }
        tracing::debug!(pid = %gpid, host_pid = process.record.host_pid, argv = ?process.record.argv, "spawned");
        Ok(process)
    }

    /// Looks up a process of this node; one whose spawn is still in flight
    /// (it may already run and ask about itself, e.g. through
    /// `$NEFELE_PID`) is waited for until the spawn settles.
    pub async fn lookup(&self, gpid: Gpid) -> Result<Arc<Process>, ProcError> {
        loop {
            let settled = self.settled.notified();
            tokio::pin!(settled);
            // Registered before looking, so a spawn settling in between
            // still wakes this wait.
            settled.as_mut().enable();
            if !self.starting(gpid) {
                return self.get(gpid);
            }
            settled.await;
        }
    }

    /// Whether `gpid`'s spawn is in flight: it may run already, but is not
    /// in the table yet.
    pub fn starting(&self, gpid: Gpid) -> bool {
        self.early
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&gpid.as_raw())
    }

    /// Looks up a process of this node as the table has it now.
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

    /// Samples this node's load (the machine's, and how many processes it
    /// runs) every `every` into a watch, for gossip, until `shutdown`.
    pub fn sample_load(
        self: &Arc<Self>,
        every: Duration,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> watch::Receiver<crate::cluster::gossip::SelfLoad> {
        let (tx, rx) = watch::channel(crate::cluster::gossip::SelfLoad::default());
        let table = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(every) => {}
                }
                // Two small files of /proc, which never wait on a disk:
                // read in place (a blocking-pool thread woken every
                // second on every node added up on large clusters).
                let machine = crate::hostproc::machine_load();
                let procs = table.running_count();
                if tx
                    .send(crate::cluster::gossip::SelfLoad { machine, procs })
                    .is_err()
                {
                    return;
                }
            }
        });
        rx
    }

    /// Refuses new spawns from now on (shutdown).
    pub fn stop_accepting(&self) {
        self.accepting.store(false, Ordering::SeqCst);
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
            let _ = p.signal(libc::SIGTERM).await;
            // A stopped group would never see the SIGTERM.
            let _ = p.signal(libc::SIGCONT).await;
        }
        let all_finished = futures::future::join_all(running.iter().map(|p| p.finished()));
        if tokio::time::timeout(grace, all_finished).await.is_ok() {
            return;
        }
        for p in running.iter().filter(|p| !p.is_finished()) {
            tracing::warn!(pid = %p.gpid, "still running after the grace period; killing");
            let _ = p.signal(libc::SIGKILL).await;
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
        let now = proto::now_ms();
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
                pruned.insert(gpid);
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

/// Tells the keeper it may drop a process whose exit is recorded (`raw`:
/// the PID as the keeper protocol carries it).
fn forget(link: &KeeperLink, raw: i32) {
    link.notify(k::to_keeper::Body::Forget(k::Forget { pid: raw }));
}

/// Adopts a process the keeper holds: running, or ended while noded was
/// away (its exit is recorded now).
fn adopt(
    ctx: &NodeContext,
    link: &Arc<KeeperLink>,
    mut record: SpawnRecord,
    held: k::Kept,
) -> Arc<Process> {
    record.host_pid = held.host_pid;
    if record.host_start_ticks == 0 {
        record.host_start_ticks = held.host_start_ticks;
    }
    let process = supervisor::view(ctx, record, Status::Running, link, held.stdin_open);
    for output in [&held.stdout, &held.stderr].into_iter().flatten() {
        supervisor::mirror_output(&process, output);
    }
    if let Some(exited) = &held.exited {
        supervisor::finish(ctx, &process, supervisor::exit_record(exited));
        forget(link, held.pid);
    }
    process
}
