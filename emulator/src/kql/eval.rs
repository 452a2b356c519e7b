//! Compiled scalar expressions and their evaluation over one row.

use std::borrow::Cow;
use std::cmp::Ordering;

use super::KqlError;
use super::ast::{BinaryOp, StrOp};
use super::compile::{arity, type_error};
use super::schema::{Column, SourceReader};
use super::value::{Type, Value, compare_same_type, parse_datetime, parse_timespan};
use crate::model::RequestRow;

/// Kusto scalar functions outside the subset: naming one gets an explicit error.
pub const KNOWN_UNSUPPORTED_FUNCTIONS: &[&str] = &[
    "case",
    "coalesce",
    "extract",
    "parse_json",
    "todynamic",
    "tobool",
    "toguid",
    "todecimal",
    "split",
    "substring",
    "replace_string",
    "replace_regex",
    "indexof",
    "format_datetime",
    "format_timespan",
    "datetime_diff",
    "datetime_add",
    "datetime_part",
    "startofday",
    "startofhour",
    "startofweek",
    "startofmonth",
    "endofday",
    "dayofweek",
    "hourofday",
    "bin_at",
    "bin_auto",
    "array_length",
    "bag_keys",
    "pack",
    "bag_pack",
    "pack_array",
    "hash",
    "rand",
    "gettype",
    "ceiling",
    "sign",
    "min_of",
    "max_of",
    "series_stats",
    "trim",
    "url_decode",
    "base64_decode_tostring",
    "new_guid",
    "toscalar",
    "materialize",
    "row_number",
    "prev",
    "next",
    "countof",
    "has_any_index",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    ToInt,
    ToLong,
    ToReal,
    ToString,
    ToDateTime,
    ToTimespan,
    Log,
    Log10,
    Log2,
    Exp,
    Exp2,
    Exp10,
    Sqrt,
    Pow,
    Abs,
    /// `bin(value, roundTo)` and its alias `floor(value, roundTo)`.
    Bin,
    Round,
    Iff,
    IsNull,
    IsNotNull,
    IsEmpty,
    IsNotEmpty,
    Not,
    StrCat,
    StrLen,
    ToLower,
    ToUpper,
}

