//! Recursive-descent parser for the KQL subset: `let` statements, one tabular pipeline, and
//! scalar expressions with Kusto's precedence (or < and < comparison < additive <
//! multiplicative < unary).

use super::KqlError;
use super::ast::*;
use super::lexer::{Tok, Token, tokenize};
use super::schema::{TABLE_NAME, UNEMULATED_TABLES};
use super::value::{Type, Value, parse_datetime, parse_timespan};

/// Tabular operators Kusto has that the emulator does not implement: naming one gets an
/// explicit "not supported" error rather than a syntax error.
const KNOWN_UNSUPPORTED_OPERATORS: &[&str] = &[
    "join",
    "union",
    "lookup",
    "mv-expand",
    "mv-apply",
    "parse",
    "parse-where",
    "parse-kv",
    "make-series",
    "render",
    "evaluate",
    "as",
    "invoke",
    "sample",
    "sample-distinct",
    "serialize",
    "getschema",
    "facet",
    "fork",
    "partition",
    "scan",
    "search",
    "find",
    "top-nested",
    "top-hitters",
    "reduce",
    "project-keep",
    "project-reorder",
    "externaldata",
    "consume",
    "make-graph",
    "graph-match",
    "range",
    "print",
    "datatable",
    "extend-columns",
];

pub fn parse(src: &str) -> Result<Query, KqlError> {
    let tokens = tokenize(src)?;
    let mut p = Parser {
        src,
        tokens,
        at: 0,
        tabular_lets: Vec::new(),
        depth: 0,
    };
    p.query()
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    at: usize,
    tabular_lets: Vec<String>,
    /// Expression nesting, bounded so a hostile query cannot overflow the stack.
    depth: usize,
}

