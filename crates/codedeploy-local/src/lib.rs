//! `codedeploy-local`: a local stand-in for the parts of AWS CodeDeploy, Lambda and
//! CloudWatch that a gradual Lambda deployment uses, so hooks, traffic shifting, alarms and
//! rollbacks can be rehearsed on one machine.
//!
//! The APIs are served over HTTP in the services' own wire formats: point any AWS SDK or the
//! AWS CLI at [`StandIn::endpoint`] (`AWS_ENDPOINT_URL`) and it works unchanged. Functions run
//! for real: each version is its binary in its own process, speaking the Lambda Runtime API
//! that the stand-in serves.
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
mod codedeploy_api;
mod config;
mod deployments;
mod endpoint;
mod engine;
mod error;
mod faults;
mod functions;
mod lambda_api;
mod notifications;
mod rehearsal;
mod runtime;
mod template;
mod wire;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;

pub use crate::alarms::{Alarm, AlarmState};
pub use crate::config::{Step, TrafficConfig};
pub use crate::deployments::{DeploymentSpec, DeploymentStatus, HookStatus, RevisionForm};
pub use crate::engine::{
    DeploymentOutcome, DeploymentPlan, Progress, TimelineEvent, Traffic, HOOK_TIMEOUT,
};
pub use crate::error::Error;
pub use crate::faults::{Fault, FaultSpec, Faults, Operation, ALWAYS, STALL};
pub use crate::functions::{Alias, InvocationRecord};
pub use crate::notifications::{AlarmTopics, Notifications, Trigger};
pub use crate::rehearsal::{prepare, Binaries, RehearsalOptions, CURRENT_VERSION, TARGET_VERSION};
pub use crate::runtime::{InvokeResult, VersionSpec};
pub use crate::template::{Preference, Resolver, Template, TemplateApi, TemplateFunction};

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
}

impl Default for Options {
    fn default() -> Self {
        Options {
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            log_dir: None,
        }
    }
}

/// Lock a mutex, recovering it if a thread panicked while holding it: every critical
/// section here leaves the data consistent, so a poisoned lock is still safe to use.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the HTTP handlers share.
pub(crate) struct Shared {
    pub(crate) registry: functions::Registry,
    pub(crate) deployments: deployments::Deployments,
    pub(crate) faults: Faults,
    /// Deployment groups `(application, group)` -> how `CreateDeployment` runs in them.
    pub(crate) groups: std::sync::Mutex<BTreeMap<(String, String), DeploymentPlan>>,
}

/// A running stand-in. Dropping it stops the server and every function process.
pub struct StandIn {
    endpoint: String,
    log_dir: Option<PathBuf>,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
    http_endpoints: std::sync::Mutex<Vec<(String, tokio::task::JoinHandle<()>)>>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.server.abort();
        for task in lock(&self.http_endpoints).drain(..) {
            task.1.abort();
        }
    }
}

