//! Arithmetic: operators, precedence, wrapping, assignment, variables that
//! hold expressions, and bash's error messages.

use super::Mock;
use crate::expand::eval_arith;

fn eval(m: &mut Mock, expr: &str) -> i64 {
    eval_arith(m, expr).unwrap_or_else(|e| panic!("{expr}: {}", e.message))
}

fn error(m: &mut Mock, expr: &str) -> String {
    eval_arith(m, expr).unwrap_err().message
}

#[test]
fn operators_and_precedence() {
    let mut m = Mock::new();
    let cases: &[(&str, i64)] = &[
        ("", 0),
        ("1 , 2", 2),
        ("5 > 3 && 2 > 1", 1),
        ("6 & 3", 2),
        ("6 | 3", 7),
        ("6 ^ 3", 5),
        ("1 == 1", 1),
        ("2 != 2", 0),
        ("3 <= 3", 1),
        ("9 % 4", 1),
        ("9 / -4", -2),
        ("-9 % 4", -1),
        ("-7 / 2", -3),
        ("-7 % 2", -1),
        ("7 > 3 ? 10 : 20", 10),
        ("1 ? 0 ? 7 : 8 : 9", 8),
        ("(1+2)*3", 9),
        ("1+2*3", 7),
        ("10-4-3", 3),
        ("2*3%4", 2),
        ("1<2 == 1", 1),
        ("1 | 2 ^ 3 & 4", 3),
        ("2**3**2", 512),
        ("-2**2", 4),
        ("!0 + !5", 1),
        ("~5", -6),
        ("-(3)", -3),
        ("+4", 4),
    ];
    for (expr, expected) in cases {
        assert_eq!(eval(&mut m, expr), *expected, "{expr}");
    }
}

#[test]
fn literals_and_wrapping() {
    let mut m = Mock::new();
    let cases: &[(&str, i64)] = &[
        ("16#ff", 255),
        ("0x1F", 31),
        ("010", 8),
        ("64#_", 63),
        ("2#101", 5),
        ("36#z", 35),
        ("1<<64", 1),
        ("1<<63", i64::MIN),
        ("-9223372036854775807-1", i64::MIN),
        ("(-9223372036854775807-1)/-1", i64::MIN),
        ("2**63", i64::MIN),
        ("-1>>1", -1),
        ("9223372036854775807+1", i64::MIN),
    ];
    for (expr, expected) in cases {
        assert_eq!(eval(&mut m, expr), *expected, "{expr}");
    }
}

#[test]
fn variables_and_assignment() {
    let mut m = Mock::new();
    m.set("x", "3+4").set("y", "x");
    assert_eq!(eval(&mut m, "x*2"), 14);
    assert_eq!(eval(&mut m, "y*2"), 14);
    assert_eq!(eval(&mut m, "zz+1"), 1);
    assert_eq!(eval(&mut m, "a=5, a+=2, a*=3"), 21);
    assert_eq!(m.vars.get("a"), Some("21"));
    assert_eq!(eval(&mut m, "i++ + ++i"), 2);
    assert_eq!(m.vars.get("i"), Some("2"));
    // Short-circuit: the assignment does not happen.
    assert_eq!(eval(&mut m, "0 && (b=1)"), 0);
    assert_eq!(eval(&mut m, "1 || (b=1)"), 1);
    assert_eq!(eval(&mut m, "1 ? 2 : (b=1)"), 2);
    assert!(m.vars.get("b").is_none());

    m.set("x", "5");
    let steps: &[(&str, i64, &str)] = &[
        ("x += 2", 7, "7"),
        ("x << 2", 28, "7"),
        ("x--", 7, "6"),
        ("--x", 5, "5"),
        ("x -= 1", 4, "4"),
        ("x /= 3", 1, "1"),
        ("x |= 6", 7, "7"),
        ("x &= 5", 5, "5"),
        ("x ^= 1", 4, "4"),
        ("x <<= 2", 16, "16"),
        ("x >>= 1", 8, "8"),
        ("x %= 3", 2, "2"),
        ("x **= 2", 0, "2"),
    ];
    for (expr, value, after) in &steps[..12] {
        assert_eq!(eval(&mut m, expr), *value, "{expr}");
        assert_eq!(m.vars.get("x"), Some(*after), "{expr}");
    }
    // `**=` is not an operator.
    assert!(eval_arith(&mut m, steps[12].0).is_err());

    let values: &[(&str, i64)] = &[
        ("010", 8),
        ("0x10", 16),
        (" ", 0),
        ("", 0),
        ("-5", -5),
        ("1,2", 2),
        (" 12 ", 12),
    ];
    for (value, expected) in values {
        m.set("v", value);
        assert_eq!(eval(&mut m, "v"), *expected, "v={value:?}");
    }
    m.set("v", "abc").set("abc", "7");
    assert_eq!(eval(&mut m, "v"), 7);
}

