//! Parameter expansion: `$x`, `${x}` and every `${x<op>..}` form brush-parser
//! recognises, over scalars, positional parameters, special parameters and
//! bash arrays.
//!
//! A parameter is first looked up into a [`Val`]: unset, one string, or a
//! list (`$@`, `$*`, `${a[@]}`, `${a[*]}`). Operations apply to each
//! element of a list; the result goes into the [`Builder`] quoted (inside
//! double quotes) or as an unquoted expansion to be split.

use brush_parser::word::{
    Parameter, ParameterExpr, ParameterTestType, ParameterTransformOp, SpecialParameter,
};

use super::access::{self, Key};
use super::fields::Builder;
use super::{ExpandContext, ExpandError, pattern, quote};

mod patsub;
use patsub::replace;

/// A looked-up parameter.
#[derive(Debug, Clone)]
pub enum Val {
    Unset,
    Str(String),
    /// Several values: `concat` for `$*` and `${a[*]}`, which join inside
    /// double quotes, against `$@` and `${a[@]}`, which make fields.
    List {
        items: Vec<String>,
        concat: bool,
    },
}

impl Val {
    fn map(
        self,
        mut f: impl FnMut(String) -> Result<String, ExpandError>,
    ) -> Result<Val, ExpandError> {
        Ok(match self {
            Val::Unset => Val::Unset,
            Val::Str(s) => Val::Str(f(s)?),
            Val::List { items, concat } => Val::List {
                items: items.into_iter().map(f).collect::<Result<_, _>>()?,
                concat,
            },
        })
    }
}

