//! The deployable image's start (#12): `docker run` of the image `make image` built, in the
//! posture the tests and ECS use (Docker's default confinement, `--init`, read-only root,
//! host networking on a loopback port), timed to the first `/health` 200 (what an ALB's first
//! check sees), to a warm zygote (sessions start at once), and to Docker's HEALTHCHECK calling
//! it `healthy`; beside the bare binary's start measured in the same run.

use super::{create, exec, free_port, ms, row, start_to_healthy, table_header, workdir};
use reqwest::blocking::Client;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn docker() -> Command {
    Command::new(if std::path::Path::new("/usr/bin/docker").exists() {
        "/usr/bin/docker"
    } else {
        "docker"
    })
}

fn docker_ok(args: &[&str]) -> String {
    let out = docker()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub fn run(quick: bool) {
    let image = std::env::var("DYNEXEC_IMAGE").unwrap_or_else(|_| "dynamic-executor:latest".into());
    let runs = if quick { 3 } else { 5 };
    let client = Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let (mut health, mut warm, mut healthy, mut first) = (vec![], vec![], vec![], vec![]);
    for i in 0..runs {
        let port = free_port();
        let name = format!("dynexec-bench-{}-{i}", std::process::id());
        let dir = workdir(&format!("container{i}"));
        let state = dir.join("state");
        let app = dir.join("app");
        std::fs::create_dir_all(&state).unwrap();
        std::fs::create_dir_all(&app).unwrap();
        let t0 = Instant::now();
        docker_ok(&[
            "run",
            "-d",
            "--name",
            &name,
            "--init",
            "--read-only",
            "--network",
            "host",
            "--tmpfs",
            "/tmp:rw,mode=1777",
            "-v",
            &format!("{}:/var/lib/dynamic-executor", state.display()),
            "-v",
            &format!("{}:/app", app.display()),
            "-e",
            &format!("EXECUTOR_BIND=127.0.0.1:{port}"),
            &image,
        ]);
        let base = format!("http://127.0.0.1:{port}");
        let deadline = t0 + Duration::from_secs(60);
        let (mut h, mut w) = (None, None);
        while Instant::now() < deadline && w.is_none() {
            if let Ok(r) = client.get(format!("{base}/health")).send() {
                if r.status() == 200 {
                    h.get_or_insert(ms(t0.elapsed()));
                    if r.json::<Value>().is_ok_and(|v| v["zygote"] == "warm") {
                        w = Some(ms(t0.elapsed()));
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        health.extend(h);
        warm.extend(w);
        let c = Client::new();
        let t1 = Instant::now();
        let sid = create(&c, &base);
        assert_eq!(exec(&c, &base, &sid, "print(1)")["stdout"], "1\n");
        first.push(ms(t1.elapsed()));
        while Instant::now() < deadline {
            if docker_ok(&["inspect", "-f", "{{.State.Health.Status}}", &name]) == "healthy" {
                healthy.push(t0.elapsed().as_secs_f64());
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        docker_ok(&["rm", "-f", "-v", &name]);
        let _ = std::fs::remove_dir_all(&dir);
    }
    let size: f64 = docker_ok(&["image", "inspect", "-f", "{{.Size}}", &image])
        .parse()
        .unwrap_or(0.0);
    println!("image: {image}, {:.0} MB", size / 1e6);
    println!();
    table_header();
    let mut bare = start_to_healthy(runs);
    row(
        "bare binary: process start → first /health 200 (same run)",
        &mut bare,
        "ms",
        "—",
    );
    row(
        "container: docker run → first /health 200",
        &mut health,
        "ms",
        "—",
    );
    row("container: docker run → zygote warm", &mut warm, "ms", "—");
    row(
        "container: first session create + `print(1)` after warm",
        &mut first,
        "ms",
        "—",
    );
    row(
        "container: docker run → Docker `healthy` (HEALTHCHECK every 5 s)",
        &mut healthy,
        "s",
        "the seed's ALB: 59 s",
    );
}
