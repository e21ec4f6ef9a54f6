//! One session's groups: created (with limits) before each worker is forked, joined by the
//! worker itself, killed and removed when the session's processes are stopped.

use super::discover::Version;
use super::Tree;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct SessionCgroup {
    /// The v2 group (`cgroup.kill`).
    unified: Option<PathBuf>,
    memory: Option<(Version, PathBuf)>,
    pids: Option<(Version, PathBuf)>,
    /// Every directory of the session, one per hierarchy in use.
    dirs: Vec<PathBuf>,
    memory_max: u64,
    pids_max: u64,
}

impl SessionCgroup {
    pub(super) fn new(tree: &Tree, uid: u32) -> SessionCgroup {
        let name = format!("uid-{uid}");
        let place =
            |p: &Option<super::Placement>| p.as_ref().map(|p| (p.version, p.base.join(&name)));
        SessionCgroup {
            unified: tree.unified.as_ref().map(|b| b.join(&name)),
            memory: place(&tree.memory),
            pids: place(&tree.pids),
            dirs: tree.bases().iter().map(|b| b.join(&name)).collect(),
            memory_max: tree.memory_max,
            pids_max: tree.pids_max,
        }
    }

    /// The `cgroup.procs` files the worker writes itself into.
    pub fn procs_files(&self) -> Vec<String> {
        self.dirs
            .iter()
            .map(|d| d.join("cgroup.procs").display().to_string())
            .collect()
    }

    /// Creates the groups (if missing) and (re)writes their limits. Blocking.
    pub fn create(&self) -> std::io::Result<()> {
        for d in &self.dirs {
            std::fs::create_dir_all(d)?;
        }
        if let Some((version, dir)) = &self.memory {
            let max = self.memory_max.to_string();
            match version {
                Version::V2 => {
                    std::fs::write(dir.join("memory.max"), &max)?;
                    // Swap would turn the limit into thrashing; absent without swap accounting.
                    let _ = std::fs::write(dir.join("memory.swap.max"), "0");
                }
                Version::V1 => {
                    std::fs::write(dir.join("memory.limit_in_bytes"), &max)?;
                    let _ = std::fs::write(dir.join("memory.memsw.limit_in_bytes"), &max);
                }
            }
        }
        if let Some((_, dir)) = &self.pids {
            std::fs::write(dir.join("pids.max"), self.pids_max.to_string())?;
        }
        Ok(())
    }