/// Deeper expressions than this are refused (real queries nest a handful of levels).
const MAX_EXPRESSION_DEPTH: usize = 128;

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.tokens[self.at.min(self.tokens.len() - 1)].tok
    }

    fn peek_at(&self, ahead: usize) -> &Tok {
        &self.tokens[(self.at + ahead).min(self.tokens.len() - 1)].tok
    }

    fn token(&self) -> &Token {
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn pos(&self) -> usize {
        self.token().start
    }

    fn bump(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.at < self.tokens.len() - 1 {
            self.at += 1;
        }
        t
    }

    /// Whether token `ahead` starts exactly where the one before it ends (`mv-expand`, `!in`).
    fn adjacent(&self, ahead: usize) -> bool {
        let i = self.at + ahead;
        i > 0 && i < self.tokens.len() && self.tokens[i - 1].end == self.tokens[i].start
    }

    fn error_here(&self) -> KqlError {
        let t = self.token();
        let text = if matches!(t.tok, Tok::Eof) {
            "<end of query>".to_string()
        } else {
            self.src[t.start..t.end].to_string()
        };
        KqlError::syntax(self.src, t.start, &text)
    }

    fn expect(&mut self, tok: Tok) -> Result<(), KqlError> {
        if *self.peek() == tok {
            self.bump();
            Ok(())
        } else {
            Err(self.error_here())
        }
    }

    fn is_ident(&self, word: &str) -> bool {
        matches!(self.peek(), Tok::Ident(w) if w == word)
    }

    fn ident(&mut self) -> Result<String, KqlError> {
        match self.peek().clone() {
            Tok::Ident(w) => {
                self.bump();
                Ok(w)
            }
            // `['Column Name']` quoting.
            Tok::LBracket => {
                self.bump();
                let Tok::Str(s) = self.bump() else {
                    return Err(self.error_here());
                };
                self.expect(Tok::RBracket)?;
                Ok(s)
            }
            _ => Err(self.error_here()),
        }
    }

    fn query(&mut self) -> Result<Query, KqlError> {
        let mut lets = Vec::new();
        while self.is_ident("let") {
            self.bump();
            let name = self.ident()?;
            self.expect(Tok::Assign)?;
            let value = if self.starts_tabular() {
                self.tabular_lets.push(name.clone());
                LetValue::Tabular(self.tabular()?)
            } else {
                LetValue::Scalar(self.expr()?)
            };
            self.expect(Tok::Semicolon)?;
            lets.push((name, value));
        }
        if self.is_ident("set") || self.is_ident("declare") || self.is_ident("alias") {
            let word = match self.peek() {
                Tok::Ident(w) => w.clone(),
                _ => String::new(),
            };
            return Err(KqlError::unsupported(format!("statement '{word}'")));
        }
        let body = self.tabular()?;
        while *self.peek() == Tok::Semicolon {
            self.bump();
        }
        if *self.peek() != Tok::Eof {
            if self.is_ident("let") {
                return Err(KqlError::unsupported(
                    "a 'let' statement after the query body".to_string(),
                ));
            }
            return Err(self.error_here());
        }
        Ok(Query { lets, body })
    }

    fn starts_tabular(&self) -> bool {
        match self.peek() {
            Tok::Ident(w) => {
                w == TABLE_NAME
                    || UNEMULATED_TABLES.contains(&w.as_str())
                    || self.tabular_lets.contains(w)
                    || (*self.peek_at(1) == Tok::Pipe)
            }
            _ => false,
        }
    }

    fn tabular(&mut self) -> Result<Tabular, KqlError> {
        let source_pos = self.pos();
        let source = match self.peek() {
            Tok::Ident(_) | Tok::LBracket => self.ident()?,
            _ => return Err(self.error_here()),
        };
        if KNOWN_UNSUPPORTED_OPERATORS.contains(&source.as_str()) {
            return Err(KqlError::unsupported_operator(&source));
        }
        let mut ops = Vec::new();
        while *self.peek() == Tok::Pipe {
            self.bump();
            ops.push(self.operator()?);
        }
        Ok(Tabular {
            source,
            source_pos,
            ops,
        })
    }

    /// An operator name, joining hyphenated words written without spaces (`project-away`).
    fn operator_name(&mut self) -> Result<String, KqlError> {
        let Tok::Ident(first) = self.peek().clone() else {
            return Err(self.error_here());
        };
        self.bump();
        let mut name = first;
        while *self.peek() == Tok::Minus
            && self.adjacent(0)
            && matches!(self.peek_at(1), Tok::Ident(_))
            && self.adjacent(1)
        {
            self.bump();
            if let Tok::Ident(part) = self.bump() {
                name.push('-');
                name.push_str(&part);
            }
        }
        Ok(name)
    }

    fn operator(&mut self) -> Result<PipeOp, KqlError> {
        let pos = self.pos();
        let name = self.operator_name()?;
        let op = match name.as_str() {
            "where" | "filter" => Operator::Where(self.expr()?),
            "extend" => Operator::Extend(self.named_list()?),
            "project" => Operator::Project(self.named_list()?),
            "project-away" => {
                let mut names = vec![(self.pos(), self.ident()?)];
                while *self.peek() == Tok::Comma {
                    self.bump();
                    names.push((self.pos(), self.ident()?));
                }
                if *self.peek() == Tok::Star {
                    return Err(KqlError::unsupported("wildcards in project-away".into()));
                }
                Operator::ProjectAway(names.into_iter().map(|(p, n)| (n, p)).collect())
            }
            "project-rename" => {
                let mut renames = Vec::new();
                loop {
                    let at = self.pos();
                    let new = self.ident()?;
                    self.expect(Tok::Assign)?;
                    let old = self.ident()?;
                    renames.push((new, old, at));
                    if *self.peek() != Tok::Comma {
                        break;
                    }
                    self.bump();
                }
                Operator::ProjectRename(renames)
            }
            "summarize" => {
                self.reject_hints()?;
                let aggregates = if self.is_ident("by") {
                    Vec::new()
                } else {
                    self.named_list()?
                };
                let by = if self.is_ident("by") {
                    self.bump();
                    self.named_list()?
                } else {
                    Vec::new()
                };
                if aggregates.is_empty() && by.is_empty() {
                    return Err(self.error_here());
                }
                Operator::Summarize { aggregates, by }
            }
            "order" | "sort" => {
                if !self.is_ident("by") {
                    return Err(self.error_here());
                }
                self.bump();
                let mut keys = vec![self.sort_key()?];
                while *self.peek() == Tok::Comma {
                    self.bump();
                    keys.push(self.sort_key()?);
                }
                Operator::Sort(keys)
            }
            "take" | "limit" => Operator::Take(self.expr()?),
            "top" => {
                let count = self.expr()?;
                if !self.is_ident("by") {
                    return Err(self.error_here());
                }
                self.bump();
                Operator::Top {
                    count,
                    key: self.sort_key()?,
                }
            }
            "count" => Operator::Count,
            "distinct" => {
                if *self.peek() == Tok::Star {
                    return Err(KqlError::unsupported("distinct *".into()));
                }
                Operator::Distinct(self.named_list()?)
            }
            other if KNOWN_UNSUPPORTED_OPERATORS.contains(&other) => {
                return Err(KqlError::unsupported_operator(other));
            }
            _ => return Err(KqlError::unsupported_operator(&name)),
        };
        Ok(PipeOp { op, name, pos })
    }

    /// `summarize hint.strategy=shuffle …` changes nothing observable; the emulator refuses
    /// it rather than pretend.
    fn reject_hints(&self) -> Result<(), KqlError> {
        if let Tok::Ident(w) = self.peek()
            && w == "hint"
            && *self.peek_at(1) == Tok::Dot
        {
            return Err(KqlError::unsupported("operator hints (hint.*)".into()));
        }
        Ok(())
    }

    fn sort_key(&mut self) -> Result<SortKey, KqlError> {
        let expr = self.expr()?;
        let mut descending = true;
        if self.is_ident("asc") {
            self.bump();
            descending = false;
        } else if self.is_ident("desc") {
            self.bump();
        }
        let mut nulls_first = None;
        if self.is_ident("nulls") {
            self.bump();
            if self.is_ident("first") {
                nulls_first = Some(true);
            } else if self.is_ident("last") {
                nulls_first = Some(false);
            } else {
                return Err(self.error_here());
            }
            self.bump();
        }
        Ok(SortKey {
            expr,
            descending,
            nulls_first,
        })
    }

    fn named_list(&mut self) -> Result<Vec<NamedExpr>, KqlError> {
        let mut items = vec![self.named()?];
        while *self.peek() == Tok::Comma {
            self.bump();
            items.push(self.named()?);
        }
        Ok(items)
    }

    fn named(&mut self) -> Result<NamedExpr, KqlError> {
        if let Tok::Ident(name) = self.peek().clone()
            && *self.peek_at(1) == Tok::Assign
        {
            self.bump();
            self.bump();
            return Ok(NamedExpr {
                name: Some(name),
                expr: self.expr()?,
            });
        }
        if *self.peek() == Tok::LParen
            && matches!(self.peek_at(1), Tok::Ident(_))
            && *self.peek_at(2) == Tok::Comma
        {
            return Err(KqlError::unsupported(
                "naming several columns at once, '(a, b) = …'".into(),
            ));
        }
        Ok(NamedExpr {
            name: None,
            expr: self.expr()?,
        })
    }

    pub fn expr(&mut self) -> Result<Expr, KqlError> {
        if self.depth >= MAX_EXPRESSION_DEPTH {
            return Err(KqlError::unsupported(format!(
                "expressions nested more than {MAX_EXPRESSION_DEPTH} levels deep"
            )));
        }
        self.depth += 1;
        let result = self.or_expr();
        self.depth -= 1;
        result
    }

    fn or_expr(&mut self) -> Result<Expr, KqlError> {
        let mut left = self.and_expr()?;
        while self.is_ident("or") {
            let pos = left.pos;
            self.bump();
            let right = self.and_expr()?;
            left = binary(BinaryOp::Or, left, right, pos);
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Expr, KqlError> {
        let mut left = self.comparison()?;
        while self.is_ident("and") {
            let pos = left.pos;
            self.bump();
            let right = self.comparison()?;
            left = binary(BinaryOp::And, left, right, pos);
        }
        Ok(left)
    }

    fn comparison(&mut self) -> Result<Expr, KqlError> {
        let left = self.additive()?;
        let pos = left.pos;
        let simple = match self.peek() {
            Tok::Eq => Some(BinaryOp::Eq),
            Tok::NotEq => Some(BinaryOp::NotEq),
            Tok::Lt => Some(BinaryOp::Lt),
            Tok::Le => Some(BinaryOp::Le),
            Tok::Gt => Some(BinaryOp::Gt),
            Tok::Ge => Some(BinaryOp::Ge),
            Tok::EqTilde => Some(BinaryOp::EqCi),
            Tok::NotTilde => Some(BinaryOp::NotEqCi),
            _ => None,
        };
        if let Some(op) = simple {
            self.bump();
            let right = self.additive()?;
            return Ok(binary(op, left, right, pos));
        }
        // `!in`, `!between`, `!contains`: a bang glued to a word.
        let negated = *self.peek() == Tok::Bang && self.adjacent(1);
        let word_at = usize::from(negated);
        let Tok::Ident(word) = self.peek_at(word_at).clone() else {
            return Ok(left);
        };
        match word.as_str() {
            "in" | "between" | "contains" | "contains_cs" | "startswith" | "startswith_cs"
            | "endswith" | "endswith_cs" => {}
            "has" | "has_cs" | "hasprefix" | "hasprefix_cs" | "hassuffix" | "hassuffix_cs"
            | "has_any" | "has_all" | "matches" | "like" | "notcontains" | "notcontains_cs"
            | "notbetween" | "notin" | "contains_any" => {
                let prefix = if negated { "!" } else { "" };
                return Err(KqlError::unsupported_operator(&format!("{prefix}{word}")));
            }
            _ => {
                if negated {
                    return Err(self.error_here());
                }
                return Ok(left);
            }
        }
        self.at += word_at + 1;
        match word.as_str() {
            "in" => {
                let case_insensitive = *self.peek() == Tok::Tilde && self.adjacent(0);
                if case_insensitive {
                    self.bump();
                }
                self.expect(Tok::LParen)?;
                let mut list = Vec::new();
                if *self.peek() != Tok::RParen {
                    list.push(self.expr()?);
                    while *self.peek() == Tok::Comma {
                        self.bump();
                        list.push(self.expr()?);
                    }
                }
                self.expect(Tok::RParen)?;
                Ok(Expr {
                    kind: ExprKind::In {
                        value: Box::new(left),
                        list,
                        negated,
                        case_insensitive,
                    },
                    pos,
                })
            }
            "between" => {
                self.expect(Tok::LParen)?;
                let low = self.additive()?;
                self.expect(Tok::DotDot)?;
                let high = self.additive()?;
                self.expect(Tok::RParen)?;
                Ok(Expr {
                    kind: ExprKind::Between {
                        value: Box::new(left),
                        low: Box::new(low),
                        high: Box::new(high),
                        negated,
                    },
                    pos,
                })
            }
            _ => {
                let case_sensitive = word.ends_with("_cs");
                let op = if word.starts_with("contains") {
                    StrOp::Contains { case_sensitive }
                } else if word.starts_with("startswith") {
                    StrOp::StartsWith { case_sensitive }
                } else {
                    StrOp::EndsWith { case_sensitive }
                };
                let right = self.additive()?;
                Ok(binary(BinaryOp::StrOp(op, negated), left, right, pos))
            }
        }
    }

    fn additive(&mut self) -> Result<Expr, KqlError> {
        let mut left = self.multiplicative()?;
        loop {
            let op = match self.peek() {
                Tok::Plus => BinaryOp::Add,
                Tok::Minus => BinaryOp::Sub,
                _ => return Ok(left),
            };
            let pos = left.pos;
            self.bump();
            let right = self.multiplicative()?;
            left = binary(op, left, right, pos);
        }
    }

    fn multiplicative(&mut self) -> Result<Expr, KqlError> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Star => BinaryOp::Mul,
                Tok::Slash => BinaryOp::Div,
                Tok::Percent => BinaryOp::Mod,
                _ => return Ok(left),
            };
            let pos = left.pos;
            self.bump();
            let right = self.unary()?;
            left = binary(op, left, right, pos);
        }
    }

    fn unary(&mut self) -> Result<Expr, KqlError> {
        let pos = self.pos();
        match self.peek() {
            Tok::Minus => {
                self.bump();
                if self.depth >= MAX_EXPRESSION_DEPTH {
                    return Err(self.error_here());
                }
                self.depth += 1;
                let inner = self.unary();
                self.depth -= 1;
                let inner = inner?;
                // Fold negative literals so `-5` is a literal, as Kusto treats it.
                Ok(match inner.kind {
                    ExprKind::Literal(Value::Long(v)) => lit(Value::Long(-v), pos),
                    ExprKind::Literal(Value::Real(v)) => lit(Value::Real(-v), pos),
                    ExprKind::Literal(Value::Timespan(v)) => lit(Value::Timespan(-v), pos),
                    _ => Expr {
                        kind: ExprKind::Neg(Box::new(inner)),
                        pos,
                    },
                })
            }
            Tok::Plus => {
                self.bump();
                if self.depth >= MAX_EXPRESSION_DEPTH {
                    return Err(self.error_here());
                }
                self.depth += 1;
                let inner = self.unary();
                self.depth -= 1;
                inner
            }
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> Result<Expr, KqlError> {
        let pos = self.pos();
        match self.peek().clone() {
            Tok::Long(v) => {
                self.bump();
                Ok(lit(Value::Long(v), pos))
            }
            Tok::Real(v) => {
                self.bump();
                Ok(lit(Value::Real(v), pos))
            }
            Tok::Timespan(v) => {
                self.bump();
                Ok(lit(Value::Timespan(v), pos))
            }
            Tok::Str(s) => {
                self.bump();
                Ok(lit(Value::str(&s), pos))
            }
            Tok::TypedLiteral(ty, raw) => {
                self.bump();
                typed_literal(self.src, pos, &ty, &raw).map(|kind| Expr { kind, pos })
            }
            Tok::LParen => {
                self.bump();
                let inner = self.expr()?;
                self.expect(Tok::RParen)?;
                Ok(inner)
            }
            Tok::LBracket => {
                let name = self.ident()?;
                Ok(Expr {
                    kind: ExprKind::Name(name),
                    pos,
                })
            }
            Tok::Ident(word) => {
                self.bump();
                match word.as_str() {
                    "true" => return Ok(lit(Value::Bool(true), pos)),
                    "false" => return Ok(lit(Value::Bool(false), pos)),
                    _ => {}
                }
                if *self.peek() == Tok::LParen {
                    // Refuse known-but-unsupported functions by name before their arguments,
                    // which may use syntax outside the subset (`arg_max(x, *)`).
                    if super::compile::UNSUPPORTED_AGGREGATES.contains(&word.as_str()) {
                        return Err(KqlError::unsupported(format!(
                            "aggregate function '{word}()'"
                        )));
                    }
                    if super::eval::KNOWN_UNSUPPORTED_FUNCTIONS.contains(&word.as_str()) {
                        return Err(KqlError::unsupported(format!("function '{word}()'")));
                    }
                    self.bump();
                    let mut args = Vec::new();
                    if *self.peek() != Tok::RParen {
                        args.push(self.expr()?);
                        while *self.peek() == Tok::Comma {
                            self.bump();
                            args.push(self.expr()?);
                        }
                    }
                    self.expect(Tok::RParen)?;
                    return Ok(Expr {
                        kind: ExprKind::Call(word, args),
                        pos,
                    });
                }
                if *self.peek() == Tok::Dot || *self.peek() == Tok::LBracket {
                    return Err(KqlError::unsupported(format!(
                        "member access on '{word}' (dynamic values)"
                    )));
                }
                Ok(Expr {
                    kind: ExprKind::Name(word),
                    pos,
                })
            }
            _ => Err(self.error_here()),
        }
    }
}

fn lit(v: Value, pos: usize) -> Expr {
    Expr {
        kind: ExprKind::Literal(v),
        pos,
    }
}

fn binary(op: BinaryOp, l: Expr, r: Expr, pos: usize) -> Expr {
    Expr {
        kind: ExprKind::Binary(op, Box::new(l), Box::new(r)),
        pos,
    }
}

/// `int(5)`, `datetime(…)`, `long(null)`: a typed literal (or a typed null).
fn typed_literal(src: &str, pos: usize, ty: &str, raw: &str) -> Result<ExprKind, KqlError> {
    if raw == "null" {
        let t = match ty {
            "datetime" | "date" => Type::DateTime,
            "time" | "timespan" => Type::Timespan,
            "int" => Type::Int,
            "long" => Type::Long,
            "real" | "double" => Type::Real,
            _ => Type::Bool,
        };
        return Ok(ExprKind::NullOf(t));
    }
    let bad = || KqlError::syntax(src, pos, &format!("{ty}({raw})"));
    Ok(ExprKind::Literal(match ty {
        "datetime" | "date" => Value::DateTime(parse_datetime(raw).ok_or_else(bad)?),
        "time" | "timespan" => Value::Timespan(parse_timespan(raw).ok_or_else(bad)?),
        "int" => Value::Int(raw.parse().map_err(|_| bad())?),
        "long" => Value::Long(raw.parse().map_err(|_| bad())?),
        "real" | "double" => Value::Real(match raw {
            "nan" | "NaN" => f64::NAN,
            "+inf" | "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            _ => raw.parse().map_err(|_| bad())?,
        }),
        "bool" | "boolean" => Value::Bool(match raw {
            "true" => true,
            "false" => false,
            _ => return Err(bad()),
        }),
        _ => return Err(bad()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_per_deployment_summary() {
        let q = parse(
            "AmlOnlineEndpointTrafficLog
             | where TimeGenerated >= datetime(2026-01-01T00:00:00Z) and TimeGenerated < datetime(2026-01-01T00:15:00Z)
             | where EndpointName == \"my-ep\"
             | summarize requests = count(),
                 p99 = todouble(percentile(TotalDurationMs, 99)),
                 errors5xx = countif(toint(ResponseCode) between (500 .. 599))
               by DeploymentName",
        )
        .expect("parses");
        assert_eq!(q.body.source, "AmlOnlineEndpointTrafficLog");
        assert_eq!(q.body.ops.len(), 3);
        let Operator::Summarize { aggregates, by } = &q.body.ops[2].op else {
            panic!("expected summarize, got {:?}", q.body.ops[2].op);
        };
        assert_eq!(aggregates.len(), 3);
        assert_eq!(aggregates[2].name.as_deref(), Some("errors5xx"));
        assert_eq!(by.len(), 1);
    }

    #[test]
    fn precedence_puts_and_above_or_and_multiplication_above_addition() {
        let q =
            parse("T | where a == 1 or b == 2 and c == 3 | extend x = 1 + 2 * 3").expect("parses");
        let Operator::Where(e) = &q.body.ops[0].op else {
            panic!("where")
        };
        assert!(matches!(e.kind, ExprKind::Binary(BinaryOp::Or, _, _)));
        let Operator::Extend(items) = &q.body.ops[1].op else {
            panic!("extend")
        };
        let ExprKind::Binary(BinaryOp::Add, _, right) = &items[0].expr.kind else {
            panic!("add at the top: {:?}", items[0].expr)
        };
        assert!(matches!(right.kind, ExprKind::Binary(BinaryOp::Mul, _, _)));
    }

    #[test]
    fn negated_word_operators_parse() {
        let q = parse("T | where a !in (1, 2) and b !between (1 .. 2) and c in~ ('x')")
            .expect("parses");
        assert_eq!(q.body.ops.len(), 1);
    }

    #[test]
    fn unsupported_operators_are_named() {
        for (query, name) in [
            ("T | join (T) on x", "'join'"),
            ("T | mv-expand x", "'mv-expand'"),
            ("T | parse x with * 'a' y", "'parse'"),
            ("T | frobnicate", "'frobnicate'"),
            ("T | where x has 'a'", "'has'"),
        ] {
            let err = parse(query).expect_err(query);
            assert!(
                matches!(err, KqlError::Unsupported { .. }) && err.to_string().contains(name),
                "{query}: {err}"
            );
        }
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let err = parse("T\n| where x == ").expect_err("incomplete");
        assert!(matches!(err, KqlError::Syntax { line: 2, .. }), "{err:?}");
        let err = parse("T | summarize count( by x").expect_err("unbalanced");
        assert!(
            matches!(
                err,
                KqlError::Syntax {
                    line: 1,
                    column: 25,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = format!("T | where {}1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(matches!(parse(&deep), Err(KqlError::Unsupported { .. })));
        let minus = format!("T | extend x = {}1", "-".repeat(10_000));
        assert!(parse(&minus).is_err());
        assert!(parse("T | where ((((1)))) == 1").is_ok());
    }

    #[test]
    fn lets_bind_scalars_and_tables() {
        let q =
            parse("let window = 5m; let base = T | where a > 1; base | take 3").expect("parses");
        assert_eq!(q.lets.len(), 2);
        assert!(matches!(q.lets[0].1, LetValue::Scalar(_)));
        assert!(matches!(q.lets[1].1, LetValue::Tabular(_)));
        assert_eq!(q.body.source, "base");
    }
}
