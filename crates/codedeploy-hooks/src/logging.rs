//! Log output: JSON lines on Lambda (CloudWatch parses them), readable lines on a terminal.

use tracing_subscriber::EnvFilter;

/// On Lambda: JSON, level from `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG` (default `info`).
/// Does nothing when the program installed its own subscriber.
pub(crate) fn init_lambda() {
    let level = std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("AWS_LAMBDA_LOG_LEVEL"))
        .unwrap_or_else(|_| "info".to_owned());
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(EnvFilter::new(level.to_ascii_lowercase()))
        .with_current_span(false)
        .with_target(false)
        .without_time() // CloudWatch stamps each line
        .with_ansi(false)
        .try_init();
}

/// In the CLI: to standard error (standard output carries the result), `RUST_LOG` or warn.
pub(crate) fn init_cli() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
