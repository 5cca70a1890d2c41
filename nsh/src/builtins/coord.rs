//! The coordination builtins (SPEC §8, docs/design/coord.md) over the
//! `Coord` API: `lock`, `kv`, `barrier` and `name`. Everything is in the
//! calling user's space.
//!
//! Owners: `lock NAME CMD` makes CMD's cluster process the holder (the lock
//! is taken for a lease of this shell, CMD is started with the fencing
//! token in `NEFELE_LOCK_TOKEN`, then the lock is handed to CMD's PID).
//! `barrier` and `name set` act for `$NEFELE_PID` when the shell is itself a
//! cluster process; otherwise `barrier` enters for a lease this shell keeps
//! alive while it waits.
//!
//! Errors are `nsh: kv: KEY: WHY` (and the like): status 1 for what the
//! cluster refused or could not answer (a CAS that lost, a held lock with
//! no wait, a wait that ran out), 2 for bad arguments.

use proto::Gpid;
use std::time::Duration;

use clap::Parser;
use proto::v1::coord_client::CoordClient;
use proto::v1::coord_owner::Owner as WireOwner;
use proto::v1::{
    BarrierRequest, CoordOwner, Fence, GetNameRequest, GrantLeaseRequest, KeepAliveRequest,
    KvDeleteRequest, KvGetRequest, KvListRequest, KvPutRequest, KvWatchRequest, ListNamesRequest,
    LockRequest, RemoveNameRequest, RevokeLeaseRequest, SetNameRequest, TransferLockRequest,
    UnlockRequest,
};
use tokio_stream::StreamExt;
use tonic::Status as RpcStatus;
use tonic::transport::Channel;

use super::svc::call;
use crate::client::{CALL_TIMEOUT, Client};
use crate::shell::{Shell, Status};

/// TTL of the leases a shell holds while it waits or starts a command.
const SHELL_LEASE_MS: u64 = 10_000;

/// A builtin's parsed arguments and the shell's client, or the status
/// to return (their errors are printed).
fn parsed<T: Parser>(shell: &Shell, name: &str, args: Vec<String>) -> Result<(T, Client), i32> {
    let args = super::parse(shell, name, args)?;
    Ok((args, shell.client_for(name)?))
}

fn api(client: &Client) -> CoordClient<Channel> {
    CoordClient::new(client.channel())
}

/// `nsh: WHAT: WHY`, status 1 (2 for arguments the cluster found invalid).
fn report(shell: &Shell, what: &str, status: &RpcStatus) -> i32 {
    shell.error(format!("{what}: {}", status.message()));
    match status.code() {
        tonic::Code::InvalidArgument => 2,
        _ => 1,
    }
}

/// A blocking call that may wait `wait` (on top of the usual timeout).
fn call_waiting<T>(
    client: &Client,
    wait: Option<Duration>,
    future: impl std::future::Future<Output = Result<tonic::Response<T>, RpcStatus>>,
) -> Result<T, RpcStatus> {
    match wait {
        None => client.block_on(async { future.await.map(tonic::Response::into_inner) }),
        Some(w) => client.block_on(proto::call::within(CALL_TIMEOUT + w, future)),
    }
}

/// `-w SECS` as the API's `wait_ms` (absent: wait forever; 0: try once).
fn wait_ms(secs: Option<f64>) -> (i64, Option<Duration>) {
    match secs {
        None => (-1, None),
        Some(s) => {
            let d = Duration::from_secs_f64(s.max(0.0));
            (d.as_millis() as i64, Some(d))
        }
    }
}

fn pid_owner(pid: Gpid) -> Option<CoordOwner> {
    Some(CoordOwner {
        owner: Some(WireOwner::Pid(pid.as_raw())),
    })
}

fn lease_owner(id: u64) -> Option<CoordOwner> {
    Some(CoordOwner {
        owner: Some(WireOwner::Lease(id)),
    })
}

/// The shell's own cluster PID, when it runs as a cluster process.
fn own_pid(shell: &Shell) -> Option<Gpid> {
    shell.vars.get("NEFELE_PID")?.parse().ok()
}

/// A lease this shell keeps alive until dropped (then revoked).
struct ShellLease {
    client: Client,
    id: u64,
    keeper: tokio::task::JoinHandle<()>,
}

