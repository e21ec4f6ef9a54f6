//! A chart's series from a workspace file: filtered, grouped by the category (and the series
//! column), aggregated, sorted and cut — or binned, for a histogram.

use crate::error::{bad, Result};
use crate::formula;
use crate::values::{json, text};
use dynexec_analytics_protocol::{Agg, ChartData, ChartKind, ChartSource, Series};
use polars::prelude::*;
use serde_json::Value;
use std::collections::HashMap;

/// Points kept for a scatter plot read from a file.
const MAX_POINTS: usize = 20_000;
/// Categories kept when no `limit` is given.
const MAX_CATEGORIES: usize = 200;

fn column(schema: &Schema, name: &str, role: &str) -> Result<String> {
    formula::eval::resolve(schema, name).ok_or_else(|| {
        bad(format!(
            "{role} column `{name}` is not in the file (columns: {})",
            formula::eval::names(schema)
        ))
    })
}

fn filtered(df: &DataFrame, src: &ChartSource) -> Result<LazyFrame> {
    let lf = df.clone().lazy();
    let Some(f) = src.filter.as_deref().filter(|f| !f.trim().is_empty()) else {
        return Ok(lf);
    };
    let schema = df.schema();
    let mut cond = formula::parse::condition(f).map_err(|e| bad(format!("filter: {e}")))?;
    let mut unknown = None;
    cond.map_columns(&mut |n| match formula::eval::resolve(schema, n) {
        Some(r) => *n = r,
        None => unknown = Some(n.clone()),
    });
    if let Some(u) = unknown {
        return Err(bad(format!("filter: no column `{u}` in the file")));
    }
    let e = formula::eval::condition(&cond, schema).map_err(|e| bad(format!("filter: {e}")))?;
    Ok(lf.filter(e))
}

pub fn from_source(kind: ChartKind, df: &DataFrame, src: &ChartSource) -> Result<ChartData> {
    let schema = df.schema().clone();
    let x = column(&schema, &src.x, "x")?;
    let lf = filtered(df, src)?;
    match kind {
        ChartKind::Histogram => histogram(lf, &x, src.bins),
        ChartKind::Scatter => scatter(lf, &schema, &x, src),
        _ => grouped(lf, &schema, &x, src),
    }
}

