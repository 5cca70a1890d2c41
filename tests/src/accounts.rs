//! Real local users and a group made for one test (useradd), deleted
//! with their processes when the test ends, pass or fail.

use std::process::Command;

/// Local users and a group made for one test, deleted on drop.
pub struct Accounts {
    /// The users' names.
    pub users: Vec<String>,
    /// The group's name.
    pub group: String,
}

impl Accounts {
    /// Users `{prefix}a`, `{prefix}b`, `{prefix}c`; c is in the group
    /// `{prefix}adm`.
    pub fn create() -> anyhow::Result<Accounts> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let prefix = format!("nt{}x{n}", std::process::id() % 100_000);
        let group = format!("{prefix}adm");
        let mut accounts = Accounts {
            users: Vec::new(),
            group: String::new(),
        };
        run("groupadd", &[&group])?;
        accounts.group = group.clone();
        for (suffix, extra) in [("a", None), ("b", None), ("c", Some(&group))] {
            let user = format!("{prefix}{suffix}");
            let mut args = vec!["-m", "-s", "/bin/sh"];
            if let Some(g) = extra {
                args.extend(["-G", g]);
            }
            args.push(&user);
            run("useradd", &args)?;
            accounts.users.push(user);
        }
        Ok(accounts)
    }
}

impl Drop for Accounts {
    fn drop(&mut self) {
        for user in &self.users {
            let _ = Command::new("pkill").args(["-KILL", "-u", user]).status();
            let _ = Command::new("userdel").args(["-r", user]).output();
        }
        if !self.group.is_empty() {
            let _ = Command::new("groupdel").arg(&self.group).output();
        }
    }
}

/// Runs an account tool, which must succeed.
fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(program).args(args).output()?;
    anyhow::ensure!(
        out.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Runs `nsh -c SCRIPT` as `user` against `node`'s socket; returns the
/// status, stdout and stderr.
pub fn nsh_as(
    user: &str,
    node: &crate::Node,
    script: &str,
) -> anyhow::Result<(i32, String, String)> {
    let out = Command::new("timeout")
        .args([
            "-s", "KILL", "60", "setpriv", "--reuid", user, "--regid", user,
        ])
        .arg("--init-groups")
        .arg(crate::binary("nsh"))
        .args(["-c", script])
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", format!("/home/{user}"))
        .env("NEFELE_ADDR", node.addr().to_string())
        .current_dir("/")
        .output()?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// Runs `sh -c SCRIPT` as `user`: status and stdout+stderr.
pub fn sh_as(user: &str, script: &str) -> anyhow::Result<(i32, String)> {
    let out = Command::new("timeout")
        .args([
            "-s", "KILL", "30", "setpriv", "--reuid", user, "--regid", user,
        ])
        .args(["--init-groups", "sh", "-c", script])
        .current_dir("/")
        .output()?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    ))
}
