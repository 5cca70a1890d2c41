//! What nsh and nefelefs both show, written once: the procps-style table
//! layout, the words for replica states and restart policies, short
//! durations, and the replica table that `svc ls NAME` prints and
//! `/nefele/svc/NAME/replicas` holds (SPEC §7: the same table).

use proto::v1::{ReplicaInfo, ReplicaState, RestartPolicy, ServiceInfo};

/// Aligned columns with a header, procps-style: one space between
/// columns, right-aligned ones (`true`) padded on the left, the last one
/// unpadded.
pub fn table(headers: &[(&str, bool)], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|(h, _)| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|(h, _)| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let last = row.len().saturating_sub(1);
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            let width = widths.get(i).copied().unwrap_or(0);
            let right = headers.get(i).is_some_and(|(_, r)| *r);
            if right {
                out.push_str(&format!("{cell:>width$}"));
            } else if i == last {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}"));
            }
        }
        out.push('\n');
    }
    out
}

/// A duration as kubectl shows ages: `45s`, `12m`, `5h`, `3d`.
pub fn duration(ms: u64) -> String {
    let s = ms / 1000;
    if s < 120 {
        format!("{s}s")
    } else if s < 120 * 60 {
        format!("{}m", s / 60)
    } else if s < 48 * 3600 {
        format!("{}h", s / 3600)
    } else {
        format!("{}d", s / 86_400)
    }
}

/// A replica state as `svc ls` words it.
pub fn replica_state_word(state: i32) -> &'static str {
    match ReplicaState::try_from(state).unwrap_or(ReplicaState::Unspecified) {
        ReplicaState::Unspecified => "unknown",
        ReplicaState::Pending => "pending",
        ReplicaState::Running => "running",
        ReplicaState::Backoff => "backoff",
        ReplicaState::CrashLoop => "crash-loop",
        ReplicaState::Done => "done",
        ReplicaState::Unschedulable => "unschedulable",
    }
}

/// A restart policy as `svc run --restart` spells it.
pub fn restart_word(policy: i32) -> &'static str {
    match RestartPolicy::try_from(policy).unwrap_or(RestartPolicy::Unspecified) {
        RestartPolicy::Unspecified | RestartPolicy::Always => "always",
        RestartPolicy::OnFailure => "on-failure",
        RestartPolicy::Never => "never",
    }
}

/// The cells of one replica's row: `-` where there is nothing to show;
/// AGE for a running replica, NEXT for one waiting to start again, the
/// error on one line.
fn replica_row(r: &ReplicaInfo, now_ms: u64) -> Vec<String> {
    let dash = |s: String| if s.is_empty() { "-".to_string() } else { s };
    let state = ReplicaState::try_from(r.state).unwrap_or(ReplicaState::Unspecified);
    let age = if state == ReplicaState::Running && r.started_ms > 0 {
        duration(now_ms.saturating_sub(r.started_ms))
    } else {
        "-".to_string()
    };
    let waiting = matches!(state, ReplicaState::Backoff | ReplicaState::CrashLoop);
    let next = if waiting && r.next_start_ms > 0 {
        duration(r.next_start_ms.saturating_sub(now_ms))
    } else {
        "-".to_string()
    };
    vec![
        r.index.to_string(),
        replica_state_word(r.state).to_string(),
        dash(r.node.clone()),
        if r.pid > 0 {
            r.pid.to_string()
        } else {
            "-".to_string()
        },
        r.restarts.to_string(),
        age,
        next,
        r.last_status.map_or("-".to_string(), |s| s.to_string()),
        dash(r.error.replace(['\n', '\r'], " ")),
    ]
}

/// A service's replicas, one line each by index:
/// `INDEX STATE NODE PID RESTARTS AGE NEXT EXIT ERROR`.
pub fn replica_table(info: &ServiceInfo, now_ms: u64) -> String {
    const HEADERS: [(&str, bool); 9] = [
        ("INDEX", true),
        ("STATE", false),
        ("NODE", false),
        ("PID", true),
        ("RESTARTS", true),
        ("AGE", true),
        ("NEXT", true),
        ("EXIT", true),
        ("ERROR", false),
    ];
    let mut replicas: Vec<&ReplicaInfo> = info.replicas.iter().collect();
    replicas.sort_by_key(|r| r.index);
    let rows: Vec<Vec<String>> = replicas.iter().map(|r| replica_row(r, now_ms)).collect();
    table(&HEADERS, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_short() {
        assert_eq!(duration(45_000), "45s");
        assert_eq!(duration(12 * 60_000), "12m");
        assert_eq!(duration(5 * 3_600_000), "5h");
        assert_eq!(duration(3 * 86_400_000), "3d");
        assert_eq!(duration(5_400), "5s");
        assert_eq!(duration(50 * 3_600_000), "2d");
    }

    #[test]
    fn the_replica_table_aligns_and_dashes() {
        let info = ServiceInfo {
            replicas: vec![
                ReplicaInfo {
                    index: 1,
                    state: ReplicaState::Backoff as i32,
                    restarts: 3,
                    next_start_ms: 10_000,
                    last_status: Some(137),
                    error: "exit\n137".into(),
                    ..ReplicaInfo::default()
                },
                ReplicaInfo {
                    index: 0,
                    state: ReplicaState::Running as i32,
                    node: "n1".into(),
                    pid: 10000001,
                    started_ms: 1_000,
                    ..ReplicaInfo::default()
                },
            ],
            ..ServiceInfo::default()
        };
        assert_eq!(
            replica_table(&info, 6_000),
            "INDEX STATE   NODE      PID RESTARTS AGE NEXT EXIT ERROR\n\
             \x20   0 running n1   10000001        0  5s    -    - -\n\
             \x20   1 backoff -           -        3   -   4s  137 exit 137\n"
        );
    }
}
