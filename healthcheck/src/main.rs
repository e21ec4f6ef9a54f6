//! `healthcheck [HOST:PORT]`: GET /health on the local executor, exit 0 on 200, else 1.
//! For Docker HEALTHCHECK and the ECS container health check, so the image needs no curl.
//! Default address: 127.0.0.1 and the port of EXECUTOR_BIND (else 8080). Gives up after 1 s.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_millis(1000);

fn target() -> Option<SocketAddr> {
    let arg = std::env::args().nth(1).or_else(|| {
        let port = std::env::var("EXECUTOR_BIND")
            .ok()
            .and_then(|b| b.rsplit(':').next().map(str::to_string))
            .unwrap_or_else(|| "8080".into());
        Some(format!("127.0.0.1:{port}"))
    })?;
    arg.to_socket_addrs().ok()?.next()
}

fn check(addr: SocketAddr) -> std::io::Result<bool> {
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    stream.write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head)?;
    let line = String::from_utf8_lossy(&head[..n]);
    Ok(line.starts_with("HTTP/1.1 200") || line.starts_with("HTTP/1.0 200"))
}

fn main() {
    let healthy = target().map(|a| check(a).unwrap_or(false)).unwrap_or(false);
    if !healthy {
        eprintln!("unhealthy");
    }
    std::process::exit(if healthy { 0 } else { 1 });
}
