//! HTTP/1.1 by hand over a TCP connection, for tests about what travels on the wire (keep-alive,
//! a body sent in pieces, a connection closed at shutdown).

use super::Server;
use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

/// A connection to the server (no Nagle, reads time out after 30 s) and its `host:port`.
pub fn connect(s: &Server) -> (TcpStream, String) {
    let addr = s.url("").trim_start_matches("http://").to_string();
    let conn = TcpStream::connect(&addr).unwrap();
    conn.set_nodelay(true).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    (conn, addr)
}

/// One response with a Content-Length: its head (lowercased) and body. None when the server
/// closed the connection before the whole response came.
pub fn read_response(conn: &mut TcpStream) -> Option<(String, String)> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end + 4]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .expect("a content-length")
                .trim()
                .parse()
                .unwrap();
            if got.len() >= end + 4 + len {
                let body = String::from_utf8_lossy(&got[end + 4..end + 4 + len]).into_owned();
                return Some((head, body));
            }
        }
        let n = conn.read(&mut buf).unwrap();
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
    }
}
