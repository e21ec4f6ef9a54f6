//! `dynamic-executor-analytics`: with no arguments, the server's helper (one JSON request on
//! stdin, entering the sandbox policy it carries before any data file is opened; one JSON reply
//! on stdout); with a subcommand, the CLI for pipelines that have the files but no server.

use clap::{Parser, Subcommand};
use dynexec_analytics::workspace::Root;
use dynexec_analytics_protocol::{
    ChartRequest, HelperInput, ProfileFormat, ProfileRequest, Reply, Request, VerifyRequest,
};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// The helper's request is small (a spec, not data): more is refused.
const MAX_INPUT: u64 = 16 << 20;

#[derive(Parser)]
#[command(
    name = "dynamic-executor-analytics",
    about = "Profile data files, verify calculation metadata, draw charts"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Profile a data file (CSV, Parquet, JSON/NDJSON, xlsx).
    Profile {
        path: String,
        /// Paths are resolved inside this directory.
        #[arg(long, default_value = ".")]
        root: PathBuf,
        #[arg(long, default_value = "json")]
        format: String,
        #[arg(long, default_value_t = 5)]
        top: usize,
    },
    /// Recompute every calculation of calculation_metadata.json and write citations.json.
    /// Exit status: 0 all verified or unverifiable, 3 when any value mismatches, 2 on error.
    Verify {
        #[arg(long, default_value = "artifacts/calculation_metadata.json")]
        metadata: String,
        #[arg(long, default_value = ".")]
        root: PathBuf,
        /// Where citations.json goes ("" for nowhere).
        #[arg(long)]
        output: Option<String>,
        #[arg(long, default_value_t = 0.01)]
        tolerance: f64,
    },
    /// Draw a chart from a JSON spec (the body of POST /v1/sessions/{id}/charts; `-` for stdin).
    Chart {
        spec: String,
        #[arg(long, default_value = ".")]
        root: PathBuf,
        /// A TrueType font with Hangul (default: NanumGothic found through fontconfig).
        #[arg(long, env = "EXECUTOR_CHART_FONT")]
        font: Option<String>,
    },
    /// Print the Korean font charts use (exit 1 when there is none).
    Font,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None => helper(),
        Some(c) => match cli_command(c) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
    }
}

fn reply(r: &Reply) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let written = serde_json::to_writer(&mut out, r).is_ok() && out.flush().is_ok();
    if written {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

fn helper() -> ExitCode {
    let mut raw = Vec::new();
    if let Err(e) = std::io::stdin().take(MAX_INPUT).read_to_end(&mut raw) {
        eprintln!("reading the request: {e}");
        return ExitCode::from(2);
    }
    let input: HelperInput = match serde_json::from_slice(&raw) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("the request is not a helper input: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(policy) = &input.policy {
        // Everything after this line runs as the session: its uid, limits, Landlock, seccomp.
        if let Err(e) = dynexec_sandbox::enter(policy) {
            eprintln!("entering the sandbox: {e}");
            return ExitCode::from(2);
        }
    }
    let root = match Root::new(std::path::Path::new(".")) {
        Ok(r) => r,
        Err(e) => return reply(&Reply::Error(e.to_helper())),
    };
    reply(&guarded(&input.request, &root, input.font.as_deref()))
}

/// A panic inside polars or plotters on a strange input is that request's error, not a crash.
fn guarded(request: &Request, root: &Root, font: Option<&str>) -> Reply {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        dynexec_analytics::run(request, root, font)
    }))
    .unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown".into());
        Reply::Error(dynexec_analytics_protocol::HelperError {
            code: "bad_request".into(),
            message: format!("the input could not be processed: {why}"),
        })
    })
}

fn cli_command(c: Command) -> Result<ExitCode, String> {
    let (request, root, font) = match c {
        Command::Font => {
            return Ok(match dynexec_analytics::chart::font::discover() {
                Some(p) => {
                    println!("{}", p.display());
                    ExitCode::SUCCESS
                }
                None => ExitCode::from(1),
            })
        }
        Command::Profile {
            path,
            root,
            format,
            top,
        } => {
            let format = match format.as_str() {
                "json" => ProfileFormat::Json,
                "markdown" | "md" => ProfileFormat::Markdown,
                other => return Err(format!("--format json|markdown, not {other}")),
            };
            (
                Request::Profile(ProfileRequest { path, format, top }),
                root,
                None,
            )
        }
        Command::Verify {
            metadata,
            root,
            output,
            tolerance,
        } => (
            Request::Verify(VerifyRequest {
                metadata,
                output,
                tolerance,
            }),
            root,
            None,
        ),
        Command::Chart { spec, root, font } => {
            let text = if spec == "-" {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .map_err(|e| e.to_string())?;
                s
            } else {
                std::fs::read_to_string(&spec).map_err(|e| format!("{spec}: {e}"))?
            };
            let req: ChartRequest =
                serde_json::from_str(&text).map_err(|e| format!("{spec}: {e}"))?;
            (Request::Chart(req), root, font)
        }
    };
    let root = Root::new(&root).map_err(|e| e.to_string())?;
    let answer = guarded(&request, &root, font.as_deref());
    let mut out = std::io::stdout().lock();
    let code = match &answer {
        Reply::Error(e) => {
            eprintln!("error: {} ({})", e.message, e.code);
            return Ok(ExitCode::from(2));
        }
        Reply::Profile(p) if p.format == ProfileFormat::Markdown => {
            let _ = writeln!(out, "{}", p.markdown.as_deref().unwrap_or_default());
            return Ok(ExitCode::SUCCESS);
        }
        Reply::Verify(v) if v.mismatched > 0 => ExitCode::from(3),
        _ => ExitCode::SUCCESS,
    };
    // The reply's body, without the helper protocol's `{"verify": …}` wrapper.
    let body = match serde_json::to_value(&answer).map_err(|e| e.to_string())? {
        serde_json::Value::Object(mut m) if m.len() == 1 => m
            .values_mut()
            .next()
            .map(serde_json::Value::take)
            .unwrap_or_default(),
        other => other,
    };
    serde_json::to_writer_pretty(&mut out, &body).map_err(|e| e.to_string())?;
    let _ = writeln!(out);
    Ok(code)
}
