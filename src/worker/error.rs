//! Why a worker could not be had: the zygote, the fork, the sandbox entry, or what the session
//! needs around it (a uid, a workspace, a cgroup). The HTTP layer answers all of these 503.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("the Python zygote is down: {0}")]
    ZygoteDown(String),
    #[error("the Python zygote is not ready yet")]
    ZygoteStarting,
    #[error("the zygote is restarting")]
    ZygoteRestarting,
    #[error("the zygote did not fork in time")]
    SpawnTimeout,
    #[error("the zygote died while forking")]
    ZygoteDied,
    #[error("sending to the zygote: {0}")]
    ZygoteSend(io::Error),
    #[error("the worker did not become ready in time")]
    ReadyTimeout,
    #[error("the worker could not enter its sandbox: {0}")]
    Sandbox(String),
    #[error("the worker died while starting")]
    DiedStarting,
    #[error("the uid pool is exhausted")]
    UidsExhausted,
    #[error("creating a workspace: {0}")]
    Workspace(io::Error),
    #[error("creating the session's cgroup: {0}")]
    Cgroup(io::Error),
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("a blocking task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}