impl Func {
    pub fn by_name(name: &str) -> Option<Func> {
        Some(match name {
            "toint" => Func::ToInt,
            "tolong" => Func::ToLong,
            "todouble" | "toreal" => Func::ToReal,
            "tostring" => Func::ToString,
            "todatetime" => Func::ToDateTime,
            "totimespan" => Func::ToTimespan,
            "log" => Func::Log,
            "log10" => Func::Log10,
            "log2" => Func::Log2,
            "exp" => Func::Exp,
            "exp2" => Func::Exp2,
            "exp10" => Func::Exp10,
            "sqrt" => Func::Sqrt,
            "pow" => Func::Pow,
            "abs" => Func::Abs,
            "bin" | "floor" => Func::Bin,
            "round" => Func::Round,
            "iff" | "iif" => Func::Iff,
            "isnull" => Func::IsNull,
            "isnotnull" => Func::IsNotNull,
            "isempty" => Func::IsEmpty,
            "isnotempty" => Func::IsNotEmpty,
            "not" => Func::Not,
            "strcat" => Func::StrCat,
            "strlen" => Func::StrLen,
            "tolower" => Func::ToLower,
            "toupper" => Func::ToUpper,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Func::ToInt => "toint",
            Func::ToLong => "tolong",
            Func::ToReal => "todouble",
            Func::ToString => "tostring",
            Func::ToDateTime => "todatetime",
            Func::ToTimespan => "totimespan",
            Func::Log => "log",
            Func::Log10 => "log10",
            Func::Log2 => "log2",
            Func::Exp => "exp",
            Func::Exp2 => "exp2",
            Func::Exp10 => "exp10",
            Func::Sqrt => "sqrt",
            Func::Pow => "pow",
            Func::Abs => "abs",
            Func::Bin => "bin",
            Func::Round => "round",
            Func::Iff => "iff",
            Func::IsNull => "isnull",
            Func::IsNotNull => "isnotnull",
            Func::IsEmpty => "isempty",
            Func::IsNotEmpty => "isnotempty",
            Func::Not => "not",
            Func::StrCat => "strcat",
            Func::StrLen => "strlen",
            Func::ToLower => "tolower",
            Func::ToUpper => "toupper",
        }
    }

    /// Checks argument types and gives the result type.
    pub fn result_type(self, args: &[Type]) -> Result<Type, KqlError> {
        use Type::*;
        let n = self.name();
        let one = || -> Result<Type, KqlError> {
            match args {
                [t] => Ok(*t),
                _ => Err(arity(n, "1")),
            }
        };
        let numeric = |t: Type| -> Result<(), KqlError> {
            if t.is_numeric() {
                Ok(())
            } else {
                Err(type_error(n, &[t]))
            }
        };
        Ok(match self {
            Func::ToInt | Func::ToLong | Func::ToReal => {
                let t = one()?;
                if !(t.is_numeric() || matches!(t, String | Bool | Timespan | DateTime)) {
                    return Err(type_error(n, &[t]));
                }
                match self {
                    Func::ToInt => Int,
                    Func::ToLong => Long,
                    _ => Real,
                }
            }
            Func::ToString => {
                one()?;
                String
            }
            Func::ToDateTime => match one()? {
                String | DateTime => DateTime,
                t => return Err(type_error(n, &[t])),
            },
            Func::ToTimespan => match one()? {
                String | Timespan => Timespan,
                t => return Err(type_error(n, &[t])),
            },
            Func::Log
            | Func::Log10
            | Func::Log2
            | Func::Exp
            | Func::Exp2
            | Func::Exp10
            | Func::Sqrt => {
                numeric(one()?)?;
                Real
            }
            Func::Pow => match args {
                [a, b] => {
                    numeric(*a)?;
                    numeric(*b)?;
                    Real
                }
                _ => return Err(arity(n, "2")),
            },
            Func::Abs => {
                let t = one()?;
                if !(t.is_numeric() || t == Timespan) {
                    return Err(type_error(n, &[t]));
                }
                t
            }
            Func::Bin => match args {
                // The widest of the two types, as Kusto types bin()/floor().
                [a, b] => match (*a, *b) {
                    (Int, Int) => Int,
                    (x, y) if x.is_integer() && y.is_integer() => Long,
                    (x, y) if x.is_numeric() && y.is_numeric() => Real,
                    (DateTime, Timespan) => DateTime,
                    (Timespan, Timespan) => Timespan,
                    (x, y) => return Err(type_error(n, &[x, y])),
                },
                _ => return Err(arity("bin/floor", "2 (value, roundTo)")),
            },
            Func::Round => match args {
                [t] | [t, Int | Long] if t.is_numeric() => {
                    if *t == Real {
                        Real
                    } else {
                        Long
                    }
                }
                [_] | [_, _] => return Err(type_error(n, args)),
                _ => return Err(arity(n, "1 or 2")),
            },
            Func::Iff => match args {
                [Bool, a, b] => unify(*a, *b).ok_or_else(|| type_error(n, args))?,
                [_, _, _] => return Err(type_error(n, args)),
                _ => return Err(arity(n, "3")),
            },
            Func::IsNull | Func::IsNotNull => {
                one()?;
                Bool
            }
            Func::IsEmpty | Func::IsNotEmpty => {
                one()?;
                Bool
            }
            Func::Not => match one()? {
                Bool => Bool,
                t => return Err(type_error(n, &[t])),
            },
            Func::StrCat => {
                if args.is_empty() {
                    return Err(arity(n, "at least 1"));
                }
                String
            }
            Func::StrLen => match one()? {
                String => Long,
                t => return Err(type_error(n, &[t])),
            },
            Func::ToLower | Func::ToUpper => match one()? {
                String => String,
                t => return Err(type_error(n, &[t])),
            },
        })
    }
}

/// The common type of iff()'s branches: equal types, or numbers widened.
fn unify(a: Type, b: Type) -> Option<Type> {
    if a == b {
        return Some(a);
    }
    if a.is_numeric() && b.is_numeric() {
        return Some(if a == Type::Real || b == Type::Real {
            Type::Real
        } else {
            Type::Long
        });
    }
    None
}

#[derive(Debug, Clone, PartialEq)]
pub enum CExpr {
    Const(Value),
    Src(Column),
    Slot(usize),
    Neg(Box<CExpr>),
    Binary(BinaryOp, Box<CExpr>, Box<CExpr>),
    And(Box<CExpr>, Box<CExpr>),
    Or(Box<CExpr>, Box<CExpr>),
    Between(Box<CExpr>, Box<CExpr>, Box<CExpr>, bool),
    In(Box<CExpr>, Vec<Value>, bool, bool),
    Call(Func, Vec<CExpr>),
}

impl CExpr {
    fn is_const(&self) -> bool {
        match self {
            CExpr::Const(_) => true,
            CExpr::Src(_) | CExpr::Slot(_) => false,
            CExpr::Neg(a) => a.is_const(),
            CExpr::Binary(_, a, b) | CExpr::And(a, b) | CExpr::Or(a, b) => {
                a.is_const() && b.is_const()
            }
            CExpr::Between(a, b, c, _) => a.is_const() && b.is_const() && c.is_const(),
            CExpr::In(a, _, _, _) => a.is_const(),
            CExpr::Call(_, args) => args.iter().all(CExpr::is_const),
        }
    }
}

/// The value of an expression that reads no column, if it is one.
pub fn eval_const(e: &CExpr) -> Option<Value> {
    if !e.is_const() {
        return None;
    }
    Some(
        Evaluator {
            source: None,
            row: None,
            slots: &[],
        }
        .eval(e),
    )
}

/// What an expression reads: the source row (if the segment scans the log) and the slots.
pub struct Evaluator<'a> {
    pub source: Option<&'a SourceReader>,
    pub row: Option<&'a RequestRow>,
    pub slots: &'a [Value],
}

