//! Redirections: `<`, `>`, `>>`, `>|`, `<>`, `n>&m`, `n<&-`, here-documents,
//! here-strings, `&>`, `< <(cmd)` and `{name}>file`, applied to the shell's fd table
//! (never to the process's own fds). Files are opened relative to the
//! shell's directory.

use std::borrow::Cow;
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use brush_parser::ast::{self, IoFileRedirectKind as Kind, IoFileRedirectTarget as Target};

use crate::expand;
use crate::io::{self, Fd};
use crate::shell::Shell;

impl Shell {
    /// Applies redirections in order; on failure prints the error and
    /// returns the status (1), leaving `self.fds` partly changed (callers
    /// restore their saved copy).
    pub fn apply_redirects<R: std::borrow::Borrow<ast::IoRedirect>>(
        &mut self,
        redirects: &[R],
    ) -> Result<(), i32> {
        for redirect in redirects {
            if let Err(message) = self.apply_redirect(redirect.borrow()) {
                self.error(message);
                return Err(1);
            }
        }
        Ok(())
    }

    /// Gives the `{name}>file` redirections of a command their fd: a new
    /// one from 10 up (its number goes into the variable), or for a close
    /// (`{name}>&-`) the one the variable holds. `named` indexes
    /// `redirects`.
    pub(crate) fn number_fd_variables(
        &mut self,
        redirects: &mut [Cow<'_, ast::IoRedirect>],
        named: &[(usize, &str)],
    ) -> Result<(), String> {
        let mut taken = Vec::new();
        for &(i, name) in named {
            let (fd, closing) = match redirects[i].to_mut() {
                ast::IoRedirect::File(fd, _, Target::Duplicate(word)) if word.value == "-" => {
                    (fd, true)
                }
                ast::IoRedirect::File(fd, ..)
                | ast::IoRedirect::HereString(fd, _)
                | ast::IoRedirect::HereDocument(fd, _) => (fd, false),
                ast::IoRedirect::OutputAndError(..) => continue,
            };
            let n = if closing {
                let value = self.vars.get(name).unwrap_or("");
                value
                    .parse::<i32>()
                    .map_err(|_| format!("{value}: ambiguous redirect"))?
            } else {
                let n = (10..)
                    .find(|n| self.fds.get(*n).is_none() && !taken.contains(n))
                    .unwrap_or(10);
                taken.push(n);
                self.vars
                    .set(name, n.to_string())
                    .map_err(|e| e.to_string())?;
                n
            };
            *fd = Some(n);
        }
        Ok(())
    }

    fn path(&self, name: &str) -> PathBuf {
        self.cwd.join(name)
    }

    fn target_word(&mut self, word: &ast::Word) -> Result<String, String> {
        let fields =
            expand::expand_words(self, std::slice::from_ref(word)).map_err(|e| e.message)?;
        match fields.as_slice() {
            [one] => Ok(one.clone()),
            _ => Err(format!("{}: ambiguous redirect", word.value)),
        }
    }

    fn apply_redirect(&mut self, redirect: &ast::IoRedirect) -> Result<(), String> {
        match redirect {
            ast::IoRedirect::File(fd, kind, target) => {
                let default_fd = match kind {
                    Kind::Read | Kind::ReadAndWrite | Kind::DuplicateInput => 0,
                    _ => 1,
                };
                let n = fd.unwrap_or(default_fd);
                match target {
                    Target::Filename(word) => {
                        let name = self.target_word(word)?;
                        let file = self.open(&name, kind)?;
                        self.fds.set(n, Fd::new(file.into()));
                    }
                    Target::Fd(m) => self.duplicate(n, &m.to_string())?,
                    Target::Duplicate(word) => {
                        let what = self.target_word(word)?;
                        self.duplicate(n, &what)?;
                    }
                    Target::ProcessSubstitution(kind, command) => {
                        let end = self.start_process_substitution(kind, command)?;
                        self.fds.set(n, Fd::new(end));
                    }
                }
            }
            ast::IoRedirect::OutputAndError(word, append) => {
                let name = self.target_word(word)?;
                let kind = if *append { Kind::Append } else { Kind::Write };
                let file = Fd::new(self.open(&name, &kind)?.into());
                self.fds.set(1, file.clone());
                self.fds.set(2, file);
            }
            ast::IoRedirect::HereDocument(fd, doc) => {
                let mut body = doc.doc.value.clone();
                if doc.remove_tabs {
                    body = body
                        .split_inclusive('\n')
                        .map(|line| line.trim_start_matches('\t'))
                        .collect();
                }
                if doc.requires_expansion {
                    body = expand::expand_heredoc(self, &body).map_err(|e| e.message)?;
                }
                self.fds.set(fd.unwrap_or(0), feed(body.into_bytes())?);
            }
            ast::IoRedirect::HereString(fd, word) => {
                let mut text = expand::expand_word(self, &word.value).map_err(|e| e.message)?;
                text.push('\n');
                self.fds.set(fd.unwrap_or(0), feed(text.into_bytes())?);
            }
        }
        Ok(())
    }

    fn open(&self, name: &str, kind: &Kind) -> Result<std::fs::File, String> {
        let mut options = OpenOptions::new();
        match kind {
            Kind::Read => options.read(true),
            Kind::Write if self.options.noclobber => options.write(true).create_new(true),
            Kind::Write | Kind::Clobber => options.write(true).create(true).truncate(true),
            Kind::Append => options.append(true).create(true),
            Kind::ReadAndWrite => options.read(true).write(true).create(true),
            Kind::DuplicateInput | Kind::DuplicateOutput => options.read(true),
        };
        options.custom_flags(libc::O_CLOEXEC);
        options.mode(0o666);
        let path = self.path(name);
        if matches!(kind, Kind::Write)
            && self.options.noclobber
            && path.metadata().is_ok_and(|m| !m.is_file())
        {
            return OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| format!("{name}: {}", os_message(&e)));
        }
        options.open(&path).map_err(|e| {
            if matches!(kind, Kind::Write) && e.kind() == std::io::ErrorKind::AlreadyExists {
                format!("{name}: cannot overwrite existing file")
            } else {
                format!("{name}: {}", os_message(&e))
            }
        })
    }

