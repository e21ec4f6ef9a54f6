//! The messages between the server and the Python zygote (`sandbox/python/zygote.py`), one
//! JSON object per SOCK_SEQPACKET packet; a spawn request carries the worker's three fds.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What the server asks of the zygote.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Fork a worker that sandboxes itself with `policy` in `workspace`; the packet carries
    /// its channel, stdout and stderr.
    Spawn {
        req: u64,
        policy: dynexec_sandbox::Policy,
        workspace: PathBuf,
        env: std::collections::BTreeMap<String, String>,
    },
}

/// A module the zygote could not preload, and why.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MissingModule {
    pub module: String,
    pub error: String,
}

/// What the zygote reports.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum Event {
    /// Warm: the data stack is imported and forks are safe.
    Ready {
        pid: i32,
        python: String,
        preloaded: Vec<String>,
        missing: Vec<MissingModule>,
    },
    /// Request `req` forked `pid`.
    Spawned { req: Option<u64>, pid: i32 },
    /// The zygote reaped a child.
    Exited { pid: i32, status: i32 },
    /// The zygote cannot go on.
    Fatal { error: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_zygote_py_sends() {
        let ready = r#"{"ev": "ready", "pid": 5, "python": "3.11.2", "preloaded": ["numpy"], "missing": [{"module": "x", "error": "ModuleNotFoundError: x"}]}"#;
        match serde_json::from_str::<Event>(ready).unwrap() {
            Event::Ready { missing, .. } => assert_eq!(missing[0].module, "x"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            serde_json::from_str::<Event>(r#"{"ev": "spawned", "req": 3, "pid": 9}"#).unwrap(),
            Event::Spawned {
                req: Some(3),
                pid: 9
            }
        );
    }
}
