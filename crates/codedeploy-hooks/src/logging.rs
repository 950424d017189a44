//! Log output: JSON lines on Lambda (CloudWatch parses them), readable lines on a terminal.
//!
//! On Lambda the level and format follow Lambda's advanced logging controls as
//! `lambda_runtime` reads them: `AWS_LAMBDA_LOG_LEVEL` first, then `RUST_LOG`, then `info`;
//! `AWS_LAMBDA_LOG_FORMAT`. One difference: without `AWS_LAMBDA_LOG_FORMAT` the lines are
//! JSON (lambda_runtime writes text), since this crate's logs are structured fields.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// On Lambda: JSON (or text with `AWS_LAMBDA_LOG_FORMAT=Text`), level as described above.
/// Does nothing when the program installed its own subscriber.
pub(crate) fn init_lambda() {
    let settings = LambdaLogs::from_values(
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref(),
        std::env::var("RUST_LOG").ok().as_deref(),
        std::env::var("AWS_LAMBDA_LOG_FORMAT").ok().as_deref(),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(&settings.filter))
        .with_target(false)
        .without_time() // CloudWatch stamps each line
        .with_ansi(false);
    let _ = if settings.json {
        builder.json().with_current_span(false).try_init()
    } else {
        builder.try_init()
    };
}

/// In the CLI: to standard error (standard output carries the result), `RUST_LOG` or warn,
/// colours only on a terminal. aws-config's own warnings (e.g. the EC2 metadata service it
/// asks for a region) are left out by default: the CLI says itself what is missing.
pub(crate) fn init_cli() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,aws_config=error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// The log settings on Lambda.
#[derive(Debug, PartialEq, Eq)]
struct LambdaLogs {
    filter: String,
    json: bool,
}

impl LambdaLogs {
    fn from_values(
        lambda_level: Option<&str>,
        rust_log: Option<&str>,
        format: Option<&str>,
    ) -> Self {
        let filter = match lambda_level.map(str::trim).filter(|l| !l.is_empty()) {
            // Lambda's levels are TRACE, DEBUG, INFO, WARN, ERROR and FATAL.
            Some(level) if level.eq_ignore_ascii_case("fatal") => "error".to_owned(),
            Some(level) => level.to_ascii_lowercase(),
            None => rust_log.unwrap_or("info").to_owned(),
        };
        LambdaLogs {
            filter,
            json: !format.is_some_and(|f| f.trim().eq_ignore_ascii_case("text")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::LambdaLogs;

    #[test]
    fn lambdas_logging_controls_win_over_rust_log() {
        let logs = LambdaLogs::from_values(Some("DEBUG"), Some("warn"), Some("JSON"));
        assert_eq!(
            logs,
            LambdaLogs {
                filter: "debug".into(),
                json: true
            }
        );
        let fatal = LambdaLogs::from_values(Some("FATAL"), None, None);
        assert_eq!(fatal.filter, "error");
        let rust_log = LambdaLogs::from_values(None, Some("codedeploy_hooks=trace"), None);
        assert_eq!(
            rust_log,
            LambdaLogs {
                filter: "codedeploy_hooks=trace".into(),
                json: true
            }
        );
        assert!(!LambdaLogs::from_values(None, None, Some("Text")).json);
        assert_eq!(LambdaLogs::from_values(None, None, None).filter, "info");
    }
}
