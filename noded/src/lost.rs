//! A down node's processes stay in view (SPEC §6, §10): every node
//! publishes a summary of its running processes in the cluster store
//! (debounced: at most one write per [`PUBLISH_EVERY`], only when the set
//! changed), and a List that cannot reach a node shows what that node last
//! published as `lost`, until the node answers again (then its real state)
//! or the process's service replaced it.
//!
//! The store, not gossip, carries them: gossip is plain UDP and argv and
//! user names are not for the network to read (docs/design/security.md).

use std::sync::Arc;
use std::time::Duration;

use proto::v1::{ProcessInfo, ProcessState};
use tokio_util::sync::CancellationToken;

use crate::auth::Principal;
use crate::cluster::Cluster;
use crate::cluster::services::parse_process_name;
use crate::cluster::state::{ClusterState, Command, ProcSummary, SUMMARY_ARGV_BYTES};
use crate::process::Process;
use crate::table::ProcessTable;

/// How often a node checks whether its running set changed.
pub const PUBLISH_EVERY: Duration = Duration::from_secs(2);
/// Most processes one node publishes (the rest are not shown while it is
/// down; the number is in the log).
pub const MAX_PUBLISHED: usize = 10_000;

/// Publishes this node's running processes until `shutdown`.
pub fn spawn_publisher(
    table: Arc<ProcessTable>,
    cluster: Arc<Cluster>,
    shutdown: CancellationToken,
) {
    tokio::spawn(async move {
        let mut published: Option<Arc<Vec<ProcSummary>>> = None;
        loop {
            let running = running(&table);
            let changed = published.as_deref() != Some(&running);
            if changed {
                let running = Arc::new(running);
                let command = Command::SetProcesses {
                    slot: cluster.slot,
                    processes: running.clone(),
                };
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    written = cluster.write(command, false) => match written {
                        Ok(_) => published = Some(running),
                        Err(e) => tracing::debug!(error = %e.message(), "cannot publish the running processes; retrying"),
                    },
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(PUBLISH_EVERY) => {}
            }
        }
    });
}

/// Publishes the running set once more, now (bounded by `timeout`): a
/// node that stops and leaves its processes to the keeper, so that those
/// started since the last round show as `lost` while it is away, not
/// hidden.
pub async fn publish_now(table: &ProcessTable, cluster: &Cluster, timeout: Duration) {
    let command = Command::SetProcesses {
        slot: cluster.slot,
        processes: Arc::new(running(table)),
    };
    match tokio::time::timeout(timeout, cluster.write(command, false)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e.message(), "cannot publish the running processes"),
        Err(_) => tracing::warn!(?timeout, "cannot publish the running processes in time"),
    }
}

/// This node's running processes, as the store keeps them.
fn running(table: &ProcessTable) -> Vec<ProcSummary> {
    table
        .list()
        .iter()
        .filter(|p| !p.is_finished())
        .take(MAX_PUBLISHED)
        .map(|p| summary(p))
        .collect()
}

/// What the store keeps of a running process.
fn summary(p: &Process) -> ProcSummary {
    let r = &p.record;
    let mut budget = SUMMARY_ARGV_BYTES;
    let argv = r
        .argv
        .iter()
        .map_while(|a| {
            let take = a.len().min(budget);
            if take == 0 && !a.is_empty() {
                return None;
            }
            budget -= take;
            let mut end = take;
            while !a.is_char_boundary(end) {
                end -= 1;
            }
            Some(a[..end].to_string())
        })
        .collect();
    ProcSummary {
        pid: r.pid,
        ppid: r.ppid,
        host_pid: r.host_pid,
        name: r.name.clone(),
        argv,
        cwd: r.cwd.clone(),
        exe: r.exe.clone(),
        user: p.owner().to_string(),
        uid: r.uid,
        gid: r.gid,
        start_time_ms: r.start_time_ms,
        tty: r.tty,
    }
}

/// The processes `node` last published, as `lost` entries that `principal`
/// may see and `states` asks for, minus those their service replaced.
pub fn lost_on(
    state: &ClusterState,
    node: &str,
    principal: &Principal,
    states: &[i32],
) -> Vec<ProcessInfo> {
    let wanted = |s: ProcessState| {
        states
            .iter()
            .all(|x| *x == ProcessState::Unspecified as i32)
            || states.contains(&(s as i32))
    };
    if !wanted(ProcessState::Lost) {
        return Vec::new();
    }
    let Some(member) = state.by_name(node) else {
        return Vec::new();
    };
    let Some(published) = state.processes.get(&member.slot) else {
        return Vec::new();
    };
    published
        .iter()
        .filter(|p| principal.may_see(&p.user))
        .filter(|p| match parse_process_name(&p.name) {
            // A replica's process counts only while its record names it.
            Some((service, index)) => state
                .services
                .get(service)
                .and_then(|s| s.replicas.get(&index))
                .is_some_and(|r| r.pid == Some(p.pid)),
            None => true,
        })
        .map(|p| ProcessInfo {
            pid: p.pid.as_raw(),
            ppid: p.ppid.map_or(0, proto::Gpid::as_raw),
            node: node.to_string(),
            host_pid: p.host_pid,
            argv: p.argv.clone(),
            cwd: p.cwd.clone(),
            name: p.name.clone(),
            state: ProcessState::Lost as i32,
            start_time_ms: p.start_time_ms,
            tty: p.tty,
            uid: p.uid,
            gid: p.gid,
            exe: p.exe.clone(),
            user: p.user.clone(),
            lost_reason: format!("its node {node} is down"),
            ..ProcessInfo::default()
        })
        .collect()
}