/// Expands `expr` into `b`; `dq` when inside double quotes.
pub fn expand(
    ctx: &mut dyn ExpandContext,
    expr: &ParameterExpr,
    b: &mut Builder,
    dq: bool,
) -> Result<(), ExpandError> {
    match expr {
        ParameterExpr::Parameter {
            parameter,
            indirect,
        } => {
            let (param, val) = resolve(ctx, parameter, *indirect)?;
            check_set(ctx, &param, &val)?;
            append(ctx, b, val, dq);
        }
        ParameterExpr::UseDefaultValues {
            parameter,
            indirect,
            test_type,
            default_value,
        } => {
            let (_, val) = resolve(ctx, parameter, *indirect)?;
            if is_null(ctx, &val, test_type, dq) {
                word_into(ctx, default_value.as_deref(), b, dq)?;
            } else {
                append(ctx, b, val, dq);
            }
        }
        ParameterExpr::AssignDefaultValues {
            parameter,
            indirect,
            test_type,
            default_value,
        } => {
            let (param, val) = resolve(ctx, parameter, *indirect)?;
            if is_null(ctx, &val, test_type, dq) {
                let value = word_string(ctx, default_value.as_deref(), dq)?;
                let value = assign(ctx, &param, value)?;
                append(ctx, b, Val::Str(value), dq);
            } else {
                append(ctx, b, val, dq);
            }
        }
        ParameterExpr::IndicateErrorIfNullOrUnset {
            parameter,
            indirect,
            test_type,
            error_message,
        } => {
            let (param, val) = resolve(ctx, parameter, *indirect)?;
            if is_null(ctx, &val, test_type, dq) {
                let message = match error_message.as_deref().filter(|w| !w.is_empty()) {
                    Some(word) => word_string(ctx, Some(word), dq)?,
                    None if matches!(test_type, ParameterTestType::UnsetOrNull) => {
                        "parameter null or not set".to_string()
                    }
                    None => "parameter not set".to_string(),
                };
                return Err(ExpandError::fatal(format!(
                    "{}: {message}",
                    bare_name(&param)
                )));
            }
            append(ctx, b, val, dq);
        }
        ParameterExpr::UseAlternativeValue {
            parameter,
            indirect,
            test_type,
            alternative_value,
        } => {
            let (_, val) = resolve(ctx, parameter, *indirect)?;
            if !is_null(ctx, &val, test_type, dq) {
                word_into(ctx, alternative_value.as_deref(), b, dq)?;
            } else if let Val::List { concat: false, .. } = val {
                // `"${@:+x}"` without positional parameters vanishes like
                // `"$@"`.
                append(
                    ctx,
                    b,
                    Val::List {
                        items: Vec::new(),
                        concat: false,
                    },
                    dq,
                );
            }
        }
        ParameterExpr::ParameterLength {
            parameter,
            indirect,
        } => {
            let (param, val) = resolve(ctx, parameter, *indirect)?;
            check_set(ctx, &param, &val)?;
            let length = match val {
                Val::Unset => 0,
                Val::Str(s) => s.chars().count(),
                Val::List { items, .. } => items.len(),
            };
            append(ctx, b, Val::Str(length.to_string()), dq);
        }
        ParameterExpr::RemoveSmallestSuffixPattern {
            parameter,
            indirect,
            pattern,
        }
        | ParameterExpr::RemoveLargestSuffixPattern {
            parameter,
            indirect,
            pattern,
        }
        | ParameterExpr::RemoveSmallestPrefixPattern {
            parameter,
            indirect,
            pattern,
        }
        | ParameterExpr::RemoveLargestPrefixPattern {
            parameter,
            indirect,
            pattern,
        } => {
            let (param, val) = resolve(ctx, parameter, *indirect)?;
            check_set(ctx, &param, &val)?;
            let pat = pattern_string(ctx, pattern.as_deref())?;
            let compiled = pattern::compile(&pat, ctx.extglob());
            let (suffix, longest) = match expr {
                ParameterExpr::RemoveSmallestSuffixPattern { .. } => (true, false),
                ParameterExpr::RemoveLargestSuffixPattern { .. } => (true, true),
                ParameterExpr::RemoveSmallestPrefixPattern { .. } => (false, false),
                _ => (false, true),
            };
            let val = val.map(|s| {
                Ok(if suffix {
                    match compiled.suffix_start(&s, longest) {
                        Some(start) => s[..start].to_string(),
                        None => s,
                    }
                } else {
                    match compiled.prefix_len(&s, longest) {
                        Some(len) => s[len..].to_string(),
                        None => s,
                    }
                })
            })?;
            append(ctx, b, val, dq);
        }
        ParameterExpr::Substring {
            parameter,
            indirect,
            offset,
            length,
        } => {
            let (param, val) = resolve(ctx, parameter, *indirect)?;
            check_set(ctx, &param, &val)?;
            let start = super::eval_arith(ctx, &offset.value)?;
            let count = match length {
                Some(l) => Some((super::eval_arith(ctx, &l.value)?, l.value.as_str())),
                None => None,
            };
            let val = substring(ctx, &param, val, start, count)?;
            append(ctx, b, val, dq);
        }
        ParameterExpr::Transform {
            parameter,
            indirect,
            op,
        } => {
            let (param, val) = resolve(ctx, parameter, *indirect)?;
            check_set(ctx, &param, &val)?;
            let val = transform(ctx, &param, val, op)?;
            append(ctx, b, val, dq);
        }
        ParameterExpr::UppercaseFirstChar {
            parameter,
            indirect,
            pattern,
        }
        | ParameterExpr::UppercasePattern {
            parameter,
            indirect,
            pattern,
        }
        | ParameterExpr::LowercaseFirstChar {
            parameter,
            indirect,
            pattern,
        }
        | ParameterExpr::LowercasePattern {
            parameter,
            indirect,
            pattern,
        } => {
            let (param, val) = resolve(ctx, parameter, *indirect)?;
            check_set(ctx, &param, &val)?;
            let compiled = match pattern.as_deref().filter(|p| !p.is_empty()) {
                Some(p) => {
                    let pat = pattern_string(ctx, Some(p))?;
                    Some(pattern::compile(&pat, ctx.extglob()))
                }
                None => None,
            };
            let (upper, all) = match expr {
                ParameterExpr::UppercaseFirstChar { .. } => (true, false),
                ParameterExpr::UppercasePattern { .. } => (true, true),
                ParameterExpr::LowercaseFirstChar { .. } => (false, false),
                _ => (false, true),
            };
            let val = val.map(|s| {
                let mut out = String::with_capacity(s.len());
                for (i, c) in s.chars().enumerate() {
                    let selected = (all || i == 0)
                        && compiled
                            .as_ref()
                            .is_none_or(|p| p.matches(c.encode_utf8(&mut [0; 4])));
                    match (selected, upper) {
                        (true, true) => out.extend(c.to_uppercase()),
                        (true, false) => out.extend(c.to_lowercase()),
                        (false, _) => out.push(c),
                    }
                }
                Ok(out)
            })?;
            append(ctx, b, val, dq);
        }
        ParameterExpr::ReplaceSubstring {
            parameter,
            indirect,
            pattern,
            replacement,
            match_kind,
        } => {
            let (param, val) = resolve(ctx, parameter, *indirect)?;
            check_set(ctx, &param, &val)?;
            let pat = pattern_string(ctx, Some(pattern))?;
            let rep = pattern_string(ctx, replacement.as_deref())?;
            let compiled = pattern::compile(&pat, ctx.extglob());
            let val = val.map(|s| Ok(replace(&compiled, &s, &rep, match_kind, pat.is_empty())))?;
            append(ctx, b, val, dq);
        }
        ParameterExpr::VariableNames {
            prefix,
            concatenate,
        } => {
            let items = ctx
                .vars()
                .names()
                .into_iter()
                .filter(|n| n.starts_with(prefix.as_str()))
                .collect();
            append(
                ctx,
                b,
                Val::List {
                    items,
                    concat: *concatenate,
                },
                dq,
            );
        }
        ParameterExpr::MemberKeys {
            variable_name,
            concatenate,
        } => {
            let items = access::keys(ctx.vars(), variable_name);
            append(
                ctx,
                b,
                Val::List {
                    items,
                    concat: *concatenate,
                },
                dq,
            );
        }
    }
    Ok(())
}