impl ShellLease {
    fn grant(client: &Client) -> Result<ShellLease, RpcStatus> {
        let reply = call(
            client,
            api(client).grant_lease(GrantLeaseRequest {
                ttl_ms: SHELL_LEASE_MS,
            }),
        )?;
        let id = reply.id;
        let mut keep = api(client);
        let keeper = crate::client::runtime().spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(SHELL_LEASE_MS / 3)).await;
                let mut request = tonic::Request::new(KeepAliveRequest { id });
                request.set_timeout(Duration::from_millis(SHELL_LEASE_MS / 3));
                if let Err(e) = keep.keep_alive(request).await
                    && e.code() == tonic::Code::NotFound
                {
                    return;
                }
            }
        });
        Ok(ShellLease {
            client: client.clone(),
            id,
            keeper,
        })
    }
}

impl Drop for ShellLease {
    fn drop(&mut self) {
        self.keeper.abort();
        let _ = call(
            &self.client,
            api(&self.client).revoke_lease(RevokeLeaseRequest { id: self.id }),
        );
    }
}

#[derive(Parser, Debug)]
#[command(name = "lock", disable_help_flag = true, disable_version_flag = true)]
struct LockArgs {
    /// Wait at most SECS for the lock (0: fail at once if held).
    #[arg(short = 'w', long = "wait", value_name = "SECS")]
    wait: Option<f64>,
    /// Where to run CMD.
    #[arg(short = 'n', long = "node", value_name = "NODE")]
    node: Option<String>,
    name: String,
    #[arg(required = true, trailing_var_arg = true, value_name = "CMD")]
    cmd: Vec<String>,
}

/// `lock [-w SECS] [-n NODE] NAME CMD...`: runs CMD holding lock NAME.
pub fn lock(shell: &mut Shell, args: Vec<String>) -> Status {
    let (args, client) = match parsed::<LockArgs>(shell, "lock", args) {
        Ok(both) => both,
        Err(status) => return Ok(status),
    };
    let lease = match ShellLease::grant(&client) {
        Ok(l) => l,
        Err(e) => return Ok(report(shell, "lock", &e)),
    };
    let (wait_ms, wait) = wait_ms(args.wait);
    let taken = call_waiting(
        &client,
        wait,
        api(&client).lock(LockRequest {
            name: args.name.clone(),
            owner: lease_owner(lease.id),
            wait_ms,
        }),
    );
    let token = match taken {
        Ok(reply) => reply.token,
        Err(e) => return Ok(report(shell, &format!("lock: {}", args.name), &e)),
    };
    let (mut node, mut cmd) = (args.node, args.cmd);
    if node.is_none()
        && let Some(at) = cmd.first().and_then(|w| w.strip_prefix('@'))
        && cmd.len() > 1
    {
        node = Some(at.to_string());
        cmd.remove(0);
    }
    let run = super::run::Args {
        node,
        name: None,
        env: vec![format!("NEFELE_LOCK_TOKEN={token}")],
        cwd: None,
        detach: false,
        tty: false,
        cmd,
    };
    let name = args.name.clone();
    let mut holder = None;
    let status = super::run::start(shell, run, "lock", &mut |client, pid| {
        holder = Some(pid);
        call(
            client,
            api(client).transfer_lock(TransferLockRequest {
                name: name.clone(),
                token,
                owner: pid_owner(pid),
            }),
        )
        .map(|_| ())
        .or_else(|e| {
            // A quick CMD may have ended before the hand-over: the lease
            // held the lock for all its life, so nothing was lost.
            let ended = e.code() == tonic::Code::NotFound
                && client
                    .get(pid)
                    .is_ok_and(|p| p.exit_code.is_some() || p.signal.is_some());
            if ended {
                Ok(())
            } else {
                Err(format!(
                    "{name}: cannot hand the lock to {pid}: {}",
                    e.message()
                ))
            }
        })
    });
    drop(lease);
    // Released at once rather than when the node notices the exit.
    if holder.is_some() {
        let _ = call(
            &client,
            api(&client).unlock(UnlockRequest {
                name: args.name,
                token,
            }),
        );
    }
    status
}

