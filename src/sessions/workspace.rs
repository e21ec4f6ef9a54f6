//! Session workspaces on local disk: `<root>/w-<random>/{data,artifacts}`, mode 0700, owned by
//! the session's uid. The root is 0711 so a session can reach its own directory but cannot
//! list the others.

use std::io;
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::{Path, PathBuf};

pub const SUBDIRS: [&str; 2] = ["data", "artifacts"];

pub fn init_root(root: &Path) -> io::Result<()> {
    std::fs::create_dir_all(root)?;
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o711))
}

pub fn create(root: &Path, uid: Option<u32>) -> io::Result<PathBuf> {
    let dir = root.join(format!(
        "w-{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>()
    ));
    std::fs::create_dir(&dir)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    for sub in SUBDIRS {
        std::fs::create_dir(dir.join(sub))?;
        std::fs::set_permissions(dir.join(sub), std::fs::Permissions::from_mode(0o700))?;
    }
    if let Some(uid) = uid {
        chown(&dir, Some(uid), Some(uid))?;
        for sub in SUBDIRS {
            chown(dir.join(sub), Some(uid), Some(uid))?;
        }
    }
    Ok(dir)
}

/// Makes an existing (or new) directory a session workspace: 0700, owned by `uid`, with the
/// standard subdirectories. Used for the compat session's fixed `/app`.
pub fn adopt(dir: &Path, uid: Option<u32>) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    for sub in SUBDIRS {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    if let Some(uid) = uid {
        chown_tree(dir, uid)?;
    }
    Ok(())
}

/// Hands every file of a tree to `uid`, never following symlinks.
fn chown_tree(dir: &Path, uid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(dir, Some(uid), Some(uid))?;
    if std::fs::symlink_metadata(dir)?.is_dir() {
        for entry in std::fs::read_dir(dir)? {
            chown_tree(&entry?.path(), uid)?;
        }
    }
    Ok(())
}

/// Deletes a workspace. Only call once no process of the session is left to race with.
pub fn remove(dir: &Path) -> io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}