impl Evaluator<'_> {
    pub fn eval(&self, e: &CExpr) -> Value {
        match e {
            CExpr::Const(v) => v.clone(),
            CExpr::Src(c) => match (self.source, self.row) {
                (Some(s), Some(r)) => s.value(r, *c),
                _ => Value::Null,
            },
            CExpr::Slot(i) => self.slots.get(*i).cloned().unwrap_or(Value::Null),
            CExpr::Neg(a) => match self.eval(a) {
                Value::Int(v) => Value::Long(-i64::from(v)),
                Value::Long(v) => Value::Long(v.wrapping_neg()),
                Value::Real(v) => Value::Real(-v),
                Value::Timespan(v) => Value::Timespan(v.wrapping_neg()),
                _ => Value::Null,
            },
            CExpr::Binary(op, a, b) => binary(*op, &self.operand(a), &self.operand(b)),
            // Kusto's three-valued logic: false wins `and`, true wins `or`, else null.
            CExpr::And(a, b) => match self.eval(a) {
                Value::Bool(false) => Value::Bool(false),
                left => match (left, self.eval(b)) {
                    (_, Value::Bool(false)) => Value::Bool(false),
                    (Value::Bool(true), Value::Bool(true)) => Value::Bool(true),
                    _ => Value::Null,
                },
            },
            CExpr::Or(a, b) => match self.eval(a) {
                Value::Bool(true) => Value::Bool(true),
                left => match (left, self.eval(b)) {
                    (_, Value::Bool(true)) => Value::Bool(true),
                    (Value::Bool(false), Value::Bool(false)) => Value::Bool(false),
                    _ => Value::Null,
                },
            },
            CExpr::Between(v, lo, hi, negated) => {
                let v = self.operand(v);
                let (lo, hi) = (self.operand(lo), self.operand(hi));
                match (compare(&v, &lo), compare(&v, &hi)) {
                    (Some(a), Some(b)) => {
                        let inside = a != Ordering::Less && b != Ordering::Greater;
                        Value::Bool(inside != *negated)
                    }
                    _ => Value::Null,
                }
            }
            CExpr::In(v, list, negated, ci) => {
                let v = self.operand(v);
                let found = list.iter().any(|item| {
                    if *ci {
                        match (&*v, item) {
                            (Value::Str(a), Value::Str(b)) => eq_ignore_case(a, b),
                            _ => false,
                        }
                    } else {
                        compare(&v, item) == Some(Ordering::Equal)
                    }
                });
                Value::Bool(found != *negated)
            }
            CExpr::Call(f, args) => self.call(*f, args),
        }
    }

    /// An operand for a comparison: constants, slots and stored strings are borrowed, so the
    /// hot path does not touch reference counts.
    pub fn operand<'s>(&'s self, e: &'s CExpr) -> Cow<'s, Value> {
        match e {
            CExpr::Const(v) => Cow::Borrowed(v),
            CExpr::Slot(i) => match self.slots.get(*i) {
                Some(v) => Cow::Borrowed(v),
                None => Cow::Owned(Value::Null),
            },
            CExpr::Src(c) => match (self.source, self.row) {
                (Some(s), Some(r)) => match s.value_ref(r, *c) {
                    Some(v) => Cow::Borrowed(v),
                    None => Cow::Owned(s.value(r, *c)),
                },
                _ => Cow::Owned(Value::Null),
            },
            _ => Cow::Owned(self.eval(e)),
        }
    }

    fn call(&self, f: Func, args: &[CExpr]) -> Value {
        let arg = |i: usize| args.get(i).map(|a| self.eval(a)).unwrap_or(Value::Null);
        match f {
            // The compiler has widened the branches to the result type.
            Func::Iff => match arg(0) {
                Value::Bool(true) => arg(1),
                _ => arg(2),
            },
            Func::StrCat => {
                let mut out = String::new();
                for a in args {
                    if let Some(s) = self.eval(a).to_display_string() {
                        out.push_str(&s);
                    }
                }
                Value::str(&out)
            }
            _ => {
                let a = arg(0);
                let b = if args.len() > 1 { arg(1) } else { Value::Null };
                scalar_function(f, a, b, args.len())
            }
        }
    }
}

