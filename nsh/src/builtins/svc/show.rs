//! `svc ls [NAME] [--json]`: the services as a procps-style table, one line
//! each (`NAME READY STATUS RESTARTS POLICY CMD`), or one service's
//! replicas (`INDEX STATE NODE PID RESTARTS AGE NEXT EXIT ERROR`); with
//! `--json` the `ServiceInfo` list (or the one `ServiceInfo`) as JSON.
//!
//! - READY is running replicas over the desired count (`3/5`).
//! - STATUS is the worst state among the desired replicas: `unschedulable`
//!   (no node that is up matches the constraints), `crash-loop`, `backoff`,
//!   `pending` (also while replicas are still missing), `stopping` (replicas
//!   above the count still run), `done` (all ended for good), else
//!   `running`; `stopped` for a service scaled to 0. The reason of a
//!   problem is the ERROR column of `svc ls NAME`.
//! - AGE is how long a running replica's process has run; NEXT when a
//!   replica in backoff or crash-loop is started again; EXIT its last exit
//!   status (128+N for signal N); `-` where there is nothing to show.
//!
//! In JSON, each service is `{"spec": {...}, "replicas": [...],
//! "created_ms": N, "ready": N, "status": "..."}` with the spec's and
//! replicas' fields as in the API (enums as the lowercase words above,
//! `last_status` null when there is none), maps sorted by key.

use proto::Gpid;
use std::collections::BTreeMap;

use clap::Parser;
use proto::v1::{GetServiceRequest, ListServicesRequest, ReplicaInfo, ReplicaState, ServiceInfo};
use serde::Serialize;

use crate::shell::{Shell, Status};
use proto::now_ms;
use show::{replica_state_word as state_word, replica_table, restart_word as policy_word, table};

#[derive(Parser, Debug)]
#[command(name = "svc ls", disable_help_flag = true, disable_version_flag = true)]
struct Args {
    /// One service's replicas instead of the list.
    #[arg(value_name = "NAME")]
    name: Option<String>,
    /// JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// `svc ls`.
pub(super) fn ls(shell: &mut Shell, args: Vec<String>) -> Status {
    let args: Args = match super::parse(shell, "ls", args) {
        Ok(a) => a,
        Err(status) => return Ok(status),
    };
    let client = match shell.client_for("svc") {
        Ok(c) => c,
        Err(status) => return Ok(status),
    };
    let mut api = super::services(&client);
    let now = now_ms();
    let text = match &args.name {
        Some(name) => {
            let request = GetServiceRequest { name: name.clone() };
            let info = match super::call(&client, api.get_service(request)) {
                Ok(info) => info,
                Err(e) => return Ok(super::report(shell, name, &e)),
            };
            if args.json {
                json_line(&ServiceJson::new(&info))
            } else {
                replica_table(&info, now)
            }
        }
        None => {
            let mut services = match super::call(&client, api.list_services(ListServicesRequest {}))
            {
                Ok(reply) => reply.services,
                Err(e) => return Ok(super::report(shell, "", &e)),
            };
            services.sort_by(|a, b| name(a).cmp(name(b)));
            if args.json {
                json_line(&services.iter().map(ServiceJson::new).collect::<Vec<_>>())
            } else {
                service_table(&services)
            }
        }
    };
    super::write(shell, &text)
}

fn name(info: &ServiceInfo) -> &str {
    info.spec.as_ref().map_or("", |s| s.name.as_str())
}

fn json_line(value: &impl Serialize) -> String {
    // Plain structs of strings, numbers and maps with string keys always
    // serialize.
    let mut text = serde_json::to_string(value).unwrap_or_default();
    text.push('\n');
    text
}

fn state(r: &ReplicaInfo) -> ReplicaState {
    ReplicaState::try_from(r.state).unwrap_or(ReplicaState::Unspecified)
}

/// Running replicas among the desired ones.
fn ready(info: &ServiceInfo) -> usize {
    let desired = info.spec.as_ref().map_or(0, |s| s.replicas);
    info.replicas
        .iter()
        .filter(|r| r.index < desired && state(r) == ReplicaState::Running)
        .count()
}

/// The service's STATUS word (see the module doc).
fn status(info: &ServiceInfo) -> &'static str {
    let desired = info.spec.as_ref().map_or(0, |s| s.replicas);
    let wanted: Vec<ReplicaState> = info
        .replicas
        .iter()
        .filter(|r| r.index < desired)
        .map(state)
        .collect();
    let any = |s: ReplicaState| wanted.contains(&s);
    let extra_running = info
        .replicas
        .iter()
        .any(|r| r.index >= desired && state(r) == ReplicaState::Running);
    if any(ReplicaState::Unschedulable) {
        "unschedulable"
    } else if any(ReplicaState::CrashLoop) {
        "crash-loop"
    } else if any(ReplicaState::Backoff) {
        "backoff"
    } else if any(ReplicaState::Pending)
        || any(ReplicaState::Unspecified)
        || wanted.len() < desired as usize
    {
        "pending"
    } else if extra_running {
        "stopping"
    } else if desired == 0 {
        "stopped"
    } else if wanted.iter().all(|s| *s == ReplicaState::Done) {
        "done"
    } else {
        "running"
    }
}

