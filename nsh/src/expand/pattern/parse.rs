//! Shell patterns read into a tree, with bash 5.2's rules for what is an
//! operator: `?`, `*`, bracket expressions (`[...]`, `[!...]`, `[^...]`, a
//! `]` first in the brackets is a member, `[:class:]`, `[=c=]`, `[.c.]`,
//! ranges, backslash escapes), and with extglob the groups `?(..)`,
//! `*(..)`, `+(..)`, `@(..)`, `!(..)` of `|`-separated alternatives, which
//! nest. What is not an operator is a character matched as itself: a `[`
//! without its closing `]` (or the `[` of `[]`), and the rest of a pattern
//! from a group operator whose `(` is never closed. Both matchers (the
//! regular expression and the tree walk) work from this tree.

/// One element of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A character matched as itself.
    Char(char),
    /// `?`: any one character.
    Any,
    /// `*`: any string, the empty one too.
    Star,
    /// A bracket expression: one character of a set.
    Set(Bracket),
    /// An extglob group.
    Group(Group),
}

/// The operator of an extglob group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `?(..)`: zero or one of the alternatives.
    Optional,
    /// `*(..)`: zero or more.
    Any,
    /// `+(..)`: one or more.
    Some,
    /// `@(..)`: exactly one.
    One,
    /// `!(..)`: any string none of the alternatives matches.
    Not,
}

/// An extglob group: `op(alt|alt|..)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub op: Op,
    pub alts: Vec<Vec<Node>>,
    /// Numbers the groups of one pattern from 0 (the tree walk remembers
    /// what each group matched where).
    pub id: usize,
}

/// A bracket expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bracket {
    /// `[!...]` or `[^...]`.
    pub negate: bool,
    /// The members; a reversed range, an unknown class or collating
    /// symbol is left out (it matches nothing).
    pub items: Vec<Item>,
}

/// A member of a bracket expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    Char(char),
    /// `a-z`, its ends in order.
    Range(char, char),
    Class(Class),
}

/// The POSIX character classes bash knows, in their ASCII meaning (the
/// regex crate's `[[:name:]]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Alnum,
    Alpha,
    Ascii,
    Blank,
    Cntrl,
    Digit,
    Graph,
    Lower,
    Print,
    Punct,
    Space,
    Upper,
    Word,
    Xdigit,
}

const CLASSES: [(&str, Class); 14] = [
    ("alnum", Class::Alnum),
    ("alpha", Class::Alpha),
    ("ascii", Class::Ascii),
    ("blank", Class::Blank),
    ("cntrl", Class::Cntrl),
    ("digit", Class::Digit),
    ("graph", Class::Graph),
    ("lower", Class::Lower),
    ("print", Class::Print),
    ("punct", Class::Punct),
    ("space", Class::Space),
    ("upper", Class::Upper),
    ("word", Class::Word),
    ("xdigit", Class::Xdigit),
];

impl Class {
    fn named(name: &str) -> Option<Class> {
        CLASSES.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
    }

    pub fn name(self) -> &'static str {
        CLASSES
            .iter()
            .find(|(_, c)| *c == self)
            .map_or("", |(n, _)| n)
    }

    /// Whether `c` belongs to the class.
    pub fn contains(self, c: char) -> bool {
        match self {
            Class::Alnum => c.is_ascii_alphanumeric(),
            Class::Alpha => c.is_ascii_alphabetic(),
            Class::Ascii => c.is_ascii(),
            Class::Blank => c == ' ' || c == '\t',
            Class::Cntrl => c.is_ascii_control(),
            Class::Digit => c.is_ascii_digit(),
            Class::Graph => c.is_ascii_graphic(),
            Class::Lower => c.is_ascii_lowercase(),
            Class::Print => c.is_ascii_graphic() || c == ' ',
            Class::Punct => c.is_ascii_punctuation(),
            Class::Space => matches!(c, ' ' | '\t'..='\r'),
            Class::Upper => c.is_ascii_uppercase(),
            Class::Word => c.is_ascii_alphanumeric() || c == '_',
            Class::Xdigit => c.is_ascii_hexdigit(),
        }
    }
}

