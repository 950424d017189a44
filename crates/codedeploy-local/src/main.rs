//! `codedeploy-local`: rehearse a gradual Lambda deployment from a SAM template on this
//! machine (`deploy`), or serve the CodeDeploy and Lambda APIs to SDKs and scripts (`serve`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr as _;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use codedeploy_local::{
    prepare_stack, Binaries, FaultSpec, Options, Progress, RehearsalOptions, StackOutcome,
    StackPlan, StackStatus, StandIn, Template, Traffic,
};
use indicatif::{ProgressBar, ProgressStyle};

/// Rehearse gradual Lambda deployments, hooks included, on one machine.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build the template's functions and run its deployment: PreTraffic hook, traffic
    /// shifting, PostTraffic hook, alarms and rollback. Exits 0 only when it succeeds.
    Deploy(DeployArgs),
    /// Serve the CodeDeploy and Lambda APIs (point AWS_ENDPOINT_URL at it) until Ctrl-C.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
struct Common {
    /// The SAM template.
    #[arg(long, default_value = "template.yaml")]
    template: PathBuf,
    /// Take prebuilt binaries from this folder instead of running cargo build.
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,
    /// Build the functions with --release.
    #[arg(long)]
    release: bool,
    /// Inject a fault: OPERATION:FAULT[:TIMES]. OPERATION is any operation served, e.g.
    /// put-status, get-deployment, get-application-revision, invoke, get-alias; FAULT is
    /// throttle, 5xx, delay=MILLIS, stall (no answer) or reset (connection dropped); TIMES
    /// a number (default 1) or `always`. E.g. put-status:throttle:2, invoke:stall:always.
    #[arg(long, value_name = "SPEC", value_parser = FaultSpec::from_str)]
    fault: Vec<FaultSpec>,
    /// A template parameter's value instead of its default (e.g. ErrorsThreshold=1000, as
    /// `sam deploy --parameter-overrides` sets it); repeatable.
    #[arg(long, value_name = "KEY=VAL", value_parser = parse_env)]
    parameter: Vec<(String, String)>,
    /// Where the functions' logs go (one file per function).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "target/codedeploy-local/logs"
    )]
    log_dir: PathBuf,
    /// Permissions: `enforce` refuses every call the template's roles do not allow, as AWS
    /// does; `report` lets them through and lists them; `off` checks nothing.
    #[arg(long, value_name = "MODE", default_value = "enforce", value_parser = codedeploy_local::iam::Mode::from_str)]
    iam: codedeploy_local::iam::Mode,
}

