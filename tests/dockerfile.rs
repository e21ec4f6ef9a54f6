//! The deployment files, checked with their own linters: hadolint, HAProxy's config check,
//! cfn-lint, and a structural read of the compose file and the ECS task definition. The image
//! itself runs in tests/container.rs, the compose stack in tests/compose.rs.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tools_bin(name: &str) -> PathBuf {
    let dir = std::env::var("EXECUTOR_TOOLS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/dynamic-executor/tools")
        });
    let p = dir.join("bin").join(name);
    assert!(
        p.exists(),
        "{} missing: run scripts/test.sh (it installs the test tools)",
        p.display()
    );
    p
}

#[test]
fn dockerfile_passes_hadolint() {
    let out = Command::new(tools_bin("hadolint"))
        .args([
            "--config",
            ".hadolint.yaml",
            "Dockerfile",
            "deploy/lb/Dockerfile",
            "deploy/s3/Dockerfile",
        ])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hadolint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn dockerfile_has_what_the_runtime_needs() {
    let df = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    for needle in [
        "HEALTHCHECK",
        "/usr/local/bin/healthcheck",
        "EXPOSE 8080",
        "WORKDIR /app",
        "fonts-nanum",
        "libdynexec_sandbox.so",
        "requirements.txt",
        "requirements-report.txt",
        "EXECUTOR_COMPAT_WORKSPACE=/app",
        // no world-writable directory the server does not lock (docs/security.md)
        "-perm -0002",
    ] {
        assert!(df.contains(needle), "Dockerfile lacks {needle}");
    }
    // every COPY source from the build context exists
    for line in df
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let parts: Vec<&str> = line.split_whitespace().collect();
        // .image/bin is what `make image` builds on the host for the `prebuilt` stage.
        for src in parts[1..parts.len() - 1]
            .iter()
            .filter(|s| !s.starts_with(".image/"))
        {
            assert!(
                repo().join(src).exists(),
                "COPY source {src} does not exist"
            );
        }
    }
}

#[test]
fn compose_file_describes_two_executors_behind_a_sticky_balancer() {
    let script = r#"
import json, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
print(json.dumps(doc))
"#;
    let out = Command::new(tools_bin("python3"))
        .args(["-c", script, "docker-compose.yml"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let services = doc["services"].as_object().unwrap();
    for s in ["executor-a", "executor-b", "lb", "s3"] {
        assert!(services.contains_key(s), "service {s} missing");
    }
    for s in ["executor-a", "executor-b"] {
        assert_eq!(services[s]["build"], ".");
        assert_eq!(services[s]["init"], true);
        // as on Fargate: a read-only root, ECS's 30 s stopTimeout
        assert_eq!(services[s]["read_only"], true);
        assert_eq!(services[s]["stop_grace_period"], "30s");
    }
    for (s, dir) in [("lb", "deploy/lb"), ("s3", "deploy/s3")] {
        assert_eq!(services[s]["build"], dir);
        assert!(repo().join(dir).join("Dockerfile").exists());
    }
}

#[test]
fn haproxy_config_is_valid() {
    let cfg = repo().join("deploy/lb/haproxy.cfg");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("cookie EXECUTOR insert"));
    // the addresses the compose file gives it
    let out = Command::new("haproxy")
        .arg("-c")
        .arg("-f")
        .arg(&cfg)
        .env("LB_BIND", "127.0.0.1:8080")
        .env("EXECUTOR_A", "executor-a:8080")
        .env("EXECUTOR_B", "executor-b:8080")
        .output()
        .expect("haproxy (installed by scripts/test.sh)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = Path::new("");
}

#[test]
fn the_cloudformation_template_passes_cfn_lint() {
    let out = Command::new(tools_bin("cfn-lint"))
        .arg("deploy/cloudformation/dynamic-executor.yaml")
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cfn-lint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The ECS task definition says what docs/deploy.md promises, and agrees with the image.
#[test]
fn the_ecs_task_definition_has_the_production_settings() {
    let text = std::fs::read_to_string(repo().join("deploy/ecs/task-definition.json")).unwrap();
    let td: serde_json::Value = serde_json::from_str(&text).unwrap();
    let c = &td["containerDefinitions"][0];
    assert_eq!(c["linuxParameters"]["initProcessEnabled"], true);
    assert_eq!(c["readonlyRootFilesystem"], true);
    let stop = c["stopTimeout"].as_u64().unwrap();
    assert!(stop <= 120, "ECS's maximum");
    let env: std::collections::HashMap<&str, &str> = c["environment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["value"].as_str().unwrap()))
        .collect();
    let drain: f64 = env["EXECUTOR_DRAIN_TIMEOUT_S"].parse().unwrap();
    assert!(
        drain < stop as f64,
        "the drain must end before ECS's SIGKILL"
    );
    assert_eq!(env["EXECUTOR_SANDBOX_REQUIRE"], "uid,seccomp");
    assert!(env.contains_key("S3_BUCKET_NAME"));
    // writable volumes where the image writes: the workspaces, /app, /tmp, the local store
    let mounts: Vec<&str> = c["mountPoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["containerPath"].as_str().unwrap())
        .collect();
    for p in ["/var/lib/dynamic-executor/sessions", "/app", "/tmp"] {
        assert!(mounts.contains(&p), "{p} must be a writable volume");
    }
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    assert!(dockerfile.contains("EXECUTOR_WORKSPACE_ROOT=/var/lib/dynamic-executor/sessions"));
    assert!(dockerfile.contains("EXECUTOR_COMPAT_WORKSPACE=/app"));
    // no capability beyond Docker's defaults (no SYS_PTRACE, no SYS_ADMIN)
    let caps = &c["linuxParameters"]["capabilities"];
    assert!(caps["add"].as_array().is_none_or(|a| a.is_empty()));
    assert_eq!(c["healthCheck"]["command"][1], "/usr/local/bin/healthcheck");
}
