//! Per-session cgroups, where the host lets us create them: the only *aggregate* limits (all
//! of a session's processes together, page cache and its private /tmp included) and a kill
//! that no fork can race (`cgroup.kill`).
//!
//! Each controller is placed where this host has it: in the v2 hierarchy when delegated to us,
//! else in a writable v1 hierarchy (hybrid hosts such as Amazon Linux 2 keep memory and pids in
//! v1). `cgroup.kill` exists only in v2; without it the uid sweep (which always runs) kills.
//! On Fargate and in unprivileged Docker cgroupfs is read-only: nothing here applies, and
//! `/v1/info` says so. Groups are named after the session's uid (`uid-<n>` under
//! `dynamic-executor-<first uid>/`), so servers with disjoint uid ranges can share a host.

pub mod discover;
mod session;

use crate::config::Config;
use discover::Version;
use serde::Serialize;
pub use session::{oom_kills, Counters, SessionCgroup};
use std::path::{Path, PathBuf};

/// The directory under our own group that holds the per-session groups: one per server (named
/// after its uid range, which no other server on the host shares), so one server's shutdown
/// never removes what another is using, and a restarted server finds its crashed run's groups.
fn base_name(uid_base: u32) -> String {
    format!("dynamic-executor-{uid_base}")
}
/// Where our own processes move on a v2 host that forbids processes beside enabled
/// controllers ("no internal processes").
const SERVER_LEAF: &str = "dynamic-executor.server";

/// Where one controller's per-session groups are created.
#[derive(Debug, Clone)]
pub struct Placement {
    pub version: Version,
    pub base: PathBuf,
}

/// What start-up found usable.
#[derive(Debug, Default)]
pub struct Tree {
    /// The v2 base (membership, `cgroup.kill`), when v2 is writable.
    pub unified: Option<PathBuf>,
    pub memory: Option<Placement>,
    pub pids: Option<Placement>,
    pub memory_max: u64,
    pub pids_max: u64,
    /// Our uid range: the groups `uid-<n>` that are ours to create and remove.
    pub uids: std::ops::Range<u32>,
}

impl Tree {
    /// The groups of the session running as `uid`.
    pub fn session(&self, uid: u32) -> SessionCgroup {
        SessionCgroup::new(self, uid)
    }

    /// Where the `memory` or `pids` controller is placed.
    fn placement(&mut self, controller: &str) -> &mut Option<Placement> {
        match controller {
            "memory" => &mut self.memory,
            _ => &mut self.pids,
        }
    }

    /// Every base in use, once each (v2 may hold the controllers too).
    fn bases(&self) -> Vec<&Path> {
        let mut bases: Vec<&Path> = vec![];
        let all = [
            self.unified.as_deref(),
            self.memory.as_ref().map(|p| p.base.as_path()),
            self.pids.as_ref().map(|p| p.base.as_path()),
        ];
        for b in all.into_iter().flatten() {
            if !bases.contains(&b) {
                bases.push(b);
            }
        }
        bases
    }
}

/// What `/v1/info` shows about the cgroup layer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CgroupReport {
    /// Memory and process limits are both enforced per session.
    pub enabled: bool,
    /// The v2 base whose `cgroup.kill` stops a session, if any.
    pub kill: Option<String>,
    pub memory: Option<String>,
    pub pids: Option<String>,
    pub memory_max_mb: u64,
    pub pids_max: u64,
    pub problems: Vec<String>,
}

/// Finds and prepares the hierarchies (blocking; at start, before the zygote exists, so only
/// the server itself may need moving) and removes groups a previous run left for our uids.
/// Returns what `/v1/info` shows and the tree sessions are placed in (none when unusable).
pub fn setup(config: &Config, uid_isolation: bool) -> (CgroupReport, Option<Tree>) {
    let mut report = CgroupReport {
        memory_max_mb: config.session_memory_mb,
        pids_max: config.session_pids_max,
        ..CgroupReport::default()
    };
    if !config.cgroups {
        report.problems.push("off (EXECUTOR_CGROUPS=false)".into());
        return (report, None);
    }
    if !uid_isolation {
        report.problems.push(
            "not used without per-session uids (the server is not root): sessions are not in cgroups".into(),
        );
        return (report, None);
    }
    let ours = base_name(config.uid_base);
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mounts = discover::mounts(&mountinfo);
    let mut tree = Tree {
        memory_max: config.session_memory_mb << 20,
        pids_max: config.session_pids_max,
        uids: config.uid_range(),
        ..Tree::default()
    };
    match discover::own_dir(&mounts, &own, None) {
        Some(dir) => match v2_base(&dir, &ours, &mut report.problems) {
            Ok((base, controllers)) => {
                for c in controllers {
                    *tree.placement(c) = Some(Placement {
                        version: Version::V2,
                        base: base.clone(),
                    });
                }
                tree.unified = Some(base);
            }
            Err(e) => report.problems.push(format!(
                "cgroup v2 at {}: {e}; sessions are killed by uid sweep only",
                dir.display()
            )),
        },
        None => report
            .problems
            .push("no cgroup v2 hierarchy: sessions are killed by uid sweep only".into()),
    }
    for name in ["memory", "pids"] {
        if tree.placement(name).is_some() {
            continue;
        }
        let Some(dir) = discover::own_dir(&mounts, &own, Some(name)) else {
            report.problems.push(format!(
                "no {name} controller we can use (not delegated in v2, no v1 hierarchy)"
            ));
            continue;
        };
        match create_base(&dir, &ours) {
            Ok(base) => {
                *tree.placement(name) = Some(Placement {
                    version: Version::V1,
                    base,
                })
            }
            Err(e) => report
                .problems
                .push(format!("{name} (v1) at {}: {e}", dir.display())),
        }
    }
    let describe = |p: &Option<Placement>| {
        p.as_ref()
            .map(|p| format!("{:?} {}", p.version, p.base.display()).to_lowercase())
    };
    report.kill = tree.unified.as_ref().map(|p| p.display().to_string());
    report.memory = describe(&tree.memory);
    report.pids = describe(&tree.pids);
    report.enabled = tree.memory.is_some() && tree.pids.is_some();
    if tree.bases().is_empty() {
        return (report, None);
    }
    for uid in remove_uid_groups(&tree) {
        tracing::warn!(uid, "removed a session cgroup left by a previous run");
    }
    (report, Some(tree))
}

