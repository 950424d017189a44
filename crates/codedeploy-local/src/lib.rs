//! `codedeploy-local`: a local stand-in for the parts of AWS CodeDeploy, Lambda and
//! CloudWatch that a gradual Lambda deployment uses, so hooks, traffic shifting, alarms and
//! rollbacks can be rehearsed on one machine.
//!
//! The APIs are served over HTTP in the services' own wire formats: point any AWS SDK or the
//! AWS CLI at [`StandIn::endpoint`] (`AWS_ENDPOINT_URL`) and it works unchanged. Functions run
//! for real: each version is its binary in its own process, speaking the Lambda Runtime API
//! that the stand-in serves.
//!
//! The code is laid out by service: `lambda` (functions, their processes and
//! the Runtime API), `codedeploy` (deployments and the engine), `alarms`, `cloudwatch`
//! (metrics), `sam` (templates and rehearsals), `picture` (a deployment drawn: the report of
//! [`StandIn::report`] and the live view at `/ui`) and `api` (the HTTP face: wire formats,
//! errors, faults).
//!
//! ```no_run
//! use codedeploy_local::{Options, StandIn, VersionSpec};
//!
//! # async fn demo() -> Result<(), codedeploy_local::Error> {
//! let local = StandIn::start(Options::default()).await?;
//! local.publish_version("hello", "1", VersionSpec::new("target/debug/hello"))?;
//! local.set_alias("hello", "live", "1")?;
//! let answer = local.invoke("hello", Some("live"), br#"{"name": "Ada"}"#.to_vec()).await?;
//! assert_eq!(answer.function_error, None);
//! println!("AWS_ENDPOINT_URL={}", local.endpoint());
//! # Ok(()) }
//! ```

mod alarms;
mod api;
mod body;
mod clock;
mod cloudwatch;
mod codedeploy;
mod error;
mod faults;
pub mod iam;
mod invocation;
mod lambda;
mod markup;
mod picture;
mod request_id;
mod sam;
mod sync;
mod tasks;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

pub use crate::alarms::{Alarm, AlarmState};
pub use crate::codedeploy::config::{Step, TrafficConfig};
pub use crate::codedeploy::notifications::{AlarmTopics, Notifications, Trigger};
pub use crate::codedeploy::plan::{
    AlarmOverride, DeploymentOutcome, DeploymentPlan, Progress, Traffic, HOOK_TIMEOUT,
};
pub use crate::codedeploy::spec::{DeploymentSpec, DeploymentStatus, HookStatus, RevisionForm};
pub use crate::codedeploy::stack::{StackDeployment, StackEvent, StackOutcome, StackStatus};
pub use crate::codedeploy::timeline::{About, ErrorCode, Event, HookStep, TimelineEvent};
pub use crate::error::{BuildError, Error};
pub use crate::faults::{BadFaultSpec, Fault, FaultSpec, Faults, Operation, ALWAYS, STALL};
pub use crate::invocation::InvocationRecord;
pub use crate::lambda::{Alias, InvocationLog, InvokeResult, VersionSpec, LATEST};
pub use crate::sam::build::Binaries;
pub use crate::sam::options::{RehearsalOptions, CURRENT_VERSION, TARGET_VERSION};
pub use crate::sam::rehearsal::{prepare, prepare_stack, StackMember, StackPlan};
pub use crate::sam::template::{
    AlarmProperties, Dimension, Expr, ExprError, InlinePolicy, Preference, ResolveError, Resolver,
    RoleProperties, Template, TemplateAlias, TemplateApi, TemplateFunction, TriggerConfiguration,
};
pub use clock::TIME_SCALES;

use crate::codedeploy::plan::DeploymentPlan as Plan;
use crate::codedeploy::CodeDeploy;
use crate::lambda::Lambda;
use crate::request_id::new_request_id;
use crate::sync::lock;

