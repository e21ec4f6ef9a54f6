//! `verify`: every calculation of the Coder's `calculation_metadata.json` recomputed from its
//! source file — by its SQL `query`, else by its `formula` — and compared with the value it
//! claims; then `citations.json` in the Validator's shape.

use crate::error::{bad, Result};
use crate::expected;
use crate::formula::{self, ast::ColRef, ast::Expr};
use crate::load::{self, Loaded};
use crate::workspace::Root;
use dynexec_analytics_protocol::{CalculationCheck, CheckStatus, VerifyReport, VerifyRequest};
use polars::prelude::{self as pl, DataFrame, IntoLazy};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// How one calculation is recomputed.
enum Plan {
    Sql(String),
    Formula {
        expr: Expr,
        aggs: Vec<pl::Expr>,
        method: &'static str,
        note: String,
    },
}

struct Job {
    plan: Plan,
    /// Set once computed (or failed).
    outcome: Option<std::result::Result<f64, String>>,
}

fn text_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn source_columns(c: &Map<String, Value>) -> Vec<String> {
    match c.get("source_columns") {
        Some(Value::Array(a)) => a.iter().filter_map(|v| text_of(Some(v))).collect(),
        Some(Value::String(s)) => s.split(',').map(|x| x.trim().to_string()).collect(),
        _ => vec![],
    }
}

pub fn verify(req: &VerifyRequest, root: &Root) -> Result<VerifyReport> {
    if !(req.tolerance >= 0.0 && req.tolerance.is_finite()) {
        return Err(bad("tolerance must be a finite number >= 0"));
    }
    let path = root.existing(&req.metadata)?;
    let bytes =
        std::fs::read(&path).map_err(|e| bad(format!("reading `{}`: {e}", req.metadata)))?;
    let doc: Value = serde_json::from_slice(&bytes)
        .map_err(|e| bad(format!("`{}` is not JSON: {e}", req.metadata)))?;
    let calcs: Vec<Map<String, Value>> = match doc.get("calculations").unwrap_or(&doc) {
        Value::Array(a) => a
            .iter()
            .map(|c| match c {
                Value::Object(o) => Ok(o.clone()),
                _ => Err(bad(format!(
                    "`{}`: every calculation must be an object",
                    req.metadata
                ))),
            })
            .collect::<Result<_>>()?,
        _ => {
            return Err(bad(format!(
                "`{}` has no `calculations` array",
                req.metadata
            )))
        }
    };
    let results = check_all(&calcs, root, req.tolerance);
    let citations = crate::citations::document(&calcs, &results);
    let output = match req.output.as_deref() {
        Some("") => None,
        other => {
            let rel = other.unwrap_or("artifacts/citations.json");
            let body = serde_json::to_vec_pretty(&citations).map_err(|e| bad(e.to_string()))?;
            Some(root.write(rel, &body)?)
        }
    };
    let count = |s: CheckStatus| results.iter().filter(|r| r.status == s).count();
    Ok(VerifyReport {
        total: results.len(),
        verified: count(CheckStatus::Verified),
        mismatched: count(CheckStatus::Mismatch),
        unverifiable: count(CheckStatus::Unverifiable),
        results,
        citations,
        output,
        duration_ms: 0.0,
    })
}

/// Each file is read once and each file's formulas are one `select`.
fn check_all(calcs: &[Map<String, Value>], root: &Root, tolerance: f64) -> Vec<CalculationCheck> {
    let mut files: HashMap<String, std::result::Result<Loaded, String>> = HashMap::new();
    let mut jobs: Vec<std::result::Result<(String, Job), String>> = Vec::new();
    for c in calcs {
        jobs.push(plan(c, root, &mut files));
    }
    // One select per file over every formula aggregate of that file.
    let mut by_file: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, j) in jobs.iter().enumerate() {
        if let Ok((
            file,
            Job {
                plan: Plan::Formula { .. },
                ..
            },
        )) = j
        {
            by_file.entry(file.clone()).or_default().push(i);
        }
    }
    for (file, idx) in by_file {
        let Some(Ok(loaded)) = files.get(&file) else {
            continue;
        };
        run_batch(&loaded.df, &mut jobs, &idx);
    }
    for (file, job) in jobs.iter_mut().flatten() {
        if let Plan::Sql(q) = &job.plan {
            let df = files.get(file.as_str()).and_then(|f| f.as_ref().ok());
            job.outcome = Some(match df {
                Some(loaded) => sql(loaded.df.clone(), q),
                None => Err("source file not loaded".into()),
            });
        }
    }
    calcs
        .iter()
        .zip(jobs)
        .map(|(c, j)| judge(c, j, tolerance))
        .collect()
}