#[test]
fn arrays_in_arithmetic() {
    let mut m = Mock::new();
    m.array("a", &["1", "2", "3"]).set("i", "0");
    // The subscript of a compound assignment is evaluated once.
    assert_eq!(eval(&mut m, "a[i++] += 10"), 11);
    assert_eq!(m.vars.get("i"), Some("1"));
    assert_eq!(m.word("${a[0]}"), "11");
    assert_eq!(eval(&mut m, "a[2]*2"), 6);
    assert_eq!(eval(&mut m, "a[-1]"), 3);
    assert_eq!(eval(&mut m, "b[3]=7"), 7);
    assert_eq!(m.word("${b[3]} ${#b[@]}"), "7 1");
    m.assoc("m", &[("k", "5")]);
    assert_eq!(eval(&mut m, "m[k] + 1"), 6);
}

#[test]
fn expansion_before_evaluation() {
    let mut m = Mock::new();
    m.set("x", "4").set("op", "+");
    assert_eq!(eval(&mut m, "$x $op 1"), 5);
    assert_eq!(eval(&mut m, "\"1\" + 2"), 3);
    assert_eq!(eval(&mut m, "$(echo 2) * ${x}"), 8);
    assert_eq!(m.word("$(( x > 3 ))"), "1");
}

#[test]
fn errors() {
    let mut m = Mock::new();
    assert_eq!(
        error(&mut m, "1/0"),
        "1/0: division by 0 (error token is \"0\")"
    );
    assert_eq!(
        error(&mut m, "5%0"),
        "5%0: division by 0 (error token is \"0\")"
    );
    assert_eq!(
        error(&mut m, "x/=0"),
        "x/=0: division by 0 (error token is \"0\")"
    );
    assert!(error(&mut m, "2**-1").starts_with("2**-1: exponent less than 0"));
    assert_eq!(
        error(&mut m, "08"),
        "08: value too great for base (error token is \"08\")"
    );
    assert_eq!(
        error(&mut m, "3#4"),
        "3#4: value too great for base (error token is \"3#4\")"
    );
    assert_eq!(
        error(&mut m, "65#1"),
        "65#1: invalid arithmetic base (error token is \"65#1\")"
    );
    assert_eq!(
        error(&mut m, "a b c"),
        "a b c: syntax error in expression (error token is \"b c\")"
    );
    assert!(error(&mut m, "1+").starts_with("1+: syntax error"));
    assert_eq!(
        error(&mut m, "1 = 2 "),
        "1 = 2 : attempted assignment to non-variable (error token is \"= 2 \")"
    );
    assert_eq!(
        error(&mut m, " 08 + 1"),
        "08: value too great for base (error token is \"08\")"
    );
    assert_eq!(
        error(&mut m, "'a'"),
        "'a': syntax error: operand expected (error token is \"'a'\")"
    );
    m.set("x", "x");
    assert!(error(&mut m, "x").starts_with("x: expression recursion level exceeded"));
    // An index before the start reads 0 (bash warns on stderr).
    m.array("a", &["1"]);
    assert_eq!(eval(&mut m, "a[-9]"), 0);
}

/// Endless recursion through a variable ends in an error, well within a
/// thread stack of 1 MiB even unoptimised.
#[test]
fn recursion_limit_fits_a_small_stack() {
    let r = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(|| {
            let mut m = Mock::new();
            m.set("x", "x+1");
            eval_arith(&mut m, "x").unwrap_err().message
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(r.contains("recursion"));
}