fn real(v: f64) -> Value {
    Value::Real(v)
}

fn scalar_function(f: Func, a: Value, b: Value, argc: usize) -> Value {
    match f {
        Func::ToInt => match to_long(&a) {
            Some(v) => i32::try_from(v).map(Value::Int).unwrap_or(Value::Null),
            None => Value::Null,
        },
        Func::ToLong => to_long(&a).map(Value::Long).unwrap_or(Value::Null),
        Func::ToReal => match a {
            Value::Str(s) => s.trim().parse::<f64>().map(real).unwrap_or(Value::Null),
            Value::Bool(b) => real(if b { 1.0 } else { 0.0 }),
            Value::DateTime(t) | Value::Timespan(t) => real(t as f64),
            other => other.as_f64().map(real).unwrap_or(Value::Null),
        },
        Func::ToString => match a.to_display_string() {
            Some(s) => Value::str(&s),
            // tostring(null) is the empty string in Kusto.
            None => Value::str(""),
        },
        Func::ToDateTime => match a {
            Value::Str(s) => parse_datetime(&s)
                .map(Value::DateTime)
                .unwrap_or(Value::Null),
            Value::DateTime(t) => Value::DateTime(t),
            _ => Value::Null,
        },
        Func::ToTimespan => match a {
            Value::Str(s) => parse_timespan(&s)
                .map(Value::Timespan)
                .unwrap_or(Value::Null),
            Value::Timespan(t) => Value::Timespan(t),
            _ => Value::Null,
        },
        Func::Log | Func::Log10 | Func::Log2 => match a.as_f64() {
            // Kusto: null for a negative argument; log(0) is -infinity.
            Some(x) if x >= 0.0 => real(match f {
                Func::Log => x.ln(),
                Func::Log10 => x.log10(),
                _ => x.log2(),
            }),
            _ => Value::Null,
        },
        Func::Exp | Func::Exp2 | Func::Exp10 => match a.as_f64() {
            Some(x) => real(match f {
                Func::Exp => x.exp(),
                Func::Exp2 => x.exp2(),
                _ => 10f64.powf(x),
            }),
            None => Value::Null,
        },
        Func::Sqrt => match a.as_f64() {
            Some(x) if x >= 0.0 => real(x.sqrt()),
            _ => Value::Null,
        },
        Func::Pow => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => real(x.powf(y)),
            _ => Value::Null,
        },
        Func::Abs => match a {
            Value::Int(v) => Value::Int(v.wrapping_abs()),
            Value::Long(v) => Value::Long(v.wrapping_abs()),
            Value::Real(v) => real(v.abs()),
            Value::Timespan(v) => Value::Timespan(v.wrapping_abs()),
            _ => Value::Null,
        },
        Func::Bin => bin(&a, &b),
        Func::Round => {
            let digits = if argc > 1 { b.as_i64() } else { Some(0) };
            match (a, digits) {
                (Value::Real(x), Some(d)) => real(round_to(x, d)),
                (v @ (Value::Int(_) | Value::Long(_)), Some(d)) => match v.as_i64() {
                    Some(x) if d >= 0 => Value::Long(x),
                    Some(x) => {
                        let r = round_to(x as f64, d);
                        Value::Long(r as i64)
                    }
                    None => Value::Null,
                },
                _ => Value::Null,
            }
        }
        Func::IsNull => Value::Bool(a.is_null()),
        Func::IsNotNull => Value::Bool(!a.is_null()),
        Func::IsEmpty => Value::Bool(is_empty(&a)),
        Func::IsNotEmpty => Value::Bool(!is_empty(&a)),
        Func::Not => match a {
            Value::Bool(v) => Value::Bool(!v),
            _ => Value::Null,
        },
        Func::StrLen => match a {
            Value::Str(s) => Value::Long(s.chars().count() as i64),
            _ => Value::Null,
        },
        Func::ToLower => match a {
            Value::Str(s) => Value::str(&s.to_lowercase()),
            _ => Value::Null,
        },
        Func::ToUpper => match a {
            Value::Str(s) => Value::str(&s.to_uppercase()),
            _ => Value::Null,
        },
        Func::Iff | Func::StrCat => Value::Null,
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Str(s) => s.is_empty(),
        _ => false,
    }
}

