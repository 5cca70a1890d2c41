//! Alias expansion, as bash does it when `expand_aliases` is on: a word in
//! command position that is an unquoted alias name is replaced by the
//! alias's text before the command is parsed. The replacement is text, so
//! an alias may hold operators, keywords, newlines or half a construct
//! (`alias e_='for i in 1 2; do echo $i;'`), as in bash.
//!
//! The rules, from bash's manual ("Aliases"):
//! - the first word of a simple command is checked, also after
//!   assignments and redirections, and after keywords that start a
//!   command list (`{`, `do`, `then`, `if`, `!`, ...);
//! - the text of an alias is checked again, except for the alias being
//!   expanded (so `alias ls='ls -F'` ends);
//! - when an alias's text ends in a blank, the word after it is checked
//!   too.
//!
//! It works on brush-parser's tokens: each expansion splices the text in
//! and tokenizes again, remembering which stretch of text came from which
//! alias ([`Region`]).

use std::collections::HashMap;

use brush_parser::{Token, TokenizerOptions};

/// At most this many expansions in one text (a guard; the rules above
/// already end every expansion).
const MAX_EXPANSIONS: usize = 10_000;

/// Text that came from an alias: characters `start..end` of the current
/// text.
#[derive(Clone, Debug)]
struct Region {
    name: String,
    start: usize,
    end: usize,
    /// The alias text ends in a blank: the next word is checked too.
    blank_after: bool,
}

/// `text` with its aliases expanded; the text as it is when nothing is
/// expanded or it cannot be tokenized (the parser then reports the error).
pub fn expand(text: &str, aliases: &HashMap<String, String>, options: &TokenizerOptions) -> String {
    if aliases.is_empty() {
        return text.to_string();
    }
    let mut chars: Vec<char> = text.chars().collect();
    let mut regions: Vec<Region> = Vec::new();
    for _ in 0..MAX_EXPANSIONS {
        let current: String = chars.iter().collect();
        let Ok(tokens) = brush_parser::tokenize_str_with_options(&current, options) else {
            return current;
        };
        let Some((start, end, name)) = next_expansion(&tokens, aliases, &regions) else {
            return current;
        };
        let value = &aliases[&name];
        let replacement: Vec<char> = value.chars().collect();
        let grown = replacement.len() as isize - (end - start) as isize;
        for region in &mut regions {
            if region.start >= end {
                region.start = (region.start as isize + grown) as usize;
            }
            if region.end >= end {
                region.end = (region.end as isize + grown) as usize;
            }
        }
        regions.push(Region {
            name,
            start,
            end: start + replacement.len(),
            blank_after: value.ends_with([' ', '\t']),
        });
        chars.splice(start..end, replacement);
    }
    chars.iter().collect()
}

/// Where tokens stand in the grammar, as far as aliases care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// The next word starts a command.
    Command,
    /// The next word is an argument (or a `for` list, a function's name).
    Argument,
    /// The next word is the target of a redirection; after it, back to
    /// `then`.
    Target { then: bool },
    /// `case WORD`: the subject.
    CaseSubject,
    /// `case WORD` before `in`.
    CaseIn,
    /// Patterns of a `case` item, up to its `)`.
    Pattern,
}

/// The first word of `tokens` to replace: its span (in characters) and
/// the alias name.
fn next_expansion(
    tokens: &[Token],
    aliases: &HashMap<String, String>,
    regions: &[Region],
) -> Option<(usize, usize, String)> {
    let mut place = Place::Command;
    // Open `case`s: inside one, `;;` goes back to patterns.
    let mut cases = 0usize;
    let mut previous_end: Option<usize> = None;
    for token in tokens {
        let span = token.location();
        let (start, end) = (span.start.index, span.end.index);
        let after_blank_alias = regions
            .iter()
            .any(|r| r.blank_after && r.end <= start && previous_end.is_none_or(|p| p <= r.end));
        let first_of_region = regions.iter().any(|r| {
            r.start <= start && start < r.end && previous_end.is_none_or(|p| p <= r.start)
        });
        previous_end = Some(end);
        match token {
            Token::Operator(op, _) => {
                place = match (op.as_str(), place) {
                    (
                        "<" | ">" | ">>" | "<<" | "<<-" | "<<<" | "<&" | ">&" | "<>" | ">|" | "&>"
                        | "&>>",
                        p,
                    ) => Place::Target {
                        then: p == Place::Command,
                    },
                    (";;" | ";&" | ";;&", _) if cases > 0 => Place::Pattern,
                    ("(" | "|", Place::Pattern) => Place::Pattern,
                    (")", Place::Pattern) => Place::Command,
                    ("\n", Place::CaseIn) => Place::CaseIn,
                    ("\n", Place::Pattern) => Place::Pattern,
                    _ => Place::Command,
                };
            }
            Token::Word(word, _) => {
                let checked =
                    matches!(place, Place::Command) || after_blank_alias || first_of_region;
                if checked
                    && let Some(name) = alias_name(word, aliases)
                    && !regions
                        .iter()
                        .any(|r| r.name == name && r.start <= start && start < r.end)
                {
                    return Some((start, end, name.to_string()));
                }
                place = match place {
                    Place::Target { then: true } => Place::Command,
                    Place::Target { then: false } => Place::Argument,
                    Place::CaseSubject => Place::CaseIn,
                    Place::CaseIn if word == "in" => Place::Pattern,
                    Place::Pattern if word == "esac" => {
                        cases = cases.saturating_sub(1);
                        Place::Argument
                    }
                    Place::Pattern | Place::CaseIn => place,
                    Place::Command => match word.as_str() {
                        "{" | "do" | "then" | "else" | "elif" | "if" | "while" | "until" | "!"
                        | "time" => Place::Command,
                        "case" => {
                            cases += 1;
                            Place::CaseSubject
                        }
                        "esac" => {
                            cases = cases.saturating_sub(1);
                            Place::Argument
                        }
                        w if is_assignment(w) => Place::Command,
                        _ => Place::Argument,
                    },
                    Place::Argument => Place::Argument,
                };
            }
        }
    }
    None
}

