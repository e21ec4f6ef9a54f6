//! `bench --analytics` (also in `make bench`): the native analytics beside what an agent runs
//! for the same answer in our own worker, measured in one run on one server.
//! - profile of the seed CSV (the synthetic one when ../shared is absent) vs pandas'
//!   `read_csv` + `describe(include="all")`;
//! - verify of 57 calculations, request → citations.json written, vs the Validator's own pandas
//!   loop (re-load each source_file, SUM/MEAN/COUNT of source_columns[0], write citations.json);
//! - one bar chart from the file vs matplotlib's first chart in a new session and a warm one.

use super::{create, delete, exec, ms, pct, start, table_header};
use reqwest::blocking::Client;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[allow(dead_code)]
#[path = "../../../tests/common/data.rs"]
mod data;

#[allow(dead_code)]
#[path = "../../../tests/common/calcs.rs"]
mod calcs;

fn post(client: &Client, base: &str, sid: &str, what: &str, body: &Value) -> Value {
    let r = client
        .post(format!("{base}/v1/sessions/{sid}/{what}"))
        .json(body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{what}");
    r.json().unwrap()
}

fn put(client: &Client, base: &str, sid: &str, path: &str, body: Vec<u8>) {
    let r = client
        .put(format!("{base}/v1/sessions/{sid}/files/{path}"))
        .body(body)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "upload {path}");
}

/// Client-side wall time of `f`, `runs` times (after one warm-up).
fn timed(runs: usize, mut f: impl FnMut()) -> Vec<f64> {
    f();
    (0..runs)
        .map(|_| {
            let t0 = Instant::now();
            f();
            ms(t0.elapsed())
        })
        .collect()
}

fn pair(name: &str, ours: &mut [f64], peer_name: &str, peer: &mut [f64], target: &str) {
    let (o50, o99, p50, p99) = (
        pct(ours, 50.0),
        pct(ours, 99.0),
        pct(peer, 50.0),
        pct(peer, 99.0),
    );
    println!(
        "| {name} | {o50:.2} ms | {o99:.2} ms | {} | {target} |",
        ours.len()
    );
    println!(
        "| {peer_name} (the peer, same run) | {p50:.2} ms | {p99:.2} ms | {} | — |",
        peer.len()
    );
    println!("| ratio peer / ours (p50) | {:.1}× | | | |", p50 / o50);
}

/// The Validator's recomputation as its pandas code does it, in the session's worker.
const VALIDATOR: &str = r#"
import json, time, pandas as pd
meta = json.load(open('artifacts/calculation_metadata.json'))
frames, out = {}, []
for c in meta['calculations']:
    try:
        f = c['source_file']
        if f not in frames:
            frames[f] = pd.read_csv(f)
        col = frames[f][c['source_columns'][0]]
        formula = str(c.get('formula', '')).upper()
        actual = col.mean() if ('AVG' in formula or 'MEAN' in formula) else (len(col) if 'COUNT' in formula else col.sum())
        ok = abs(float(actual) - float(str(c['value']).replace(',', '').rstrip('%원억'))) < 0.01
    except Exception as e:
        actual, ok = None, False
    out.append({'calculation_id': c['id'], 'value': c['value'], 'actual': None if actual is None else float(actual),
                'verification_status': 'verified' if ok else 'needs_review'})
json.dump({'metadata': {'total_calculations': len(out)}, 'citations': out[:20]},
          open('artifacts/citations.json', 'w'), ensure_ascii=False)
"#;

