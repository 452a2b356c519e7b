//! Name resolution and type checking: turns the syntax tree into a plan whose expressions
//! address source columns and scratch slots by index, with constants folded (`ago(1h)` is
//! computed once per query, not once per row).

use std::collections::HashMap;

use super::KqlError;
use super::ast::*;
use super::eval::{CExpr, Func, eval_const};
use super::schema::{Column, TABLE_NAME, UNEMULATED_TABLES};
use super::value::{Type, Value};

/// Where a column's value lives while rows stream through a segment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Loc {
    Src(Column),
    Slot(usize),
}

#[derive(Debug, Clone)]
pub struct Binding {
    pub name: String,
    pub ty: Type,
    pub loc: Loc,
}

#[derive(Debug, Clone)]
pub enum StreamOp {
    Filter(CExpr),
    Compute(usize, CExpr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggKind {
    Count,
    CountIf,
    Sum,
    SumIf,
    Avg,
    AvgIf,
    Min,
    Max,
    DCount,
    /// Nearest-rank percentile of a value store.
    Percentile,
}

#[derive(Debug, Clone)]
pub struct AggSpec {
    pub kind: AggKind,
    pub arg: Option<CExpr>,
    pub predicate: Option<CExpr>,
    pub arg_ty: Type,
    pub result_ty: Type,
    /// For percentiles: which value store, and the percentile.
    pub store: usize,
    pub percent: f64,
}

#[derive(Debug, Clone)]
pub struct StoreSpec {
    pub arg: CExpr,
    pub ty: Type,
}

#[derive(Debug, Clone)]
pub struct SummarizePlan {
    pub keys: Vec<CExpr>,
    pub aggs: Vec<AggSpec>,
    pub stores: Vec<StoreSpec>,
    /// Output columns after the keys: expressions over the aggregate results (slot k is
    /// aggregate k).
    pub outputs: Vec<CExpr>,
}

#[derive(Debug, Clone)]
pub struct SortSpec {
    pub key: CExpr,
    pub descending: bool,
    pub nulls_first: bool,
}

#[derive(Debug, Clone)]
pub enum Sink {
    Collect,
    Summarize(SummarizePlan),
    Sort(Vec<SortSpec>),
    Take(usize),
    Top(usize, SortSpec),
    Count,
}

/// Rows stream through `ops` into `sink`; the sink materialises a table for the next segment.
#[derive(Debug, Clone)]
pub struct Segment {
    pub slots: usize,
    pub ops: Vec<StreamOp>,
    /// What the sink keeps of each row (all columns of the schema at the sink).
    pub outputs: Vec<Loc>,
    pub sink: Sink,
    pub columns: Vec<(String, Type)>,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub segments: Vec<Segment>,
}

/// Query-wide constants the compiler needs.
pub struct CompileEnv {
    /// now() in ticks.
    pub now_ticks: i64,
}

const AGGREGATES: &[&str] = &[
    "count",
    "countif",
    "sum",
    "sumif",
    "avg",
    "avgif",
    "min",
    "max",
    "dcount",
    "percentile",
    "percentiles",
];

/// Kusto aggregates outside the subset: named in an explicit error.
pub(super) const UNSUPPORTED_AGGREGATES: &[&str] = &[
    "arg_max",
    "arg_min",
    "any",
    "take_any",
    "take_anyif",
    "make_list",
    "make_list_if",
    "make_set",
    "make_set_if",
    "make_bag",
    "stdev",
    "stdevif",
    "stdevp",
    "variance",
    "varianceif",
    "variancep",
    "percentilew",
    "percentilesw",
    "percentiles_array",
    "tdigest",
    "tdigest_merge",
    "hll",
    "hll_merge",
    "dcountif",
    "minif",
    "maxif",
    "binary_all_and",
    "binary_all_or",
    "buildschema",
    "count_distinct",
    "countif_distinct",
];

pub fn compile(query: &Query, env: &CompileEnv) -> Result<Plan, KqlError> {
    let mut c = Compiler {
        env,
        scalars: HashMap::new(),
        tables: HashMap::new(),
    };
    for (name, value) in &query.lets {
        match value {
            LetValue::Scalar(expr) => {
                let (ce, ty) = c.expr(expr, &[], &mut Mode::Row, "let")?;
                let v = eval_const(&ce).ok_or_else(|| {
                    KqlError::semantic(format!(
                        "let '{name}': only constant scalar expressions are supported by the emulator's KQL subset"
                    ))
                })?;
                c.tables.remove(name);
                c.scalars.insert(name.clone(), (v, ty));
            }
            LetValue::Tabular(t) => {
                let ops = c.expand(t)?;
                c.scalars.remove(name);
                c.tables.insert(name.clone(), ops);
            }
        }
    }
    let ops = c.expand(&query.body)?;
    c.plan(&ops)
}

enum Mode<'a> {
    /// Row context: aggregates are not allowed.
    Row,
    /// Inside summarize: aggregate calls register here and become slot references.
    Summarize {
        aggs: &'a mut Vec<AggSpec>,
        stores: &'a mut Vec<StoreSpec>,
        input: &'a [Binding],
    },
}

struct Compiler<'e> {
    env: &'e CompileEnv,
    scalars: HashMap<String, (Value, Type)>,
    tables: HashMap<String, Vec<PipeOp>>,
}