fn grouped(lf: LazyFrame, schema: &Schema, x: &str, src: &ChartSource) -> Result<ChartData> {
    let value = match (src.agg, &src.y) {
        (Agg::Count, _) => len(),
        (_, None) => return Err(bad("`y` is needed unless agg is `count`")),
        (agg, Some(y)) => {
            let y = column(schema, y, "y")?;
            if !schema.get(&y).is_some_and(|d| d.is_primitive_numeric()) {
                return Err(bad(format!("y column `{y}` is not numeric")));
            }
            let c = col(y.as_str()).cast(DataType::Float64);
            match agg {
                Agg::Sum => c.sum(),
                Agg::Mean => c.mean(),
                Agg::Min => c.min(),
                Agg::Max => c.max(),
                Agg::Count => unreachable!("matched above"),
            }
        }
    }
    .cast(DataType::Float64)
    .alias("__y");
    let group = src
        .group
        .as_deref()
        .map(|g| column(schema, g, "group"))
        .transpose()?;
    let mut keys = vec![col(x)];
    if let Some(g) = &group {
        keys.push(col(g.as_str()));
    }
    let out = lf.group_by(keys).agg([value]).collect()?;
    let xs = out.column(x)?.as_materialized_series().clone();
    let ys = out.column("__y")?.as_materialized_series().clone();
    let gs = group
        .as_ref()
        .map(|g| out.column(g).map(|c| c.as_materialized_series().clone()))
        .transpose()?;
    // category → (sort key, per-series value)
    let mut cats: Vec<(AnyValue<'static>, Value)> = vec![];
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut names: Vec<String> = vec![];
    let mut cells: HashMap<(usize, String), f64> = HashMap::new();
    for i in 0..out.height() {
        let xv = xs.get(i)?.into_static();
        let key = text(&json(&xv));
        let ci = *index.entry(key).or_insert_with(|| {
            cats.push((xv.clone(), json(&xv)));
            cats.len() - 1
        });
        let name = match &gs {
            Some(g) => text(&json(&g.get(i)?)),
            None => src.y.clone().unwrap_or_else(|| "count".into()),
        };
        if !names.contains(&name) {
            names.push(name.clone());
        }
        if let Some(v) = ys.get(i)?.extract::<f64>() {
            cells.insert((ci, name), v);
        }
    }
    names.sort();
    let total = |ci: usize| -> f64 {
        names
            .iter()
            .filter_map(|n| cells.get(&(ci, n.clone())))
            .sum()
    };
    let mut order: Vec<usize> = (0..cats.len()).collect();
    let sort = src.sort.as_deref().unwrap_or("x");
    let by_x = |a: &usize, b: &usize| {
        cats[*a]
            .0
            .partial_cmp(&cats[*b].0)
            .unwrap_or(std::cmp::Ordering::Equal)
    };
    match sort {
        "x" => order.sort_by(by_x),
        "-x" => order.sort_by(|a, b| by_x(b, a)),
        "y" => order.sort_by(|a, b| total(*a).total_cmp(&total(*b))),
        "-y" => order.sort_by(|a, b| total(*b).total_cmp(&total(*a))),
        other => return Err(bad(format!("sort must be x, -x, y or -y, not `{other}`"))),
    }
    order.truncate(src.limit.unwrap_or(MAX_CATEGORIES));
    Ok(ChartData {
        x: order.iter().map(|&ci| cats[ci].1.clone()).collect(),
        series: names
            .iter()
            .map(|n| Series {
                name: n.clone(),
                y: order
                    .iter()
                    .map(|&ci| cells.get(&(ci, n.clone())).copied())
                    .collect(),
            })
            .collect(),
    })
}

fn scatter(lf: LazyFrame, schema: &Schema, x: &str, src: &ChartSource) -> Result<ChartData> {
    let y = column(
        schema,
        src.y.as_deref().ok_or_else(|| bad("scatter needs `y`"))?,
        "y",
    )?;
    for c in [x, y.as_str()] {
        if !schema.get(c).is_some_and(|d| d.is_primitive_numeric()) {
            return Err(bad(format!("scatter: `{c}` is not numeric")));
        }
    }
    let group = src
        .group
        .as_deref()
        .map(|g| column(schema, g, "group"))
        .transpose()?;
    let mut cols = vec![
        col(x).cast(DataType::Float64),
        col(y.as_str()).cast(DataType::Float64).alias("__y"),
    ];
    if let Some(g) = &group {
        cols.push(col(g.as_str()).alias("__g"));
    }
    let out = lf
        .select(cols)
        .drop_nulls(None)
        .limit(src.limit.unwrap_or(MAX_POINTS) as IdxSize)
        .collect()?;
    let xs = out.column(x)?.f64()?.clone();
    let ys = out.column("__y")?.f64()?.clone();
    let labels: Option<Vec<String>> = match &group {
        Some(_) => {
            let g = out.column("__g")?.as_materialized_series();
            Some(
                (0..out.height())
                    .map(|i| g.get(i).map(|v| text(&json(&v))).unwrap_or_default())
                    .collect(),
            )
        }
        None => None,
    };
    let names: Vec<String> = match &labels {
        Some(l) => {
            let mut n = l.clone();
            n.sort();
            n.dedup();
            n
        }
        None => vec![y.clone()],
    };
    let series = names
        .iter()
        .map(|name| Series {
            name: name.clone(),
            y: (0..out.height())
                .map(|i| match &labels {
                    Some(l) if l[i] != *name => None,
                    _ => ys.get(i),
                })
                .collect(),
        })
        .collect();
    Ok(ChartData {
        x: xs
            .iter()
            .map(|v| v.map_or(Value::Null, crate::values::number))
            .collect(),
        series,
    })
}

/// `"1,800–50,892"`: a bin's edges with thousands separators, rounded to what the bin width
/// can tell apart (no decimals for bins of 10 or wider, up to 6 for narrow ones).
fn bin_label(a: f64, b: f64, width: f64) -> String {
    let decimals = if width >= 10.0 {
        0
    } else {
        ((-width.log10()).ceil() as i32 + 1).clamp(0, 6)
    };
    let scale = 10f64.powi(decimals);
    let edge = |v: f64| crate::values::thousands((v * scale).round() / scale);
    format!("{}–{}", edge(a), edge(b))
}

/// Equal-width bins over the column's range (Sturges' rule unless `bins`); x holds each bin's
/// `[lower, upper)` edges as `"lo–hi"` labels.
fn histogram(lf: LazyFrame, x: &str, bins: Option<usize>) -> Result<ChartData> {
    let out = lf
        .select([col(x).cast(DataType::Float64)])
        .drop_nulls(None)
        .collect()?;
    let values: Vec<f64> = out
        .column(x)?
        .f64()?
        .into_no_null_iter()
        .filter(|v| v.is_finite())
        .collect();
    if values.is_empty() {
        return Err(bad(format!("histogram: `{x}` has no numeric values")));
    }
    let (lo, hi) = values
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
    let n = bins
        .unwrap_or_else(|| (values.len() as f64).log2().ceil() as usize + 1)
        .clamp(1, 500);
    let width = if hi > lo { (hi - lo) / n as f64 } else { 1.0 };
    let mut counts = vec![0f64; n];
    for v in &values {
        let b = (((v - lo) / width) as usize).min(n - 1);
        counts[b] += 1.0;
    }
    Ok(ChartData {
        x: (0..n)
            .map(|i| {
                let a = lo + width * i as f64;
                Value::String(bin_label(a, a + width, width))
            })
            .collect(),
        series: vec![Series {
            name: "count".into(),
            y: counts.into_iter().map(Some).collect(),
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::bin_label;

    #[test]
    fn bin_labels_are_readable() {
        assert_eq!(bin_label(1800.0, 50892.307, 49092.307), "1,800–50,892");
        assert_eq!(bin_label(0.1, 0.45, 0.35), "0.1–0.45");
        assert_eq!(bin_label(-12.5, 12.5, 25.0), "-13–13");
        assert_eq!(bin_label(2.0, 3.25, 1.25), "2–3.3");
    }
}
