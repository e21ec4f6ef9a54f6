//! A `calculation_metadata.json` of 57 calculations over the synthetic fresh-food data whose
//! answers are computed here, independently of the server: 42 right (in every way the Coder
//! writes numbers), 10 wrong, 5 that cannot be recomputed. Used by tests/analytics.rs and by
//! `bench --analytics`.

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

pub struct Row {
    pub date: String,
    pub cat: String,
    pub name: String,
    pub qty: i64,
    pub price: i64,
    pub amount: i64,
}

pub fn rows(csv: &[u8]) -> Vec<Row> {
    std::str::from_utf8(csv)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Row {
                date: f[0].into(),
                cat: f[1].into(),
                name: f[2].into(),
                qty: f[3].parse().unwrap(),
                price: f[4].parse().unwrap(),
                amount: f[5].parse().unwrap(),
            }
        })
        .collect()
}

/// The metadata (source file `./data/sales.csv`) and each calculation's expected status.
pub fn metadata(rs: &[Row]) -> (Value, BTreeMap<String, &'static str>) {
    let sum =
        |f: &dyn Fn(&Row) -> bool| rs.iter().filter(|r| f(r)).map(|r| r.amount).sum::<i64>() as f64;
    let total = sum(&|_| true);
    let cats = ["과일", "채소", "육류", "수산물", "유제품"];
    let mut calcs: Vec<Value> = vec![];
    let mut want: BTreeMap<String, &'static str> = BTreeMap::new();
    let mut add = |value: Value, formula: &str, extra: Value, status: &'static str| {
        let id = format!("calc_{:03}", calcs.len() + 1);
        let importance = match calcs.len() {
            0..=19 => "high",
            20..=39 => "medium",
            _ => "low",
        };
        let mut c = json!({"id": id, "value": value, "description": format!("계산 {id}"), "formula": formula,
            "source_file": "./data/sales.csv", "source_columns": ["금액"], "source_rows": "all rows",
            "importance": importance});
        if let (Value::Object(m), Value::Object(e)) = (&mut c, extra) {
            m.extend(e);
        }
        calcs.push(c);
        want.insert(id, status);
    };
    let none = json!({});
    add(json!(total), "SUM(금액)", none.clone(), "verified");
    for c in cats {
        add(
            json!(sum(&|r| r.cat == c)),
            &format!("SUM(금액 WHERE 카테고리 = '{c}')"),
            none.clone(),
            "verified",
        );
    }
    for c in cats {
        let share = (sum(&|r| r.cat == c) / total * 1000.0).round() / 10.0;
        add(
            json!(share),
            &format!("SUM(금액 WHERE 카테고리 = \"{c}\") / SUM(금액) * 100"),
            none.clone(),
            "verified",
        );
    }
    let n = rs.len() as f64;
    add(
        json!((total / n * 100.0).round() / 100.0),
        "AVG(금액)",
        none.clone(),
        "verified",
    );
    add(json!(rs.len()), "COUNT(*)", none.clone(), "verified");
    let products: BTreeSet<&str> = rs.iter().map(|r| r.name.as_str()).collect();
    add(
        json!(products.len()),
        "COUNT(DISTINCT 제품명)",
        none.clone(),
        "verified",
    );
    add(
        json!(rs.iter().map(|r| r.price).max().unwrap()),
        "MAX(단가)",
        none.clone(),
        "verified",
    );
    add(
        json!(rs.iter().map(|r| r.qty).min().unwrap()),
        "min(\"수량\")",
        none.clone(),
        "verified",
    );
    let mut qty: Vec<i64> = rs.iter().map(|r| r.qty).collect();
    qty.sort();
    let median = (qty[qty.len() / 2 - 1] + qty[qty.len() / 2]) as f64 / 2.0;
    add(
        json!(median),
        "MEDIAN(수량 column)",
        none.clone(),
        "verified",
    );
    let mean = total / n;
    let std = (rs
        .iter()
        .map(|r| (r.amount as f64 - mean).powi(2))
        .sum::<f64>()
        / (n - 1.0))
        .sqrt();
    add(
        json!((std * 100.0).round() / 100.0),
        "STD(금액)",
        none.clone(),
        "verified",
    );
    let month = |m: u32| move |r: &Row| r.date.starts_with(&format!("2024-{m:02}-"));
    for m in 1..=12u32 {
        add(
            json!(sum(&month(m))),
            &format!("SUM(금액) WHERE 날짜 BETWEEN '2024-{m:02}-01' AND 2024-{m:02}-28"),
            none.clone(),
            "verified",
        );
    }
    let (jan, feb) = (sum(&month(1)), sum(&month(2)));
    add(
        json!(((feb - jan) / jan * 10000.0).round() / 100.0),
        "(SUM(금액 WHERE 날짜 >= '2024-02-01' AND 날짜 <= '2024-02-28') - SUM(금액 WHERE 날짜 < '2024-02-01')) / SUM(금액 WHERE 날짜 < '2024-02-01') * 100",
        none.clone(),
        "verified",
    );
    add(
        json!(sum(&|r| r.cat == "과일" || r.cat == "채소")),
        "SUM(금액) WHERE 카테고리 IN ('과일', '채소')",
        none.clone(),
        "verified",
    );
    let big = rs.iter().filter(|r| r.qty >= 15 || r.price > 30000).count();
    add(
        json!(big),
        "COUNT(*) WHERE 수량 >= 15 OR 단가 > 30000",
        none.clone(),
        "verified",
    );
    add(
        json!(sum(&|r| r.cat != "육류" && r.cat != "수산물")),
        "SUM(금액) WHERE 카테고리 NOT IN ('육류', '수산물')",
        none.clone(),
        "verified",
    );
    add(
        json!(sum(&|r| r.cat == "육류")),
        "육류 매출 합계",
        json!({"query": "SELECT SUM(\"금액\") FROM data WHERE \"카테고리\" = '육류'"}),
        "verified",
    );
    // the Validator's rule: a formula naming no column of the file means source_columns[0]
    add(json!(total), "SUM(sales_amount)", none.clone(), "verified");
    // numbers as the Coder writes them
    let with_commas = {
        let s = (total as i64).to_string();
        let mut out = String::new();
        for (i, ch) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(ch);
        }
        out
    };
    add(
        json!(format!("{with_commas}원")),
        "SUM(금액)",
        none.clone(),
        "verified",
    );
    add(
        json!(format!("{:.2}억", total / 1e8)),
        "SUM(금액)",
        none.clone(),
        "verified",
    );
    let fruit_share = sum(&|r| r.cat == "과일") / total * 100.0;
    add(
        json!(format!("{fruit_share:.1}%")),
        "SUM(금액 WHERE 카테고리 = '과일') / SUM(금액)",
        none.clone(),
        "verified",
    );
    let apples = rs.iter().filter(|r| r.name == "사과").count();
    add(
        json!(apples),
        "COUNT(수량) WHERE 제품명 = '사과'",
        none.clone(),
        "verified",
    );
    let non_meat: Vec<f64> = rs
        .iter()
        .filter(|r| r.cat != "육류")
        .map(|r| r.price as f64)
        .collect();
    add(
        json!((non_meat.iter().sum::<f64>() / non_meat.len() as f64 * 100.0).round() / 100.0),
        "AVG(단가) WHERE 카테고리 != '육류'",
        none.clone(),
        "verified",
    );
    add(
        json!(sum(&|r| r.qty > 10) / total * 100.0),
        "sum(금액 where 수량 > 10) / sum(금액) * 100",
        none.clone(),
        "verified",
    );
    // 10 wrong answers
    add(json!(total * 1.01), "SUM(금액)", none.clone(), "mismatch");
    add(
        json!(sum(&|r| r.cat == "과일")),
        "SUM(금액 WHERE 카테고리 = '채소')",
        none.clone(),
        "mismatch",
    );
    add(json!(rs.len() + 1), "COUNT(*)", none.clone(), "mismatch");
    add(json!(mean + 1.0), "AVG(금액)", none.clone(), "mismatch");
    add(
        json!(products.len() - 1),
        "COUNT(DISTINCT 제품명)",
        none.clone(),
        "mismatch",
    );
    add(
        json!(sum(&month(3)) - 1000.0),
        "SUM(금액) WHERE 날짜 BETWEEN '2024-03-01' AND '2024-03-28'",
        none.clone(),
        "mismatch",
    );
    add(
        json!("12.5%"),
        "SUM(금액 WHERE 카테고리 = '과일') / SUM(금액) * 100",
        none.clone(),
        "mismatch",
    );
    add(
        json!(1.0),
        "SUM(금액)",
        json!({"query": "SELECT COUNT(*) FROM data"}),
        "mismatch",
    );
    add(
        json!(median + 2.0),
        "MEDIAN(수량)",
        none.clone(),
        "mismatch",
    );
    add(
        json!(format!("{:.1}억", total / 1e8 + 0.5)),
        "SUM(금액)",
        none.clone(),
        "mismatch",
    );
    // 5 that cannot be recomputed, each with its reason
    add(
        json!(100),
        "총 매출액의 합계를 구함",
        none.clone(),
        "unverifiable",
    );
    add(json!(100), "df['금액'].sum()", none.clone(), "unverifiable");
    add(
        json!(100),
        "SUM(금액)",
        json!({"source_file": "./data/missing.csv"}),
        "unverifiable",
    );
    add(
        json!(100),
        "SUM(가격)",
        json!({"source_columns": []}),
        "unverifiable",
    );
    add(
        json!(100),
        "SUM(금액)",
        json!({"query": "SELECT FROM WHERE"}),
        "unverifiable",
    );
    (
        json!({"generated_at": "2024-12-31T00:00:00", "calculations": calcs}),
        want,
    )
}