impl Compiler<'_> {
    /// The operators of a tabular expression with `let`-bound sources inlined.
    fn expand(&self, t: &Tabular) -> Result<Vec<PipeOp>, KqlError> {
        let mut ops = if t.source == TABLE_NAME {
            Vec::new()
        } else if let Some(base) = self.tables.get(&t.source) {
            base.clone()
        } else if UNEMULATED_TABLES.contains(&t.source.as_str()) {
            return Err(KqlError::unsupported(format!(
                "table '{}' (the emulator fills only {TABLE_NAME})",
                t.source
            )));
        } else {
            return Err(KqlError::semantic(format!(
                "Failed to resolve table or column expression named '{}'",
                t.source
            )));
        };
        ops.extend(t.ops.iter().cloned());
        Ok(ops)
    }

    fn plan(&self, ops: &[PipeOp]) -> Result<Plan, KqlError> {
        let mut segments = Vec::new();
        let mut schema: Vec<Binding> = Column::ALL
            .iter()
            .map(|c| Binding {
                name: c.name().to_string(),
                ty: c.ty(),
                loc: Loc::Src(*c),
            })
            .collect();
        let mut slots = 0usize;
        let mut stream: Vec<StreamOp> = Vec::new();
        for op in ops {
            let what = op.name.as_str();
            let sink = match &op.op {
                Operator::Where(e) => {
                    let (ce, ty) = self.expr(e, &schema, &mut Mode::Row, what)?;
                    if ty != Type::Bool {
                        return Err(KqlError::semantic(format!(
                            "'{what}' operator: the predicate must be of type bool, not {}",
                            ty.name()
                        )));
                    }
                    if !matches!(ce, CExpr::Const(Value::Bool(true))) {
                        stream.push(StreamOp::Filter(ce));
                    }
                    None
                }
                Operator::Extend(items) => {
                    let mut unnamed = 0;
                    for item in items {
                        let (ce, ty) = self.expr(&item.expr, &schema, &mut Mode::Row, what)?;
                        let name = match &item.name {
                            Some(n) => n.clone(),
                            None => match &item.expr.kind {
                                ExprKind::Name(n) => n.clone(),
                                _ => {
                                    unnamed += 1;
                                    unique_name(&format!("Column{unnamed}"), &schema)
                                }
                            },
                        };
                        let slot = slots;
                        slots += 1;
                        stream.push(StreamOp::Compute(slot, ce));
                        let binding = Binding {
                            name: name.clone(),
                            ty,
                            loc: Loc::Slot(slot),
                        };
                        match schema.iter_mut().find(|b| b.name == name) {
                            Some(existing) => *existing = binding,
                            None => schema.push(binding),
                        }
                    }
                    None
                }
                Operator::Project(items) => {
                    let mut next: Vec<Binding> = Vec::new();
                    let mut unnamed = 0;
                    for item in items {
                        let bare = match &item.expr.kind {
                            ExprKind::Name(n) => schema.iter().find(|b| &b.name == n),
                            _ => None,
                        };
                        let binding = match (bare, &item.name) {
                            (Some(b), name) => Binding {
                                name: name.clone().unwrap_or_else(|| b.name.clone()),
                                ty: b.ty,
                                loc: b.loc,
                            },
                            (None, name) => {
                                let (ce, ty) =
                                    self.expr(&item.expr, &schema, &mut Mode::Row, what)?;
                                let slot = slots;
                                slots += 1;
                                stream.push(StreamOp::Compute(slot, ce));
                                let name = name.clone().unwrap_or_else(|| {
                                    unnamed += 1;
                                    format!("Column{unnamed}")
                                });
                                Binding {
                                    name,
                                    ty,
                                    loc: Loc::Slot(slot),
                                }
                            }
                        };
                        if next.iter().any(|b| b.name == binding.name) {
                            return Err(KqlError::semantic(format!(
                                "'{what}' operator: column '{}' is projected more than once",
                                binding.name
                            )));
                        }
                        next.push(binding);
                    }
                    schema = next;
                    None
                }
                Operator::ProjectAway(names) => {
                    for (name, _) in names {
                        let before = schema.len();
                        schema.retain(|b| &b.name != name);
                        if schema.len() == before {
                            return Err(unknown_column(what, name));
                        }
                    }
                    None
                }
                Operator::ProjectRename(renames) => {
                    for (new, old, _) in renames {
                        let b = schema
                            .iter_mut()
                            .find(|b| &b.name == old)
                            .ok_or_else(|| unknown_column(what, old))?;
                        b.name = new.clone();
                    }
                    None
                }
                Operator::Summarize { aggregates, by } => {
                    let (plan, columns) = self.summarize(aggregates, by, &schema, what)?;
                    Some((Sink::Summarize(plan), columns))
                }
                Operator::Distinct(items) => {
                    let (plan, columns) = self.summarize(&[], items, &schema, what)?;
                    Some((Sink::Summarize(plan), columns))
                }
                Operator::Count => Some((Sink::Count, vec![("Count".to_string(), Type::Long)])),
                Operator::Sort(keys) => {
                    let specs = keys
                        .iter()
                        .map(|k| self.sort_spec(k, &schema, what))
                        .collect::<Result<Vec<_>, _>>()?;
                    Some((Sink::Sort(specs), columns_of(&schema)))
                }
                Operator::Take(n) => {
                    let n = self.row_count(n, &schema, what)?;
                    Some((Sink::Take(n), columns_of(&schema)))
                }
                Operator::Top { count, key } => {
                    let n = self.row_count(count, &schema, what)?;
                    let spec = self.sort_spec(key, &schema, what)?;
                    Some((Sink::Top(n, spec), columns_of(&schema)))
                }
            };
            if let Some((sink, columns)) = sink {
                segments.push(Segment {
                    slots,
                    ops: std::mem::take(&mut stream),
                    outputs: schema.iter().map(|b| b.loc).collect(),
                    sink,
                    columns: columns.clone(),
                });
                schema = materialized(&columns);
                slots = columns.len();
            }
        }
        segments.push(Segment {
            slots,
            ops: stream,
            outputs: schema.iter().map(|b| b.loc).collect(),
            sink: Sink::Collect,
            columns: columns_of(&schema),
        });
        Ok(Plan { segments })
    }

    fn row_count(&self, e: &Expr, schema: &[Binding], what: &str) -> Result<usize, KqlError> {
        let (ce, _) = self.expr(e, schema, &mut Mode::Row, what)?;
        match eval_const(&ce) {
            Some(Value::Long(n)) if n >= 0 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
            Some(Value::Int(n)) if n >= 0 => Ok(usize::try_from(n).unwrap_or(0)),
            _ => Err(KqlError::semantic(format!(
                "'{what}' operator: the row count must be a non-negative constant integer"
            ))),
        }
    }

    fn sort_spec(&self, k: &SortKey, schema: &[Binding], what: &str) -> Result<SortSpec, KqlError> {
        let (key, _) = self.expr(&k.expr, schema, &mut Mode::Row, what)?;
        Ok(SortSpec {
            key,
            descending: k.descending,
            // Kusto: nulls last when descending, first when ascending.
            nulls_first: k.nulls_first.unwrap_or(!k.descending),
        })
    }

    fn summarize(
        &self,
        aggregates: &[NamedExpr],
        by: &[NamedExpr],
        input: &[Binding],
        what: &str,
    ) -> Result<(SummarizePlan, Vec<(String, Type)>), KqlError> {
        let mut columns: Vec<(String, Type)> = Vec::new();
        let mut keys = Vec::new();
        let mut unnamed = 0;
        for item in by {
            let (ce, ty) = self.expr(&item.expr, input, &mut Mode::Row, what)?;
            let name = match (&item.name, &item.expr.kind) {
                (Some(n), _) => n.clone(),
                (None, ExprKind::Name(n)) => n.clone(),
                (None, ExprKind::Call(f, args))
                    if matches!(f.as_str(), "bin" | "floor")
                        && matches!(args.first().map(|a| &a.kind), Some(ExprKind::Name(_))) =>
                {
                    match args.first().map(|a| &a.kind) {
                        Some(ExprKind::Name(n)) => n.clone(),
                        _ => String::new(),
                    }
                }
                _ => {
                    unnamed += 1;
                    format!("Column{unnamed}")
                }
            };
            push_unique(&mut columns, name, ty);
            keys.push(ce);
        }
        let mut aggs = Vec::new();
        let mut stores = Vec::new();
        let mut outputs = Vec::new();
        for item in aggregates {
            // percentiles() makes one column per percentile, so it is handled at the top.
            if let ExprKind::Call(f, args) = &item.expr.kind
                && f == "percentiles"
            {
                if item.name.is_some() {
                    return Err(KqlError::unsupported(
                        "naming the columns of percentiles()".to_string(),
                    ));
                }
                if args.len() < 2 {
                    return Err(arity("percentiles", "at least 2"));
                }
                for p in &args[1..] {
                    let mut mode = Mode::Summarize {
                        aggs: &mut aggs,
                        stores: &mut stores,
                        input,
                    };
                    let (slot, ty) = self.percentile(&args[0], p, input, &mut mode, what)?;
                    let name = percentile_name(&args[0], p);
                    push_unique(&mut columns, name, ty);
                    outputs.push(CExpr::Slot(slot));
                }
                continue;
            }
            let mut mode = Mode::Summarize {
                aggs: &mut aggs,
                stores: &mut stores,
                input,
            };
            let (ce, ty) = self.expr(&item.expr, &[], &mut mode, what)?;
            let name = match &item.name {
                Some(n) => n.clone(),
                None => match &item.expr.kind {
                    ExprKind::Call(f, args) if AGGREGATES.contains(&f.as_str()) => {
                        default_agg_name(f, args)
                    }
                    _ => {
                        unnamed += 1;
                        format!("Column{unnamed}")
                    }
                },
            };
            push_unique(&mut columns, name, ty);
            outputs.push(ce);
        }
        Ok((
            SummarizePlan {
                keys,
                aggs,
                stores,
                outputs,
            },
            columns,
        ))
    }

    fn percentile(
        &self,
        value: &Expr,
        percent: &Expr,
        input: &[Binding],
        mode: &mut Mode<'_>,
        what: &str,
    ) -> Result<(usize, Type), KqlError> {
        let Mode::Summarize { aggs, stores, .. } = mode else {
            return Err(aggregate_outside_summarize("percentile"));
        };
        let (arg, ty) = self.expr(value, input, &mut Mode::Row, what)?;
        if !(ty.is_numeric() || matches!(ty, Type::DateTime | Type::Timespan)) {
            return Err(KqlError::semantic(format!(
                "percentile(): expects a numeric, datetime or timespan value, got {}",
                ty.name()
            )));
        }
        let (pc, _) = self.expr(percent, input, &mut Mode::Row, what)?;
        let p = eval_const(&pc)
            .and_then(|v| v.as_f64())
            .filter(|p| (0.0..=100.0).contains(p))
            .ok_or_else(|| {
                KqlError::semantic(
                    "percentile(): the percentile must be a constant between 0 and 100".into(),
                )
            })?;
        // Several percentiles of one expression share one store of values.
        let store = match stores.iter().position(|s| s.arg == arg) {
            Some(i) => i,
            None => {
                stores.push(StoreSpec { arg, ty });
                stores.len() - 1
            }
        };
        // Kusto widens an int argument to long in the result.
        let result_ty = if ty == Type::Int { Type::Long } else { ty };
        aggs.push(AggSpec {
            kind: AggKind::Percentile,
            arg: None,
            predicate: None,
            arg_ty: ty,
            result_ty,
            store,
            percent: p,
        });
        Ok((aggs.len() - 1, result_ty))
    }

    fn aggregate(
        &self,
        name: &str,
        args: &[Expr],
        mode: &mut Mode<'_>,
        what: &str,
    ) -> Result<(CExpr, Type), KqlError> {
        let input = match mode {
            Mode::Summarize { input, .. } => *input,
            Mode::Row => return Err(aggregate_outside_summarize(name)),
        };
        if name == "percentile" {
            if args.len() != 2 {
                return Err(arity(name, "2"));
            }
            let (slot, ty) = self.percentile(&args[0], &args[1], input, mode, what)?;
            return Ok((CExpr::Slot(slot), ty));
        }
        if name == "percentiles" {
            return Err(KqlError::unsupported(
                "percentiles() inside an expression (use it on its own, or percentile())"
                    .to_string(),
            ));
        }
        let row = |e: &Expr| self.expr(e, input, &mut Mode::Row, what);
        let predicate = |e: &Expr| -> Result<CExpr, KqlError> {
            let (ce, ty) = row(e)?;
            if ty != Type::Bool {
                return Err(KqlError::semantic(format!(
                    "{name}(): the predicate must be of type bool, not {}",
                    ty.name()
                )));
            }
            Ok(ce)
        };
        let (kind, arg, pred, arg_ty, result_ty) = match (name, args.len()) {
            ("count", 0) => (AggKind::Count, None, None, Type::Long, Type::Long),
            ("countif", 1) => (
                AggKind::CountIf,
                None,
                Some(predicate(&args[0])?),
                Type::Long,
                Type::Long,
            ),
            ("dcount", 1 | 2) => {
                let (a, t) = row(&args[0])?;
                (AggKind::DCount, Some(a), None, t, Type::Long)
            }
            ("sum" | "avg", 1) | ("sumif" | "avgif", 2) => {
                let (a, t) = row(&args[0])?;
                let pred = match args.get(1) {
                    Some(p) => Some(predicate(p)?),
                    None => None,
                };
                let is_sum = name.starts_with("sum");
                let result = match t {
                    Type::Int | Type::Long if is_sum => Type::Long,
                    Type::Real if is_sum => Type::Real,
                    Type::Timespan if is_sum => Type::Timespan,
                    Type::Int | Type::Long | Type::Real if !is_sum => Type::Real,
                    _ => {
                        return Err(KqlError::semantic(format!(
                            "{name}(): expects a numeric argument, got {}",
                            t.name()
                        )));
                    }
                };
                let kind = match (is_sum, pred.is_some()) {
                    (true, false) => AggKind::Sum,
                    (true, true) => AggKind::SumIf,
                    (false, false) => AggKind::Avg,
                    (false, true) => AggKind::AvgIf,
                };
                (kind, Some(a), pred, t, result)
            }
            ("min" | "max", 1) => {
                let (a, t) = row(&args[0])?;
                let kind = if name == "min" {
                    AggKind::Min
                } else {
                    AggKind::Max
                };
                // As with sum and percentile, the engine answers long for an int column.
                let result = if t == Type::Int { Type::Long } else { t };
                (kind, Some(a), None, t, result)
            }
            ("count", _) => return Err(arity(name, "0")),
            ("countif" | "sum" | "avg" | "min" | "max", _) => return Err(arity(name, "1")),
            ("sumif" | "avgif", _) => return Err(arity(name, "2")),
            _ => return Err(arity(name, "1 or 2")),
        };
        let Mode::Summarize { aggs, .. } = mode else {
            return Err(aggregate_outside_summarize(name));
        };
        aggs.push(AggSpec {
            kind,
            arg,
            predicate: pred,
            arg_ty,
            result_ty,
            store: 0,
            percent: 0.0,
        });
        Ok((CExpr::Slot(aggs.len() - 1), result_ty))
    }

    fn expr(
        &self,
        e: &Expr,
        schema: &[Binding],
        mode: &mut Mode<'_>,
        what: &str,
    ) -> Result<(CExpr, Type), KqlError> {
        let (ce, ty) = self.expr_unfolded(e, schema, mode, what)?;
        // Fold constant subtrees once, so rows only evaluate what depends on them.
        if !matches!(ce, CExpr::Const(_))
            && let Some(v) = eval_const(&ce)
        {
            return Ok((CExpr::Const(v), ty));
        }
        Ok((ce, ty))
    }

    fn expr_unfolded(
        &self,
        e: &Expr,
        schema: &[Binding],
        mode: &mut Mode<'_>,
        what: &str,
    ) -> Result<(CExpr, Type), KqlError> {
        Ok(match &e.kind {
            ExprKind::Literal(v) => (CExpr::Const(v.clone()), literal_type(v)),
            ExprKind::NullOf(t) => (CExpr::Const(Value::Null), *t),
            ExprKind::Name(name) => {
                if let Some(b) = schema.iter().find(|b| &b.name == name) {
                    let ce = match b.loc {
                        Loc::Src(c) => CExpr::Src(c),
                        Loc::Slot(s) => CExpr::Slot(s),
                    };
                    (ce, b.ty)
                } else if let Some((v, t)) = self.scalars.get(name) {
                    (CExpr::Const(v.clone()), *t)
                } else if let Mode::Summarize { input, .. } = mode
                    && input.iter().any(|b| &b.name == name)
                {
                    return Err(KqlError::semantic(format!(
                        "'{what}' operator: column '{name}' must be used inside an aggregate function or in 'by'"
                    )));
                } else {
                    return Err(unknown_column(what, name));
                }
            }
            ExprKind::Neg(inner) => {
                let (a, t) = self.expr(inner, schema, mode, what)?;
                if !(t.is_numeric() || t == Type::Timespan) {
                    return Err(type_error("unary '-'", &[t]));
                }
                let t = if t == Type::Int { Type::Long } else { t };
                (CExpr::Neg(Box::new(a)), t)
            }
            ExprKind::Binary(op, l, r) => {
                let (a, ta) = self.expr(l, schema, mode, what)?;
                let (b, tb) = self.expr(r, schema, mode, what)?;
                let ty = binary_type(*op, ta, tb)?;
                let ce = match op {
                    BinaryOp::And => CExpr::And(Box::new(a), Box::new(b)),
                    BinaryOp::Or => CExpr::Or(Box::new(a), Box::new(b)),
                    _ => CExpr::Binary(*op, Box::new(a), Box::new(b)),
                };
                (ce, ty)
            }
            ExprKind::Between {
                value,
                low,
                high,
                negated,
            } => {
                let (v, tv) = self.expr(value, schema, mode, what)?;
                let (lo, tl) = self.expr(low, schema, mode, what)?;
                let (hi, th) = self.expr(high, schema, mode, what)?;
                // `t between (start .. 5m)`: a timespan upper bound is relative to the lower.
                let hi = if tv == Type::DateTime && tl == Type::DateTime && th == Type::Timespan {
                    CExpr::Binary(BinaryOp::Add, Box::new(lo.clone()), Box::new(hi))
                } else {
                    binary_type(BinaryOp::Le, tv, th)?;
                    hi
                };
                binary_type(BinaryOp::Ge, tv, tl)?;
                (
                    CExpr::Between(Box::new(v), Box::new(lo), Box::new(hi), *negated),
                    Type::Bool,
                )
            }
            ExprKind::In {
                value,
                list,
                negated,
                case_insensitive,
            } => {
                let (v, tv) = self.expr(value, schema, mode, what)?;
                let mut items = Vec::with_capacity(list.len());
                for item in list {
                    let (ce, ti) = self.expr(item, schema, mode, what)?;
                    binary_type(BinaryOp::Eq, tv, ti)?;
                    let Some(c) = eval_const(&ce) else {
                        return Err(KqlError::unsupported(
                            "non-constant elements in an 'in' list".to_string(),
                        ));
                    };
                    items.push(c);
                }
                if *case_insensitive && tv != Type::String {
                    return Err(type_error("in~", &[tv]));
                }
                (
                    CExpr::In(Box::new(v), items, *negated, *case_insensitive),
                    Type::Bool,
                )
            }
            ExprKind::Call(name, args) => self.call(name, args, schema, mode, what)?,
        })
    }

    fn call(
        &self,
        name: &str,
        args: &[Expr],
        schema: &[Binding],
        mode: &mut Mode<'_>,
        what: &str,
    ) -> Result<(CExpr, Type), KqlError> {
        if AGGREGATES.contains(&name) {
            return self.aggregate(name, args, mode, what);
        }
        if UNSUPPORTED_AGGREGATES.contains(&name) {
            return Err(KqlError::unsupported(format!(
                "aggregate function '{name}()'"
            )));
        }
        match name {
            "now" | "ago" => {
                let offset = match args {
                    [] if name == "now" => 0,
                    [a] => {
                        let (ce, t) = self.expr(a, schema, mode, what)?;
                        match (eval_const(&ce), t) {
                            (Some(Value::Timespan(v)), _) => v,
                            _ => {
                                return Err(KqlError::semantic(format!(
                                    "{name}(): expects a constant timespan"
                                )));
                            }
                        }
                    }
                    _ => return Err(arity(name, if name == "now" { "0 or 1" } else { "1" })),
                };
                let ticks = if name == "now" {
                    self.env.now_ticks.saturating_add(offset)
                } else {
                    self.env.now_ticks.saturating_sub(offset)
                };
                return Ok((CExpr::Const(Value::DateTime(ticks)), Type::DateTime));
            }
            _ => {}
        }
        let Some(func) = Func::by_name(name) else {
            return Err(
                if super::eval::KNOWN_UNSUPPORTED_FUNCTIONS.contains(&name) {
                    KqlError::unsupported(format!("function '{name}()'"))
                } else {
                    KqlError::semantic(format!("Unknown function: '{name}'."))
                },
            );
        };
        let mut compiled = Vec::with_capacity(args.len());
        let mut types = Vec::with_capacity(args.len());
        for a in args {
            let (ce, t) = self.expr(a, schema, mode, what)?;
            compiled.push(ce);
            types.push(t);
        }
        let ty = func.result_type(&types)?;
        if func == Func::Iff {
            // Widen a narrower branch explicitly, so every value of the column has its type.
            for (branch, t) in compiled.iter_mut().zip(&types).skip(1) {
                let widen = match (ty, *t) {
                    (Type::Long, Type::Int) => Some(Func::ToLong),
                    (Type::Real, Type::Int | Type::Long) => Some(Func::ToReal),
                    _ => None,
                };
                if let Some(conversion) = widen {
                    let inner = std::mem::replace(branch, CExpr::Const(Value::Null));
                    *branch = CExpr::Call(conversion, vec![inner]);
                }
            }
        }
        Ok((CExpr::Call(func, compiled), ty))
    }
}

