//! Paths from the network, resolved beneath a session's workspace and never through a
//! symbolic link. The server runs as root and the workspace belongs to untrusted code, which
//! can plant `artifacts/x -> /etc/shadow` or swap a directory for a link at any moment, so
//! every step is an `openat(..., O_NOFOLLOW)` from the workspace's own descriptor.

use nix::dir::{Dir, Type};
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::{unlinkat, UnlinkatFlags};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use unicode_normalization::UnicodeNormalization;

/// What resolving or using a path from the network can fail with (converted to the HTTP
/// error in `crate::error`).
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    /// Not a path we accept (absolute, `..`, NUL, too long), or not what was asked for.
    #[error("{0}")]
    Invalid(String),
    /// Through a symlink, not a regular file, or not the session's own file.
    #[error("{0}")]
    Forbidden(String),
    #[error("no file `{0}`")]
    NotFound(String),
    #[error("{0}")]
    Io(String),
}

impl From<io::Error> for PathError {
    fn from(e: io::Error) -> Self {
        PathError::Io(e.to_string())
    }
}

const MAX_PATH_BYTES: usize = 1024;
const MAX_COMPONENT_BYTES: usize = 255;
const MAX_DEPTH: usize = 32;
const MAX_WALK_ENTRIES: usize = 100_000;

/// A validated, NFC-normalised relative path: no empty, `.` or `..` components, no NUL, not
/// absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelPath {
    parts: Vec<String>,
}

impl RelPath {
    pub fn parse(raw: &str) -> Result<RelPath, PathError> {
        let bad = |why: &str| {
            Err(PathError::Invalid(format!(
                "invalid path `{}`: {why}",
                raw.escape_debug()
            )))
        };
        if raw.is_empty() {
            return bad("empty");
        }
        if raw.len() > MAX_PATH_BYTES {
            return bad("longer than 1024 bytes");
        }
        if raw.contains('\0') {
            return bad("contains a NUL byte");
        }
        if raw.starts_with('/') {
            return bad(
                "absolute paths are not allowed; paths are relative to the session workspace",
            );
        }
        if raw.contains('\\') {
            return bad("backslashes are not allowed");
        }
        let normalised: String = raw.nfc().collect();
        let mut parts = Vec::new();
        for part in normalised.split('/') {
            match part {
                "" => continue, // tolerate `a//b` and a trailing slash
                "." | ".." => return bad("`.` and `..` components are not allowed"),
                p if p.len() > MAX_COMPONENT_BYTES => {
                    return bad("a component is longer than 255 bytes")
                }
                p if p.chars().any(char::is_control) => {
                    return bad("control characters are not allowed")
                }
                p => parts.push(p.to_string()),
            }
        }
        if parts.is_empty() {
            return bad("empty");
        }
        Ok(RelPath { parts })
    }

    pub fn from_parts(parts: Vec<String>) -> RelPath {
        RelPath { parts }
    }

    pub fn as_string(&self) -> String {
        self.parts.join("/")
    }

    pub fn file_name(&self) -> &str {
        self.parts.last().map(String::as_str).unwrap_or("")
    }

    pub fn join(&self, other: &RelPath) -> RelPath {
        let mut parts = self.parts.clone();
        parts.extend(other.parts.iter().cloned());
        RelPath { parts }
    }
}

/// Takes ownership of a descriptor nix just opened.
fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: `fd` was returned by a successful open and nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// `openat(dir, name)` that never follows a final symlink.
fn openat<P: ?Sized + nix::NixPath>(
    dir: RawFd,
    name: &P,
    flags: OFlag,
    mode: u32,
) -> io::Result<OwnedFd> {
    let fd = nix::fcntl::openat(
        Some(dir),
        name,
        flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(mode),
    )?;
    Ok(owned(fd))
}

fn open_root(root: &Path) -> io::Result<OwnedFd> {
    let flags = OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_RDONLY;
    Ok(owned(nix::fcntl::open(root, flags, Mode::empty())?))
}

/// Maps an OS error met while resolving `rel` to what the client did wrong.
fn path_error(rel: &RelPath, e: io::Error) -> PathError {
    let p = rel.as_string();
    match e.raw_os_error() {
        Some(libc::ENOENT) => PathError::NotFound(p),
        Some(libc::ELOOP) | Some(libc::EMLINK) => PathError::Forbidden(format!(
            "`{p}` goes through a symbolic link; links are never followed"
        )),
        Some(libc::ENOTDIR) => PathError::NotFound(p),
        Some(libc::EISDIR) => PathError::Invalid(format!("`{p}` is a directory")),
        Some(libc::ENAMETOOLONG) => PathError::Invalid(format!("`{p}` is too long")),
        _ => PathError::Io(format!("{p}: {e}")),
    }
}

