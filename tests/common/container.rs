//! The deployable image under test: containers started from `DYNEXEC_IMAGE` (the test command
//! builds it with `make image` when a Docker engine is reachable) in Fargate's shape — Docker's
//! default seccomp profile and capabilities, `--init`, a read-only root file system with
//! writable volumes for the workspace root, the compat workspace `/app` and `/tmp` — on host
//! networking and a loopback port, never the default bridge.

use super::{free_port, Api};
use reqwest::blocking::Client;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The image to test, or None with a message saying why the test is skipped. Where
/// `DYNEXEC_REQUIRE_IMAGE=1` (CI) a missing image is a failure, not a skip.
pub fn image() -> Option<String> {
    match std::env::var("DYNEXEC_IMAGE") {
        Ok(i) if !i.is_empty() => Some(i),
        _ => {
            assert!(
                std::env::var("DYNEXEC_REQUIRE_IMAGE").as_deref() != Ok("1"),
                "DYNEXEC_REQUIRE_IMAGE=1 but no DYNEXEC_IMAGE: `make image` did not run"
            );
            eprintln!("SKIPPED: no DYNEXEC_IMAGE (the test command sets it when a Docker engine is reachable)");
            None
        }
    }
}

/// The Docker client matching the engine (Debian's docker.io client when present).
pub fn docker() -> Command {
    let bin = if std::path::Path::new("/usr/bin/docker").exists() {
        "/usr/bin/docker"
    } else {
        "docker"
    };
    Command::new(bin)
}

/// Runs a docker command to completion.
pub fn docker_out(args: &[&str]) -> Output {
    docker()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run docker")
}

pub struct Container {
    pub name: String,
    pub api: Api,
    pub port: u16,
    /// Host side of the volumes: `state` (workspace root and local store) and `app`.
    pub dirs: tempfile::TempDir,
    pub started: Instant,
}

impl std::ops::Deref for Container {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

/// The writable places a read-only root needs (host directory under `dirs`, container path);
/// `/tmp` is a tmpfs unless a mount names it.
pub const MOUNTS: [(&str, &str); 2] = [("state", "/var/lib/dynamic-executor"), ("app", "/app")];

impl Container {
    /// Starts the image with extra `docker run` options, environment and server flags; returns
    /// at once (see `wait_ready`).
    pub fn start(image: &str, opts: &[&str], env: &[(&str, &str)], args: &[&str]) -> Container {
        Container::start_mounted(image, &MOUNTS, opts, env, args)
    }

    /// As `start`, with these volumes (each a fresh host directory) instead of [`MOUNTS`].
    pub fn start_mounted(
        image: &str,
        mounts: &[(&str, &str)],
        opts: &[&str],
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Container {
        use std::os::unix::fs::PermissionsExt;
        let port = free_port();
        let name = format!("dynexec-test-{}-{port}", std::process::id());
        let dirs = tempfile::tempdir().unwrap();
        let mut cmd = docker();
        cmd.args(["run", "-d", "--name", &name, "--init", "--read-only"])
            .args(["--network", "host"]);
        for (dir, at) in mounts {
            let host = dirs.path().join(dir);
            std::fs::create_dir(&host).unwrap();
            // a volume for /tmp starts world-writable and sticky, as a fresh ECS volume
            let mode = if *at == "/tmp" { 0o1777 } else { 0o755 };
            std::fs::set_permissions(&host, std::fs::Permissions::from_mode(mode)).unwrap();
            cmd.args(["-v", &format!("{}:{at}", host.display())]);
        }
        if !mounts.iter().any(|(_, at)| *at == "/tmp") {
            cmd.args(["--tmpfs", "/tmp:rw,mode=1777,size=256m"]);
        }
        cmd.args(["-e", &format!("EXECUTOR_BIND=127.0.0.1:{port}")])
            .args(["--label", "dynamic-executor-test=1"])
            .args(opts);
        for (k, v) in env {
            cmd.args(["-e", &format!("{k}={v}")]);
        }
        let started = Instant::now();
        let out = cmd.arg(image).args(args).output().expect("docker run");
        assert!(
            out.status.success(),
            "docker run: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Container {
            name,
            api: Api {
                base: format!("http://127.0.0.1:{port}"),
                client: Client::builder()
                    .timeout(Duration::from_secs(120))
                    .build()
                    .unwrap(),
            },
            port,
            dirs,
            started,
        }
    }

    /// Waits until `/health` answers 200 with a warm zygote (sessions start at once); how long
    /// after `docker run`.
    pub fn wait_ready(&self) -> Duration {
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            if let Ok(r) = self
                .client
                .get(self.url("/health"))
                .timeout(Duration::from_secs(2))
                .send()
            {
                if r.status() == 200 && r.json::<serde_json::Value>().unwrap()["zygote"] == "warm" {
                    return self.started.elapsed();
                }
            }
            assert!(self.running(), "the container exited:\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("/health never answered 200:\n{}", self.logs());
    }

    /// Waits until Docker's HEALTHCHECK calls the container `healthy`; how long after `docker run`.
    pub fn wait_docker_healthy(&self, timeout: Duration) -> Duration {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.inspect("{{.State.Health.Status}}");
            if status == "healthy" {
                return self.started.elapsed();
            }
            assert!(
                Instant::now() < deadline,
                "Docker health is {status:?} after {timeout:?}:\n{}",
                self.inspect("{{json .State.Health}}")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn inspect(&self, format: &str) -> String {
        let out = docker_out(&["inspect", "-f", format, &self.name]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn running(&self) -> bool {
        self.inspect("{{.State.Running}}") == "true"
    }

    /// Everything the server wrote (stdout and stderr).
    pub fn logs(&self) -> String {
        let out = docker_out(&["logs", &self.name]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dirs.path().join("state")
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("container {} log:\n{}", self.name, self.logs());
        }
        let _ = docker_out(&["rm", "-f", "-v", &self.name]);
    }
}
