//! Tokens of the KQL subset. Every token keeps its byte range so errors can point at it and
//! the parser can tell `mv-expand` (adjacent) from `a - b`.

use super::KqlError;
use super::value::{scale_ticks, timespan_unit_ticks};

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Ident(String),
    Long(i64),
    Real(f64),
    /// A number with a unit suffix (`5m`), in ticks.
    Timespan(i64),
    Str(String),
    /// `datetime(...)`, `time(...)` and friends: the literal's type word and its raw text.
    TypedLiteral(String, String),
    Pipe,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Semicolon,
    Assign,
    Eq,
    NotEq,
    Lt,
    Le,
    Gt,
    Ge,
    EqTilde,
    NotTilde,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    DotDot,
    Dot,
    Bang,
    Tilde,
    Colon,
    Eof,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

/// Type words whose parenthesised argument is literal text, not an expression.
const LITERAL_TYPES: &[&str] = &[
    "datetime", "date", "time", "timespan", "int", "long", "real", "double", "bool", "boolean",
];

pub fn tokenize(src: &str) -> Result<Vec<Token>, KqlError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'/' && bytes.get(i + 1) == Some(&b'/') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        if c.is_ascii_alphabetic() || c == b'_' || c == b'$' {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'$')
            {
                i += 1;
            }
            let word = &src[start..i];
            if let Some(literal) = typed_literal(src, word, i)? {
                let (raw, end) = literal;
                out.push(Token {
                    tok: Tok::TypedLiteral(word.to_string(), raw),
                    start,
                    end,
                });
                i = end;
                continue;
            }
            out.push(Token {
                tok: Tok::Ident(word.to_string()),
                start,
                end: i,
            });
            continue;
        }
        if c.is_ascii_digit() || (c == b'.' && bytes.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let (tok, end) = number(src, i)?;
            out.push(Token { tok, start, end });
            i = end;
            continue;
        }
        if c == b'\'' || c == b'"' {
            let (s, end) = string(src, i, false)?;
            out.push(Token {
                tok: Tok::Str(s),
                start,
                end,
            });
            i = end;
            continue;
        }
        if c == b'@' && matches!(bytes.get(i + 1), Some(b'\'' | b'"')) {
            let (s, end) = string(src, i + 1, true)?;
            out.push(Token {
                tok: Tok::Str(s),
                start,
                end,
            });
            i = end;
            continue;
        }
        let two = bytes.get(i + 1).copied();
        let (tok, len) = match (c, two) {
            (b'=', Some(b'=')) => (Tok::Eq, 2),
            (b'=', Some(b'~')) => (Tok::EqTilde, 2),
            (b'!', Some(b'=')) => (Tok::NotEq, 2),
            (b'!', Some(b'~')) => (Tok::NotTilde, 2),
            (b'<', Some(b'=')) => (Tok::Le, 2),
            (b'<', Some(b'>')) => (Tok::NotEq, 2),
            (b'>', Some(b'=')) => (Tok::Ge, 2),
            (b'.', Some(b'.')) => (Tok::DotDot, 2),
            (b'=', _) => (Tok::Assign, 1),
            (b'<', _) => (Tok::Lt, 1),
            (b'>', _) => (Tok::Gt, 1),
            (b'|', _) => (Tok::Pipe, 1),
            (b'(', _) => (Tok::LParen, 1),
            (b')', _) => (Tok::RParen, 1),
            (b'[', _) => (Tok::LBracket, 1),
            (b']', _) => (Tok::RBracket, 1),
            (b',', _) => (Tok::Comma, 1),
            (b';', _) => (Tok::Semicolon, 1),
            (b'+', _) => (Tok::Plus, 1),
            (b'-', _) => (Tok::Minus, 1),
            (b'*', _) => (Tok::Star, 1),
            (b'/', _) => (Tok::Slash, 1),
            (b'%', _) => (Tok::Percent, 1),
            (b'.', _) => (Tok::Dot, 1),
            (b'!', _) => (Tok::Bang, 1),
            (b'~', _) => (Tok::Tilde, 1),
            (b':', _) => (Tok::Colon, 1),
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(KqlError::syntax(src, i, &ch.to_string()));
            }
        };
        out.push(Token {
            tok,
            start,
            end: i + len,
        });
        i += len;
    }
    out.push(Token {
        tok: Tok::Eof,
        start: src.len(),
        end: src.len(),
    });
    Ok(out)
}