/// Opens the directory holding `rel`'s last component, optionally creating missing
/// directories owned by `owner`.
fn open_parent(
    root: &Path,
    rel: &RelPath,
    create_owner: Option<Option<u32>>,
) -> io::Result<OwnedFd> {
    let mut dir = open_root(root)?;
    for part in &rel.parts[..rel.parts.len() - 1] {
        let flags = OFlag::O_DIRECTORY | OFlag::O_RDONLY;
        dir = match openat(dir.as_raw_fd(), part.as_str(), flags, 0) {
            Ok(d) => d,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) && create_owner.is_some() => {
                match nix::sys::stat::mkdirat(Some(dir.as_raw_fd()), part.as_str(), Mode::S_IRWXU) {
                    Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                let sub = openat(dir.as_raw_fd(), part.as_str(), flags, 0)?;
                if let Some(Some(uid)) = create_owner {
                    chown_fd(sub.as_raw_fd(), uid)?;
                }
                sub
            }
            Err(e)
                if e.raw_os_error() == Some(libc::ENOTDIR)
                    && is_symlink_at(dir.as_raw_fd(), part) =>
            {
                return Err(io::Error::from_raw_os_error(libc::ELOOP));
            }
            Err(e) => return Err(e),
        };
    }
    Ok(dir)
}

fn is_symlink_at(dir: RawFd, name: &str) -> bool {
    lstat_at(dir, name).is_some_and(|st| (st.st_mode & libc::S_IFMT) == libc::S_IFLNK)
}

fn chown_fd(fd: RawFd, uid: u32) -> io::Result<()> {
    let (u, g) = (
        nix::unistd::Uid::from_raw(uid),
        nix::unistd::Gid::from_raw(uid),
    );
    Ok(nix::unistd::fchown(fd, Some(u), Some(g))?)
}

/// An open regular file beneath the workspace.
pub struct Opened {
    pub file: File,
    pub meta: std::fs::Metadata,
}

/// Opens `rel` for reading. With `owner` set (uid isolation), a file the session's uid does
/// not own is refused: that is what a hard link to someone else's file looks like.
pub fn open_read(root: &Path, rel: &RelPath, owner: Option<u32>) -> Result<Opened, PathError> {
    let dir = open_parent(root, rel, None).map_err(|e| path_error(rel, e))?;
    let fd = openat(
        dir.as_raw_fd(),
        rel.file_name(),
        OFlag::O_RDONLY | OFlag::O_NONBLOCK,
        0,
    )
    .map_err(|e| path_error(rel, e))?;
    let file = File::from(fd);
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Err(PathError::Invalid(format!(
            "`{}` is a directory",
            rel.as_string()
        )));
    }
    if !meta.is_file() {
        return Err(PathError::Forbidden(format!(
            "`{}` is not a regular file",
            rel.as_string()
        )));
    }
    if owner.is_some_and(|uid| meta.uid() != uid) {
        return Err(PathError::Forbidden(format!(
            "`{}` is not the session's own file",
            rel.as_string()
        )));
    }
    Ok(Opened { file, meta })
}

/// Writes `data` to `rel` atomically (temp file + rename), creating parent directories; the
/// file and new directories are owned by `owner` so the sandboxed code can use them.
pub fn write_atomic(
    root: &Path,
    rel: &RelPath,
    data: &[u8],
    owner: Option<u32>,
) -> Result<u64, PathError> {
    let mut new = NewFile::create(root, rel, owner)?;
    new.file.write_all(data).map_err(|e| path_error(rel, e))?;
    new.commit()?;
    Ok(data.len() as u64)
}

/// A file being written beneath the workspace: a temp file beside `rel` that becomes `rel`
/// (atomically, owned by `owner`) on [`NewFile::commit`], and disappears if dropped before.
/// Lets a download stream into the workspace without holding it in memory.
pub struct NewFile {
    pub file: File,
    dir: OwnedFd,
    tmp: String,
    rel: RelPath,
    owner: Option<u32>,
    committed: bool,
}

