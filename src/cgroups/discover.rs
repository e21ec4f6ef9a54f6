//! Where this process's cgroups live: which hierarchies are mounted where (`mountinfo`), and
//! which group of each hierarchy we are in (`/proc/self/cgroup`). Pure parsing, so the rules
//! (v1 vs v2, bind-mounted roots in containers) are unit-tested on real file contents.

use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// A mounted cgroup hierarchy.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    pub version: Version,
    pub point: PathBuf,
    /// The group shown at `point` (not `/` when a container bind-mounts part of a hierarchy).
    pub root: String,
    /// v1: the controllers bound to this hierarchy (from the super options).
    pub controllers: Vec<String>,
}

/// Every cgroup mount in a `/proc/self/mountinfo` text.
pub fn mounts(mountinfo: &str) -> Vec<Mount> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split_whitespace().collect();
            let mut right = right.split_whitespace();
            let fstype = right.next()?;
            let _source = right.next();
            let options = right.next().unwrap_or("");
            let version = match fstype {
                "cgroup2" => Version::V2,
                "cgroup" => Version::V1,
                _ => return None,
            };
            Some(Mount {
                version,
                point: PathBuf::from(left.get(4)?),
                root: left.get(3)?.to_string(),
                controllers: match version {
                    Version::V1 => options.split(',').map(str::to_string).collect(),
                    Version::V2 => vec![],
                },
            })
        })
        .collect()
}

/// The group of ours in the hierarchy of `controller` (`None`: the v2 hierarchy), from a
/// `/proc/self/cgroup` text.
pub fn own_group(proc_cgroup: &str, controller: Option<&str>) -> Option<String> {
    proc_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (id, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        let hit = match controller {
            None => id == "0" && ctrls.is_empty(),
            Some(c) => ctrls.split(',').any(|x| x == c),
        };
        hit.then(|| path.to_string())
    })
}

/// The directory of `group` under `mount`: the mount shows `mount.root`, so that prefix is
/// stripped (inside a container with a private cgroup namespace both are usually `/`).
pub fn group_dir(mount: &Mount, group: &str) -> Option<PathBuf> {
    let rel = if mount.root == "/" {
        group
    } else {
        group.strip_prefix(mount.root.as_str())?
    };
    let rel = rel.trim_start_matches('/');
    // A group outside what is mounted (`/..` in a foreign namespace) is not ours to manage.
    if rel.split('/').any(|c| c == "..") {
        return None;
    }
    Some(if rel.is_empty() {
        mount.point.clone()
    } else {
        mount.point.join(rel)
    })
}

/// The directory of our group in the hierarchy holding `controller` (`None`: v2).
pub fn own_dir(mounts: &[Mount], proc_cgroup: &str, controller: Option<&str>) -> Option<PathBuf> {
    let mount = mounts.iter().find(|m| match controller {
        None => m.version == Version::V2,
        Some(c) => m.version == Version::V1 && m.controllers.iter().any(|x| x == c),
    })?;
    group_dir(mount, &own_group(proc_cgroup, controller)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    // This development VM: a v1/v2 hybrid (memory and pids in v1, an empty v2 at .../unified).
    const HYBRID_MOUNTINFO: &str = "\
25 1 0:22 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
30 25 0:27 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
31 25 0:28 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
32 25 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
40 1 8:1 / / rw,relatime - ext4 /dev/vda rw";
    const HYBRID_CGROUP: &str = "\
9:name=systemd:/
8:pids:/
4:memory:/process_api/3a75
1:cpu,cpuacct:/
0::/";

    // Docker on a pure v2 host with a private cgroup namespace (the container sees `/`).
    const DOCKER_MOUNTINFO: &str =
        "700 690 0:30 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw,nsdelegate";

    #[test]
    fn finds_every_hierarchy_of_a_hybrid_host() {
        let m = mounts(HYBRID_MOUNTINFO);
        assert_eq!(m.len(), 4);
        assert_eq!(m[0].version, Version::V2);
        assert_eq!(m[0].point, PathBuf::from("/sys/fs/cgroup/unified"));
        assert_eq!(m[3].controllers, ["rw", "cpu", "cpuacct"]);
        assert_eq!(
            own_dir(&m, HYBRID_CGROUP, None),
            Some("/sys/fs/cgroup/unified".into())
        );
        assert_eq!(
            own_dir(&m, HYBRID_CGROUP, Some("memory")),
            Some("/sys/fs/cgroup/memory/process_api/3a75".into())
        );
        assert_eq!(
            own_dir(&m, HYBRID_CGROUP, Some("pids")),
            Some("/sys/fs/cgroup/pids".into())
        );
        assert_eq!(own_dir(&m, HYBRID_CGROUP, Some("hugetlb")), None);
    }

    #[test]
    fn a_pure_v2_container_has_only_the_unified_hierarchy() {
        let m = mounts(DOCKER_MOUNTINFO);
        assert_eq!(m.len(), 1);
        assert_eq!(own_dir(&m, "0::/\n", None), Some("/sys/fs/cgroup".into()));
        assert_eq!(own_dir(&m, "0::/\n", Some("memory")), None);
    }

    #[test]
    fn a_bind_mounted_subtree_strips_its_root() {
        let m = Mount {
            version: Version::V2,
            point: "/sys/fs/cgroup".into(),
            root: "/system.slice/docker-ab.scope".into(),
            controllers: vec![],
        };
        assert_eq!(
            group_dir(&m, "/system.slice/docker-ab.scope/app"),
            Some("/sys/fs/cgroup/app".into())
        );
        assert_eq!(group_dir(&m, "/user.slice"), None);
        let root = Mount {
            root: "/".into(),
            ..m
        };
        assert_eq!(group_dir(&root, "/../x"), None);
    }
}