/// Rounds half away from zero to `digits` decimals (negative digits round to tens, hundreds…).
fn round_to(x: f64, digits: i64) -> f64 {
    let d = digits.clamp(-300, 300) as i32;
    let factor = 10f64.powi(d);
    (x * factor).round() / factor
}

/// toint()/tolong(): reals truncate toward zero; strings must hold an integer (or a real,
/// which truncates); anything else is null.
fn to_long(v: &Value) -> Option<i64> {
    match v {
        Value::Int(x) => Some(i64::from(*x)),
        Value::Long(x) => Some(*x),
        Value::Real(x) => real_to_long(*x),
        Value::Bool(b) => Some(i64::from(*b)),
        Value::DateTime(t) | Value::Timespan(t) => Some(*t),
        Value::Str(s) => {
            let s = s.trim();
            s.parse::<i64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().and_then(real_to_long))
        }
        Value::Null => None,
    }
}

fn real_to_long(x: f64) -> Option<i64> {
    let t = x.trunc();
    (t.is_finite() && t >= i64::MIN as f64 && t < i64::MAX as f64).then_some(t as i64)
}

/// `bin(value, roundTo)`: the greatest multiple of roundTo not above value; null for a null
/// or non-positive bin size.
fn bin(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::DateTime(t), Value::Timespan(s)) if *s > 0 => {
            Value::DateTime(t.div_euclid(*s) * *s)
        }
        (Value::Timespan(t), Value::Timespan(s)) if *s > 0 => {
            Value::Timespan(t.div_euclid(*s) * *s)
        }
        (Value::Int(x), Value::Int(s)) if *s > 0 => Value::Int(x.div_euclid(*s) * *s),
        (Value::Real(_), _) | (_, Value::Real(_)) => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(s)) if s > 0.0 => real((x / s).floor() * s),
            _ => Value::Null,
        },
        _ => match (a.as_i64(), b.as_i64()) {
            (Some(x), Some(s)) if s > 0 => Value::Long(x.div_euclid(s) * s),
            _ => Value::Null,
        },
    }
}

fn eq_ignore_case(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.to_lowercase() == b.to_lowercase()
    }
}

/// Orders two values the compiler has checked to be comparable; None when either is null.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    if a.is_null() || b.is_null() {
        return None;
    }
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Long(x), Value::Long(y)) => Some(x.cmp(y)),
        (Value::Int(x), Value::Long(y)) => Some(i64::from(*x).cmp(y)),
        (Value::Long(x), Value::Int(y)) => Some(x.cmp(&i64::from(*y))),
        (Value::Real(_), _) | (_, Value::Real(_)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        _ => Some(compare_same_type(a, b)),
    }
}