    /// `n>&m`, `n<&m`, `n>&-`, `n>&m-`.
    fn duplicate(&mut self, n: i32, what: &str) -> Result<(), String> {
        if what == "-" {
            self.fds.close(n);
            return Ok(());
        }
        let (source, move_it) = match what.strip_suffix('-') {
            Some(m) => (m, true),
            None => (what, false),
        };
        let m: i32 = source
            .parse()
            .map_err(|_| format!("{what}: ambiguous redirect"))?;
        let fd = self
            .fds
            .get(m)
            .cloned()
            .ok_or_else(|| format!("{m}: Bad file descriptor"))?;
        self.fds.set(n, fd);
        if move_it && m != n {
            self.fds.close(m);
        }
        Ok(())
    }
}

/// A pipe that yields `data` then end of file (here-documents); large
/// bodies are written by a thread so the reader never deadlocks.
fn feed(data: Vec<u8>) -> Result<Fd, String> {
    use std::os::fd::AsFd;
    let (read, write) = io::pipe().map_err(|e| format!("cannot create a pipe: {e}"))?;
    if data.len() <= 16 * 1024 {
        io::write_all(write.as_fd(), &data).map_err(|e| e.to_string())?;
    } else {
        std::thread::spawn(move || {
            let _ = io::write_all(write.as_fd(), &data);
        });
    }
    Ok(Fd::new(read))
}

/// The OS error text without Rust's " (os error N)" suffix, as shells
/// print it.
pub fn os_message(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// The variable of a `{name}>file` redirection: `word` is `{name}`,
/// followed by the operator and its target without spaces (brush-parser
/// reads `{name}` as a word of its own; only where it ends tells it apart
/// from an argument `{name}` before a redirection, and a space before or
/// after the operator cannot be told apart, so neither is allowed).
pub(crate) fn fd_variable<'w>(word: &'w ast::Word, redirect: &ast::IoRedirect) -> Option<&'w str> {
    let name = word.value.strip_prefix('{')?.strip_suffix('}')?;
    if !crate::exec::assign::valid_name(name) {
        return None;
    }
    let (operator, target) = match redirect {
        ast::IoRedirect::File(None, kind, Target::Filename(w) | Target::Duplicate(w)) => {
            let len = match kind {
                Kind::Read | Kind::Write => 1,
                _ => 2,
            };
            (len, w)
        }
        ast::IoRedirect::HereString(None, w) => (3, w),
        _ => return None,
    };
    let end = word.loc.as_ref()?.end.index;
    let start = target.loc.as_ref()?.start.index;
    (start == end + operator).then_some(name)
}
