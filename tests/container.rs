//! The deployable image, run for real: built by `make image`, started the way Fargate runs it
//! (Docker's default confinement, `--init`, read-only root, writable volumes), and exercised
//! through its HTTP API — the seed analysis, a Hangul chart, the compat API, the attack
//! families — while `/health` and a canary session stay fine. Skipped (saying so) without an
//! image; CI always builds one (`.ci/run` starts an engine).

mod common;

use common::container::{docker_out, image, Container};
use common::data;
use common::strs;
use serde_json::{json, Value};
use std::time::Duration;

#[test]
fn the_image_serves_an_analysis_under_fargate_confinement() {
    let Some(image) = image() else { return };
    let c = Container::start(&image, &[], &[], &[]);
    let ready = c.wait_ready();
    eprintln!("docker run -> /health 200: {ready:?}");
    let info = c.get_json("/v1/info");
    let sandbox = &info["sandbox"];
    assert_eq!(
        sandbox["required"],
        json!(["uid", "seccomp"]),
        "{sandbox:#}"
    );
    for layer in ["uid", "seccomp", "rlimits", "no_new_privs"] {
        assert!(
            strs(&sandbox["layers"]).contains(&layer),
            "{layer}: {sandbox:#}"
        );
    }
    // No CAP_SYS_ADMIN (Docker's default set, as on Fargate): no namespaces for sessions.
    assert_eq!(sandbox["capabilities"]["mount_namespace"], false);
    assert_eq!(info["missing_modules"], json!([]));

    // The seed analysis: total and a Hangul chart, in the image's Python.
    let synth = data::synthetic_fresh_food(2726, 7);
    let sid = c.create_session();
    assert_eq!(c.put_file(&sid, "data/sales.csv", synth.csv).status(), 201);
    let out = c.run_ok(
        &sid,
        "import pandas as pd\ndf = pd.read_csv('data/sales.csv')\nprint(int(df['금액'].sum()))",
    );
    assert_eq!(out.trim(), synth.total.to_string());
    let r = c.exec(
        &sid,
        "import matplotlib.pyplot as plt\nby = df.groupby('카테고리')['금액'].sum()\n\
         fig, ax = plt.subplots()\nax.bar(by.index, by.values)\nax.set_title('카테고리별 매출')\n\
         plt.savefig('artifacts/by_category.png')",
    );
    assert_eq!(r["status"], "ok", "{r:#}");
    let stderr = r["stderr"].as_str().unwrap_or("");
    assert!(
        !stderr.contains("Glyph"),
        "a Hangul glyph is missing: {stderr}"
    );
    let png = c.get(&format!("/v1/sessions/{sid}/artifacts/by_category.png"));
    assert_eq!(png.status(), 200);
    assert!(png.bytes().unwrap().starts_with(b"\x89PNG"));

    // The native analytics: the helper is in the image, enters the session's sandbox under
    // Docker's seccomp and capabilities, and finds NanumGothic on the read-only root.
    let p = c.post_json(
        &format!("/v1/sessions/{sid}/profile"),
        &json!({"path": "data/sales.csv"}),
    );
    assert_eq!(p.status(), 200);
    let p: Value = p.json().unwrap();
    assert_eq!(
        (p["rows"].as_u64(), p["columns"][0]["dtype"].as_str()),
        (Some(2726), Some("date"))
    );
    let meta = json!({"calculations": [{"id": "t", "value": synth.total, "formula": "SUM(금액)",
        "source_file": "./data/sales.csv", "importance": "high"}]});
    c.put_file(
        &sid,
        "artifacts/calculation_metadata.json",
        meta.to_string().into_bytes(),
    );
    let v: Value = c
        .post_json(&format!("/v1/sessions/{sid}/verify"), &json!({}))
        .json()
        .unwrap();
    assert_eq!(v["verified"], 1, "{v:#}");
    let chart = c.post_json(
        &format!("/v1/sessions/{sid}/charts"),
        &json!({"kind": "bar", "source": {"path": "data/sales.csv", "x": "카테고리", "y": "금액"},
            "title": "카테고리별 매출", "output": "artifacts/native"}),
    );
    assert_eq!(chart.status(), 200, "{}", chart.text().unwrap_or_default());

    // The real seed (third-party data, only beside the project's own clone).
    if let Some(real) = data::real_fresh_food() {
        let sid = c.create_session();
        assert_eq!(c.put_file(&sid, "data/seed.csv", real).status(), 201);
        let out = c.run_ok(
            &sid,
            "import pandas as pd\nprint(int(pd.read_csv('data/seed.csv')['금액'].sum()))",
        );
        assert_eq!(out.trim(), data::REAL_TOTAL.to_string());
    }

    // The compat API writes in /app (a volume): works on the read-only root.
    let r = c.post_json(
        "/execute",
        &json!({"code": "open('artifacts/x.txt','w').write('1')\nprint('ok')"}),
    );
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    assert_eq!(v["status"], "completed", "{v:#}");
    assert!(c.dirs.path().join("app/artifacts/x.txt").exists());

    // Docker's HEALTHCHECK (the healthcheck binary) calls it healthy.
    let healthy = c.wait_docker_healthy(Duration::from_secs(40));
    eprintln!("docker run -> Docker healthy: {healthy:?}");
    // The read-only root costs nothing at start: matplotlib found a writable font cache.
    let logs = c.logs();
    assert!(!logs.contains("is not a writable directory"), "{logs}");
    assert!(!logs.contains("could not lock a shared path"), "{logs}");
}

