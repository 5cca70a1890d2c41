//! Pattern tests: bash 5.2's answers (checked with `bash -c` while writing
//! them), and the regular-expression and tree-walk matchers checked
//! against each other.

use super::parse::{Tree, parse};
use super::walk::{Flags, Walk};
use super::*;

fn walked(tree: &Tree, text: &str, flags: Flags) -> bool {
    let chars: Vec<char> = text.chars().collect();
    Walk::new(&chars, flags).matches(&tree.nodes)
}

#[test]
fn extglob_groups() {
    let cases: &[(&str, &str, bool)] = &[
        ("!(a)", "b", true),
        ("!(a)", "a", false),
        ("!(a)", "", true),
        ("!(a)", "aa", true),
        ("!(*.h|*.cc)", "foo.py", true),
        ("!(*.h|*.cc)", "foo.cc", false),
        ("!(b)@(b|c)", "ab", true),
        ("!(b)@(b|c)", "bb", false),
        ("!(b)@(b|c)", "cc", true),
        ("!(b)?@(b|c)", "bb", true),
        ("!(b)a@(b|c)", "ab", true),
        ("!(b)a@(b|c)", "bab", false),
        ("a@(!(c|d))", "ab", true),
        ("a@(!(c|d))", "ac", false),
        ("a!(@(ab|b*))", "ac", true),
        ("a!(@(ab|b*))", "ab", false),
        ("!(a)*", "ab", true),
        ("*(a|b|c)", "abc", true),
        ("+(a)", "aaa", true),
        ("+(a)", "", false),
        ("?(a)!(a)", "a", true),
        ("@(a)@(b)", "ab", true),
        ("*(x)!(x)", "xx", true),
        ("+(a|ab)b", "abab", true),
        ("@(|x)", "", true),
        ("!()", "", false),
        ("!()", "a", true),
        ("!(!(a))", "a", true),
        ("!(!(a))", "b", false),
        ("*(+(a)b)", "aabab", true),
        ("*(+(a)b)", "aaba", false),
        // An unclosed group is text.
        ("@(ab", "@(ab", true),
        ("x*(ab", "x*(ab", true),
        ("x*(ab", "xyz(ab", false),
        ("@(a[b|c)", "a", false),
        ("@(a[b|c)", "@(a[b|c)", true),
        ("@([|])", "|", true),
        (r"@(\)|a)", ")", true),
    ];
    for (pattern, text, expected) in cases {
        assert_eq!(
            matches(pattern, text, true),
            *expected,
            "{pattern:?} vs {text:?}"
        );
    }
    // Without extglob the operators are characters.
    assert!(matches("!(a)", "!(a)", false));
    assert!(!matches("!(a)", "b", false));
    assert!(matches("*(a)", "x(a)", false));
}

#[test]
fn bracket_edges() {
    let cases: &[(&str, &str, bool)] = &[
        ("[[z]", "[", true),
        ("[[z]", "z", true),
        ("[]z]", "]", true),
        ("[]z]", "z", true),
        ("[^]z]", "a", true),
        ("[^]z]", "]", false),
        ("[!]]", "a", true),
        ("[]]", "]", true),
        ("[]", "[]", true),
        ("[!]", "[!]", true),
        ("[]-a]", "^", true),
        ("[]-a]", "b", false),
        ("[a-]", "-", true),
        ("[!a-]", "-", false),
        (r"[\]]", "]", true),
        (r"[a\-z]", "b", false),
        (r"[a\-z]", "-", true),
        ("[z-a]", "m", false),
        ("[z-ab]", "b", true),
        ("[!z-a]", "m", true),
        ("[[:alpha:]]", "x", true),
        ("[[:alpha:][:digit:]]", "7", true),
        ("[![:alnum:]]*", "_x", true),
        ("[![:alnum:]]*", "x_", false),
        ("[[:foo:]x]", "x", true),
        ("[[:foo:]x]", "f", false),
        ("[[:alpha:]", "a", false),
        ("[[:alpha:]", "[:alpha:]", false),
        (r"[[:al\pha:]]", "a", true),
        ("[[:word:]]", "_", true),
        ("[[:punct:]]", "!", true),
        ("[[=a=]b]", "a", true),
        ("[[=a=]b]", "=", false),
        ("[[.a.]-c]", "b", true),
        ("[[.-.]]", "-", true),
        ("[a", "[a", true),
        ("a[", "a[", true),
        ("[*]", "*", true),
        ("[*]", "a", false),
        ("[?]x", "?x", true),
        ("[a]]", "a]", true),
    ];
    for (pattern, text, expected) in cases {
        assert_eq!(
            matches(pattern, text, false),
            *expected,
            "{pattern:?} vs {text:?}"
        );
    }
}

#[test]
fn literal_and_glob_words() {
    assert_eq!(compile("a[b", false).literal().as_deref(), Some("a[b"));
    assert_eq!(compile(r"a\*b", false).literal().as_deref(), Some("a*b"));
    assert_eq!(compile("@(ab", true).literal().as_deref(), Some("@(ab"));
    assert_eq!(compile("[]z]", false).literal(), None);
    assert_eq!(compile("@(a)", true).literal(), None);
    assert_eq!(compile("@(a)", false).literal().as_deref(), Some("@(a)"));
    // bash's test for a word to go through pathname expansion.
    assert!(is_glob_word("[]"));
    assert!(is_glob_word("x[]"));
    assert!(!is_glob_word("a]b["));
    assert!(!is_glob_word("[a/]"));
    assert!(is_glob_word("@(a"));
    assert!(!is_glob_word(r"\*"));
    assert!(!is_glob_word(r"\[a]"));
    assert!(is_glob_word("?"));
}

