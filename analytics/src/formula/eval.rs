//! A parsed formula over a DataFrame: each aggregate becomes one polars expression (so every
//! calculation over a file is one `select`), the arithmetic between them is done on the
//! resulting numbers.

use super::ast::{Aggregate, Cmp, ColRef, Cond, Expr, Func, Lit, Op};
use crate::values::days_of_date;
use polars::prelude::{self as pl, col, len, lit, DataType, Schema};

/// A column name as the file spells it: exact, else ignoring case and surrounding spaces.
pub fn resolve(schema: &Schema, name: &str) -> Option<String> {
    if schema.contains(name) {
        return Some(name.to_string());
    }
    let want = name.trim().to_lowercase();
    schema
        .iter_names()
        .find(|n| n.trim().to_lowercase() == want)
        .map(|n| n.to_string())
}

/// The file's columns, for messages that name a missing one.
pub fn names(schema: &Schema) -> String {
    schema
        .iter_names()
        .map(|n| n.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn dtype<'a>(schema: &'a Schema, name: &str) -> Result<&'a DataType, String> {
    schema
        .get(name)
        .ok_or_else(|| format!("no column `{name}` in the file"))
}

fn parse_date(s: &str) -> Option<chrono::NaiveDate> {
    let s = s.trim();
    ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d"]
        .iter()
        .find_map(|f| chrono::NaiveDate::parse_from_str(s, f).ok())
}