fn binary(op: BinaryOp, a: &Value, b: &Value) -> Value {
    match op {
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => {
            arithmetic(op, a, b)
        }
        BinaryOp::Eq => cmp_result(a, b, |o| o == Ordering::Equal),
        BinaryOp::NotEq => cmp_result(a, b, |o| o != Ordering::Equal),
        BinaryOp::Lt => cmp_result(a, b, |o| o == Ordering::Less),
        BinaryOp::Le => cmp_result(a, b, |o| o != Ordering::Greater),
        BinaryOp::Gt => cmp_result(a, b, |o| o == Ordering::Greater),
        BinaryOp::Ge => cmp_result(a, b, |o| o != Ordering::Less),
        BinaryOp::EqCi | BinaryOp::NotEqCi => match (a, b) {
            (Value::Str(x), Value::Str(y)) => {
                Value::Bool(eq_ignore_case(x, y) == (op == BinaryOp::EqCi))
            }
            _ => Value::Null,
        },
        BinaryOp::StrOp(kind, negated) => match (a, b) {
            (Value::Str(x), Value::Str(y)) => Value::Bool(string_op(kind, x, y) != negated),
            _ => Value::Null,
        },
        // And/Or are compiled to their own nodes (short-circuit, three-valued).
        BinaryOp::And | BinaryOp::Or => Value::Null,
    }
}

fn string_op(kind: StrOp, hay: &str, needle: &str) -> bool {
    let (StrOp::Contains { case_sensitive }
    | StrOp::StartsWith { case_sensitive }
    | StrOp::EndsWith { case_sensitive }) = kind;
    let (hay, needle): (Cow<'_, str>, Cow<'_, str>) = if case_sensitive {
        (hay.into(), needle.into())
    } else {
        (hay.to_lowercase().into(), needle.to_lowercase().into())
    };
    match kind {
        StrOp::Contains { .. } => hay.contains(&*needle),
        StrOp::StartsWith { .. } => hay.starts_with(&*needle),
        StrOp::EndsWith { .. } => hay.ends_with(&*needle),
    }
}

fn cmp_result(a: &Value, b: &Value, pick: impl Fn(Ordering) -> bool) -> Value {
    match compare(a, b) {
        Some(o) => Value::Bool(pick(o)),
        None => Value::Null,
    }
}

fn arithmetic(op: BinaryOp, a: &Value, b: &Value) -> Value {
    use Value::*;
    match (a, b) {
        (Null, _) | (_, Null) => Null,
        (DateTime(t), Timespan(s)) | (Timespan(s), DateTime(t)) if op == BinaryOp::Add => {
            DateTime(t.wrapping_add(*s))
        }
        (DateTime(t), Timespan(s)) if op == BinaryOp::Sub => DateTime(t.wrapping_sub(*s)),
        (DateTime(t), DateTime(u)) if op == BinaryOp::Sub => Timespan(t.wrapping_sub(*u)),
        (Timespan(x), Timespan(y)) => match op {
            BinaryOp::Add => Timespan(x.wrapping_add(*y)),
            BinaryOp::Sub => Timespan(x.wrapping_sub(*y)),
            BinaryOp::Mod if *y != 0 => Timespan(x.rem_euclid(*y)),
            BinaryOp::Div if *y != 0 => Real(*x as f64 / *y as f64),
            _ => Null,
        },
        (Timespan(t), n) | (n, Timespan(t)) if op == BinaryOp::Mul => match n.as_f64() {
            Some(f) => Timespan((*t as f64 * f).round() as i64),
            None => Null,
        },
        (Timespan(t), n) if op == BinaryOp::Div => match n.as_f64() {
            Some(f) if f != 0.0 => Timespan((*t as f64 / f).round() as i64),
            _ => Null,
        },
        (Real(_), _) | (_, Real(_)) => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => Real(match op {
                BinaryOp::Add => x + y,
                BinaryOp::Sub => x - y,
                BinaryOp::Mul => x * y,
                BinaryOp::Div => x / y,
                // Kusto's modulo is never negative.
                _ => x.rem_euclid(y),
            }),
            _ => Null,
        },
        _ => match (a.as_i64(), b.as_i64()) {
            (Some(x), Some(y)) => match op {
                BinaryOp::Add => Long(x.wrapping_add(y)),
                BinaryOp::Sub => Long(x.wrapping_sub(y)),
                BinaryOp::Mul => Long(x.wrapping_mul(y)),
                BinaryOp::Div if y != 0 => Long(x.wrapping_div(y)),
                BinaryOp::Mod if y != 0 => Long(x.rem_euclid(y)),
                _ => Null,
            },
            _ => Null,
        },
    }
}

