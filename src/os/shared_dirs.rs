//! The host's shared, world-writable places (`/tmp`, `/var/tmp`, `/dev/shm`, …) as sessions see
//! them when they have no private mount namespace (Fargate, Docker): a meeting place between
//! sessions (a file squatted under a fixed name, a FIFO), a disk and inode pool outside every
//! quota, and somewhere a uid can leave things behind for the next session that gets it.
//!
//! Two mechanisms: [`Lock`] makes them unusable to session uids (the server is root in its own
//! container, so it may), and [`scrub_files`] / [`scrub_sysv`] remove whatever a uid still owns
//! there (files, SysV IPC objects) before that uid is handed to a new session.
//!
//! The walk is hand-written on `openat(O_NOFOLLOW)`/`unlinkat` relative to directory
//! descriptors: it runs as root in directories that sandboxed code can change under it, so it
//! must never follow a link that code planted (std's `remove_dir_all` works on paths).

use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::UnlinkatFlags;
use serde::Serialize;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

// The paths themselves are configuration (`EXECUTOR_SHARED_PATHS`): the world-writable
// directories of a standard Linux image, and the pty multiplexers (each open of one takes a pty
// from a pool the whole host shares).

/// Entries one scrub looks at before it gives up (the uid is then not reused).
const SCRUB_BUDGET: usize = 200_000;
/// World-writable directories nested deeper than this are not searched (nor can the scrub
/// prove them clean: it reports itself incomplete).
const SCRUB_DEPTH: usize = 24;

/// What [`Lock::apply`] did, for `/v1/info`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LockReport {
    pub locked: bool,
    /// Why the directories are or are not locked.
    pub reason: String,
    /// What was made unusable to session uids (mode before → after).
    pub paths: Vec<String>,
}

/// Shared directories (and pty multiplexers) taken away from session uids: `o-rw` on each,
/// execute kept so that paths below (a workspace root under `/tmp`) stay reachable. Root —
/// the server, the zygote — is unaffected. [`Lock::release`] puts the modes back.
#[derive(Debug, Default)]
pub struct Lock {
    restore: Vec<(PathBuf, u32)>,
}

impl Lock {
    pub fn apply(paths: &[PathBuf]) -> (Lock, Vec<String>) {
        let mut lock = Lock::default();
        let mut done = vec![];
        for path in paths {
            // /var/lock is often a link to /run/lock: lock what it names, once.
            let Ok(real) = std::fs::canonicalize(path) else {
                continue;
            };
            if lock.restore.iter().any(|(p, _)| *p == real) {
                continue;
            }
            let Ok(meta) = std::fs::metadata(&real) else {
                continue;
            };
            let mode = meta.permissions().mode() & 0o7777;
            let ft = meta.file_type();
            use std::os::unix::fs::FileTypeExt;
            if !(ft.is_dir() || ft.is_char_device()) || mode & 0o006 == 0 {
                continue;
            }
            let locked = mode & !0o006;
            match std::fs::set_permissions(&real, std::fs::Permissions::from_mode(locked)) {
                Ok(()) => {
                    done.push(format!("{} {:o} -> {:o}", real.display(), mode, locked));
                    lock.restore.push((real, mode));
                }
                // On a read-only file system (a container's read-only root) nobody can write
                // there: it is no meeting place, nothing to lock.
                Err(e) if e.raw_os_error() == Some(libc::EROFS) => {
                    done.push(format!("{} read-only", real.display()));
                }
                Err(e) => {
                    tracing::warn!(path = %real.display(), error = %e, "could not lock a shared path")
                }
            }
        }
        (lock, done)
    }

    /// Puts every mode back (shutdown).
    pub fn release(self) {
        for (path, mode) in self.restore {
            if let Err(e) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)) {
                tracing::warn!(path = %path.display(), error = %e, "could not restore a shared path's mode");
            }
        }
    }
}

/// Whether this process runs in a container (where `/tmp` and `/dev/shm` are its own to
/// lock): Docker, Podman, or an ECS task.
pub fn in_container() -> bool {
    Path::new("/.dockerenv").exists()
        || Path::new("/run/.containerenv").exists()
        || std::env::var_os("ECS_CONTAINER_METADATA_URI_V4").is_some()
        || std::env::var_os("ECS_CONTAINER_METADATA_URI").is_some()
}

