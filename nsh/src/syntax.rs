//! Parsing with brush-parser: whole programs, scripts read a command at a
//! time as bash reads them when they hold a syntax error ([`Pieces`]), and
//! the "is this input complete?" question the line editor asks for
//! multi-line input.

pub mod aliases;

use std::collections::HashMap;

use brush_parser::{ParseError, ParserOptions, TokenizerError, TokenizerOptions, ast};

/// The options nsh parses with: bash mode, extglob patterns recognised.
pub fn parser_options() -> ParserOptions {
    ParserOptions {
        enable_extended_globbing: true,
        posix_mode: false,
        sh_mode: false,
        tilde_expansion_at_word_start: true,
        tilde_expansion_after_colon: false,
        parser_impl: brush_parser::ParserImpl::Peg,
    }
}

/// A syntax error, worded like bash's.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SyntaxError(String);

pub fn parse(text: &str, options: &ParserOptions) -> Result<ast::Program, SyntaxError> {
    let mut parser = brush_parser::Parser::new(std::io::BufReader::new(text.as_bytes()), options);
    parser
        .parse_program()
        .map_err(|e| SyntaxError(describe(&e)))
}

fn describe(e: &ParseError) -> String {
    match e {
        ParseError::ParsingNear(pos) => format!("syntax error near line {}", pos.line),
        ParseError::ParsingAtEndOfInput => "syntax error: unexpected end of file".to_string(),
        ParseError::Tokenizing { inner, position } => match position {
            Some(p) => format!("syntax error near line {}: {inner}", p.line),
            None => format!("syntax error: {inner}"),
        },
    }
}

/// Whether `text` is a complete command, or ends inside an open construct
/// (an `if` without `fi`, an open quote, a here-document) so the line
/// editor should ask for more.
pub fn is_incomplete(text: &str) -> bool {
    let mut parser =
        brush_parser::Parser::new(std::io::BufReader::new(text.as_bytes()), &parser_options());
    match parser.parse_program() {
        Ok(_) => false,
        // A stray `fi` also ends in an error at the end of input: a
        // construct is open only when more input leaves it open still (a
        // command after an open `if`) or closes it (`esac` after a `case`
        // item, where a command would be an error).
        Err(ParseError::ParsingAtEndOfInput) => ["\n:\n", "\nesac\n"].iter().any(|more| {
            let more = format!("{text}{more}");
            let mut parser = brush_parser::Parser::new(
                std::io::BufReader::new(more.as_bytes()),
                &parser_options(),
            );
            matches!(
                parser.parse_program(),
                Ok(_) | Err(ParseError::ParsingAtEndOfInput)
            )
        }),
        Err(ParseError::Tokenizing { inner, .. }) => matches!(
            inner,
            TokenizerError::UnterminatedSingleQuote(..)
                | TokenizerError::UnterminatedDoubleQuote(..)
                | TokenizerError::UnterminatedBackquote(..)
                | TokenizerError::UnterminatedEscapeSequence
                | TokenizerError::UnterminatedCommandSubstitution
                | TokenizerError::UnterminatedVariable
                | TokenizerError::UnterminatedExpansion
                | TokenizerError::UnterminatedHereDocuments(..)
                | TokenizerError::UnterminatedExtendedGlob(..)
                | TokenizerError::UnterminatedAnsiCQuote(..)
        ),
        Err(ParseError::ParsingNear(_)) => text.trim_end().ends_with('\\'),
    }
}

/// Where a program's text came from: bash words a syntax error after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin<'a> {
    /// A script file (`nsh FILE`): `FILE: line N: ...`.
    File(&'a str),
    /// `nsh -c TEXT`: `nsh: -c: line N: ...`.
    Command,
    /// A script read from standard input: `nsh: ...`.
    Stdin,
}

impl Origin<'_> {
    /// The start of a message about line `line`.
    fn prefix(self, line: usize) -> String {
        match self {
            Origin::File(path) => format!("{path}: line {line}: "),
            Origin::Command => format!("nsh: -c: line {line}: "),
            Origin::Stdin => "nsh: ".to_string(),
        }
    }
}

