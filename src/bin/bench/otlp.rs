//! What OTLP export costs a `print(1)` (#13): two servers in one run, one exporting every span
//! to a loopback receiver (tests/otlp_receiver.py: decodes the protobuf with
//! `opentelemetry-proto`), one not; alternating rounds on keep-alive connections.

use super::{create, exec, free_port, ms, pct, row, start, start_env, table_header, tools_bin};
use reqwest::blocking::Client;
use std::process::{Command, Stdio};
use std::time::Instant;

pub fn run(quick: bool) {
    let port = free_port();
    let receiver = Command::new(tools_bin("python3"))
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/otlp_receiver.py"
        ))
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut receiver) = receiver else {
        println!("(no tools venv: the OTLP figures are skipped; make bench installs it)");
        return;
    };
    std::thread::sleep(std::time::Duration::from_millis(800));
    let endpoint = format!("http://127.0.0.1:{port}");
    let plain = start("otlp-off", 64600, &[]);
    let traced = start_env(
        "otlp-on",
        64800,
        &[],
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str())],
    );
    let client = Client::new();
    let (sa, sb) = (create(&client, &plain.base), create(&client, &traced.base));
    let (mut off, mut on) = (vec![], vec![]);
    let per_round = if quick { 60 } else { 200 };
    for _ in 0..3 {
        for (base, sid, out) in [(&plain.base, &sa, &mut off), (&traced.base, &sb, &mut on)] {
            for _ in 0..20 {
                exec(&client, base, sid, "print(1)");
            }
            for _ in 0..per_round {
                let t0 = Instant::now();
                exec(&client, base, sid, "print(1)");
                out.push(ms(t0.elapsed()));
            }
        }
    }
    let ratio = pct(&mut on, 50.0) / pct(&mut off, 50.0);
    table_header();
    row("`print(1)`, OTLP export off", &mut off, "ms", "—");
    row(
        &format!("`print(1)`, every span exported over OTLP/HTTP (p50 ratio {ratio:.2}×)"),
        &mut on,
        "ms",
        "—",
    );
    drop((plain, traced));
    let _ = receiver.kill();
    let _ = receiver.wait();
}
