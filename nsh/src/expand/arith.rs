//! Shell arithmetic (`$(( ))`, `(( ))`, `let`, array subscripts) over the
//! expression trees brush-parser builds: 64-bit integers wrapping like
//! bash's, C operators with short-circuit `&&`, `||` and `?:`, assignment
//! operators that update shell variables, and variables whose values are
//! themselves expressions (evaluated recursively; empty or unset is 0).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use brush_parser::ast::{
    ArithmeticExpr, ArithmeticTarget, BinaryOperator, UnaryAssignmentOperator, UnaryOperator,
};

use super::access::{self, Key};
use super::{ExpandContext, ExpandError};

/// How deep variables may refer to expressions referring to variables
/// (bash allows 1024; this stays within a 2 MiB thread stack).
const MAX_DEPTH: usize = 256;

/// Evaluates expression text that has already been expanded.
pub fn eval_expanded(ctx: &mut dyn ExpandContext, text: &str) -> Result<i64, ExpandError> {
    eval_at_depth(ctx, text, 0)
}

fn eval_at_depth(
    ctx: &mut dyn ExpandContext,
    text: &str,
    depth: usize,
) -> Result<i64, ExpandError> {
    if let Some(n) = plain_decimal(text) {
        return Ok(n);
    }
    if depth >= MAX_DEPTH {
        return Err(too_deep(text));
    }
    // An empty expression (`$(( ))`, `(( ))`) is 0, as in bash.
    if text.trim_matches([' ', '\t', '\n']).is_empty() {
        return Ok(0);
    }
    let expr = parse(text)?;
    // Messages show the expression without its leading blanks, as bash's.
    let text = text.trim_start_matches([' ', '\t', '\n']);
    Eval { ctx, text, depth }.eval(&expr)
}

#[cold]
fn too_deep(text: &str) -> ExpandError {
    ExpandError::new(format!(
        "{text}: expression recursion level exceeded (error token is \"{}\")",
        text.trim()
    ))
}

/// Parsed expressions, per thread; dropped whole when it grows past this.
const CACHE_LIMIT: usize = 512;

thread_local! {
    static CACHE: RefCell<HashMap<String, Rc<ArithmeticExpr>>> = RefCell::new(HashMap::new());
}

/// The parsed expression (cached: loops evaluate the same text again).
fn parse(text: &str) -> Result<Rc<ArithmeticExpr>, ExpandError> {
    if let Some(found) = CACHE.with(|c| c.borrow().get(text).cloned()) {
        return Ok(found);
    }
    // bash reads a bare `0x` as 0; the parser wants hex digits.
    let parsed = brush_parser::arithmetic::parse(text).or_else(|err| {
        bare_hex_prefixes_as_zero(text)
            .and_then(|zeroed| brush_parser::arithmetic::parse(&zeroed).ok())
            .ok_or(err)
    });
    let expr = Rc::new(parsed.map_err(|err| syntax_error(text, &err))?);
    CACHE.with(|c| {
        let mut cache = c.borrow_mut();
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(text.to_string(), expr.clone());
    });
    Ok(expr)
}

/// `text` with every `0x` or `0X` that has no digit after it (a word of
/// its own) read as `0`; `None` if it has none.
fn bare_hex_prefixes_as_zero(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'#' | b'@');
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut i = 0;
    while i < bytes.len() {
        let bare = bytes[i] == b'0'
            && matches!(bytes.get(i + 1), Some(b'x' | b'X'))
            && (i == 0 || !word(bytes[i - 1]))
            && !bytes.get(i + 2).is_some_and(|b| word(*b));
        if bare {
            out.push('0');
            changed = true;
            i += 2;
        } else {
            let ch = text[i..].chars().next().unwrap_or_default();
            out.push(ch);
            i += ch.len_utf8().max(1);
        }
    }
    changed.then_some(out)
}

/// A decimal number with optional sign and surrounding blanks: the common
/// case, taken without the parser. A leading 0 means octal, so not here.
fn plain_decimal(text: &str) -> Option<i64> {
    let t = text.trim_matches([' ', '\t', '\n']);
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return None;
    }
    t.parse().ok()
}

