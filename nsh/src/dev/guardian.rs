//! The guardian: a small `sh` started first that stops everything the dev
//! cluster started if nsh dies without doing it (see the module doc of
//! dev.rs).

use super::*;

/// The `sh` that cleans up if nsh dies: it reads lines from a pipe whose
/// write end only nsh holds (close-on-exec, so no other child keeps it
/// open), `pid N` to remember a process to stop, `mount PATH` and
/// `made PATH` for the mount, and `done` to stand down; end of file
/// means nsh died.
pub(super) struct Guardian {
    child: Child,
    pipe: Option<io::PipeWriter>,
}

/// The guardian's script; `$1` is the temp dir. It waits up to 15 s for
/// the processes to exit after SIGTERM (a zombie counts as gone), then
/// SIGKILLs, unmounts and removes everything.
pub(super) const GUARDIAN_SCRIPT: &str = r#"
trap '' INT QUIT TSTP HUP
dir=$1 pids= mnt= made=
while read -r what arg; do
  case $what in
    pid) pids="$pids $arg" ;;
    mount) mnt=$arg ;;
    made) made=$arg ;;
    done) exit 0 ;;
  esac
done
alive() {
  s=$(cut -d')' -f2 "/proc/$1/stat" 2>/dev/null | cut -c2)
  [ -n "$s" ] && [ "$s" != Z ]
}
[ -n "$pids" ] && kill -TERM $pids 2>/dev/null
i=0
while [ $i -lt 150 ]; do
  left=
  for p in $pids; do alive "$p" && left=1; done
  [ -z "$left" ] && break
  sleep 0.1
  i=$((i+1))
done
[ -n "$pids" ] && kill -KILL $pids 2>/dev/null
[ -n "$mnt" ] && umount -l "$mnt" 2>/dev/null
[ -n "$made" ] && rmdir "$made" 2>/dev/null
rm -rf "$dir"
"#;

impl Guardian {
    pub(super) fn start(dir: &Path) -> Result<Guardian, DevError> {
        let (reader, writer) = io::pipe().map_err(io_err("cannot create a pipe"))?;
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(GUARDIAN_SCRIPT)
            .arg("nsh-dev-guardian")
            .arg(dir)
            .stdin(reader)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        local_child(&mut command);
        let child = command
            .spawn()
            .map_err(io_err("cannot start the dev cluster's guardian (sh)"))?;
        Ok(Guardian {
            child,
            pipe: Some(writer),
        })
    }

    pub(super) fn tell(&mut self, line: &str) {
        if let Some(pipe) = &mut self.pipe {
            // A failure means the guardian is gone; the orderly shutdown
            // still cleans up.
            let _ = writeln!(pipe, "{line}");
        }
    }

    pub(super) fn watch(&mut self, child: &Child) {
        self.tell(&format!("pid {}", child.id()));
    }

    /// Stands the guardian down (everything is cleaned up) and reaps it.
    pub(super) fn disarm(mut self) {
        self.tell("done");
        self.pipe = None;
        let _ = self.child.wait();
    }
}
