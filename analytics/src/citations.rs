//! `citations.json` as the Validator writes it: at most 20 calculations chosen by importance
//! (≤ 15 calculations: every high and medium; 16–30: every high and 8 medium; more: 15 high
//! and 5 medium), numbered `[1]`, `[2]`, … high first, each with its verification — plus our
//! `actual_value` and `verification_method`.

use dynexec_analytics_protocol::{CalculationCheck, CheckStatus};
use serde_json::{json, Map, Value};

const MAX_CITATIONS: usize = 20;

fn importance(c: &Map<String, Value>) -> String {
    c.get("importance")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_lowercase()
}

/// Indices of the cited calculations, in citation order.
pub fn select(calcs: &[Map<String, Value>]) -> Vec<usize> {
    let of = |level: &str| -> Vec<usize> {
        calcs
            .iter()
            .enumerate()
            .filter(|(_, c)| importance(c) == level)
            .map(|(i, _)| i)
            .collect()
    };
    let (high, medium) = (of("high"), of("medium"));
    let (h, m) = match calcs.len() {
        0..=15 => (high.len(), medium.len()),
        16..=30 => (high.len(), 8),
        _ => (15, 5),
    };
    let mut out: Vec<usize> = high
        .into_iter()
        .take(h)
        .chain(medium.into_iter().take(m))
        .collect();
    out.truncate(MAX_CITATIONS);
    out
}

pub fn document(calcs: &[Map<String, Value>], checks: &[CalculationCheck]) -> Value {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let chosen = select(calcs);
    let citations: Vec<Value> = chosen
        .iter()
        .enumerate()
        .map(|(n, &i)| {
            let (c, check) = (&calcs[i], &checks[i]);
            let field = |k: &str| c.get(k).cloned().unwrap_or(Value::Null);
            json!({
                "citation_id": format!("[{}]", n + 1),
                "calculation_id": check.id,
                "value": field("value"),
                "description": field("description"),
                "formula": field("formula"),
                "source_file": field("source_file"),
                "source_columns": field("source_columns"),
                "source_rows": field("source_rows"),
                "verification_status": if check.status == CheckStatus::Verified { "verified" } else { "needs_review" },
                "verification_notes": check.reason,
                "timestamp": now,
                "actual_value": check.actual,
                "verification_method": check.method,
            })
        })
        .collect();
    let all_verified = chosen
        .iter()
        .all(|&i| checks[i].status == CheckStatus::Verified);
    json!({
        "metadata": {
            "generated_at": now,
            "total_calculations": calcs.len(),
            "cited_calculations": citations.len(),
            "validation_status": if all_verified { "verified" } else { "needs_review" },
        },
        "citations": citations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calcs(high: usize, medium: usize, low: usize) -> Vec<Map<String, Value>> {
        let mut v = vec![];
        for (n, level) in [(high, "high"), (medium, "medium"), (low, "low")] {
            for _ in 0..n {
                let Value::Object(o) = json!({"importance": level}) else {
                    unreachable!()
                };
                v.push(o);
            }
        }
        v
    }

    #[test]
    fn selection_follows_the_validator() {
        assert_eq!(select(&calcs(3, 4, 5)).len(), 7);
        // 16-30: every high + 8 medium
        assert_eq!(select(&calcs(6, 12, 2)).len(), 14);
        // > 30: 15 high + 5 medium
        let s = select(&calcs(20, 10, 27));
        assert_eq!(s.len(), 20);
        assert_eq!(s[..15], (0..15).collect::<Vec<_>>()[..]);
        assert_eq!(s[15], 20);
        // never more than 20
        assert_eq!(select(&calcs(25, 0, 0)).len(), 20);
    }
}
