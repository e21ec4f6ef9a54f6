//! The object-store figures: a seed-sized session's completion, a 300 MB tree out and back in,
//! a 1 GiB file with the server's memory watched, each beside `aws s3 cp --recursive` (awscli
//! from PyPI) against the same S3-compatible server (moto, on loopback) in the same run.

use super::{create, exec, ms, start_env, status_kb, tools_bin, Server};
use reqwest::blocking::Client;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BUCKET: &str = "bench-bucket";

struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const CREDS: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", "bench"),
    ("AWS_SECRET_ACCESS_KEY", "bench-secret"),
    ("AWS_REGION", "us-east-1"),
];

fn moto() -> Moto {
    let port = super::free_port();
    let child = Command::new(tools_bin("moto_server"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server (make bench installs the test tools)");
    let endpoint = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    let m = Moto { child, endpoint };
    aws(&m, &["s3", "mb", &format!("s3://{BUCKET}")]);
    m
}

/// Runs awscli against moto; returns its wall time in ms.
fn aws(m: &Moto, args: &[&str]) -> f64 {
    let t0 = Instant::now();
    let out = Command::new(tools_bin("aws"))
        .args(["--endpoint-url", &m.endpoint])
        .args(args)
        .envs(CREDS)
        .output()
        .expect("aws (awscli from the tools venv)");
    assert!(
        out.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    ms(t0.elapsed())
}

fn executor(m: &Moto, tag: &str, uid_base: u32, session: Option<&str>) -> Server {
    let mut env: Vec<(&str, &str)> = CREDS.to_vec();
    env.push(("S3_BUCKET_NAME", BUCKET));
    env.push(("AWS_ENDPOINT_URL_S3", &m.endpoint));
    if let Some(s) = session {
        env.push(("SESSION_ID", s));
    }
    start_env(tag, uid_base, &["--drain-grace-s", "0"], &env)
}

fn compat_exec(client: &Client, base: &str, code: &str) {
    let v: Value = client
        .post(format!("{base}/execute"))
        .json(&json!({ "code": code }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["status"], "completed", "{v}");
}

/// What a Deep Insight job leaves: the seed-sized CSV, 7 charts, the JSON files, a text result.
const SEED_JOB: &str = r#"
import os, json, numpy as np, pandas as pd, matplotlib.pyplot as plt
rng = np.random.default_rng(7)
n = 2726
df = pd.DataFrame({'날짜': pd.date_range('2024-01-01', periods=n, freq='h').strftime('%Y-%m-%d'),
    '카테고리': rng.choice(['과일', '채소', '육류', '수산물', '유제품'], n),
    '제품명': [f'상품{i % 97}' for i in range(n)], '수량': rng.integers(1, 50, n),
    '단가': rng.integers(1000, 90000, n)})
df['금액'] = df['수량'] * df['단가']
os.makedirs('./data', exist_ok=True)
df.to_csv('./data/Dat-fresh-food-claude.csv', index=False)
for i in range(7):
    fig, ax = plt.subplots(figsize=(8, 5))
    df.groupby('카테고리')['금액'].sum().plot.bar(ax=ax)
    ax.set_title(f'차트 {i}')
    fig.savefig(f'./artifacts/chart_{i}.png', dpi=120)
    plt.close(fig)
calcs = [{'id': f'calc_{i:03}', 'value': int(df['금액'].sum()) + i, 'description': '총 매출',
          'formula': 'SUM(금액)', 'source_file': './data/Dat-fresh-food-claude.csv',
          'source_columns': ['금액'], 'importance': 'high'} for i in range(40)]
json.dump({'calculations': calcs}, open('./artifacts/calculation_metadata.json', 'w'), ensure_ascii=False)
json.dump({'citations': calcs[:20]}, open('./artifacts/citations.json', 'w'), ensure_ascii=False)
open('./artifacts/all_results.txt', 'w').write('결과\n' * 400)
"#;

/// The session's workspace directory, as its code sees it.
fn workspace_of(client: &Client, s: &Server, sid: &str) -> PathBuf {
    let r = exec(client, &s.base, sid, "import os\nprint(os.getcwd())");
    PathBuf::from(r["stdout"].as_str().unwrap().trim())
}

fn bytes_under(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                total += bytes_under(&e.path());
            } else if ft.is_file() {
                total += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    total
}

fn mb_s(bytes: u64, ms: f64) -> f64 {
    bytes as f64 / 1e6 / (ms / 1000.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn post(client: &Client, url: String, body: Value) -> Value {
    let r = client.post(url).json(&body).send().unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    r.json().unwrap()
}

pub fn run(quick: bool) {
    if !tools_bin("moto_server").exists() || !tools_bin("aws").exists() {
        println!(
            "\n(object-store figures skipped: run `make bench`, which installs moto and awscli)"
        );
        return;
    }
    let m = moto();
    let client = Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap();
    println!();
    println!("| object store (moto on loopback) | ours | aws s3 cp --recursive | ratio |");
    println!("|---|---|---|---|");

    // 1. A seed-sized session's completion, and awscli copying the same tree.
    let runs = if quick { 1 } else { 3 };
    let (mut ours, mut peer) = (vec![], vec![]);
    let mut objects = 0;
    for i in 0..runs {
        let sid = format!("bench-job-{i}");
        let s = executor(
            &m,
            &format!("complete{i}"),
            66000 + i as u32 * 200,
            Some(&sid),
        );
        compat_exec(&client, &s.base, SEED_JOB);
        let t0 = Instant::now();
        let v = post(&client, format!("{}/session/complete", s.base), json!({}));
        ours.push(ms(t0.elapsed()));
        assert_eq!(v["upload_completed"], true);
        let status: Value = client
            .get(format!("{}/session/status", s.base))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let ws = PathBuf::from(status["workspace"].as_str().unwrap());
        objects = std::fs::read_dir(ws.join("artifacts")).unwrap().count() + 1 + 2;
        let (data, arts) = (ws.join("data"), ws.join("artifacts"));
        let t0 = Instant::now();
        aws(
            &m,
            &[
                "s3",
                "cp",
                "--recursive",
                data.to_str().unwrap(),
                &format!("s3://{BUCKET}/peer-{i}/data/"),
            ],
        );
        aws(
            &m,
            &[
                "s3",
                "cp",
                "--recursive",
                arts.to_str().unwrap(),
                &format!("s3://{BUCKET}/peer-{i}/artifacts/"),
            ],
        );
        peer.push(ms(t0.elapsed()));
    }
    let (o, p) = (median(ours), median(peer));
    // What awscli pays before it moves a byte (its interpreter), to read the ratio fairly.
    let startup = median(
        (0..3)
            .map(|_| aws(&m, &["s3api", "head-bucket", "--bucket", BUCKET]))
            .collect(),
    );
    println!(
        "| seed-sized session completion ({objects} objects: CSV, 7 charts, JSON) | {o:.0} ms | {p:.0} ms | {:.1}× |",
        p / o
    );
    println!(
        "| (awscli start-up alone: one `aws s3api head-bucket`; the peer above ran it twice) | — | {startup:.0} ms | — |"
    );

    // 2. A 300 MB tree (60 files of 5 MB) out and back in, and awscli moving the same tree.
    let mb = if quick { 60 } else { 300 };
    let s = executor(&m, "tree", 67000, None);
    let sid = create(&client, &s.base);
    let r = exec(
        &client,
        &s.base,
        &sid,
        &format!("import os\nos.makedirs('tree', exist_ok=True)\nfor i in range({}):\n    open(f'tree/part_{{i:03}}.bin', 'wb').write(os.urandom(5_000_000))", mb / 5),
    );
    assert_eq!(r["status"], "ok", "{r}");
    let info: Value = client
        .get(format!("{}/v1/sessions/{sid}/files", s.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(info["files"].as_array().is_some_and(|f| f.len() >= mb / 5));
    let ws = workspace_of(&client, &s, &sid);
    let tree_bytes = bytes_under(&ws.join("tree"));
    let t0 = Instant::now();
    let v = post(
        &client,
        format!("{}/v1/sessions/{sid}/export", s.base),
        json!({"prefix": "ours/tree", "paths": ["tree"]}),
    );
    let out_ms = ms(t0.elapsed());
    assert_eq!(v["bytes"].as_u64().unwrap(), tree_bytes);
    let peer_out = aws(
        &m,
        &[
            "s3",
            "cp",
            "--recursive",
            ws.join("tree").to_str().unwrap(),
            &format!("s3://{BUCKET}/peer/tree/"),
        ],
    );
    println!(
        "| {mb} MB tree, workspace → store | {:.0} MB/s ({out_ms:.0} ms) | {:.0} MB/s ({peer_out:.0} ms) | {:.1}× |",
        mb_s(tree_bytes, out_ms),
        mb_s(tree_bytes, peer_out),
        peer_out / out_ms
    );
    let other = create(&client, &s.base);
    let t0 = Instant::now();
    post(
        &client,
        format!("{}/v1/sessions/{other}/import", s.base),
        json!({"prefix": "ours/tree", "to": "tree"}),
    );
    let in_ms = ms(t0.elapsed());
    let dest = super::workdir("peer-in");
    let peer_in = aws(
        &m,
        &[
            "s3",
            "cp",
            "--recursive",
            &format!("s3://{BUCKET}/peer/tree/"),
            dest.to_str().unwrap(),
        ],
    );
    let _ = std::fs::remove_dir_all(&dest);
    println!(
        "| {mb} MB tree, store → workspace | {:.0} MB/s ({in_ms:.0} ms) | {:.0} MB/s ({peer_in:.0} ms) | {:.1}× |",
        mb_s(tree_bytes, in_ms),
        mb_s(tree_bytes, peer_in),
        peer_in / in_ms
    );

    // 3. One big file: the server's memory stays bounded while it streams.
    let big_mb = if quick { 256 } else { 1024 };
    let r = exec(&client, &s.base, &sid, &format!("import os\nwith open('big.bin', 'wb') as f:\n    for _ in range({big_mb}):\n        f.write(os.urandom(1 << 20))"));
    assert_eq!(r["status"], "ok", "{r}");
    let pid = s.child.id();
    let rss0 = status_kb(pid, "VmRSS:") / 1024.0;
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let kb = status_kb(pid, "VmRSS:") as u64;
                peak.fetch_max(kb, std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let t0 = Instant::now();
    post(
        &client,
        format!("{}/v1/sessions/{sid}/export", s.base),
        json!({"prefix": "ours/big", "paths": ["big.bin"]}),
    );
    let big_out = ms(t0.elapsed());
    let t0 = Instant::now();
    post(
        &client,
        format!("{}/v1/sessions/{other}/import", s.base),
        json!({"prefix": "ours/big"}),
    );
    let big_in = ms(t0.elapsed());
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = sampler.join();
    let peak_mib = peak.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1024.0;
    println!(
        "| {big_mb} MiB file out / in | {:.0} / {:.0} MB/s | — | — |",
        mb_s(big_mb << 20, big_out),
        mb_s(big_mb << 20, big_in)
    );
    println!(
        "| server RSS while moving it | {rss0:.0} MiB before, {peak_mib:.0} MiB peak | — | — |"
    );
}