/// `datetime(2026-01-01T00:00:00Z)`: the argument is raw text up to the closing parenthesis.
fn typed_literal(
    src: &str,
    word: &str,
    after_word: usize,
) -> Result<Option<(String, usize)>, KqlError> {
    if !LITERAL_TYPES.contains(&word) {
        return Ok(None);
    }
    let bytes = src.as_bytes();
    let mut j = after_word;
    while j < bytes.len() && bytes[j].is_ascii_whitespace() {
        j += 1;
    }
    if bytes.get(j) != Some(&b'(') {
        return Ok(None);
    }
    let open = j;
    let Some(close_rel) = src[open..].find(')') else {
        return Err(KqlError::syntax(src, open, "("));
    };
    let close = open + close_rel;
    let raw = src[open + 1..close].trim();
    let unquoted = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .or_else(|| raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')))
        .unwrap_or(raw);
    Ok(Some((unquoted.to_string(), close + 1)))
}

fn number(src: &str, start: usize) -> Result<(Tok, usize), KqlError> {
    let bytes = src.as_bytes();
    let mut i = start;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    let mut is_real = false;
    // A '.' followed by a digit is a fraction; `1..5` is a range.
    if i < bytes.len() && bytes[i] == b'.' && bytes.get(i + 1).is_some_and(|d| d.is_ascii_digit()) {
        is_real = true;
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
    }
    if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
        let mut j = i + 1;
        if j < bytes.len() && (bytes[j] == b'+' || bytes[j] == b'-') {
            j += 1;
        }
        if j < bytes.len() && bytes[j].is_ascii_digit() {
            while j < bytes.len() && bytes[j].is_ascii_digit() {
                j += 1;
            }
            is_real = true;
            i = j;
        }
    }
    let number = &src[start..i];
    // A unit suffix makes a timespan literal: `5m`, `100ms`, `1d`.
    let mut u = i;
    while u < bytes.len() && bytes[u].is_ascii_alphabetic() {
        u += 1;
    }
    if u > i {
        let unit = &src[i..u];
        let ticks = timespan_unit_ticks(unit)
            .and_then(|t| scale_ticks(number, t))
            .ok_or_else(|| KqlError::syntax(src, start, &src[start..u]))?;
        return Ok((Tok::Timespan(ticks), u));
    }
    if is_real {
        let v: f64 = number
            .parse()
            .map_err(|_| KqlError::syntax(src, start, number))?;
        Ok((Tok::Real(v), i))
    } else {
        match number.parse::<i64>() {
            Ok(v) => Ok((Tok::Long(v), i)),
            Err(_) => Err(KqlError::syntax(src, start, number)),
        }
    }
}

/// A quoted string; `verbatim` (`@'…'`) takes backslashes literally.
fn string(src: &str, quote_at: usize, verbatim: bool) -> Result<(String, usize), KqlError> {
    let bytes = src.as_bytes();
    let quote = bytes[quote_at];
    let mut out = String::new();
    let mut i = quote_at + 1;
    let mut chars = src[i..].char_indices();
    while let Some((off, ch)) = chars.next() {
        let at = i + off;
        if ch as u32 == u32::from(quote) {
            return Ok((out, at + 1));
        }
        if ch == '\\' && !verbatim {
            let Some((_, esc)) = chars.next() else {
                break;
            };
            out.push(match esc {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                '0' => '\0',
                other => other,
            });
            continue;
        }
        if ch == '\n' {
            break;
        }
        out.push(ch);
    }
    i = quote_at;
    Err(KqlError::syntax(src, i, &src[i..(i + 1)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        tokenize(src)
            .expect("tokenizes")
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    #[test]
    fn numbers_timespans_and_ranges_lex_apart() {
        assert_eq!(
            toks("5m 1.5 100ms 3 1..5"),
            vec![
                Tok::Timespan(5 * 60 * 10_000_000),
                Tok::Real(1.5),
                Tok::Timespan(100 * 10_000),
                Tok::Long(3),
                Tok::Long(1),
                Tok::DotDot,
                Tok::Long(5),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn typed_literals_capture_raw_text() {
        assert_eq!(
            toks("datetime(2026-01-01T00:00:00Z) time(1.02:00:00)")[..2],
            [
                Tok::TypedLiteral("datetime".into(), "2026-01-01T00:00:00Z".into()),
                Tok::TypedLiteral("time".into(), "1.02:00:00".into()),
            ]
        );
    }

    #[test]
    fn strings_take_both_quotes_escapes_and_verbatim() {
        assert_eq!(
            toks(r#"'a\'b' "c\"d" @'e\f'"#)[..3],
            [
                Tok::Str("a'b".into()),
                Tok::Str("c\"d".into()),
                Tok::Str("e\\f".into())
            ]
        );
    }

    #[test]
    fn unterminated_string_is_a_syntax_error_with_position() {
        let err = tokenize("T\n| where x == 'abc").expect_err("must fail");
        assert!(err.to_string().contains("[2,14]"), "{err}");
    }

    #[test]
    fn comments_are_skipped() {
        assert_eq!(
            toks("a // b c\nd"),
            vec![Tok::Ident("a".into()), Tok::Ident("d".into()), Tok::Eof]
        );
    }
}
