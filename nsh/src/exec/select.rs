//! `select NAME [in WORDS]; do ...; done`, as bash runs it: the menu of
//! the words on stderr in bash's columns, the `PS3` prompt (`#? `), a line
//! read from stdin into `REPLY`, NAME set to the chosen word (or empty for
//! anything else), the body run; again until `break` or end of input.

use brush_parser::ast;

use crate::builtins::read::read_byte;
use crate::expand;
use crate::shell::{Flow, Shell, Status};

impl Shell {
    pub(super) fn run_select(&mut self, clause: &ast::ForClauseCommand) -> Status {
        let words = match &clause.values {
            Some(words) => match expand::expand_words(self, words) {
                Ok(v) => v,
                Err(e) => return self.expand_failed(e),
            },
            None => self.positional.clone(),
        };
        if words.is_empty() {
            return Ok(0);
        }
        let mut show_menu = true;
        loop {
            self.check_signals()?;
            if show_menu {
                let columns = self
                    .vars
                    .get("COLUMNS")
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(80);
                let _ = self.fds.write(2, menu(&words, columns).as_bytes());
            }
            let prompt = self.vars.get("PS3").unwrap_or("#? ").to_string();
            let _ = self.fds.write(2, prompt.as_bytes());
            let Some(line) = self.read_reply()? else {
                // End of input: bash ends the loop with a new line (on
                // stdout).
                let _ = self.fds.write(1, b"\n");
                return Ok(1);
            };
            if line.is_empty() {
                show_menu = true;
                continue;
            }
            show_menu = false;
            let chosen = line
                .trim()
                .parse::<usize>()
                .ok()
                .and_then(|n| n.checked_sub(1))
                .and_then(|i| words.get(i))
                .cloned()
                .unwrap_or_default();
            if let Err(e) = self
                .vars
                .set("REPLY", line)
                .and_then(|()| self.vars.set(&clause.variable_name, chosen))
            {
                self.error(e);
                return Ok(1);
            }
            // `break` ends it with status 0, as in bash.
            if self.loop_body(&clause.body.list)?.is_some() {
                return Ok(0);
            }
        }
    }

    /// One line of stdin without its newline; `None` at end of input.
    fn read_reply(&mut self) -> Result<Option<String>, Flow> {
        let mut bytes = Vec::new();
        loop {
            match read_byte(self, 0, None)? {
                None if bytes.is_empty() => return Ok(None),
                None | Some(b'\n') => break,
                Some(b) => bytes.push(b),
            }
        }
        Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
    }
}

/// The menu as bash lays it out: `N) word` entries in columns filled
/// down first, each column `widest word + index width + 4` wide, as many
/// as fit in `columns` (one column when all would fit on one row); the
/// first column's numbers as wide as its largest, the others' as wide as
/// the largest of all; the gaps made of tabs (every 8) and spaces.
fn menu(words: &[String], columns: usize) -> String {
    let count = words.len();
    let index_width = count.to_string().len();
    let widest = words.iter().map(|w| w.chars().count()).max().unwrap_or(0);
    let cell = widest + index_width + 4;
    let cols = (columns / cell).max(1);
    let mut rows = count.div_ceil(cols);
    if rows == 1 {
        // It would all fit on one row: one column instead.
        rows = count;
    }
    let first_width = rows.min(count).to_string().len();
    let mut out = String::new();
    for row in 0..rows {
        let mut pos = 0;
        let mut i = row;
        loop {
            let width = if i == row { first_width } else { index_width };
            let word = &words[i];
            out.push_str(&format!("{:>width$}) {word}", i + 1));
            i += rows;
            if i >= count {
                break;
            }
            let end = pos + word.chars().count() + width + 2;
            pad(&mut out, end, pos + cell);
            pos += cell;
        }
        out.push('\n');
    }
    out
}

/// From column `from` to column `to` with tabs (stops every 8) and
/// spaces, as bash indents its menus.
fn pad(out: &mut String, mut from: usize, to: usize) {
    while from < to {
        if to / 8 > from / 8 {
            out.push('\t');
            from += 8 - from % 8;
        } else {
            out.push(' ');
            from += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::menu;

    #[test]
    fn menus_are_laid_out_as_bash_does() {
        let words: Vec<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        assert_eq!(menu(&words, 80), "1) a\n2) b\n");
        let many: Vec<String> = (1..=12).map(|i| format!("item{i}")).collect();
        let text = menu(&many, 40);
        assert!(
            text.starts_with("1) item1     5) item5\t 9) item9\n2) item2"),
            "{text}"
        );
    }
}
