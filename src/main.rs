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
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::EnvFilter::try_from_env("EXECUTOR_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(std::io::stdout),
        )
        .with(otel_layer)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(dynamic_executor::run(config));
    drop(runtime);
    if let Some(p) = &otlp {
        dynamic_executor::telemetry::shutdown(p);
    }
    if let Err(e) = result {
        tracing::error!(error = %e, "fatal");
        std::process::exit(1);
    }
}
