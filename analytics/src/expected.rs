//! An expected value as the Coder wrote it (`157685452`, `35.2`, `"35.2%"`, `"1,234원"`,
//! `"1.58억"`) → the number and the half-step of the precision it was written with.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Expected {
    pub value: f64,
    /// One unit in the last written place (`35.2` → 0.1; `"1.58억"` → 1e6).
    pub step: f64,
    /// Written with `%`: the number may be a ratio ×100.
    pub percent: bool,
}

/// Korean and SI magnitude suffixes written after a number.
const MULTIPLIERS: [(&str, f64); 7] = [
    ("조", 1e12),
    ("억", 1e8),
    ("만", 1e4),
    ("천", 1e3),
    ("K", 1e3),
    ("M", 1e6),
    ("B", 1e9),
];

pub fn parse(v: &Value) -> Option<Expected> {
    match v {
        // serde_json prints a float as the shortest text that reads back the same: the digits
        // the Coder wrote.
        Value::Number(n) => from_text(&n.to_string()),
        Value::String(s) => from_text(s),
        _ => None,
    }
}

fn from_text(s: &str) -> Option<Expected> {
    let cleaned: String = s
        .trim()
        .chars()
        .filter(|c| *c != ',' && *c != ' ')
        .collect();
    let cleaned = cleaned.trim_start_matches(['$', '₩', '€', '£', '¥']);
    let end = cleaned
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_digit() || *c == '.' || ((*c == '-' || *c == '+') && *i == 0)))
        .map_or(cleaned.len(), |(i, _)| i);
    let (num, rest) = cleaned.split_at(end);
    // An exponent (1.5e8) is read by the float parser, its precision from the mantissa.
    let (num, rest, exp) = match rest.strip_prefix(['e', 'E']) {
        Some(after) => {
            let e_end = after
                .char_indices()
                .find(|(i, c)| !(c.is_ascii_digit() || ((*c == '-' || *c == '+') && *i == 0)))
                .map_or(after.len(), |(i, _)| i);
            let exp: i32 = after[..e_end].parse().ok()?;
            (num, &after[e_end..], exp)
        }
        None => (num, rest, 0),
    };
    let value: f64 = num.parse().ok()?;
    let decimals = num.split_once('.').map_or(0, |(_, f)| f.len()) as i32;
    let mut multiplier = 10f64.powi(exp);
    let mut percent = false;
    let rest = rest.trim();
    if rest.starts_with('%') {
        percent = true;
    } else if let Some((_, m)) = MULTIPLIERS.iter().find(|(k, _)| rest.starts_with(k)) {
        multiplier *= m;
    }
    Some(Expected {
        value: value * multiplier,
        step: 10f64.powi(-decimals) * multiplier,
        percent,
    })
}

/// How `actual` matches: within the absolute tolerance, or equal once rounded at the
/// precision the expected value was written with (a percent also as a ratio).
pub fn matches(e: &Expected, actual: f64, tolerance: f64) -> Option<&'static str> {
    let rounds_to = |value: f64, step: f64| {
        // Half a step either way, with a hair of float slack.
        (actual - value).abs() <= step / 2.0 + step * 1e-9 + f64::EPSILON * value.abs()
    };
    if (actual - e.value).abs() <= tolerance {
        Some("within_tolerance")
    } else if rounds_to(e.value, e.step) {
        Some("rounded")
    } else if e.percent && (actual - e.value / 100.0).abs() <= tolerance / 100.0 {
        Some("within_tolerance_as_ratio")
    } else if e.percent && rounds_to(e.value / 100.0, e.step / 100.0) {
        Some("rounded_as_ratio")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn written_precision() {
        let e = parse(&json!(35.2)).unwrap();
        assert_eq!((e.value, e.percent), (35.2, false));
        assert!((e.step - 0.1).abs() < 1e-12);
        let e = parse(&json!("35.2%")).unwrap();
        assert!(e.percent);
        let e = parse(&json!("1,234,567원")).unwrap();
        assert_eq!((e.value, e.step), (1234567.0, 1.0));
        let e = parse(&json!("1.58억")).unwrap();
        assert_eq!(e.value, 158_000_000.0);
        assert!((e.step - 1e6).abs() < 1e-3);
        assert_eq!(parse(&json!(157685452)).unwrap().step, 1.0);
        assert!(parse(&json!("n/a")).is_none());
        assert!(parse(&json!(null)).is_none());
    }

    #[test]
    fn matching_rules() {
        let e = parse(&json!(35.2)).unwrap();
        assert_eq!(matches(&e, 35.204, 0.01), Some("within_tolerance"));
        assert_eq!(matches(&e, 35.24, 0.01), Some("rounded"));
        assert_eq!(matches(&e, 35.26, 0.01), None);
        let e = parse(&json!("35.2%")).unwrap();
        assert_eq!(
            matches(&e, 0.35201, 0.01),
            Some("within_tolerance_as_ratio")
        );
        assert_eq!(matches(&e, 0.3523, 0.01), Some("rounded_as_ratio"));
        assert_eq!(matches(&e, 0.36, 0.01), None);
        let e = parse(&json!("1.58억")).unwrap();
        assert_eq!(matches(&e, 157_685_452.0, 0.01), Some("rounded"));
        assert_eq!(matches(&e, 156_000_000.0, 0.01), None);
        let e = parse(&json!(157685452)).unwrap();
        assert_eq!(matches(&e, 157685452.4, 0.01), Some("rounded"));
        assert_eq!(matches(&e, 157685453.0, 0.01), None);
    }
}
