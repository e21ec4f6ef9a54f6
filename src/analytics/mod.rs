//! Native analytics (profile, verify, charts) run by the helper `dynamic-executor-analytics`,
//! one process per request inside the session's sandbox: data files are untrusted, so they are
//! parsed as the session (its uid, cgroup, rlimits, Landlock, seccomp), never in the server.

mod error;
mod helper;

pub use error::AnalyticsError;
pub use helper::Analytics;
