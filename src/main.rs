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
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EXECUTOR_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stdout)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = runtime.block_on(dynamic_executor::run(config)) {
        tracing::error!(error = %e, "fatal");
        std::process::exit(1);
    }
}
