//! The syscall filter: a deny list on top of whatever the container runtime enforces.
//!
//! Stacked filters, because seccompiler gives one action per filter: A returns EPERM for the
//! denied families, B makes `clone3` return ENOSYS so glibc falls back to `clone`, whose flags
//! filter A can inspect (threads keep working, namespaces don't). On x86_64, C denies the whole
//! x32 ABI: its syscalls share the x86_64 audit arch with numbers offset by 0x40000000, so A's
//! rules (and seccompiler, which matches exact numbers) would not see `x32 ptrace` at all.
//! D answers `setsid` with 0 without running it (see [`setsid_filter`]).

use crate::error::SandboxError;
use crate::policy::{NetworkPolicy, SeccompExtras};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen as Len, SeccompCmpOp as Op,
    SeccompCondition as Cond, SeccompFilter, SeccompRule, TargetArch,
};
use std::collections::BTreeMap;

#[cfg(target_arch = "x86_64")]
const ARCH: TargetArch = TargetArch::x86_64;
#[cfg(target_arch = "aarch64")]
const ARCH: TargetArch = TargetArch::aarch64;

/// Not in the libc crate's list for x86_64/aarch64.
#[cfg(target_arch = "x86_64")]
const SYS_IO_PGETEVENTS: i64 = 333;
#[cfg(target_arch = "aarch64")]
const SYS_IO_PGETEVENTS: i64 = 292;

/// Syscalls denied outright, by family. Public so tests and docs can enumerate them.
pub fn denied_syscalls() -> Vec<(&'static str, i64)> {
    let mut v = vec![
        // reading or steering other processes
        ("ptrace", libc::SYS_ptrace),
        ("process_vm_readv", libc::SYS_process_vm_readv),
        ("process_vm_writev", libc::SYS_process_vm_writev),
        ("kcmp", libc::SYS_kcmp),
        ("pidfd_getfd", libc::SYS_pidfd_getfd),
        // kernel attack surface that analysis code never needs
        ("bpf", libc::SYS_bpf),
        ("perf_event_open", libc::SYS_perf_event_open),
        ("userfaultfd", libc::SYS_userfaultfd),
        ("io_uring_setup", libc::SYS_io_uring_setup),
        ("io_uring_enter", libc::SYS_io_uring_enter),
        ("io_uring_register", libc::SYS_io_uring_register),
        // keyrings are shared across uids' sessions: a leak channel
        ("keyctl", libc::SYS_keyctl),
        ("add_key", libc::SYS_add_key),
        ("request_key", libc::SYS_request_key),
        // namespaces and mounts
        ("unshare", libc::SYS_unshare),
        ("setns", libc::SYS_setns),
        ("mount", libc::SYS_mount),
        ("umount2", libc::SYS_umount2),
        ("pivot_root", libc::SYS_pivot_root),
        ("chroot", libc::SYS_chroot),
        ("fsopen", libc::SYS_fsopen),
        ("fsconfig", libc::SYS_fsconfig),
        ("fsmount", libc::SYS_fsmount),
        ("fspick", libc::SYS_fspick),
        ("move_mount", libc::SYS_move_mount),
        ("open_tree", libc::SYS_open_tree),
        ("mount_setattr", libc::SYS_mount_setattr),
        // kernel modules, kexec, file handles, accounting, swap, reboot
        ("init_module", libc::SYS_init_module),
        ("finit_module", libc::SYS_finit_module),
        ("delete_module", libc::SYS_delete_module),
        ("kexec_load", libc::SYS_kexec_load),
        ("kexec_file_load", libc::SYS_kexec_file_load),
        ("open_by_handle_at", libc::SYS_open_by_handle_at),
        ("name_to_handle_at", libc::SYS_name_to_handle_at),
        ("acct", libc::SYS_acct),
        ("swapon", libc::SYS_swapon),
        ("swapoff", libc::SYS_swapoff),
        ("reboot", libc::SYS_reboot),
        ("quotactl", libc::SYS_quotactl),
        ("vhangup", libc::SYS_vhangup),
        // Linux AIO contexts come from one kernel-wide pool (fs.aio-max-nr): a session could
        // use them all up for everyone; Python and the data stack never use them
        ("io_setup", libc::SYS_io_setup),
        ("io_destroy", libc::SYS_io_destroy),
        ("io_submit", libc::SYS_io_submit),
        ("io_cancel", libc::SYS_io_cancel),
        ("io_getevents", libc::SYS_io_getevents),
        ("io_pgetevents", SYS_IO_PGETEVENTS),
    ];
    #[cfg(target_arch = "x86_64")]
    v.extend([("iopl", libc::SYS_iopl), ("ioperm", libc::SYS_ioperm)]);
    v
}

