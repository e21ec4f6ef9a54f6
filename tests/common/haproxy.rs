//! HAProxy as the ALB's stand-in, on loopback: cookie stickiness over the given servers and the
//! ALB's 60 s idle timeout unless a test asks for another.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Haproxy {
    child: Child,
    pub base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Haproxy {
    /// Balances over `servers` (`http://host:port`), named by their index, with a sticky cookie.
    pub fn start(servers: &[&str], timeout_server_s: u32) -> Haproxy {
        let port = super::free_port();
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("haproxy.cfg");
        let backends: String = servers
            .iter()
            .enumerate()
            .map(|(i, s)| {
                format!(
                    "  server s{i} {} cookie s{i}\n",
                    s.trim_start_matches("http://")
                )
            })
            .collect();
        std::fs::write(
            &cfg,
            format!(
                "defaults\n  mode http\n  timeout connect 5s\n  timeout client {t}s\n  timeout server {t}s\n\
                 frontend fe\n  bind 127.0.0.1:{port}\n  default_backend be\n\
                 backend be\n  balance roundrobin\n  cookie EXECUTOR insert indirect nocache\n{backends}",
                t = timeout_server_s
            ),
        )
        .unwrap();
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy (the test command installs it)");
        let base = format!("http://127.0.0.1:{port}");
        let up = super::eventually(Duration::from_secs(10), || {
            reqwest::blocking::get(format!("{base}/health")).is_ok()
        });
        assert!(up, "haproxy did not come up");
        Haproxy {
            child,
            base,
            _dir: dir,
        }
    }
}
