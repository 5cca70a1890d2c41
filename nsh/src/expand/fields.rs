//! Fields under construction: the text of each field with the quotedness of
//! every character, IFS field splitting of unquoted expansion results, and
//! the `"$@"` field breaks.
//!
//! A [`Builder`] receives the expansion of one word piece by piece. Quoted
//! text goes in as is; unquoted expansion results are split on IFS as they
//! arrive (POSIX 2.6.5); unquoted literal text of the word is kept whole.
//! Each [`Field`] keeps two renderings: `text` (after quote removal) and
//! `pattern` (quoted characters backslash-escaped), so pathname expansion
//! and pattern matching can tell literal `*` from glob `*`.

/// Appends `s` to `pattern`, escaping the characters that could otherwise
/// be pattern operators: all ASCII punctuation (glob and extglob operators,
/// bracket expression syntax, the escape itself, and `&`, which stands for
/// the match in a `${x/pat/rep}` replacement), but `/`, which pathname
/// expansion splits at and patterns never treat specially.
pub(super) fn escape_pattern_into(pattern: &mut String, s: &str) {
    for c in s.chars() {
        if c.is_ascii_punctuation() && c != '/' {
            pattern.push('\\');
        }
        pattern.push(c);
    }
}

/// `s` with its pattern operators escaped: a pattern matching `s` literally.
pub fn escape_pattern(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_pattern_into(&mut out, s);
    out
}

/// Whether unquoted text holds a character that may start a glob.
fn has_glob_char(s: &str, extglob: bool) -> bool {
    s.contains(['*', '?', '[']) || (extglob && s.contains('(') && s.contains(['+', '@', '!']))
}

/// One field of the result.
#[derive(Debug, Default, Clone)]
pub(super) struct Field {
    /// The text after quote removal.
    pub text: String,
    /// The text as a pattern: quoted characters escaped.
    pub pattern: String,
    /// Whether an unquoted character may be a glob operator.
    pub glob: bool,
    /// Whether the field exists even when empty (quoted text or literal
    /// text went into it).
    started: bool,
}

/// IFS split into its whitespace and other characters.
#[derive(Debug, Clone)]
pub(super) struct Ifs {
    white: Vec<char>,
    other: Vec<char>,
    /// The first character, which separates the elements of unquoted `$@`.
    first: Option<char>,
}

impl Ifs {
    /// From the value of `IFS` (`None` when unset: space, tab, newline).
    pub fn new(ifs: Option<&str>) -> Self {
        let ifs = ifs.unwrap_or(" \t\n");
        let (white, other) = ifs.chars().partition(|c| matches!(c, ' ' | '\t' | '\n'));
        Ifs {
            white,
            other,
            first: ifs.chars().next(),
        }
    }

    fn is_empty(&self) -> bool {
        self.white.is_empty() && self.other.is_empty()
    }
}

/// Accumulates the fields of one word.
#[derive(Debug)]
pub(super) struct Builder {
    /// `None`: no field splitting (assignment values, `case` words, ...).
    split: Option<Ifs>,
    extglob: bool,
    fields: Vec<Field>,
    cur: Field,
    /// The last field ended at IFS whitespace (so a following non-white
    /// IFS character belongs to the same delimiter).
    delimited: bool,
    /// An `"$@"`-like expansion with no elements happened in the double
    /// quotes being expanded: the quotes then do not make an empty field.
    pub vanish: bool,
}

impl Builder {
    /// A builder that splits unquoted expansion results on `ifs`.
    pub fn splitting(ifs: Ifs, extglob: bool) -> Self {
        Builder {
            split: Some(ifs),
            ..Builder::single(extglob)
        }
    }

    /// A builder that makes one field and never splits.
    pub fn single(extglob: bool) -> Self {
        Builder {
            split: None,
            extglob,
            fields: Vec::new(),
            cur: Field::default(),
            delimited: false,
            vanish: false,
        }
    }

    /// Whether fields are split (so `"$@"` makes several fields).
    pub fn splits(&self) -> bool {
        self.split.is_some()
    }

    /// Quoted text: taken literally, never split.
    pub fn quoted(&mut self, s: &str) {
        if !s.is_empty() {
            self.cur.text.push_str(s);
            escape_pattern_into(&mut self.cur.pattern, s);
            self.mark_started();
        }
    }

    /// Unquoted literal text of the word itself: glob characters are
    /// active, no splitting.
    pub fn literal(&mut self, s: &str) {
        self.push_unquoted(s);
        self.mark_started();
    }

    fn push_unquoted(&mut self, s: &str) {
        self.cur.text.push_str(s);
        self.cur.pattern.push_str(s);
        if !self.cur.glob && has_glob_char(s, self.extglob) {
            self.cur.glob = true;
        }
    }

    /// An unquoted expansion result: split on IFS, glob characters active.
    pub fn expansion(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        let ifs = match self.split.take() {
            Some(ifs) if !ifs.is_empty() => ifs,
            unsplit => {
                self.split = unsplit;
                self.push_unquoted(s);
                self.mark_started();
                return;
            }
        };
        // Runs of non-delimiter characters are pushed whole.
        let mut run = 0;
        for (i, c) in s.char_indices() {
            let is_white = ifs.white.contains(&c);
            if !is_white && !ifs.other.contains(&c) {
                continue;
            }
            if run < i {
                self.push_unquoted(&s[run..i]);
                self.mark_started();
            }
            self.delimiter(is_white);
            run = i + c.len_utf8();
        }
        if run < s.len() {
            self.push_unquoted(&s[run..]);
            self.mark_started();
        }
        self.split = Some(ifs);
    }

    /// One IFS character in an unquoted expansion result.
    fn delimiter(&mut self, white: bool) {
        if white {
            if self.cur.started {
                self.push_field();
                self.delimited = true;
            }
        } else {
            if self.cur.started || !self.delimited {
                self.push_field();
            }
            self.delimited = false;
        }
    }

    fn push_field(&mut self) {
        let field = std::mem::take(&mut self.cur);
        self.fields.push(field);
    }

    /// The current field exists even if empty (`""`, `''`).
    pub fn mark_started(&mut self) {
        self.cur.started = true;
        self.delimited = false;
    }

    /// Ends the current field (between the elements of `"$@"` or `$@`);
    /// without field splitting the elements are joined with a space.
    pub fn field_break(&mut self) {
        if self.split.is_some() {
            if self.cur.started {
                self.push_field();
            }
            self.delimited = false;
        } else {
            self.quoted(" ");
        }
    }

    /// Between the elements of an unquoted `$@` or `$*`: as if they were
    /// joined with the first IFS character and split, so with IFS=`:` an
    /// empty element makes an empty field, with IFS whitespace it vanishes.
    pub fn element_break(&mut self) {
        match self.split.as_ref().and_then(|ifs| ifs.first) {
            Some(c) => {
                let white = matches!(c, ' ' | '\t' | '\n');
                self.delimiter(white);
            }
            None => self.field_break(),
        }
    }

    /// The fields made.
    pub fn finish(mut self) -> Vec<Field> {
        if self.cur.started {
            self.push_field();
        }
        self.fields
    }

    /// The one field of a builder that does not split.
    pub fn finish_single(mut self) -> Field {
        if self.fields.is_empty() {
            return self.cur;
        }
        // Not reached for a single builder; join to be safe.
        self.push_field();
        let mut out = Field::default();
        for field in self.fields {
            out.text.push_str(&field.text);
            out.pattern.push_str(&field.pattern);
            out.glob |= field.glob;
        }
        out
    }
}