fn id_of(c: &Map<String, Value>) -> String {
    text_of(c.get("id").or_else(|| c.get("calculation_id"))).unwrap_or_default()
}

/// Loads the calculation's file (once) and decides how it is recomputed.
fn plan(
    c: &Map<String, Value>,
    root: &Root,
    files: &mut HashMap<String, std::result::Result<Loaded, String>>,
) -> std::result::Result<(String, Job), String> {
    let file = text_of(c.get("source_file")).ok_or("no source_file")?;
    let loaded = files.entry(file.clone()).or_insert_with(|| {
        let path = root.existing(&file).map_err(|e| e.to_string())?;
        load::load(&path, &file).map_err(|e| e.to_string())
    });
    let loaded = loaded.as_ref().map_err(Clone::clone)?;
    if let Some(q) = text_of(c.get("query")).filter(|q| !q.trim().is_empty()) {
        return Ok((
            file,
            Job {
                plan: Plan::Sql(q),
                outcome: None,
            },
        ));
    }
    let text = text_of(c.get("formula")).ok_or("no query and no formula")?;
    let mut expr =
        formula::parse::formula(&text).map_err(|e| format!("formula not understood: {e}"))?;
    let schema = loaded.df.schema();
    // Column names as the file spells them; a formula naming no known column means
    // source_columns[0] (the Validator's rule).
    let mut named: Vec<String> = vec![];
    expr.each_aggregate(&mut |a| {
        if let ColRef::Name(n) = &a.column {
            named.push(n.clone());
        }
        if let Some(f) = &a.filter {
            f.columns(&mut named);
        }
    });
    let any_known = named.is_empty()
        || named
            .iter()
            .any(|n| formula::eval::resolve(schema, n).is_some());
    let fallback = source_columns(c)
        .first()
        .and_then(|s| formula::eval::resolve(schema, s));
    let (method, note) = match (any_known, &fallback) {
        (true, _) => ("formula", String::new()),
        (false, Some(f)) => (
            "formula+source_columns[0]",
            format!("the formula names no column of the file; used source_columns[0] `{f}`"),
        ),
        (false, None) => {
            return Err(format!(
                "the formula names no column of the file (columns: {})",
                formula::eval::names(schema)
            ))
        }
    };
    let mut unknown: Option<String> = None;
    expr.each_aggregate(&mut |a| {
        if let ColRef::Name(n) = &mut a.column {
            match (formula::eval::resolve(schema, n), any_known) {
                (Some(r), _) => *n = r,
                (None, false) => *n = fallback.clone().unwrap_or_default(),
                (None, true) => unknown = unknown.take().or(Some(n.clone())),
            }
        }
        if let Some(f) = &mut a.filter {
            f.map_columns(&mut |n| match formula::eval::resolve(schema, n) {
                Some(r) => *n = r,
                None => unknown = unknown.take().or(Some(n.clone())),
            });
        }
    });
    if let Some(u) = unknown {
        return Err(format!("no column `{u}` in `{file}`"));
    }
    let mut aggs = vec![];
    let mut failed = None;
    expr.each_aggregate(&mut |a| match formula::eval::aggregate(a, schema) {
        Ok(e) => aggs.push(e),
        Err(e) => failed = failed.take().or(Some(e)),
    });
    if let Some(e) = failed {
        return Err(e);
    }
    Ok((
        file,
        Job {
            plan: Plan::Formula {
                expr,
                aggs,
                method,
                note,
            },
            outcome: None,
        },
    ))
}

