//! `test`, `[` and `[[ ]]`: brush-parser parses the expression, this
//! module evaluates it. File tests look at the shell's machine (paths are
//! relative to the shell's directory).

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

use brush_parser::ast::{BinaryPredicate as B, ExtendedTestExpr, TestExpr, UnaryPredicate as U};

use crate::expand;
use crate::shell::{Shell, Status};

pub fn test(shell: &mut Shell, args: Vec<String>) -> Status {
    evaluate_test(shell, "test", &args)
}

pub fn bracket(shell: &mut Shell, mut args: Vec<String>) -> Status {
    if args.last().map(String::as_str) != Some("]") {
        shell.error("[: missing `]'");
        return Ok(2);
    }
    args.pop();
    evaluate_test(shell, "[", &args)
}

fn evaluate_test(shell: &mut Shell, name: &str, args: &[String]) -> Status {
    if args.is_empty() {
        return Ok(1);
    }
    match brush_parser::test_command::parse(args) {
        Ok(expr) => match eval(shell, &expr) {
            Ok(true) => Ok(0),
            Ok(false) => Ok(1),
            Err(message) => {
                shell.error(format!("{name}: {message}"));
                Ok(2)
            }
        },
        Err(_) => {
            let message = if args.len() == 1 {
                format!("{}: unary operator expected", args[0])
            } else if args.len() >= 3 {
                format!("{}: binary operator expected", args[1])
            } else {
                "too many arguments".to_string()
            };
            shell.error(format!("{name}: {message}"));
            Ok(2)
        }
    }
}

fn eval(shell: &mut Shell, expr: &TestExpr) -> Result<bool, String> {
    Ok(match expr {
        TestExpr::False => false,
        TestExpr::Literal(s) => !s.is_empty(),
        TestExpr::And(a, b) => eval(shell, a)? && eval(shell, b)?,
        TestExpr::Or(a, b) => eval(shell, a)? || eval(shell, b)?,
        TestExpr::Not(e) => !eval(shell, e)?,
        TestExpr::Parenthesized(e) => eval(shell, e)?,
        TestExpr::UnaryTest(op, operand) => unary(shell, op, operand)?,
        TestExpr::BinaryTest(op, left, right) => binary(shell, op, left, right, false)?,
    })
}

/// `[[ ]]`: operands are expanded without splitting or globbing; the right
/// of `==`/`!=` is a pattern; `=~` is an extended regular expression.
pub fn extended(shell: &mut Shell, expr: &ExtendedTestExpr) -> Status {
    match eval_extended(shell, expr) {
        Ok(true) => Ok(0),
        Ok(false) => Ok(1),
        Err(message) => {
            shell.error(format!("[[: {message}"));
            Ok(2)
        }
    }
}

/// `set -x` for one test of `[[ ]]`, as bash shows it: after expansion,
/// an empty operand as `''`, a negation inside.
fn trace_test(shell: &mut Shell, negated: bool, parts: &[&str]) {
    if !shell.options.xtrace || shell.in_ps4 {
        return;
    }
    let prefix = shell.xtrace_prefix();
    let words: Vec<&str> = parts
        .iter()
        .map(|p| if p.is_empty() { "''" } else { *p })
        .collect();
    let not = if negated { "! " } else { "" };
    let line = format!("{prefix}[[ {not}{} ]]\n", words.join(" "));
    let _ = shell.fds.write(2, line.as_bytes());
}

fn eval_extended(shell: &mut Shell, expr: &ExtendedTestExpr) -> Result<bool, String> {
    eval_test(shell, expr, false)
}

