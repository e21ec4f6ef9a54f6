use crate::error::{check, SandboxError};
use crate::policy::{Report, RlimitPolicy};

fn set(
    step: &'static str,
    resource: libc::__rlimit_resource_t,
    value: u64,
) -> Result<(), SandboxError> {
    let lim = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    check(step, unsafe { libc::setrlimit(resource, &lim) } as _)
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
    set("rlimit_core", libc::RLIMIT_CORE, 0)?;
    set("rlimit_cpu", libc::RLIMIT_CPU, p.cpu_seconds)?;
    let data = current_data_bytes()?.saturating_add(p.memory_bytes);
    set("rlimit_data", libc::RLIMIT_DATA, data)?;
    report.data_limit_bytes = data;
    set("rlimit_fsize", libc::RLIMIT_FSIZE, p.file_size_bytes)?;
    set("rlimit_nofile", libc::RLIMIT_NOFILE, p.open_files)?;
    set("rlimit_nproc", libc::RLIMIT_NPROC, p.processes)?;
    set("rlimit_memlock", libc::RLIMIT_MEMLOCK, 0)?;
    set("rlimit_msgqueue", libc::RLIMIT_MSGQUEUE, 0)?;
    if p.sched_idle {
        let param = libc::sched_param { sched_priority: 0 };
        check(
            "sched_idle",
            unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } as _,
        )?;
    }
    if p.nice > 0 {
        check(
            "nice",
            unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, p.nice.min(19)) } as _,
        )?;
    }
    Ok(())
}