/// The parameter after indirection (`${!x}`) and its value.
fn resolve(
    ctx: &mut dyn ExpandContext,
    parameter: &Parameter,
    indirect: bool,
) -> Result<(Parameter, Val), ExpandError> {
    if indirect
        && let Parameter::Named(name) = parameter
        && let Some(crate::vars::Var {
            nameref: true,
            value: Some(crate::vars::Value::Str(target)),
            ..
        }) = ctx.vars().lookup_ref(name)
    {
        // bash turns `${!ref}` around for a nameref: the name it holds.
        return Ok((parameter.clone(), Val::Str(target.clone())));
    }
    let val = lookup(ctx, parameter)?;
    if !indirect {
        return Ok((parameter.clone(), val));
    }
    let target = match val {
        Val::Unset => {
            return Err(ExpandError::new(format!(
                "{}: invalid indirect expansion",
                bare_name(parameter)
            )));
        }
        Val::Str(s) => s,
        Val::List { items, .. } => items.join(" "),
    };
    let param = brush_parser::word::parse_parameter(&target, &super::parser_options())
        .map_err(|_| ExpandError::new(format!("{target}: invalid variable name")))?;
    let val = lookup(ctx, &param)?;
    Ok((param, val))
}

/// The subscript of `name[index]`: an arithmetic index, or for an
/// associative array the expanded key.
fn subscript(ctx: &mut dyn ExpandContext, name: &str, index: &str) -> Result<Key, ExpandError> {
    if access::is_assoc(ctx.vars(), name) {
        return Ok(Key::Name(super::expand_word(ctx, index)?));
    }
    let i = super::eval_arith(ctx, index)?;
    match access::resolve_index(ctx.vars(), name, i) {
        Some(i) => Ok(Key::Index(i)),
        None => Err(ExpandError::new(format!("{name}: bad array subscript"))),
    }
}