    /// Kills every process in the groups and waits (bounded) until they are empty; true when
    /// they are. Blocking.
    pub fn kill(&self) -> bool {
        // cgroup.kill marks the group, so a fork racing with it is killed too (v2, 5.14+).
        let killed_by_kernel = self
            .unified
            .as_ref()
            .is_some_and(|d| std::fs::write(d.join("cgroup.kill"), "1").is_ok());
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let pids = self.members();
            if pids.is_empty() {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            if !killed_by_kernel {
                for pid in pids {
                    crate::os::procs::signal(pid, libc::SIGKILL);
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Pids in any of the groups.
    pub fn members(&self) -> Vec<i32> {
        let mut pids = vec![];
        for d in &self.dirs {
            pids.extend(procs_in(d));
        }
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Pids in the session's pids group: every process the session can have (workers join it
    /// before anything of the session runs, and code cannot leave it), read from one file
    /// instead of one per hierarchy. None without a pids group.
    pub fn pids_members(&self) -> Option<Vec<i32>> {
        self.pids.as_ref().map(|(_, d)| procs_in(d))
    }

    /// [`SessionCgroup::kill`], then [`SessionCgroup::remove`]: nothing of the session may run
    /// there any more. Blocking.
    pub fn kill_and_remove(&self) {
        self.kill();
        self.remove();
    }

    /// Removes the (empty) groups. Blocking.
    pub fn remove(&self) {
        for d in &self.dirs {
            if let Err(e) = std::fs::remove_dir(d) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(cgroup = %d.display(), error = %e, "could not remove a session cgroup");
                }
            }
        }
    }

    /// Whether the groups bound both memory and processes (not just `cgroup.kill`).
    pub fn limits_memory_and_processes(&self) -> bool {
        self.memory.is_some() && self.pids.is_some()
    }

    /// The memory limit in bytes, when one is enforced.
    pub fn memory_max(&self) -> Option<u64> {
        self.memory.as_ref().map(|_| self.memory_max)
    }

    /// The file whose `oom_kill` counter grows each time the kernel kills a process of the
    /// session for going over the memory limit.
    fn oom_events_file(&self) -> Option<PathBuf> {
        self.memory.as_ref().map(|(v, d)| match v {
            Version::V2 => d.join("memory.events"),
            Version::V1 => d.join("memory.oom_control"),
        })
    }

    /// The groups' counters, held open: for one worker's life (the groups are removed and
    /// made again when a session's worker is replaced). Blocking, once the groups exist.
    pub fn counters(&self) -> Counters {
        let held = |p: Option<PathBuf>| p.and_then(|p| crate::os::kernel_file::Held::open(p).ok());
        Counters {
            oom: held(self.oom_events_file()),
            tasks: held(self.pids.as_ref().map(|(_, d)| d.join("pids.current"))),
            alone_at: None,
        }
    }
}

/// A session's cgroup counters read on every execution, each one `pread` of a file held open.
#[derive(Debug, Default)]
pub struct Counters {
    oom: Option<crate::os::kernel_file::Held>,
    tasks: Option<crate::os::kernel_file::Held>,
    /// The task count of the group when only the worker's own process runs in it, once seen
    /// to be exactly that (see [`Counters::expect_alone`]).
    alone_at: Option<u64>,
}

impl Counters {
    /// The session's OOM kills so far (0 without a memory group, or once it is removed).
    pub fn oom_kills(&self) -> u64 {
        self.oom
            .as_ref()
            .and_then(|f| f.read().ok())
            .map(|t| oom_kills(&t))
            .unwrap_or(0)
    }

    /// The session's processes and threads, all counted (`pids.current`: a zombie still
    /// counts). None without a pids group, or once it is removed.
    pub fn tasks(&self) -> Option<u64> {
        self.tasks
            .as_ref()
            .and_then(|f| f.read().ok())
            .and_then(|t| t.trim().parse().ok())
    }

    /// Called with a new worker's own task count before any code of the session runs: when
    /// the group counts exactly that, [`Counters::alone`] can answer from the count later.
    /// Anything else (a group that does not hold the worker's processes as expected) leaves it
    /// unable to: then every look is the long one.
    pub fn expect_alone(&mut self, own_tasks: u64) {
        self.alone_at = (self.tasks() == Some(own_tasks)).then_some(own_tasks);
    }

    /// Whether the group provably holds nothing but the worker's own process: it counts no
    /// more tasks than when only that ran. A fork racing the SIGSTOP that precedes the read is
    /// charged before the kernel aborts it for the pending stop, so it cannot be missed.
    pub fn alone(&self) -> bool {
        self.alone_at
            .is_some_and(|own| self.tasks().is_some_and(|n| n <= own))
    }
}

fn procs_in(dir: &std::path::Path) -> Vec<i32> {
    crate::os::kernel_file::read(dir.join("cgroup.procs"))
        .map(|text| {
            text.split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The `oom_kill` counter in a `memory.events` (v2) or `memory.oom_control` (v1) text.
pub fn oom_kills(text: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::Counters;
    use crate::os::kernel_file::Held;

    /// `alone` answers only for a group first seen holding exactly the worker's own tasks, and
    /// then only while it holds no more than that. (A file stands in for `pids.current`.)
    #[test]
    fn a_group_is_alone_only_at_or_below_the_count_it_was_seen_alone_at() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("pids.current");
        let counters = |text: &str, own: u64| {
            std::fs::write(&p, text).unwrap();
            let mut c = Counters {
                tasks: Some(Held::open(&p).unwrap()),
                ..Counters::default()
            };
            c.expect_alone(own);
            c
        };
        let c = counters("2\n", 2);
        assert!(c.alone());
        std::fs::write(&p, "3\n").unwrap();
        assert!(!c.alone(), "a third task (a stray process) is not alone");
        std::fs::write(&p, "1\n").unwrap();
        assert!(c.alone());
        // first seen with more than its own tasks: never answers from the count
        let c = counters("3\n", 2);
        std::fs::write(&p, "2\n").unwrap();
        assert!(!c.alone());
        // first seen with fewer (a process of the worker outside the group): the same
        let c = counters("1\n", 2);
        assert!(!c.alone());
        // no pids group
        let mut c = Counters::default();
        c.expect_alone(1);
        assert!(!c.alone());
    }

    #[test]
    fn reads_the_oom_kill_counter_of_both_versions() {
        let v2 = "low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n";
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n";
        assert_eq!(super::oom_kills(v2), 2);
        assert_eq!(super::oom_kills(v1), 1);
        assert_eq!(super::oom_kills(""), 0);
    }
}
