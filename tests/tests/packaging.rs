//! Packaging (issue #13): the systemd unit is valid for systemd itself, and
//! noded speaks its readiness protocol (Type=notify): READY=1 once it
//! serves, STOPPING=1 when it shuts down.

use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::{Duration, Instant};

use tests::{Node, NodeOptions, TIMEOUT};

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() -> anyhow::Result<()> {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../packaging/noded.service"
    ))?;
    assert!(unit.contains("Type=notify") && unit.contains("KillMode=process"));
    // verify checks that ExecStart exists: point it at the built noded.
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("noded.service");
    let noded = tests::binary("noded");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/noded", &noded.display().to_string()),
    )?;
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .map_err(|e| {
            anyhow::anyhow!("systemd-analyze (package systemd, .ci/run installs it): {e}")
        })?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // It reports unknown keys and bad values as warnings, still exiting 0.
    let about_unit: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("noded.service"))
        .collect();
    assert!(about_unit.is_empty(), "{stderr}");
    Ok(())
}

/// Receives notifications until one contains `wanted`.
fn wait_for(socket: &UnixDatagram, wanted: &str) -> anyhow::Result<String> {
    let deadline = Instant::now() + TIMEOUT;
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        socket.set_read_timeout(Some(Duration::from_millis(500)))?;
        if let Ok(n) = socket.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            seen.push_str(&msg);
            if msg.lines().any(|l| l == wanted) {
                return Ok(msg);
            }
        }
    }
    anyhow::bail!("no {wanted} within {TIMEOUT:?}; got {seen:?}")
}

#[tokio::test]
async fn noded_notifies_readiness_and_stopping() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path)?;
    let mut node = Node::start_with(NodeOptions {
        env: vec![("NOTIFY_SOCKET".into(), path.display().to_string())],
        ..NodeOptions::default()
    })
    .await?;
    wait_for(&socket, "READY=1")?;
    // It is really serving by then.
    node.client().await?;
    node.stop().await?;
    wait_for(&socket, "STOPPING=1")?;
    Ok(())
}