impl StandIn {
    /// Start serving the APIs.
    ///
    /// # Errors
    /// [`Error::Bind`] when the address cannot be listened on.
    pub async fn start(options: Options) -> Result<StandIn, Error> {
        let listener = tokio::net::TcpListener::bind(options.address)
            .await
            .map_err(|source| Error::Bind {
                address: options.address.to_string(),
                source,
            })?;
        let address = listener.local_addr().map_err(|source| Error::Bind {
            address: options.address.to_string(),
            source,
        })?;
        let shared = Arc::new(Shared {
            registry: functions::Registry::new(options.region, options.account_id),
            deployments: deployments::Deployments::default(),
            faults: Faults::default(),
            groups: std::sync::Mutex::new(BTreeMap::new()),
        });
        let router = Router::new()
            .route("/", post(codedeploy_api::dispatch))
            .route(
                "/2015-03-31/functions/{name}/invocations",
                post(lambda_api::invoke),
            )
            .route(
                "/2015-03-31/functions/{name}/aliases/{alias}",
                get(lambda_api::get_alias).put(lambda_api::update_alias),
            )
            .route(
                "/2015-03-31/functions/{name}/versions",
                get(lambda_api::list_versions),
            )
            .fallback(unknown_operation)
            .layer(axum::middleware::from_fn_with_state(
                Arc::clone(&shared),
                faults::inject,
            ))
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, router).await {
                tracing::error!(error = %err, "the stand-in's server stopped");
            }
        });
        Ok(StandIn {
            endpoint: format!("http://{address}"),
            log_dir: options.log_dir,
            shared,
            server,
            http_endpoints: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// The region and account id in ARNs.
    pub fn region_and_account(&self) -> (String, String) {
        (
            self.shared.registry.region.clone(),
            self.shared.registry.account_id.clone(),
        )
    }

    /// The base URL to give SDKs as `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Publish a version of a function (creating the function on its first version). Its
    /// process starts on the first invocation.
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
        self.shared.registry.publish(
            function_name,
            version,
            spec,
            &self.endpoint,
            self.log_dir.clone(),
        )
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
        self.shared
            .registry
            .set_alias(function_name, alias, version, BTreeMap::new(), None)
            .map_err(|_| Error::NotFound {
                what: format!("function {function_name} version {version}"),
                hint: "publish the version first".into(),
            })
    }

    /// An alias as it is now.
    pub fn alias(&self, function_name: &str, alias: &str) -> Option<Alias> {
        self.shared.registry.alias(function_name, alias)
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
            .shared
            .registry
            .resolve(function_name, qualifier)
            .map_err(|e| Error::NotFound {
                what: e.arn,
                hint: "publish the function's version first".into(),
            })?;
        Ok(resolved
            .invoke(&self.shared.registry, payload.into(), None)
            .await)
    }

    /// Create a deployment (status `Created`); hooks are run by opening hook executions.
    pub fn create_deployment(&self, spec: DeploymentSpec) -> String {
        self.shared.deployments.create(spec)
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
        self.shared
            .deployments
            .start_execution(deployment_id, lifecycle_event)
            .ok_or_else(|| Error::NotFound {
                what: format!("deployment {deployment_id}"),
                hint: "create it with create_deployment".into(),
            })
    }

    /// The status a hook reported for an execution, if any yet.
    pub fn hook_status(&self, deployment_id: &str, execution_id: &str) -> Option<HookStatus> {
        self.shared
            .deployments
            .read(deployment_id, |r| {
                r.executions.get(execution_id).and_then(|e| e.status)
            })
            .flatten()
    }

    /// How many reports arrived for an execution (a refused second report counts).
    pub fn hook_reports(&self, deployment_id: &str, execution_id: &str) -> u32 {
        self.shared
            .deployments
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
        self.shared
            .deployments
            .read(deployment_id, |r| {
                r.executions
                    .iter()
                    .map(|(id, e)| (id.clone(), e.lifecycle_event.clone(), e.status))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Wait until a hook reports for an execution, or `timeout` passes.
    pub async fn wait_for_hook(
        &self,
        deployment_id: &str,
        execution_id: &str,
        timeout: Duration,
    ) -> Option<HookStatus> {
        let mut changes = self.shared.deployments.subscribe();
        let wait = async {
            loop {
                if let Some(status) = self.hook_status(deployment_id, execution_id) {
                    return status;
                }
                if changes.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.ok()
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
        let (url, task) = endpoint::serve(Arc::clone(&self.shared), function_name, alias)
            .await
            .map_err(|source| Error::Bind {
                address: "127.0.0.1:0".into(),
                source,
            })?;
        let label = format!("{function_name}:{alias} at {url}");
        lock(&self.http_endpoints).push((label, task));
        Ok(url)
    }

    /// The aliases served over HTTP, as `function:alias at URL`.
    pub fn http_endpoints(&self) -> Vec<String> {
        lock(&self.http_endpoints)
            .iter()
            .map(|(label, _)| label.clone())
            .collect()
    }

    /// Run a deployment to its end: hooks, traffic steps, alarms, rollback. `observer` is
    /// called with the progress at every step and tick.
    pub async fn deploy(
        &self,
        mut plan: DeploymentPlan,
        observer: &mut (dyn FnMut(&Progress) + Send),
    ) -> DeploymentOutcome {
        plan.spec.config_name = format!("CodeDeployDefault.Lambda{}", plan.config);
        let id = self.shared.deployments.create(plan.spec.clone());
        engine::run(&self.shared, &plan, id, observer).await
    }

    /// Register a deployment group, so that `CreateDeployment` in it runs with the plan's
    /// configuration, alarms and time scale (the function, versions and hooks come from the
    /// AppSpec of each `CreateDeployment`).
    pub fn register_deployment_group(&self, plan: &DeploymentPlan) {
        let key = (
            plan.spec.application_name.clone(),
            plan.spec.group_name.clone(),
        );
        lock(&self.shared.groups).insert(key, plan.clone());
    }

    /// The process ids running a function version (one per started execution environment),
    /// e.g. to measure their memory.
    pub fn pids(&self, function_name: &str, version: &str) -> Vec<u32> {
        self.shared.registry.pids(function_name, version)
    }

    /// Every invocation served so far.
    pub fn invocations(&self) -> Vec<InvocationRecord> {
        self.shared.registry.invocations()
    }

    /// Faults to inject into the APIs.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }
}

async fn unknown_operation(
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    wire::ApiError::lambda(
        axum::http::StatusCode::NOT_FOUND,
        "UnknownOperationException",
        format!(
            "codedeploy-local does not serve {method} {}; it serves Lambda Invoke, GetAlias, UpdateAlias, \
             ListVersionsByFunction and CodeDeploy (POST / with X-Amz-Target)",
            uri.path()
        ),
    )
    .into_response()
}
