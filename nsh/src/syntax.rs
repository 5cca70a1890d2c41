//! Parsing with brush-parser: whole programs, and the "is this input
//! complete?" question the line editor asks for multi-line input.

use brush_parser::{ParseError, ParserOptions, TokenizerError, ast};

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
        // A stray `fi` also ends in an error at the end of input: more
        // input ends it still at the end only when a construct is open.
        Err(ParseError::ParsingAtEndOfInput) => {
            let more = format!("{text}\n:\n");
            let mut parser = brush_parser::Parser::new(
                std::io::BufReader::new(more.as_bytes()),
                &parser_options(),
            );
            matches!(parser.parse_program(), Err(ParseError::ParsingAtEndOfInput))
        }
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

#[cfg(test)]
mod tests {
    use super::*;

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
