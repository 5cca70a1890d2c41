//! Parameter expansion forms, POSIX and bash's.

use super::{Mock, strs};
use crate::expand::ExpandError;

fn mock() -> Mock {
    let mut m = Mock::new();
    m.set("x", "abc").set("e", "").set("HOME", "/h");
    m
}

#[test]
fn default_values() {
    let mut m = mock();
    assert_eq!(
        m.fields(&[
            "${u-d}",
            "\"${e-d}\"",
            "${e:-d}",
            "${x:-d}",
            "${u:-\"a b\" c}",
            "\"${u:-\"a b\"}\"",
            "\"${u:-'q'}\"",
            "${u:-'q'}",
            "\"${u:-\\a}\"",
            "\"${u:-\\\"}\"",
            "\"${u:-~}\"",
        ]),
        strs(&[
            "d", "", "d", "abc", "a b", "c", "a b", "'q'", "q", r"\a", "\"", "~"
        ])
    );
    assert_eq!(
        m.fields(&["${u:-~/x}", "\"${u:-$x$x}\""]),
        strs(&["/h/x", "abcabc"])
    );
    // The default word's "" makes a field; an unset parameter does not.
    assert_eq!(m.fields(&["${u:-\"\"}", "${u}"]), strs(&[""]));
}

#[test]
fn alternative_values() {
    let mut m = mock();
    assert_eq!(
        m.fields(&[
            "\"${u+alt}\"",
            "${e+alt}",
            "${e:+alt}",
            "${x:+alt}",
            "${u:+alt}"
        ]),
        strs(&["", "alt", "alt"])
    );
    m.args(&["a", "b c"]);
    assert_eq!(
        m.fields(&["${x:+\"$@\"}", "\"${x:+$@}\""]),
        strs(&["a", "b c", "a", "b c"])
    );
    m.args(&[]);
    assert_eq!(
        m.fields(&["\"${@:+alt}\"", "\"${@:-}\"", "\"${@}\"", "\"${@#x}\""]),
        strs(&[""])
    );
    m.args(&["", ""]);
    assert_eq!(
        m.fields(&["\"${@:+alt}\"", "\"${@:-d}\"", "${@:-d}"]),
        strs(&["alt", "", ""])
    );
    m.args(&[""]);
    assert_eq!(m.fields(&["\"${@:-d}\"", "\"${*:-d}\""]), strs(&["d", "d"]));
}

#[test]
fn assign_default_values() {
    let mut m = mock();
    assert_eq!(
        m.fields(&[
            "\"${u2=new}\"",
            "\"$u2\"",
            "${u3:=a b}",
            "\"$u3\"",
            "${e:=filled}",
            "$e"
        ]),
        strs(&["new", "new", "a", "b", "a b", "filled", "filled"])
    );
    assert_eq!(m.vars.get("u3"), Some("a b"));
    m.args(&[]);
    assert_eq!(m.err("${1:=x}").message, "$1: cannot assign in this way");
    m.vars.modify("n", |v| v.integer = true);
    assert_eq!(m.word("${n:=2*3}"), "6");
    assert_eq!(m.vars.get("n"), Some("6"));
}

#[test]
fn error_if_null_or_unset() {
    let mut m = mock();
    let fatal = |m: &mut Mock, w: &str| {
        let err = m.err(w);
        assert!(err.fatal, "{w}");
        err.message
    };
    assert_eq!(fatal(&mut m, "${u?}"), "u: parameter not set");
    assert_eq!(fatal(&mut m, "${e:?}"), "e: parameter null or not set");
    assert_eq!(fatal(&mut m, "${u?hello there}"), "u: hello there");
    assert_eq!(fatal(&mut m, "${e:?\"a  b\"}"), "e: a  b");
    assert_eq!(fatal(&mut m, "${1?}"), "1: parameter not set");
    assert_eq!(m.word("${x?} ${e?}"), "abc ");
}

#[test]
fn nounset() {
    let mut m = mock();
    m.nounset = true;
    let unbound = |m: &mut Mock, w: &str| {
        let err = m.err(w);
        assert!(err.fatal, "{w}");
        err.message
    };
    assert_eq!(unbound(&mut m, "$nope"), "nope: unbound variable");
    assert_eq!(unbound(&mut m, "${#nope}"), "nope: unbound variable");
    assert_eq!(unbound(&mut m, "$1"), "$1: unbound variable");
    assert_eq!(unbound(&mut m, "$!"), "$!: unbound variable");
    assert_eq!(unbound(&mut m, "$((nope+1))"), "nope: unbound variable");
    m.array("a", &["x"]);
    assert_eq!(unbound(&mut m, "${a[5]}"), "a[5]: unbound variable");
    // Exempt: $@, $*, whole arrays, the test forms.
    assert_eq!(m.word("[$@$*${nope[@]}${nope:-d}${nope+a}]"), "[d]");
}