/// `c` in lower case when it has a one-character lower case.
pub fn fold(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

impl Bracket {
    /// Whether the expression matches `c`; with `nocase` characters and
    /// range ends compare in lower case (classes test `c` as it is).
    pub fn matches(&self, c: char, nocase: bool) -> bool {
        let test = if nocase { fold(c) } else { c };
        let hit = self.items.iter().any(|item| match *item {
            Item::Char(m) => test == if nocase { fold(m) } else { m },
            Item::Range(lo, hi) => {
                let (lo, hi) = if nocase {
                    (fold(lo), fold(hi))
                } else {
                    (lo, hi)
                };
                lo <= test && test <= hi
            }
            Item::Class(class) => class.contains(c),
        });
        hit != self.negate
    }
}

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    pub nodes: Vec<Node>,
    /// How many groups (their ids are `0..groups`).
    pub groups: usize,
    /// Whether a `!(..)` group occurs (no regular expression for it).
    pub has_not: bool,
}

impl Tree {
    /// The text the pattern matches when it has no operator.
    pub fn literal(&self) -> Option<String> {
        self.nodes
            .iter()
            .map(|n| match n {
                Node::Char(c) => Some(*c),
                _ => None,
            })
            .collect()
    }
}

/// Reads `pattern`; with `extglob` the groups are operators.
pub fn parse(pattern: &str, extglob: bool) -> Tree {
    let chars: Vec<char> = pattern.chars().collect();
    let mut parser = Parser {
        chars: &chars,
        extglob,
        groups: 0,
        has_not: false,
    };
    let nodes = parser.seq(0, chars.len());
    Tree {
        nodes,
        groups: parser.groups,
        has_not: parser.has_not,
    }
}

struct Parser<'a> {
    chars: &'a [char],
    extglob: bool,
    groups: usize,
    has_not: bool,
}

impl Parser<'_> {
    /// The nodes of `chars[from..to]`.
    fn seq(&mut self, from: usize, to: usize) -> Vec<Node> {
        let c = self.chars;
        let mut out = Vec::new();
        let mut i = from;
        while i < to {
            let ch = c[i];
            if self.extglob && i + 1 < to && c[i + 1] == '(' {
                let op = match ch {
                    '?' => Some(Op::Optional),
                    '*' => Some(Op::Any),
                    '+' => Some(Op::Some),
                    '@' => Some(Op::One),
                    '!' => Some(Op::Not),
                    _ => None,
                };
                if let Some(op) = op {
                    let Some(bars) = scan_group(c, i + 2, to) else {
                        // No closing `)`: the rest is text, as in bash.
                        out.extend(c[i..to].iter().map(|&x| Node::Char(x)));
                        break;
                    };
                    let close = *bars.last().unwrap_or(&i);
                    let mut alts = Vec::with_capacity(bars.len());
                    let mut start = i + 2;
                    for &end in &bars {
                        alts.push(self.seq(start, end));
                        start = end + 1;
                    }
                    let id = self.groups;
                    self.groups += 1;
                    self.has_not |= op == Op::Not;
                    out.push(Node::Group(Group { op, alts, id }));
                    i = close + 1;
                    continue;
                }
            }
            match ch {
                '\\' if i + 1 < to => {
                    out.push(Node::Char(c[i + 1]));
                    i += 2;
                    continue;
                }
                '?' => out.push(Node::Any),
                '*' => out.push(Node::Star),
                '[' => {
                    if let Some((bracket, end)) = bracket(c, i + 1, to) {
                        out.push(Node::Set(bracket));
                        i = end;
                        continue;
                    }
                    out.push(Node::Char('['));
                }
                _ => out.push(Node::Char(ch)),
            }
            i += 1;
        }
        out
    }
}