pub fn run(runs: usize) {
    let server = start("analytics", 68000, &[]);
    let base = server.base.clone();
    let client = Client::new();
    let sid = create(&client, &base);
    let (csv, which) = match data::real_fresh_food() {
        Some(real) => (real, "the seed CSV (2,726 rows)"),
        None => (
            data::synthetic_fresh_food(2726, 7).csv,
            "the synthetic seed-sized CSV (2,726 rows)",
        ),
    };
    put(&client, &base, &sid, "data/seed.csv", csv.clone());
    let synth = data::synthetic_fresh_food(2726, 7);
    let (meta, _) = calcs::metadata(&calcs::rows(&synth.csv));
    put(&client, &base, &sid, "data/sales.csv", synth.csv.clone());
    let meta = serde_json::to_vec(&meta).unwrap();
    put(
        &client,
        &base,
        &sid,
        "artifacts/calculation_metadata.json",
        meta,
    );
    println!("\ninput: {which}; verify over the synthetic 57-calculation job\n");
    table_header();

    let mut ours = timed(runs, || {
        post(
            &client,
            &base,
            &sid,
            "profile",
            &json!({"path": "data/seed.csv"}),
        );
    });
    let describe =
        "import pandas as pd\ndf = pd.read_csv('data/seed.csv')\nd = df.describe(include='all')";
    let mut peer = timed(runs, || {
        assert_eq!(exec(&client, &base, &sid, describe)["status"], "ok");
    });
    pair(
        "profile of the seed CSV (POST …/profile)",
        &mut ours,
        "pandas read_csv + describe(include=\"all\") in our worker",
        &mut peer,
        "≤ 20 ms",
    );

    let mut ours = timed(runs, || {
        let v = post(&client, &base, &sid, "verify", &json!({}));
        assert_eq!(v["total"], 57);
    });
    let mut peer = timed(runs, || {
        let r = exec(&client, &base, &sid, VALIDATOR);
        assert_eq!(r["status"], "ok", "{r}");
    });
    pair(
        "verify 57 calculations, request → citations.json written",
        &mut ours,
        "the Validator's pandas loop in our worker",
        &mut peer,
        "≤ 50 ms",
    );

    let spec = json!({"kind": "bar", "source": {"path": "data/seed.csv", "x": "카테고리", "y": "금액", "agg": "sum"},
        "title": "카테고리별 매출", "x_label": "카테고리", "y_label": "매출 (원)", "output": "artifacts/native"});
    let mut ours = timed(runs, || {
        post(&client, &base, &sid, "charts", &spec);
    });
    let chart = "import pandas as pd\nimport matplotlib.pyplot as plt\nplt.rcParams['font.family'] = ['NanumGothic']\n\
        by = pd.read_csv('data/seed.csv').groupby('카테고리')['금액'].sum()\nfig, ax = plt.subplots(figsize=(10, 6))\n\
        ax.bar(by.index, by.values)\nax.set_title('카테고리별 매출')\nplt.savefig('artifacts/mpl.png', dpi=100)\nplt.close(fig)";
    let mut warm = timed(runs, || {
        assert_eq!(exec(&client, &base, &sid, chart)["status"], "ok");
    });
    let mut first = vec![];
    for _ in 0..(runs / 4).max(3) {
        let s = create(&client, &base);
        put(&client, &base, &s, "data/seed.csv", csv.clone());
        let t0 = Instant::now();
        assert_eq!(exec(&client, &base, &s, chart)["status"], "ok");
        first.push(ms(t0.elapsed()));
        delete(&client, &base, &s);
        std::thread::sleep(Duration::from_millis(150));
    }
    pair(
        "bar chart from the CSV, PNG (POST …/charts)",
        &mut ours,
        "the same chart with pandas + matplotlib, warm session",
        &mut warm,
        "≤ 20 ms",
    );
    let (o50, f50) = (pct(&mut ours, 50.0), pct(&mut first, 50.0));
    println!(
        "| matplotlib's first chart in a new session (the peer, same run) | {f50:.2} ms | {:.2} ms | {} | — |",
        pct(&mut first, 99.0),
        first.len()
    );
    println!(
        "| ratio first matplotlib chart / ours (p50) | {:.1}× | | | |",
        f50 / o50
    );
    delete(&client, &base, &sid);
}