fn lookup(ctx: &mut dyn ExpandContext, parameter: &Parameter) -> Result<Val, ExpandError> {
    let some = |v: Option<&str>| v.map_or(Val::Unset, |s| Val::Str(s.to_string()));
    Ok(match parameter {
        Parameter::Positional(n) => {
            let i = (*n as usize).wrapping_sub(1);
            some(ctx.positional().get(i).map(String::as_str))
        }
        Parameter::Special(SpecialParameter::AllPositionalParameters { concatenate }) => {
            Val::List {
                items: ctx.positional().to_vec(),
                concat: *concatenate,
            }
        }
        Parameter::Special(SpecialParameter::PositionalParameterCount) => {
            Val::Str(ctx.positional().len().to_string())
        }
        Parameter::Special(special) => ctx.special(special).map_or(Val::Unset, Val::Str),
        Parameter::Named(name) if let Some(value) = ctx.dynamic(name) => Val::Str(value),
        Parameter::Named(name) => match ctx.vars().resolve(name) {
            // A nameref to an element or a whole array (`a[2]`, `a[@]`).
            Ok(target) if target.contains('[') => {
                let target = target.into_owned();
                match brush_parser::word::parse_parameter(&target, &super::parser_options()) {
                    Ok(param) if !matches!(param, Parameter::Named(_)) => {
                        return lookup(ctx, &param);
                    }
                    _ => Val::Unset,
                }
            }
            _ => some(ctx.vars().get(name)),
        },
        Parameter::NamedWithIndex { index, .. } if index.trim().is_empty() => {
            return Err(ExpandError::new(format!(
                "{}: bad substitution",
                unbound_name(parameter)
            )));
        }
        Parameter::NamedWithIndex { name, index } => {
            // An index before the start reads as unset, silently (bash).
            if !access::is_assoc(ctx.vars(), name) {
                let i = super::eval_arith(ctx, index)?;
                return Ok(match access::resolve_index(ctx.vars(), name, i) {
                    Some(i) => some(access::element(ctx.vars(), name, &Key::Index(i))),
                    None => Val::Unset,
                });
            }
            let key = subscript(ctx, name, index)?;
            some(access::element(ctx.vars(), name, &key))
        }
        Parameter::NamedWithAllIndices { name, concatenate } => Val::List {
            items: access::values(ctx.vars(), name),
            concat: *concatenate,
        },
    })
}

/// The name in `set -u` messages: `x`, `$1`, `$!`, `a[2]`.
fn unbound_name(parameter: &Parameter) -> String {
    match parameter {
        Parameter::Positional(n) => format!("${n}"),
        Parameter::Special(s) => format!("${s}"),
        other => bare_name(other),
    }
}

/// The name in `${x?}` messages: `x`, `1`, `a[2]`.
fn bare_name(parameter: &Parameter) -> String {
    match parameter {
        Parameter::Positional(n) => n.to_string(),
        Parameter::Special(s) => s.to_string(),
        Parameter::Named(name) => name.clone(),
        Parameter::NamedWithIndex { name, index } => format!("{name}[{index}]"),
        Parameter::NamedWithAllIndices { name, concatenate } => {
            format!("{name}[{}]", if *concatenate { '*' } else { '@' })
        }
    }
}

/// `set -u`: an unset parameter is an error (`$@`, `$*` and whole arrays
/// are exempt, as in bash).
fn check_set(ctx: &dyn ExpandContext, parameter: &Parameter, val: &Val) -> Result<(), ExpandError> {
    if matches!(val, Val::Unset) && ctx.nounset() {
        return Err(ExpandError::fatal(format!(
            "{}: unbound variable",
            unbound_name(parameter)
        )));
    }
    Ok(())
}

/// Whether the `-`, `=`, `?`, `+` forms see the parameter as missing: unset
/// (no elements for a list), or with `:` also empty.
fn is_null(ctx: &dyn ExpandContext, val: &Val, test: &ParameterTestType, dq: bool) -> bool {
    let colon = matches!(test, ParameterTestType::UnsetOrNull);
    match val {
        Val::Unset => true,
        Val::Str(s) => colon && s.is_empty(),
        // `"$*"`, `"${a[*]}"`: null when they join (with IFS) to nothing.
        Val::List {
            items,
            concat: true,
        } if colon && dq => items.is_empty() || items.join(&ifs_joiner(ctx)).is_empty(),
        Val::List { items, .. } => {
            items.is_empty() || (colon && items.len() == 1 && items[0].is_empty())
        }
    }
}

/// The first character of IFS, which joins `"$*"` (a space when IFS is
/// unset, nothing when it is empty).
fn ifs_joiner(ctx: &dyn ExpandContext) -> String {
    match ctx.vars().get("IFS") {
        None => " ".to_string(),
        Some(ifs) => ifs.chars().next().map(String::from).unwrap_or_default(),
    }
}

