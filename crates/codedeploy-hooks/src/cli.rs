//! The same hook binary as a command-line tool: run the checks against a function version
//! from a laptop or a pipeline.

use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _, Parser, ValueEnum};
use tokio::time::Instant;

use crate::clients::Clients;
use crate::deployment::{Deployment, Phase};
use crate::hook::{Hook, Settings};
use crate::resolve::Named;
use crate::summary::{Outcome, Status, Summary};

/// Run this hook's checks against a Lambda function version, outside Lambda.
///
/// AWS credentials, region and AWS_ENDPOINT_URL come from the environment as for any AWS
/// tool. Exit status: 0 when all checks pass, 1 when one fails, 2 on bad usage or setup.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The function under test: a name or an ARN.
    #[arg(long, value_name = "NAME")]
    function: String,

    /// The version to test: a version number, not an alias (checks must run the new code).
    #[arg(long, value_name = "VERSION")]
    qualifier: String,

    /// The alias being shifted, for checks that look at it.
    #[arg(long, value_name = "ALIAS")]
    alias: Option<String>,

    /// The phase to pretend to be in.
    #[arg(long, value_enum)]
    phase: Option<PhaseArg>,

    /// Run only the checks whose name contains this text.
    #[arg(long, value_name = "TEXT")]
    filter: Option<String>,

    /// How to print the result on standard output.
    #[arg(long, value_enum, default_value_t = Format::Pretty)]
    format: Format,

    /// For a canary analysis: the version the alias pointed at before the deployment, the
    /// one the version under test is compared with.
    #[arg(long, value_name = "VERSION")]
    current_version: Option<String>,

    /// For a canary analysis: where its window starts, in RFC 3339 (e.g.
    /// 2026-11-30T22:00:00Z); without it, when the deployment of --report was created.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    since: Option<std::time::SystemTime>,

    /// Also report the verdict to CodeDeploy for this hook execution, as the Lambda would.
    #[arg(long, value_name = "DEPLOYMENT_ID:EXECUTION_ID")]
    report: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PhaseArg {
    /// Before the traffic shift (BeforeAllowTraffic).
    Pre,
    /// After the traffic shift (AfterAllowTraffic).
    Post,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// A readable table.
    Pretty,
    /// The summary as JSON.
    Json,
    /// JUnit XML, for CI systems.
    Junit,
}

const EXIT_FAILED: u8 = 1;
const EXIT_USAGE: u8 = 2;

pub(crate) async fn run(hook: Hook) -> ExitCode {
    crate::logging::init_cli();
    let bin = std::env::args()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "hook".to_owned());
    let matches = Args::command().bin_name(bin).get_matches();
    let args = match Args::from_arg_matches(&matches) {
        Ok(args) => args,
        Err(err) => err.exit(),
    };
    let report = match args.report.as_deref().map(parse_report_ids).transpose() {
        Ok(ids) => ids,
        Err(err) => return usage(&err.to_string()),
    };
    let (deployment, clients) = match target(&args, &hook, &report).await {
        Ok(found) => found,
        Err(err) => return usage(&err.to_string()),
    };
    let service = hook.into_service_with(clients, Settings::default());
    let log = crate::call::CallLog::default();
    let mut summary = service
        .evaluate(
            deployment,
            args.filter.as_deref(),
            None,
            Instant::now(),
            &log,
        )
        .await;
    summary.retried_calls = log.snapshot();
    if let Some((deployment_id, execution_id)) = &report {
        let verdict = crate::delivery::Verdict {
            deployment_id,
            execution_id,
            status: summary.status,
        };
        match service.deliver(&verdict, None).await {
            Ok(delivery) => summary.report = delivery,
            Err(err) => {
                print(&summary, args.format);
                eprintln!("error: {err}");
                return ExitCode::from(EXIT_USAGE);
            }
        }
    }
    print(&summary, args.format);
    match summary.status {
        Status::Succeeded => ExitCode::SUCCESS,
        Status::Failed => ExitCode::from(EXIT_FAILED),
    }
}

fn parse_time(text: &str) -> Result<std::time::SystemTime, String> {
    aws_smithy_types::DateTime::from_str(text, aws_smithy_types::date_time::Format::DateTime)
        .ok()
        .and_then(|t| std::time::SystemTime::try_from(t).ok())
        .ok_or_else(|| format!("`{text}` is not an RFC 3339 time such as 2026-11-30T22:00:00Z"))
}

/// Why the CLI cannot test anything: a flag, or the environment's AWS setup.
#[derive(Debug, thiserror::Error)]
enum SetupError {
    #[error(transparent)]
    Target(#[from] crate::Error),
    #[error(
        "no AWS region is configured: set AWS_REGION (or a profile's region with AWS_PROFILE)"
    )]
    NoRegion,
    #[error("no AWS credentials provider is configured")]
    NoCredentialsProvider,
    #[error(
        "no AWS credentials could be loaded ({0}): set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, \
         AWS_PROFILE, or log in with `aws sso login`"
    )]
    // aws-credential-types' CredentialsError, boxed: the crate is not a direct dependency.
    Credentials(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error(
        "--report `{0}` is not DEPLOYMENT_ID:EXECUTION_ID (the two ids of the lifecycle event)"
    )]
    ReportIds(String),
}