/// Where and as what the stand-in runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// The address to serve the AWS APIs on (default `127.0.0.1:0`, any free port).
    pub address: SocketAddr,
    /// The region in ARNs and given to functions (default `us-east-1`).
    pub region: String,
    /// The account id in ARNs (default `000000000000`).
    pub account_id: String,
    /// A folder for the functions' logs, one file per function; none by default.
    pub log_dir: Option<PathBuf>,
    /// Most API connections open at once (default 512); more wait to be accepted, so held
    /// sockets cannot use up the file descriptors functions need.
    pub max_connections: usize,
    /// How long an API connection may sit without sending a request (idle keep-alive, or a
    /// half-sent request head) before it is closed (default 30 s).
    pub idle_timeout: Duration,
    /// Ids per `ListDeployments` page (default 100; AWS does not document its page size).
    pub list_page_size: usize,
    /// How long an API request's body may take to arrive once its head has (default 30 s);
    /// then it is answered 408 and its connection closed.
    pub request_timeout: Duration,
    /// How much faster than real the stand-in's clock runs for what no deployment owns:
    /// Lambda's retries of asynchronous invocations made through the API (default 1). A
    /// deployment's hooks are retried on the deployment's own clock
    /// ([`DeploymentPlan::time_scale`]).
    pub time_scale: f64,
    /// How many finished deployments are kept for GetDeployment, ListDeployments and the
    /// live view (default 100; the oldest go first). Running ones are always kept. A kept
    /// canary with a watch holds about 19 KB (its timeline: a watch round every few
    /// seconds), so the default bounds them near 2 MB.
    pub keep_deployments: usize,
    /// How many asynchronous (`Event`) invocations may be under way at once, retries
    /// included (default 10,000); past it, Invoke answers `TooManyRequestsException`.
    pub max_async_events: usize,
    /// How the calls functions make with their roles' credentials are checked against the
    /// roles' policies (default [`iam::Mode::Enforce`]). Functions published without a role,
    /// and callers the stand-in gave no credentials, are not checked.
    pub iam: iam::Mode,
    /// Serve the functions' Runtime API on a thread of its own (default `false`; the
    /// `codedeploy-local` binary sets it): a function's `/next` and `/response` are then
    /// answered at once, not behind the API's clients, which with one execution environment
    /// is most of an invoke's time. That thread runs on the real clock: leave it off in
    /// tests on tokio's paused clock.
    pub runtime_api_thread: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            log_dir: None,
            max_connections: 512,
            idle_timeout: Duration::from_secs(30),
            list_page_size: 100,
            request_timeout: Duration::from_secs(30),
            time_scale: 1.0,
            keep_deployments: 100,
            max_async_events: 10_000,
            iam: iam::Mode::default(),
            runtime_api_thread: false,
        }
    }
}

/// A running stand-in. [`StandIn::shutdown`] stops the server, every task it started and
/// every function process, and waits for them; dropping it tells them all to stop, and they
/// do as soon as the runtime runs them.
pub struct StandIn {
    endpoint: String,
    lambda: Arc<Lambda>,
    codedeploy: Arc<CodeDeploy>,
    /// CloudWatch's store: Lambda's metrics and the EMF records functions print.
    metrics: Arc<cloudwatch::Metrics>,
    faults: Arc<Faults>,
    tasks: tasks::Tasks,
    /// The API server's connection bounds, which the alias endpoints share.
    limits: api::Limits,
    http_endpoints: std::sync::Mutex<Vec<String>>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.tasks.stop();
    }
}