#[derive(Parser, Debug)]
#[command(name = "kv", disable_help_flag = true, disable_version_flag = true)]
enum KvArgs {
    /// Print a key's value.
    Get {
        key: String,
        /// The value's bytes only, no newline.
        #[arg(long)]
        raw: bool,
        #[arg(long)]
        json: bool,
        /// Answer from this node's copy (may be stale).
        #[arg(long)]
        stale: bool,
    },
    /// Set a key.
    Set {
        key: String,
        value: String,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Set a key only if its version is VERSION (0: only if absent).
    Cas {
        key: String,
        version: u64,
        value: String,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Delete keys.
    Rm {
        #[arg(required = true)]
        keys: Vec<String>,
        /// Only if the key's version is this.
        #[arg(long)]
        version: Option<u64>,
        #[arg(long, value_name = "LOCK:TOKEN")]
        fence: Option<String>,
    },
    /// List the keys under a prefix.
    Ls {
        prefix: Option<String>,
        #[arg(long)]
        json: bool,
        #[arg(long)]
        stale: bool,
    },
    /// Print a key's (or a prefix's) changes as they happen.
    Watch {
        key: String,
        #[arg(long)]
        prefix: bool,
        /// Start from this revision (default: changes from now).
        #[arg(long, value_name = "REV")]
        from: Option<u64>,
        /// Stop after N events.
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args, Debug)]
struct WriteArgs {
    /// Tie the key to a lease.
    #[arg(long, value_name = "ID")]
    lease: Option<u64>,
    /// Tie the key to a cluster process: deleted when it ends.
    #[arg(long, value_name = "PID")]
    pid: Option<Gpid>,
    /// Write only while LOCK is held with TOKEN (a fencing token).
    #[arg(long, value_name = "LOCK:TOKEN")]
    fence: Option<String>,
}

fn fence(text: Option<&str>) -> Result<Option<Fence>, String> {
    let Some(text) = text else {
        return Ok(None);
    };
    let (lock, token) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("--fence {text}: expected LOCK:TOKEN"))?;
    let token = token
        .parse()
        .map_err(|_| format!("--fence {text}: the token must be a number"))?;
    Ok(Some(Fence {
        lock: lock.to_string(),
        token,
    }))
}

fn owner_of(write: &WriteArgs) -> Option<CoordOwner> {
    write
        .pid
        .and_then(pid_owner)
        .or_else(|| write.lease.and_then(lease_owner))
}

fn kv_json(kv: &proto::v1::KeyValue, with_value: bool) -> serde_json::Value {
    let mut object = serde_json::json!({
        "key": kv.key,
        "version": kv.version,
        "create_revision": kv.create_revision,
        "mod_revision": kv.mod_revision,
    });
    if with_value {
        object["value"] = String::from_utf8_lossy(&kv.value).into_owned().into();
    }
    object
}

/// `kv get|set|cas|rm|ls|watch`.
pub fn kv(shell: &mut Shell, args: Vec<String>) -> Status {
    let (args, client) = match parsed::<KvArgs>(shell, "kv", args) {
        Ok(both) => both,
        Err(status) => return Ok(status),
    };
    let mut api = api(&client);
    let out = |shell: &Shell, text: &str| match shell.out(text) {
        Ok(()) => Ok(0),
        Err(e) => {
            shell.error(format!("kv: write error: {e}"));
            Ok(1)
        }
    };
    match args {
        KvArgs::Get {
            key,
            raw,
            json,
            stale,
        } => {
            let reply = call(
                &client,
                api.get(KvGetRequest {
                    key: key.clone(),
                    serializable: stale,
                }),
            );
            match reply.map(|r| r.kv.unwrap_or_default()) {
                Ok(kv) if json => out(shell, &format!("{}\n", kv_json(&kv, true))),
                Ok(kv) if raw => match shell.fds.write(1, &kv.value) {
                    Ok(()) => Ok(0),
                    Err(e) => {
                        shell.error(format!("kv: write error: {e}"));
                        Ok(1)
                    }
                },
                Ok(kv) => {
                    let mut bytes = kv.value;
                    bytes.push(b'\n');
                    match shell.fds.write(1, &bytes) {
                        Ok(()) => Ok(0),
                        Err(e) => {
                            shell.error(format!("kv: write error: {e}"));
                            Ok(1)
                        }
                    }
                }
                Err(e) => Ok(report(shell, "kv", &e)),
            }
        }
        KvArgs::Set { key, value, write } => put(shell, &client, key, value, None, write),
        KvArgs::Cas {
            key,
            version,
            value,
            write,
        } => put(shell, &client, key, value, Some(version), write),
        KvArgs::Rm {
            keys,
            version,
            fence: guard,
        } => {
            let guard = match fence(guard.as_deref()) {
                Ok(f) => f,
                Err(e) => {
                    shell.error(format!("kv: {e}"));
                    return Ok(2);
                }
            };
            let mut status = 0;
            for key in keys {
                let request = KvDeleteRequest {
                    key,
                    expect_version: version,
                    fence: guard.clone(),
                };
                if let Err(e) = call(&client, api.delete(request)) {
                    status = status.max(report(shell, "kv", &e));
                }
            }
            Ok(status)
        }
        KvArgs::Ls {
            prefix,
            json,
            stale,
        } => {
            let request = KvListRequest {
                prefix: prefix.unwrap_or_default(),
                serializable: stale,
                keys_only: !json,
            };
            match call(&client, api.list(request)) {
                Ok(reply) if json => {
                    let items: Vec<_> = reply.kvs.iter().map(|kv| kv_json(kv, true)).collect();
                    out(shell, &format!("{}\n", serde_json::Value::from(items)))
                }
                Ok(reply) => {
                    let text: String = reply.kvs.iter().map(|kv| format!("{}\n", kv.key)).collect();
                    out(shell, &text)
                }
                Err(e) => Ok(report(shell, "kv", &e)),
            }
        }
        KvArgs::Watch {
            key,
            prefix,
            from,
            count,
            json,
        } => watch(shell, &client, key, prefix, from.unwrap_or(0), count, json),
    }
}

fn put(
    shell: &Shell,
    client: &Client,
    key: String,
    value: String,
    expect_version: Option<u64>,
    write: WriteArgs,
) -> Status {
    let guard = match fence(write.fence.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            shell.error(format!("kv: {e}"));
            return Ok(2);
        }
    };
    let request = KvPutRequest {
        key,
        value: value.into_bytes(),
        owner: owner_of(&write),
        expect_version,
        fence: guard,
    };
    match call(client, api(client).put(request)) {
        Ok(_) => Ok(0),
        Err(e) => Ok(report(shell, "kv", &e)),
    }
}

