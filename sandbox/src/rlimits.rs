//! Resource limits (hard = soft, so code cannot raise them again) and CPU priority.

use crate::error::SandboxError;
use crate::policy::{Report, RlimitPolicy};
use nix::sys::resource::{setrlimit, Resource};

fn set(step: &'static str, resource: Resource, value: u64) -> Result<(), SandboxError> {
    setrlimit(resource, value, value).map_err(|e| SandboxError::msg(step, e.desc()))
}

/// Current data-segment size of this process (VmData), in bytes.
pub fn current_data_bytes() -> Result<u64, SandboxError> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| SandboxError::msg("rlimit_data", e.to_string()))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmData:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| SandboxError::msg("rlimit_data", "no VmData in /proc/self/status"))
}

/// Sets every limit hard = soft. RLIMIT_DATA rather than RLIMIT_AS: with numpy/OpenBLAS the
/// address space is far above real use (AS needs ~240 MiB for what DATA does in ~150 MiB), and
/// DATA overruns surface as a clean MemoryError instead of OpenBLAS calling exit().
pub fn apply(p: &RlimitPolicy, report: &mut Report) -> Result<(), SandboxError> {
    set("rlimit_core", Resource::RLIMIT_CORE, 0)?;
    set("rlimit_cpu", Resource::RLIMIT_CPU, p.cpu_seconds)?;
    let data = current_data_bytes()?.saturating_add(p.memory_bytes);
    set("rlimit_data", Resource::RLIMIT_DATA, data)?;
    report.data_limit_bytes = data;
    set("rlimit_fsize", Resource::RLIMIT_FSIZE, p.file_size_bytes)?;
    set("rlimit_nofile", Resource::RLIMIT_NOFILE, p.open_files)?;
    set("rlimit_nproc", Resource::RLIMIT_NPROC, p.processes)?;
    set("rlimit_memlock", Resource::RLIMIT_MEMLOCK, 0)?;
    set("rlimit_msgqueue", Resource::RLIMIT_MSGQUEUE, 0)?;
    // nix wraps neither sched_setscheduler nor setpriority.
    if p.sched_idle {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `param` is a valid sched_param; pid 0 is the calling process.
        let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
        crate::error::check("sched_idle", rc as _)?;
    }
    if p.nice > 0 {
        // SAFETY: plain syscall on the calling process, no pointers.
        let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, p.nice.min(19)) };
        crate::error::check("nice", rc as _)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{ensure, in_child};
    use nix::sys::resource::getrlimit;

    #[test]
    fn limits_read_back_hard_equal_soft() {
        in_child(|| {
            let p = RlimitPolicy {
                cpu_seconds: 77,
                memory_bytes: 256 << 20,
                file_size_bytes: 5 << 20,
                open_files: 99,
                processes: 4000,
                nice: 7,
                sched_idle: true,
            };
            let mut report = Report::default();
            let before = current_data_bytes().map_err(|e| e.to_string())?;
            apply(&p, &mut report).map_err(|e| e.to_string())?;
            for (r, want) in [
                (Resource::RLIMIT_CORE, 0),
                (Resource::RLIMIT_CPU, 77),
                (Resource::RLIMIT_FSIZE, 5 << 20),
                (Resource::RLIMIT_NOFILE, 99),
                (Resource::RLIMIT_NPROC, 4000),
                (Resource::RLIMIT_MEMLOCK, 0),
                (Resource::RLIMIT_MSGQUEUE, 0),
            ] {
                let got = getrlimit(r).map_err(|e| e.to_string())?;
                ensure(got == (want, want), format!("{r:?}: {got:?}, want {want}"))?;
            }
            let (data, _) = getrlimit(Resource::RLIMIT_DATA).map_err(|e| e.to_string())?;
            ensure(data == report.data_limit_bytes, "report")?;
            ensure(
                data >= before + (256 << 20) && data < before + (300 << 20),
                "DATA is inherited + budget",
            )?;
            // no way back up
            ensure(
                nix::sys::resource::setrlimit(Resource::RLIMIT_CPU, 78, 78).is_err()
                    || crate::test_util::root(),
                "a hard limit was raised",
            )?;
            // SAFETY: plain queries of the calling process.
            let (policy, nice) = unsafe {
                (
                    libc::sched_getscheduler(0),
                    libc::getpriority(libc::PRIO_PROCESS, 0),
                )
            };
            ensure(policy == libc::SCHED_IDLE, "not SCHED_IDLE")?;
            ensure(nice == 7, format!("nice {nice}"))
        });
    }
}