/// Reads an integer source column straight from the row, skipping the Value machinery: the
/// scan's hot path for aggregates such as `percentile(TotalDurationMs, 99)`.
pub fn direct_int(e: &CExpr) -> Option<Column> {
    match e {
        CExpr::Src(c) if c.ty() == Type::Int => Some(*c),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(v: Value) -> Box<CExpr> {
        Box::new(CExpr::Const(v))
    }

    #[test]
    fn integer_arithmetic_is_long_and_modulo_is_never_negative() {
        assert_eq!(
            binary(BinaryOp::Add, &Value::Int(2), &Value::Int(3)),
            Value::Long(5)
        );
        assert_eq!(
            binary(BinaryOp::Div, &Value::Long(7), &Value::Long(2)),
            Value::Long(3)
        );
        assert_eq!(
            binary(BinaryOp::Mod, &Value::Long(-14), &Value::Long(12)),
            Value::Long(10)
        );
        assert_eq!(
            binary(BinaryOp::Div, &Value::Long(1), &Value::Long(0)),
            Value::Null
        );
        assert_eq!(
            binary(BinaryOp::Div, &Value::Real(1.0), &Value::Long(2)),
            Value::Real(0.5)
        );
    }

    #[test]
    fn three_valued_logic_follows_kusto() {
        let null = || c(Value::Null);
        let t = || c(Value::Bool(true));
        let f = || c(Value::Bool(false));
        assert_eq!(
            eval_const(&CExpr::And(f(), null())),
            Some(Value::Bool(false))
        );
        assert_eq!(eval_const(&CExpr::And(t(), null())), Some(Value::Null));
        assert_eq!(eval_const(&CExpr::Or(null(), t())), Some(Value::Bool(true)));
        assert_eq!(eval_const(&CExpr::Or(f(), null())), Some(Value::Null));
    }

    #[test]
    fn conversions_return_null_on_failure() {
        assert_eq!(
            scalar_function(Func::ToInt, Value::str("x"), Value::Null, 1),
            Value::Null
        );
        assert_eq!(
            scalar_function(Func::ToInt, Value::str(" 42 "), Value::Null, 1),
            Value::Int(42)
        );
        assert_eq!(
            scalar_function(Func::ToInt, Value::Real(-2.7), Value::Null, 1),
            Value::Int(-2)
        );
        assert_eq!(
            scalar_function(Func::ToInt, Value::Long(1 << 40), Value::Null, 1),
            Value::Null
        );
        assert_eq!(
            scalar_function(Func::ToReal, Value::str("2.5"), Value::Null, 1),
            Value::Real(2.5)
        );
        assert_eq!(
            scalar_function(Func::Log, Value::Long(-1), Value::Null, 1),
            Value::Null
        );
    }

    #[test]
    fn bin_floors_numbers_datetimes_and_timespans() {
        assert_eq!(bin(&Value::Real(4.5), &Value::Long(1)), Value::Real(4.0));
        assert_eq!(bin(&Value::Long(-3), &Value::Long(2)), Value::Long(-4));
        assert_eq!(bin(&Value::Int(17), &Value::Int(5)), Value::Int(15));
        assert_eq!(bin(&Value::Int(17), &Value::Long(5)), Value::Long(15));
        assert_eq!(
            bin(
                &Value::Timespan(16 * 864_000_000_000),
                &Value::Timespan(7 * 864_000_000_000)
            ),
            Value::Timespan(14 * 864_000_000_000)
        );
        assert_eq!(bin(&Value::Long(3), &Value::Long(0)), Value::Null);
    }

    #[test]
    fn comparisons_with_null_are_null_and_in_is_false() {
        assert_eq!(
            binary(BinaryOp::Eq, &Value::Null, &Value::Long(1)),
            Value::Null
        );
        let e = CExpr::In(c(Value::Null), vec![Value::Long(1)], false, false);
        assert_eq!(eval_const(&e), Some(Value::Bool(false)));
        let e = CExpr::In(
            c(Value::Int(3)),
            vec![Value::Long(1), Value::Long(3)],
            false,
            false,
        );
        assert_eq!(eval_const(&e), Some(Value::Bool(true)));
    }
}
