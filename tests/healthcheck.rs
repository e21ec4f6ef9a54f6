//! The `healthcheck` binary the Docker image uses instead of curl.

mod common;

use common::Server;
use std::path::PathBuf;
use std::process::Command;

fn healthcheck_bin() -> PathBuf {
    // Built into the same directory as the server binary (scripts/test.sh builds all bins).
    PathBuf::from(env!("CARGO_BIN_EXE_dynamic-executor")).with_file_name("healthcheck")
}

#[test]
fn exits_zero_when_healthy_and_one_when_nothing_listens() {
    let bin = healthcheck_bin();
    if !bin.exists() {
        panic!(
            "{} missing: build the workspace (scripts/test.sh does)",
            bin.display()
        );
    }
    let s = Server::spawn(&[], &[]);
    let addr = s.base.trim_start_matches("http://").to_string();
    assert!(Command::new(&bin).arg(&addr).status().unwrap().success());
    drop(s);
    let status = Command::new(&bin).arg(&addr).status().unwrap();
    assert_eq!(status.code(), Some(1));
}
