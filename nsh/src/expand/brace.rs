//! Brace expansion (`a{b,c}d`, `{1..10..2}`, `{a..e}`), bash's first
//! expansion of command words, over the brace expressions brush-parser
//! finds. A numeric bound written with a leading zero pads the numbers
//! (`{01..10}`), as in bash.

use brush_parser::word::{BraceExpressionMember, BraceExpressionOrText};

/// Whether `word` may hold a brace expression (a cheap test before
/// parsing it).
pub fn has_braces(word: &str) -> bool {
    word.contains('{') && (word.contains(',') || word.contains(".."))
}

/// The words `word` brace-expands to: just `word` when it has no brace
/// expression.
pub fn expand(word: &str) -> Vec<String> {
    if !has_braces(word) {
        return vec![word.to_string()];
    }
    match brush_parser::word::parse_brace_expansions(word, &super::parser_options()) {
        Ok(Some(pieces))
            if pieces
                .iter()
                .any(|p| matches!(p, BraceExpressionOrText::Expr(_))) =>
        {
            sequence(&pieces)
        }
        _ => vec![word.to_string()],
    }
}

/// Every combination of the alternatives of `pieces`, in order.
fn sequence(pieces: &[BraceExpressionOrText]) -> Vec<String> {
    let mut words = vec![String::new()];
    for piece in pieces {
        let alternatives = match piece {
            BraceExpressionOrText::Text(text) => vec![text.clone()],
            BraceExpressionOrText::Expr(members) => members.iter().flat_map(member).collect(),
        };
        words = words
            .iter()
            .flat_map(|w| alternatives.iter().map(move |a| format!("{w}{a}")))
            .collect();
    }
    words
}

fn member(member: &BraceExpressionMember) -> Vec<String> {
    match member {
        BraceExpressionMember::Child(pieces) => sequence(pieces),
        BraceExpressionMember::NumberSequence {
            start,
            end,
            increment,
            width,
        } => steps(*start, *end, *increment)
            .map(|n| format!("{n:0width$}"))
            .collect(),
        BraceExpressionMember::CharSequence {
            start,
            end,
            increment,
        } => steps(
            i64::from(u32::from(*start)),
            i64::from(u32::from(*end)),
            *increment,
        )
        .filter_map(|n| char::from_u32(u32::try_from(n).ok()?))
        .map(String::from)
        .collect(),
    }
}

/// `start` to `end` inclusive by `|increment|`, counting down when
/// `end < start`, as bash does.
fn steps(start: i64, end: i64, increment: i64) -> impl Iterator<Item = i64> {
    let step = increment.unsigned_abs().max(1);
    let count = start.abs_diff(end) / step + 1;
    let down = end < start;
    (0..count).map(move |k| {
        let offset = (k * step) as i64;
        if down {
            start.wrapping_sub(offset)
        } else {
            start.wrapping_add(offset)
        }
    })
}