const CLONE_NAMESPACE_FLAGS: [u64; 7] = [
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWCGROUP as u64,
];

fn cond(arg: u8, len: Len, op: Op, value: u64) -> Cond {
    Cond::new(arg, len, op, value).expect("static seccomp condition is valid")
}

fn rule(conds: Vec<Cond>) -> SeccompRule {
    SeccompRule::new(conds).expect("static seccomp rule is valid")
}

/// SysV IPC: denied where the worker has no IPC namespace of its own, since its objects are
/// then host-wide (a channel to other sessions, and tables that outlive the session).
pub fn sysv_ipc_syscalls() -> Vec<(&'static str, i64)> {
    vec![
        ("shmget", libc::SYS_shmget),
        ("shmat", libc::SYS_shmat),
        ("shmdt", libc::SYS_shmdt),
        ("shmctl", libc::SYS_shmctl),
        ("semget", libc::SYS_semget),
        ("semop", libc::SYS_semop),
        ("semtimedop", libc::SYS_semtimedop),
        ("semctl", libc::SYS_semctl),
        ("msgget", libc::SYS_msgget),
        ("msgsnd", libc::SYS_msgsnd),
        ("msgrcv", libc::SYS_msgrcv),
        ("msgctl", libc::SYS_msgctl),
    ]
}

/// Filter A: EPERM for the denied families (and non-UNIX sockets when the network is denied).
pub fn deny_filter(
    network: NetworkPolicy,
    extras: &SeccompExtras,
) -> Result<BpfProgram, SandboxError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for (_, nr) in denied_syscalls() {
        rules.insert(nr, vec![]);
    }
    if extras.deny_sysv_ipc {
        for (_, nr) in sysv_ipc_syscalls() {
            rules.insert(nr, vec![]);
        }
    }
    if extras.deny_shared_memory {
        // Memory RLIMIT_DATA does not count: shared anonymous mappings and memfds. Without a
        // memory cgroup nothing else would bound them. (File-backed shared mappings, such as
        // numpy.memmap of a workspace file, stay allowed: the disk quota bounds those.)
        rules.insert(libc::SYS_memfd_create, vec![]);
        let shared_anon = (libc::MAP_SHARED | libc::MAP_ANONYMOUS) as u64;
        rules.insert(
            libc::SYS_mmap,
            vec![rule(vec![cond(
                3,
                Len::Dword,
                Op::MaskedEq(shared_anon),
                shared_anon,
            )])],
        );
    }
    // A non-dumpable process's /proc entry belongs to root: the server finds a session's
    // processes by the owner of /proc/<pid>, so code may not hide from it that way.
    rules.insert(
        libc::SYS_prctl,
        vec![rule(vec![cond(
            0,
            Len::Dword,
            Op::Eq,
            libc::PR_SET_DUMPABLE as u64,
        )])],
    );
    // kill(-1, sig) signals every process of the caller's uid: the uid-sweep helper, which
    // briefly runs as the session's uid, would be one of them.
    rules.insert(
        libc::SYS_kill,
        vec![rule(vec![cond(0, Len::Dword, Op::Eq, u32::MAX as u64)])],
    );
    let clone_rules = CLONE_NAMESPACE_FLAGS
        .iter()
        .map(|f| rule(vec![cond(0, Len::Qword, Op::MaskedEq(*f), *f)]))
        .collect();
    rules.insert(libc::SYS_clone, clone_rules);
    // personality() may only query (0xffffffff) or keep PER_LINUX: other personalities
    // re-enable things like READ_IMPLIES_EXEC or disable ASLR.
    rules.insert(
        libc::SYS_personality,
        vec![rule(vec![
            cond(0, Len::Dword, Op::Ne, 0),
            cond(0, Len::Dword, Op::Ne, 0xffff_ffff),
        ])],
    );
    if network == NetworkPolicy::Deny {
        rules.insert(
            libc::SYS_socket,
            vec![rule(vec![cond(
                0,
                Len::Dword,
                Op::Ne,
                libc::AF_UNIX as u64,
            )])],
        );
    }
    compile(rules, libc::EPERM)
}