/// Kills and removes every group of our uids that exists; returns their uids.
fn remove_uid_groups(tree: &Tree) -> Vec<u32> {
    // The base is this server's alone: what is in it is ours (listing it beats probing
    // thousands of uids at every start).
    let mut uids: Vec<u32> = tree
        .bases()
        .into_iter()
        .flat_map(|b| std::fs::read_dir(b).into_iter().flatten().flatten())
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("uid-")?.parse().ok())
        .filter(|uid| tree.uids.contains(uid))
        .collect();
    uids.sort_unstable();
    uids.dedup();
    for &uid in &uids {
        SessionCgroup::new(tree, uid).kill_and_remove();
    }
    uids
}

/// At shutdown, after every session stopped: no group of ours stays, the bases included.
/// Blocking.
pub fn shutdown(tree: Option<&Tree>) {
    let Some(t) = tree else { return };
    for uid in remove_uid_groups(t) {
        tracing::warn!(uid, "removed a session cgroup at shutdown");
    }
    for base in t.bases() {
        let _ = std::fs::remove_dir(base);
    }
}

/// The v2 base under our group, with the controllers (of memory, pids) enabled for it.
fn v2_base(
    own: &Path,
    name: &str,
    problems: &mut Vec<String>,
) -> std::io::Result<(PathBuf, Vec<&'static str>)> {
    let available = std::fs::read_to_string(own.join("cgroup.controllers")).unwrap_or_default();
    let mut wanted: Vec<&'static str> = ["memory", "pids"]
        .into_iter()
        .filter(|c| available.split_whitespace().any(|a| a == *c))
        .collect();
    if !wanted.is_empty() {
        if let Err(e) = enable(own, &wanted) {
            problems.push(format!(
                "cgroup v2: could not enable {} below {}: {e}",
                wanted.join(","),
                own.display()
            ));
            wanted.clear();
        }
    }
    let base = create_base(own, name)?;
    if !wanted.is_empty() {
        if let Err(e) = write_controllers(&base, &wanted) {
            problems.push(format!(
                "cgroup v2: enabling controllers in {}: {e}",
                base.display()
            ));
            wanted.clear();
        }
    }
    // A group can exist and still refuse every process ("domain invalid" below a threaded
    // domain). Checked by type rather than by moving a test process in: a migration waits for
    // an RCU grace period (~15 ms here), which start-up would pay before its first /health.
    let kind = std::fs::read_to_string(base.join("cgroup.type")).unwrap_or_default();
    if kind.trim() != "domain" {
        let _ = std::fs::remove_dir(&base);
        return Err(std::io::Error::other(format!(
            "{} is a `{}` group, which cannot hold the sessions' processes",
            base.display(),
            kind.trim()
        )));
    }
    Ok((base, wanted))
}

fn create_base(own: &Path, name: &str) -> std::io::Result<PathBuf> {
    let base = own.join(name);
    match std::fs::create_dir(&base) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(base),
    }
}

/// Enables `controllers` for `own`'s children. Below the hierarchy's root (the only group
/// without a `cgroup.type`), a group whose children get controllers must hold no processes:
/// memory would be refused (EBUSY), and pids, a threaded controller, would be accepted but
/// turn the group into a "threaded domain" whose new children refuse every process. So every
/// process of `own` (the server, a container's init) first moves into a leaf beside the base.
fn enable(own: &Path, controllers: &[&str]) -> std::io::Result<()> {
    let enabled = std::fs::read_to_string(own.join("cgroup.subtree_control")).unwrap_or_default();
    if controllers
        .iter()
        .all(|c| enabled.split_whitespace().any(|e| e == *c))
    {
        return Ok(());
    }
    if own.join("cgroup.type").exists() {
        let leaf = own.join(SERVER_LEAF);
        if let Err(e) = std::fs::create_dir(&leaf) {
            if e.kind() != std::io::ErrorKind::AlreadyExists {
                return Err(e);
            }
        }
        let procs = std::fs::read_to_string(own.join("cgroup.procs"))?;
        for pid in procs.split_whitespace() {
            // A process that exited meanwhile is fine to miss.
            let _ = std::fs::write(leaf.join("cgroup.procs"), pid);
        }
    }
    write_controllers(own, controllers)
}

fn write_controllers(dir: &Path, controllers: &[&str]) -> std::io::Result<()> {
    let line: Vec<String> = controllers.iter().map(|c| format!("+{c}")).collect();
    std::fs::write(dir.join("cgroup.subtree_control"), line.join(" "))
}