#[derive(Debug, Args)]
struct DeployArgs {
    #[command(flatten)]
    common: Common,
    /// A function to deploy (logical id); repeatable. Without it, every function with an
    /// enabled DeploymentPreference is deployed at once, as a stack update deploys them.
    #[arg(long, value_name = "LOGICAL_ID")]
    function: Vec<String>,
    /// The deployment type, instead of the template's (e.g. AllAtOnce, Linear10PercentEvery1Minute).
    #[arg(long = "type", value_name = "DEPLOYMENT_TYPE")]
    deployment_type: Option<String>,
    /// How much faster than real the deployment's clock runs.
    #[arg(long, default_value_t = 60.0, value_name = "N", value_parser = time_scale)]
    time_scale: f64,
    /// An environment variable of the new versions only (e.g. HELLO_FAULT=error), or of one
    /// function's new version only (LOGICAL_ID.HELLO_FAULT=error); repeatable.
    #[arg(long, value_name = "KEY=VAL", value_parser = parse_env)]
    target_env: Vec<(String, String)>,
    /// An environment variable of the current versions only (e.g. HELLO_FAULT=flaky:0.01, a
    /// baseline for the canary analysis), or of one function's (LOGICAL_ID.NAME=VALUE);
    /// repeatable.
    #[arg(long, value_name = "KEY=VAL", value_parser = parse_env)]
    current_env: Vec<(String, String)>,
    /// Invoke the alias this many times per second during the deployment.
    #[arg(long, value_name = "RATE")]
    traffic: Option<f64>,
    /// The payload of the synthetic traffic.
    #[arg(long, value_name = "JSON", default_value = r#"{"name": "traffic"}"#)]
    traffic_payload: String,
    /// Send the synthetic traffic as HTTP GET requests to this route (e.g. /hello?name=load),
    /// as API Gateway would, instead of --traffic-payload.
    #[arg(long, value_name = "PATH")]
    traffic_route: Option<String>,
    /// Execution environments (processes) per version of the deployed function.
    #[arg(long, default_value_t = 1, value_name = "N")]
    environments: usize,
    /// Build the current version from this git ref (the new one is the working tree).
    #[arg(long, value_name = "REF")]
    current_git_ref: Option<String>,
    /// Write the timeline and the outcome as JSON to this file (- for standard output).
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Deliver each hook event twice, as Lambda sometimes does.
    #[arg(long)]
    duplicate_hook_deliveries: bool,
    /// Write the deployment's picture to this file: one self-contained HTML page (traffic
    /// weight, per-version invocations, errors and p99, alarms, hooks, the verdict).
    #[arg(long, value_name = "PATH.html")]
    report: Option<PathBuf>,
    /// Break-glass: deploy past the alarms, as CreateDeployment's overrideAlarmConfiguration
    /// does: `none` watches no alarm, `ALARM[,ALARM]` (logical ids) only those. Recorded on
    /// each timeline and in the report.
    #[arg(long, value_name = "none|ALARMS")]
    override_alarms: Option<String>,
    /// Go on when an alarm cannot be read (CodeDeploy's role may not DescribeAlarms it), as
    /// overrideAlarmConfiguration's ignorePollAlarmFailure does.
    #[arg(long)]
    ignore_poll_alarm_failure: bool,
    /// Check the calls made on the deployer's behalf (roles passed, the version published,
    /// the deployment created) against this IAM policy, e.g. deployer-policy.json.
    #[arg(long, value_name = "FILE")]
    deployer_policy: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    common: Common,
    /// The port to listen on (127.0.0.1; 0 for any free port).
    #[arg(long, default_value_t = 4590)]
    port: u16,
    /// Publish no functions, even if the template exists.
    #[arg(long)]
    no_functions: bool,
    /// How much faster than real deployments made with CreateDeployment run.
    #[arg(long, default_value_t = 60.0, value_name = "N", value_parser = time_scale)]
    time_scale: f64,
    /// An environment variable of the new version (2) only; repeatable.
    #[arg(long, value_name = "KEY=VAL", value_parser = parse_env)]
    target_env: Vec<(String, String)>,
    /// An environment variable of the current version (1) only; repeatable.
    #[arg(long, value_name = "KEY=VAL", value_parser = parse_env)]
    current_env: Vec<(String, String)>,
    /// Execution environments (processes) per version of the deployed function: how many
    /// invocations of it run at once.
    #[arg(long, default_value_t = 1, value_name = "N")]
    environments: usize,
    /// Ids per ListDeployments page. AWS does not document its page size; 100 here, smaller
    /// to test a pipeline's pagination.
    #[arg(long, default_value_t = Options::default().list_page_size, value_name = "N")]
    list_page_size: usize,
    /// Finished deployments kept (GetDeployment, ListDeployments, the live view); the
    /// oldest go first. Running ones are always kept.
    #[arg(long, default_value_t = Options::default().keep_deployments, value_name = "N")]
    keep_deployments: usize,
    /// Write the credentials of each function's role to this AWS shared credentials file,
    /// one profile per function: with `AWS_SHARED_CREDENTIALS_FILE=PATH` and `--profile
    /// FUNCTION`, the AWS CLI or an SDK calls the stand-in as that function's role, checked
    /// as it is. They are the stand-in's own, worthless anywhere else.
    #[arg(long, value_name = "PATH")]
    credentials_file: Option<PathBuf>,
}

