//! The OpenAPI document: `GET /openapi.json` is generated from the handlers' annotations and
//! types; docs/openapi.json must be the same (regenerate it with `DYNEXEC_WRITE_OPENAPI=1 cargo
//! test --test openapi`), and schemathesis (PyPI) fuzzes the live server against it: no 5xx, and
//! every response's status, content type, headers and body conform to the document.

mod common;

use common::{tools_bin, Server};
use serde_json::Value;
use std::path::PathBuf;

fn docs_copy() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json")
}

#[test]
fn the_served_document_is_the_one_in_docs() {
    let s = Server::start();
    let r = s.get("/openapi.json");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let served = r.text().unwrap();
    let doc: Value = serde_json::from_str(&served).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    // every route of the REST surface is described
    for path in [
        "/health",
        "/execute",
        "/file-sync",
        "/session/complete",
        "/v1/info",
        "/metrics",
        "/v1/sessions",
        "/v1/sessions/{id}/executions",
        "/v1/sessions/{id}/executions/{exec_id}/events",
        "/v1/sessions/{id}/files/{path}",
        "/v1/sessions/{id}/artifacts.zip",
        "/v1/sessions/{id}/import",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} is not in the document"
        );
    }
    if std::env::var("DYNEXEC_WRITE_OPENAPI").as_deref() == Ok("1") {
        std::fs::write(docs_copy(), format!("{served}\n")).unwrap();
    }
    let copy: Value = serde_json::from_str(&std::fs::read_to_string(docs_copy()).unwrap()).unwrap();
    assert!(
        copy == doc,
        "docs/openapi.json drifted from what the server serves: regenerate it with \
         DYNEXEC_WRITE_OPENAPI=1 cargo test --test openapi"
    );
}

#[test]
fn schemathesis_finds_no_5xx_and_no_response_outside_the_document() {
    let s = Server::start();
    let bin = tools_bin("schemathesis");
    assert!(
        bin.exists(),
        "{} missing: run scripts/test.sh",
        bin.display()
    );
    // Its cache (`.schemathesis/`) goes to a directory of its own, not into the clone.
    let cwd = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("timeout")
        .current_dir(cwd.path())
        .arg("600")
        .arg(bin)
        .args(["run", &s.url("/openapi.json"), "--url", &s.base])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance",
            // Completing the compat session ends it by design (/health then answers 503
            // `complete` so the balancer drains the task): it has its own tests.
            "--exclude-path",
            "/session/complete",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "25",
            "--workers",
            "2",
            "--request-timeout",
            "60",
            "--generation-deterministic",
            "--no-color",
        ])
        .env("SCHEMATHESIS_HOOKS", "")
        .output()
        .expect("run schemathesis");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "schemathesis:\n{text}");
    assert!(
        s.get("/health").status() == 200,
        "the server is still healthy after the fuzzing"
    );
}