impl NewFile {
    /// Creates the temp file, and missing parent directories owned by `owner`.
    pub fn create(root: &Path, rel: &RelPath, owner: Option<u32>) -> Result<NewFile, PathError> {
        let dir = open_parent(root, rel, Some(owner)).map_err(|e| path_error(rel, e))?;
        let tmp = format!(".upload-{:016x}.tmp", rand::random::<u64>());
        let fd = openat(
            dir.as_raw_fd(),
            tmp.as_str(),
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL,
            0o600,
        )
        .map_err(|e| path_error(rel, e))?;
        Ok(NewFile {
            file: File::from(fd),
            dir,
            tmp,
            rel: rel.clone(),
            owner,
            committed: false,
        })
    }

    /// Gives the file to its owner and renames it over `rel`.
    pub fn commit(mut self) -> Result<(), PathError> {
        if let Some(uid) = self.owner {
            chown_fd(self.file.as_raw_fd(), uid).map_err(|e| path_error(&self.rel, e))?;
        }
        let d = Some(self.dir.as_raw_fd());
        nix::fcntl::renameat(d, self.tmp.as_str(), d, self.rel.file_name())
            .map_err(|e| path_error(&self.rel, e.into()))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for NewFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = unlinkat(
                Some(self.dir.as_raw_fd()),
                self.tmp.as_str(),
                UnlinkatFlags::NoRemoveDir,
            );
        }
    }
}

/// Whether `rel` is a directory (reached without following a link).
pub fn is_dir(root: &Path, rel: &RelPath) -> bool {
    open_parent(root, rel, None)
        .and_then(|d| {
            openat(
                d.as_raw_fd(),
                rel.file_name(),
                OFlag::O_DIRECTORY | OFlag::O_RDONLY,
                0,
            )
        })
        .is_ok()
}

/// Removes the file (or symlink: removing a link never touches its target) at `rel`.
pub fn remove(root: &Path, rel: &RelPath) -> Result<(), PathError> {
    let dir = open_parent(root, rel, None).map_err(|e| path_error(rel, e))?;
    unlinkat(
        Some(dir.as_raw_fd()),
        rel.file_name(),
        UnlinkatFlags::NoRemoveDir,
    )
    .map_err(|e| path_error(rel, e.into()))
}

/// A regular file found by [`walk`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub size: u64,
    pub mtime_ns: i128,
    pub ino: u64,
    /// Bytes actually allocated on disk (a sparse file's size is not what it uses).
    pub allocated: u64,
}

/// Lists the regular files under `sub` (or the whole workspace), without following links.
/// Directories the walk cannot open are skipped, not fatal.
pub fn walk(root: &Path, sub: Option<&RelPath>) -> Vec<Entry> {
    let mut out = Vec::new();
    let Ok(rootfd) = open_root(root) else {
        return out;
    };
    let start = match sub {
        None => rootfd,
        Some(rel) => {
            let Ok(parent) = open_parent(root, rel, None) else {
                return out;
            };
            match openat(
                parent.as_raw_fd(),
                rel.file_name(),
                OFlag::O_DIRECTORY | OFlag::O_RDONLY,
                0,
            ) {
                Ok(d) => d,
                Err(_) => return out,
            }
        }
    };
    let prefix = sub.map(|r| r.as_string());
    walk_dir(start, prefix, 0, &mut out);
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn walk_dir(dir: OwnedFd, prefix: Option<String>, depth: usize, out: &mut Vec<Entry>) {
    if depth > MAX_DEPTH {
        return;
    }
    let Some(mut entries) = read_dir(dir) else {
        return;
    };
    let dir = entries.as_raw_fd();
    for entry in entries.iter().flatten() {
        if out.len() >= MAX_WALK_ENTRIES {
            return;
        }
        let Some(name) = entry_name(&entry).and_then(|n| n.to_str().ok()) else {
            continue;
        };
        let name = name.to_string();
        let Some(ft) = entry_type(dir, &entry) else {
            continue;
        };
        let path = match &prefix {
            Some(p) => format!("{p}/{name}"),
            None => name.clone(),
        };
        if ft == Type::Directory {
            if let Ok(sub) = openat(dir, name.as_str(), OFlag::O_DIRECTORY | OFlag::O_RDONLY, 0) {
                walk_dir(sub, Some(path), depth + 1, out);
            }
        } else if ft == Type::File {
            if let Some(meta) = stat_at(dir, name.as_str()) {
                out.push(Entry {
                    path,
                    size: meta.st_size as u64,
                    mtime_ns: meta.st_mtime as i128 * 1_000_000_000 + meta.st_mtime_nsec as i128,
                    ino: meta.st_ino,
                    allocated: meta.st_blocks as u64 * 512,
                });
            }
        }
    }
}

/// What a workspace occupies, as the quota counts it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Every entry's allocated blocks — directories and symbolic links included — and a
    /// regular file's apparent size where that is more (a sparse file counts for its size:
    /// reading or hashing it costs that much).
    pub bytes: u64,
    /// Entries of any kind.
    pub inodes: u64,
    /// False when the walk stopped at `max_inodes` or at the depth limit: the tree is then at
    /// least that large, which is itself over the quota.
    pub complete: bool,
}

