//! A cluster of real nodes under test: the founder first, the others
//! joined to it, waited on until every member is up and the store has its
//! voters.

use anyhow::{Context, bail};
use proto::connect;
use proto::v1::cluster_client::ClusterClient;
use proto::v1::{NodeInfo, NodeState, NodesRequest};

use crate::{Node, NodeOptions, TIMEOUT, wait_until};

/// A cluster of real nodes under test.
pub struct TestCluster {
    /// The nodes, founder first.
    pub nodes: Vec<Node>,
}

impl TestCluster {
    /// Starts `n` nodes: the first founds the cluster, the rest join it.
    pub async fn start(n: usize) -> anyhow::Result<TestCluster> {
        Self::start_with(n, NodeOptions::default()).await
    }

    /// Starts `n` nodes with `options` (their `join` is filled in).
    pub async fn start_with(n: usize, options: NodeOptions) -> anyhow::Result<TestCluster> {
        Self::start_each(n, |_| options.clone()).await
    }

    /// Starts `n` nodes, node `i` with `options(i)` (their `join` is filled
    /// in: the first founds the cluster, the others join it).
    pub async fn start_each(
        n: usize,
        options: impl Fn(usize) -> NodeOptions,
    ) -> anyhow::Result<TestCluster> {
        let first = Node::start_with(NodeOptions {
            join: Vec::new(),
            ..options(0)
        })
        .await?;
        let mut cluster = TestCluster { nodes: vec![first] };
        cluster.wait_members_up(1).await?;
        // Joiners start once the store has a leader (the founder lists
        // itself before its own registration is in the store; slot 1 is
        // kept for it either way, cluster/state.rs `next_slot`).
        cluster.leader().await?;
        let join = cluster.nodes[0].join_options().await?;
        let joins = (1..n).map(|i| {
            Node::start_with(NodeOptions {
                join: join.join.clone(),
                token: join.token.clone(),
                ..options(i)
            })
        });
        for node in futures::future::join_all(joins).await {
            cluster.nodes.push(node?);
        }
        cluster.wait_members_up(n).await?;
        // Joiners are learners until promoted: a test that stops a node
        // before then may take the store's majority with it (voters {1, 3}
        // of 3 members, say), which no user of a formed cluster would see.
        cluster
            .wait_voters(if n >= 5 { 5 } else { n.min(3) })
            .await?;
        Ok(cluster)
    }

    /// Waits until every running node lists `n` members, all up.
    pub async fn wait_members_up(&self, n: usize) -> anyhow::Result<()> {
        for node in self.nodes.iter().filter(|n| n.pid().is_some()) {
            let addr = node.addr();
            let seen = || {
                let addr = addr.clone();
                async move {
                    let mut c = ClusterClient::new(connect(&addr).await.ok()?);
                    Some(c.nodes(NodesRequest {}).await.ok()?.into_inner().nodes)
                }
            };
            let waited = wait_until(
                &format!("{} to see {n} members up", node.name),
                TIMEOUT,
                || async {
                    let nodes = seen().await?;
                    let up = nodes
                        .iter()
                        .filter(|m| m.state == NodeState::Up as i32)
                        .count();
                    (nodes.len() == n && up == n).then_some(())
                },
            )
            .await;
            if let Err(e) = waited {
                // Say what it sees, and what it logged last.
                let not_up: Vec<String> = seen()
                    .await
                    .unwrap_or_default()
                    .iter()
                    .filter(|m| m.state != NodeState::Up as i32)
                    .map(|m| format!("{} ({:?})", m.name, m.state()))
                    .collect();
                let log = node.log();
                let tail = last_lines(&log, 15, |_| true);
                // Warnings scroll away behind the debug lines that repeat;
                // the founder (the first leader) says how it saw this one.
                let warned = last_lines(&log, 20, is_warning);
                let founder = last_lines(&self.nodes[0].log(), 20, |l| {
                    is_warning(l) || l.contains(&node.name)
                });
                bail!(
                    "{e}; it lists {} members, as not up: {not_up:?}; its last warnings:\n{warned}\nits log ends:\n{tail}\nthe founder's last warnings and lines naming it:\n{founder}",
                    seen().await.map_or(0, |m| m.len())
                );
            }
        }
        Ok(())
    }

    /// What `node` says about the members.
    pub async fn members(&self, node: usize) -> anyhow::Result<Vec<NodeInfo>> {
        Ok(self.nodes[node]
            .cluster()
            .await?
            .nodes(NodesRequest {})
            .await?
            .into_inner()
            .nodes)
    }

    /// Waits until node 0 sees `n` store voters.
    pub async fn wait_voters(&self, n: usize) -> anyhow::Result<()> {
        wait_until(&format!("{n} store voters"), TIMEOUT, || async {
            let members = self.members(0).await.ok()?;
            (members.iter().filter(|m| m.store_voter).count() == n).then_some(())
        })
        .await
    }

    /// Index of the store's leader, once the first running node reports a
    /// leader that is running.
    pub async fn leader(&self) -> anyhow::Result<usize> {
        let asker = self
            .nodes
            .iter()
            .position(|n| n.pid().is_some())
            .context("no node runs")?;
        wait_until("a running store leader", TIMEOUT, || async {
            let members = self.members(asker).await.ok()?;
            let name = members.iter().find(|m| m.store_leader)?.name.clone();
            self.nodes
                .iter()
                .position(|n| n.name == name && n.pid().is_some())
        })
        .await
        .map_err(|e| {
            // What the running nodes last warned of (elections, votes).
            let warned: Vec<String> = self
                .nodes
                .iter()
                .filter(|n| n.pid().is_some())
                .map(|n| {
                    let lines = last_lines(&n.log(), 20, is_warning);
                    format!("{}:\n{lines}", n.name)
                })
                .collect();
            e.context(warned.join("\n"))
        })
    }
}

/// Whether a log line is a warning or an error.
fn is_warning(line: &str) -> bool {
    line.contains("WARN") || line.contains("ERROR")
}

/// The last `n` lines of `log` that `keep` keeps, in order.
fn last_lines(log: &str, n: usize, keep: impl Fn(&str) -> bool) -> String {
    let mut lines: Vec<&str> = log.lines().rev().filter(|l| keep(l)).take(n).collect();
    lines.reverse();
    lines.join("\n")
}
