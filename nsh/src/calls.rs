//! The call stack bash shows in `FUNCNAME`, `BASH_SOURCE` and
//! `BASH_LINENO`, and the `caller` builtin: a frame for each running
//! function and sourced file, over the script's own ("main").
//!
//! As in bash: index 0 is the innermost frame; `BASH_SOURCE[i]` is the
//! file frame i's text comes from (where the function was defined, or the
//! sourced file), `BASH_LINENO[i]` the line it was called from (0 for the
//! script), `FUNCNAME[i]` its name (`source` for a sourced file, `main`
//! for the script); `FUNCNAME` is unset while no function runs. Under
//! `-c` and for a script read from stdin there is no "main" frame, and a
//! function defined there comes from `environment` (bash's word).

use std::sync::Arc;

use crate::shell::Shell;
use crate::vars::{Scope, Value};

/// A running function or sourced file.
#[derive(Clone, Debug)]
pub struct Call {
    /// The function's name, or `source`.
    pub name: String,
    /// The file its text comes from, if it is a file.
    pub file: Option<Arc<str>>,
    /// The line it was called from.
    pub line: usize,
}

/// The word bash gives for a function not defined in a file.
const NO_FILE: &str = "environment";

impl Shell {
    /// Enters function or sourced file `name`, whose text comes from
    /// `file`, called from the current line.
    pub fn enter_call(&mut self, name: &str, file: Option<Arc<str>>) {
        self.calls.push(Call {
            name: name.to_string(),
            file,
            line: self.lineno,
        });
        self.publish_calls();
    }

    /// Leaves the innermost function or sourced file.
    pub fn leave_call(&mut self) {
        self.calls.pop();
        self.publish_calls();
    }

    /// The frames, innermost first, the script's own last: (name, file,
    /// line called from).
    fn frames(&self) -> Vec<(&str, &str, usize)> {
        let mut frames: Vec<(&str, &str, usize)> = self
            .calls
            .iter()
            .rev()
            .map(|c| {
                (
                    c.name.as_str(),
                    c.file.as_deref().unwrap_or(NO_FILE),
                    c.line,
                )
            })
            .collect();
        if let Some(script) = &self.script_file {
            frames.push(("main", script, 0));
        }
        frames
    }

    /// Sets `FUNCNAME`, `BASH_SOURCE` and `BASH_LINENO` from the frames.
    pub fn publish_calls(&mut self) {
        let frames = self.frames();
        let array = |part: &dyn Fn(&(&str, &str, usize)) -> String| {
            Value::Indexed(
                frames
                    .iter()
                    .enumerate()
                    .map(|(i, f)| (i as i64, part(f)))
                    .collect(),
            )
        };
        let in_function = self.calls.iter().any(|c| c.name != "source");
        let names = in_function.then(|| array(&|f| f.0.to_string()));
        let sources = array(&|f| f.1.to_string());
        let lines = array(&|f| f.2.to_string());
        for (name, value) in [
            ("FUNCNAME", names),
            ("BASH_SOURCE", Some(sources)),
            ("BASH_LINENO", Some(lines)),
        ] {
            let var = self.vars.entry(name, Scope::Global);
            if !var.readonly {
                var.value = value;
            }
        }
    }

    /// `caller [N]`: `LINE FILE` of the current frame's caller, or `LINE
    /// FUNCTION FILE` of frame N's; `None` where bash fails (status 1,
    /// nothing printed): no frame at all (`-c`), or past the outermost.
    pub fn caller(&self, depth: Option<usize>) -> Option<String> {
        let frames = self.frames();
        match depth {
            None => {
                let (_, _, line) = frames.first()?;
                let file = frames.get(1).map_or("NULL", |f| f.1);
                Some(format!("{line} {file}"))
            }
            Some(n) => {
                let (_, _, line) = frames.get(n)?;
                let (name, file, _) = frames.get(n + 1)?;
                Some(format!("{line} {name} {file}"))
            }
        }
    }
}
