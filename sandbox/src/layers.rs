//! The sandbox's layers, in the one order [`crate::enter`] applies them. The server derives
//! what it plans (`/v1/info`) and what it warns about from this list instead of restating it.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// Join the session's cgroups (first: nothing the session starts runs outside them).
    Cgroup,
    /// Close every inherited descriptor but stdio and the channel.
    FdHygiene,
    /// Signal mask reset, a new session, child subreaper.
    Setsid,
    /// rlimits (hard = soft), nice, SCHED_IDLE.
    Rlimits,
    /// IPC, mount (private /tmp), cgroup, optionally PID and network namespaces.
    Namespaces,
    /// The session's own uid and gid, no supplementary groups (the Landlock ruleset is built
    /// just before, while paths are still openable).
    Uid,
    /// Die with the zygote.
    Pdeathsig,
    /// No privileges back through setuid binaries or file capabilities.
    NoNewPrivs,
    /// Landlock restricts the filesystem, TCP, signals and abstract sockets.
    Landlock,
    /// The syscall filters.
    Seccomp,
}

impl Layer {
    /// Every layer, in the order it is entered.
    pub const ORDER: [Layer; 10] = [
        Layer::Cgroup,
        Layer::FdHygiene,
        Layer::Setsid,
        Layer::Rlimits,
        Layer::Namespaces,
        Layer::Uid,
        Layer::Pdeathsig,
        Layer::NoNewPrivs,
        Layer::Landlock,
        Layer::Seccomp,
    ];

    /// The name reports use (`Report::layers`, `/v1/info`).
    pub fn name(self) -> &'static str {
        match self {
            Layer::Cgroup => "cgroup",
            Layer::FdHygiene => "fd_hygiene",
            Layer::Setsid => "setsid",
            Layer::Rlimits => "rlimits",
            Layer::Namespaces => "namespaces",
            Layer::Uid => "uid",
            Layer::Pdeathsig => "pdeathsig",
            Layer::NoNewPrivs => "no_new_privs",
            Layer::Landlock => "landlock",
            Layer::Seccomp => "seccomp",
        }
    }

    /// Whether a host can run without it and still isolate sessions (the server warns, and
    /// reports the session `degraded`, when one of these is missing).
    pub fn optional(self) -> bool {
        matches!(
            self,
            Layer::Cgroup | Layer::Namespaces | Layer::Uid | Layer::Landlock
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_in_order() {
        let names: Vec<&str> = Layer::ORDER.iter().map(|l| l.name()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
        assert_eq!(names.first(), Some(&"cgroup"));
        assert_eq!(names.last(), Some(&"seccomp"));
    }
}