/// What a scrub removed, and whether it looked everywhere it had to.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scrubbed {
    pub removed: usize,
    pub complete: bool,
}

/// Everything uids for which `owned` holds left outside their workspaces: files in the shared
/// paths ([`scrub_files`]) and SysV IPC objects ([`scrub_sysv`]). Blocking. Returns what went
/// (files, SysV objects) and whether the files' walk looked everywhere (if not, a uid must not
/// be reused).
pub fn scrub(
    paths: &[PathBuf],
    exclude: &[PathBuf],
    owned: &dyn Fn(u32) -> bool,
) -> (Scrubbed, usize) {
    let files = scrub_files(paths, exclude, owned);
    let ipc = scrub_sysv(owned);
    if files.removed > 0 || ipc > 0 || !files.complete {
        tracing::warn!(
            files = files.removed,
            sysv_ipc = ipc,
            complete = files.complete,
            "removed what sandboxed uids left outside their workspaces"
        );
    }
    (files, ipc)
}

/// Removes everything in the shared directories that a uid for which `owned` holds owns: its
/// files, FIFOs and sockets, and whole directories it created. Descends only into
/// world-writable directories (elsewhere no session uid can have created anything) and never
/// into `exclude` (the workspace root: live and kept workspaces belong to session uids too).
pub fn scrub_files(dirs: &[PathBuf], exclude: &[PathBuf], owned: &dyn Fn(u32) -> bool) -> Scrubbed {
    let exclude: Vec<PathBuf> = exclude
        .iter()
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
        .collect();
    let mut walk = Walk {
        owned,
        exclude: &exclude,
        budget: SCRUB_BUDGET,
        removed: 0,
        complete: true,
    };
    let mut seen = vec![];
    for dir in dirs {
        let Ok(real) = std::fs::canonicalize(dir) else {
            continue;
        };
        if !real.is_dir() || seen.contains(&real) || exclude.iter().any(|e| real.starts_with(e)) {
            continue;
        }
        seen.push(real.clone());
        match open_dir(libc::AT_FDCWD, real.as_os_str().as_bytes()) {
            Ok(fd) => walk.dir(&fd, &real, 0),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(_) => walk.complete = false,
        }
    }
    Scrubbed {
        removed: walk.removed,
        complete: walk.complete,
    }
}

struct Walk<'a> {
    owned: &'a dyn Fn(u32) -> bool,
    exclude: &'a [PathBuf],
    budget: usize,
    removed: usize,
    complete: bool,
}

impl Walk<'_> {
    fn spend(&mut self) -> bool {
        if self.budget == 0 {
            self.complete = false;
            return false;
        }
        self.budget -= 1;
        true
    }

    fn dir(&mut self, fd: &OwnedFd, path: &Path, depth: usize) {
        let Ok(names) = names_in(fd) else {
            self.complete = false;
            return;
        };
        for name in names {
            if !self.spend() {
                return;
            }
            let child = path.join(std::ffi::OsStr::from_bytes(&name));
            if self.exclude.contains(&child) {
                continue;
            }
            let Ok(st) = stat_at(fd.as_raw_fd(), &name) else {
                continue;
            };
            let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
            if (self.owned)(st.st_uid) {
                let ok = if is_dir {
                    self.remove_tree(fd, &name, depth)
                } else {
                    unlink_at(fd.as_raw_fd(), &name, UnlinkatFlags::NoRemoveDir).is_ok()
                };
                if ok {
                    self.removed += 1;
                } else {
                    self.complete = false;
                }
            } else if is_dir && st.st_mode & 0o002 != 0 {
                if depth >= SCRUB_DEPTH {
                    self.complete = false;
                    continue;
                }
                match open_dir(fd.as_raw_fd(), &name) {
                    Ok(sub) => self.dir(&sub, &child, depth + 1),
                    Err(_) => self.complete = false,
                }
            }
        }
    }

    /// Removes the directory `name` in `parent` and everything below it, whoever owns it (all
    /// of it was created in a directory the uid controlled).
    fn remove_tree(&mut self, parent: &OwnedFd, name: &[u8], depth: usize) -> bool {
        if depth >= SCRUB_DEPTH {
            return false;
        }
        let Ok(fd) = open_dir(parent.as_raw_fd(), name) else {
            return false;
        };
        let Ok(names) = names_in(&fd) else {
            return false;
        };
        for child in names {
            if !self.spend() {
                return false;
            }
            let Ok(st) = stat_at(fd.as_raw_fd(), &child) else {
                continue;
            };
            let ok = if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                self.remove_tree(&fd, &child, depth + 1)
            } else {
                unlink_at(fd.as_raw_fd(), &child, UnlinkatFlags::NoRemoveDir).is_ok()
            };
            if !ok {
                return false;
            }
        }
        unlink_at(parent.as_raw_fd(), name, UnlinkatFlags::RemoveDir).is_ok()
    }
}

