use std::fmt;

/// A sandbox step that failed, with the OS error it failed with.
#[derive(Debug)]
pub struct SandboxError {
    pub step: &'static str,
    pub detail: String,
}

impl SandboxError {
    pub fn os(step: &'static str) -> Self {
        SandboxError {
            step,
            detail: std::io::Error::last_os_error().to_string(),
        }
    }
    pub fn msg(step: &'static str, detail: impl Into<String>) -> Self {
        SandboxError {
            step,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for SandboxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sandbox step `{}` failed: {}", self.step, self.detail)
    }
}

impl std::error::Error for SandboxError {}

/// Turns a libc return value into a step error.
pub fn check(step: &'static str, rc: libc::c_long) -> Result<(), SandboxError> {
    if rc < 0 {
        Err(SandboxError::os(step))
    } else {
        Ok(())
    }
}
