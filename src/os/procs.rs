//! Reading the process table from /proc: who runs as a session's uid.

use std::fs;

/// A live (non-zombie) process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    pub uid: u32,
}

fn parse_status(pid: i32, text: &str) -> Option<Proc> {
    let mut ppid = None;
    let mut uid = None;
    for line in text.lines() {
        if let Some(s) = line.strip_prefix("State:") {
            if s.trim_start().starts_with('Z') || s.trim_start().starts_with('X') {
                return None;
            }
        } else if let Some(p) = line.strip_prefix("PPid:") {
            ppid = p.trim().parse().ok();
        } else if let Some(u) = line.strip_prefix("Uid:") {
            uid = u.split_whitespace().next().and_then(|v| v.parse().ok());
        }
    }
    Some(Proc {
        pid,
        ppid: ppid?,
        uid: uid?,
    })
}

/// Every live process (zombies excluded: they hold no resources but a pid).
pub fn all() -> Vec<Proc> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return vec![];
    };
    dir.filter_map(|e| {
        let e = e.ok()?;
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let text = crate::os::kernel_file::read(format!("/proc/{pid}/status")).ok()?;
        parse_status(pid, &text)
    })
    .collect()
}

/// Whether a process exists (a zombie counts: it is not reaped yet).
pub fn alive(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

/// Sends `sig` to `pid` (a negative pid: that process group); a process already gone is not
/// an error worth reporting.
pub fn signal(pid: i32, sig: libc::c_int) {
    if let Ok(sig) = nix::sys::signal::Signal::try_from(sig) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
    }
}

/// Live processes whose real uid is `uid`.
pub fn of_uid(uid: u32) -> Vec<i32> {
    all()
        .into_iter()
        .filter(|p| p.uid == uid)
        .map(|p| p.pid)
        .collect()
}

/// Live processes of `uid` other than `except`, found cheaply enough to run after every
/// execution: one `stat` of each `/proc/<pid>` (its owner is the process's uid) and a status
/// read only for the few that match (to skip zombies). A process that made itself
/// non-dumpable would show as root; sandboxed code cannot (seccomp denies PR_SET_DUMPABLE).
pub fn others_of_uid(uid: u32, except: i32) -> Vec<i32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return vec![];
    };
    let pids = dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok());
    of_uid_among(uid, except, pids)
}

/// [`others_of_uid`] among the given pids only (a session's cgroup members: a few reads instead
/// of a stat of every process on the host).
pub fn of_uid_among(uid: u32, except: i32, pids: impl IntoIterator<Item = i32>) -> Vec<i32> {
    use std::os::unix::fs::MetadataExt;
    pids.into_iter()
        .filter_map(|pid| {
            if pid == except || fs::metadata(format!("/proc/{pid}")).ok()?.uid() != uid {
                return None;
            }
            let text = crate::os::kernel_file::read(format!("/proc/{pid}/status")).ok()?;
            parse_status(pid, &text)
                .filter(|p| p.uid == uid)
                .map(|p| p.pid)
        })
        .collect()
}

/// `root` and all its live descendants.
pub fn tree(root: i32) -> Vec<i32> {
    let procs = all();
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let parent = out[i];
        out.extend(procs.iter().filter(|p| p.ppid == parent).map(|p| p.pid));
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_skips_zombies() {
        let live =
            "Name:\tpython\nState:\tS (sleeping)\nPPid:\t7\nUid:\t20001\t20001\t20001\t20001\n";
        assert_eq!(
            parse_status(9, live),
            Some(Proc {
                pid: 9,
                ppid: 7,
                uid: 20001
            })
        );
        let zombie =
            "Name:\tpython\nState:\tZ (zombie)\nPPid:\t7\nUid:\t20001\t20001\t20001\t20001\n";
        assert_eq!(parse_status(9, zombie), None);
    }

    #[test]
    fn finds_this_process() {
        let me = std::process::id() as i32;
        assert!(all().iter().any(|p| p.pid == me));
        assert!(tree(me).contains(&me));
        // SAFETY: getuid has no preconditions.
        let uid = unsafe { libc::getuid() };
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let others = others_of_uid(uid, me);
        assert!(others.contains(&(child.id() as i32)), "{others:?}");
        assert!(!others.contains(&me));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!others_of_uid(uid, me).contains(&(child.id() as i32)));
    }
}
