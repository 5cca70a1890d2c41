//! `umask [-p] [-S] [MODE]`, as bash 5.2: an octal mode (at most 07777,
//! anything else refused and the mask left alone) or a symbolic one
//! (`u-w,g=rx,a+x`, computed on the permissions the mask allows, as
//! bash does: no `X`, `s`, `t` or copying of another class), `-S` to
//! print the mask symbolically, `-p` in a form `eval` reads back.
//!
//! The mask itself is the shell thread's own (see `crate::io::umask`).

use crate::shell::{Shell, Status};

pub fn umask(shell: &mut Shell, args: Vec<String>) -> Status {
    let mut symbolic = false;
    let mut reusable = false;
    let mut rest = args.as_slice();
    while let Some(arg) = rest.first() {
        if arg == "--" {
            rest = &rest[1..];
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            break;
        }
        for c in arg[1..].chars() {
            match c {
                'S' => symbolic = true,
                'p' => reusable = true,
                other => {
                    shell.error(format!("umask: -{other}: invalid option"));
                    return super::usage(shell, "umask");
                }
            }
        }
        rest = &rest[1..];
    }
    let Some(mode) = rest.first() else {
        let mask = crate::io::umask();
        let mut out = String::new();
        if reusable {
            out.push_str(if symbolic { "umask -S " } else { "umask " });
        }
        if symbolic {
            out.push_str(&symbolic_mask(mask));
        } else {
            out.push_str(&format!("{mask:04o}"));
        }
        out.push('\n');
        return write(shell, &out);
    };
    let mask = if mode.starts_with(|c: char| c.is_ascii_digit()) {
        match octal_mask(mode) {
            Some(mask) => mask,
            None => {
                shell.error(format!("umask: {mode}: octal number out of range"));
                return Ok(1);
            }
        }
    } else {
        match apply_symbolic(mode, !crate::io::umask() & 0o777) {
            Ok(allowed) => !allowed & 0o777,
            Err(message) => {
                shell.error(format!("umask: {message}"));
                return Ok(1);
            }
        }
    };
    crate::io::set_umask(mask);
    if symbolic {
        return write(shell, &format!("{}\n", symbolic_mask(mask & 0o777)));
    }
    Ok(0)
}

fn write(shell: &Shell, text: &str) -> Status {
    Ok(match shell.out(text) {
        Ok(()) => 0,
        Err(e) => {
            if e.raw_os_error() != Some(libc::EPIPE) {
                let why = crate::exec::redirect_message(&e);
                shell.error(format!("umask: write error: {why}"));
            }
            1
        }
    })
}

/// An octal mask as bash reads it: octal digits only, at most 07777.
fn octal_mask(mode: &str) -> Option<u32> {
    let mut value: u32 = 0;
    for c in mode.chars() {
        value = value * 8 + c.to_digit(8)?;
        if value > 0o7777 {
            return None;
        }
    }
    (!mode.is_empty()).then_some(value)
}

/// `u=rwx,g=rx,o=rx`: the permissions a mask lets through.
fn symbolic_mask(mask: u32) -> String {
    let class = |shift: u32| {
        let allowed = !mask >> shift;
        let mut text = String::new();
        for (bit, letter) in [(4, 'r'), (2, 'w'), (1, 'x')] {
            if allowed & bit != 0 {
                text.push(letter);
            }
        }
        text
    };
    format!("u={},g={},o={}", class(6), class(3), class(0))
}