/// Puts a value into the fields.
pub fn append(ctx: &dyn ExpandContext, b: &mut Builder, val: Val, dq: bool) {
    match val {
        Val::Unset => {}
        Val::Str(s) if dq => b.quoted(&s),
        Val::Str(s) => b.expansion(&s),
        Val::List {
            items,
            concat: true,
        } if dq => b.quoted(&items.join(&ifs_joiner(ctx))),
        Val::List { items, concat } if !b.splits() => {
            let joiner = if concat && !dq {
                ifs_joiner(ctx)
            } else {
                " ".to_string()
            };
            let joined = items.join(&joiner);
            if dq {
                b.quoted(&joined)
            } else {
                b.expansion(&joined)
            }
        }
        Val::List { items, .. } => {
            if dq && items.is_empty() {
                b.vanish = true;
            }
            for (i, item) in items.iter().enumerate() {
                if dq {
                    if i > 0 {
                        b.field_break();
                    }
                    b.quoted(item);
                    b.mark_started();
                } else {
                    if i > 0 {
                        b.element_break();
                    }
                    b.expansion(item);
                }
            }
        }
    }
}

/// Expands the word of `${x:-word}` or `${x:+word}` into `b`, its quoting
/// kept.
fn word_into(
    ctx: &mut dyn ExpandContext,
    word: Option<&str>,
    b: &mut Builder,
    dq: bool,
) -> Result<(), ExpandError> {
    let Some(word) = word else { return Ok(()) };
    let pieces = super::parse_word(word)?;
    super::expand_pieces_as(ctx, &pieces, b, dq, true)
}

/// The word of `${x:=word}` or `${x?word}` as a string.
fn word_string(
    ctx: &mut dyn ExpandContext,
    word: Option<&str>,
    dq: bool,
) -> Result<String, ExpandError> {
    let mut b = Builder::single(ctx.extglob());
    word_into(ctx, word, &mut b, dq)?;
    Ok(b.finish_single().text)
}

/// A pattern or replacement word as a pattern: quoted characters escaped.
/// Inside double quotes too, the pattern's own quoting decides (bash).
fn pattern_string(ctx: &mut dyn ExpandContext, word: Option<&str>) -> Result<String, ExpandError> {
    let mut b = Builder::single(ctx.extglob());
    word_into(ctx, word, &mut b, false)?;
    Ok(b.finish_single().pattern)
}

/// `${x:=value}`: assigns and returns the value assigned.
fn assign(
    ctx: &mut dyn ExpandContext,
    parameter: &Parameter,
    value: String,
) -> Result<String, ExpandError> {
    let (name, key) = match parameter {
        Parameter::Named(name) => (name, None),
        Parameter::NamedWithIndex { name, index } => (name, Some(subscript(ctx, name, index)?)),
        other => {
            return Err(ExpandError::new(format!(
                "{}: cannot assign in this way",
                unbound_name(other)
            )));
        }
    };
    let value = if access::is_integer(ctx.vars(), name) {
        super::eval_arith(ctx, &value)?.to_string()
    } else {
        value
    };
    let vars = ctx.vars_mut();
    match key {
        None => access::set_scalar(vars, name, value.clone())?,
        Some(key) => access::set_element(vars, name, key, value.clone())?,
    }
    Ok(value)
}

/// `${x:offset:length}`: characters of a string, positional parameters
/// from `$0` on, or array elements from index `offset` on.
fn substring(
    ctx: &dyn ExpandContext,
    parameter: &Parameter,
    val: Val,
    offset: i64,
    length: Option<(i64, &str)>,
) -> Result<Val, ExpandError> {
    let negative = |text: &str| ExpandError::new(format!("{text}: substring expression < 0"));
    match (parameter, val) {
        (_, Val::Unset) => Ok(Val::Unset),
        (
            Parameter::Special(SpecialParameter::AllPositionalParameters { .. }),
            Val::List { items, concat },
        ) => {
            let mut all = Vec::with_capacity(items.len() + 1);
            all.push(
                ctx.special(&SpecialParameter::ShellName)
                    .unwrap_or_default(),
            );
            all.extend(items);
            let (start, end) = window(all.len(), offset, length)
                .ok_or_else(|| negative(length.map_or("", |l| l.1)))?;
            Ok(Val::List {
                items: all[start..end].to_vec(),
                concat,
            })
        }
        (Parameter::NamedWithAllIndices { name, .. }, Val::List { items, concat }) => {
            let keys = access::keys(ctx.vars(), name);
            let indexes: Vec<i64> = keys.iter().filter_map(|k| k.parse().ok()).collect();
            let end_index = indexes.last().map_or(0, |&k| k + 1);
            let from = if offset < 0 {
                end_index + offset
            } else {
                offset
            };
            if from < 0 {
                return Ok(Val::List {
                    items: Vec::new(),
                    concat,
                });
            }
            let mut picked: Vec<String> = items
                .into_iter()
                .zip(indexes)
                .filter(|&(_, i)| i >= from)
                .map(|(v, _)| v)
                .collect();
            if let Some((len, text)) = length {
                if len < 0 {
                    return Err(negative(text));
                }
                picked.truncate(usize::try_from(len).unwrap_or(usize::MAX));
            }
            Ok(Val::List {
                items: picked,
                concat,
            })
        }
        (_, val) => val.map(|s| {
            let chars: Vec<char> = s.chars().collect();
            let (start, end) = window(chars.len(), offset, length)
                .ok_or_else(|| negative(length.map_or("", |l| l.1)))?;
            Ok(chars[start..end].iter().collect())
        }),
    }
}