fn literal_type(v: &Value) -> Type {
    match v {
        Value::Bool(_) => Type::Bool,
        Value::Int(_) => Type::Int,
        Value::Long(_) => Type::Long,
        Value::Real(_) => Type::Real,
        Value::DateTime(_) => Type::DateTime,
        Value::Timespan(_) => Type::Timespan,
        Value::Str(_) => Type::String,
        Value::Null => Type::Bool,
    }
}

/// The result type of a binary operator, or the error Kusto gives for the operand types.
pub fn binary_type(op: BinaryOp, a: Type, b: Type) -> Result<Type, KqlError> {
    use Type::*;
    let numeric = a.is_numeric() && b.is_numeric();
    let arith = || -> Option<Type> {
        if numeric {
            return Some(if a == Real || b == Real { Real } else { Long });
        }
        match (op, a, b) {
            (BinaryOp::Add, DateTime, Timespan) | (BinaryOp::Add, Timespan, DateTime) => {
                Some(DateTime)
            }
            (BinaryOp::Sub, DateTime, Timespan) => Some(DateTime),
            (BinaryOp::Sub, DateTime, DateTime) => Some(Timespan),
            (BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mod, Timespan, Timespan) => Some(Timespan),
            (BinaryOp::Mul, Timespan, t) | (BinaryOp::Mul, t, Timespan) if t.is_numeric() => {
                Some(Timespan)
            }
            (BinaryOp::Div, Timespan, Timespan) => Some(Real),
            (BinaryOp::Div, Timespan, t) if t.is_numeric() => Some(Timespan),
            _ => None,
        }
    };
    let comparable = numeric || a == b;
    let result = match op {
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => arith(),
        BinaryOp::Eq | BinaryOp::NotEq => comparable.then_some(Bool),
        BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
            (comparable && a != Bool).then_some(Bool)
        }
        BinaryOp::EqCi | BinaryOp::NotEqCi | BinaryOp::StrOp(..) => {
            (a == String && b == String).then_some(Bool)
        }
        BinaryOp::And | BinaryOp::Or => (a == Bool && b == Bool).then_some(Bool),
    };
    result.ok_or_else(|| type_error(op_name(op), &[a, b]))
}

