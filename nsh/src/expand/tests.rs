//! Expansion tests against a mock shell. Expected values are what bash 5.2
//! prints for the same words (checked with `bash -c` while writing them).

mod arith_tests;
mod glob_tests;
mod param_tests;

use std::collections::HashMap;

use brush_parser::word::SpecialParameter;

use super::*;
use crate::vars::{Value, Var, Vars};

/// A shell state for expansion: variables, positional parameters, `$?`,
/// options, and `$(..)` that answers canned output per script (or runs a
/// tiny `echo`).
#[derive(Default)]
pub(super) struct Mock {
    pub vars: Vars,
    pub positional: Vec<String>,
    pub nounset: bool,
    pub noglob: bool,
    pub nullglob: bool,
    pub extglob: bool,
    pub globstar: bool,
    pub nocaseglob: bool,
    pub failglob: bool,
    pub dotglob: bool,
    /// `shopt -u globskipdots`.
    pub keepdots: bool,
    pub outputs: HashMap<String, String>,
    pub scripts: Vec<String>,
}

impl Mock {
    pub fn new() -> Self {
        Mock::default()
    }

    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        self.vars.set(name, value).unwrap();
        self
    }

    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.positional = args.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn array(&mut self, name: &str, items: &[&str]) -> &mut Self {
        let map = items
            .iter()
            .enumerate()
            .map(|(i, s)| (i as i64, s.to_string()))
            .collect();
        self.vars.set_value(name, Value::Indexed(map)).unwrap();
        self
    }

    pub fn assoc(&mut self, name: &str, items: &[(&str, &str)]) -> &mut Self {
        let map = items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.vars.set_value(name, Value::Assoc(map)).unwrap();
        self
    }

    /// Expands words as a command line does.
    pub fn fields(&mut self, words: &[&str]) -> Vec<String> {
        self.try_fields(words).unwrap()
    }

    pub fn try_fields(&mut self, words: &[&str]) -> Result<Vec<String>, ExpandError> {
        let words: Vec<brush_parser::ast::Word> = words
            .iter()
            .map(|w| brush_parser::ast::Word::new(w))
            .collect();
        expand_words(self, &words)
    }

    pub fn word(&mut self, word: &str) -> String {
        expand_word(self, word).unwrap()
    }

    pub fn err(&mut self, word: &str) -> ExpandError {
        expand_word(self, word).unwrap_err()
    }
}

