//! `bench --overhead` (#16): what an execution costs over the HTTP round trip it rides on,
//! with its peers in the same run: `/health` on the same connection kinds (the floor: the HTTP
//! stack and the loopback, no execution), and a Flask server shaped like the reference executor
//! (`exec()` in its own process, no sandbox; src/bin/bench/reference_flask.py). Three
//! alternating rounds, so the machine's swings land on every figure alike; then the first
//! chart of new sessions.

use super::{
    create, delete, first_charts, free_port, ms, pct, row, start, start_env, table_header,
    tools_bin,
};
use reqwest::blocking::Client;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The chart of the main table's "first matplotlib chart" row.
pub const CHART: &str = "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.bar(['과일','채소','육류','수산물','유제품'], [5, 3, 4, 2, 1])\nax.set_title('카테고리별 매출')\nplt.show()";

struct Reference {
    child: Child,
    base: String,
    workspace: std::path::PathBuf,
}

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.workspace);
    }
}

/// The reference-shaped Flask server, once it answers (None without the tools venv's Flask).
fn reference() -> Option<Reference> {
    let port = free_port();
    let workspace = std::env::temp_dir().join(format!("dynexec-bench-flask-{port}"));
    std::fs::create_dir_all(&workspace).ok()?;
    let child = Command::new(tools_bin("python3"))
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/bin/bench/reference_flask.py"
        ))
        .arg(port.to_string())
        .arg(&workspace)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let r = Reference {
        child,
        base: format!("http://127.0.0.1:{port}"),
        workspace,
    };
    let client = Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if client
            .get(format!("{}/health", r.base))
            .send()
            .is_ok_and(|x| x.status() == 200)
        {
            return Some(r);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// One timed call, in ms.
fn timed(f: impl FnOnce()) -> f64 {
    let t0 = Instant::now();
    f();
    ms(t0.elapsed())
}

/// The timed calls' HTTP client: ureq, which works on the calling thread, as the Deep Insight
/// client (Python `requests`) does. reqwest's blocking client hands every request to a runtime
/// thread of its own and takes the response back from it: two cross-thread wake-ups per call
/// that no server causes (0.04–0.11 ms per call on this VM, on every row alike; one row shows it).
pub fn http_client(keep_alive: bool) -> ureq::Agent {
    let config = ureq::Agent::config_builder().proxy(None);
    let config = if keep_alive {
        config
    } else {
        config
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
    };
    config.build().new_agent()
}

/// A `print(1)` POSTed to `url` (v1 or compat: both answer with `stdout`), checked.
pub fn post_print(client: &ureq::Agent, url: &str) {
    let mut r = client
        .post(url)
        .header("content-type", "application/json")
        .send(r#"{"code": "print(1)"}"#)
        .unwrap();
    let r: Value = serde_json::from_slice(&r.body_mut().read_to_vec().unwrap()).unwrap();
    assert_eq!(r["stdout"], "1\n", "{r}");
}

pub fn get_ok(client: &ureq::Agent, url: &str) {
    let mut r = client.get(url).call().unwrap();
    assert_eq!(r.status(), 200);
    let _ = r.body_mut().read_to_vec();
}

/// [`post_print`] through reqwest's blocking client: the bench's client before ureq.
fn post_print_reqwest(client: &Client, url: &str) {
    let r: Value = client
        .post(url)
        .json(&json!({"code": "print(1)"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(r["stdout"], "1\n", "{r}");
}

pub fn run(quick: bool) {
    let per_round = if quick { 100 } else { 300 };
    // More compat calls than a compat session allows by default (500).
    let server = start("overhead", 61000, &["--max-executions", "100000"]);
    let base = &server.base;
    // The same at the default log level (two JSON lines per execution): what users run. The
    // bench's servers otherwise log at `warn`.
    let logging = start_env("overhead-info", 61400, &[], &[("EXECUTOR_LOG", "info")]);
    let flask = reference();
    let setup = Client::new();
    let (keep, fresh) = (http_client(true), http_client(false));
    let sid = create(&setup, base);
    let info_sid = create(&setup, &logging.base);
    let v1_info = format!("{}/v1/sessions/{info_sid}/executions", logging.base);
    let health = format!("{base}/health");
    let v1 = format!("{base}/v1/sessions/{sid}/executions");
    let compat = format!("{base}/execute");
    let flask_exec = flask.as_ref().map(|f| format!("{}/execute", f.base));
    for _ in 0..20 {
        post_print(&keep, &v1);
        post_print_reqwest(&setup, &v1);
        post_print(&keep, &v1_info);
        post_print(&fresh, &compat);
        if let Some(u) = &flask_exec {
            post_print(&fresh, u);
        }
    }
    let (mut h_keep, mut p_keep, mut r_keep, mut i_keep, mut h_new, mut p_new, mut f_new) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..3 {
        for _ in 0..per_round {
            h_keep.push(timed(|| get_ok(&keep, &health)));
        }
        for _ in 0..per_round {
            p_keep.push(timed(|| post_print(&keep, &v1)));
        }
        for _ in 0..per_round {
            r_keep.push(timed(|| post_print_reqwest(&setup, &v1)));
        }
        for _ in 0..per_round {
            i_keep.push(timed(|| post_print(&keep, &v1_info)));
        }
        for _ in 0..per_round {
            h_new.push(timed(|| get_ok(&fresh, &health)));
        }
        for _ in 0..per_round {
            p_new.push(timed(|| post_print(&fresh, &compat)));
        }
        if let Some(u) = &flask_exec {
            for _ in 0..per_round {
                f_new.push(timed(|| post_print(&fresh, u)));
            }
        }
    }
    table_header();
    row(
        "`GET /health`, keep-alive (the floor: HTTP and loopback)",
        &mut h_keep,
        "ms",
        "—",
    );
    row(
        "v1 `print(1)`, keep-alive",
        &mut p_keep,
        "ms",
        "≤ 0.3 ms p50",
    );
    row(
        "v1 `print(1)`, keep-alive, through reqwest's blocking client (a thread hop each way)",
        &mut r_keep,
        "ms",
        "—",
    );
    row(
        "v1 `print(1)`, keep-alive, default log level (`info`)",
        &mut i_keep,
        "ms",
        "—",
    );
    row(
        "`GET /health`, a new connection per call (the floor)",
        &mut h_new,
        "ms",
        "—",
    );
    row(
        "compat `/execute` `print(1)`, a new connection per call",
        &mut p_new,
        "ms",
        "≤ 0.5 ms p50",
    );
    if flask_exec.is_some() {
        row(
            "reference-shaped Flask `/execute` `print(1)` (`exec()` in process, no sandbox), new connection",
            &mut f_new,
            "ms",
            "the peer",
        );
    }
    let mut charts = first_charts(&setup, base, CHART, if quick { 5 } else { 10 });
    row(
        "first matplotlib chart in a new session",
        &mut charts,
        "ms",
        "≤ 60 ms p50",
    );
    let p = |v: &mut Vec<f64>| pct(v, 50.0);
    println!();
    println!(
        "execution over its floor (p50): keep-alive {:.3} ms, new connection {:.3} ms",
        p(&mut p_keep) - p(&mut h_keep),
        p(&mut p_new) - p(&mut h_new)
    );
    if flask_exec.is_some() {
        println!(
            "reference-shaped Flask p50 / compat p50: {:.2} (above 1: we are faster)",
            p(&mut f_new) / p(&mut p_new)
        );
    }
    delete(&setup, base, &sid);
    delete(&setup, &logging.base, &info_sid);
}
