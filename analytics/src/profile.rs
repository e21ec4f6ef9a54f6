//! `profile`: per column its type, nulls, distinct values, range, moments, quartiles and most
//! frequent values — what an agent otherwise learns from `df.describe(include="all")`.

use crate::error::Result;
use crate::load::Loaded;
use crate::values::{finite, json, text, thousands};
use dynexec_analytics_protocol::{ColumnProfile, Profile, ProfileFormat, ProfileRequest, TopValue};
use polars::prelude::*;

pub const MAX_TOP: usize = 50;

pub fn dtype_label(dt: &DataType) -> String {
    match dt {
        d if d.is_integer() => "int".into(),
        d if d.is_float() => "float".into(),
        DataType::String => "string".into(),
        DataType::Boolean => "bool".into(),
        DataType::Date => "date".into(),
        DataType::Datetime(..) => "datetime".into(),
        other => other.to_string(),
    }
}

pub fn profile(req: &ProfileRequest, loaded: &Loaded) -> Result<Profile> {
    let top = req.top.min(MAX_TOP);
    let df = &loaded.df;
    let columns = df
        .columns()
        .iter()
        .map(|c| column(c, top))
        .collect::<Result<Vec<_>>>()?;
    let mut profile = Profile {
        path: req.path.clone(),
        format: req.format,
        file_type: loaded.file_type.into(),
        encoding: loaded.encoding.map(str::to_string),
        delimiter: loaded.delimiter.map(|d| d.to_string()),
        rows: df.height() as u64,
        columns,
        markdown: None,
        duration_ms: 0.0,
    };
    if req.format == ProfileFormat::Markdown {
        profile.markdown = Some(markdown(&profile));
    }
    Ok(profile)
}

fn column(c: &Column, top: usize) -> Result<ColumnProfile> {
    let s = c.as_materialized_series();
    let present = s.drop_nulls();
    let numeric = s.dtype().is_primitive_numeric();
    let q = |p: f64| -> Result<Option<f64>> {
        if !numeric || present.is_empty() {
            return Ok(None);
        }
        Ok(finite(
            present
                .quantile_reduce(p, QuantileMethod::Linear)?
                .value()
                .extract::<f64>(),
        ))
    };
    // One hash group-by gives both: polars' n_unique sorts (and its first call zeroes an 8 MiB
    // buffer, a fifth of a small file's profile).
    let (distinct, top) = counts(&present, top)?;
    let (min, max) = if present.is_empty() {
        (None, None)
    } else {
        (
            Some(json(present.min_reduce()?.value())),
            Some(json(present.max_reduce()?.value())),
        )
    };
    Ok(ColumnProfile {
        name: c.name().to_string(),
        dtype: dtype_label(s.dtype()),
        nulls: s.null_count() as u64,
        distinct,
        min,
        max,
        mean: if numeric {
            finite(present.mean())
        } else {
            None
        },
        std: if numeric {
            finite(present.std(1))
        } else {
            None
        },
        p25: q(0.25)?,
        p50: q(0.5)?,
        p75: q(0.75)?,
        top,
    })
}

/// The number of distinct non-null values, and the `n` most frequent ones, ties by value (so
/// the answer is deterministic).
/// (An eager hash grouping of the non-null values on this thread: the lazy engine's filter and
/// streaming group-by cost more than the counting on a file of a few thousand rows.)
fn counts(present: &Series, n: usize) -> Result<(u64, Vec<TopValue>)> {
    let count_name = if present.name().as_str() == "count" {
        "__count"
    } else {
        "count"
    };
    let counted = present.value_counts(false, false, count_name.into(), false)?;
    let values = counted.column(present.name())?.as_materialized_series();
    let counts = counted
        .column(count_name)?
        .as_materialized_series()
        .cast(&DataType::UInt64)?;
    let counts = counts.u64()?;
    let mut out: Vec<(AnyValue, u64)> = (0..counted.height())
        .filter_map(|i| Some((values.get(i).ok()?, counts.get(i)?)))
        .collect();
    let order = |a: &(AnyValue, u64), b: &(AnyValue, u64)| {
        b.1.cmp(&a.1)
            .then_with(|| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal))
    };
    // Only the first n are sorted (a column of distinct values has as many groups as rows).
    if n < out.len() {
        out.select_nth_unstable_by(n, order);
        out.truncate(n);
    }
    out.sort_by(order);
    let top = out
        .into_iter()
        .take(n)
        .map(|(v, count)| TopValue {
            value: json(&v),
            count,
        })
        .collect();
    Ok((counted.height() as u64, top))
}

/// One row per column, numbers with thousands separators: compact enough for a prompt.
pub fn markdown(p: &Profile) -> String {
    let mut out = format!(
        "**{}** — {} rows × {} columns ({}{}{})\n\n",
        p.path,
        thousands(p.rows as f64),
        p.columns.len(),
        p.file_type,
        p.encoding
            .as_deref()
            .map(|e| format!(", {e}"))
            .unwrap_or_default(),
        p.delimiter
            .as_deref()
            .map(|d| format!(", delimiter `{}`", if d == "\t" { "\\t" } else { d }))
            .unwrap_or_default(),
    );
    out.push_str(
        "| column | type | nulls | distinct | min | max | mean | std | p25 | p50 | p75 | top |\n",
    );
    out.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    let num = |f: Option<f64>| f.map(thousands).unwrap_or_default();
    let val = |v: &Option<serde_json::Value>| match v {
        Some(serde_json::Value::Number(n)) => n.as_f64().map(thousands).unwrap_or_default(),
        Some(v) => text(v),
        None => String::new(),
    };
    for c in &p.columns {
        let top = c
            .top
            .iter()
            .map(|t| format!("{} ({})", text(&t.value), t.count))
            .collect::<Vec<_>>()
            .join(", ");
        let row = [
            c.name.clone(),
            c.dtype.clone(),
            c.nulls.to_string(),
            c.distinct.to_string(),
            val(&c.min),
            val(&c.max),
            num(c.mean),
            num(c.std),
            num(c.p25),
            num(c.p50),
            num(c.p75),
            top,
        ];
        out.push_str("| ");
        out.push_str(
            &row.iter()
                .map(|s| s.replace('|', "\\|").replace('\n', " "))
                .collect::<Vec<_>>()
                .join(" | "),
        );
        out.push_str(" |\n");
    }
    out
}
