//! Which files under `artifacts/` an execution wrote, from inotify instead of two walks of the
//! tree: walking 50,000 files before and after every execution cost 360 ms of `print(1)`.
//!
//! The inotify descriptor is non-blocking and read at the end of an execution: every write the
//! worker made before it sent its result is already queued, so nothing is missed by timing. A
//! directory created during the execution gets a watch and is walked (files made before its
//! watch existed count too). What inotify cannot vouch for — a full event queue, the
//! `artifacts/` directory itself removed or moved, more directories than `MAX_DIRS` — makes the
//! tracker unusable, and the caller falls back to comparing walks.

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Directories one session may have watched (each costs a kernel watch of the server's uid).
const MAX_DIRS: usize = 10_000;

pub struct Tracker {
    inotify: Inotify,
    root: PathBuf,
    /// Watch → the directory it watches, relative to `artifacts/` ("" for the root).
    dirs: HashMap<WatchDescriptor, String>,
    root_wd: WatchDescriptor,
    /// Files written since the last `take`, relative to `artifacts/`.
    changed: BTreeSet<String>,
    broken: bool,
}

fn mask() -> WatchMask {
    WatchMask::CREATE
        | WatchMask::CLOSE_WRITE
        | WatchMask::MODIFY
        | WatchMask::MOVED_TO
        | WatchMask::ATTRIB
        | WatchMask::MOVE_SELF
        | WatchMask::DONT_FOLLOW
        | WatchMask::ONLYDIR
}

impl Tracker {
    /// Watches `artifacts_dir` and every directory below it (blocking: reads the directory
    /// tree once, without a stat per file). None when inotify is unavailable or the tree has
    /// too many directories.
    pub fn start(artifacts_dir: &Path) -> Option<Tracker> {
        let inotify = Inotify::init().ok()?;
        let root_wd = inotify.watches().add(artifacts_dir, mask()).ok()?;
        let mut t = Tracker {
            inotify,
            root: artifacts_dir.to_path_buf(),
            dirs: HashMap::from([(root_wd.clone(), String::new())]),
            root_wd,
            changed: BTreeSet::new(),
            broken: false,
        };
        t.watch_below("", false);
        (!t.broken).then_some(t)
    }

    /// Forgets what happened so far (uploads between executions are not an execution's).
    pub fn reset(&mut self) {
        self.drain();
        self.reset_quiet();
    }

    /// The files written since the last `reset`/`take`, relative to `artifacts/`; None when
    /// the tracker could not follow (the caller must walk instead).
    pub fn take(&mut self) -> Option<Vec<String>> {
        self.drain();
        self.take_quiet()
    }

    /// [`Tracker::reset`] right after [`Tracker::is_quiet`] said nothing is queued: nothing
    /// to read (a read that fails with EAGAIN and 64 KiB zeroed for it, saved).
    pub fn reset_quiet(&mut self) {
        self.changed.clear();
    }

    /// [`Tracker::take`] right after [`Tracker::is_quiet`] said nothing is queued.
    pub fn take_quiet(&mut self) -> Option<Vec<String>> {
        if self.broken {
            return None;
        }
        Some(std::mem::take(&mut self.changed).into_iter().collect())
    }

    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// True when no event is queued (one `poll` with a zero timeout, no read): `reset` and
    /// `take` then only clear or hand over the set, so the caller may do them on an async
    /// thread instead of hopping to the blocking pool (an execution that writes nothing under
    /// `artifacts/`, most of them, is the common case).
    pub fn is_quiet(&self) -> bool {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        let mut fds = [PollFd::new(self.inotify.as_fd(), PollFlags::POLLIN)];
        matches!(poll(&mut fds, PollTimeout::ZERO), Ok(0))
    }

    fn drain(&mut self) {
        let mut buf = [0u8; 64 << 10];
        loop {
            let events = match self.inotify.read_events(&mut buf) {
                Ok(events) => events,
                Err(_) => return, // WouldBlock: the queue is empty
            };
            let mut new_dirs = Vec::new();
            let mut any = false;
            for ev in events {
                any = true;
                if ev.mask.contains(EventMask::Q_OVERFLOW) {
                    self.broken = true;
                    continue;
                }
                if ev.wd == self.root_wd
                    && (ev.mask.contains(EventMask::IGNORED)
                        || ev.mask.contains(EventMask::MOVE_SELF))
                {
                    self.broken = true;
                    continue;
                }
                if ev.mask.contains(EventMask::IGNORED) {
                    self.dirs.remove(&ev.wd);
                    continue;
                }
                let (Some(dir), Some(name)) = (self.dirs.get(&ev.wd), ev.name) else {
                    continue;
                };
                let Some(name) = name.to_str() else { continue };
                let rel = join(dir, name);
                if ev.mask.contains(EventMask::ISDIR) {
                    if ev.mask.intersects(EventMask::CREATE | EventMask::MOVED_TO) {
                        new_dirs.push(rel);
                    }
                } else {
                    self.changed.insert(rel);
                }
            }
            for d in new_dirs {
                self.add_dir(&d);
            }
            if !any {
                return;
            }
        }
    }

    /// A directory that appeared: watch it and what is below it, and count every file in it
    /// as written (they may predate its watch).
    fn add_dir(&mut self, rel: &str) {
        if self.dirs.len() >= MAX_DIRS {
            self.broken = true;
            return;
        }
        // An error: gone already, or replaced by something that is not a directory (a link is
        // never followed): nothing to watch.
        if let Ok(wd) = self.inotify.watches().add(self.root.join(rel), mask()) {
            self.dirs.insert(wd, rel.to_string());
            self.watch_below(rel, true);
        }
    }

    /// Watches the directories below `rel`; with `mark`, records its files as written.
    fn watch_below(&mut self, rel: &str, mark: bool) {
        let Ok(entries) = std::fs::read_dir(self.root.join(rel)) else {
            return;
        };
        for e in entries.flatten() {
            let (Ok(ft), Some(name)) = (e.file_type(), e.file_name().to_str().map(String::from))
            else {
                continue;
            };
            let child = join(rel, &name);
            if ft.is_dir() {
                self.add_dir(&child);
            } else if ft.is_file() && mark {
                self.changed.insert(child);
            }
            if self.broken {
                return;
            }
        }
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_writes_new_directories_and_breaks_when_the_root_goes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("artifacts");
        std::fs::create_dir_all(root.join("old")).unwrap();
        std::fs::write(root.join("old/before.txt"), b"x").unwrap();
        let mut t = Tracker::start(&root).unwrap();
        assert!(t.is_quiet());
        std::fs::write(root.join("uploaded.txt"), b"u").unwrap();
        assert!(!t.is_quiet(), "a write is queued at once");
        t.reset();
        assert!(t.is_quiet());
        std::fs::write(root.join("a.png"), b"p").unwrap();
        std::fs::write(root.join("old/b.txt"), b"b").unwrap();
        std::fs::create_dir_all(root.join("new/deep")).unwrap();
        std::fs::write(root.join("new/deep/c.csv"), b"c").unwrap();
        assert_eq!(
            t.take().unwrap(),
            vec!["a.png", "new/deep/c.csv", "old/b.txt"]
        );
        std::fs::write(root.join("new/deep/d.csv"), b"d").unwrap();
        assert_eq!(t.take().unwrap(), vec!["new/deep/d.csv"]);
        assert_eq!(t.take().unwrap(), Vec::<String>::new());
        std::fs::create_dir(root.join("empty")).unwrap();
        assert!(!t.is_quiet(), "a new directory is an event too");
        assert_eq!(t.take().unwrap(), Vec::<String>::new());
        std::fs::rename(&root, dir.path().join("moved")).unwrap();
        assert!(t.take().is_none());
    }
}
