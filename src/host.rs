//! What start-up found about this host, built once in `lib.rs::run` and passed down (there
//! are no globals): the sandbox probe's capabilities, the cgroup tree in use, and whether the
//! shared directories are locked for session uids.

use crate::cgroups::{SessionCgroup, Tree};
use dynexec_sandbox::probe::Capabilities;

#[derive(Debug, Default)]
pub struct Host {
    pub caps: Capabilities,
    /// Where per-session cgroups go; `None` when the layer is off or unavailable.
    pub cgroups: Option<Tree>,
    /// The server is root: every session gets its own uid.
    pub uid_isolation: bool,
    /// The shared directories are taken away from session uids.
    pub shared_dirs_locked: bool,
}

impl Host {
    /// The groups of the session running as `uid`, where the cgroup layer is in use.
    pub fn session_cgroup(&self, uid: Option<u32>) -> Option<SessionCgroup> {
        Some(self.cgroups.as_ref()?.session(uid?))
    }
}
