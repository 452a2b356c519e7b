//! Syntax tree of the KQL subset, before names and types are resolved.

use super::value::{Type, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    /// Byte offset of the expression's first token, for error messages.
    pub pos: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Eq,
    NotEq,
    Lt,
    Le,
    Gt,
    Ge,
    /// `=~`: case-insensitive string equality.
    EqCi,
    /// `!~`
    NotEqCi,
    And,
    Or,
    /// `contains` (case-insensitive substring), `contains_cs`, `startswith`, `endswith`…
    StrOp(StrOp, bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrOp {
    Contains { case_sensitive: bool },
    StartsWith { case_sensitive: bool },
    EndsWith { case_sensitive: bool },
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Literal(Value),
    /// `long(null)` and friends.
    NullOf(Type),
    Name(String),
    Call(String, Vec<Expr>),
    Neg(Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    Between {
        value: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negated: bool,
    },
    In {
        value: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
        case_insensitive: bool,
    },
}

/// `name = expr` or a bare `expr` in extend/project/summarize lists.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedExpr {
    pub name: Option<String>,
    pub expr: Expr,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub expr: Expr,
    pub descending: bool,
    /// `None`: Kusto's default (nulls last when descending, first when ascending).
    pub nulls_first: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operator {
    Where(Expr),
    Extend(Vec<NamedExpr>),
    Project(Vec<NamedExpr>),
    ProjectAway(Vec<(String, usize)>),
    ProjectRename(Vec<(String, String, usize)>),
    Summarize {
        aggregates: Vec<NamedExpr>,
        by: Vec<NamedExpr>,
    },
    Sort(Vec<SortKey>),
    Take(Expr),
    Top {
        count: Expr,
        key: SortKey,
    },
    Count,
    Distinct(Vec<NamedExpr>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct PipeOp {
    pub op: Operator,
    /// The operator's name as written and its position, for error messages.
    pub name: String,
    pub pos: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tabular {
    pub source: String,
    pub source_pos: usize,
    pub ops: Vec<PipeOp>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LetValue {
    Scalar(Expr),
    Tabular(Tabular),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub lets: Vec<(String, LetValue)>,
    pub body: Tabular,
}
