//! The crate's one error enum.

use std::path::PathBuf;

/// What went wrong while setting up or driving the stand-in.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listener could not be bound.
    #[error("cannot listen on {address}: {source}; choose another address or port")]
    Bind {
        /// The address asked for.
        address: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The thread the functions' Runtime API is served on could not be started.
    #[error("cannot start the thread of the functions' Runtime API: {source}; the system is out of threads or memory")]
    ApiThread {
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A function binary does not exist.
    #[error(
        "the function binary {path} does not exist; build it first (cargo build -p <package>)"
    )]
    MissingBinary {
        /// The path given.
        path: PathBuf,
    },
    /// No such function, version or alias.
    #[error("{what} not found; {hint}")]
    NotFound {
        /// What was looked up.
        what: String,
        /// What to do.
        hint: String,
    },
    /// The template cannot be used.
    #[error("template {path}: {reason}")]
    Template {
        /// The template file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A field of the template has the wrong shape.
    #[error("template {path}: {field}: {source}; see the SAM or CloudFormation reference of that property")]
    TemplateField {
        /// The template file.
        path: PathBuf,
        /// The field's path, e.g. `Resources.Fn.Properties.Timeout`.
        field: String,
        /// What the reader expected.
        #[source]
        source: serde_json::Error,
    },
    /// A value of the template cannot be resolved locally.
    #[error("template {path}: {field}: {source}")]
    Unresolved {
        /// The template file.
        path: PathBuf,
        /// Where the value is, e.g. `Pre.Environment.Variables.TARGET`.
        field: String,
        /// What could not be resolved.
        #[source]
        source: crate::sam::template::resolve::ResolveError,
    },
    /// An alarm of the template cannot be evaluated locally.
    #[error("alarm {alarm}: {field} {reason}; codedeploy-local evaluates AWS/Lambda Errors, Invocations, Throttles and Duration alarms")]
    UnsupportedAlarm {
        /// The alarm's logical id.
        alarm: String,
        /// The property, e.g. `MetricName`.
        field: String,
        /// Why it cannot be evaluated.
        reason: String,
    },
    /// Building the functions failed.
    #[error("building the functions failed: {0}")]
    Build(#[source] BuildError),
    /// A deployment type that is neither predefined nor a valid custom one.
    #[error(
        "deployment type `{name}` {why}; use AllAtOnce, Canary<P>Percent<M>Minutes or \
         Linear<P>PercentEvery<M>Minutes (e.g. Canary10Percent5Minutes), optionally prefixed \
         by CodeDeployDefault.Lambda"
    )]
    DeploymentType {
        /// The type as given.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A version that is not a number.
    #[error("version `{version}` of {function} is not a number; Lambda versions are 1, 2, 3, ...")]
    Version {
        /// The function.
        function: String,
        /// The version as given.
        version: String,
    },
    /// A synthetic-traffic route that is not a valid request.
    #[error("traffic route `{route}`: {source}")]
    TrafficRoute {
        /// `METHOD path?query`.
        route: String,
        /// Why `http` refused it.
        #[source]
        source: http::Error,
    },
    /// A synthetic-traffic payload that is not JSON.
    #[error("--traffic-payload `{payload}` is not JSON: {source}")]
    TrafficPayload {
        /// The payload as given.
        payload: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A trigger or alarm action of the template points at nothing.
    #[error("{place} {why}; notifications go to an AWS::SNS::Topic of the template (Ref) or an SNS topic ARN")]
    Notification {
        /// Where, e.g. `alarm AliasErrorsAlarm: AlarmActions`.
        place: String,
        /// What is wrong.
        why: String,
    },
    /// A deployer policy file that cannot be read, or is no IAM policy document.
    #[error("deployer policy {}: {source}; give an IAM policy document (JSON), e.g. deployer-policy.json", path.display())]
    DeployerPolicy {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A command-line value out of its range.
    #[error("{flag} {value} {why}")]
    Usage {
        /// The flag, e.g. `--time-scale`.
        flag: &'static str,
        /// The value given.
        value: String,
        /// What it must be.
        why: &'static str,
    },
}

/// Why the template's functions could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// cargo or git could not be started.
    #[error("cannot run {program} in {dir}: {source}; is it installed and on PATH?")]
    Spawn {
        /// `cargo` or `git`.
        program: &'static str,
        /// Where it was to run.
        dir: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// `cargo build` exited with an error.
    #[error("cargo build failed in {dir} ({status}); see its output above")]
    Cargo {
        /// Where it ran.
        dir: PathBuf,
        /// How it exited.
        status: std::process::ExitStatus,
    },
    /// cargo built, but not the binary the template names.
    #[error("cargo built no binary named {binary}{at}; check Metadata.BuildProperties.Binary")]
    NoBinary {
        /// The binary.
        binary: String,
        /// ` at REF` when built from a git ref, else empty.
        at: String,
    },
    /// A git command failed (building the current version from a ref).
    #[error("git {args} failed: {stderr}")]
    Git {
        /// Its arguments.
        args: String,
        /// What it printed on standard error.
        stderr: String,
    },
    /// The template's folder cannot be resolved.
    #[error("{path}: {source}")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}