fn op_name(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Add => "+",
        BinaryOp::Sub => "-",
        BinaryOp::Mul => "*",
        BinaryOp::Div => "/",
        BinaryOp::Mod => "%",
        BinaryOp::Eq => "==",
        BinaryOp::NotEq => "!=",
        BinaryOp::Lt => "<",
        BinaryOp::Le => "<=",
        BinaryOp::Gt => ">",
        BinaryOp::Ge => ">=",
        BinaryOp::EqCi => "=~",
        BinaryOp::NotEqCi => "!~",
        BinaryOp::And => "and",
        BinaryOp::Or => "or",
        BinaryOp::StrOp(StrOp::Contains { .. }, _) => "contains",
        BinaryOp::StrOp(StrOp::StartsWith { .. }, _) => "startswith",
        BinaryOp::StrOp(StrOp::EndsWith { .. }, _) => "endswith",
    }
}

pub fn type_error(what: &str, types: &[Type]) -> KqlError {
    let names: Vec<&str> = types.iter().map(|t| t.name()).collect();
    KqlError::semantic(format!(
        "Operator '{what}' cannot be applied to operands of type ({})",
        names.join(", ")
    ))
}

pub fn arity(name: &str, expected: &str) -> KqlError {
    KqlError::semantic(format!(
        "function '{name}()' expects {expected} argument(s)"
    ))
}