/// Counts a workspace for the quota, stopping after `max_inodes` entries or `MAX_DEPTH`
/// levels (the caller treats an incomplete count as over quota, so a tree built to be
/// expensive to walk ends the walk early instead of costing the server a core).
pub fn usage(root: &Path, max_inodes: u64) -> Usage {
    let mut u = Usage {
        complete: true,
        ..Usage::default()
    };
    if let Ok(fd) = open_root(root) {
        usage_dir(fd, 0, max_inodes, &mut u);
    }
    u
}

fn usage_dir(dir: OwnedFd, depth: usize, max_inodes: u64, u: &mut Usage) {
    if depth > MAX_DEPTH {
        u.complete = false;
        return;
    }
    let Some(mut entries) = read_dir(dir) else {
        return;
    };
    let dir = entries.as_raw_fd();
    for entry in entries.iter().flatten() {
        if u.inodes >= max_inodes {
            u.complete = false;
            return;
        }
        // Any name, UTF-8 or not: what the code wrote counts whatever it is called.
        let Some(name) = entry_name(&entry) else {
            continue;
        };
        let Some(st) = lstat_at(dir, name) else {
            continue;
        };
        u.inodes += 1;
        let allocated = st.st_blocks as u64 * 512;
        let kind = st.st_mode & libc::S_IFMT;
        u.bytes += if kind == libc::S_IFREG {
            allocated.max(st.st_size as u64)
        } else {
            allocated
        };
        if kind == libc::S_IFDIR {
            if let Ok(sub) = openat(dir, name, OFlag::O_DIRECTORY | OFlag::O_RDONLY, 0) {
                usage_dir(sub, depth + 1, max_inodes, u);
                if !u.complete {
                    return;
                }
            }
        }
    }
}

/// The entries of the directory `fd` is, read through the descriptor itself: exactly the
/// directory that was opened, whatever happens to its path since (and no `/proc/self/fd/N`
/// to resolve for every directory walked, as `std::fs::read_dir` would need).
fn read_dir(fd: OwnedFd) -> Option<Dir> {
    Dir::from(fd).ok()
}

/// An entry's name, `None` for `.` and `..`.
fn entry_name(entry: &nix::dir::Entry) -> Option<&std::ffi::CStr> {
    let name = entry.file_name();
    (name != c"." && name != c"..").then_some(name)
}

/// An entry's type: from the directory itself, or (file systems that do not say) `lstat`.
fn entry_type(dir: RawFd, entry: &nix::dir::Entry) -> Option<Type> {
    entry.file_type().or_else(|| {
        let st = lstat_at(dir, entry.file_name())?;
        Some(match st.st_mode & libc::S_IFMT {
            libc::S_IFDIR => Type::Directory,
            libc::S_IFREG => Type::File,
            libc::S_IFLNK => Type::Symlink,
            libc::S_IFSOCK => Type::Socket,
            libc::S_IFCHR => Type::CharacterDevice,
            libc::S_IFBLK => Type::BlockDevice,
            _ => Type::Fifo,
        })
    })
}

/// The disk quota of a workspace: bytes (see [`Usage`]) and entries.
#[derive(Debug, Clone, Copy)]
pub struct Quota {
    pub bytes: u64,
    pub inodes: u64,
}

impl Quota {
    /// Whether `dir` plus `adding` more bytes is over the quota. Measured at idle CPU
    /// priority: the walk is work the session's code causes, and must not take CPU from the
    /// server's own threads.
    pub fn exceeded(&self, dir: &Path, adding: u64) -> bool {
        let u = crate::os::idle::run(|| usage(dir, self.inodes));
        !u.complete || u.bytes.saturating_add(adding) > self.bytes || u.inodes > self.inodes
    }
}

/// `fstatat` of the entry itself (a symlink is not followed).
fn lstat_at<P: ?Sized + nix::NixPath>(dir: RawFd, name: &P) -> Option<libc::stat> {
    nix::sys::stat::fstatat(Some(dir), name, AtFlags::AT_SYMLINK_NOFOLLOW).ok()
}