fn open_dir(dir: RawFd, name: &[u8]) -> io::Result<OwnedFd> {
    let flags = OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let fd = nix::fcntl::openat(Some(dir), name, flags, Mode::empty())?;
    // SAFETY: `fd` was just opened and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The names in a directory, read through `/proc/self/fd/N`: exactly the directory `fd` is,
/// whatever happens to its path meanwhile.
fn names_in(fd: &OwnedFd) -> io::Result<Vec<Vec<u8>>> {
    Ok(
        std::fs::read_dir(format!("/proc/self/fd/{}", fd.as_raw_fd()))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().as_bytes().to_vec())
            .collect(),
    )
}

fn stat_at(dir: RawFd, name: &[u8]) -> io::Result<libc::stat> {
    Ok(nix::sys::stat::fstatat(
        Some(dir),
        name,
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )?)
}

fn unlink_at(dir: RawFd, name: &[u8], how: UnlinkatFlags) -> io::Result<()> {
    Ok(nix::unistd::unlinkat(Some(dir), name, how)?)
}

/// The SysV IPC objects (shared memory, semaphore sets, message queues) of this IPC namespace
/// whose owner or creator `owned` matches, by kind and id.
pub fn sysv_objects(owned: &dyn Fn(u32) -> bool) -> Vec<(SysvKind, i32)> {
    let mut out = vec![];
    for kind in [SysvKind::Shm, SysvKind::Sem, SysvKind::Msg] {
        let Ok(text) = std::fs::read_to_string(kind.proc_file()) else {
            continue;
        };
        out.extend(parse_sysv(&text, owned).into_iter().map(|id| (kind, id)));
    }
    out
}

/// Removes every SysV IPC object a matching uid owns or created; returns how many went.
pub fn scrub_sysv(owned: &dyn Fn(u32) -> bool) -> usize {
    sysv_objects(owned)
        .into_iter()
        .filter(|(kind, id)| kind.remove(*id))
        .count()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SysvKind {
    Shm,
    Sem,
    Msg,
}

impl SysvKind {
    fn proc_file(self) -> &'static str {
        match self {
            SysvKind::Shm => "/proc/sysvipc/shm",
            SysvKind::Sem => "/proc/sysvipc/sem",
            SysvKind::Msg => "/proc/sysvipc/msg",
        }
    }

    fn remove(self, id: i32) -> bool {
        // SAFETY: IPC_RMID takes no buffer (a null one is allowed) and only names the object.
        let rc = unsafe {
            match self {
                SysvKind::Shm => libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()),
                SysvKind::Sem => libc::semctl(id, 0, libc::IPC_RMID),
                SysvKind::Msg => libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut()),
            }
        };
        rc == 0
    }
}

