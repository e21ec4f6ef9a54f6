//! polars values as JSON and text: dates as ISO strings, integers as integers.

use polars::prelude::*;
use serde_json::{json, Value};

pub fn date_of_days(days: i32) -> Option<chrono::NaiveDate> {
    chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?
        .checked_add_signed(chrono::Duration::days(days as i64))
}

pub fn days_of_date(d: chrono::NaiveDate) -> i32 {
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    (d - epoch).num_days() as i32
}

fn datetime(v: i64, unit: TimeUnit) -> Option<chrono::NaiveDateTime> {
    let micros = match unit {
        TimeUnit::Nanoseconds => v / 1_000,
        TimeUnit::Microseconds => v,
        TimeUnit::Milliseconds => v.checked_mul(1_000)?,
    };
    chrono::DateTime::from_timestamp_micros(micros).map(|t| t.naive_utc())
}

pub fn json(v: &AnyValue) -> Value {
    match v {
        AnyValue::Null => Value::Null,
        AnyValue::Boolean(b) => json!(b),
        AnyValue::String(s) => json!(s),
        AnyValue::StringOwned(s) => json!(s.as_str()),
        AnyValue::Int8(i) => json!(i),
        AnyValue::Int16(i) => json!(i),
        AnyValue::Int32(i) => json!(i),
        AnyValue::Int64(i) => json!(i),
        AnyValue::UInt8(i) => json!(i),
        AnyValue::UInt16(i) => json!(i),
        AnyValue::UInt32(i) => json!(i),
        AnyValue::UInt64(i) => json!(i),
        AnyValue::Float32(f) => number(*f as f64),
        AnyValue::Float64(f) => number(*f),
        AnyValue::Date(d) => date_of_days(*d).map_or(Value::Null, |d| json!(d.to_string())),
        AnyValue::Datetime(t, unit, _) | AnyValue::DatetimeOwned(t, unit, _) => datetime(*t, *unit)
            .map_or(Value::Null, |d| {
                json!(d.format("%Y-%m-%dT%H:%M:%S%.f").to_string())
            }),
        other => json!(other.to_string()),
    }
}

/// A float as JSON (NaN and infinities, which JSON cannot hold, as null).
pub fn number(f: f64) -> Value {
    if f.is_finite() {
        json!(f)
    } else {
        Value::Null
    }
}

pub fn finite(f: Option<f64>) -> Option<f64> {
    f.filter(|f| f.is_finite())
}

/// The text of a JSON value as a table cell or a chart label.
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => trim_float(f),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// A float with at most 4 significant decimals, no trailing zeros.
pub fn trim_float(f: f64) -> String {
    let s = if f.abs() >= 1000.0 {
        format!("{f:.2}")
    } else {
        format!("{f:.4}")
    };
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// `1234567.5` → `1,234,567.5` (value axes and tables).
pub fn thousands(f: f64) -> String {
    let neg = f < 0.0;
    let s = trim_float(f.abs());
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let mut out = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    if neg {
        format!("-{out}")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(157685452.0), "157,685,452");
        assert_eq!(thousands(-1234.5), "-1,234.5");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(0.125), "0.125");
    }

    #[test]
    fn dates_are_iso() {
        assert_eq!(json(&AnyValue::Date(0)), json!("1970-01-01"));
        assert_eq!(
            days_of_date(chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap()),
            19723
        );
    }
}
