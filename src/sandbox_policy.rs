//! The sandbox policy a session's worker enters, derived from the config.

use crate::config::Config;
use crate::zygote::{Zygote, ZygoteState};
use dynexec_sandbox::{Policy, RlimitPolicy};

pub fn for_session(config: &Config, uid: Option<u32>, zygote: &Zygote) -> Policy {
    let zygote_pid = match zygote.state() {
        ZygoteState::Warm(info) => Some(info.pid),
        _ => None,
    };
    Policy {
        // 0-2 stdio, 3 the session channel.
        keep_fds_below: 4,
        rlimits: RlimitPolicy {
            cpu_seconds: config.cpu_limit_s,
            memory_bytes: config.memory_limit_mb << 20,
            file_size_bytes: config.file_size_limit_mb << 20,
            open_files: config.open_files_limit,
            processes: config.nproc_limit,
            nice: config.worker_nice,
        },
        uid,
        gid: uid,
        network: config.network.into(),
        expected_parent: zygote_pid,
    }
}
