//! The messages between the server and a session's worker (`sandbox/python/worker.py`), one
//! JSON object per line on the worker's control channel. The worker's code is sandboxed user
//! code's neighbour: the channel is fd 3 of that process, so anything can arrive on it. A line
//! that is not one of these messages is ignored; the server never trusts what the worker says
//! about the session's processes (it checks from outside).

use dynexec_sandbox::Report;
use serde::{Deserialize, Serialize};

/// The language of an execution's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    Python,
    Shell,
}

impl Language {
    /// The name the API and the metrics use.
    pub fn label(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::Shell => "shell",
        }
    }
}

/// An error in the code, as the worker describes it: `line` is the line in the submitted code,
/// the traceback starts at the user's code.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct ErrorInfo {
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
    pub line: Option<u64>,
    pub traceback: String,
}

/// What the server asks of a worker.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Run one execution.
    Exec {
        id: String,
        /// The execution's number in the session (names the code in tracebacks and figures).
        n: u64,
        code: String,
        language: Language,
        /// Run in a fresh namespace (the reference executor's semantics).
        fresh: bool,
    },
    /// Draw and encode a throwaway chart (in memory; nothing is written), so that a warm
    /// worker's first real chart finds matplotlib's pages its own.
    Prewarm,
}

/// What a worker reports.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum Event {
    /// The worker entered its sandbox and waits for requests.
    Ready { pid: i32, sandbox: Report },
    /// Entering the sandbox failed; the worker exits without running anything.
    SandboxFailed { error: String },
    /// `plt.show()` saved a figure.
    Artifact { id: String, path: String },
    /// An execution finished.
    Result(ResultMessage),
    /// The prewarm is done (`error`: why it could not draw; the worker is usable either way).
    Prewarmed {
        #[serde(default)]
        error: Option<String>,
    },
}

/// How the code ended, as the worker saw it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CodeStatus {
    Ok,
    Error,
    /// A KeyboardInterrupt: the server's SIGINT (timeout, cancel), or the code's own.
    Interrupted,
    /// A MemoryError.
    Oom,
}

/// The worker's report of one execution.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ResultMessage {
    pub id: String,
    pub status: CodeStatus,
    #[serde(default)]
    pub error: Option<ErrorInfo>,
    #[serde(default)]
    pub exit_code: Option<i64>,
    #[serde(default)]
    pub cpu_ms: u64,
    #[serde(default)]
    pub max_rss_kb: u64,
    /// Processes the code started are still running (the server looks for itself too).
    #[serde(default)]
    pub stray_processes: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tagged_by_op() {
        let r = Request::Exec {
            id: "e1".into(),
            n: 1,
            code: "print(1)".into(),
            language: Language::Shell,
            fresh: false,
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["op"], "exec");
        assert_eq!(v["language"], "shell");
    }

    #[test]
    fn reads_what_worker_py_sends() {
        let ready = r#"{"ev": "ready", "pid": 7, "sandbox": {"layers": ["uid"], "uid": 20001, "data_limit_bytes": 1, "landlock": "off", "namespaces": "off", "pid": 7}}"#;
        assert!(matches!(
            serde_json::from_str::<Event>(ready).unwrap(),
            Event::Ready { pid: 7, .. }
        ));
        let result = r#"{"status": "error", "error": {"type": "ZeroDivisionError", "message": "division by zero", "line": 1, "traceback": "t"}, "exit_code": null, "ev": "result", "id": "e1", "cpu_ms": 3, "max_rss_kb": 9, "stray_processes": false}"#;
        match serde_json::from_str::<Event>(result).unwrap() {
            Event::Result(r) => {
                assert_eq!(r.status, CodeStatus::Error);
                assert_eq!(r.error.unwrap().kind, "ZeroDivisionError");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            serde_json::from_str::<Event>(r#"{"ev": "prewarmed", "error": null}"#).unwrap(),
            Event::Prewarmed { error: None }
        );
        assert_eq!(
            serde_json::to_value(Request::Prewarm).unwrap(),
            serde_json::json!({"op": "prewarm"})
        );
        // what user code might write on the channel is not a message
        assert!(serde_json::from_str::<Event>(r#"{"ev": "result", "id": 1}"#).is_err());
        assert!(serde_json::from_str::<Event>(r#"{"hello": 1}"#).is_err());
    }
}
