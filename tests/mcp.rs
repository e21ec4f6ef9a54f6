//! MCP at /mcp, driven by the official MCP Python SDK (`mcp` from PyPI, in the test tools'
//! venv) over Streamable HTTP: tools, state across calls, a chart as image content, errors as
//! tool errors with our codes, a session shared with a REST client, and the MCP session's own
//! executor session deleted when the MCP session ends.

mod common;

use common::{eventually, tools_bin, Server};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

fn run_client(base: &str, rest_session: &str) -> HashMap<String, Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mcp_client.py");
    let out = std::process::Command::new(tools_bin("python3"))
        .args([script, base, rest_session])
        .output()
        .expect("the tools venv's python (the test command installs it)");
    assert!(
        out.status.success(),
        "mcp client failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["check"].as_str().unwrap().to_string(), v["value"].clone())
        })
        .collect()
}

#[test]
fn the_official_mcp_client_runs_python_in_shared_sessions() {
    let s = Server::start();
    let rest = s.create_session();
    s.run_ok(&rest, "rest_value = 7");
    let c = run_client(&s.base, &rest);

    assert_eq!(c["server"], "dynamic-executor");
    let tools: Vec<&str> = c["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for t in [
        "create_session",
        "delete_session",
        "list_artifacts",
        "list_files",
        "read_file",
        "run_python",
        "run_shell",
        "upload_file",
        "profile_dataset",
        "verify_calculations",
        "render_chart",
    ] {
        assert!(tools.contains(&t), "{t} missing from {tools:?}");
    }
    assert_eq!(
        c["run_python_schema"]["required"],
        serde_json::json!(["code"])
    );

    let st = &c["stateful"];
    assert_eq!(st["error1"], false);
    assert_eq!(st["stdout"], "42\n");
    let own = st["session"].as_str().unwrap().to_string();
    assert_ne!(own, rest);

    let chart = &c["chart"];
    assert_eq!(chart["is_error"], false, "{chart}");
    assert_eq!(chart["images"][0][0], "image/png");
    // base64 of the PNG signature
    assert!(chart["images"][0][1]
        .as_str()
        .unwrap()
        .starts_with("iVBORw0KGgo"));
    assert_eq!(chart["texts"][0], "artifacts/chart.png:");

    let files = &c["files"];
    assert_eq!(files["upload_error"], false);
    assert_eq!(files["read"], "a,b\n1,2\n");
    let listed = files["listed"].to_string();
    assert!(
        listed.contains("data/a.csv") && listed.contains("artifacts/chart.png"),
        "{listed}"
    );
    assert_eq!(
        files["artifacts"],
        serde_json::json!(["artifacts/chart.png"])
    );

    let e = &c["errors"];
    assert_eq!(e["bad_path"], serde_json::json!([true, "invalid_path"]));
    assert_eq!(e["missing"], serde_json::json!([true, "file_not_found"]));
    assert_eq!(
        e["exception"],
        serde_json::json!([true, "ZeroDivisionError"])
    );

    assert_eq!(c["shared"], "42\n");
    assert!(
        c["shell"].as_str().unwrap().starts_with("hi from"),
        "{}",
        c["shell"]
    );

    let a = &c["analytics"];
    assert_eq!(a["profile"][0], false, "{a}");
    assert!(
        a["profile"][1]
            .as_str()
            .unwrap()
            .contains("3 rows × 3 columns"),
        "{a}"
    );
    assert_eq!(
        a["verify"],
        serde_json::json!([false, 2, 1, {"written_to": "artifacts/citations.json"}])
    );
    assert_eq!(
        a["chart"],
        serde_json::json!([false, "artifacts/by_category.png", ["image/png"]])
    );
    assert_eq!(a["bad_chart"], serde_json::json!([true, "bad_request"]));

    // The client closed its MCP session: the executor session it made is gone, the REST
    // client's is untouched.
    let gone = eventually(Duration::from_secs(10), || {
        s.get(&format!("/v1/sessions/{own}")).status() == 404
    });
    assert!(gone, "the MCP session's own executor session outlived it");
    assert_eq!(s.run_ok(&rest, "print(rest_value)"), "7\n");
}

#[test]
fn mcp_sessions_stick_through_a_cookie_sticky_balancer() {
    // Two executors round-robin behind HAProxy: every request of the MCP session after the
    // first must reach the instance that holds it, through the cookie set on `initialize`.
    let (a, b) = (Server::start(), Server::start());
    let lb = common::haproxy::Haproxy::start(&[&a.base, &b.base], 60);
    let c = run_client(&lb.base, "-");
    assert_eq!(c["stateful"]["stdout"], "42\n");
    assert_eq!(c["chart"]["images"][0][0], "image/png");
    assert_eq!(c["files"]["read"], "a,b\n1,2\n");
}

#[test]
fn the_mcp_response_sets_the_sticky_cookie() {
    let s = Server::start();
    let r = s
        .client
        .post(s.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(
            &serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with(&format!("dynexec_session=mcp-{id};")),
        "{cookie}"
    );
}

#[test]
fn an_idle_mcp_session_lives_as_long_as_an_idle_executor_session() {
    // rmcp closes idle MCP sessions after 5 minutes by default; ours follow EXECUTOR_IDLE_TTL_S
    // (here 2 s, so the test can watch it end): the MCP session and the executor session it
    // made end together.
    let s = Server::start_with(&["--idle-ttl-s", "2"], &[]);
    let post = |body: serde_json::Value, session: Option<&str>| {
        let mut r = s
            .client
            .post(s.url("/mcp"))
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18");
        if let Some(id) = session {
            r = r.header("mcp-session-id", id);
        }
        r.json(&body).send().unwrap()
    };
    let init = post(
        serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}}),
        None,
    );
    let id = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_string();
    let _ = init.text();
    let ack = post(
        serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        Some(&id),
    );
    assert!(ack.status().is_success(), "{}", ack.status());
    let ping = |id: &str| {
        post(
            serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}),
            Some(id),
        )
        .status()
    };
    assert_eq!(ping(&id), 200);
    // idle (a ping would keep it alive) past the TTL, then gone
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        ping(&id),
        404,
        "the idle MCP session outlived EXECUTOR_IDLE_TTL_S"
    );
}