/// Applies a symbolic mode (clauses `[ugoa]*[+-=][rwx]*` separated by
/// commas) to the permission bits `allowed`, as bash's umask does: the
/// permissions of a clause without a class apply to all classes.
/// Returns the new bits or bash's error message.
fn apply_symbolic(mode: &str, allowed: u32) -> Result<u32, String> {
    let mut bits = allowed;
    let mut s = mode.chars().peekable();
    loop {
        let mut who = 0;
        while let Some(&c) = s.peek() {
            who |= match c {
                'u' => 0o700,
                'g' => 0o070,
                'o' => 0o007,
                'a' => 0o777,
                _ => break,
            };
            s.next();
        }
        let op = s.next();
        if !matches!(op, Some('+' | '-' | '=')) {
            let op = op.map(String::from).unwrap_or_default();
            return Err(format!("`{op}': invalid symbolic mode operator"));
        }
        let mut perm = 0;
        while let Some(&c) = s.peek() {
            perm |= match c {
                'r' => 0o444,
                'w' => 0o222,
                'x' => 0o111,
                _ => break,
            };
            s.next();
        }
        let end = match s.next() {
            None => true,
            Some(',') => false,
            Some(other) => {
                return Err(format!("`{other}': invalid symbolic mode character"));
            }
        };
        if who != 0 {
            perm &= who;
        }
        match op {
            Some('+') => bits |= perm,
            Some('-') => bits &= !perm,
            _ => {
                let who = if who == 0 { 0o777 } else { who };
                bits = (bits & !who) | perm;
            }
        }
        if end {
            return Ok(bits);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mask after `umask MODE` on mask `mask`.
    fn after(mask: u32, mode: &str) -> Result<u32, String> {
        apply_symbolic(mode, !mask & 0o777).map(|bits| !bits & 0o777)
    }

    #[test]
    fn symbolic_modes_as_bash() {
        assert_eq!(after(0o002, "g-w,o-w"), Ok(0o022));
        assert_eq!(after(0o000, "u-rw"), Ok(0o600));
        assert_eq!(after(0o700, "u=r"), Ok(0o300));
        assert_eq!(after(0o000, "u=r,g=w,o=x"), Ok(0o356));
        assert_eq!(after(0o777, "u+r,g+w,o+x"), Ok(0o356));
        assert_eq!(after(0o137, "u=,g+,o-"), Ok(0o737));
        assert_eq!(after(0o111, "u=rwx,u=rw,u=r,u=,g=rwx"), Ok(0o701));
        assert_eq!(after(0o124, "u-r,u-r"), Ok(0o524));
        assert_eq!(after(0o732, "a=rwx"), Ok(0o000));
        assert_eq!(after(0o124, "a-r"), Ok(0o564));
        // No class: every class.
        assert_eq!(after(0o124, "="), Ok(0o777));
        assert_eq!(after(0o124, "=rx"), Ok(0o222));
        assert_eq!(after(0o124, "+"), Ok(0o124));
        assert_eq!(after(0o124, "-"), Ok(0o124));
    }

    #[test]
    fn symbolic_errors() {
        assert_eq!(
            after(0o124, "b=rwx"),
            Err("`b': invalid symbolic mode operator".into())
        );
        assert_eq!(
            after(0o124, "u+r,,u-r"),
            Err("`,': invalid symbolic mode operator".into())
        );
        assert_eq!(
            after(0o124, "a=X"),
            Err("`X': invalid symbolic mode character".into())
        );
        assert_eq!(
            after(0o124, "u+r+w"),
            Err("`+': invalid symbolic mode character".into())
        );
        assert_eq!(
            after(0o124, "u+r,"),
            Err("`': invalid symbolic mode operator".into())
        );
        assert_eq!(
            after(0o124, ""),
            Err("`': invalid symbolic mode operator".into())
        );
    }

    #[test]
    fn octal_masks() {
        assert_eq!(octal_mask("0022"), Some(0o022));
        assert_eq!(octal_mask("7777"), Some(0o7777));
        assert_eq!(octal_mask("10000"), None);
        assert_eq!(octal_mask("1234567"), None);
        assert_eq!(octal_mask("089"), None);
    }

    #[test]
    fn symbolic_listing() {
        assert_eq!(symbolic_mask(0o022), "u=rwx,g=rx,o=rx");
        assert_eq!(symbolic_mask(0o777), "u=,g=,o=");
        assert_eq!(symbolic_mask(0o124), "u=rw,g=rx,o=wx");
    }
}