#[test]
fn the_build_hosts_ca_is_in_no_layer() {
    let Some(image) = image() else { return };
    // The certificates this host trusts that Debian's bundle in the image does not (a
    // TLS-intercepting proxy's CA): the build used them as a secret; no layer may hold them.
    let Ok(host) = std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt") else {
        eprintln!("SKIPPED: no host CA bundle");
        return;
    };
    // Debian's bundle and the Mozilla bundles pip and certifi ship in the venv.
    let out = docker_out(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "sh",
        &image,
        "-c",
        "cat /etc/ssl/certs/ca-certificates.crt $(find /opt/dynamic-executor/venv -name cacert.pem)",
    ]);
    assert!(out.status.success());
    let in_image = String::from_utf8_lossy(&out.stdout).to_string();
    let host_only: Vec<String> = host
        .split("-----END CERTIFICATE-----")
        .filter_map(|pem| {
            // a full base64 line from the middle of each certificate identifies it
            let lines: Vec<&str> = pem.lines().filter(|l| l.len() == 64).collect();
            lines.get(lines.len() / 2).map(|l| l.to_string())
        })
        .filter(|line| !in_image.contains(line.as_str()))
        .collect();
    if host_only.is_empty() {
        eprintln!("this host trusts no certificate beyond Debian's: nothing to look for");
        return;
    }
    eprintln!("looking for {} host-only certificates", host_only.len());
    let patterns = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(patterns.path(), host_only.join("\n")).unwrap();
    // `docker save` writes every layer of the image (its history included).
    let cmd = format!(
        "{} save {image} | grep -a -c -F -f {}",
        common::container::docker().get_program().to_string_lossy(),
        patterns.path().display()
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &cmd])
        .output()
        .unwrap();
    let hits = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(
        hits,
        "0",
        "{} host-only certificates; found in a layer",
        host_only.len()
    );
}

/// One hostile session beside a canary, in one container: after every attack `/health` is 200
/// and the canary still computes with its state.
struct Arena {
    c: Container,
    canary: String,
}

impl Arena {
    fn new(args: &[&str]) -> Option<Arena> {
        let image = image()?;
        let c = Container::start(&image, &[], &[], args);
        c.wait_ready();
        let canary = c.create_session();
        c.run_ok(
            &canary,
            "import pandas as pd\nbase = pd.Series([40, 1]).sum()",
        );
        Some(Arena { c, canary })
    }

    fn attack(&self, name: &str, body: Value, check: impl Fn(&Value) -> bool) {
        let sid = self.c.create_session();
        let r = self.c.exec_with(&sid, &body);
        assert!(
            check(&r),
            "{name}: the attack was not stopped as expected: {r:#}"
        );
        let h = self
            .c
            .client
            .get(self.c.url("/health"))
            .timeout(Duration::from_secs(2))
            .send()
            .unwrap();
        assert_eq!(h.status(), 200, "{name}: /health after the attack");
        let r = self.c.exec(&self.canary, "print(int(base) + 1)");
        assert_eq!(
            r["stdout"], "42\n",
            "{name}: the canary after the attack: {r:#}"
        );
        self.c.delete_session(&sid);
    }
}

fn failed_with(r: &Value, types: &[&str]) -> bool {
    r["status"] != "ok" && types.contains(&r["error"]["type"].as_str().unwrap_or(""))
}

fn code(c: &str) -> Value {
    json!({ "code": c, "timeout_s": 20 })
}

