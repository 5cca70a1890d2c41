//! What releases the coordination primitives' owners (docs/design/coord.md):
//! every node releases what its own ended processes owned; the store's
//! leader releases what the processes of down or departed nodes owned, and
//! expires leases by its clock. All of it through store writes, so every
//! watcher and waiter sees the release.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::cluster::Cluster;
use crate::cluster::coord::{CoordCommand, Owner};
use crate::cluster::state::Command;
use crate::table::ProcessTable;
use proto::{Gpid, Slot, now_ms};

/// How often owners and leases are checked.
const CHECK_EVERY: Duration = Duration::from_millis(200);
/// How long a node must have been seen down (beyond gossip's own
/// detection) before the leader releases what its processes owned.
const DOWN_CONFIRM: Duration = Duration::from_secs(1);
/// How long a node gossip says is down has to answer the leader's probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Starts the release task.
pub fn spawn(
    cluster: Arc<Cluster>,
    table: Arc<ProcessTable>,
    down_after: Duration,
    shutdown: CancellationToken,
) {
    tokio::spawn(async move {
        let started = Instant::now();
        let mut down_since: HashMap<Slot, Instant> = HashMap::new();
        let mut changes = cluster.coord.changes();
        loop {
            // Nothing owned by a process and no lease: nothing to check
            // until the coordination state changes (an idle node woke 5
            // times a second for nothing).
            changes.borrow_and_update();
            let idle = cluster
                .coord
                .read(|c| c.process_owners().is_empty() && c.next_expiry_ms().is_none());
            if idle {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    changed = changes.changed() => if changed.is_err() { return },
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(CHECK_EVERY) => {}
            }
            let owners = cluster.coord.read(|c| c.process_owners());
            let mut ended = Vec::new();
            let mut by_slot: BTreeMap<Slot, Vec<Gpid>> = BTreeMap::new();
            for pid in owners {
                by_slot.entry(pid.slot()).or_default().push(pid);
            }
            // This node's ended processes.
            for pid in by_slot.remove(&cluster.slot).unwrap_or_default() {
                let running = table.starting(pid) || table.get(pid).is_ok_and(|p| !p.is_finished());
                if !running {
                    ended.push(Owner::Process(pid));
                }
            }
            let leader = cluster.is_leader();
            if leader {
                // Other nodes' processes, once their node is down for sure
                // (and this leader has listened to gossip long enough).
                let now = Instant::now();
                let members = cluster.members();
                down_since.retain(|slot, _| !cluster.is_up(*slot));
                let settled = now.duration_since(started) >= down_after + DOWN_CONFIRM;
                for (slot, pids) in by_slot {
                    let gone = match members.get(&slot) {
                        None => true,
                        Some(m) if m.left => true,
                        Some(_) if cluster.is_up(slot) => false,
                        Some(m) => {
                            let since = *down_since.entry(slot).or_insert(now);
                            // Gossip says down; a node that still answers
                            // (overloaded, not gone) keeps what it holds.
                            settled
                                && now.duration_since(since) >= DOWN_CONFIRM
                                && !answers(&cluster, m).await
                        }
                    };
                    if gone {
                        ended.extend(pids.into_iter().map(Owner::Process));
                    }
                }
            }
            if !ended.is_empty() {
                tracing::info!(owners = ?ended, "releasing what ended owners held");
                if let Err(e) = cluster
                    .write(
                        Command::Coord(CoordCommand::Release { owners: ended }),
                        false,
                    )
                    .await
                {
                    tracing::warn!(error = %e.message(), "cannot release ended owners");
                }
            }
            let now = now_ms();
            if leader
                && cluster
                    .coord
                    .read(|c| c.next_expiry_ms())
                    .is_some_and(|t| t <= now)
                && let Err(e) = cluster
                    .write(
                        Command::Coord(CoordCommand::ExpireLeases { now_ms: now }),
                        false,
                    )
                    .await
            {
                tracing::warn!(error = %e.message(), "cannot expire leases");
            }
        }
    });
}

/// Whether `member`'s API answers a cheap call within [`PROBE_TIMEOUT`]:
/// the last word before what its processes own is released.
async fn answers(cluster: &Cluster, member: &crate::cluster::state::Member) -> bool {
    let probe = async {
        let channel = cluster.channel_to(member).await.ok()?;
        proto::v1::cluster_client::ClusterClient::new(channel)
            .nodes(crate::cluster::forwarded_request(
                proto::v1::NodesRequest {},
                Some(PROBE_TIMEOUT),
            ))
            .await
            .ok()
    };
    tokio::time::timeout(PROBE_TIMEOUT, probe)
        .await
        .ok()
        .flatten()
        .is_some()
}
