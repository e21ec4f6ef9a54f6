//! Reading the small text files the kernel generates (cgroupfs, procfs) in as few syscalls as
//! possible: they are read on every execution's path.

use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Generated files larger than this are read the general way.
const SMALL: usize = 4096;

/// The file's text from one `read` after `open` (three syscalls; `fs::read_to_string` makes
/// six: a `statx` for the size, which is 0 for a generated file, and reads until one returns
/// nothing). A file longer than one read returns is read to its end.
pub fn read(path: impl AsRef<Path>) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; SMALL];
    let n = f.read(&mut buf)?;
    buf.truncate(n);
    if n == SMALL {
        // More than one read's worth (a generated file that fits hands it all over at once).
        f.read_to_end(&mut buf)?;
    }
    text(buf)
}

fn text(bytes: Vec<u8>) -> std::io::Result<String> {
    String::from_utf8(bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// A generated file held open and re-read from its start with one `pread`: for a counter read
/// on every execution, where opening a cgroupfs file costs more than reading it. Only for files
/// the kernel regenerates whenever they are read from offset 0 (`memory.events`,
/// `memory.oom_control`, `pids.current`); not cgroup v1's `cgroup.procs`, whose pid list is
/// cached per open file.
#[derive(Debug)]
pub struct Held {
    file: std::fs::File,
}

impl Held {
    pub fn open(path: impl AsRef<Path>) -> std::io::Result<Held> {
        Ok(Held {
            file: std::fs::File::open(path)?,
        })
    }

    /// The file's text now (a counter file fits one read).
    pub fn read(&self) -> std::io::Result<String> {
        let mut buf = [0u8; SMALL];
        let n = self.file.read_at(&mut buf, 0)?;
        if n == SMALL {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "larger than a counter file",
            ));
        }
        text(buf[..n].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_small_and_large_files_whole() {
        let t = tempfile::tempdir().unwrap();
        for len in [0, 10, SMALL - 1, SMALL, SMALL + 1, 3 * SMALL + 7] {
            let p = t.path().join(format!("f{len}"));
            let text: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
            std::fs::write(&p, &text).unwrap();
            assert_eq!(read(&p).unwrap(), text, "{len} bytes");
        }
        assert!(read(t.path().join("missing")).is_err());
        // a generated file
        let status = read(Path::new("/proc/self/status")).unwrap();
        assert!(status.contains("\nPid:"), "{status}");
    }

    /// A held file shows the kernel's values of each moment, not those of when it was opened.
    #[test]
    fn a_held_file_is_regenerated_on_every_read() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let status = Held::open(format!("/proc/{pid}/status")).unwrap();
        let state = || {
            status
                .read()
                .unwrap()
                .lines()
                .find_map(|l| l.strip_prefix("State:"))
                .map(|v| v.trim().chars().next().unwrap())
                .unwrap()
        };
        let settled = |want: char| {
            let t0 = std::time::Instant::now();
            while state() != want && t0.elapsed() < std::time::Duration::from_secs(5) {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            state()
        };
        assert_eq!(settled('S'), 'S');
        // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
        unsafe { libc::kill(pid, libc::SIGSTOP) };
        assert_eq!(settled('T'), 'T');
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGCONT) };
        assert_eq!(settled('S'), 'S');
        child.kill().unwrap();
        child.wait().unwrap();
        // a plain file rewritten in place: the new text, from the start
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("counter");
        std::fs::write(&p, "oom_kill 0\n").unwrap();
        let held = Held::open(&p).unwrap();
        assert_eq!(held.read().unwrap(), "oom_kill 0\n");
        std::fs::write(&p, "oom_kill 12\n").unwrap();
        assert_eq!(held.read().unwrap(), "oom_kill 12\n");
        assert_eq!(held.read().unwrap(), "oom_kill 12\n");
    }
}
