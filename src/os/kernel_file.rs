//! Reading the small text files the kernel generates (cgroupfs, procfs) in as few syscalls as
//! possible: they are read on every execution's path.

use std::io::Read;
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
    String::from_utf8(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
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
}
