//! noded's settings: command-line flags (SPEC §2) over an optional TOML
//! config file over built-in defaults. `main.rs` parses; `run` consumes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

/// Default TCP address of the API.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7070";

/// The config file read when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG: &str = "/etc/nefele/noded.toml";

/// Everything `run` needs, resolved.
#[derive(Clone, Debug)]
pub struct Config {
    /// Node name; `None` keeps the one in the data dir, or the host name.
    pub name: Option<String>,
    /// TCP address to serve the API on (port 0 picks a free port); a
    /// wildcard (`0.0.0.0`, `[::]`) serves on every interface.
    pub listen: String,
    /// The address peers and clients are told to dial (`--advertise`);
    /// `None`: the listen address, or for a wildcard listen the address of
    /// the default route's interface.
    pub advertise: Option<String>,
    /// Plain-text TCP, no certificates, every TCP peer trusted as a node
    /// (`--insecure`): tests and loopback development only.
    pub insecure: bool,
    /// The join token of a new node (`--token`).
    pub token: Option<String>,
    /// Members of this group see and act on every user's processes, as
    /// root does (`--admin-group`).
    pub admin_group: Option<String>,
    /// Members to join; empty starts or resumes a cluster of its own.
    pub join: Vec<String>,
    /// Where records, output and identity live.
    pub data_dir: PathBuf,
    /// Unix socket for local clients.
    pub socket: PathBuf,
    /// Labels for placement.
    pub labels: BTreeMap<String, String>,
    /// Stop every process when noded stops or dies (`--stop-processes`);
    /// by default they outlive it, held by the keeper.
    pub stop_processes: bool,
    /// Leave the cluster for good on SIGTERM (`--leave-on-exit`); by default
    /// a stop is a restart: the node shows down, then comes back.
    pub leave_on_exit: bool,
    /// Where to serve Prometheus metrics (`--metrics-listen`); `None`: not.
    pub metrics_listen: Option<String>,
    /// Tunables with documented defaults.
    pub limits: Limits,
}

/// Tunables, settable in the config file (`[limits]` keys of the same name).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// How long processes get between SIGTERM and SIGKILL at shutdown.
    pub stop_grace_ms: u64,
    /// Bytes of each output stream kept per process (older output rotates
    /// away in halves).
    pub output_cap_bytes: u64,
    /// For processes spawned with `output_backpressure`: bytes of a stream
    /// read from the process but not yet delivered to a reader before noded
    /// stops reading it (the process then blocks as on a full pipe). At
    /// most half of `output_cap_bytes` is used, so undelivered output is
    /// never rotated away.
    pub output_window_bytes: u64,
    /// Most exit records (with their output) kept; the oldest go first.
    pub exit_records_max: usize,
    /// Exit records older than this are deleted.
    pub exit_record_ttl_secs: u64,
    /// Largest size of argv plus env, in bytes.
    pub max_spawn_bytes: usize,
    /// Largest single argument or environment entry, in bytes (Linux's
    /// MAX_ARG_STRLEN).
    pub max_arg_bytes: usize,
    /// A node silent (no gossip) for this long is marked down.
    pub down_after_ms: u64,
    /// A service replica on a down node is started elsewhere once the node
    /// has been down this long: a node that is only restarting (its
    /// processes kept by its keeper) is back before that.
    pub replica_move_after_ms: u64,
    /// A store voter down this long is replaced by a healthy learner
    /// (docs/design/cluster.md, "Voters"), so losing voters one after
    /// another does not stop the store.
    pub voter_replace_after_ms: u64,
    /// How long a request forwarded to another node may take.
    pub forward_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            stop_grace_ms: 5_000,
            output_cap_bytes: 16 << 20,
            output_window_bytes: 1 << 20,
            exit_records_max: 10_000,
            exit_record_ttl_secs: 24 * 3600,
            max_spawn_bytes: 1 << 20,
            max_arg_bytes: 128 << 10,
            down_after_ms: 3_000,
            replica_move_after_ms: 10_000,
            voter_replace_after_ms: 10_000,
            forward_timeout_ms: 10_000,
        }
    }
}

impl Limits {
    /// Grace period between SIGTERM and SIGKILL.
    pub fn stop_grace(&self) -> Duration {
        Duration::from_millis(self.stop_grace_ms)
    }

    /// The backpressure window in use: `output_window_bytes`, at least 1
    /// and at most half the cap (the least a log keeps after rotating).
    pub fn output_window(&self) -> u64 {
        let half_cap = (self.output_cap_bytes / 2).max(1);
        self.output_window_bytes.clamp(1, half_cap)
    }
}

/// The config file's shape: every flag plus `[limits]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    /// As `--name`.
    pub name: Option<String>,
    /// As `--listen`.
    pub listen: Option<String>,
    /// As `--advertise`.
    pub advertise: Option<String>,
    /// As `--insecure`.
    pub insecure: bool,
    /// As `--token`.
    pub token: Option<String>,
    /// As `--admin-group`.
    pub admin_group: Option<String>,
    /// As `--join` (repeatable).
    pub join: Vec<String>,
    /// As `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// As `--socket`.
    pub socket: Option<PathBuf>,
    /// As `--label` (repeatable).
    pub labels: BTreeMap<String, String>,
    /// As `--stop-processes`.
    pub stop_processes: bool,
    /// As `--leave-on-exit`.
    pub leave_on_exit: bool,
    /// As `--metrics-listen`.
    pub metrics_listen: Option<String>,
    /// Tunables.
    pub limits: Limits,
}

