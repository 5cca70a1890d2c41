//! The declaration builtins: `declare`/`typeset` and `local` (attributes
//! `-a -A -i -r -x`, `-g`, printing with `-p`, functions with `-f -F`),
//! `export` and `readonly`; and `let`.
//!
//! The interpreter hands them their arguments as [`DeclArg`]s, assignments
//! already expanded (`local -a a=(x y)` keeps its list); when they are
//! reached with plain strings (`command export x=1`), `NAME=VALUE` strings
//! are taken apart here. Attributes are set before the value is stored, so
//! `declare -i n=1+2` stores 3 and `declare -A m=([k]=v)` has a key `k`.

use crate::exec::assign::{Assign, AssignValue, split_subscript, valid_name};
use crate::expand;
use crate::shell::{Shell, Status};
use crate::vars::{Scope, Shape, Value, Var};

/// One argument of a declaration builtin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeclArg {
    /// An option or a name.
    Word(String),
    Assign(Assign),
}

/// Attributes named by options.
#[derive(Debug, Default, Clone, Copy)]
struct Attrs {
    indexed: bool,
    assoc: bool,
    integer: bool,
    readonly: bool,
    exported: bool,
    nameref: bool,
}

impl Attrs {
    fn any(&self) -> bool {
        self.indexed || self.assoc || self.integer || self.readonly || self.exported || self.nameref
    }

    /// Whether `var` has every attribute set here.
    fn all_in(&self, var: &Var) -> bool {
        (!self.indexed || var.shape() == Shape::Indexed)
            && (!self.assoc || var.shape() == Shape::Assoc)
            && (!self.integer || var.integer)
            && (!self.readonly || var.readonly)
            && (!self.exported || var.exported)
            && (!self.nameref || var.nameref)
    }
}

/// What the options asked for.
#[derive(Debug, Default)]
struct Options {
    on: Attrs,
    off: Attrs,
    print: bool,
    functions: bool,
    function_names: bool,
    global: bool,
}

/// The table entry of `declare`, `typeset`, `local`, `export`,
/// `readonly` when they get plain strings.
pub fn declare(shell: &mut Shell, args: Vec<String>) -> Status {
    run(shell, "declare", from_strings(args))
}

pub fn typeset(shell: &mut Shell, args: Vec<String>) -> Status {
    run(shell, "typeset", from_strings(args))
}

pub fn local(shell: &mut Shell, args: Vec<String>) -> Status {
    run(shell, "local", from_strings(args))
}

pub fn export(shell: &mut Shell, args: Vec<String>) -> Status {
    run(shell, "export", from_strings(args))
}

pub fn readonly(shell: &mut Shell, args: Vec<String>) -> Status {
    run(shell, "readonly", from_strings(args))
}

fn from_strings(args: Vec<String>) -> Vec<DeclArg> {
    args.into_iter()
        .map(|arg| match Assign::parse(&arg) {
            Some(assign) if !arg.starts_with(['-', '+']) => DeclArg::Assign(assign),
            _ => DeclArg::Word(arg),
        })
        .collect()
}