/// Filter D: `setsid` answers 0 without running. A new session is a new scheduler autogroup
/// (where the host uses autogroups): forking busy loops that each call setsid() would take
/// one CPU share each from the other sessions. Refusing it would break
/// `subprocess.Popen(start_new_session=True)`; pretending keeps such code working while the
/// process stays in the worker's session (which the worker made before this filter).
pub fn setsid_filter() -> Result<BpfProgram, SandboxError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    rules.insert(libc::SYS_setsid, vec![]);
    compile(rules, 0)
}

/// Filter B: `clone3` → ENOSYS (its flags live in memory a BPF filter cannot read).
pub fn clone3_filter() -> Result<BpfProgram, SandboxError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    rules.insert(libc::SYS_clone3, vec![]);
    compile(rules, libc::ENOSYS)
}

/// Filter C (x86_64): EPERM for every x32 syscall number, hand-written because seccompiler
/// cannot express a range of syscall numbers. Other architectures are left to A, whose
/// arch check kills the process.
#[cfg(target_arch = "x86_64")]
pub fn x32_filter() -> BpfProgram {
    use seccompiler::sock_filter;
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
    let ld = |offset: u32| sock_filter {
        code: (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16,
        jt: 0,
        jf: 0,
        k: offset,
    };
    let jump = |op: u32, k: u32, jt: u8, jf: u8| sock_filter {
        code: (libc::BPF_JMP | op | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let ret = |k: u32| sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k,
    };
    vec![
        ld(4), // seccomp_data.arch
        jump(libc::BPF_JEQ, AUDIT_ARCH_X86_64, 0, 3),
        ld(0), // seccomp_data.nr
        jump(libc::BPF_JGE, X32_SYSCALL_BIT, 0, 1),
        ret(libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
        ret(libc::SECCOMP_RET_ALLOW),
    ]
}

/// A filter that answers `errno` to every rule's match and allows everything else.
fn compile(rules: BTreeMap<i64, Vec<SeccompRule>>, errno: i32) -> Result<BpfProgram, SandboxError> {
    let err = |e: String| SandboxError::msg("seccomp", e);
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(errno as u32),
        ARCH,
    )
    .map_err(|e| err(e.to_string()))?;
    filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| err(e.to_string()))
}

/// Installs the filters on the calling thread (the worker is single-threaded here).
pub fn install(network: NetworkPolicy, extras: &SeccompExtras) -> Result<(), SandboxError> {
    let a = deny_filter(network, extras)?;
    let b = clone3_filter()?;
    seccompiler::apply_filter(&a).map_err(|e| SandboxError::msg("seccomp", e.to_string()))?;
    seccompiler::apply_filter(&b).map_err(|e| SandboxError::msg("seccomp", e.to_string()))?;
    seccompiler::apply_filter(&setsid_filter()?)
        .map_err(|e| SandboxError::msg("seccomp", e.to_string()))?;
    #[cfg(target_arch = "x86_64")]
    seccompiler::apply_filter(&x32_filter())
        .map_err(|e| SandboxError::msg("seccomp", e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{ensure, in_child};

    /// A raw syscall's result and errno.
    fn call(nr: i64, args: [i64; 4]) -> (i64, i32) {
        // SAFETY: only calls the test passes invalid or harmless arguments to.
        let rc = unsafe { libc::syscall(nr, args[0], args[1], args[2], args[3]) };
        (
            rc,
            std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
        )
    }

    fn denied(nr: i64, args: [i64; 4]) -> bool {
        call(nr, args) == (-1, libc::EPERM)
    }

    #[test]
    fn the_filters_deny_what_they_list_and_leave_the_rest() {
        in_child(|| {
            install(NetworkPolicy::Deny, &SeccompExtras::default()).map_err(|e| e.to_string())?;
            ensure(
                denied(
                    libc::SYS_socket,
                    [libc::AF_INET as i64, libc::SOCK_STREAM as i64, 0, 0],
                ),
                "AF_INET socket allowed",
            )?;
            let unix = call(
                libc::SYS_socket,
                [libc::AF_UNIX as i64, libc::SOCK_STREAM as i64, 0, 0],
            );
            ensure(unix.0 >= 0, "AF_UNIX socket refused")?;
            ensure(
                denied(libc::SYS_ptrace, [libc::PTRACE_TRACEME as i64, 0, 0, 0]),
                "ptrace",
            )?;
            ensure(denied(libc::SYS_io_setup, [1, 0, 0, 0]), "io_setup")?;
            ensure(denied(libc::SYS_kill, [-1, 0, 0, 0]), "kill(-1)")?;
            ensure(
                denied(libc::SYS_prctl, [libc::PR_SET_DUMPABLE as i64, 0, 0, 0]),
                "PR_SET_DUMPABLE",
            )?;
            ensure(
                denied(libc::SYS_clone, [libc::CLONE_NEWUSER as i64, 0, 0, 0]),
                "clone(CLONE_NEWUSER)",
            )?;
            ensure(
                call(libc::SYS_clone3, [0, 0, 0, 0]) == (-1, libc::ENOSYS),
                "clone3 not ENOSYS",
            )?;
            #[cfg(target_arch = "x86_64")]
            ensure(denied(0x4000_0000 | libc::SYS_getpid, [0; 4]), "x32 getpid")?;
            // setsid pretends: 0, and the session does not change
            let sid = nix::unistd::getsid(None).map_err(|e| e.to_string())?;
            ensure(
                call(libc::SYS_setsid, [0; 4]).0 == 0,
                "setsid did not answer 0",
            )?;
            ensure(
                nix::unistd::getsid(None).map_err(|e| e.to_string())? == sid,
                "a new session",
            )?;
            // without the extras: SysV IPC and shared memory work
            let shm = call(libc::SYS_shmget, [libc::IPC_PRIVATE as i64, 4096, 0o600, 0]);
            ensure(shm.0 >= 0, "shmget refused without the extra")?;
            // SAFETY: removes the segment just made.
            unsafe { libc::shmctl(shm.0 as i32, libc::IPC_RMID, std::ptr::null_mut()) };
            // threads still start (glibc falls back from clone3 to clone)
            std::thread::spawn(|| ())
                .join()
                .map_err(|_| "a thread failed".to_string())
        });
    }

    #[test]
    fn the_extras_deny_sysv_ipc_and_shared_memory() {
        in_child(|| {
            let extras = SeccompExtras {
                deny_sysv_ipc: true,
                deny_shared_memory: true,
            };
            install(NetworkPolicy::Allow, &extras).map_err(|e| e.to_string())?;
            ensure(
                denied(libc::SYS_shmget, [libc::IPC_PRIVATE as i64, 4096, 0o600, 0]),
                "shmget",
            )?;
            ensure(denied(libc::SYS_memfd_create, [0, 0, 0, 0]), "memfd_create")?;
            // SAFETY: mmap calls whose results are checked and unmapped.
            let (shared, private) = unsafe {
                let shared = libc::mmap(
                    std::ptr::null_mut(),
                    4096,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                );
                let private = libc::mmap(
                    std::ptr::null_mut(),
                    4096,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                );
                if private != libc::MAP_FAILED {
                    libc::munmap(private, 4096);
                }
                (shared, private)
            };
            ensure(
                shared == libc::MAP_FAILED,
                "shared anonymous memory allowed",
            )?;
            ensure(private != libc::MAP_FAILED, "private memory refused")?;
            // network allowed: an INET socket opens
            let inet = call(
                libc::SYS_socket,
                [libc::AF_INET as i64, libc::SOCK_DGRAM as i64, 0, 0],
            );
            ensure(inet.0 >= 0, "AF_INET refused under network=allow")
        });
    }
}
