//! A pattern tree as a regular expression for the `regex` crate: `?` is
//! any character, `*` any string, a bracket expression a class, and the
//! groups but `!(..)` (which needs a complement the crate cannot express)
//! alternations with their repetition. The expression matches exactly the
//! strings the pattern does; callers add the anchors and the `s` flag.

use std::fmt::Write;

use super::parse::{Bracket, Item, Node, Op};

/// A class that matches no character.
const NOTHING: &str = r"[^\x00-\x{10FFFF}]";

/// The expression of `nodes`; `None` when a `!(..)` group occurs.
pub fn regex(nodes: &[Node]) -> Option<String> {
    let mut out = String::new();
    push_seq(&mut out, nodes)?;
    Some(out)
}

fn push_seq(out: &mut String, nodes: &[Node]) -> Option<()> {
    for node in nodes {
        match node {
            Node::Char(c) => push_char(out, *c),
            Node::Any => out.push('.'),
            Node::Star => out.push_str(".*"),
            Node::Set(bracket) => push_bracket(out, bracket),
            Node::Group(group) => {
                let repeat = match group.op {
                    Op::Not => return None,
                    Op::One => "",
                    Op::Optional => "?",
                    Op::Any => "*",
                    Op::Some => "+",
                };
                out.push_str("(?:");
                for (i, alt) in group.alts.iter().enumerate() {
                    if i > 0 {
                        out.push('|');
                    }
                    push_seq(out, alt)?;
                }
                out.push(')');
                out.push_str(repeat);
            }
        }
    }
    Some(())
}

fn push_char(out: &mut String, c: char) {
    if c.is_alphanumeric() || c == ' ' || c == '_' {
        out.push(c);
    } else {
        let _ = write!(out, r"\x{{{:X}}}", c as u32);
    }
}

fn push_bracket(out: &mut String, bracket: &Bracket) {
    if bracket.items.is_empty() {
        // Nothing is a member: the expression matches no character, or
        // (negated) any one.
        out.push_str(if bracket.negate { "(?s:.)" } else { NOTHING });
        return;
    }
    out.push('[');
    if bracket.negate {
        out.push('^');
    }
    for item in &bracket.items {
        match *item {
            Item::Char(c) => push_char(out, c),
            Item::Range(lo, hi) => {
                push_char(out, lo);
                out.push('-');
                push_char(out, hi);
            }
            Item::Class(class) => {
                let _ = write!(out, "[:{}:]", class.name());
            }
        }
    }
    out.push(']');
}