#[test]
fn attack_families_inside_the_container() {
    let Some(a) = Arena::new(&[
        "--memory-limit-mb",
        "512",
        "--file-size-limit-mb",
        "64",
        "--disk-quota-mb",
        "32",
    ]) else {
        return;
    };
    let denied = ["PermissionError", "ProcessLookupError", "FileNotFoundError"];
    let zygote = a.c.get_json("/v1/info")["zygote"]["pid"].as_i64().unwrap();
    let canary_ws = a.c.run_ok(&a.canary, "import os\nprint(os.getcwd())");
    let canary_ws = canary_ws.trim();
    a.c.run_ok(&a.canary, "open('data/secret.txt','w').write('s3cr3t')");

    // processes
    a.attack(
        "fork bomb",
        json!({"code": "import os\nwhile True:\n    os.fork()", "timeout_s": 5}),
        |r| r["status"] != "ok",
    );
    a.attack(
        "kill pid 1 (the init)",
        code("import os\nos.kill(1, 9)"),
        |r| failed_with(r, &denied),
    );
    a.attack(
        "kill the zygote",
        code(&format!("import os\nos.kill({zygote}, 9)")),
        |r| failed_with(r, &denied),
    );
    a.attack("ptrace the zygote", code(&format!("import ctypes\nl = ctypes.CDLL(None, use_errno=True)\nprint(l.ptrace(16, {zygote}, 0, 0), ctypes.get_errno())")), |r| r["stdout"] == "-1 1\n");
    a.attack(
        "the init's environment",
        code("print(open('/proc/1/environ','rb').read())"),
        |r| failed_with(r, &denied),
    );
    // memory
    a.attack(
        "numpy memory bomb",
        code("import numpy as np\nx = np.ones((1 << 32,), dtype=np.float64)"),
        |r| r["status"] == "oom",
    );
    a.attack(
        "pure Python memory bomb",
        code("x = []\nwhile True:\n    x.append(' ' * (1 << 20))"),
        |r| r["status"] == "oom",
    );
    // file system
    a.attack(
        "another session's file",
        code(&format!(
            "print(open('{canary_ws}/data/secret.txt').read())"
        )),
        |r| failed_with(r, &denied),
    );
    a.attack(
        "/etc/shadow",
        code("print(open('/etc/shadow').read())"),
        |r| failed_with(r, &denied),
    );
    a.attack(
        "the read-only root",
        code("open('/usr/local/bin/dynamic-executor', 'ab')"),
        |r| failed_with(r, &["PermissionError", "OSError"]),
    );
    a.attack("one big file", code("with open('data/big.bin', 'wb') as f:\n    for _ in range(1024):\n        f.write(b'x' * (1 << 20))"), |r| r["error"]["message"].as_str().unwrap_or("").contains("File too large"));
    a.attack("many small files", json!({"code": "i = 0\nwhile True:\n    open(f'data/f{i}.bin', 'wb').write(b'x' * 65536)\n    i += 1", "timeout_s": 60}), |r| r["status"] == "disk_quota");
    a.attack(
        "a channel in /tmp",
        code("open('/tmp/dynexec-channel', 'w').write('x')"),
        |r| failed_with(r, &["PermissionError"]),
    );
    // network (host networking: the loopback is the host's)
    let port = a.c.port;
    a.attack(
        "the server's own port",
        code(&format!(
            "import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)"
        )),
        |r| failed_with(r, &["PermissionError"]),
    );
    a.attack(
        "the credentials endpoint",
        code("import socket\nsocket.create_connection(('169.254.170.2', 80), timeout=2)"),
        |r| failed_with(r, &["PermissionError"]),
    );
    a.attack("a UDP socket", code("import socket\nsocket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', 53))"), |r| failed_with(r, &["PermissionError"]));
}

#[test]
fn the_ecs_task_definitions_container_settings_run() {
    let Some(image) = image() else { return };
    // deploy/ecs/task-definition.json's read-only root, volumes, init, dropped capabilities and
    // environment, applied to `docker run` (its S3 bucket aside: there is no AWS here).
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/ecs/task-definition.json"
    );
    let def: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let c = &def["containerDefinitions"][0];
    assert_eq!(c["readonlyRootFilesystem"], true);
    assert_eq!(c["linuxParameters"]["initProcessEnabled"], true);
    let mounts: Vec<(String, String)> = c["mountPoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let (v, at) = (&m["sourceVolume"], &m["containerPath"]);
            (
                v.as_str().unwrap().to_string(),
                at.as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mounts: Vec<(&str, &str)> = mounts
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let mut opts = vec![];
    for cap in strs(&c["linuxParameters"]["capabilities"]["drop"]) {
        opts.extend(["--cap-drop", cap]);
    }
    let env: Vec<(String, String)> = c["environment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["value"].as_str().unwrap().to_string(),
            )
        })
        .filter(|(k, _)| k != "S3_BUCKET_NAME")
        .collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let ct = Container::start_mounted(&image, &mounts, &opts, &env, &[]);
    ct.wait_ready();
    let sid = ct.create_session();
    let r = ct.exec(
        &sid,
        "import matplotlib.pyplot as plt\nplt.bar(['가', '나'], [1, 2])\nplt.savefig('artifacts/c.png')\nprint('ok')",
    );
    assert_eq!(r["stdout"], "ok\n", "{r:#}");
    let v: Value = ct
        .post_json("/execute", &json!({"code": "print(2 + 2)"}))
        .json()
        .unwrap();
    assert_eq!(v["stdout"], "4\n", "{v:#}");
    // a drain with the definition's settings stores the session in the (local) store
    assert!(docker_out(&["stop", "-t", "30", &ct.name]).status.success());
    assert_eq!(ct.inspect("{{.State.ExitCode}}"), "0", "{}", ct.logs());
    let stored = ct
        .dirs
        .path()
        .join("store/local/dynamic-executor/drained")
        .join(&sid);
    assert!(stored.join("artifacts/c.png").is_file(), "{}", ct.logs());
}