#[test]
fn remove_prefix_and_suffix() {
    let mut m = mock();
    m.set("x", "path/to/file.tar.gz");
    assert_eq!(
        m.fields(&[
            "${x%.*}",
            "${x%%.*}",
            "${x#*/}",
            "${x##*/}",
            "${x%nomatch}",
            "\"${x#\"path\"}\"",
            "${x%'.gz'}",
        ]),
        strs(&[
            "path/to/file.tar",
            "path/to/file",
            "to/file.tar.gz",
            "file.tar.gz",
            "path/to/file.tar.gz",
            "/to/file.tar.gz",
            "path/to/file.tar",
        ])
    );
    m.set("x", "a*c");
    assert_eq!(
        m.fields(&[
            "\"${x#'a*'}\"",
            r"${x#a\*}",
            "${x#\"a*\"}",
            "\"${x#a*}\"",
            r"${x%\*c}"
        ]),
        strs(&["c", "c", "c", "*c", "a"])
    );
    // Inside double quotes an unquoted $p in the pattern is still a pattern.
    m.set("p", "*").set("x", "abc");
    assert_eq!(
        m.fields(&["\"${x##$p}\"", "\"${x##\"$p\"}\"", "\"${x%%$p}\""]),
        strs(&["", "abc", ""])
    );
    m.args(&["a b", "ab"]);
    assert_eq!(
        m.fields(&["\"${@#a}\"", "\"${*#a}\""]),
        strs(&[" b", "b", " b b"])
    );
}

#[test]
fn replace_substring() {
    let mut m = mock();
    m.set("x", "abcabc").set("p", "*").set("r", "[&]");
    let cases = [
        ("${x/b/X}", "aXcabc"),
        ("${x//b/X}", "aXcaXc"),
        ("${x/#a/X}", "Xbcabc"),
        ("${x/%c/X}", "abcabX"),
        ("${x/#b/X}", "abcabc"),
        ("${x//[ac]/<&>}", "<a>b<c><a>b<c>"),
        (r"${x/b/\&}", "a&cabc"),
        ("${x/b/\"&\"}", "a&cabc"),
        ("${x/b/'&'}", "a&cabc"),
        ("${x/b/$r}", "a[b]cabc"),
        ("${x/b/\"$r\"}", "a[&]cabc"),
        ("${x//b}", "acac"),
        ("${x/#/^}", "^abcabc"),
        ("${x/%/$}", "abcabc$"),
        ("${x//?/.}", "......"),
        ("${x/b*/X}", "aX"),
        ("${x//}", "abcabc"),
        ("${x/$p/X}", "X"),
        ("${x/\"$p\"/X}", "abcabc"),
    ];
    for (word, expected) in cases {
        assert_eq!(m.word(word), expected, "{word}");
        assert_eq!(m.word(&format!("\"{word}\"")), expected, "\"{word}\"");
    }
}

#[test]
fn case_modification() {
    let mut m = mock();
    m.set("x", "hello").set("X", "HELLO");
    assert_eq!(
        m.fields(&[
            "${x^}",
            "${x^^}",
            "${x^^[lo]}",
            "${x,}",
            "${X,}",
            "${X,,}",
            "${X,,[HL]}"
        ]),
        strs(&[
            "Hello", "HELLO", "heLLO", "hello", "hELLO", "hello", "hEllO"
        ])
    );
    assert_eq!(
        m.fields(&["${x@U}", "${x@u}", "${X@L}"]),
        strs(&["HELLO", "Hello", "hello"])
    );
}

