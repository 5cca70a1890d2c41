//! `nodes [--json]`: the members of the cluster from the `Nodes` RPC, as
//! aligned columns `NAME STATE SLOT ADDRESS LOAD PROCS STORE` (STORE is the
//! member's role in the consistent store: `leader`, `voter` or `learner`),
//! ordered by slot, or as a JSON array with every field the API gives.
//!
//! A member that is down or has left is shown with that state; one the
//! answering node could not ask although it is not known to be down is
//! reported on stderr as `nsh: nodes: NODE: unreachable (WHY)`, status 1.

use clap::Parser;
use proto::v1::{NodeInfo, NodeState, NodesRequest};
use serde_json::json;

use crate::shell::{Shell, Status};

#[derive(Parser, Debug)]
#[command(name = "nodes", disable_help_flag = true, disable_version_flag = true)]
struct Args {
    /// A JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

/// `up`, `down` or `left`.
pub(crate) fn state_name(info: &NodeInfo) -> &'static str {
    match NodeState::try_from(info.state) {
        Ok(NodeState::Up) => "up",
        Ok(NodeState::Down) => "down",
        Ok(NodeState::Left) => "left",
        _ => "unknown",
    }
}

fn store_role(info: &NodeInfo) -> &'static str {
    if info.store_leader {
        "leader"
    } else if info.store_voter {
        "voter"
    } else {
        "learner"
    }
}

fn row(info: &NodeInfo) -> Vec<String> {
    let up = info.state == NodeState::Up as i32;
    vec![
        info.name.clone(),
        state_name(info).to_string(),
        info.slot.to_string(),
        if info.address.is_empty() {
            "-".to_string()
        } else {
            info.address.clone()
        },
        match &info.load {
            Some(load) if up => format!("{:.2}", load.load1),
            _ => "-".to_string(),
        },
        if up {
            info.process_count.to_string()
        } else {
            "-".to_string()
        },
        store_role(info).to_string(),
    ]
}

fn to_json(info: &NodeInfo, local: &str) -> serde_json::Value {
    let labels: serde_json::Map<String, serde_json::Value> = info
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let load = info.load.as_ref().map(|l| {
        json!({
            "load1": l.load1,
            "load5": l.load5,
            "load15": l.load15,
            "cpus": l.cpus,
            "mem_total_bytes": l.mem_total_bytes,
            "mem_available_bytes": l.mem_available_bytes,
        })
    });
    json!({
        "name": info.name,
        "state": state_name(info),
        "slot": info.slot,
        "address": info.address,
        "labels": labels,
        "load": load,
        "procs": info.process_count,
        "store": store_role(info),
        "started_at_ms": info.started_at_ms,
        "boot_time_ms": info.boot_time_ms,
        "local": info.name == local,
    })
}

/// The `nodes` builtin.
pub fn nodes(shell: &mut Shell, args: Vec<String>) -> Status {
    let args: Args = match super::parse(shell, "nodes", args) {
        Ok(a) => a,
        Err(status) => return Ok(status),
    };
    let client = match shell.client_for("nodes") {
        Ok(c) => c,
        Err(status) => return Ok(status),
    };
    let mut api = client.cluster();
    let mut reply = match client.call(api.nodes(NodesRequest {})) {
        Ok(r) => r,
        Err(e) => {
            shell.error(format!("nodes: {e}"));
            return Ok(1);
        }
    };
    reply.nodes.sort_by_key(|n| n.slot);
    let text = if args.json {
        let array: Vec<serde_json::Value> = reply
            .nodes
            .iter()
            .map(|n| to_json(n, &reply.local))
            .collect();
        format!("{}\n", serde_json::Value::Array(array))
    } else {
        let headers = [
            ("NAME", false),
            ("STATE", false),
            ("SLOT", true),
            ("ADDRESS", false),
            ("LOAD", true),
            ("PROCS", true),
            ("STORE", false),
        ];
        let rows: Vec<Vec<String>> = reply.nodes.iter().map(row).collect();
        super::ps::table(&headers, &rows)
    };
    let mut status = 0;
    if let Err(e) = shell.out(&text) {
        shell.error(format!("nodes: write error: {e}"));
        status = 1;
    }
    for node in &reply.unreachable {
        let explained = reply
            .nodes
            .iter()
            .any(|n| n.name == node.node && n.state != NodeState::Up as i32);
        if !explained {
            shell.error(format!(
                "nodes: {}: unreachable ({})",
                node.node, node.error
            ));
            status = 1;
        }
    }
    Ok(status)
}
