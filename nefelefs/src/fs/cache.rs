//! What nefelefs remembers of the cluster: one [`TtlCache`] per answer
//! (full and brief process listings, nodes, services), each serving for
//! [`LIST_TTL`]; concurrent callers of a stale listing share one List.

use super::*;

/// One answer, kept for [`LIST_TTL`]; held only to copy or replace the Arc.
pub(super) struct TtlCache<T> {
    slot: Mutex<Option<(Instant, Arc<T>)>>,
}

impl<T> Default for TtlCache<T> {
    fn default() -> Self {
        TtlCache {
            slot: Mutex::new(None),
        }
    }
}

impl<T> TtlCache<T> {
    /// The answer while it is under [`LIST_TTL`] old.
    pub(super) fn fresh(&self) -> Option<Arc<T>> {
        self.slot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .filter(|(at, _)| at.elapsed() < LIST_TTL)
            .map(|(_, value)| value.clone())
    }

    /// Keeps a new answer.
    pub(super) fn store(&self, value: Arc<T>) -> Arc<T> {
        *self.slot.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), value.clone()));
        value
    }

    /// Forgets the answer.
    pub(super) fn clear(&self) {
        *self.slot.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// How much longer the answer serves.
    pub(super) fn time_left(&self) -> Duration {
        self.slot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map_or(Duration::ZERO, |(at, _)| {
                LIST_TTL.saturating_sub(at.elapsed())
            })
    }
}

impl<B: Backend> NefeleFs<B> {
    /// The cluster's boot time: the earliest node boot (ms), so START and
    /// ELAPSED are right for processes of every node.
    pub(super) async fn cluster_boot_ms(&self) -> u64 {
        self.node_list()
            .await
            .ok()
            .and_then(|nodes| {
                nodes
                    .iter()
                    .map(|n| n.boot_time_ms)
                    .filter(|b| *b > 0)
                    .min()
            })
            .unwrap_or(0)
    }

    pub(super) async fn process_table(&self) -> FsResult<ProcessTable> {
        self.listing(false).await
    }

    /// Every process with at least its PID, owner and start time: the full
    /// listing while it is fresh, else (in the full view) a brief one
    /// (cheaper for the nodes: `ls proc/` needs no CPU times).
    pub(super) async fn pid_table(&self) -> FsResult<ProcessTable> {
        // The tools that read the procps view read every process's `stat`
        // right after listing: one full List serves both.
        if self.view == View::Procps {
            return self.process_table().await;
        }
        if let Some(table) = self.processes.fresh() {
            return Ok(table);
        }
        self.listing(true).await
    }

    /// A full or brief listing, from the cache while fresh.
    pub(super) async fn listing(&self, brief: bool) -> FsResult<ProcessTable> {
        let (refreshing, processes) = if brief {
            (&self.brief_refreshing, &self.brief_processes)
        } else {
            (&self.refreshing, &self.processes)
        };
        if let Some(table) = processes.fresh() {
            return Ok(table);
        }
        let refresh = {
            let mut slot = refreshing.lock().unwrap_or_else(|e| e.into_inner());
            match slot.as_ref() {
                Some(pending) => pending.clone(),
                None => {
                    let backend = self.backend.clone();
                    let pending = async move {
                        let list = backend.list(brief).await?;
                        Ok(Arc::new(
                            list.into_iter()
                                .filter_map(|p| Some((crate::backend::gpid(p.pid).ok()?, p)))
                                .collect::<HashMap<_, _>>(),
                        ))
                    }
                    .boxed()
                    .shared();
                    *slot = Some(pending.clone());
                    pending
                }
            }
        };
        let result = refresh.await;
        refreshing.lock().unwrap_or_else(|e| e.into_inner()).take();
        let table = result?;
        // Renderings of processes no longer listed go.
        self.rendered.retain(|ino, _| {
            Gpid::from_raw(i64::try_from(*ino >> 8).unwrap_or(0))
                .is_ok_and(|pid| table.contains_key(&pid))
        });
        self.environs.retain(|pid, _| table.contains_key(pid));
        Ok(processes.store(table))
    }

    /// Forgets the cached List and the renderings of `pid` (after a write
    /// changed it).
    pub(super) fn invalidate(&self, pid: Gpid) {
        self.processes.clear();
        self.brief_processes.clear();
        for ino in sized_inos(pid) {
            self.rendered.remove(&ino);
        }
    }

    /// How much longer the cached List serves: the longest the kernel may
    /// keep the size of a sized file, so content is never older than the
    /// List's lifetime.
    pub fn listing_time_left(&self) -> Duration {
        self.processes.time_left()
    }

    pub(super) async fn node_list(&self) -> FsResult<Arc<Vec<NodeInfo>>> {
        if let Some(nodes) = self.nodes.fresh() {
            return Ok(nodes);
        }
        Ok(self.nodes.store(Arc::new(self.backend.nodes().await?)))
    }

    /// A process: from the cached List while it is fresh, else asked for.
    pub(super) async fn process(&self, pid: Gpid) -> FsResult<ProcessInfo> {
        // A stale listing is refreshed as a whole (one List shared by
        // every concurrent caller), not process by process: tools read
        // every process right after listing them.
        let table = self.process_table().await?;
        match table.get(&pid) {
            Some(info) => Ok(info.clone()),
            // Started after the listing: ask for it.
            None => self.backend.get(pid, false).await,
        }
    }

    /// A process's PID, owner and start time (what attributes need): from
    /// a fresh listing, full or brief, else asked for.
    pub(super) async fn listed(&self, pid: Gpid) -> FsResult<ProcessInfo> {
        match self.pid_table().await?.get(&pid) {
            Some(info) => Ok(info.clone()),
            None => self.backend.get(pid, false).await,
        }
    }

    pub(super) async fn node_by_slot(&self, slot: Slot) -> FsResult<NodeInfo> {
        self.node_list()
            .await?
            .iter()
            .find(|n| n.slot == slot.get())
            .cloned()
            .ok_or(FsError::NotFound)
    }
}
