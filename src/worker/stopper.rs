//! Stopping a session's processes: `cgroup.kill` where the session has a v2 group, and always
//! the uid sweep (it proves no process of the uid is left anywhere); without uid isolation
//! (a non-root dev run) the worker's process tree.

use crate::cgroups::SessionCgroup;
use crate::os::sweep;

#[derive(Debug, Clone, Default)]
pub struct Stopper {
    /// The session's own uid, when the server is root.
    pub uid: Option<u32>,
    /// The session's groups, where the cgroup layer is in use.
    pub cgroup: Option<SessionCgroup>,
}

impl Stopper {
    /// Kills every process of the session except the worker (which keeps the session's state).
    pub async fn kill_children(&self, worker_pid: i32) {
        let uid = self.uid;
        let _ = tokio::task::spawn_blocking(move || match uid {
            Some(uid) => {
                if let Err(e) = sweep::kill_all_but(uid, worker_pid) {
                    tracing::warn!(uid, error = %e, "uid sweep failed");
                }
            }
            None => sweep::kill_tree(worker_pid, Some(worker_pid)),
        })
        .await;
    }

    /// Kills every process of the session, the worker included.
    pub async fn kill_all(&self, worker_pid: i32) {
        let me = self.clone();
        let _ = tokio::task::spawn_blocking(move || me.kill_all_now(worker_pid)).await;
    }

    /// [`Stopper::kill_all`] on the calling (blocking) thread; true when provably nothing of
    /// the session is left (always true without uid isolation, where it cannot be proven).
    /// The session's groups are removed once empty (the next worker recreates them).
    pub fn kill_all_now(&self, worker_pid: i32) -> bool {
        match self.uid {
            Some(uid) => {
                let emptied = self.cgroup.as_ref().is_none_or(|cg| cg.kill());
                let gone = matches!(sweep::kill_uid(uid), Ok(true)) && emptied;
                if let (Some(cg), true) = (&self.cgroup, gone) {
                    cg.remove();
                }
                if !gone {
                    tracing::error!(uid, "processes of a session survived the uid sweep");
                }
                gone
            }
            None => {
                sweep::kill_tree(worker_pid, None);
                true
            }
        }
    }
}