fn aggregate_outside_summarize(name: &str) -> KqlError {
    KqlError::semantic(format!(
        "aggregate function '{name}()' can only be used in 'summarize'"
    ))
}

fn unknown_column(what: &str, name: &str) -> KqlError {
    KqlError::semantic(format!(
        "'{what}' operator: Failed to resolve scalar expression named '{name}'"
    ))
}

fn columns_of(schema: &[Binding]) -> Vec<(String, Type)> {
    schema.iter().map(|b| (b.name.clone(), b.ty)).collect()
}

fn materialized(columns: &[(String, Type)]) -> Vec<Binding> {
    columns
        .iter()
        .enumerate()
        .map(|(i, (name, ty))| Binding {
            name: name.clone(),
            ty: *ty,
            loc: Loc::Slot(i),
        })
        .collect()
}

fn unique_name(base: &str, schema: &[Binding]) -> String {
    if !schema.iter().any(|b| b.name == base) {
        return base.to_string();
    }
    (1..)
        .map(|i| format!("{base}{i}"))
        .find(|n| !schema.iter().any(|b| &b.name == n))
        .unwrap_or_else(|| base.to_string())
}

/// Kusto suffixes a repeated output name with a number (`count_`, `count_1`).
fn push_unique(columns: &mut Vec<(String, Type)>, name: String, ty: Type) {
    let taken = |n: &str| columns.iter().any(|(c, _)| c == n);
    let name = if taken(&name) {
        (1..)
            .map(|i| format!("{name}{i}"))
            .find(|n| !taken(n))
            .unwrap_or(name)
    } else {
        name
    };
    columns.push((name, ty));
}

fn default_agg_name(f: &str, args: &[Expr]) -> String {
    match f {
        "count" | "countif" => format!("{f}_"),
        "percentile" => match args {
            [value, p] => percentile_name(value, p),
            _ => "percentile_".into(),
        },
        _ => match args.first().map(|a| &a.kind) {
            Some(ExprKind::Name(n)) => format!("{f}_{n}"),
            _ => format!("{f}_"),
        },
    }
}

/// `percentile_TotalDurationMs_95`; a fractional percentile writes its point as `_`.
fn percentile_name(value: &Expr, p: &Expr) -> String {
    let col = match &value.kind {
        ExprKind::Name(n) => n.as_str(),
        _ => "",
    };
    let pct = match &p.kind {
        ExprKind::Literal(Value::Long(v)) => v.to_string(),
        ExprKind::Literal(Value::Real(v)) => format!("{v}").replace('.', "_"),
        _ => String::new(),
    };
    format!("percentile_{col}_{pct}")
}
