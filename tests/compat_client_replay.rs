//! Replays what the unchanged Deep Insight agent runtime does against a task, end to end.

mod common;

use common::s3::{BUCKET, S3};
use common::{data, Server};
use serde_json::{json, Value};

fn execute(s: &Server, code: &str) -> Value {
    let r = s.post_json(
        "/execute",
        &json!({"code": code, "session_id": "job-replay"}),
    );
    assert_eq!(r.status(), 200);
    r.json().unwrap()
}

const PREFIX: &str = "deep-insight/fargate_sessions/job-replay";

fn replay(csv: Vec<u8>, expected_total: i64) {
    // The task as ECS starts it: SESSION_ID, S3_BUCKET_NAME, a region (here a loopback S3).
    let s3 = S3::start();
    let env = s3.env();
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.push(("SESSION_ID", "job-replay"));
    let s = Server::start_with(&[], &env);
    // 1. the cookie hunt: /container-info until the session id is known
    let info = s.get_json("/container-info?session_id=job-replay");
    assert!(info["known_sessions"]
        .as_array()
        .unwrap()
        .contains(&json!("job-replay")));
    assert!(!info["private_ip"].as_str().unwrap().is_empty());
    // 2. data in: the client uploads its inputs to the bucket, then file-syncs them in
    let input = format!("{PREFIX}/input/");
    s3.put(&format!("{input}Dat-fresh-food-claude.csv"), csv);
    let r = s.post_json("/file-sync", &json!({"action": "sync_data_from_s3", "bucket_name": BUCKET, "s3_key_prefix": input, "local_path": "/app/data/"}));
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().unwrap(),
        json!({"status": "success", "message": "Downloaded 1 files from S3", "files_count": 1, "downloaded_files": ["/app/data/Dat-fresh-food-claude.csv"]})
    );
    // 3. the Coder agent's executions
    let v = execute(&s, "import pandas as pd\ndf = pd.read_csv('./data/Dat-fresh-food-claude.csv')\nprint(df.shape)\nprint(int(df['금액'].sum()))");
    assert_eq!(v["status"], "completed", "{v}");
    assert!(
        v["stdout"]
            .as_str()
            .unwrap()
            .contains(&expected_total.to_string()),
        "{v}"
    );
    let v = execute(
        &s,
        "\
import pandas as pd, matplotlib.pyplot as plt
df = pd.read_csv('./data/Dat-fresh-food-claude.csv')
by = df.groupby('카테고리')['금액'].sum().sort_values()
fig, ax = plt.subplots(figsize=(8, 5))
ax.barh(by.index, by.values)
ax.set_title('카테고리별 매출')
fig.savefig('./artifacts/category_sales.png', dpi=120, bbox_inches='tight')
print('saved')",
    );
    assert_eq!(v["status"], "completed", "{v}");
    let v = execute(
        &s,
        &format!(
            "\
import json, pandas as pd
df = pd.read_csv('./data/Dat-fresh-food-claude.csv')
meta = {{'generated_at': str(datetime.now()), 'calculations': [{{
    'id': 'calc_001', 'value': int(df['금액'].sum()), 'description': '총 매출',
    'formula': 'SUM(금액)', 'source_file': './data/Dat-fresh-food-claude.csv',
    'source_columns': ['금액'], 'importance': 'high'}}]}}
with open('./artifacts/calculation_metadata.json', 'w', encoding='utf-8') as f:
    json.dump(meta, f, ensure_ascii=False, indent=2)
print(meta['calculations'][0]['value'] == {expected_total})"
        ),
    );
    assert_eq!(v["stdout"], "True\n", "{v}");
    // 4. the Validator re-computes from source_file
    let v = execute(&s, "import json, pandas as pd\nm = json.load(open('./artifacts/calculation_metadata.json'))['calculations'][0]\ndf = pd.read_csv(m['source_file'])\nprint(abs(df[m['source_columns'][0]].sum() - m['value']) < 0.01)");
    assert_eq!(v["stdout"], "True\n");
    let v = execute(&s, "BASH: ls ./artifacts");
    assert_eq!(
        v["stdout"],
        "calculation_metadata.json\ncategory_sales.png\n"
    );
    assert_eq!(v["total_executions"], 5);
    // the artifacts are served by the v1 API too
    let png = s.get("/v1/sessions/job-replay/artifacts/category_sales.png");
    assert_eq!(png.headers()["content-type"], "image/png");
    // 5. completion: the contract's layout in the bucket, with its content types
    let r = s.post_json("/session/complete", &json!({"session_id": "job-replay"}));
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().unwrap(),
        json!({"message": "Session completed", "session_id": "job-replay", "total_executions": 5, "upload_completed": true})
    );
    let want: Vec<String> = [
        "artifacts/calculation_metadata.json",
        "artifacts/category_sales.png",
        "data/Dat-fresh-food-claude.csv",
        "debug/execution_1.json",
        "debug/execution_2.json",
        "debug/execution_3.json",
        "debug/execution_4.json",
        "debug/execution_5.json",
        "debug/session_status.json",
        "input/Dat-fresh-food-claude.csv",
    ]
    .iter()
    .map(|k| format!("{PREFIX}/{k}"))
    .collect();
    assert_eq!(s3.keys(&format!("{PREFIX}/")), want);
    for (k, t) in [
        ("artifacts/calculation_metadata.json", "application/json"),
        ("artifacts/category_sales.png", "image/png"),
        ("data/Dat-fresh-food-claude.csv", "text/csv"),
        ("debug/session_status.json", "application/json"),
    ] {
        assert_eq!(s3.get(&format!("{PREFIX}/{k}")).content_type, t, "{k}");
    }
    let status: Value =
        serde_json::from_slice(&s3.get(&format!("{PREFIX}/debug/session_status.json")).body)
            .unwrap();
    assert_eq!(status["total_executions"], 5);
    assert_eq!(status["executions"][4]["code_type"], "bash");
    // complete: the ALB drains the target, and a retry is idempotent
    assert_eq!(s.get("/health").status(), 503);
    assert_eq!(s.post_json("/session/complete", &json!({})).status(), 200);
}

#[test]
fn replay_with_real_data() {
    let Some(csv) = data::real_fresh_food() else {
        return;
    };
    replay(csv, data::REAL_TOTAL);
}

#[test]
fn replay_with_synthetic_data() {
    let d = data::synthetic_fresh_food(2726, 11);
    replay(d.csv, d.total);
}