/// `word` as an alias name defined in `aliases`: unquoted, with no
/// expansion in it.
fn alias_name<'a>(word: &'a str, aliases: &HashMap<String, String>) -> Option<&'a str> {
    if word.is_empty() || word.contains(['\'', '"', '\\', '$', '`', '=', '/']) {
        return None;
    }
    aliases.contains_key(word).then_some(word)
}

/// `NAME=...` or `NAME[...]=...`: an assignment before a command.
fn is_assignment(word: &str) -> bool {
    let Some(eq) = word.find('=') else {
        return false;
    };
    let name = word[..eq].trim_end_matches('+');
    crate::vars::valid_name(name.split_once('[').map_or(name, |(n, _)| n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_with(text: &str, aliases: &[(&str, &str)]) -> String {
        let aliases = aliases
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        expand(text, &aliases, &TokenizerOptions::default())
    }

    #[test]
    fn the_first_word_of_each_command_is_expanded() {
        let a = [("hi", "echo hello")];
        assert_eq!(expand_with("hi there\n", &a), "echo hello there\n");
        assert_eq!(expand_with("echo hi\n", &a), "echo hi\n");
        assert_eq!(expand_with("'hi'\n", &a), "'hi'\n");
        assert_eq!(
            expand_with("true && hi; hi | hi\n", &a),
            "true && echo hello; echo hello | echo hello\n"
        );
        assert_eq!(expand_with("X=1 >f hi\n", &a), "X=1 >f echo hello\n");
        assert_eq!(expand_with("f() { hi; }\n", &a), "f() { echo hello; }\n");
        assert_eq!(
            expand_with("if hi; then hi; fi\n", &a),
            "if echo hello; then echo hello; fi\n"
        );
        assert_eq!(
            expand_with("for hi in hi; do hi; done\n", &a),
            "for hi in hi; do echo hello; done\n"
        );
        assert_eq!(
            expand_with("case hi in hi) hi;; hi|x) hi;; esac; hi\n", &a),
            "case hi in hi) echo hello;; hi|x) echo hello;; esac; echo hello\n"
        );
    }

    #[test]
    fn recursion_stops_at_the_alias_being_expanded() {
        assert_eq!(
            expand_with("echo bar\n", &[("echo", "echo foo")]),
            "echo foo bar\n"
        );
        assert_eq!(
            expand_with("hi\n", &[("hi", "e_ hello world"), ("e_", "echo __")]),
            "echo __ hello world\n"
        );
        assert_eq!(expand_with("a\n", &[("a", "b"), ("b", "a")]), "a\n");
    }

    #[test]
    fn a_trailing_blank_checks_the_next_word() {
        let a = [("e_", "echo one "), ("one", "ONE "), ("two", "TWO ")];
        assert_eq!(expand_with("e_ two hello\n", &a), "echo one  TWO  hello\n");
        let a = [("x", "echo $x ")];
        assert_eq!(expand_with("x x\n", &a), "echo $x  echo $x \n");
        let a = [
            ("FOR1", "for "),
            ("FOR2", "FOR1 "),
            ("eye1", "i "),
            ("eye2", "eye1 "),
            ("IN", "in "),
        ];
        assert_eq!(
            expand_with("FOR2 eye2 IN 1 2; do :; done\n", &a),
            "for   i   in  1 2; do :; done\n"
        );
    }
}