/// `svc ls`: one line per service.
fn service_table(services: &[ServiceInfo]) -> String {
    let headers = [
        ("NAME", false),
        ("READY", true),
        ("STATUS", false),
        ("RESTARTS", true),
        ("POLICY", false),
        ("CMD", false),
    ];
    let rows: Vec<Vec<String>> = services
        .iter()
        .map(|info| {
            let spec = info.spec.clone().unwrap_or_default();
            let restarts: u64 = info.replicas.iter().map(|r| u64::from(r.restarts)).sum();
            vec![
                spec.name,
                format!("{}/{}", ready(info), spec.replicas),
                status(info).to_string(),
                restarts.to_string(),
                policy_word(spec.restart).to_string(),
                spec.argv.join(" "),
            ]
        })
        .collect();
    table(&headers, &rows)
}

/// A service in JSON.
#[derive(Serialize)]
struct ServiceJson {
    spec: SpecJson,
    replicas: Vec<ReplicaJson>,
    created_ms: u64,
    ready: usize,
    status: &'static str,
}

#[derive(Serialize)]
struct SpecJson {
    name: String,
    argv: Vec<String>,
    env: BTreeMap<String, String>,
    cwd: String,
    replicas: u32,
    restart: &'static str,
    constraints: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct ReplicaJson {
    index: u32,
    state: &'static str,
    node: String,
    #[serde(with = "proto::or_zero")]
    pid: Option<Gpid>,
    restarts: u32,
    started_ms: u64,
    next_start_ms: u64,
    last_status: Option<i32>,
    error: String,
}

impl ServiceJson {
    fn new(info: &ServiceInfo) -> ServiceJson {
        let spec = info.spec.clone().unwrap_or_default();
        let mut replicas: Vec<ReplicaJson> = info
            .replicas
            .iter()
            .map(|r| ReplicaJson {
                index: r.index,
                state: state_word(r.state),
                node: r.node.clone(),
                pid: Gpid::from_raw(r.pid.into()).ok(),
                restarts: r.restarts,
                started_ms: r.started_ms,
                next_start_ms: r.next_start_ms,
                last_status: r.last_status,
                error: r.error.clone(),
            })
            .collect();
        replicas.sort_by_key(|r| r.index);
        ServiceJson {
            ready: ready(info),
            status: status(info),
            created_ms: info.created_ms,
            replicas,
            spec: SpecJson {
                restart: policy_word(spec.restart),
                name: spec.name,
                argv: spec.argv,
                env: spec.env.into_iter().collect(),
                cwd: spec.cwd,
                replicas: spec.replicas,
                constraints: spec.constraints.into_iter().collect(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use proto::v1::ServiceSpec;

    use super::*;

    fn replica(index: u32, state: ReplicaState) -> ReplicaInfo {
        ReplicaInfo {
            index,
            state: state as i32,
            ..ReplicaInfo::default()
        }
    }

    fn service(replicas: u32, states: &[ReplicaState]) -> ServiceInfo {
        ServiceInfo {
            spec: Some(ServiceSpec {
                name: "web".into(),
                argv: vec!["sleep".into(), "1000".into()],
                replicas,
                ..ServiceSpec::default()
            }),
            replicas: states
                .iter()
                .enumerate()
                .map(|(i, s)| replica(i as u32, *s))
                .collect(),
            created_ms: 1,
        }
    }

    #[test]
    fn status_is_the_worst_desired_state() {
        use ReplicaState::*;
        assert_eq!(status(&service(2, &[Running, Running])), "running");
        assert_eq!(status(&service(3, &[Running, Running])), "pending");
        assert_eq!(status(&service(2, &[Running, CrashLoop])), "crash-loop");
        assert_eq!(
            status(&service(2, &[CrashLoop, Unschedulable])),
            "unschedulable"
        );
        assert_eq!(status(&service(2, &[Backoff, Running])), "backoff");
        assert_eq!(status(&service(1, &[Running, Running])), "stopping");
        assert_eq!(status(&service(0, &[])), "stopped");
        assert_eq!(status(&service(2, &[Done, Done])), "done");
        assert_eq!(ready(&service(3, &[Running, CrashLoop, Running])), 2);
        assert_eq!(ready(&service(1, &[Running, Running])), 1);
    }

    #[test]
    fn tables() {
        let mut info = service(2, &[ReplicaState::Running, ReplicaState::CrashLoop]);
        info.replicas[0].pid = 10_000_001;
        info.replicas[0].node = "n1".into();
        info.replicas[0].started_ms = 1_000;
        info.replicas[1].restarts = 7;
        info.replicas[1].next_start_ms = 95_000;
        info.replicas[1].last_status = Some(127);
        info.replicas[1].error = "sleeep: not found".into();
        assert_eq!(
            service_table(std::slice::from_ref(&info)),
            "NAME READY STATUS     RESTARTS POLICY CMD\n\
             web    1/2 crash-loop        7 always sleep 1000\n"
        );
        assert_eq!(
            replica_table(&info, 91_000),
            "INDEX STATE      NODE      PID RESTARTS AGE NEXT EXIT ERROR\n\
             \x20   0 running    n1   10000001        0 90s    -    - -\n\
             \x20   1 crash-loop -           -        7   -   4s  127 sleeep: not found\n"
        );
    }

    #[test]
    fn json_mirrors_the_api() {
        let mut info = service(1, &[ReplicaState::Unschedulable]);
        info.replicas[0].error = "no node matches zone=mars".into();
        let value: serde_json::Value =
            serde_json::from_str(&json_line(&ServiceJson::new(&info))).expect("json");
        assert_eq!(value["spec"]["name"], "web");
        assert_eq!(value["spec"]["restart"], "always");
        assert_eq!(value["status"], "unschedulable");
        assert_eq!(value["replicas"][0]["state"], "unschedulable");
        assert_eq!(value["replicas"][0]["last_status"], serde_json::Value::Null);
        assert_eq!(value["replicas"][0]["error"], "no node matches zone=mars");
    }
}
