//! Matching a pattern tree by walking it over the text: from a set of
//! positions where a part may start, each node gives the set of positions
//! where it may end. This is how `!(..)` is matched (it ends wherever none
//! of its alternatives could end, from the same start), and how the rules
//! of pathname expansion about a leading `.` apply. What a group matches
//! from a position is remembered, so nested and repeated groups cost
//! polynomial time, not the exponential time of backtracking.

use std::collections::HashMap;
use std::rc::Rc;

use super::parse::{Group, Node, Op, fold};

/// How the text is matched.
#[derive(Debug, Clone, Copy, Default)]
pub struct Flags {
    /// A `.` starting the text is matched only by a literal `.` (pathname
    /// expansion without dotglob).
    pub period: bool,
    /// A text that is `.` or `..` is matched only by a pattern starting
    /// with a literal `.` (pathname expansion with dotglob).
    pub dotdot: bool,
    /// `*`, `?` and bracket expressions do not match `/` (GLOBIGNORE),
    /// but a `*` ending the pattern or an alternative does.
    pub pathname: bool,
    /// Letters match either case.
    pub nocase: bool,
}

/// A set of positions `0..=len` in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Positions(Vec<u64>);

impl Positions {
    fn new(len: usize) -> Self {
        Positions(vec![0; len / 64 + 1])
    }

    fn insert(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }

    fn contains(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }

    fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    fn union(&mut self, other: &Positions) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= b;
        }
    }

    /// Adds `from..=to`.
    fn fill(&mut self, from: usize, to: usize) {
        for i in from..=to {
            self.insert(i);
        }
    }

    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(w, bits)| {
            (0..64)
                .filter(move |b| bits & (1u64 << b) != 0)
                .map(move |b| w * 64 + b)
        })
    }
}

/// Matches pattern trees against one text.
pub struct Walk<'t> {
    text: &'t [char],
    flags: Flags,
    /// Where a group's alternatives end, by group and start.
    alts: HashMap<(usize, usize), Rc<Positions>>,
    /// Where a group ends, by group and start.
    groups: HashMap<(usize, usize), Rc<Positions>>,
    /// Only whether alternatives match the empty string at a leading
    /// `.` is asked: there a `*` may match it (see
    /// [`Walk::alternatives`]).
    empty_at_dot: bool,
}

impl<'t> Walk<'t> {
    pub fn new(text: &'t [char], flags: Flags) -> Self {
        Walk {
            text,
            flags,
            alts: HashMap::new(),
            groups: HashMap::new(),
            empty_at_dot: false,
        }
    }

    /// Whether the whole text matches `nodes`.
    pub fn matches(&mut self, nodes: &[Node]) -> bool {
        self.ends(nodes, 0).contains(&self.text.len())
    }

    /// The positions where a match of `nodes` starting at `start` ends,
    /// in increasing order.
    pub fn ends(&mut self, nodes: &[Node], start: usize) -> Vec<usize> {
        let mut from = Positions::new(self.text.len());
        from.insert(start);
        self.seq(nodes, from).iter().collect()
    }

    fn seq(&mut self, nodes: &[Node], mut cur: Positions) -> Positions {
        for (i, node) in nodes.iter().enumerate() {
            if cur.is_empty() {
                break;
            }
            cur = self.step(node, &cur, i + 1 == nodes.len());
        }
        cur
    }