/// The `start..end` that `offset` and `length` select among `len` items;
/// `None` when a negative length ends before the start.
fn window(len: usize, offset: i64, length: Option<(i64, &str)>) -> Option<(usize, usize)> {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let start = if offset < 0 { len + offset } else { offset };
    if start < 0 || start > len {
        return Some((0, 0));
    }
    let end = match length {
        None => len,
        Some((l, _)) if l < 0 => {
            let end = len + l;
            if end < start {
                return None;
            }
            end
        }
        Some((l, _)) => start.saturating_add(l).min(len),
    };
    // Both are within 0..=len here.
    Some((start as usize, end as usize))
}

/// `${x@op}`.
fn transform(
    ctx: &mut dyn ExpandContext,
    parameter: &Parameter,
    val: Val,
    op: &ParameterTransformOp,
) -> Result<Val, ExpandError> {
    match op {
        ParameterTransformOp::ToUpperCase => val.map(|s| Ok(s.to_uppercase())),
        ParameterTransformOp::ToLowerCase => val.map(|s| Ok(s.to_lowercase())),
        ParameterTransformOp::CapitalizeInitial => val.map(|s| {
            let mut chars = s.chars();
            Ok(match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect(),
                None => s,
            })
        }),
        ParameterTransformOp::Quoted => val.map(|s| Ok(quote::shell_quote(&s))),
        ParameterTransformOp::ExpandEscapeSequences => val.map(|s| Ok(quote::ansi_c(&s))),
        ParameterTransformOp::ToAttributeFlags => {
            let name = match parameter {
                Parameter::Named(name)
                | Parameter::NamedWithIndex { name, .. }
                | Parameter::NamedWithAllIndices { name, .. } => name,
                _ => return Ok(Val::Str(String::new())),
            };
            let flags = match ctx.vars().lookup(name) {
                Some(var) => {
                    let mut flags = String::new();
                    match var.value {
                        Some(crate::vars::Value::Indexed(_)) => flags.push('a'),
                        Some(crate::vars::Value::Assoc(_)) => flags.push('A'),
                        _ => {}
                    }
                    for (set, flag) in
                        [(var.integer, 'i'), (var.readonly, 'r'), (var.exported, 'x')]
                    {
                        if set {
                            flags.push(flag);
                        }
                    }
                    flags
                }
                None => String::new(),
            };
            val.map(|_| Ok(flags.clone()))
        }
        other => Err(ExpandError::new(format!(
            "${{{}@{}}}: not supported",
            bare_name(parameter),
            transform_letter(other)
        ))),
    }
}

fn transform_letter(op: &ParameterTransformOp) -> char {
    match op {
        ParameterTransformOp::CapitalizeInitial => 'u',
        ParameterTransformOp::ExpandEscapeSequences => 'E',
        ParameterTransformOp::PossiblyQuoteWithArraysExpanded {
            separate_words: true,
        } => 'k',
        ParameterTransformOp::PossiblyQuoteWithArraysExpanded {
            separate_words: false,
        } => 'K',
        ParameterTransformOp::PromptExpand => 'P',
        ParameterTransformOp::Quoted => 'Q',
        ParameterTransformOp::ToAssignmentLogic => 'A',
        ParameterTransformOp::ToAttributeFlags => 'a',
        ParameterTransformOp::ToLowerCase => 'L',
        ParameterTransformOp::ToUpperCase => 'U',
    }
}