/// What the flags say to test, and the clients to test it with.
async fn target(
    args: &Args,
    hook: &Hook,
    report: &Option<(String, String)>,
) -> Result<(Deployment, Clients), SetupError> {
    let named = Named::parse(
        "--function/--qualifier",
        &format!("{}:{}", args.function, args.qualifier),
    )?;
    let mut deployment = Deployment::new(named.function.name.clone(), named.version.clone())
        .with_phase(match args.phase {
            Some(PhaseArg::Pre) => Phase::PreTraffic,
            Some(PhaseArg::Post) => Phase::PostTraffic,
            None => hook.configured_phase().unwrap_or(Phase::Unknown),
        });
    deployment.alias = args.alias.clone();
    deployment.deployment_id = report.as_ref().map(|(d, _)| d.clone());
    deployment.current_version = args.current_version.clone();
    deployment.created = args.since;
    let clients = setup().await?;
    // The function is invoked by name in the configured region: an ARN of another region
    // would test a different function.
    let home = crate::function_ref::Home {
        region: clients.codedeploy.config().region().map(|r| r.to_string()),
        account: None,
    };
    named.check_home("--function", &home)?;
    Ok((deployment, clients))
}

/// The clients, once the environment gives a region and credentials: without them every
/// check would fail for a reason that is not the function's.
async fn setup() -> Result<Clients, SetupError> {
    use aws_sdk_lambda::config::ProvideCredentials as _;
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .http_client(crate::clients::https_client())
        .load()
        .await;
    if config.region().is_none() {
        return Err(SetupError::NoRegion);
    }
    let Some(credentials) = config.credentials_provider() else {
        return Err(SetupError::NoCredentialsProvider);
    };
    credentials
        .provide_credentials()
        .await
        .map_err(|e| SetupError::Credentials(Box::new(e)))?;
    Ok(Clients::from_conf(&config))
}

fn usage(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_USAGE)
}

fn parse_report_ids(value: &str) -> Result<(String, String), SetupError> {
    match value.split_once(':') {
        Some((d, e)) if !d.is_empty() && !e.is_empty() => Ok((d.to_owned(), e.to_owned())),
        _ => Err(SetupError::ReportIds(value.to_owned())),
    }
}

fn print(summary: &Summary, format: Format) {
    let text = match format {
        Format::Pretty => summary.table(),
        Format::Json => serde_json::to_string_pretty(summary).unwrap_or_default() + "\n",
        Format::Junit => junit(summary),
    };
    print!("{text}");
}

/// The summary as JUnit XML: one test suite, one test case per check.
pub(crate) fn junit(summary: &Summary) -> String {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let suite_name = match &summary.deployment {
        Some(d) if d.phase == Phase::Unknown => d.qualified_target(),
        Some(d) => format!("{} {}", d.phase, d.qualified_target()),
        None => "hook".to_owned(),
    };
    let mut suite = TestSuite::new(suite_name);
    for check in &summary.checks {
        let mut status = match (check.outcome, check.dry_run) {
            (Outcome::Passed, _) => TestCaseStatus::success(),
            (Outcome::Skipped, _) | (_, true) => TestCaseStatus::skipped(),
            (Outcome::Failed | Outcome::TimedOut, _) => {
                TestCaseStatus::non_success(NonSuccessKind::Failure)
            }
            (Outcome::Panicked | Outcome::Cancelled, _) => {
                TestCaseStatus::non_success(NonSuccessKind::Error)
            }
        };
        if let Some(message) = &check.message {
            status.set_message(message.as_str());
        }
        let mut case = TestCase::new(check.name.as_str(), status);
        case.set_time(check.duration);
        case.set_classname("codedeploy-hooks");
        suite.add_test_case(case);
    }
    if let (Some(reason), true) = (&summary.reason, summary.checks.is_empty()) {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        status.set_message(reason.as_str());
        suite.add_test_case(TestCase::new("hook", status));
    }
    suite.set_time(summary.duration);
    let mut report = Report::new("codedeploy-hooks");
    report.add_test_suite(suite);
    report
        .to_string()
        .unwrap_or_else(|e| format!("<!-- could not write JUnit XML: {e} -->\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_ids_need_both_parts() {
        assert_eq!(
            parse_report_ids("d-1:e-2").unwrap(),
            ("d-1".into(), "e-2".into())
        );
        assert!(parse_report_ids("d-1")
            .unwrap_err()
            .to_string()
            .contains("DEPLOYMENT_ID:EXECUTION_ID"));
        assert!(parse_report_ids(":x").is_err());
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        Args::command().debug_assert();
    }
}
