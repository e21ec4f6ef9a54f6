//! The C ABI the Python worker calls through ctypes.

use crate::policy::Policy;

fn write_out(out: *mut u8, out_len: usize, text: &str) {
    if out.is_null() || out_len == 0 {
        return;
    }
    let n = text.len().min(out_len - 1);
    // SAFETY: the caller passes a writable buffer of `out_len` bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), out, n);
        *out.add(n) = 0;
    }
}

/// Enters the sandbox described by the JSON `policy` (`len` bytes). On success returns 0 and
/// writes the JSON report to `out`; on failure returns -1 and writes the error text.
///
/// # Safety
/// `policy` must point to `len` readable bytes and `out` to `out_len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn dynexec_sandbox_enter(
    policy: *const u8,
    len: usize,
    out: *mut u8,
    out_len: usize,
) -> i32 {
    let bytes = std::slice::from_raw_parts(policy, len);
    let result = serde_json::from_slice::<Policy>(bytes)
        .map_err(|e| format!("sandbox policy is not valid JSON: {e}"))
        .and_then(|p| crate::enter(&p).map_err(|e| e.to_string()));
    match result {
        Ok(report) => {
            write_out(
                out,
                out_len,
                &serde_json::to_string(&report).unwrap_or_default(),
            );
            0
        }
        Err(msg) => {
            write_out(out, out_len, &msg);
            -1
        }
    }
}

/// Keeps this process's SIGCHLD handler but asks for it only when a child exits, not when one
/// is stopped or continued (`SA_NOCLDSTOP`). The zygote's workers are stopped and continued
/// around every execution (where no PID namespace puts a relay between them, the zygote is
/// their parent), and each would wake the zygote for nothing. Python's `signal` module cannot
/// set the flag. Returns 0, or -1 with errno set.
#[no_mangle]
pub extern "C" fn dynexec_sigchld_exits_only() -> i32 {
    // Raw sigaction: reading the current action without replacing it has no nix wrapper.
    // SAFETY: `act` is a zeroed sigaction the kernel fills in, then passed back with one flag
    // added; no pointer outlives the calls.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGCHLD, std::ptr::null(), &mut act) != 0 {
            return -1;
        }
        act.sa_flags |= libc::SA_NOCLDSTOP;
        libc::sigaction(libc::SIGCHLD, &act, std::ptr::null_mut())
    }
}
