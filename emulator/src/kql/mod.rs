//! The emulator's KQL subset over `AmlOnlineEndpointTrafficLog`: lexer, parser, compiler
//! (names and types resolved once, against column indices) and a streaming evaluator that
//! reads the log store's compact rows directly. The exact subset is in `docs/kql.md`.
//!
//! ```text
//! query text ──parse──▶ ast::Query ──compile──▶ Plan ──exec over LogSnapshot──▶ ResultTable
//! ```

mod ast;
mod compile;
mod eval;
mod exec;
mod lexer;
mod parser;
pub mod schema;
pub mod value;

pub use exec::nearest_rank_index;
pub use schema::{Column, TABLE_NAME};
pub use value::{Type, Value};

use crate::logstore::LogSnapshot;

/// Why a query was refused. Messages follow Kusto's wording where Kusto has one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KqlError {
    #[error("Query could not be parsed at '{token}' on line [{line},{column}]")]
    Syntax {
        token: String,
        line: usize,
        column: usize,
    },
    #[error("{0}")]
    Semantic(String),
    #[error("{construct} is not supported by the emulator's KQL subset")]
    Unsupported { construct: String },
}

impl KqlError {
    /// A syntax error at byte offset `pos` of `src`, with a 1-based line and column.
    pub(crate) fn syntax(src: &str, pos: usize, token: &str) -> Self {
        let before = &src[..pos.min(src.len())];
        let line = before.matches('\n').count() + 1;
        let column = before
            .rsplit('\n')
            .next()
            .map(|l| l.chars().count() + 1)
            .unwrap_or(1);
        KqlError::Syntax {
            token: token.to_string(),
            line,
            column,
        }
    }

    pub(crate) fn semantic(message: String) -> Self {
        KqlError::Semantic(message)
    }

    pub(crate) fn unsupported(construct: String) -> Self {
        KqlError::Unsupported { construct }
    }

    pub(crate) fn unsupported_operator(name: &str) -> Self {
        KqlError::Unsupported {
            construct: format!("operator '{name}'"),
        }
    }

    /// The Log Analytics `innererror.code` for this error.
    pub fn inner_code(&self) -> &'static str {
        match self {
            KqlError::Syntax { .. } => "SyntaxError",
            KqlError::Semantic(_) | KqlError::Unsupported { .. } => "SemanticError",
        }
    }
}

/// The ingestion-delay rule: a row is visible once `time + delay (+ any lag spike) <= now`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Visibility {
    pub now_us: i64,
    pub ingestion_delay_us: i64,
}

/// Everything outside the query text that decides what it sees.
#[derive(Debug, Clone, Default)]
pub struct QueryScope {
    /// `now()` and `ago()` are relative to this (unix µs, simulated clock).
    pub now_us: i64,
    /// Only rows of endpoints whose logs go to this Log Analytics workspace (case-insensitive).
    pub workspace_id: Option<String>,
    /// The API's `timespan`: TimeGenerated in `[from, until)`, unix µs.
    pub time_range_us: Option<(i64, i64)>,
    /// Hide rows not yet ingested; `None` sees everything stored.
    pub visibility: Option<Visibility>,
    /// Lag-spike windows `(from, until, extra)` in µs, from the fault state.
    pub lag_spikes_us: Vec<(i64, i64, i64)>,
    /// Truncate the result to this many rows (and flag it).
    pub row_limit: Option<usize>,
}

/// A query's result: typed columns and rows of values.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultTable {
    pub columns: Vec<(String, Type)>,
    pub rows: Vec<Vec<Value>>,
    /// More rows than `row_limit` were produced; `rows` holds the first `row_limit`.
    pub truncated: bool,
}

impl ResultTable {
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|(n, _)| n == name)
    }
}

/// A parsed and type-checked query, ready to run against any snapshot.
#[derive(Debug, Clone)]
pub struct CompiledQuery {
    plan: compile::Plan,
}

impl CompiledQuery {
    pub fn columns(&self) -> Vec<(String, Type)> {
        self.plan
            .segments
            .last()
            .map(|s| s.columns.clone())
            .unwrap_or_default()
    }

    pub fn run(&self, snapshot: &LogSnapshot, scope: &QueryScope) -> ResultTable {
        exec::run(&self.plan, snapshot, scope)
    }
}

/// Parses and checks `query`; `now_us` fixes `now()`/`ago()`.
pub fn compile(query: &str, now_us: i64) -> Result<CompiledQuery, KqlError> {
    let ast = parser::parse(query)?;
    let env = compile::CompileEnv {
        now_ticks: now_us.saturating_mul(value::TICKS_PER_US),
    };
    Ok(CompiledQuery {
        plan: compile::compile(&ast, &env)?,
    })
}

/// Parses, checks and runs `query` over `snapshot` within `scope`.
pub fn execute(
    query: &str,
    snapshot: &LogSnapshot,
    scope: &QueryScope,
) -> Result<ResultTable, KqlError> {
    Ok(compile(query, scope.now_us)?.run(snapshot, scope))
}
