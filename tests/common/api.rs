//! Real HTTP to a running executor: the calls every integration test makes, whether the
//! server is a process the harness started or a container.

use reqwest::blocking::{Client, Response};
use serde_json::{json, Value};

pub struct Api {
    pub base: String,
    pub client: Client,
}

impl Api {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().unwrap()
    }

    pub fn get_json(&self, path: &str) -> Value {
        self.get(path).json().unwrap()
    }

    pub fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).json(body).send().unwrap()
    }

    pub fn create_session(&self) -> String {
        let r = self.post_json("/v1/sessions", &json!({}));
        assert_eq!(
            r.status(),
            201,
            "create session: {}",
            r.text().unwrap_or_default()
        );
        r.json::<Value>().unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Runs Python code and returns the result JSON (asserting HTTP 200).
    pub fn exec(&self, sid: &str, code: &str) -> Value {
        self.exec_with(sid, &json!({ "code": code }))
    }

    pub fn exec_with(&self, sid: &str, body: &Value) -> Value {
        let r = self.post_json(&format!("/v1/sessions/{sid}/executions"), body);
        let status = r.status();
        let text = r.text().unwrap();
        assert_eq!(status, 200, "execution failed at the HTTP level: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Runs code that must succeed and returns its stdout.
    pub fn run_ok(&self, sid: &str, code: &str) -> String {
        let r = self.exec(sid, code);
        assert_eq!(r["status"], "ok", "code failed: {r:#}");
        r["stdout"].as_str().unwrap().to_string()
    }

    pub fn put_file(&self, sid: &str, path: &str, body: Vec<u8>) -> Response {
        self.client
            .put(self.url(&format!("/v1/sessions/{sid}/files/{path}")))
            .body(body)
            .send()
            .unwrap()
    }

    /// Deletes a session, asserting 204.
    pub fn delete_session(&self, sid: &str) {
        let r = self
            .client
            .delete(self.url(&format!("/v1/sessions/{sid}")))
            .send()
            .unwrap();
        assert_eq!(r.status(), 204, "delete session {sid}");
    }

    pub fn session_info(&self, sid: &str) -> Value {
        self.get_json(&format!("/v1/sessions/{sid}"))
    }

    pub fn session_uid(&self, sid: &str) -> u32 {
        self.session_info(sid)["sandbox"]["uid"]
            .as_u64()
            .expect("session has a uid") as u32
    }

    pub fn worker_pid(&self, sid: &str) -> i32 {
        self.session_info(sid)["sandbox"]["worker_pid"]
            .as_i64()
            .unwrap() as i32
    }
}