/// One piece of a script as bash reads it: whole lines, up to the end of a
/// complete command (`Ok`), or the syntax error that ends the script.
pub enum Piece {
    /// Complete commands, parsed with their real line numbers.
    Commands(ast::Program),
    /// The error, as the lines bash writes to stderr.
    Error(String),
}

/// Splits `text` the way bash reads a script: it reads a line, and more
/// lines while the command is open, then runs what it read before it reads
/// on. A syntax error ends the script there, after the commands before it
/// have run. (Used when the whole text does not parse, or when aliases may
/// change how later lines read: otherwise a text runs as one program.)
pub struct Pieces<'a> {
    lines: Vec<&'a str>,
    next: usize,
    options: ParserOptions,
    origin: Origin<'a>,
    failed: bool,
}

impl<'a> Pieces<'a> {
    pub fn new(text: &'a str, options: &ParserOptions, origin: Origin<'a>) -> Self {
        Pieces {
            lines: text.split_inclusive('\n').collect(),
            next: 0,
            options: options.clone(),
            origin,
            failed: false,
        }
    }

    /// bash's words for `e`.
    fn describe(&self, e: &ParseError) -> String {
        let total = self.lines.len();
        let source_line = |n: usize| {
            self.lines
                .get(n.saturating_sub(1))
                .map_or("", |l| l.trim_end_matches('\n'))
        };
        match e {
            ParseError::ParsingNear(pos) => {
                let text = source_line(pos.line);
                let token = token_at(text, pos.column);
                let prefix = self.origin.prefix(pos.line);
                format!("{prefix}syntax error near unexpected token `{token}'\n{prefix}`{text}'\n")
            }
            ParseError::ParsingAtEndOfInput => format!(
                "{}syntax error: unexpected end of file\n",
                self.origin.prefix(total + 1)
            ),
            ParseError::Tokenizing { inner, .. } => {
                // bash names the line where the open quote is.
                let quote = match inner {
                    TokenizerError::UnterminatedSingleQuote(at) => Some(('\'', at.line)),
                    TokenizerError::UnterminatedDoubleQuote(at) => Some(('"', at.line)),
                    TokenizerError::UnterminatedBackquote(at) => Some(('`', at.line)),
                    _ => None,
                };
                match quote {
                    Some((q, line)) => format!(
                        "{}unexpected EOF while looking for matching `{q}'\n",
                        self.origin.prefix(line)
                    ),
                    None => format!(
                        "{}syntax error: unexpected end of file\n",
                        self.origin.prefix(total + 1)
                    ),
                }
            }
        }
    }
}

impl Pieces<'_> {
    /// The next piece; `aliases`, when given, are expanded in it (the
    /// table as it is when bash would read these lines).
    pub fn next_piece(&mut self, aliases: Option<&HashMap<String, String>>) -> Option<Piece> {
        if self.failed || self.next >= self.lines.len() {
            return None;
        }
        let start = self.next;
        let mut end = start;
        loop {
            end += 1;
            let mut chunk: String = self.lines[start..end].concat();
            if end < self.lines.len() && continues_on_next_line(&chunk) {
                continue;
            }
            if let Some(aliases) = aliases {
                chunk = aliases::expand(&chunk, aliases, &tokenizer_options(&self.options));
            }
            // Blank lines before it keep the line numbers the script's; a
            // last line without its newline is read as if it had one.
            let newline = if chunk.ends_with('\n') { "" } else { "\n" };
            let padded = format!("{}{chunk}{newline}", "\n".repeat(start));
            let mut parser = brush_parser::Parser::new(
                std::io::BufReader::new(padded.as_bytes()),
                &self.options,
            );
            match parser.parse_program() {
                Ok(program) => {
                    self.next = end;
                    return Some(Piece::Commands(program));
                }
                Err(_) if end < self.lines.len() && is_incomplete(&chunk) => continue,
                Err(e) => {
                    self.failed = true;
                    return Some(Piece::Error(self.describe(&e)));
                }
            }
        }
    }
}

/// Whether `chunk` ends in a backslash-newline: the command goes on.
fn continues_on_next_line(chunk: &str) -> bool {
    let line = chunk.strip_suffix('\n').unwrap_or(chunk);
    (line.len() - line.trim_end_matches('\\').len()) % 2 == 1
}