/// A regular file's `stat`, never through a symlink.
fn stat_at<P: ?Sized + nix::NixPath>(dir: RawFd, name: &P) -> Option<libc::stat> {
    lstat_at(dir, name).filter(|st| (st.st_mode & libc::S_IFMT) == libc::S_IFREG)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_counts_directories_links_sparse_files_and_stops_at_the_cap() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        for i in 0..50 {
            std::fs::create_dir(root.join(format!("d{i}"))).unwrap();
        }
        std::os::unix::fs::symlink("x".repeat(3000), root.join("long-link")).unwrap();
        let sparse = std::fs::File::create(root.join("sparse")).unwrap();
        sparse.set_len(64 << 20).unwrap();
        let u = usage(root, 1000);
        assert!(u.complete);
        assert_eq!(u.inodes, 52);
        // 50 directories' blocks, the link, and the sparse file at its apparent size
        assert!(u.bytes >= (64 << 20) + 50 * 4096, "{u:?}");
        let capped = usage(root, 10);
        assert!(!capped.complete);
        assert_eq!(capped.inodes, 10);
        // nesting past the depth limit cannot hide anything from the count
        let mut deep = root.join("deep");
        for _ in 0..(MAX_DEPTH + 3) {
            deep = deep.join("d");
        }
        std::fs::create_dir_all(&deep).unwrap();
        assert!(!usage(root, 1_000_000).complete);
    }

    #[test]
    fn usage_counts_files_whose_names_are_not_utf8() {
        use std::os::unix::ffi::OsStrExt;
        let t = tempfile::tempdir().unwrap();
        // Python writes such names (`open(b"\xff", "wb")`): the quota must count them too.
        let dir = t.path().join(std::ffi::OsStr::from_bytes(b"d\xfe"));
        std::fs::create_dir(&dir).unwrap();
        for name in [&b"\xff"[..], b"ok"] {
            let f = std::fs::File::create(dir.join(std::ffi::OsStr::from_bytes(name))).unwrap();
            f.set_len(8 << 20).unwrap();
        }
        let u = usage(t.path(), 1000);
        assert!(u.complete);
        assert_eq!(u.inodes, 3);
        assert!(u.bytes >= 16 << 20, "{u:?}");
    }

    #[test]
    fn rejects_escapes() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "data/../../x",
            "a/./b",
            "a\0b",
            "a\\b",
            "..",
            "/",
        ] {
            assert!(RelPath::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(RelPath::parse(&"a".repeat(300)).is_err());
        assert!(RelPath::parse(&"a/".repeat(600)).is_err());
    }

    #[test]
    fn accepts_and_normalises() {
        assert_eq!(
            RelPath::parse("data//x.csv/").unwrap().as_string(),
            "data/x.csv"
        );
        // NFD 한 (U+1112 U+1161 U+11AB) becomes NFC U+D55C.
        let nfd = "data/\u{1112}\u{1161}\u{11AB}.csv";
        assert_eq!(
            RelPath::parse(nfd).unwrap().as_string(),
            "data/\u{D55C}.csv"
        );
    }

    #[test]
    fn never_follows_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("artifacts")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("artifacts/x")).unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("etc")).unwrap();
        let err = open_read(dir.path(), &RelPath::parse("artifacts/x").unwrap(), None)
            .err()
            .unwrap();
        assert!(matches!(err, PathError::Forbidden(_)), "{err}");
        let err = open_read(dir.path(), &RelPath::parse("etc/passwd").unwrap(), None)
            .err()
            .unwrap();
        assert!(matches!(err, PathError::Forbidden(_)), "{err}");
        assert!(
            write_atomic(dir.path(), &RelPath::parse("etc/evil").unwrap(), b"x", None).is_err()
        );
        assert!(!Path::new("/etc/evil").exists());
        assert!(walk(dir.path(), None).is_empty());
    }

    #[test]
    fn writes_reads_lists_removes() {
        let dir = tempfile::tempdir().unwrap();
        let rel = RelPath::parse("data/sub/한글.csv").unwrap();
        write_atomic(dir.path(), &rel, b"a,b\n", None).unwrap();
        let opened = open_read(dir.path(), &rel, None).unwrap();
        assert_eq!(opened.meta.len(), 4);
        let listed = walk(dir.path(), None);
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].path, "data/sub/한글.csv");
        remove(dir.path(), &rel).unwrap();
        assert!(walk(dir.path(), None).is_empty());
    }
}
