//! The accept loop (src/http/serve.rs) at the TCP level: what a raw client sees of a connection
//! — a body that arrives late, keep-alive, and SIGTERM with connections open.

mod common;

use common::raw_http::{connect, read_response};
use common::{eventually, Server};
use std::io::{Read, Write};
use std::time::Duration;

/// A body sent well after its headers (the connection's task waits for it, woken by the socket
/// rather than by itself) is read whole, and the connection then serves the next request.
#[test]
fn a_body_that_arrives_late_is_read_and_the_connection_kept() {
    let s = Server::start();
    let sid = s.create_session();
    let (mut conn, addr) = connect(&s);
    let body = r#"{"code": "print('늦은 본문')"}"#;
    let head = format!(
        "POST /v1/sessions/{sid}/executions HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (first, rest) = body.as_bytes().split_at(10);
    conn.write_all(first).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    conn.write_all(rest).unwrap();
    let (head, text) =
        read_response(&mut conn).expect("the server closed the connection mid-response");
    assert!(head.starts_with("http/1.1 200"), "{head}{text}");
    assert!(text.contains(r#""stdout":"늦은 본문\n""#), "{text}");
    // the same connection, again
    conn.write_all(format!("GET /health HTTP/1.1\r\nhost: {addr}\r\n\r\n").as_bytes())
        .unwrap();
    let (head, text) =
        read_response(&mut conn).expect("the server closed the connection mid-response");
    assert!(head.starts_with("http/1.1 200"), "{head}{text}");
}

/// SIGTERM with a keep-alive connection left idle: the server does not wait for the client to
/// close it (the connection is closed), and it exits.
#[test]
fn an_idle_keep_alive_connection_does_not_hold_up_shutdown() {
    let mut s = Server::start();
    let (mut conn, addr) = connect(&s);
    conn.write_all(format!("GET /health HTTP/1.1\r\nhost: {addr}\r\n\r\n").as_bytes())
        .unwrap();
    let (head, _) =
        read_response(&mut conn).expect("the server closed the connection mid-response");
    assert!(head.starts_with("http/1.1 200"), "{head}");
    common::signal(s.pid(), libc::SIGTERM);
    let mut buf = [0u8; 256];
    // the server closes the idle connection: end of file, not a hang
    let n = conn
        .read(&mut buf)
        .expect("the connection was closed, not left to time out");
    assert_eq!(n, 0);
    assert!(
        eventually(Duration::from_secs(15), || s.exited()),
        "the server did not exit on SIGTERM with an idle connection open"
    );
}
