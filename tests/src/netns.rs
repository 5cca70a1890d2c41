//! Network namespaces a test makes for itself (partitions between nodes),
//! deleted when dropped.

use super::*;

/// A network namespace made for one test (deleted on drop), with loopback
/// up, in which nodes listen on distinct 127.0.0.x addresses and an address
/// can be cut off and healed.
pub struct Netns {
    /// Its name.
    pub name: String,
}

impl Netns {
    /// Creates the namespace. Routing rules are arranged so that
    /// [`Netns::isolate`] rules are consulted before the local table.
    pub fn create() -> anyhow::Result<Netns> {
        let name = format!(
            "nefele-t{}-{}",
            std::process::id(),
            NEXT_NODE.fetch_add(1, Ordering::Relaxed)
        );
        run_ip(&["netns", "add", &name])?;
        let ns = Netns { name };
        ns.exec(&["ip", "link", "set", "lo", "up"])?;
        ns.exec(&["ip", "rule", "add", "pref", "100", "lookup", "local"])?;
        ns.exec(&["ip", "rule", "del", "pref", "0", "lookup", "local"])?;
        Ok(ns)
    }

    fn exec(&self, argv: &[&str]) -> anyhow::Result<()> {
        let mut args = vec!["netns", "exec", &self.name];
        args.extend_from_slice(argv);
        run_ip(&args)
    }

    /// Cuts `ip` off: nothing is delivered to or from it.
    pub fn isolate(&self, ip: &str) -> anyhow::Result<()> {
        self.exec(&["ip", "rule", "add", "pref", "10", "from", ip, "prohibit"])?;
        self.exec(&["ip", "rule", "add", "pref", "10", "to", ip, "prohibit"])
    }

    /// Undoes [`Netns::isolate`].
    pub fn heal(&self, ip: &str) -> anyhow::Result<()> {
        self.exec(&["ip", "rule", "del", "pref", "10", "from", ip, "prohibit"])?;
        self.exec(&["ip", "rule", "del", "pref", "10", "to", ip, "prohibit"])
    }

    /// Connects this namespace and `other` with a veth pair, as two
    /// machines on one link: `ip` here and `other_ip` there (both in
    /// `prefix`, e.g. 24), each side's default route on the link.
    pub fn link(&self, other: &Netns, ip: &str, other_ip: &str, prefix: u8) -> anyhow::Result<()> {
        let here = format!("v{}", NEXT_NODE.fetch_add(1, Ordering::Relaxed));
        let there = format!("{here}p");
        run_ip(&[
            "link",
            "add",
            &here,
            "netns",
            &self.name,
            "type",
            "veth",
            "peer",
            "name",
            &there,
            "netns",
            &other.name,
        ])?;
        for (ns, dev, addr) in [(self, &here, ip), (other, &there, other_ip)] {
            ns.exec(&["ip", "addr", "add", &format!("{addr}/{prefix}"), "dev", dev])?;
            ns.exec(&["ip", "link", "set", dev, "up"])?;
            ns.exec(&["ip", "route", "add", "default", "dev", dev])?;
        }
        Ok(())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run_ip(&["netns", "del", &self.name]);
    }
}

fn run_ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("cannot run ip (iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