    /// Where `node` ends from the positions `cur`; `last` when it ends
    /// its sequence.
    fn step(&mut self, node: &Node, cur: &Positions, last: bool) -> Positions {
        let len = self.text.len();
        let mut next = Positions::new(len);
        match node {
            Node::Char(c) => {
                let c = self.fold(*c);
                for s in cur.iter() {
                    if s < len && self.fold(self.text[s]) == c {
                        next.insert(s + 1);
                    }
                }
            }
            Node::Any => {
                for s in cur.iter().filter(|&s| self.one(s)) {
                    next.insert(s + 1);
                }
            }
            Node::Set(bracket) => {
                for s in cur.iter().filter(|&s| self.one(s)) {
                    if bracket.matches(self.text[s], self.flags.nocase) {
                        next.insert(s + 1);
                    }
                }
            }
            Node::Star => {
                if self.empty_at_dot && cur.contains(0) {
                    next.insert(0);
                }
                for s in cur.iter().filter(|&s| !self.leading_dot(s)) {
                    // As in bash, a `*` that ends the pattern (or an
                    // alternative) matches `/` too.
                    if self.flags.pathname && !last {
                        let stop = (s..len).find(|&i| self.text[i] == '/').unwrap_or(len);
                        next.fill(s, stop);
                    } else {
                        // Every later position, whatever the other starts.
                        next.fill(s, len);
                        break;
                    }
                }
            }
            Node::Group(group) => {
                for s in cur.iter() {
                    let ends = self.group(group, s);
                    next.union(&ends);
                }
            }
        }
        next
    }

    fn fold(&self, c: char) -> char {
        if self.flags.nocase { fold(c) } else { c }
    }

    /// Whether `?` or a bracket expression may match the character at `s`.
    fn one(&self, s: usize) -> bool {
        s < self.text.len() && !(self.flags.pathname && self.text[s] == '/') && !self.leading_dot(s)
    }

    /// Whether position `s` holds a leading `.` that only a literal `.`
    /// may match.
    fn leading_dot(&self, s: usize) -> bool {
        if s != 0 || self.text.first() != Some(&'.') {
            return false;
        }
        self.flags.period || (self.flags.dotdot && matches!(self.text, ['.'] | ['.', '.']))
    }

    /// Where one of the group's alternatives, from `s`, ends.
    fn alternatives(&mut self, group: &Group, s: usize) -> Rc<Positions> {
        if let Some(found) = self.alts.get(&(group.id, s)) {
            return found.clone();
        }
        let mut ends = Positions::new(self.text.len());
        for alt in &group.alts {
            let mut from = Positions::new(self.text.len());
            from.insert(s);
            let alt_ends = self.seq(alt, from);
            ends.union(&alt_ends);
        }
        // bash matches an alternative against the text between its start
        // and each possible end; against the empty one, a `*` sees no
        // leading `.` and matches it (`+(*|x).a` matches `.a`).
        if s == 0 && self.flags.period && self.leading_dot(0) && !ends.contains(0) {
            let mut empty = Walk::new(self.text, self.flags);
            empty.empty_at_dot = true;
            for alt in &group.alts {
                let mut from = Positions::new(self.text.len());
                from.insert(0);
                if empty.seq(alt, from).contains(0) {
                    ends.insert(0);
                    break;
                }
            }
        }
        let ends = Rc::new(ends);
        self.alts.insert((group.id, s), ends.clone());
        ends
    }

    /// Where the group, from `s`, ends.
    fn group(&mut self, group: &Group, s: usize) -> Rc<Positions> {
        if let Some(found) = self.groups.get(&(group.id, s)) {
            return found.clone();
        }
        let len = self.text.len();
        let ends = match group.op {
            Op::One => (*self.alternatives(group, s)).clone(),
            Op::Optional => {
                let mut ends = (*self.alternatives(group, s)).clone();
                ends.insert(s);
                ends
            }
            Op::Some | Op::Any => {
                let mut ends = Positions::new(len);
                if group.op == Op::Any {
                    ends.insert(s);
                }
                let mut todo: Vec<usize> = self.alternatives(group, s).iter().collect();
                let mut done = Positions::new(len);
                while let Some(t) = todo.pop() {
                    ends.insert(t);
                    if done.contains(t) {
                        continue;
                    }
                    done.insert(t);
                    todo.extend(
                        self.alternatives(group, t)
                            .iter()
                            .filter(|&u| !done.contains(u)),
                    );
                }
                ends
            }
            Op::Not => {
                let mut ends = Positions::new(len);
                if !self.leading_dot(s) {
                    let matched = self.alternatives(group, s);
                    for e in (s..=len).filter(|&e| !matched.contains(e)) {
                        ends.insert(e);
                    }
                }
                ends
            }
        };
        let ends = Rc::new(ends);
        self.groups.insert((group.id, s), ends.clone());
        ends
    }
}