/// The template, with the parameters given on the command line.
fn load_template(common: &Common) -> Result<Template, codedeploy_local::Error> {
    let mut template = Template::load(&common.template)?;
    for (key, value) in &common.parameter {
        if !template.parameters.contains_key(key) {
            let known: Vec<&str> = template.parameters.keys().map(String::as_str).collect();
            return Err(codedeploy_local::Error::Template {
                path: common.template.clone(),
                reason: format!(
                    "--parameter {key}: it declares no such parameter with a default; it has {}",
                    known.join(", ")
                ),
            });
        }
        template.parameters.insert(key.clone(), value.clone());
    }
    Ok(template)
}

fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("`{text}` is not KEY=VALUE")),
    }
}

fn main() -> ExitCode {
    match runtime() {
        Ok(runtime) => runtime.block_on(run()),
        Err(err) => {
            eprintln!("error: cannot start tokio's runtime: {err}");
            ExitCode::from(2)
        }
    }
}

/// One worker thread (unless `TOKIO_WORKER_THREADS` says otherwise): the function processes
/// are the parallel part; the stand-in's own work per invoke is small, and a second worker
/// only adds wake-ups between the two. Measured (`strace -c`, one environment): 14.8 system
/// calls per invoke with two workers (2.3 `futex`, 0.7 `write` to wake the other), 11.1 with
/// one; side by side with `ab -k -c 64` (2026-12-07, before the Runtime API had its own
/// thread), 8,000-9,100 -> 8,800-9,800 invokes/s with one environment and 17,300-18,800 ->
/// 19,800-20,400 with four.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        builder.worker_threads(1);
    }
    builder.enable_all().build()
}

async fn run() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Deploy(args) => deploy(args).await,
        Command::Serve(args) => serve(args).await,
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(2)
        }
    }
}

/// The stand-in, on the flags shared by both commands and `options`.
async fn start(common: &Common, mut options: Options) -> Result<StandIn, codedeploy_local::Error> {
    std::fs::create_dir_all(&common.log_dir).ok();
    options.log_dir = Some(common.log_dir.clone());
    options.iam = common.iam;
    options.runtime_api_thread = true;
    let local = StandIn::start(options).await?;
    for spec in &common.fault {
        local
            .faults()
            .inject(spec.operation, spec.fault, spec.times);
    }
    Ok(local)
}

fn binaries(common: &Common) -> Binaries {
    match &common.bin_dir {
        Some(dir) => Binaries::Dir(dir.clone()),
        None => Binaries::Build {
            release: common.release,
        },
    }
}

/// `--time-scale`: a number in [`codedeploy_local::TIME_SCALES`].
fn time_scale(value: &str) -> Result<f64, String> {
    let range = codedeploy_local::TIME_SCALES;
    match value.parse::<f64>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(format!(
            "must be a number from {} to {} (how much faster than real the clock runs)",
            range.start(),
            range.end()
        )),
    }
}

