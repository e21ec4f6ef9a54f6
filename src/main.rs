use clap::Parser;
use dynamic_executor::config::Config;

fn main() {
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