/// Runs declaration builtin `name` (`declare`, `typeset`, `local`,
/// `export`, `readonly`).
pub fn run(shell: &mut Shell, name: &str, args: Vec<DeclArg>) -> Status {
    if name == "local" && !shell.vars.in_function() {
        shell.error("local: can only be used in a function");
        return Ok(1);
    }
    let mut args = args.into_iter().peekable();
    let mut options = Options::default();
    match name {
        "export" => options.on.exported = true,
        "readonly" => options.on.readonly = true,
        _ => {}
    }
    while let Some(DeclArg::Word(word)) = args.peek() {
        if word == "--" {
            args.next();
            break;
        }
        let Some(on) = option_sign(word) else { break };
        let letters: Vec<char> = word[1..].chars().collect();
        args.next();
        for c in letters {
            if let Err(status) = set_option(shell, name, &mut options, on, c) {
                return status;
            }
        }
    }
    let args: Vec<DeclArg> = args.collect();
    if options.functions || options.function_names {
        return functions(shell, name, &options, &args);
    }
    if args.is_empty() {
        return list(shell, name, &options);
    }
    // bash: `local -p NAME` shows only locals; `export -p NAME` and
    // `readonly -p NAME` ignore `-p` and set the attribute.
    if options.print && name == "local" {
        let locals = shell.vars.local_names();
        let args = args
            .into_iter()
            .filter(|arg| match arg {
                DeclArg::Word(w) => locals.contains(w),
                DeclArg::Assign(a) => locals.contains(&a.name),
            })
            .collect::<Vec<_>>();
        return print_named(shell, name, &args);
    }
    if options.print && !matches!(name, "export" | "readonly") {
        return print_named(shell, name, &args);
    }
    let scope = match name {
        "export" | "readonly" => Scope::Visible,
        _ if options.global => Scope::Global,
        _ if shell.vars.in_function() => Scope::Local,
        _ => Scope::Visible,
    };
    // `-n`/`+n` work on the variable itself, never on what it names.
    let by_ref = options.on.nameref || options.off.nameref;
    let mut status = 0;
    for arg in args {
        let (var_name, assign) = match arg {
            DeclArg::Word(word) => match split_subscript(&word) {
                Some((n, _)) if valid_name(n) => (n.to_string(), None),
                _ => {
                    shell.error(format!("{name}: `{word}': not a valid identifier"));
                    status = 1;
                    continue;
                }
            },
            DeclArg::Assign(assign) => (assign.name.clone(), Some(assign)),
        };
        // A readonly variable can neither change nor be shadowed by a
        // local.
        let current = match by_ref {
            true => shell.vars.lookup_ref(&var_name),
            false => shell.vars.lookup(&var_name),
        };
        if current.is_some_and(|v| v.readonly) && (assign.is_some() || scope == Scope::Local) {
            shell.error(format!("{name}: {var_name}: readonly variable"));
            status = 1;
            continue;
        }
        if options.on.nameref
            && let Err(message) = check_nameref(shell, &var_name, assign.as_ref(), scope)
        {
            shell.error(format!("{name}: {message}"));
            status = 1;
            continue;
        }
        if let Err(message) = apply_attributes(shell, &var_name, scope, &options, by_ref) {
            shell.error(format!("{name}: {message}"));
            status = 1;
            continue;
        }
        match assign {
            Some(Assign {
                value: AssignValue::Scalar(target),
                index: None,
                ..
            }) if options.on.nameref => {
                shell.vars.entry_ref(&var_name, scope).value = Some(Value::Str(target));
            }
            Some(assign) => {
                if let Err(e) = shell.store(assign, scope) {
                    shell.error(format!("{name}: {}", e.message));
                    status = 1;
                    continue;
                }
            }
            None => {}
        }
        if options.on.readonly {
            match by_ref {
                true => shell.vars.entry_ref(&var_name, scope).readonly = true,
                false => shell.vars.entry(&var_name, scope).readonly = true,
            }
        }
    }
    Ok(status)
}

/// Whether `var_name` may become a nameref to the value assigned (or the
/// value it has): a variable name, perhaps with a subscript, other than
/// its own.
fn check_nameref(
    shell: &mut Shell,
    var_name: &str,
    assign: Option<&Assign>,
    scope: Scope,
) -> Result<(), String> {
    let target = match assign {
        Some(Assign {
            value: AssignValue::Scalar(v),
            index: None,
            ..
        }) => Some(v.clone()),
        Some(_) => return Err(format!("{var_name}: reference variable cannot be an array")),
        None => shell
            .vars
            .entry_ref(var_name, scope)
            .value
            .as_ref()
            .map(|v| v.scalar().unwrap_or_default().to_string()),
    };
    match target {
        Some(t) if t == var_name => Err(format!(
            "{var_name}: nameref variable self references not allowed"
        )),
        Some(t) if !crate::vars::is_ref_target(&t) => {
            Err(format!("`{t}': invalid variable name for name reference"))
        }
        _ => {
            shell.vars.enable_namerefs();
            Ok(())
        }
    }
}

/// `Some(true)` for `-x`, `Some(false)` for `+x`, `None` for a name.
fn option_sign(word: &str) -> Option<bool> {
    if word.len() < 2 {
        return None;
    }
    match word.as_bytes()[0] {
        b'-' => Some(true),
        b'+' => Some(false),
        _ => None,
    }
}

