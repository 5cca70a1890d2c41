//! `${x/pat/rep}` and its `//`, `/#`, `/%` forms, as bash finds and
//! replaces the matches (empty ones included).

use brush_parser::word::SubstringMatchKind;

use super::pattern;

/// `${x/pat/rep}` and its `//`, `/#`, `/%` forms. In `rep` (a pattern
/// string: quoted characters escaped) an unescaped `&` stands for the
/// matched text, bash's `patsub_replacement`.
pub(super) fn replace(
    compiled: &pattern::Pattern,
    s: &str,
    rep: &str,
    kind: &SubstringMatchKind,
    empty_pattern: bool,
) -> String {
    let substitute = |matched: &str| {
        let mut out = String::new();
        let mut chars = rep.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.extend(chars.next()),
                '&' => out.push_str(matched),
                c => out.push(c),
            }
        }
        out
    };
    match kind {
        // bash tries an empty text only with a pattern starting with `*`
        // (an empty pattern just puts the replacement in front).
        SubstringMatchKind::Prefix if s.is_empty() && !empty_pattern && !compiled.star_first() => {
            String::new()
        }
        SubstringMatchKind::Prefix => match compiled.prefix_len(s, true) {
            Some(len) => format!("{}{}", substitute(&s[..len]), &s[len..]),
            None => s.to_string(),
        },
        SubstringMatchKind::Suffix => match compiled.suffix_start(s, true) {
            Some(start) => format!("{}{}", &s[..start], substitute(&s[start..])),
            None => s.to_string(),
        },
        SubstringMatchKind::FirstOccurrence | SubstringMatchKind::Anywhere => {
            if empty_pattern {
                return s.to_string();
            }
            // The leftmost-longest match, an empty one too; after an empty
            // match `//` copies a character and searches on, until the end.
            let all = matches!(kind, SubstringMatchKind::Anywhere);
            let mut out = String::with_capacity(s.len());
            let mut at = 0;
            while let Some((start, end)) = compiled.find(s, at) {
                out.push_str(&s[at..start]);
                out.push_str(&substitute(&s[start..end]));
                at = end;
                if !all {
                    break;
                }
                if start == end
                    && let Some(c) = s[at..].chars().next()
                {
                    out.push(c);
                    at += c.len_utf8();
                }
                if at >= s.len() {
                    break;
                }
            }
            out.push_str(&s[at..]);
            out
        }
    }
}