/// Evaluates `expr`; `negated` when a `!` stands right before it (for
/// `set -x`).
fn eval_test(shell: &mut Shell, expr: &ExtendedTestExpr, negated: bool) -> Result<bool, String> {
    Ok(match expr {
        ExtendedTestExpr::And(a, b) => eval_test(shell, a, false)? && eval_test(shell, b, false)?,
        ExtendedTestExpr::Or(a, b) => eval_test(shell, a, false)? || eval_test(shell, b, false)?,
        ExtendedTestExpr::Not(e) => !eval_test(shell, e, !negated)?,
        ExtendedTestExpr::Parenthesized(e) => eval_test(shell, e, negated)?,
        ExtendedTestExpr::UnaryTest(op, word) => {
            let operand = expand::expand_word(shell, &word.value).map_err(|e| e.message)?;
            trace_test(shell, negated, &[&op.to_string(), &operand]);
            unary(shell, op, &operand)?
        }
        ExtendedTestExpr::BinaryTest(op, left, right) => {
            let left = expand::expand_word(shell, &left.value).map_err(|e| e.message)?;
            let traced = |shell: &mut Shell, right: &str| {
                trace_test(shell, negated, &[&left, &op.to_string(), right]);
            };
            match op {
                B::StringExactlyMatchesPattern | B::StringDoesNotExactlyMatchPattern => {
                    // The pattern as expanded (not again when that would
                    // run a command a second time).
                    if shell.options.xtrace {
                        let text = &right.value;
                        let shown = match text.contains("$(") || text.contains('`') {
                            true => text.clone(),
                            false => {
                                expand::expand_word(shell, text).unwrap_or_else(|_| text.clone())
                            }
                        };
                        traced(shell, &shown);
                    }
                    let pattern =
                        expand::expand_pattern(shell, &right.value).map_err(|e| e.message)?;
                    let matched = expand::pattern_matches(&pattern, &left, true);
                    matched == matches!(op, B::StringExactlyMatchesPattern)
                }
                B::StringMatchesRegex => {
                    let pattern =
                        expand::expand_word(shell, &right.value).map_err(|e| e.message)?;
                    traced(shell, &pattern);
                    regex_match(shell, &left, &pattern)?
                }
                _ => {
                    let right = expand::expand_word(shell, &right.value).map_err(|e| e.message)?;
                    traced(shell, &right);
                    binary(shell, op, &left, &right, true)?
                }
            }
        }
    })
}

/// `=~`: sets BASH_REMATCH from the captures.
fn regex_match(shell: &mut Shell, text: &str, pattern: &str) -> Result<bool, String> {
    let re = crate::expand::pattern::regex(pattern)
        .map_err(|_| format!("{pattern}: invalid regular expression"))?;
    let Some(captures) = re.captures(text) else {
        let _ = shell.vars.set_value(
            "BASH_REMATCH",
            crate::vars::Value::Indexed(Default::default()),
        );
        return Ok(false);
    };
    let map = captures
        .iter()
        .enumerate()
        .map(|(i, m)| {
            (
                i as i64,
                m.map(|m| m.as_str().to_string()).unwrap_or_default(),
            )
        })
        .collect();
    let _ = shell
        .vars
        .set_value("BASH_REMATCH", crate::vars::Value::Indexed(map));
    Ok(true)
}

fn unary(shell: &mut Shell, op: &U, operand: &str) -> Result<bool, String> {
    let path = shell.cwd.join(operand);
    let meta = || std::fs::metadata(&path).ok();
    let access = |mode| nix::unistd::access(&path, mode).is_ok();
    Ok(match op {
        U::StringHasZeroLength => operand.is_empty(),
        U::StringHasNonZeroLength => !operand.is_empty(),
        U::FileExists => meta().is_some(),
        U::FileExistsAndIsBlockSpecialFile => {
            meta().is_some_and(|m| m.file_type().is_block_device())
        }
        U::FileExistsAndIsCharSpecialFile => meta().is_some_and(|m| m.file_type().is_char_device()),
        U::FileExistsAndIsDir => meta().is_some_and(|m| m.is_dir()),
        U::FileExistsAndIsRegularFile => meta().is_some_and(|m| m.is_file()),
        U::FileExistsAndIsSetgid => meta().is_some_and(|m| m.permissions().mode() & 0o2000 != 0),
        U::FileExistsAndIsSymlink => {
            std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink())
        }
        U::FileExistsAndHasStickyBit => {
            meta().is_some_and(|m| m.permissions().mode() & 0o1000 != 0)
        }
        U::FileExistsAndIsFifo => meta().is_some_and(|m| m.file_type().is_fifo()),
        U::FileExistsAndIsReadable => access(nix::unistd::AccessFlags::R_OK),
        U::FileExistsAndIsNotZeroLength => meta().is_some_and(|m| m.len() > 0),
        U::FdIsOpenTerminal => operand
            .parse::<i32>()
            .ok()
            .and_then(|n| shell.fds.get(n).map(|fd| fd.is_terminal()))
            .unwrap_or(false),
        U::FileExistsAndIsSetuid => meta().is_some_and(|m| m.permissions().mode() & 0o4000 != 0),
        U::FileExistsAndIsWritable => access(nix::unistd::AccessFlags::W_OK),
        U::FileExistsAndIsExecutable => access(nix::unistd::AccessFlags::X_OK),
        U::FileExistsAndOwnedByEffectiveGroupId => {
            meta().is_some_and(|m| m.gid() == nix::unistd::getegid().as_raw())
        }
        U::FileExistsAndModifiedSinceLastRead => meta().is_some_and(|m| m.mtime() > m.atime()),
        U::FileExistsAndOwnedByEffectiveUserId => {
            meta().is_some_and(|m| m.uid() == nix::unistd::geteuid().as_raw())
        }
        U::FileExistsAndIsSocket => meta().is_some_and(|m| m.file_type().is_socket()),
        U::ShellOptionEnabled => option_enabled(shell, operand),
        U::ShellVariableIsSetAndAssigned => variable_is_set(shell, operand)?,
        U::ShellVariableIsSetAndNameRef => {
            shell.vars.lookup_ref(operand).is_some_and(|v| v.nameref)
        }
    })
}