/// The tokenizer's share of `options`.
pub fn tokenizer_options(options: &ParserOptions) -> TokenizerOptions {
    TokenizerOptions {
        enable_extended_globbing: options.enable_extended_globbing,
        posix_mode: options.posix_mode,
        sh_mode: options.sh_mode,
    }
}

/// The token that starts at `column` (1-based, in characters) of `line`, as
/// bash names an unexpected one: an operator, or a word.
fn token_at(line: &str, column: usize) -> String {
    let rest: String = line.chars().skip(column.saturating_sub(1)).collect();
    const OPERATORS: [&str; 15] = [
        ";;&", ";;", ";&", "&&", "||", "<<", ">>", "<&", ">&", "<>", ";", "&", "|", "(", ")",
    ];
    if let Some(op) = OPERATORS.iter().find(|op| rest.starts_with(**op)) {
        return op.to_string();
    }
    let word: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && !";&|()<>".contains(*c))
        .collect();
    if !word.is_empty() {
        return word;
    }
    // The parser may point past the word it could not take (a reserved
    // word it first read as an argument): bash names that word.
    match line.trim_end().rsplit([' ', '\t', ';', '&', '|']).next() {
        Some(last) if !last.is_empty() => last.to_string(),
        _ => "newline".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str) -> Vec<String> {
        let mut pieces = Pieces::new(text, &parser_options(), Origin::File("s.sh"));
        std::iter::from_fn(|| pieces.next_piece(None))
            .map(|p| match p {
                Piece::Commands(program) => format!("run {}", program.complete_commands.len()),
                Piece::Error(e) => e,
            })
            .collect()
    }

    #[test]
    fn a_script_with_a_syntax_error_runs_up_to_it() {
        assert_eq!(
            pieces("echo a\necho b; fi\necho c\n"),
            [
                "run 1",
                "s.sh: line 2: syntax error near unexpected token `fi'\ns.sh: line 2: `echo b; fi'\n"
            ]
        );
        assert_eq!(
            pieces("f() {\n echo in\n}\nf\necho x )\n"),
            [
                "run 1",
                "run 1",
                "s.sh: line 5: syntax error near unexpected token `)'\ns.sh: line 5: `echo x )'\n"
            ]
        );
        assert_eq!(
            pieces("echo a\nif true; then\necho b\n"),
            [
                "run 1",
                "s.sh: line 4: syntax error: unexpected end of file\n"
            ]
        );
        assert_eq!(
            pieces("echo a\necho 'x\n"),
            [
                "run 1",
                "s.sh: line 2: unexpected EOF while looking for matching `''\n"
            ]
        );
    }

    #[test]
    fn the_forks_constructs_parse_as_bash_does() {
        let program = |text: &str| parse(text, &parser_options()).map(|p| p.to_string());
        // A `case` pattern without `(` inside `$( )`.
        assert!(program("x=$(case a in a) echo A;; b|c) echo B;; esac)\n").is_ok());
        assert!(program("echo $(case a in (a) echo $(echo in);; esac) after\n").is_ok());
        assert!(program("echo $(echo case in a) b)\n").is_err());
        // `for x in;` has an empty list, not "$@".
        let Ok(parsed) = parse("for x in; do echo $x; done\n", &parser_options()) else {
            panic!("for x in; does not parse");
        };
        let shown = format!("{:?}", parsed.complete_commands[0]);
        assert!(shown.contains("values: Some([])"), "{shown}");
        // Brace-group bodies and select.
        assert!(program("for x in a b; { echo $x; }\n").is_ok());
        assert!(program("select x in a b; do break; done\n").is_ok());
        assert!(program("select x\ndo break; done\n").is_ok());
    }

    #[test]
    fn open_constructs_are_incomplete() {
        assert!(is_incomplete("if true; then"));
        assert!(is_incomplete("echo 'abc"));
        assert!(is_incomplete("echo \"abc"));
        assert!(is_incomplete("cat <<EOF\nhello"));
        assert!(is_incomplete("f() {"));
        assert!(!is_incomplete("echo hi"));
        assert!(!is_incomplete("if true; then :; fi"));
        assert!(!is_incomplete("fi"));
    }
}