impl ExpandContext for Mock {
    fn vars(&self) -> &Vars {
        &self.vars
    }
    fn vars_mut(&mut self) -> &mut Vars {
        &mut self.vars
    }
    fn positional(&self) -> &[String] {
        &self.positional
    }
    fn special(&self, parameter: &SpecialParameter) -> Option<String> {
        match parameter {
            SpecialParameter::LastExitStatus => Some("3".into()),
            SpecialParameter::ProcessId => Some("4242".into()),
            SpecialParameter::CurrentOptionFlags => Some("hB".into()),
            SpecialParameter::ShellName => Some("nsh".into()),
            _ => None,
        }
    }
    fn nounset(&self) -> bool {
        self.nounset
    }
    fn noglob(&self) -> bool {
        self.noglob
    }
    fn extglob(&self) -> bool {
        self.extglob
    }
    fn nullglob(&self) -> bool {
        self.nullglob
    }
    fn globstar(&self) -> bool {
        self.globstar
    }
    fn nocaseglob(&self) -> bool {
        self.nocaseglob
    }
    fn failglob(&self) -> bool {
        self.failglob
    }
    fn dotglob(&self) -> bool {
        self.dotglob
    }
    fn globskipdots(&self) -> bool {
        !self.keepdots
    }
    fn command_substitution(&mut self, script: &str) -> Result<String, ExpandError> {
        self.scripts.push(script.to_string());
        if let Some(out) = self.outputs.get(script) {
            return Ok(out.clone());
        }
        match script.strip_prefix("echo ") {
            Some(rest) => Ok(format!("{rest}\n")),
            None => Err(ExpandError::new(format!("{script}: no canned output"))),
        }
    }
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn literal_words_and_quote_removal() {
    let mut m = Mock::new();
    assert_eq!(
        m.fields(&["a", "'b c'", "\"d e\"", r"f\ g", r"'\n'", r#""\a\$\"""#]),
        strs(&["a", "b c", "d e", "f g", r"\n", r#"\a$""#])
    );
    assert_eq!(
        m.fields(&["''", "\"\"", "x''", "$''"]),
        strs(&["", "", "x", ""])
    );
    assert_eq!(m.word(r"a\\b"), r"a\b");
}

#[test]
fn ansi_c_quoting() {
    let mut m = Mock::new();
    assert_eq!(m.word(r"$'a\nb\tc'"), "a\nb\tc");
    assert_eq!(m.word(r"$'\x41\101\u00e9\\\''"), "AAé\\'");
    assert_eq!(m.word(r"$'\e[0m'"), "\x1b[0m");
    assert_eq!(m.word(r"$'\cA\q'"), "\x01\\q");
    // NUL ends the string, as in bash.
    assert_eq!(m.word(r"$'ab\0cd'"), "ab");
    assert_eq!(m.word(r"$'\U0001F600'"), "\u{1F600}");
}

#[test]
fn simple_parameters() {
    let mut m = Mock::new();
    m.set("x", "hello").set("empty", "");
    m.args(&["one", "two words", "", "4", "5", "6", "7", "8", "9", "ten"]);
    assert_eq!(m.word("$x ${x}!"), "hello hello!");
    assert_eq!(m.word("$1-${2}-$10-${10}"), "one-two words-one0-ten");
    assert_eq!(m.word("$# $? $$ $- $0"), "10 3 4242 hB nsh");
    assert_eq!(m.word("[$!][$nope][$empty]"), "[][][]");
    assert_eq!(m.word("${#x} ${#} ${##} ${#2}"), "5 10 2 9");
    assert_eq!(m.word("$ x $"), "$ x $");
}

#[test]
fn tilde_expansion() {
    let mut m = Mock::new();
    m.set("HOME", "/h").set("PWD", "/w").set("OLDPWD", "/old");
    assert_eq!(
        m.fields(&[
            "~",
            "~/x",
            "\"~\"",
            r"\~",
            "~+",
            "~-",
            "a~",
            "~+/d",
            "~nosuchuser9"
        ]),
        strs(&[
            "/h",
            "/h/x",
            "~",
            "~",
            "/w",
            "/old",
            "a~",
            "/w/d",
            "~nosuchuser9"
        ])
    );
    assert_eq!(m.fields(&["~root"]), strs(&["/root"]));
    // Arguments that look like assignments expand tildes after = and :.
    assert_eq!(m.fields(&["x=~/a:~/b"]), strs(&["x=/h/a:/h/b"]));
    assert_eq!(expand_assignment(&mut m, "~/a:~/b").unwrap(), "/h/a:/h/b");
    // Tilde results are not split.
    m.set("HOME", "/a b");
    assert_eq!(m.fields(&["~"]), strs(&["/a b"]));
    m.set("HOME", "");
    assert_eq!(m.fields(&["~", "~/a"]), strs(&["", "/a"]));
}

#[test]
fn command_substitution_strips_trailing_newlines() {
    let mut m = Mock::new();
    m.outputs.insert("cmd".into(), "a b\n\n\n".into());
    m.outputs.insert("inner".into(), "x\ny\n".into());
    assert_eq!(m.fields(&["$(cmd)"]), strs(&["a", "b"]));
    assert_eq!(m.fields(&["\"$(cmd)\""]), strs(&["a b"]));
    assert_eq!(m.fields(&["\"$(inner)\""]), strs(&["x\ny"]));
    assert_eq!(m.fields(&["`cmd`."]), strs(&["a", "b."]));
    assert_eq!(m.word("$(echo hi)-`echo there`"), "hi-there");
    // Backslashes in backquotes: \$ \\ \` lose theirs.
    m.fields(&[r"`echo \$x \\ \`y\``"]);
    assert_eq!(m.scripts.last().unwrap(), r"echo $x \ `y`");
    // A failing substitution is an error.
    assert!(m.try_fields(&["$(fail)"]).is_err());
}

#[test]
fn arithmetic_expansion_in_words() {
    let mut m = Mock::new();
    m.set("x", "4");
    assert_eq!(m.word("$((x*2+1)) $(( $x ** 2 )) $[x-1]"), "9 16 3");
    assert_eq!(m.word("$((x+=1))$x"), "55");
    assert_eq!(m.word("$(( $(echo 6) / 2 ))"), "3");
    m.set("IFS", "-");
    assert_eq!(m.fields(&["$((0-5))"]), strs(&["", "5"]));
}

#[test]
fn field_splitting_default_ifs() {
    let mut m = Mock::new();
    m.set("x", "  a  b  ").set("empty", "").set("star", "*");
    assert_eq!(m.fields(&["$x"]), strs(&["a", "b"]));
    assert_eq!(m.fields(&["\"$x\""]), strs(&["  a  b  "]));
    assert_eq!(m.fields(&["\"q\"$x\"r\""]), strs(&["q", "a", "b", "r"]));
    assert_eq!(m.fields(&["pre${x}post"]), strs(&["pre", "a", "b", "post"]));
    assert_eq!(
        m.fields(&["$empty", "\"$empty\"", "${empty}x"]),
        strs(&["", "x"])
    );
    assert_eq!(m.fields(&["$empty$empty"]), Vec::<String>::new());
    m.set("x", "a ");
    assert_eq!(m.fields(&["$x\"\""]), strs(&["a", ""]));
    m.set("x", " ");
    assert_eq!(m.fields(&["\"\"$x\"\""]), strs(&["", ""]));
    // Literal text of the word is never split.
    assert_eq!(m.fields(&["'a b'$empty"]), strs(&["a b"]));
}

#[test]
fn field_splitting_custom_ifs() {
    let mut m = Mock::new();
    m.set("IFS", ":");
    let mut split = |value: &str, word: &str| {
        m.set("x", value);
        m.fields(&[word])
    };
    assert_eq!(split("a:b:", "$x"), strs(&["a", "b"]));
    assert_eq!(split("a:b:", "${x}x"), strs(&["a", "b", "x"]));
    assert_eq!(split(":", "$x"), strs(&[""]));
    assert_eq!(split("::", "$x"), strs(&["", ""]));
    assert_eq!(split(":a", "pre$x"), strs(&["pre", "a"]));
    assert_eq!(split("a  b", "$x"), strs(&["a  b"]));
    m.set("IFS", " :");
    let mut split = |value: &str| {
        m.set("x", value);
        m.fields(&["$x"])
    };
    assert_eq!(split(" :a"), strs(&["", "a"]));
    assert_eq!(split("a : : b"), strs(&["a", "", "b"]));
    assert_eq!(split(" : "), strs(&[""]));
    assert_eq!(split("a: :b"), strs(&["a", "", "b"]));
    // Empty IFS: no splitting; unset IFS: the default.
    m.set("IFS", "").set("x", "a b");
    assert_eq!(m.fields(&["$x"]), strs(&["a b"]));
    m.vars.unset("IFS").unwrap();
    assert_eq!(m.fields(&["$x"]), strs(&["a", "b"]));
}

#[test]
fn positional_parameters_in_fields() {
    let mut m = Mock::new();
    m.args(&["a b", "c"]);
    assert_eq!(m.fields(&["\"$@\""]), strs(&["a b", "c"]));
    assert_eq!(m.fields(&["\"x$@y\""]), strs(&["xa b", "cy"]));
    assert_eq!(m.fields(&["$@"]), strs(&["a", "b", "c"]));
    assert_eq!(m.fields(&["$*"]), strs(&["a", "b", "c"]));
    assert_eq!(m.fields(&["\"$*\""]), strs(&["a b c"]));
    m.set("IFS", "");
    assert_eq!(m.fields(&["$*"]), strs(&["a b", "c"]));
    assert_eq!(m.fields(&["\"$*\""]), strs(&["a bc"]));
    assert_eq!(m.fields(&["$@"]), strs(&["a b", "c"]));
    m.set("IFS", ":");
    assert_eq!(m.fields(&["\"$*\"", "$*"]), strs(&["a b:c", "a b", "c"]));
    // Unquoted, the elements are as if joined with IFS's first character
    // and split: with IFS=: an empty element stays.
    m.args(&["a:b", "", "c"]);
    assert_eq!(m.fields(&["x$@y"]), strs(&["xa", "b", "", "cy"]));
    m.args(&["a b", "c"]);
    // Without field splitting: $@ joins with spaces, $* with IFS.
    assert_eq!(m.word("$@|$*|\"$*\""), "a b c|a b:c|a b:c");
    m.vars.unset("IFS").unwrap();
    assert_eq!(m.fields(&["\"$*\""]), strs(&["a b c"]));

    m.args(&["a", "", "b"]);
    assert_eq!(m.fields(&["$@"]), strs(&["a", "b"]));
    assert_eq!(m.fields(&["$*"]), strs(&["a", "b"]));
    assert_eq!(m.fields(&["\"$@\""]), strs(&["a", "", "b"]));
    assert_eq!(m.fields(&["\"$*\""]), strs(&["a  b"]));

    m.args(&[]);
    assert_eq!(m.fields(&["\"$@\""]), Vec::<String>::new());
    assert_eq!(m.fields(&["\"$@\"\"\""]), strs(&[""]));
    assert_eq!(m.fields(&["\"$@$empty\""]), Vec::<String>::new());
    assert_eq!(m.fields(&["\"$*\""]), strs(&[""]));
    assert_eq!(m.fields(&["\"$@\"x"]), strs(&["x"]));
}

#[test]
fn pathname_expansion_disabled_or_quoted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "").unwrap();
    let base = dir.path().to_str().unwrap().to_string();
    let mut m = Mock::new();
    m.set("d", &base);
    assert_eq!(m.fields(&["$d/*.txt"]), vec![format!("{base}/a.txt")]);
    assert_eq!(m.fields(&["\"$d/*.txt\""]), vec![format!("{base}/*.txt")]);
    assert_eq!(m.fields(&["$d/'*'.txt"]), vec![format!("{base}/*.txt")]);
    assert_eq!(m.fields(&[r"$d/\*.txt"]), vec![format!("{base}/*.txt")]);
    m.noglob = true;
    assert_eq!(m.fields(&["$d/*.txt"]), vec![format!("{base}/*.txt")]);
}

#[test]
fn expand_pattern_escapes_quoted_characters() {
    let mut m = Mock::new();
    m.set("p", "*.c").set("q", "a b");
    assert_eq!(expand_pattern(&mut m, "*.c").unwrap(), "*.c");
    assert_eq!(expand_pattern(&mut m, "'*'.c").unwrap(), r"\*.c");
    // Quoted ASCII punctuation is escaped, letters are not.
    assert_eq!(expand_pattern(&mut m, "\"$p\"").unwrap(), r"\*\.c");
    assert_eq!(expand_pattern(&mut m, "$p").unwrap(), "*.c");
    assert_eq!(expand_pattern(&mut m, "$q?").unwrap(), "a b?");
    assert_eq!(expand_pattern(&mut m, r"\[x]").unwrap(), r"\[x]");
    assert_eq!(expand_pattern(&mut m, r"'\'").unwrap(), r"\\");
    let pat = expand_pattern(&mut m, "\"$p\"").unwrap();
    assert!(pattern_matches(&pat, "*.c", false));
    assert!(!pattern_matches(&pat, "x.c", false));
    // Quoted characters inside brackets are members, not operators.
    let cases: &[(&str, &str, bool)] = &[
        ("[\"a-z\"]", "-", true),
        ("[\"a-z\"]", "b", false),
        ("[a\"-\"z]", "b", false),
        ("[\"!\"a]", "!", true),
        (r"[\^]", "^", true),
    ];
    for (word, text, expected) in cases {
        let pat = expand_pattern(&mut m, word).unwrap();
        assert_eq!(
            pattern_matches(&pat, text, false),
            *expected,
            "{word} vs {text}"
        );
    }
}

#[test]
fn pattern_matching() {
    let cases: &[(&str, &str, bool)] = &[
        ("*", "", true),
        ("*", "anything\nat all", true),
        ("a?c", "abc", true),
        ("a?c", "ac", false),
        ("[abc]x", "bx", true),
        ("[!abc]x", "bx", false),
        ("[^abc]x", "dx", true),
        ("[a-c]*", "cat", true),
        ("[[:digit:]]*", "7up", true),
        ("[[:alpha:]]", "7", false),
        ("[[:space:]]", " ", true),
        (r"\*", "*", true),
        (r"\*", "a", false),
        ("a.b", "a.b", true),
        ("a.b", "axb", false),
        ("[abc", "[abc", true),
        ("(x)|{y}+^$", "(x)|{y}+^$", true),
        ("*.tar.gz", "x.tar.gz", true),
        ("é?", "éa", true),
        ("[z-a]", "z", false),
        // A leading ] is a member; \d and \< are the characters; && is
        // not the regex class intersection.
        ("[]]", "]", true),
        ("[!]]x", "]x", false),
        ("[!]]x", "ax", true),
        ("[a]]", "a]", true),
        (r"[\d]", "d", true),
        (r"[\d]", "1", false),
        (r"[\<]", "<", true),
        ("[a&&b]", "&", true),
        ("[a&&b]", "b", true),
        ("[[:alpha:][:digit:]]", "7", true),
        ("[[]", "[", true),
        ("[a]b", "ab", true),
    ];
    for (pattern, text, expected) in cases {
        assert_eq!(
            pattern_matches(pattern, text, false),
            *expected,
            "{pattern:?} vs {text:?}"
        );
    }
    assert!(pattern_matches("@(a|b)c", "bc", true));
    assert!(pattern_matches("+(ab)", "abab", true));
    assert!(!pattern_matches("@(a|b)c", "bc", false));
    assert!(pattern_matches("!(a)", "b", true));
    assert!(!pattern_matches("!(a)", "a", true));
}

#[test]
fn heredoc_bodies() {
    let mut m = Mock::new();
    m.set("x", "X").set("y", "a  b");
    let body = "x=$x ${y} '$x' \"$x\"\n\\$x \\\\ \\a `echo hi` $((1+2))\ncont\\\ninued\n";
    assert_eq!(
        expand_heredoc(&mut m, body).unwrap(),
        "x=X a  b 'X' \"X\"\n$x \\ \\a hi 3\ncontinued\n"
    );
    assert_eq!(
        expand_heredoc(&mut m, "plain * text\n").unwrap(),
        "plain * text\n"
    );
}

#[test]
fn brace_expansion() {
    let mut m = Mock::new();
    m.set("x", "X");
    assert_eq!(m.fields(&["a{b,c}d"]), strs(&["abd", "acd"]));
    assert_eq!(
        m.fields(&["{1..5..2}", "{c..a}"]),
        strs(&["1", "3", "5", "c", "b", "a"])
    );
    assert_eq!(m.fields(&["{a,b{1,2}}"]), strs(&["a", "b1", "b2"]));
    assert_eq!(m.fields(&["{$x,y}"]), strs(&["X", "y"]));
    assert_eq!(
        m.fields(&["{a}", "\"{a,b}\"", "${x}"]),
        strs(&["{a}", "{a,b}", "X"])
    );
}

#[test]
fn nested_words_inside_double_quotes() {
    let mut m = Mock::new();
    m.set("x", "abc");
    // Single quotes are literal there, yet $x inside them expands.
    assert_eq!(m.word("\"${x:+'$x'}\""), "'abc'");
    assert_eq!(m.word("\"${u:-\\}}\" ${u:-\\}}"), "} }");
    assert_eq!(m.word("\"a\\}\""), r"a\}");
    assert_eq!(m.fields(&["{,}", "x{,}"]), strs(&["x", "x"]));
}

#[test]
fn bad_substitution() {
    let mut m = Mock::new();
    assert_eq!(m.err("a${x!}b").message, "${x!}: bad substitution");
}

#[test]
fn readonly_assignment_fails() {
    let mut m = Mock::new();
    m.vars.set("r", "1").unwrap();
    m.vars.modify("r", |v: &mut Var| v.readonly = true);
    assert_eq!(m.err("$((r=2))").message, "r: readonly variable");
}

/// `i=$((i+1)); s=${s%x}` 100,000 times, as a shell loop would: the values
/// stay right (speed is the benchmarks' business, not this test's).
#[test]
fn a_counter_and_a_trim_in_a_long_loop() {
    let mut m = Mock::new();
    m.set("i", "0").set("s", &"x".repeat(1000));
    for _ in 0..100_000 {
        let i = expand_assignment(&mut m, "$((i+1))").unwrap();
        m.set("i", &i);
        let s = expand_assignment(&mut m, "${s%x}").unwrap();
        m.set("s", &s);
    }
    assert_eq!(m.vars.get("i"), Some("100000"));
    assert_eq!(m.vars.get("s"), Some(""));
}