impl FileConfig {
    /// Reads a TOML config file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
    }
}

/// The address to advertise for a node bound to `listen`: `advertise` if
/// given (a host name is resolved once, here), the listen address if it is
/// a real one, else (a wildcard) the address this machine uses on its
/// default route, found by asking the kernel which source address it
/// would use toward a documentation address (nothing is sent).
pub fn advertise_addr(
    listen: std::net::SocketAddr,
    advertise: Option<&str>,
) -> anyhow::Result<std::net::SocketAddr> {
    use std::net::{SocketAddr, ToSocketAddrs};
    if let Some(given) = advertise {
        let addr = given
            .to_socket_addrs()
            .with_context(|| format!("--advertise {given}: expected HOST:PORT"))?
            .next()
            .with_context(|| format!("--advertise {given}: the name has no address"))?;
        if addr.ip().is_unspecified() {
            bail!("--advertise {given}: peers cannot dial a wildcard address");
        }
        return Ok(addr);
    }
    if !listen.ip().is_unspecified() {
        return Ok(listen);
    }
    let probe: SocketAddr = if listen.is_ipv4() {
        "192.0.2.1:9".parse()?
    } else {
        "[2001:db8::1]:9".parse()?
    };
    let bind: SocketAddr = if listen.is_ipv4() {
        "0.0.0.0:0".parse()?
    } else {
        "[::]:0".parse()?
    };
    let socket = std::net::UdpSocket::bind(bind)?;
    socket.connect(probe).with_context(|| {
        format!("--listen {listen}: this machine has no default route to take an address from; give --advertise HOST:PORT")
    })?;
    Ok(SocketAddr::new(socket.local_addr()?.ip(), listen.port()))
}

/// Names that no node may take (SPEC §3).
const RESERVED_NAMES: [&str; 3] = ["any", "all", "local"];

/// Checks a node name: non-empty, not reserved, and usable as a file name
/// under /nefele/nodes and after `@` in nsh.
pub fn validate_name(name: &str) -> anyhow::Result<()> {
    if name.is_empty() || name.len() > 63 {
        bail!("invalid node name {name:?}: must be 1 to 63 characters");
    }
    if RESERVED_NAMES.contains(&name) {
        bail!("invalid node name {name:?}: any, all and local are reserved");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        || name.starts_with(['-', '.'])
    {
        bail!(
            "invalid node name {name:?}: use letters, digits, '-', '_' and '.', not starting with '-' or '.'"
        );
    }
    Ok(())
}

/// Parses `KEY=VALUE`.
pub fn parse_label(s: &str) -> anyhow::Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => bail!("invalid label {s:?}: expected KEY=VALUE"),
    }
}

/// The default data directory: `/var/lib/nefele` for root, else
/// `$XDG_DATA_HOME/nefele` or `~/.local/share/nefele`.
pub fn default_data_dir() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/var/lib/nefele");
    }
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Path::new(&dir).join("nefele");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into());
    Path::new(&home).join(".local/share/nefele")
}

/// The machine's host name, the default node name.
pub fn default_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .map(|h| h.split('.').next().unwrap_or_default().to_string())
        .filter(|h| validate_name(h).is_ok())
        .unwrap_or_else(|| "node".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_and_odd_names_are_refused() {
        for bad in ["", "any", "all", "local", "a b", "-x", ".x", "a/b"] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
        for good in ["n1", "web-3", "db_a.eu"] {
            validate_name(good).unwrap();
        }
    }

    #[test]
    fn config_file_rejects_unknown_keys() {
        let err = toml::from_str::<FileConfig>("nmae = \"x\"").unwrap_err();
        assert!(err.to_string().contains("nmae"));
        let ok: FileConfig =
            toml::from_str("name = \"x\"\n[limits]\nstop_grace_ms = 10\n").unwrap();
        assert_eq!(ok.limits.stop_grace_ms, 10);
        assert_eq!(
            ok.limits.output_cap_bytes,
            Limits::default().output_cap_bytes
        );
    }

    #[test]
    fn the_window_fits_in_half_the_cap() {
        let limits = Limits::default();
        assert_eq!(limits.output_window(), 1 << 20);
        let small_cap = Limits {
            output_cap_bytes: 1000,
            ..Limits::default()
        };
        assert_eq!(small_cap.output_window(), 500);
        let zero = Limits {
            output_window_bytes: 0,
            ..Limits::default()
        };
        assert_eq!(zero.output_window(), 1);
    }

    #[test]
    fn the_example_config_file_parses() {
        let file: FileConfig = toml::from_str(include_str!("../../packaging/noded.toml"))
            .expect("packaging/noded.toml is a valid config");
        assert_eq!(file.listen.as_deref(), Some("0.0.0.0:7070"));
    }

    #[test]
    fn labels_need_a_key() {
        assert_eq!(parse_label("zone=a").unwrap(), ("zone".into(), "a".into()));
        assert!(parse_label("=a").is_err());
        assert!(parse_label("zone").is_err());
    }
}