fn run_batch(
    df: &DataFrame,
    jobs: &mut [std::result::Result<(String, Job), String>],
    idx: &[usize],
) {
    // Calculations repeat aggregates (`SUM(금액)` in every share): each distinct one is
    // computed once.
    let mut exprs = vec![];
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut names: HashMap<(usize, usize), String> = HashMap::new();
    for &i in idx {
        if let Ok((
            _,
            Job {
                plan: Plan::Formula { aggs, .. },
                ..
            },
        )) = &jobs[i]
        {
            for (k, a) in aggs.iter().enumerate() {
                let key = format!("{a:?}");
                let name = seen.entry(key).or_insert_with(|| {
                    let name = format!("a{}", exprs.len());
                    exprs.push(a.clone().alias(name.clone()));
                    name
                });
                names.insert((i, k), name.clone());
            }
        }
    }
    let row = df.clone().lazy().select(exprs).collect();
    for &i in idx {
        let Ok((_, job)) = &mut jobs[i] else { continue };
        let Plan::Formula { expr, aggs, .. } = &job.plan else {
            continue;
        };
        let values: std::result::Result<Vec<Option<f64>>, String> = match &row {
            Ok(row) => (0..aggs.len())
                .map(|k| column_value(row, names.get(&(i, k)).map_or("", String::as_str)))
                .collect(),
            // One bad expression fails the whole select: this job alone tells which.
            Err(_) => df
                .clone()
                .lazy()
                .select(
                    aggs.iter()
                        .enumerate()
                        .map(|(k, a)| a.clone().alias(format!("v{k}")))
                        .collect::<Vec<_>>(),
                )
                .collect()
                .map_err(|e| e.to_string())
                .and_then(|r| {
                    (0..aggs.len())
                        .map(|k| column_value(&r, &format!("v{k}")))
                        .collect()
                }),
        };
        job.outcome =
            Some(values.and_then(|v| formula::eval::arithmetic(expr, &mut v.into_iter())));
    }
}

fn column_value(df: &DataFrame, name: &str) -> std::result::Result<Option<f64>, String> {
    let c = df.column(name).map_err(|e| e.to_string())?;
    let v = c.get(0).map_err(|e| e.to_string())?;
    Ok(v.extract::<f64>())
}

/// A `query` over the table `data`: one row, one column, a number.
fn sql(df: DataFrame, query: &str) -> std::result::Result<f64, String> {
    let mut ctx = polars::sql::SQLContext::new();
    ctx.register("data", df.lazy());
    let out = ctx
        .execute(query)
        .and_then(|lf| lf.collect())
        .map_err(|e| format!("query failed: {e}"))?;
    if out.height() != 1 || out.width() != 1 {
        return Err(format!(
            "the query returned {} rows × {} columns, not one value",
            out.height(),
            out.width()
        ));
    }
    let v = out.columns()[0].get(0).map_err(|e| e.to_string())?;
    v.extract::<f64>()
        .filter(|f| f.is_finite())
        .ok_or_else(|| format!("the query's value `{v}` is not a number"))
}

fn judge(
    c: &Map<String, Value>,
    job: std::result::Result<(String, Job), String>,
    tolerance: f64,
) -> CalculationCheck {
    let expected = c.get("value").cloned().unwrap_or(Value::Null);
    let mut check = CalculationCheck {
        id: id_of(c),
        expected: expected.clone(),
        actual: None,
        status: CheckStatus::Unverifiable,
        method: String::new(),
        reason: String::new(),
    };
    let (plan, outcome) = match job {
        Err(reason) => {
            check.reason = reason;
            return check;
        }
        Ok((_, j)) => (j.plan, j.outcome),
    };
    let (method, note) = match &plan {
        Plan::Sql(_) => ("sql", String::new()),
        Plan::Formula { method, note, .. } => (*method, note.clone()),
    };
    check.method = method.into();
    let actual = match outcome {
        Some(Ok(a)) => a,
        Some(Err(e)) => {
            check.reason = e;
            return check;
        }
        None => {
            check.reason = "not computed".into();
            return check;
        }
    };
    check.actual = Some(actual);
    let Some(e) = expected::parse(&expected) else {
        check.reason = format!("the expected value {expected} is not a number");
        return check;
    };
    let prefix = if note.is_empty() {
        String::new()
    } else {
        format!("{note}; ")
    };
    match expected::matches(&e, actual, tolerance) {
        Some(rule) => {
            check.status = CheckStatus::Verified;
            check.method = format!("{method}/{rule}");
            check.reason = format!("{prefix}recomputed {}", show(actual));
        }
        None => {
            check.status = CheckStatus::Mismatch;
            check.reason = format!(
                "{prefix}recomputed {} differs from {} by {} (tolerance {tolerance})",
                show(actual),
                show(e.value),
                show(actual - e.value)
            );
        }
    }
    check
}

fn show(f: f64) -> String {
    crate::values::trim_float(f)
}