/// The message for text brush-parser does not accept, worded like bash's.
fn syntax_error(text: &str, err: &brush_parser::WordParseError) -> ExpandError {
    let skipped = text.len() - text.trim_start_matches([' ', '\t', '\n']).len();
    if let Some(message) = bad_number(text.trim_start_matches([' ', '\t', '\n'])) {
        return ExpandError::new(message);
    }
    // The parse error keeps where peg stopped only in its Debug form
    // ("offset: N"); from there on is the token bash would name.
    let token = error_offset(&format!("{err:?}"))
        .and_then(|at| text.get(at.max(skipped)..))
        .filter(|token| !token.trim().is_empty());
    let text = &text[skipped..];
    match token {
        Some(token) if token.starts_with('=') && !token.starts_with("==") => ExpandError::new(
            format!("{text}: attempted assignment to non-variable (error token is \"{token}\")"),
        ),
        Some(token) => ExpandError::new(format!(
            "{text}: syntax error in expression (error token is \"{token}\")"
        )),
        None => ExpandError::new(format!("{text}: syntax error: operand expected")),
    }
}

/// The byte offset in peg's "offset: N" of a parse error's Debug form.
fn error_offset(debug: &str) -> Option<usize> {
    let rest = debug.split("offset: ").nth(1)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// A number literal with a bad base or digit, in bash's words (which name
/// the literal alone).
fn bad_number(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let at_word_start =
            i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if !(at_word_start && bytes[i].is_ascii_digit()) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len()
            && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'#' | b'@' | b'_'))
        {
            i += 1;
        }
        let token = &text[start..i];
        let (base, digits) = match token.split_once('#') {
            Some((base, digits)) => match base.parse::<u32>() {
                Ok(b) if (2..=64).contains(&b) => (b, digits),
                _ => {
                    return Some(format!(
                        "{token}: invalid arithmetic base (error token is \"{token}\")"
                    ));
                }
            },
            None if token.len() > 1 && (token.starts_with("0x") || token.starts_with("0X")) => {
                (16, &token[2..])
            }
            None if token.starts_with('0') => (8, token),
            None => (10, token),
        };
        let valid = digits
            .chars()
            .all(|c| digit_value(c, base).is_some_and(|d| d < base));
        if !valid {
            return Some(format!(
                "{token}: value too great for base (error token is \"{token}\")"
            ));
        }
    }
    None
}

fn digit_value(c: char, base: u32) -> Option<u32> {
    match c {
        '0'..='9' => c.to_digit(10),
        'a'..='z' => Some(c as u32 - 'a' as u32 + 10),
        'A'..='Z' if base <= 36 => Some(c as u32 - 'A' as u32 + 10),
        'A'..='Z' => Some(c as u32 - 'A' as u32 + 36),
        '@' => Some(62),
        '_' => Some(63),
        _ => None,
    }
}

struct Eval<'a> {
    ctx: &'a mut dyn ExpandContext,
    /// The expression text, for messages.
    text: &'a str,
    depth: usize,
}

