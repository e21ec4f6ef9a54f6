//! Launching the zygote process: exact argv, exact environment, exactly one extra fd.

use crate::config::Config;
use crate::os::fdpass::{self, SeqPacket};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Stdio;
use tokio::process::{Child, Command};

/// Variables the zygote (and so every worker) may see. Nothing else crosses: in particular no
/// `AWS_*` / `ECS_*`, which would hand the task role's credentials to sandboxed code.
pub fn environment(config: &Config) -> Vec<(String, String)> {
    let venv_bin = config
        .python
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    vec![
        (
            "PATH".into(),
            format!("{venv_bin}:/usr/local/bin:/usr/bin:/bin"),
        ),
        ("LANG".into(), "C.UTF-8".into()),
        ("LC_ALL".into(), "C.UTF-8".into()),
        ("PYTHONIOENCODING".into(), "utf-8".into()),
        ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
        ("OPENBLAS_NUM_THREADS".into(), "1".into()),
        ("OMP_NUM_THREADS".into(), "1".into()),
        ("MKL_NUM_THREADS".into(), "1".into()),
        ("NUMEXPR_NUM_THREADS".into(), "1".into()),
        ("MPLBACKEND".into(), "Agg".into()),
        (
            "MPLCONFIGDIR".into(),
            config.mpl_cache_dir.display().to_string(),
        ),
    ]
}

pub fn launch(config: &Config) -> Result<(Child, SeqPacket), String> {
    let lib = config.sandbox_lib();
    if !lib.exists() {
        return Err(format!(
            "sandbox library {} not found (build the workspace: cargo build --workspace)",
            lib.display()
        ));
    }
    let script = config.sandbox_dir().join("zygote.py");
    let (ours, theirs) = fdpass::socketpair(fdpass::Kind::SeqPacket).map_err(|e| e.to_string())?;
    let theirs_raw = theirs.as_raw_fd();
    let mut cmd = Command::new(&config.python);
    cmd.arg("-I")
        .arg("-B")
        .arg(&script)
        .arg(&lib)
        .arg(config.preload.join(","))
        .env_clear()
        .envs(environment(config))
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    // SAFETY: dup2/fcntl are async-signal-safe; this runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if theirs_raw == 3 {
                let flags = libc::fcntl(3, libc::F_GETFD);
                libc::fcntl(3, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
            } else if libc::dup2(theirs_raw, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| format!("starting {}: {e}", config.python.display()))?;
    drop::<OwnedFd>(theirs);
    let sock = SeqPacket::new(ours).map_err(|e| e.to_string())?;
    Ok((child, sock))
}

pub async fn stop(mut child: Child) {
    let _ = child.start_kill();
    let _ = child.wait().await;
}