impl StandIn {
    /// Start serving the APIs.
    ///
    /// # Errors
    /// [`Error::Bind`] when the address cannot be listened on; [`Error::ApiThread`] when the
    /// Runtime API's thread (`Options::runtime_api_thread`) cannot be started.
    pub async fn start(options: Options) -> Result<StandIn, Error> {
        let bind_error = |source| Error::Bind {
            address: options.address.to_string(),
            source,
        };
        let listener = tokio::net::TcpListener::bind(options.address)
            .await
            .map_err(bind_error)?;
        let tasks = tasks::Tasks::default();
        let address = listener.local_addr().map_err(bind_error)?;
        let endpoint = format!("http://{address}");
        let metrics = Arc::new(cloudwatch::Metrics::default());
        let authority = Arc::new(iam::Authority::new(options.iam));
        let setup = lambda::Setup {
            region: options.region,
            account_id: options.account_id,
            endpoint: endpoint.clone(),
            log_dir: options.log_dir,
            time_scale: options.time_scale,
            max_async_events: options.max_async_events,
            clock: clock::WallClock::start(),
            iam: Arc::clone(&authority),
            api_host: lambda::ApiHost::new(options.runtime_api_thread)
                .map_err(|source| Error::ApiThread { source })?,
        };
        let lambda = Arc::new(Lambda::new(setup, Arc::clone(&metrics), tasks.clone()));
        let codedeploy = Arc::new(CodeDeploy::new(
            Arc::clone(&lambda),
            options.list_page_size,
            options.keep_deployments,
        ));
        let faults = Arc::new(Faults::default());
        let router = api::router(
            api::AppState {
                lambda: Arc::clone(&lambda),
                codedeploy: Arc::clone(&codedeploy),
                metrics: Arc::clone(&metrics),
                faults: Arc::clone(&faults),
                iam: Arc::clone(&authority),
            },
            options.request_timeout,
        );
        let limits = api::Limits {
            max_connections: options.max_connections,
            idle_timeout: options.idle_timeout,
        };
        tasks.spawn(api::serve(listener, router, limits));
        Ok(StandIn {
            limits,
            endpoint,
            lambda,
            codedeploy,
            metrics,
            faults,
            tasks,
            http_endpoints: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// Stop the stand-in: the server and its connections, every deployment, delivery and
    /// invocation under way, and every function process; returns once all have ended.
    pub async fn shutdown(&self) {
        self.tasks.stopped().await;
        self.lambda.api_host().stopped().await;
    }

    /// How many tasks the stand-in is running (server, function supervisors, deployments,
    /// deliveries, invocations): 0 after [`StandIn::shutdown`].
    pub fn running_tasks(&self) -> usize {
        self.tasks.running()
    }

    /// The APIs' state, for the router's in-process tests.
    #[cfg(test)]
    pub(crate) fn app_state(&self) -> api::AppState {
        api::AppState {
            lambda: Arc::clone(&self.lambda),
            codedeploy: Arc::clone(&self.codedeploy),
            metrics: Arc::clone(&self.metrics),
            faults: Arc::clone(&self.faults),
            iam: Arc::clone(self.lambda.iam()),
        }
    }

    /// The region and account id in ARNs.
    pub fn region_and_account(&self) -> (String, String) {
        let registry = &self.lambda.registry();
        (registry.region.clone(), registry.account_id.clone())
    }

    /// The base URL to give SDKs as `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Publish a version of a function (creating the function on its first version); its
    /// code becomes `$LATEST`'s too. Its process starts on the first invocation.
    ///
    /// # Errors
    /// [`Error::MissingBinary`] when the binary does not exist; [`Error::Version`] when the
    /// version is not a number.
    pub fn publish_version(
        &self,
        function_name: &str,
        version: &str,
        spec: VersionSpec,
    ) -> Result<(), Error> {
        self.lambda.publish(function_name, version, spec)
    }

    /// Point an alias at a version, with no traffic split.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the function or version does not exist.
    pub fn set_alias(
        &self,
        function_name: &str,
        alias: &str,
        version: &str,
    ) -> Result<Alias, Error> {
        self.lambda
            .registry()
            .set_alias(
                function_name,
                alias,
                version,
                Default::default(),
                None,
                None,
            )
            .map_err(|_| Error::NotFound {
                what: format!("function {function_name} version {version}"),
                hint: "publish the version first".into(),
            })
    }

    /// An alias as it is now.
    pub fn alias(&self, function_name: &str, alias: &str) -> Option<Alias> {
        self.lambda.registry().alias(function_name, alias)
    }

    /// Invoke a function synchronously, as Lambda `Invoke` with `RequestResponse`.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the function or qualifier does not exist.
    pub async fn invoke(
        &self,
        function_name: &str,
        qualifier: Option<&str>,
        payload: Vec<u8>,
    ) -> Result<InvokeResult, Error> {
        let resolved = self
            .lambda
            .registry()
            .resolve(function_name, qualifier)
            .map_err(|e| Error::NotFound {
                what: e.to_string(),
                hint: "publish the function's version first".into(),
            })?;
        Ok(self
            .lambda
            .invoke(resolved, payload.into(), None, new_request_id())
            .await)
    }

    /// Create a deployment (status `Created`) without running it: hooks are run by opening
    /// hook executions. Its application and deployment group are registered if new.
    pub fn create_deployment(&self, spec: DeploymentSpec) -> String {
        self.codedeploy.register_group_if_absent(&Plan::new(
            spec.clone(),
            TrafficConfig::AllAtOnce,
            1.0,
        ));
        self.codedeploy.deployments().create(spec).0
    }

    /// Open a hook execution for a lifecycle event of a deployment, and get the event that
    /// CodeDeploy sends the hook function: `{"DeploymentId", "LifecycleEventHookExecutionId"}`.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such deployment.
    pub fn start_hook_execution(
        &self,
        deployment_id: &str,
        lifecycle_event: &str,
    ) -> Result<(String, Value), Error> {
        self.codedeploy
            .deployments()
            .start_execution(deployment_id, lifecycle_event)
            .map(|opened| (opened.execution_id, opened.event))
            .ok_or_else(|| Error::NotFound {
                what: format!("deployment {deployment_id}"),
                hint: "create it with create_deployment".into(),
            })
    }

    /// The status a hook reported for an execution, if any yet.
    pub fn hook_status(&self, deployment_id: &str, execution_id: &str) -> Option<HookStatus> {
        self.codedeploy
            .deployments()
            .read(deployment_id, |r| {
                r.executions.get(execution_id).and_then(|e| e.status())
            })
            .flatten()
    }

    /// How many reports arrived for an execution (a refused second report counts).
    pub fn hook_reports(&self, deployment_id: &str, execution_id: &str) -> u32 {
        self.codedeploy
            .deployments()
            .read(deployment_id, |r| {
                r.executions.get(execution_id).map_or(0, |e| e.reports)
            })
            .unwrap_or(0)
    }

    /// The hook executions of a deployment: `(execution id, lifecycle event, status)`.
    pub fn hook_executions(
        &self,
        deployment_id: &str,
    ) -> Vec<(String, String, Option<HookStatus>)> {
        self.codedeploy
            .deployments()
            .read(deployment_id, |r| {
                r.executions
                    .iter()
                    .map(|(id, e)| (id.clone(), e.lifecycle_event.clone(), e.status()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Serve `function:alias` over HTTP on a new loopback port, as API Gateway (HTTP API,
    /// payload 2.0) would: returns the base URL, e.g. `http://127.0.0.1:41234`.
    ///
    /// # Errors
    /// [`Error::Bind`] when no port can be had.
    pub async fn serve_alias_http(
        &self,
        function_name: &str,
        alias: &str,
    ) -> Result<String, Error> {
        self.serve_api_http(None, function_name, alias).await
    }

    /// Serve `function:alias` over HTTP as [`StandIn::serve_alias_http`] does, as the HTTP API
    /// `api_id` when given: then API Gateway's invocation is checked against the function's
    /// resource-based policy (`AWS::Lambda::Permission`), and answered `500 {"message":
    /// "Internal Server Error"}` when it does not allow it, as API Gateway answers.
    ///
    /// # Errors
    /// [`Error::Bind`] when no port can be had.
    pub async fn serve_api_http(
        &self,
        api_id: Option<&str>,
        function_name: &str,
        alias: &str,
    ) -> Result<String, Error> {
        let endpoint = api::endpoint::Target {
            function: function_name.to_owned(),
            alias: alias.to_owned(),
            api_id: api_id.map(str::to_owned),
        };
        let url = api::endpoint::serve(Arc::clone(&self.lambda), endpoint, self.limits)
            .await
            .map_err(|source| Error::Bind {
                address: "127.0.0.1:0".into(),
                source,
            })?;
        let label = format!("{function_name}:{alias} at {url}");
        lock(&self.http_endpoints).push(label);
        Ok(url)
    }

    /// The aliases served over HTTP, as `function:alias at URL`.
    pub fn http_endpoints(&self) -> Vec<String> {
        lock(&self.http_endpoints).clone()
    }

    /// Run a deployment to its end: hooks, traffic steps, alarms, rollback. `observer` is
    /// called with the progress at every event and alarm evaluation. Its application and
    /// deployment group are registered if new.
    pub async fn deploy(
        &self,
        mut plan: DeploymentPlan,
        observer: &mut (dyn FnMut(&Progress) + Send),
    ) -> DeploymentOutcome {
        self.admit(&mut plan);
        self.codedeploy.run(plan, observer).await
    }

    /// A rehearsal's plan made ready to run: its configuration named as the API names it,
    /// its application and deployment group registered if new.
    fn admit(&self, plan: &mut DeploymentPlan) {
        plan.spec.config_name = plan.config.api_name();
        self.codedeploy.register_group_if_absent(plan);
    }

    /// Run a stack update's deployments at once, as CloudFormation starts them: the first
    /// that fails or is stopped fails the stack update, which stops those still running and
    /// puts every alias back on its previous version. `observer` is called with the index of
    /// the deployment in `stack.members` and its progress.
    pub async fn deploy_stack(
        &self,
        stack: StackPlan,
        observer: &mut (dyn FnMut(usize, &Progress) + Send),
    ) -> StackOutcome {
        let members: Vec<(String, DeploymentPlan)> = stack
            .members
            .into_iter()
            .map(|m| {
                let mut plan = m.plan;
                self.admit(&mut plan);
                (m.function, plan)
            })
            .collect();
        self.codedeploy.run_stack(&members, observer).await
    }

    /// Register a deployment group, so that `CreateDeployment` in it runs with the plan's
    /// configuration, alarms and time scale (the function, versions and hooks come from the
    /// AppSpec of each `CreateDeployment`).
    pub fn register_deployment_group(&self, plan: &DeploymentPlan) {
        self.codedeploy.register_group(plan);
    }

    /// The process ids running a function version (one per started execution environment),
    /// e.g. to measure their memory.
    pub fn pids(&self, function_name: &str, version: &str) -> Vec<u32> {
        self.lambda.registry().pids(function_name, version)
    }

    /// The execution environments a version has started: they start on demand, one per
    /// invocation in flight up to its `environments` (a process each, restarted when it
    /// dies), and run until the version is replaced or the stand-in stops.
    pub fn environments_started(&self, function_name: &str, version: &str) -> usize {
        self.lambda
            .registry()
            .environments_started(function_name, version)
    }

    /// Record every invocation served from now on, while the log is held. With no log open
    /// the stand-in keeps no record of invocations, so its memory stays flat under load.
    pub fn record_invocations(&self) -> InvocationLog {
        self.lambda.invocations().open(None)
    }

    /// A deployment's picture as one self-contained HTML page (inline SVG and CSS, no
    /// script, nothing fetched): the new version's traffic weight, each version's
    /// invocations, errors and p99 duration through the alias, alarm states, hook executions
    /// and watch rounds on the deployment's clock, the verdict, and what it ran with, to which
    /// `options` (name, value) are added. Drawn from the deployment as it stands: call it
    /// after [`StandIn::deploy`] returns for the whole story. `serve` shows the same picture
    /// live at `/ui`.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the stand-in has no such deployment.
    pub fn report(
        &self,
        deployment_id: &str,
        options: &[(String, String)],
    ) -> Result<String, Error> {
        let mut picture = picture::picture_of(&self.codedeploy, &self.metrics, deployment_id)
            .ok_or_else(|| Error::NotFound {
                what: format!("deployment {deployment_id}"),
                hint: "give the id StandIn::deploy returned in its outcome".into(),
            })?;
        picture.options.extend_from_slice(options);
        Ok(picture::report(&picture))
    }

    /// A stack update's picture as one self-contained HTML page: the stack's verdict and
    /// events, then one panel per function on one clock.
    ///
    /// # Errors
    /// [`Error::NotFound`] when a deployment of the outcome is no longer kept.
    pub fn stack_report(
        &self,
        outcome: &StackOutcome,
        options: &[(String, String)],
    ) -> Result<String, Error> {
        let mut panels = Vec::new();
        for d in &outcome.deployments {
            let mut picture =
                picture::picture_of(&self.codedeploy, &self.metrics, &d.deployment_id).ok_or_else(
                    || Error::NotFound {
                        what: format!("deployment {}", d.deployment_id),
                        hint: "draw the report before the stand-in forgets it".into(),
                    },
                )?;
            picture.options.extend_from_slice(options);
            panels.push((d.function.clone(), picture));
        }
        let events: Vec<(String, String, String)> = outcome
            .events
            .iter()
            .map(|e| (e.logical_id.clone(), e.status.clone(), e.reason.clone()))
            .collect();
        let verdict = format!("Stack: {}", outcome.status.as_str());
        Ok(picture::stack_report(&verdict, &events, panels))
    }

    /// The role credentials given to each function (by name), as an AWS shared credentials
    /// file would hold them: call the stand-in as a function's role, and be checked as it is.
    pub fn role_credentials(&self) -> std::collections::BTreeMap<String, iam::Credentials> {
        self.lambda.iam().sessions()
    }

    /// Faults to inject into the APIs.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }
}