impl Eval<'_> {
    // Evaluation recurses through variables holding expressions: each
    // form has its own small function so the recursive frames stay small.
    fn eval(&mut self, expr: &ArithmeticExpr) -> Result<i64, ExpandError> {
        match expr {
            ArithmeticExpr::Literal(n) => Ok(*n),
            ArithmeticExpr::Reference(target) => self.read(target),
            ArithmeticExpr::UnaryOp(op, x) => self.unary(op, x),
            ArithmeticExpr::BinaryOp(op, x, y) => self.binary_expr(*op, x, y),
            ArithmeticExpr::Conditional(c, x, y) => self.conditional(c, x, y),
            ArithmeticExpr::Assignment(target, x) => self.assign(target, x),
            ArithmeticExpr::BinaryAssignment(op, target, x) => self.binary_assign(*op, target, x),
            ArithmeticExpr::UnaryAssignment(op, target) => self.unary_assign(op, target),
        }
    }

    fn unary(&mut self, op: &UnaryOperator, x: &ArithmeticExpr) -> Result<i64, ExpandError> {
        let x = self.eval(x)?;
        Ok(match op {
            UnaryOperator::UnaryPlus => x,
            UnaryOperator::UnaryMinus => x.wrapping_neg(),
            UnaryOperator::BitwiseNot => !x,
            UnaryOperator::LogicalNot => i64::from(x == 0),
        })
    }

    fn binary_expr(
        &mut self,
        op: BinaryOperator,
        x: &ArithmeticExpr,
        y: &ArithmeticExpr,
    ) -> Result<i64, ExpandError> {
        match op {
            BinaryOperator::LogicalAnd => Ok(i64::from(self.eval(x)? != 0 && self.eval(y)? != 0)),
            BinaryOperator::LogicalOr => Ok(i64::from(self.eval(x)? != 0 || self.eval(y)? != 0)),
            BinaryOperator::Comma => {
                self.eval(x)?;
                self.eval(y)
            }
            _ => {
                let a = self.eval(x)?;
                let b = self.eval(y)?;
                self.binary(op, a, b, y)
            }
        }
    }

    fn conditional(
        &mut self,
        c: &ArithmeticExpr,
        x: &ArithmeticExpr,
        y: &ArithmeticExpr,
    ) -> Result<i64, ExpandError> {
        if self.eval(c)? != 0 {
            self.eval(x)
        } else {
            self.eval(y)
        }
    }

    fn assign(
        &mut self,
        target: &ArithmeticTarget,
        x: &ArithmeticExpr,
    ) -> Result<i64, ExpandError> {
        let value = self.eval(x)?;
        let slot = self.slot(target)?;
        self.write_slot(&slot, value)?;
        Ok(value)
    }

    fn binary_assign(
        &mut self,
        op: BinaryOperator,
        target: &ArithmeticTarget,
        x: &ArithmeticExpr,
    ) -> Result<i64, ExpandError> {
        let slot = self.slot(target)?;
        let old = self.read_slot(&slot)?;
        let operand = self.eval(x)?;
        let value = self.binary(op, old, operand, x)?;
        self.write_slot(&slot, value)?;
        Ok(value)
    }

    fn unary_assign(
        &mut self,
        op: &UnaryAssignmentOperator,
        target: &ArithmeticTarget,
    ) -> Result<i64, ExpandError> {
        let slot = self.slot(target)?;
        let old = self.read_slot(&slot)?;
        let (new, result) = match op {
            UnaryAssignmentOperator::PrefixIncrement => (old.wrapping_add(1), old.wrapping_add(1)),
            UnaryAssignmentOperator::PrefixDecrement => (old.wrapping_sub(1), old.wrapping_sub(1)),
            UnaryAssignmentOperator::PostfixIncrement => (old.wrapping_add(1), old),
            UnaryAssignmentOperator::PostfixDecrement => (old.wrapping_sub(1), old),
        };
        self.write_slot(&slot, new)?;
        Ok(result)
    }

    fn binary(
        &self,
        op: BinaryOperator,
        a: i64,
        b: i64,
        rhs: &ArithmeticExpr,
    ) -> Result<i64, ExpandError> {
        let shift = |b: i64| (b & 63) as u32;
        Ok(match op {
            BinaryOperator::Power => {
                if b < 0 {
                    return Err(self.error("exponent less than 0", rhs));
                }
                power(a, b)
            }
            BinaryOperator::Multiply => a.wrapping_mul(b),
            BinaryOperator::Divide | BinaryOperator::Modulo if b == 0 => {
                return Err(self.error("division by 0", rhs));
            }
            BinaryOperator::Divide => a.wrapping_div(b),
            BinaryOperator::Modulo => a.wrapping_rem(b),
            BinaryOperator::Add => a.wrapping_add(b),
            BinaryOperator::Subtract => a.wrapping_sub(b),
            BinaryOperator::ShiftLeft => a.wrapping_shl(shift(b)),
            BinaryOperator::ShiftRight => a.wrapping_shr(shift(b)),
            BinaryOperator::LessThan => i64::from(a < b),
            BinaryOperator::LessThanOrEqualTo => i64::from(a <= b),
            BinaryOperator::GreaterThan => i64::from(a > b),
            BinaryOperator::GreaterThanOrEqualTo => i64::from(a >= b),
            BinaryOperator::Equals => i64::from(a == b),
            BinaryOperator::NotEquals => i64::from(a != b),
            BinaryOperator::BitwiseAnd => a & b,
            BinaryOperator::BitwiseXor => a ^ b,
            BinaryOperator::BitwiseOr => a | b,
            BinaryOperator::LogicalAnd => i64::from(a != 0 && b != 0),
            BinaryOperator::LogicalOr => i64::from(a != 0 || b != 0),
            BinaryOperator::Comma => b,
        })
    }

    fn error(&self, what: &str, token: &ArithmeticExpr) -> ExpandError {
        ExpandError::new(format!(
            "{}: {what} (error token is \"{token}\")",
            self.text
        ))
    }

    /// Where `target` lives, its subscript evaluated once.
    fn slot(&mut self, target: &ArithmeticTarget) -> Result<Slot, ExpandError> {
        Ok(match target {
            ArithmeticTarget::Variable(name) => Slot {
                name: name.clone(),
                key: None,
            },
            ArithmeticTarget::ArrayElement(name, index) => {
                let key = if access::is_assoc(self.ctx.vars(), name) {
                    // The subscript of an associative array is a string;
                    // the parser read it as an expression, whose text is
                    // the key.
                    Key::Name(index.to_string())
                } else {
                    Key::Index(self.eval(index)?)
                };
                Slot {
                    name: name.clone(),
                    key: Some(key),
                }
            }
        })
    }

    fn read(&mut self, target: &ArithmeticTarget) -> Result<i64, ExpandError> {
        let slot = self.slot(target)?;
        self.read_slot(&slot)
    }

    fn read_slot(&mut self, slot: &Slot) -> Result<i64, ExpandError> {
        match self.operand(slot)? {
            Operand::Number(n) => Ok(n),
            Operand::Expression(text) => eval_at_depth(self.ctx, &text, self.depth + 1),
        }
    }

    /// The value of a variable as a number, or the expression it holds.
    fn operand(&self, slot: &Slot) -> Result<Operand, ExpandError> {
        if slot.key.is_none()
            && let Some(value) = self.ctx.dynamic(&slot.name)
        {
            return Ok(Operand::Number(plain_decimal(&value).unwrap_or(0)));
        }
        let vars = self.ctx.vars();
        let value = match &slot.key {
            None => vars.get(&slot.name),
            Some(Key::Index(i)) => match access::resolve_index(vars, &slot.name, *i) {
                Some(i) => access::element(vars, &slot.name, &Key::Index(i)),
                // bash warns and reads 0.
                None => {
                    self.ctx
                        .warn(&format!("{}: bad array subscript", slot.name));
                    return Ok(Operand::Number(0));
                }
            },
            Some(key) => access::element(vars, &slot.name, key),
        };
        match value {
            None if self.ctx.nounset() => {
                Err(ExpandError::fatal(format!("{slot}: unbound variable")))
            }
            None => Ok(Operand::Number(0)),
            Some(value) => {
                if let Some(n) = plain_decimal(value) {
                    Ok(Operand::Number(n))
                } else if value.trim_matches([' ', '\t', '\n']).is_empty() {
                    Ok(Operand::Number(0))
                } else {
                    Ok(Operand::Expression(value.to_string()))
                }
            }
        }
    }

    fn write_slot(&mut self, slot: &Slot, value: i64) -> Result<(), ExpandError> {
        let vars = self.ctx.vars_mut();
        match &slot.key {
            None => access::set_scalar(vars, &slot.name, value.to_string()),
            Some(key) => access::set_element(vars, &slot.name, key.clone(), value.to_string()),
        }
    }
}

/// What a variable holds, for arithmetic.
enum Operand {
    Number(i64),
    Expression(String),
}

/// A variable or array element an expression reads or assigns.
struct Slot {
    name: String,
    key: Option<Key>,
}

impl std::fmt::Display for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.key {
            None => write!(f, "{}", self.name),
            Some(Key::Index(i)) => write!(f, "{}[{i}]", self.name),
            Some(Key::Name(k)) => write!(f, "{}[{k}]", self.name),
        }
    }
}

/// `a ** b` for `b >= 0`, wrapping.
fn power(mut base: i64, mut exp: i64) -> i64 {
    let mut result: i64 = 1;
    while exp > 0 {
        if exp & 1 == 1 {
            result = result.wrapping_mul(base);
        }
        base = base.wrapping_mul(base);
        exp >>= 1;
    }
    result
}
