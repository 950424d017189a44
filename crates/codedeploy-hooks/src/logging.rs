//! Log output: JSON lines on Lambda (CloudWatch parses them), readable lines on a terminal.
//!
//! On Lambda the level and format follow Lambda's advanced logging controls as
//! `lambda_runtime` reads them: `AWS_LAMBDA_LOG_LEVEL` first, then `RUST_LOG`, then `info`;
//! `AWS_LAMBDA_LOG_FORMAT`. One difference: without `AWS_LAMBDA_LOG_FORMAT` the lines are
//! JSON (lambda_runtime writes text), since this crate's logs are structured fields.
//!
//! `RUST_LOG` takes `target=level` directives (`info,aws_config=error`), not the span and
//! field filters of tracing-subscriber's `EnvFilter`: those need a regex engine, a few
//! hundred kilobytes a hook would ship for a filter. A value it cannot read falls back to
//! the default level, and the hook says so in its first log line.

use std::io::IsTerminal as _;

use tracing_subscriber::filter::Targets;

/// `directives` as a filter, or `fallback` and why when they are not `target=level` ones.
fn targets(directives: &str, fallback: &str) -> (Targets, Option<String>) {
    match directives.parse::<Targets>() {
        Ok(targets) => (targets, None),
        Err(err) => (
            fallback.parse().unwrap_or_default(),
            Some(format!(
                "the log filter `{directives}` is not target=level directives ({err}); logging at `{fallback}`"
            )),
        ),
    }
}

/// On Lambda: JSON (or text with `AWS_LAMBDA_LOG_FORMAT=Text`), level as described above.
/// Does nothing when the program installed its own subscriber.
pub(crate) fn init_lambda() {
    let settings = LambdaLogs::from_values(
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref(),
        std::env::var("RUST_LOG").ok().as_deref(),
        std::env::var("AWS_LAMBDA_LOG_FORMAT").ok().as_deref(),
    );
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let (filter, refused) = targets(&settings.filter, "info");
    let fmt = tracing_subscriber::fmt::layer()
        .with_target(false)
        .without_time() // CloudWatch stamps each line
        .with_ansi(false);
    let registry = tracing_subscriber::registry().with(filter);
    let initialized = if settings.json {
        registry
            .with(fmt.json().with_current_span(false))
            .try_init()
    } else {
        registry.with(fmt).try_init()
    };
    if let (Ok(()), Some(why)) = (initialized, refused) {
        tracing::warn!("{why}");
    }
}

/// In the CLI: to standard error (standard output carries the result), `RUST_LOG` or warn,
/// colours only on a terminal. aws-config's own warnings (e.g. the EC2 metadata service it
/// asks for a region) are left out by default: the CLI says itself what is missing.
pub(crate) fn init_cli() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    const DEFAULT: &str = "warn,aws_config=error";
    let rust_log = std::env::var("RUST_LOG").ok();
    let (filter, refused) = targets(rust_log.as_deref().unwrap_or(DEFAULT), DEFAULT);
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let initialized = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .try_init();
    if let (Ok(()), Some(why)) = (initialized, refused) {
        tracing::warn!("{why}");
    }
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
    use super::{targets, LambdaLogs};

    #[test]
    fn target_level_directives_are_read_and_others_fall_back_saying_why() {
        let (filter, refused) = targets("info,aws_config=error", "warn");
        assert!(refused.is_none());
        assert!(filter.would_enable("codedeploy_hooks", &tracing::Level::INFO));
        assert!(!filter.would_enable("aws_config::imds", &tracing::Level::WARN));
        let (filter, refused) = targets("hook[span{x=1}]=debug", "warn");
        assert!(refused.is_some_and(|why| why.contains("logging at `warn`")));
        assert!(!filter.would_enable("codedeploy_hooks", &tracing::Level::INFO));
        assert!(filter.would_enable("codedeploy_hooks", &tracing::Level::WARN));
    }

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