/// Ids (the second column) of the rows of a `/proc/sysvipc/*` table whose `uid` or `cuid`
/// column matches.
fn parse_sysv(text: &str, owned: &dyn Fn(u32) -> bool) -> Vec<i32> {
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return vec![];
    };
    let cols: Vec<&str> = header.split_whitespace().collect();
    let col = |name: &str| cols.iter().position(|c| *c == name);
    let (Some(uid), Some(cuid)) = (col("uid"), col("cuid")) else {
        return vec![];
    };
    lines
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let id = f.get(1)?.parse().ok()?;
            let hit = [uid, cuid]
                .iter()
                .filter_map(|i| f.get(*i)?.parse::<u32>().ok())
                .any(owned);
            hit.then_some(id)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{chown, symlink};

    fn root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    #[test]
    fn parses_sysvipc_tables() {
        let shm = "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n\
                   0 32769 600 4096 10 0 0 20001 20001 20001 20001 0 0 1 4096 0\n\
                   0 32770 600 4096 10 0 0 0 0 0 0 0 0 1 4096 0\n";
        assert_eq!(parse_sysv(shm, &|u| u == 20001), vec![32769]);
        let sem = "       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime\n\
                   1 5 600 1 0 0 20002 20002 0 1\n";
        assert_eq!(parse_sysv(sem, &|u| u == 20002), vec![5]);
        assert!(parse_sysv("", &|_| true).is_empty());
    }

    #[test]
    fn scrub_removes_what_the_uid_owns_and_nothing_else() {
        if !root() {
            eprintln!("SKIPPED: needs root to own files as another uid");
            return;
        }
        let uid = 39_991;
        let t = tempfile::tempdir().unwrap();
        let shared = t.path().join("tmp");
        let ws_root = shared.join("dynamic-executor");
        std::fs::create_dir_all(ws_root.join("w-1")).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let mine = |p: &Path| chown(p, Some(uid), Some(uid)).unwrap();
        // left by the uid: a file, a FIFO-like file in a world-writable subdir, a whole tree
        std::fs::write(shared.join("report.csv"), "secret").unwrap();
        mine(&shared.join("report.csv"));
        let ww = shared.join(".X11-unix");
        std::fs::create_dir(&ww).unwrap();
        std::fs::set_permissions(&ww, std::fs::Permissions::from_mode(0o1777)).unwrap();
        std::fs::write(ww.join("x"), "").unwrap();
        mine(&ww.join("x"));
        let tree = shared.join("cache");
        std::fs::create_dir_all(tree.join("a/b")).unwrap();
        std::fs::write(tree.join("a/b/f"), "").unwrap();
        mine(&tree);
        // a link the uid planted to a file it must not make us delete
        let victim = t.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        symlink(&victim, shared.join("link")).unwrap();
        std::os::unix::fs::lchown(shared.join("link"), Some(uid), Some(uid)).unwrap();
        // not the uid's, or out of bounds: stays
        std::fs::write(shared.join("other.txt"), "").unwrap();
        let private = shared.join("private");
        std::fs::create_dir(&private).unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o755)).unwrap();
        mine(&ws_root.join("w-1"));

        let got = scrub_files(
            std::slice::from_ref(&shared),
            std::slice::from_ref(&ws_root),
            &|u| u == uid,
        );
        assert_eq!(
            got,
            Scrubbed {
                removed: 4,
                complete: true
            }
        );
        for gone in ["report.csv", ".X11-unix/x", "cache", "link"] {
            assert!(shared.join(gone).symlink_metadata().is_err(), "{gone}");
        }
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert!(shared.join("other.txt").exists());
        assert!(ws_root.join("w-1").exists(), "a workspace was scrubbed");
    }

    #[test]
    fn sysv_objects_of_a_uid_are_removed() {
        if !root() {
            eprintln!("SKIPPED: needs root to hand an object to another uid");
            return;
        }
        let uid = 39_992;
        // SAFETY: plain syscalls on an object this test creates and removes.
        let id = unsafe { libc::shmget(libc::IPC_PRIVATE, 4096, libc::IPC_CREAT | 0o600) };
        assert!(id >= 0);
        // SAFETY: `ds` is a valid shmid_ds for IPC_STAT/IPC_SET.
        unsafe {
            let mut ds: libc::shmid_ds = std::mem::zeroed();
            assert_eq!(libc::shmctl(id, libc::IPC_STAT, &mut ds), 0);
            ds.shm_perm.uid = uid;
            assert_eq!(libc::shmctl(id, libc::IPC_SET, &mut ds), 0);
        }
        assert!(sysv_objects(&|u| u == uid).contains(&(SysvKind::Shm, id)));
        assert!(scrub_sysv(&|u| u == uid) >= 1);
        assert!(!sysv_objects(&|u| u == uid).contains(&(SysvKind::Shm, id)));
    }

    #[test]
    fn lock_takes_write_away_and_release_restores() {
        if !root() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("shm");
        std::fs::create_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let (lock, done) = Lock::apply(std::slice::from_ref(&d));
        assert_eq!(done.len(), 1, "{done:?}");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&d), 0o1771);
        lock.release();
        assert_eq!(mode(&d), 0o1777);
    }
}
