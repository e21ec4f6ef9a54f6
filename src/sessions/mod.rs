//! Sessions: a workspace, a uid and a sandboxed worker, kept for a client across executions.

mod engine;
mod error;
mod manager;
mod session;
pub mod uid_pool;
mod warm_pool;
pub mod workspace;

pub use engine::Engine;
pub use error::{SessionError, SessionResult};
pub use manager::SessionManager;
pub use session::{ExecSpec, IdempotencyKey, SandboxInfo, Session, SessionInfo, Submitted};
pub use warm_pool::Prepared;