fn set_option(
    shell: &mut Shell,
    name: &str,
    options: &mut Options,
    on: bool,
    c: char,
) -> Result<(), Status> {
    let attrs = if on {
        &mut options.on
    } else {
        &mut options.off
    };
    let declare = matches!(name, "declare" | "typeset" | "local");
    match c {
        'p' => options.print = true,
        'f' if name != "local" => options.functions = true,
        'F' if declare && name != "local" => options.function_names = true,
        'a' if declare || name == "readonly" => attrs.indexed = true,
        'A' if declare || name == "readonly" => attrs.assoc = true,
        'i' if declare => attrs.integer = true,
        'r' if declare => attrs.readonly = true,
        'x' if declare => attrs.exported = true,
        'g' if declare && name != "local" => options.global = true,
        'n' if name == "export" => options.off.exported = true,
        'n' if declare => attrs.nameref = true,
        'l' | 'u' | 't' | 'c' | 'I' if declare => {
            return Err(shell.unsupported(&format!("{name} -{c}")));
        }
        _ => {
            shell.error(format!("{name}: -{c}: invalid option"));
            return Err(super::usage(shell, name));
        }
    }
    Ok(())
}

/// Sets the attributes the options name on `var_name` in `scope` (the
/// readonly one comes after the value).
fn apply_attributes(
    shell: &mut Shell,
    var_name: &str,
    scope: Scope,
    options: &Options,
    by_ref: bool,
) -> Result<(), String> {
    let (on, off) = (options.on, options.off);
    let var = match by_ref {
        true => shell.vars.entry_ref(var_name, scope),
        false => shell.vars.entry(var_name, scope),
    };
    if var.readonly
        && (on.integer || on.indexed || on.assoc || off.readonly || off.exported || off.integer)
    {
        return Err(format!("{var_name}: readonly variable"));
    }
    match (on.indexed, on.assoc, var.shape()) {
        (true, _, Shape::Assoc) => {
            return Err(format!(
                "{var_name}: cannot convert associative to indexed array"
            ));
        }
        (_, true, Shape::Indexed) => {
            return Err(format!(
                "{var_name}: cannot convert indexed to associative array"
            ));
        }
        (true, _, Shape::Scalar) => match var.value.take() {
            Some(Value::Str(s)) => var.value = Some(Value::Indexed([(0, s)].into())),
            _ => var.declared = Shape::Indexed,
        },
        (_, true, Shape::Scalar) => match var.value.take() {
            Some(Value::Str(s)) => var.value = Some(Value::Assoc([("0".to_string(), s)].into())),
            _ => var.declared = Shape::Assoc,
        },
        _ => {}
    }
    if on.integer {
        var.integer = true;
    }
    if off.integer {
        var.integer = false;
    }
    if on.exported {
        var.exported = true;
    }
    if off.exported {
        var.exported = false;
    }
    if on.nameref {
        var.nameref = true;
    }
    if off.nameref {
        var.nameref = false;
    }
    Ok(())
}

/// `declare -f`/`-F` with or without names.
fn functions(shell: &mut Shell, name: &str, options: &Options, args: &[DeclArg]) -> Status {
    if options.on.exported || options.on.readonly {
        return shell.unsupported(&format!("{name} -f with -x or -r"));
    }
    let mut names: Vec<String> = Vec::new();
    for arg in args {
        match arg {
            DeclArg::Word(w) => names.push(w.clone()),
            DeclArg::Assign(a) => names.push(a.traced()),
        }
    }
    let all = names.is_empty();
    if all {
        names = shell.functions.keys().cloned().collect();
        names.sort();
    }
    let mut out = String::new();
    let mut status = 0;
    for function in &names {
        let Some(body) = shell.functions.get(function) else {
            status = 1;
            continue;
        };
        if options.function_names {
            if all {
                out.push_str(&format!("declare -f {function}\n"));
            } else {
                out.push_str(&format!("{function}\n"));
            }
        } else {
            out.push_str(&format!("{function} () \n{}\n", body_text(body)));
        }
    }
    let _ = shell.out(&out);
    Ok(status)
}

/// A function body as text (brush-parser's rendering, not bash's).
fn body_text(body: &brush_parser::ast::FunctionBody) -> String {
    body.to_string()
}