/// Prints events until `count` or an interrupt; after a broken stream,
/// reconnects from the revision after the last one printed.
fn watch(
    shell: &Shell,
    client: &Client,
    key: String,
    prefix: bool,
    from: u64,
    count: Option<u64>,
    json: bool,
) -> Status {
    let mut next = from;
    let mut printed = 0u64;
    let mut failures = 0;
    loop {
        let request = KvWatchRequest {
            key: key.clone(),
            prefix,
            from_revision: next,
        };
        let result: Result<(), RpcStatus> = client.block_on(async {
            let mut stream = api(client).watch(request).await?.into_inner();
            while let Some(event) = stream.next().await {
                let event = event?;
                failures = 0;
                let kv = event.kv.unwrap_or_default();
                let line = if json {
                    let mut object = kv_json(&kv, !event.deleted);
                    object["revision"] = event.revision.into();
                    object["type"] = if event.deleted { "delete" } else { "put" }.into();
                    format!("{object}\n")
                } else if event.deleted {
                    format!("{} delete {}\n", event.revision, kv.key)
                } else {
                    format!(
                        "{} put {} {}\n",
                        event.revision,
                        kv.key,
                        String::from_utf8_lossy(&kv.value)
                    )
                };
                if shell.out(&line).is_err() {
                    return Ok(());
                }
                next = event.revision + 1;
                printed += 1;
                if count.is_some_and(|c| printed >= c) {
                    return Ok(());
                }
            }
            Err(proto::call::stream_ended("the watch"))
        });
        match result {
            Ok(()) => return Ok(0),
            Err(e)
                if matches!(
                    e.code(),
                    tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Internal
                ) && failures < 50 =>
            {
                failures += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => return Ok(report(shell, "kv watch", &e)),
        }
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "barrier",
    disable_help_flag = true,
    disable_version_flag = true
)]
struct BarrierArgs {
    /// Wait at most SECS.
    #[arg(short = 'w', long = "wait", value_name = "SECS")]
    wait: Option<f64>,
    name: String,
    n: u32,
}

/// `barrier [-w SECS] NAME N`: returns when N participants have entered.
pub fn barrier(shell: &mut Shell, args: Vec<String>) -> Status {
    let (args, client) = match parsed::<BarrierArgs>(shell, "barrier", args) {
        Ok(both) => both,
        Err(status) => return Ok(status),
    };
    let mut lease = None;
    let owner = match own_pid(shell) {
        Some(pid) => pid_owner(pid),
        None => match ShellLease::grant(&client) {
            Ok(l) => {
                let owner = lease_owner(l.id);
                lease = Some(l);
                owner
            }
            Err(e) => return Ok(report(shell, "barrier", &e)),
        },
    };
    let (wait_ms, wait) = wait_ms(args.wait);
    let reply = call_waiting(
        &client,
        wait,
        api(&client).barrier(BarrierRequest {
            name: args.name.clone(),
            n: args.n,
            owner,
            wait_ms,
        }),
    );
    drop(lease);
    match reply {
        Ok(_) => Ok(0),
        Err(e) => Ok(report(shell, "barrier", &e)),
    }
}

#[derive(Parser, Debug)]
#[command(name = "name", disable_help_flag = true, disable_version_flag = true)]
enum NameArgs {
    /// Register NAME for PID (default: this shell's $NEFELE_PID).
    Set { name: String, pid: Option<Gpid> },
    /// Print the PID registered under NAME.
    Get {
        name: String,
        /// Wait at most SECS for it to be registered.
        #[arg(short = 'w', long = "wait", value_name = "SECS")]
        wait: Option<f64>,
    },
    /// Wait until NAME is registered and print its PID (-w bounds it).
    Wait {
        name: String,
        #[arg(short = 'w', long = "wait", value_name = "SECS")]
        wait: Option<f64>,
    },
    /// Forget NAME.
    Rm { name: String },
    /// Every name and its PID.
    Ls {
        #[arg(long)]
        json: bool,
    },
}

/// `name set|get|wait|rm|ls`.
pub fn name(shell: &mut Shell, args: Vec<String>) -> Status {
    let (args, client) = match parsed::<NameArgs>(shell, "name", args) {
        Ok(both) => both,
        Err(status) => return Ok(status),
    };
    let mut api = api(&client);
    let waits = matches!(args, NameArgs::Wait { .. });
    let result = match args {
        NameArgs::Set { name, pid } => {
            let Some(pid) = pid.or_else(|| own_pid(shell)) else {
                shell.error("name: set: no PID given, and this shell is not a cluster process");
                return Ok(2);
            };
            call(
                &client,
                api.set_name(SetNameRequest {
                    name,
                    pid: pid.as_raw(),
                }),
            )
            .map(|_| String::new())
        }
        NameArgs::Get { name, wait } | NameArgs::Wait { name, wait } => {
            // `get` looks once unless -w; `wait` waits (forever without -w).
            let (wait_ms, wait) = match (wait, waits) {
                (None, false) => (0, Some(Duration::ZERO)),
                (secs, _) => wait_ms(secs),
            };
            call_waiting(
                &client,
                wait,
                api.get_name(GetNameRequest {
                    name,
                    wait_ms,
                    serializable: false,
                }),
            )
            .map(|r| format!("{}\n", r.pid))
        }
        NameArgs::Rm { name } => {
            call(&client, api.remove_name(RemoveNameRequest { name })).map(|_| String::new())
        }
        NameArgs::Ls { json } => call(&client, api.list_names(ListNamesRequest {})).map(|r| {
            let names: std::collections::BTreeMap<_, _> = r.names.into_iter().collect();
            if json {
                format!("{}\n", serde_json::json!(names))
            } else {
                names.iter().map(|(n, p)| format!("{n} {p}\n")).collect()
            }
        }),
    };
    match result {
        Ok(text) if text.is_empty() => Ok(0),
        Ok(text) => match shell.out(&text) {
            Ok(()) => Ok(0),
            Err(e) => {
                shell.error(format!("name: write error: {e}"));
                Ok(1)
            }
        },
        Err(e) => Ok(report(shell, "name", &e)),
    }
}