/// `-v NAME`, `-v 'NAME[SUB]'`: whether the variable (element 0 of an
/// array) or the element has a value; `NAME[@]` whether it has elements.
fn variable_is_set(shell: &mut Shell, operand: &str) -> Result<bool, String> {
    let Some((name, sub)) = crate::exec::assign::split_subscript(operand) else {
        return Ok(false);
    };
    let Some(sub) = sub else {
        return Ok(shell.vars.get(name).is_some());
    };
    if sub == "@" || sub == "*" {
        return Ok(shell.vars.value(name).is_some_and(|v| match v {
            crate::vars::Value::Str(_) => true,
            crate::vars::Value::Indexed(m) => !m.is_empty(),
            crate::vars::Value::Assoc(m) => !m.is_empty(),
        }));
    }
    let key = if shell.vars.is_assoc(name) {
        // The key is expanded, as in `${m[$k]}`.
        crate::vars::Key::Name(expand::expand_word(shell, sub).map_err(|e| e.message)?)
    } else {
        let i = expand::eval_arith(shell, sub).map_err(|e| e.message)?;
        match crate::expand::access::resolve_index(&shell.vars, name, i) {
            Some(i) => crate::vars::Key::Index(i),
            None => return Ok(false),
        }
    };
    Ok(crate::expand::access::element(&shell.vars, name, &key).is_some())
}

fn option_enabled(shell: &Shell, name: &str) -> bool {
    let o = &shell.options;
    match name {
        "errexit" => o.errexit,
        "nounset" => o.nounset,
        "noglob" => o.noglob,
        "xtrace" => o.xtrace,
        "noclobber" => o.noclobber,
        "allexport" => o.allexport,
        "pipefail" => o.pipefail,
        "verbose" => o.verbose,
        _ => false,
    }
}

/// An integer operand of `-eq` and friends; `[[ ]]` evaluates it
/// arithmetically, `test` wants a plain integer.
fn integer(shell: &mut Shell, s: &str, arithmetic: bool) -> Result<i64, String> {
    if arithmetic {
        return expand::eval_arith(shell, s).map_err(|e| e.message);
    }
    s.trim()
        .parse()
        .map_err(|_| format!("{s}: integer expression expected"))
}

fn binary(
    shell: &mut Shell,
    op: &B,
    left: &str,
    right: &str,
    extended: bool,
) -> Result<bool, String> {
    let modified = |p: &str| {
        std::fs::metadata(shell.cwd.join(p))
            .ok()
            .and_then(|m| m.modified().ok())
    };
    Ok(match op {
        B::FilesReferToSameDeviceAndInodeNumbers => {
            match (
                std::fs::metadata(shell.cwd.join(left)),
                std::fs::metadata(shell.cwd.join(right)),
            ) {
                (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
                _ => false,
            }
        }
        B::LeftFileIsNewerOrExistsWhenRightDoesNot => match (modified(left), modified(right)) {
            (Some(a), Some(b)) => a > b,
            (Some(_), None) => true,
            _ => false,
        },
        B::LeftFileIsOlderOrDoesNotExistWhenRightDoes => match (modified(left), modified(right)) {
            (Some(a), Some(b)) => a < b,
            (None, Some(_)) => true,
            _ => false,
        },
        B::StringExactlyMatchesPattern | B::StringExactlyMatchesString => left == right,
        B::StringDoesNotExactlyMatchPattern | B::StringDoesNotExactlyMatchString => left != right,
        B::StringMatchesRegex => return regex_match(shell, left, right),
        B::StringContainsSubstring => left.contains(right),
        B::LeftSortsBeforeRight => left < right,
        B::LeftSortsAfterRight => left > right,
        B::ArithmeticEqualTo => integer(shell, left, extended)? == integer(shell, right, extended)?,
        B::ArithmeticNotEqualTo => {
            integer(shell, left, extended)? != integer(shell, right, extended)?
        }
        B::ArithmeticLessThan => integer(shell, left, extended)? < integer(shell, right, extended)?,
        B::ArithmeticLessThanOrEqualTo => {
            integer(shell, left, extended)? <= integer(shell, right, extended)?
        }
        B::ArithmeticGreaterThan => {
            integer(shell, left, extended)? > integer(shell, right, extended)?
        }
        B::ArithmeticGreaterThanOrEqualTo => {
            integer(shell, left, extended)? >= integer(shell, right, extended)?
        }
    })
}