#[test]
fn leading_dots_in_names() {
    let p = compile("*", true);
    assert!(!p.matches_name(".x", Dots::Period));
    assert!(p.matches_name(".x", Dots::DotDot));
    assert!(!p.matches_name("..", Dots::DotDot));
    let p = compile("!(.y)", true);
    assert!(!p.matches_name(".x", Dots::Period));
    assert!(p.matches("x"));
    let p = compile("@(.x|*)", true);
    assert!(p.matches_name(".x", Dots::Period));
    assert!(!p.matches_name(".z", Dots::Period));
    let p = compile("*(x).x", true);
    assert!(p.matches_name(".x", Dots::Period));
    let p = compile(".*", false);
    assert!(p.matches_name("..", Dots::DotDot));
    assert!(p.matches_name(".", Dots::Period));
}

#[test]
fn paths_for_globignore() {
    let p = compile("*x", false);
    assert!(p.matches_path("abx"));
    assert!(!p.matches_path("a/bx"));
    assert!(compile("*/*", false).matches_path("a/b"));
    assert!(!compile("a?b", false).matches_path("a/b"));
    assert!(!compile("a[/]b", false).matches_path("a/b"));
    assert!(compile("*.txt", false).matches_path(".x.txt"));
    assert!(!compile("*.txt", false).matches_path("d/x.txt"));
    // bash: a `*` ending the pattern matches `/` too.
    assert!(compile("s*", false).matches_path("sub/x.txt"));
    assert!(compile("[[:alpha:]]*", false).matches_path("sub/x.txt"));
    assert!(compile("@(x|s*)", true).matches_path("sub/x.txt"));
    assert!(!compile("s*t", false).matches_path("sub/x.txt"));
}

#[test]
fn nocase() {
    let p = compile_with("[A-C]x*", false, true);
    assert!(p.matches("bXy"));
    assert!(p.matches("BXY"));
    assert!(!p.matches("dx"));
    assert!(compile_with("@(FOO|bar)", true, true).matches("Foo"));
    assert!(compile_with("[[:upper:]]", false, true).matches("A"));
}

#[test]
fn searches_with_not_groups() {
    // bash: x=abcabc; ${x#!(b)} ${x##!(b)} ${x%!(c)} ${x%%!(c)}
    // ${x/!(a)/Z} ${x//@(b|c)/Z}
    let p = compile("!(b)", true);
    assert_eq!(p.prefix_len("abcabc", false), Some(0));
    assert_eq!(p.prefix_len("abcabc", true), Some(6));
    let p = compile("!(c)", true);
    assert_eq!(p.suffix_start("abcabc", false), Some(6));
    assert_eq!(p.suffix_start("abcabc", true), Some(0));
    assert_eq!(compile("!(a)", true).find("abcabc", 0), Some((0, 6)));
    // Empty matches count; at the end of the text only for a pattern
    // starting with `*` (bash's ${x/p/r}).
    let p = compile("?(b)", true);
    assert_eq!(p.find("ab", 0), Some((0, 0)));
    assert_eq!(p.find("ab", 1), Some((1, 2)));
    assert_eq!(p.find("ab", 2), None);
    assert_eq!(compile("*(x)", true).find("ab", 2), Some((2, 2)));
    assert_eq!(compile("!(x)", true).find("ab", 2), None);
    assert_eq!(compile("*", false).find("", 0), Some((0, 0)));
    assert_eq!(compile("[ab]*", false).find("xab", 0), Some((1, 3)));
    let p = compile("!(x)c", true);
    assert_eq!(p.find("ébc", 0), Some((0, 4)));
    assert_eq!(p.prefix_len("ébcd", true), Some(4));
    assert_eq!(p.suffix_start("aécéc", true), Some(0));
    assert_eq!(p.suffix_start("aécéc", false), Some(6));
}

/// Every pattern of up to three of a few characters, and pseudo-random
/// longer ones, against some texts: the regular expression (when there is
/// one) and the tree walk agree.
#[test]
fn regex_and_walk_agree() {
    let alphabet = [
        'a', 'b', '[', ']', '!', '-', '*', '?', '\\', '(', ')', '|', '@', '+', ':',
    ];
    let texts = [
        "", "a", "b", "ab", "ba", "aa", "[", "]", "-", "!", "a]", "[a", "(a)", "|", "a|b", "@(a)",
        "abab", "a-b", "\\", "*", "?", ":",
    ];
    let mut patterns = vec![String::new()];
    let mut all = Vec::new();
    for _ in 0..3 {
        let mut longer = Vec::new();
        for p in &patterns {
            for c in alphabet {
                longer.push(format!("{p}{c}"));
            }
        }
        all.extend(longer.iter().cloned());
        patterns = longer;
    }
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..3000 {
        let len = 4 + (next() % 5) as usize;
        all.push(
            (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect(),
        );
    }
    all.extend(
        [
            "[!]a]b",
            "[a-]*",
            "@(a|b)*(ab)",
            "+(a|[b])?",
            "[[:alpha:]-]",
        ]
        .map(String::from),
    );
    for pattern in &all {
        for extglob in [false, true] {
            let tree = parse(pattern, extglob);
            let Some(body) = to_regex::regex(&tree.nodes) else {
                continue;
            };
            let re = Regex::new(&format!("^(?s:{body})$")).unwrap();
            for text in texts {
                assert_eq!(
                    re.is_match(text),
                    walked(&tree, text, Flags::default()),
                    "{pattern:?} (extglob {extglob}, regex {body}) vs {text:?}"
                );
            }
        }
    }
}
