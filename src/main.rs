use clap::Parser;
use dynamic_executor::config::Config;

fn main() {
    // The capability probe's helper mode: single-threaded, prints JSON, exits.
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--sandbox-probe") {
        let uid = args.get(2).and_then(|u| u.parse().ok()).unwrap_or(0);
        let caps = dynexec_sandbox::probe::probe(uid);
        println!("{}", serde_json::to_string(&caps).expect("serialisable"));
        return;
    }
    // The analytics CLI (`dynamic-executor verify --metadata … --root …`, `profile`, `chart`):
    // the same helper the server runs for the REST endpoints, here without a sandbox.
    if let Some(cmd @ ("profile" | "verify" | "chart")) = args.get(1).map(String::as_str) {
        use std::os::unix::process::CommandExt as _;
        let bin = std::env::var_os("EXECUTOR_ANALYTICS_BIN")
            .map(std::path::PathBuf::from)
            .or_else(|| {
                std::env::current_exe()
                    .ok()
                    .and_then(|p| p.parent().map(|d| d.join("dynamic-executor-analytics")))
            })
            .unwrap_or_else(|| "dynamic-executor-analytics".into());
        let e = std::process::Command::new(&bin)
            .arg(cmd)
            .args(&args[2..])
            .exec();
        eprintln!("{}: {e}", bin.display());
        std::process::exit(2);
    }
    let config = Config::parse();
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    // Built before the runtime: the OTLP exporter's HTTP client is a blocking one.
    let otlp = match dynamic_executor::telemetry::otlp_from_env() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let otel_layer = otlp
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("dynamic-executor")));
    // Log lines go to stdout from a thread of their own, in batches (src/log_writer.rs): a
    // write to a stdout nobody drains (a container runtime's log driver in blocking mode behind
    // a slow sink) would otherwise stop the runtime thread that logs, and with it `/health`.
    // What a stalled stdout cannot take is dropped and counted, not waited for; what is pending
    // is written when `log_flush` drops at exit. A line carries its own span, not the list of
    // its parents (it repeated the same fields: twice the bytes and the formatting, on every
    // request).
    let (log_writer, log_flush) = dynamic_executor::log_writer::batched(std::io::stdout());
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::EnvFilter::try_from_env("EXECUTOR_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_span_list(false)
                .with_writer(log_writer),
        )
        .with(otel_layer)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    // On a worker thread, not in `block_on` on this one: the accept loop then hands a new
    // connection to its task on the same thread (three thread hand-offs per new connection
    // otherwise: the I/O driver's thread wakes this one to accept, which wakes a worker to
    // read; ~0.1 ms of a compat call that opens a connection per request).
    let result = runtime.block_on(async {
        tokio::spawn(dynamic_executor::run(config))
            .await
            .unwrap_or_else(|e| {
                Err(std::io::Error::other(format!(
                    "the server task failed: {e}"
                )))
            })
    });
    drop(runtime);
    if let Some(p) = &otlp {
        dynamic_executor::telemetry::shutdown(p);
    }
    if let Err(e) = result {
        tracing::error!(error = %e, "fatal");
        drop(log_flush);
        std::process::exit(1);
    }
}