/// `declare -p` without names, `export`, `readonly`, `declare -i`, ...:
/// every variable with the attributes asked for.
fn list(shell: &mut Shell, name: &str, options: &Options) -> Status {
    let plain = !options.print && !options.on.any() && name != "local";
    let mut out = String::new();
    let names = match name {
        // `local` alone lists the function's locals.
        "local" => {
            let mut names = shell.vars.local_names();
            names.sort();
            names
        }
        _ => shell.vars.declared_names(),
    };
    for var_name in names {
        let Some(var) = shell.vars.lookup_ref(&var_name) else {
            continue;
        };
        if plain {
            // `declare` alone: like `set`.
            if let Some(value) = var.value.as_ref().and_then(Value::scalar) {
                out.push_str(&format!("{var_name}={}\n", super::echo::set_quote(value)));
            }
            continue;
        }
        if options.on.all_in(var) {
            out.push_str(&declaration(&var_name, var));
        }
    }
    let _ = shell.out(&out);
    Ok(0)
}

/// `declare -p NAME...`.
fn print_named(shell: &mut Shell, name: &str, args: &[DeclArg]) -> Status {
    let mut out = String::new();
    let mut status = 0;
    for arg in args {
        let var_name = match arg {
            DeclArg::Word(w) => w.as_str(),
            DeclArg::Assign(a) => a.name.as_str(),
        };
        match shell.vars.lookup_ref(var_name) {
            Some(var) => out.push_str(&declaration(var_name, var)),
            None => {
                shell.error(format!("{name}: {var_name}: not found"));
                status = 1;
            }
        }
    }
    let _ = shell.out(&out);
    Ok(status)
}

/// One line of `declare -p`: `declare -ai n=([0]="1")`.
pub fn declaration(name: &str, var: &Var) -> String {
    let mut flags = String::new();
    for (on, c) in [
        (var.shape() == Shape::Indexed, 'a'),
        (var.shape() == Shape::Assoc, 'A'),
        (var.integer, 'i'),
        (var.nameref, 'n'),
        (var.readonly, 'r'),
        (var.exported, 'x'),
    ] {
        if on {
            flags.push(c);
        }
    }
    let flags = if flags.is_empty() {
        "--".to_string()
    } else {
        format!("-{flags}")
    };
    let value = match &var.value {
        None => return format!("declare {flags} {name}\n"),
        Some(Value::Str(s)) => quote(s),
        Some(Value::Indexed(map)) => {
            let items: Vec<String> = map
                .iter()
                .map(|(i, v)| format!("[{i}]={}", quote(v)))
                .collect();
            format!("({})", items.join(" "))
        }
        Some(Value::Assoc(map)) if map.is_empty() => "()".to_string(),
        Some(Value::Assoc(map)) => {
            let mut text = String::from("(");
            for (k, v) in map.iter() {
                let key = if k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    k.clone()
                } else {
                    quote(k)
                };
                text.push_str(&format!("[{key}]={} ", quote(v)));
            }
            text.push(')');
            text
        }
    };
    format!("declare {flags} {name}={value}\n")
}

/// A value as `declare -p` quotes it: in double quotes, or `$'..'` when it
/// holds control or non-ASCII characters (bash in the C locale).
fn quote(s: &str) -> String {
    if expand::needs_ansi_c(s) {
        return expand::ansi_c_quote(s);
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '"' | '\\' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `let EXPR...`: status 0 when the last expression is non-zero.
pub fn let_(shell: &mut Shell, args: Vec<String>) -> Status {
    if args.is_empty() {
        shell.error("let: expression expected");
        return Ok(1);
    }
    let mut last = 0;
    for arg in &args {
        match expand::eval_arith(shell, arg) {
            Ok(value) => last = value,
            Err(e) => {
                shell.error(format!("let: {}", e.message));
                return Ok(1);
            }
        }
    }
    Ok(i32::from(last == 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_print_as_bash_does() {
        let mut var = Var::new("say \"$x\"");
        var.exported = true;
        var.integer = true;
        assert_eq!(
            declaration("v", &var),
            "declare -ix v=\"say \\\"\\$x\\\"\"\n"
        );
        let array = Var {
            value: Some(Value::Indexed([(0, "a".into()), (3, "b\tc".into())].into())),
            ..Var::unset()
        };
        assert_eq!(
            declaration("a", &array),
            "declare -a a=([0]=\"a\" [3]=$'b\\tc')\n"
        );
        let assoc = Var {
            declared: Shape::Assoc,
            ..Var::unset()
        };
        assert_eq!(declaration("m", &assoc), "declare -A m\n");
    }
}
