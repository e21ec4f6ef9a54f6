//! A uid is reused only after every fresh one was used, and a reused uid finds nothing of the
//! session that had it before: no process, no file in the shared directories.

mod common;

use common::{root_or_skip, Posture, Server};
use serde_json::json;

#[test]
fn fresh_uids_come_before_recycled_ones() {
    if !root_or_skip() {
        return;
    }
    let s = Server::start_with(&["--warm-workers", "0"], &[]);
    let a = s.create_session();
    let old = s.session_uid(&a);
    s.delete_session(&a);
    for _ in 0..4 {
        let sid = s.create_session();
        assert_ne!(s.session_uid(&sid), old, "a freed uid came back early");
    }
}

#[test]
fn a_recycled_uid_finds_nothing_of_its_last_session() {
    if !root_or_skip() {
        return;
    }
    // Shared directories neither private (no namespaces) nor locked: the scrub before reuse
    // is all that stands between the two sessions. Two uids: the compat session takes one,
    // so the second session must get the first one's uid back.
    let s = Server::start_in(
        Posture::Fargate,
        &[
            "--lock-shared-dirs",
            "false",
            "--uid-count",
            "2",
            "--warm-workers",
            "0",
        ],
        &[],
    );
    let a = s.create_session();
    let uid = s.session_uid(&a);
    s.run_ok(
        &a,
        "import os\nfor p in ('/tmp/leak.txt', '/dev/shm/leak.txt', '/var/tmp/leak.txt'):\n    open(p, 'w').write('secret of a')\nos.makedirs('/tmp/tree/sub')\nopen('/tmp/tree/sub/f', 'w').write('secret of a')",
    );
    s.delete_session(&a);
    let b = s.create_session();
    assert_eq!(s.session_uid(&b), uid, "the test needs the uid recycled");
    let out = s.run_ok(
        &b,
        "import os\nprint([os.path.exists(p) for p in ('/tmp/leak.txt', '/dev/shm/leak.txt', '/var/tmp/leak.txt', '/tmp/tree')])",
    );
    assert_eq!(out.trim(), "[False, False, False, False]");
    let r = s.exec_with(&b, &json!({"code": "print(1)"}));
    assert_eq!(r["status"], "ok");
}