/// The alternatives' ends of a group whose text starts at `from` (after
/// its `(`): the index of each `|` at its level, then of its `)`; `None`
/// when it is not closed before `to`. Escaped characters are skipped, and
/// so is a bracket expression; a `[` that never closes leaves the group
/// open, as bash scans it.
fn scan_group(c: &[char], from: usize, to: usize) -> Option<Vec<usize>> {
    let mut bars = Vec::new();
    let mut depth = 0usize;
    let mut i = from;
    while i < to {
        match c[i] {
            '\\' => i += 1,
            '[' => i = bracket_scan_end(c, i, to)?,
            '(' => depth += 1,
            ')' if depth == 0 => {
                bars.push(i);
                return Some(bars);
            }
            ')' => depth -= 1,
            '|' if depth == 0 => bars.push(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Where the bracket expression opened at `open` ends (its `]`) for a
/// group scan: a `]` right after `[`, `[!` or `[^` is a member, and a `]`
/// after the `:`, `.` or `=` that a `[:`, `[.` or `[=` inside opened
/// closes that one.
fn bracket_scan_end(c: &[char], open: usize, to: usize) -> Option<usize> {
    let mut j = open + 1;
    if j < to && matches!(c[j], '!' | '^') {
        j += 1;
    }
    let first = j;
    let mut inner: Option<char> = None;
    while j < to {
        match c[j] {
            '\\' => j += 1,
            '[' if j + 1 < to && matches!(c[j + 1], ':' | '.' | '=') => inner = Some(c[j + 1]),
            ']' if inner.is_some() && inner == Some(c[j - 1]) => inner = None,
            ']' if j != first => return Some(j),
            _ => {}
        }
        j += 1;
    }
    None
}

/// The bracket expression whose text starts at `from` (after its `[`):
/// the expression and the index after its `]`, or `None` when there is
/// no closing `]` (the `[` is then a character).
fn bracket(c: &[char], from: usize, to: usize) -> Option<(Bracket, usize)> {
    let mut j = from;
    let negate = j < to && matches!(c[j], '!' | '^');
    if negate {
        j += 1;
    }
    let mut items = Vec::new();
    let mut first = true;
    while j < to {
        if c[j] == ']' && !first {
            return Some((Bracket { negate, items }, j + 1));
        }
        first = false;
        let at = |k: usize| c.get(k).copied().filter(|_| k < to);
        if c[j] == '['
            && at(j + 1) == Some(':')
            && let Some(close) = find_pair(c, j + 2, to, ':')
        {
            let name: String = super::unescape(&c[j + 2..close].iter().collect::<String>());
            items.extend(Class::named(&name).map(Item::Class));
            j = close + 2;
            continue;
        }
        if c[j] == '[' && at(j + 1) == Some('=') && at(j + 3) == Some('=') && at(j + 4) == Some(']')
        {
            items.push(Item::Char(c[j + 2]));
            j += 5;
            continue;
        }
        let (lo, next) = member(c, j, to)?;
        if next + 1 < to && c[next] == '-' && c[next + 1] != ']' {
            let (hi, after) = member(c, next + 1, to)?;
            if let (Some(lo), Some(hi)) = (lo, hi)
                && lo <= hi
            {
                items.push(Item::Range(lo, hi));
            }
            j = after;
            continue;
        }
        items.extend(lo.map(Item::Char));
        j = next;
    }
    None
}

/// One character of a bracket expression at `j` (escaped, or a collating
/// symbol `[.c.]`) and the index after it; the character is `None` for a
/// collating symbol of several characters (which nsh does not know).
/// `None` when the expression ends inside it.
fn member(c: &[char], j: usize, to: usize) -> Option<(Option<char>, usize)> {
    match c[j] {
        '\\' if j + 1 < to => Some((Some(c[j + 1]), j + 2)),
        '\\' => None,
        '[' if j + 1 < to && c[j + 1] == '.' => {
            let close = find_pair(c, j + 2, to, '.')?;
            let symbol = &c[j + 2..close];
            Some(((symbol.len() == 1).then(|| symbol[0]), close + 2))
        }
        ch => Some((Some(ch), j + 1)),
    }
}

/// The index of the first `mark` followed by `]` at or after `from`.
fn find_pair(c: &[char], from: usize, to: usize, mark: char) -> Option<usize> {
    (from..to.saturating_sub(1)).find(|&k| c[k] == mark && c[k + 1] == ']')
}

/// Whether a word holds a character that makes it a pattern for pathname
/// expansion, as bash decides it: `*`, `?`, a `]` after a `[` (in the same
/// path component), or `+(`, `@(`, `!(`; backslash-escaped characters do
/// not count.
pub fn is_glob_word(word: &str) -> bool {
    let mut open = false;
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' | '?' => return true,
            '[' => open = true,
            ']' if open => return true,
            '/' => open = false,
            '+' | '@' | '!' if chars.peek() == Some(&'(') => return true,
            '\\' => {
                chars.next();
            }
            _ => {}
        }
    }
    false
}

/// The alternatives of an extglob group whose text (after its `(`) starts
/// `text`, and what follows its `)`; `None` when it is not closed.
pub fn group_parts(text: &str) -> Option<(Vec<&str>, &str)> {
    let chars: Vec<char> = text.chars().collect();
    let offsets: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .collect();
    let bars = scan_group(&chars, 0, chars.len())?;
    let mut alts = Vec::with_capacity(bars.len());
    let mut start = 0;
    for &end in &bars {
        alts.push(&text[offsets[start]..offsets[end]]);
        start = end + 1;
    }
    Some((alts, &text[offsets[start]..]))
}
