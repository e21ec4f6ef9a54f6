//! The acceptance path of an analysis job: upload the data, analyse with pandas, chart with
//! matplotlib, download the chart.

mod common;

use common::data::{self, Synthetic};
use common::{strs, Server};

const TOTAL_CODE: &str =
    "import pandas as pd\ndf = pd.read_csv('data/sales.csv')\nprint(int(df['금액'].sum()))";

const CHART_CODE: &str = "\
import matplotlib.pyplot as plt
by_cat = df.groupby('카테고리')['금액'].sum().sort_values(ascending=False)
print(len(by_cat))
fig, ax = plt.subplots(figsize=(8, 5))
ax.bar(by_cat.index, by_cat.values)
ax.set_title('카테고리별 매출')
plt.show()
";

fn analyse(server: &Server, csv: Vec<u8>, expected_total: i64, categories: usize) {
    let sid = server.create_session();
    let up = server.put_file(&sid, "data/sales.csv", csv);
    assert_eq!(up.status(), 201);
    let out = server.run_ok(&sid, TOTAL_CODE);
    assert!(
        out.contains(&expected_total.to_string()),
        "stdout {out:?} lacks {expected_total}"
    );

    let r = server.exec(&sid, CHART_CODE);
    assert_eq!(r["status"], "ok", "{r:#}");
    assert_eq!(r["stdout"].as_str().unwrap().trim(), categories.to_string());
    let arts: Vec<&str> = strs(&r["artifacts"]);
    let png = arts
        .iter()
        .find(|p| p.ends_with(".png"))
        .expect("a PNG among the artifacts");
    assert!(png.starts_with("artifacts/"), "{png}");

    let resp = server.get(&format!("/v1/sessions/{sid}/{png}"));
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/png");
    let bytes = resp.bytes().unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert!(
        bytes.len() > 5000,
        "the chart is suspiciously small: {} bytes",
        bytes.len()
    );

    let listing = server.get_json(&format!("/v1/sessions/{sid}/artifacts"));
    let entry = listing["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["path"] == *png)
        .expect("listed");
    assert_eq!(entry["mime"], "image/png");
    assert_eq!(entry["size"].as_u64().unwrap(), bytes.len() as u64);
    assert_eq!(entry["execution_id"], r["id"]);
    assert_eq!(entry["sha256"].as_str().unwrap().len(), 64);
}

#[test]
fn real_fresh_food_total_and_chart() {
    let Some(csv) = data::real_fresh_food() else {
        return;
    };
    let server = Server::start();
    analyse(&server, csv, data::REAL_TOTAL, 5);
}

#[test]
fn synthetic_fresh_food_total_and_chart() {
    let Synthetic {
        csv,
        total,
        by_category,
        rows,
    } = data::synthetic_fresh_food(2726, 7);
    assert_eq!(rows, 2726);
    let server = Server::start();
    analyse(&server, csv, total, by_category.len());
}