/// A literal typed for comparison with a column of `dt`.
fn literal(column: &str, dt: &DataType, v: &Lit) -> Result<pl::Expr, String> {
    match (dt, v) {
        (DataType::String, Lit::Str(s)) => Ok(lit(s.as_str())),
        (DataType::String, Lit::Num(n)) => Ok(lit(crate::values::trim_float(*n))),
        (d, Lit::Num(n)) if d.is_primitive_numeric() => Ok(lit(*n)),
        (d, Lit::Str(s)) if d.is_primitive_numeric() => s
            .trim()
            .replace(',', "")
            .parse::<f64>()
            .map(lit)
            .map_err(|_| format!("`{column}` holds numbers; `{s}` is not one")),
        (DataType::Date, Lit::Str(s)) => parse_date(s)
            .map(|d| lit(days_of_date(d)).cast(DataType::Date))
            .ok_or_else(|| {
                format!("`{column}` holds dates; `{s}` is not an ISO date (YYYY-MM-DD)")
            }),
        (DataType::Datetime(unit, tz), Lit::Str(s)) => {
            let t = chrono::NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S")
                .or_else(|_| chrono::NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%dT%H:%M:%S"))
                .ok()
                .or_else(|| parse_date(s).map(|d| d.and_time(chrono::NaiveTime::MIN)))
                .ok_or_else(|| format!("`{column}` holds timestamps; `{s}` is not one"))?;
            let micros = t.and_utc().timestamp_micros();
            let v = match unit {
                pl::TimeUnit::Nanoseconds => micros.saturating_mul(1000),
                pl::TimeUnit::Microseconds => micros,
                pl::TimeUnit::Milliseconds => micros / 1000,
            };
            Ok(lit(v).cast(DataType::Datetime(*unit, tz.clone())))
        }
        (DataType::Boolean, Lit::Str(s)) => match s.to_ascii_lowercase().as_str() {
            "true" => Ok(lit(true)),
            "false" => Ok(lit(false)),
            _ => Err(format!("`{column}` holds booleans; `{s}` is not one")),
        },
        (dt, v) => Err(format!("cannot compare `{column}` ({dt}) with {v:?}")),
    }
}

/// A condition as a boolean polars expression (columns already resolved).
pub fn condition(cond: &Cond, schema: &Schema) -> Result<pl::Expr, String> {
    let fold = |parts: &[Cond], and: bool| -> Result<pl::Expr, String> {
        let mut exprs = parts.iter().map(|c| condition(c, schema));
        let first = exprs.next().ok_or("empty condition")??;
        exprs.try_fold(first, |acc, e| {
            Ok(if and { acc.and(e?) } else { acc.or(e?) })
        })
    };
    match cond {
        Cond::And(parts) => fold(parts, true),
        Cond::Or(parts) => fold(parts, false),
        Cond::Compare(c, cmp, v) => {
            let v = literal(c, dtype(schema, c)?, v)?;
            let c = col(c.as_str());
            Ok(match cmp {
                Cmp::Eq => c.eq(v),
                Cmp::Ne => c.neq(v),
                Cmp::Lt => c.lt(v),
                Cmp::Le => c.lt_eq(v),
                Cmp::Gt => c.gt(v),
                Cmp::Ge => c.gt_eq(v),
            })
        }
        Cond::In(c, values, negated) => {
            let dt = dtype(schema, c)?;
            let mut any: Option<pl::Expr> = None;
            for v in values {
                let e = col(c.as_str()).eq(literal(c, dt, v)?);
                any = Some(match any {
                    Some(a) => a.or(e),
                    None => e,
                });
            }
            let any = any.ok_or("IN () with no values")?;
            Ok(if *negated { any.not() } else { any })
        }
        Cond::Between(c, lo, hi) => {
            let dt = dtype(schema, c)?;
            Ok(col(c.as_str())
                .gt_eq(literal(c, dt, lo)?)
                .and(col(c.as_str()).lt_eq(literal(c, dt, hi)?)))
        }
    }
}

/// One aggregate as a polars expression yielding one Float64.
pub fn aggregate(a: &Aggregate, schema: &Schema) -> Result<pl::Expr, String> {
    let filter = a
        .filter
        .as_ref()
        .map(|f| condition(f, schema))
        .transpose()?;
    let name = match &a.column {
        ColRef::Star => {
            return Ok(match filter {
                Some(f) => f.cast(DataType::UInt32).sum(),
                None => len(),
            }
            .cast(DataType::Float64))
        }
        ColRef::Name(n) => n,
    };
    let dt = dtype(schema, name)?;
    let numeric = dt.is_primitive_numeric() || *dt == DataType::Boolean;
    if matches!(
        a.func,
        Func::Sum | Func::Mean | Func::Median | Func::Std | Func::Min | Func::Max
    ) && !numeric
    {
        return Err(format!(
            "{}({name}): `{name}` is {dt}, not numeric",
            a.func.name()
        ));
    }
    let mut c = col(name.as_str());
    if let Some(f) = filter {
        c = c.filter(f);
    }
    let as_float = |e: pl::Expr| e.cast(DataType::Float64);
    Ok(match a.func {
        Func::Sum => as_float(c).sum(),
        Func::Mean => as_float(c).mean(),
        Func::Median => as_float(c).median(),
        Func::Std => as_float(c).std(1),
        Func::Min => as_float(c).min(),
        Func::Max => as_float(c).max(),
        Func::Count => c.count().cast(DataType::Float64),
        Func::CountDistinct => c.drop_nulls().n_unique().cast(DataType::Float64),
    })
}

/// The arithmetic over the aggregates' values, in the order [`Expr::each_aggregate`] visits them.
pub fn arithmetic(e: &Expr, values: &mut impl Iterator<Item = Option<f64>>) -> Result<f64, String> {
    match e {
        Expr::Num(n) => Ok(*n),
        Expr::Neg(e) => Ok(-arithmetic(e, values)?),
        Expr::Agg(a) => values
            .next()
            .flatten()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("{} has no value (no matching rows)", a.func.name())),
        Expr::Bin(a, op, b) => {
            let (x, y) = (arithmetic(a, values)?, arithmetic(b, values)?);
            match op {
                Op::Add => Ok(x + y),
                Op::Sub => Ok(x - y),
                Op::Mul => Ok(x * y),
                Op::Div if y == 0.0 => Err("division by zero".into()),
                Op::Div => Ok(x / y),
            }
        }
    }
}