async fn deploy(args: DeployArgs) -> Result<ExitCode, codedeploy_local::Error> {
    let template = load_template(&args.common)?;
    let mut options = Options::default();
    options.time_scale = args.time_scale;
    options.address.set_port(0);
    let local = start(&args.common, options).await?;
    let mut stack = prepare_stack(&local, &template, &rehearsal_options(&args)?).await?;
    if deployer_refused(&stack) {
        return Ok(ExitCode::from(1));
    }
    for member in &mut stack.members {
        member.plan.duplicate_deliveries = args.duplicate_hook_deliveries;
    }
    let outcome = with_progress(&local, stack, args.time_scale).await;
    print_outcome(&outcome, args.time_scale, &args.common.log_dir);
    if let Err(message) = write_outputs(&local, &outcome, &args) {
        eprintln!("error: {message}");
        return Ok(ExitCode::from(2));
    }
    Ok(if outcome.status == StackStatus::UpdateComplete {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// What the flags ask of the rehearsal.
fn rehearsal_options(args: &DeployArgs) -> Result<RehearsalOptions, codedeploy_local::Error> {
    let mut options = RehearsalOptions::default();
    options.functions = args.function.clone();
    options.deployment_type = args.deployment_type.clone();
    options.time_scale = args.time_scale;
    options.target_env = args.target_env.clone();
    options.current_env = args.current_env.clone();
    options.binaries = binaries(&args.common);
    options.current_git_ref = args.current_git_ref.clone();
    options.environments = args.environments;
    options.alarm_override = alarm_override(args);
    if let Some(path) = &args.deployer_policy {
        let bad = |source: Box<dyn std::error::Error + Send + Sync>| {
            codedeploy_local::Error::DeployerPolicy {
                path: path.clone(),
                source,
            }
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(Box::new(e)))?;
        let name = path.display().to_string();
        let policy =
            codedeploy_local::iam::Policy::parse(&name, &text).map_err(|e| bad(Box::new(e)))?;
        options.deployer_policy = Some(policy);
    }
    if let (Some(rate), Some(route)) = (args.traffic, &args.traffic_route) {
        options.traffic = Some(Traffic::route(rate, "GET", route)?);
    } else if let Some(rate) = args.traffic {
        if let Err(source) = serde_json::from_str::<serde_json::Value>(&args.traffic_payload) {
            return Err(codedeploy_local::Error::TrafficPayload {
                payload: args.traffic_payload.clone(),
                source,
            });
        }
        options.traffic = Some(Traffic::new(
            rate,
            args.traffic_payload.clone().into_bytes(),
        ));
    }
    Ok(options)
}

/// `--override-alarms` and `--ignore-poll-alarm-failure` as `overrideAlarmConfiguration`.
fn alarm_override(args: &DeployArgs) -> Option<codedeploy_local::AlarmOverride> {
    let mut o = match args.override_alarms.as_deref() {
        None if !args.ignore_poll_alarm_failure => return None,
        None => codedeploy_local::AlarmOverride::only(Vec::new()),
        Some("none") => codedeploy_local::AlarmOverride::disabled(),
        Some(names) => codedeploy_local::AlarmOverride::only(
            names
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect(),
        ),
    };
    o.ignore_poll_alarm_failure = args.ignore_poll_alarm_failure;
    Some(o)
}

/// The calls the deployer's policy does not allow, told; whether any was refused (then the
/// stack update fails before CodeDeploy starts, and nothing is deployed).
fn deployer_refused(stack: &StackPlan) -> bool {
    let denials = &stack.deployer_denials();
    for denial in denials {
        let how = if denial.enforced {
            ""
        } else {
            " (let through)"
        };
        eprintln!("Deployer: {}{how}", denial.message());
    }
    if let Some(lacking) = codedeploy_local::iam::what_roles_lack(denials) {
        eprint!("{lacking}");
    }
    let Some(first) = denials.iter().find(|d| d.enforced) else {
        return false;
    };
    eprintln!(
        "Verdict: Failed before any deployment - the stack update would fail: the deployer may not perform {} on {}",
        first.action, first.resource
    );
    true
}

/// The widest a progress line may be, and its fixed part (spinner, function, bar, share).
const LINE_WIDTH: usize = 100;
const FUNCTION_WIDTH: usize = 24;
const MESSAGE_WIDTH: usize = LINE_WIDTH - FUNCTION_WIDTH - 36;
const PROGRESS_TEMPLATE: &str = "{spinner} {prefix:<24.bold} [{bar:20}] {pos:>3}% new  {msg}";

/// Run the stack update with one progress line per deployment: the function, the share of
/// its new version, the phase, the deployment clock and its alarms.
async fn with_progress(local: &StandIn, stack: StackPlan, time_scale: f64) -> StackOutcome {
    let lines = indicatif::MultiProgress::new();
    let style = ProgressStyle::with_template(PROGRESS_TEMPLATE)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let bars: Vec<ProgressBar> = stack
        .members
        .iter()
        .map(|m| {
            let bar = lines.add(ProgressBar::new(100).with_style(style.clone()));
            bar.set_prefix(shorten(&m.function, FUNCTION_WIDTH));
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        })
        .collect();
    // The engine reports on events only; the deployment clock shown ticks on its own.
    let states = std::sync::Mutex::new(vec![(String::from("Starting"), String::new()); bars.len()]);
    let started = std::time::Instant::now();
    let show = |index: usize, states: &[(String, String)]| {
        let t = Duration::from_secs(started.elapsed().mul_f64(time_scale).as_secs());
        let (phase, alarms) = &states[index];
        let message = format!("{phase} t={t:.0?} {alarms}");
        bars[index].set_message(shorten(&message, MESSAGE_WIDTH));
    };
    let mut observer = |index: usize, p: &Progress| {
        bars[index].set_position(u64::from(p.percent));
        let firing = p
            .alarms
            .iter()
            .filter(|(_, state)| *state == codedeploy_local::AlarmState::Alarm)
            .count();
        let alarms = match firing {
            0 => String::new(),
            n => format!("{n} alarm(s) in ALARM"),
        };
        let mut states = states.lock().unwrap_or_else(|e| e.into_inner());
        states[index] = (p.phase.clone(), alarms);
        show(index, &states);
    };
    let deployment = local.deploy_stack(stack, &mut observer);
    tokio::pin!(deployment);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let outcome = loop {
        tokio::select! {
            outcome = &mut deployment => break outcome,
            _ = tick.tick() => {
                let states = states.lock().unwrap_or_else(|e| e.into_inner());
                (0..bars.len()).for_each(|i| show(i, &states));
            }
        }
    };
    bars.iter().for_each(ProgressBar::finish_and_clear);
    outcome
}

/// `text` cut to `width` characters, with an ellipsis when cut.
fn shorten(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// An output the flags asked for that could not be written.
#[derive(Debug, thiserror::Error)]
enum OutputError {
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot draw the report {}: {source}", path.display())]
    Report {
        path: PathBuf,
        #[source]
        source: codedeploy_local::Error,
    },
}

/// `--json` and `--report`.
fn write_outputs(
    local: &StandIn,
    outcome: &StackOutcome,
    args: &DeployArgs,
) -> Result<(), OutputError> {
    let write = |path: &PathBuf, text: String| {
        std::fs::write(path, text).map_err(|source| OutputError::Write {
            path: path.clone(),
            source,
        })
    };
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&outcome_json(outcome)).unwrap_or_default();
        if path.as_os_str() == "-" {
            println!("{json}");
        } else {
            write(path, json + "\n")?;
        }
    }
    if let Some(path) = &args.report {
        let command = ("command".to_owned(), command_line());
        let drawn = match outcome.deployments.as_slice() {
            [one] => local.report(&one.deployment_id, &[command]),
            _ => local.stack_report(outcome, &[command]),
        };
        let html = drawn.map_err(|source| OutputError::Report {
            path: path.clone(),
            source,
        })?;
        write(path, html)?;
        eprintln!("The picture: {}", path.display());
    }
    Ok(())
}

/// The stack's verdict and events, and each deployment; with one deployment its outcome's
/// fields are at the top too, as they were before stacks.
fn outcome_json(outcome: &StackOutcome) -> serde_json::Value {
    let mut json = match outcome.deployments.as_slice() {
        [one] => serde_json::to_value(&one.outcome).unwrap_or_default(),
        _ => serde_json::json!({}),
    };
    json["stack"] = serde_json::json!({"status": outcome.status, "events": outcome.events});
    let deployments: Vec<serde_json::Value> = outcome
        .deployments
        .iter()
        .map(|d| {
            let mut entry = serde_json::to_value(d).unwrap_or_default();
            entry["timeline"] = serde_json::to_value(&d.outcome.timeline).unwrap_or_default();
            entry["denials"] = serde_json::to_value(&d.outcome.denials).unwrap_or_default();
            entry
        })
        .collect();
    json["deployments"] = serde_json::Value::Array(deployments);
    json
}

/// The command line as run, for the report, with the values of variables and parameters
/// whose names suggest a secret hidden.
fn command_line() -> String {
    let args: Vec<String> = std::env::args().map(|arg| masked(&arg)).collect();
    args.join(" ")
}

/// An argument with the value of a secret-looking `NAME=VALUE` (alone, or after `--flag=`)
/// replaced by `***`.
fn masked(arg: &str) -> String {
    let secret = |name: &str| {
        let name = name.to_ascii_uppercase();
        ["SECRET", "TOKEN", "PASSWORD", "KEY", "CREDENTIAL"]
            .iter()
            .any(|word| name.contains(word))
    };
    let (flag, assignment) = match arg.strip_prefix("--").and_then(|a| a.split_once('=')) {
        Some((flag, value)) => (format!("--{flag}="), value),
        None => (String::new(), arg),
    };
    match assignment.split_once('=') {
        Some((name, _)) if !name.starts_with('-') && secret(name) => format!("{flag}{name}=***"),
        _ => arg.to_owned(),
    }
}

fn print_outcome(outcome: &StackOutcome, time_scale: f64, log_dir: &std::path::Path) {
    let several = outcome.deployments.len() > 1;
    let mut denials = Vec::new();
    for d in &outcome.deployments {
        print_deployment(d, several, time_scale);
        denials.extend(d.outcome.denials.iter().cloned());
    }
    if let Some(lacking) = codedeploy_local::iam::what_roles_lack(&denials) {
        eprint!("{lacking}");
    }
    if several || outcome.status != StackStatus::UpdateComplete {
        eprintln!("Stack events:");
        for e in &outcome.events {
            let reason = e.reason.lines().next().unwrap_or_default();
            eprintln!(
                "  {:<28} {:<28} {}",
                e.logical_id,
                e.status,
                shorten(reason, 160)
            );
        }
    }
    eprintln!("Stack: {}", outcome.status.as_str());
    if outcome.status != StackStatus::UpdateComplete {
        eprintln!("The functions' logs are in {}", log_dir.display());
    }
}

/// One deployment's timeline, requests and verdict.
fn print_deployment(d: &codedeploy_local::StackDeployment, several: bool, time_scale: f64) {
    let outcome = &d.outcome;
    let of = if several {
        format!(" of {}", d.function)
    } else {
        String::new()
    };
    eprintln!(
        "Timeline{of} {} (deployment clock; real time x{time_scale}):",
        outcome.deployment_id
    );
    for e in &outcome.timeline {
        eprintln!(
            "  {:>8.1}s  {:<22} {}",
            e.deployment_seconds, e.event, e.detail
        );
    }
    eprintln!(
        "Requests through the alias: {} ({} ran the new version)",
        outcome.requests_through_alias, outcome.target_requests_through_alias
    );
    let final_version = d.final_version.as_deref().unwrap_or("split");
    match &outcome.error {
        None => eprintln!("Verdict{of}: {:?}", outcome.status),
        Some((code, message)) => eprintln!(
            "Verdict{of}: {:?}, rolled back - {code}: {message}",
            outcome.status
        ),
    }
    if several {
        eprintln!("  {} ends on version {final_version}", d.function);
    }
}

async fn serve(args: ServeArgs) -> Result<ExitCode, codedeploy_local::Error> {
    let mut options = Options::default();
    options.time_scale = args.time_scale;
    options.address.set_port(args.port);
    options.list_page_size = args.list_page_size.max(1);
    options.keep_deployments = args.keep_deployments.max(1);
    let local = start(&args.common, options).await?;
    if !args.no_functions && args.common.template.is_file() {
        // The rehearsal's set-up, without running it: versions 1 (current, on the alias) and
        // 2 (new) of each gradual function, the hooks, and their deployment groups, so that
        // `aws deploy create-deployment` runs the deployment as the template describes it.
        let template = load_template(&args.common)?;
        let mut options = RehearsalOptions::default();
        options.binaries = binaries(&args.common);
        options.time_scale = args.time_scale;
        options.target_env = args.target_env.clone();
        options.current_env = args.current_env.clone();
        options.environments = args.environments;
        let stack = prepare_stack(&local, &template, &options).await?;
        register_groups(&local, &stack);
        for endpoint in local.http_endpoints() {
            eprintln!("HTTP: {endpoint}");
        }
    }
    if let Some(path) = &args.credentials_file {
        if let Err(source) = write_credentials(&local, path) {
            let path = path.clone();
            eprintln!("error: {}", OutputError::Write { path, source });
            local.shutdown().await;
            return Ok(ExitCode::from(2));
        }
    }
    println!("AWS_ENDPOINT_URL={}", local.endpoint());
    eprintln!(
        "codedeploy-local serves CodeDeploy and Lambda on {}; Ctrl-C stops it",
        local.endpoint()
    );
    eprintln!("Watch its deployments at {}/ui", local.endpoint());
    stop_signal().await;
    // In order: the server, deployments, deliveries and invocations, then every function
    // process, killed and reaped.
    local.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// Each gradual function's deployment group, registered and told.
fn register_groups(local: &StandIn, stack: &StackPlan) {
    for member in &stack.members {
        let plan = &member.plan;
        local.register_deployment_group(plan);
        let spec = &plan.spec;
        let hooks: Vec<&str> = spec.hooks.iter().map(|(_, f)| f.as_str()).collect();
        eprintln!(
            "{}: versions 1 and 2, alias {} on 1; hooks {}; deployment group {}/{} ({}, time x{})",
            spec.function_name,
            spec.alias,
            hooks.join(", "),
            spec.application_name,
            spec.group_name,
            plan.config,
            plan.time_scale
        );
    }
}

/// The role credentials, one profile per function, readable by the owner only.
fn write_credentials(local: &StandIn, path: &std::path::Path) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    for (function, c) in local.role_credentials() {
        writeln!(
            file,
            "[{function}]\naws_access_key_id = {}\naws_secret_access_key = {}\naws_session_token = {}\n",
            c.access_key_id, c.secret_access_key, c.session_token
        )?;
    }
    Ok(())
}

/// Ctrl-C or SIGTERM (what `kill`, systemd and CI runners send).
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{masked, shorten, FUNCTION_WIDTH, LINE_WIDTH, MESSAGE_WIDTH, PROGRESS_TEMPLATE};

    #[test]
    fn a_progress_line_fits_in_100_columns() {
        let fixed = PROGRESS_TEMPLATE
            .replace("{spinner}", "x")
            .replace("{prefix:<24.bold}", &"f".repeat(FUNCTION_WIDTH))
            .replace("{bar:20}", &"=".repeat(20))
            .replace("{pos:>3}", "100")
            .replace("{msg}", "");
        assert!(!fixed.contains('{'), "{fixed}");
        assert!(
            fixed.chars().count() + MESSAGE_WIDTH <= LINE_WIDTH,
            "{fixed}"
        );
        let long = shorten(&"HelloWorldFunction".repeat(5), FUNCTION_WIDTH);
        assert_eq!(long.chars().count(), FUNCTION_WIDTH);
        assert!(long.ends_with('…'));
        assert_eq!(shorten("Starting", MESSAGE_WIDTH), "Starting");
    }

    #[test]
    fn secret_looking_values_are_masked_in_the_reported_command_line() {
        assert_eq!(masked("API_KEY=hunter2"), "API_KEY=***");
        assert_eq!(
            masked("--target-env=DB_PASSWORD=hunter2"),
            "--target-env=DB_PASSWORD=***"
        );
        assert_eq!(masked("HELLO_FAULT=error"), "HELLO_FAULT=error");
        assert_eq!(masked("--time-scale=5"), "--time-scale=5");
        assert_eq!(masked("template.yaml"), "template.yaml");
    }
}