#[test]
fn substrings() {
    let mut m = mock();
    m.set("x", "hello");
    assert_eq!(
        m.fields(&[
            "${x:1}",
            "${x:1:3}",
            "${x: -2}",
            "${x:(-2):1}",
            "${x:1:-1}",
            "\"${x:10}\"",
            "\"${x:0:0}\"",
            "\"${x: -10}\"",
        ]),
        strs(&["ello", "ell", "lo", "l", "ell", "", "", ""])
    );
    assert_eq!(m.err("${x:1:-9}").message, "-9: substring expression < 0");
    m.args(&["a", "b", "c", "d"]);
    assert_eq!(
        m.fields(&[
            "\"${@:2}\"",
            "\"${@:2:2}\"",
            "\"${@: -1}\"",
            "\"${*:2}\"",
            "\"${@:0:1}\""
        ]),
        strs(&["b", "c", "d", "b", "c", "d", "b c d", "nsh"])
    );
    m.array("a", &["x", "yy", "zzz"]);
    assert_eq!(
        m.fields(&["\"${a[@]:1}\"", "\"${a[@]:1:1}\"", "\"${a[@]: -1}\""]),
        strs(&["yy", "zzz", "yy", "zzz"])
    );
}

#[test]
fn arrays() {
    let mut m = mock();
    m.array("a", &["x", "y y", "zzz"]);
    m.assoc("m", &[("k1", "v1"), ("k2", "v 2")]);
    m.set("i", "0").set("k", "k2");
    assert_eq!(
        m.fields(&[
            "${a[1]}",
            "\"${a[1]}\"",
            "${a[i+2]}",
            "${a[-1]}",
            "${a}",
            "${#a[@]}",
            "${#a[2]}",
            "\"${a[@]}\"",
            "\"${a[*]}\"",
            "${!a[@]}",
            "\"${a[@]#y}\"",
        ]),
        strs(&[
            "y",
            "y",
            "y y",
            "zzz",
            "zzz",
            "x",
            "3",
            "3",
            "x",
            "y y",
            "zzz",
            "x y y zzz",
            "0",
            "1",
            "2",
            "x",
            " y",
            "zzz",
        ])
    );
    assert_eq!(
        m.fields(&[
            "${m[k1]}",
            "\"${m[$k]}\"",
            "${#m[@]}",
            "${!m[@]}",
            "\"${m[@]}\""
        ]),
        strs(&["v1", "v 2", "2", "k1", "k2", "v1", "v 2"])
    );
    assert_eq!(
        m.fields(&["\"${nope[@]}\"", "${nope[0]}"]),
        Vec::<String>::new()
    );
    // An index before the start reads as unset, as in bash.
    assert_eq!(m.fields(&["\"${a[-9]}\""]), [""]);
    // Scalars are arrays of one element.
    assert_eq!(
        m.fields(&["${x[0]}", "${#x[@]}", "\"${x[1]}\""]),
        strs(&["abc", "1", ""])
    );
    // ${a[i]=v} assigns an element.
    assert_eq!(m.word("${a[5]=five}${a[5]}"), "fivefive");
    assert_eq!(m.word("${!a[*]}"), "0 1 2 5");
}

#[test]
fn indirection_and_names() {
    let mut m = mock();
    m.set("ref", "x")
        .set("r1", "a[1]")
        .set("n", "2")
        .set("ab1", "1")
        .set("ab2", "2");
    m.array("a", &["p", "q"]);
    m.args(&["p1", "p2"]);
    assert_eq!(
        m.fields(&[
            "${!ref}",
            "${!r1}",
            "${!n}",
            "${!ref#a}",
            "${!ref:-d}",
            "${!ref/b/B}"
        ]),
        strs(&["abc", "q", "p2", "bc", "abc", "aBc"])
    );
    assert_eq!(
        m.err("${!nope}").message,
        "nope: invalid indirect expansion"
    );
    m.set("bad", "a b");
    assert_eq!(m.err("${!bad}").message, "a b: invalid variable name");
    assert_eq!(
        m.fields(&["\"${!ab*}\"", "\"${!ab@}\""]),
        strs(&["ab1 ab2", "ab1", "ab2"])
    );
}

#[test]
fn transforms() {
    let mut m = mock();
    m.set("nl", "a\nb").set("q", "it's").set("esc", r"w\tx");
    assert_eq!(
        m.fields(&[
            "${nl@Q}",
            "${q@Q}",
            "${esc@E}",
            "\"${esc@E}\"",
            "${esc@Q}",
            "\"${x@a}\""
        ]),
        strs(&["$'a\\nb'", r"'it'\''s'", "w", "x", "w\tx", r"'w\tx'", ""])
    );
    m.array("arr", &["1"]);
    m.vars.modify("arr", |v| v.exported = true);
    assert_eq!(m.word("${arr@a}"), "ax");
    let err: ExpandError = m.err("${x@A}");
    assert_eq!(err.message, "${x@A}: not supported");
}
