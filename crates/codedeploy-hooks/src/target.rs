//! What a check gets: the deployment, and helpers that call the version under test.

use std::sync::Arc;

use aws_sdk_lambda::operation::get_alias::GetAliasOutput;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{InvocationType, LogType};
use base64::Engine as _;
use futures::StreamExt as _;
use serde::Serialize;
use tracing::debug;

use crate::apigw::{self, Flavor};
use crate::call::{Call, CallLog, CallPolicy};
use crate::clients::Clients;
use crate::deployment::Deployment;
use crate::error::Error;
use crate::invocation::Invocation;
use crate::smoke;
use crate::stats::{Load, LoadStats};

/// The longest check name carried in the client context, which Lambda limits to 3,583 bytes.
const MAX_CHECK_NAME: usize = 256;

/// The version under test, as handed to each check.
///
/// Every call goes to `function_name:target_version`, never to the alias: before traffic
/// shifts the alias still runs the old code. Every invocation is marked as smoke traffic
/// (see [`smoke`](crate::smoke)). Cheap to clone.
///
/// ```no_run
/// # async fn demo(t: codedeploy_hooks::Target) -> codedeploy_hooks::CheckResult {
/// let d = t.deployment();
/// println!("testing {} ({})", d.qualified_target(), d.phase);
/// let out = t.invoke(serde_json::json!({"name": "smoke"})).await?; // hello:<target version>
/// out.ensure_ok()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Target {
    shared: Arc<Shared>,
    check: Arc<str>,
    policy: CallPolicy,
    /// The alias the invocations go through, instead of the target version.
    through_alias: Option<Arc<str>>,
}

#[derive(Debug)]
struct Shared {
    deployment: Deployment,
    clients: Clients,
    log: CallLog,
    /// The canary reports the checks produced, for the summary.
    #[cfg(feature = "canary")]
    analyses: std::sync::Mutex<Vec<crate::canary::CanaryReport>>,
}

impl Target {
    /// The target of `deployment`, called through `clients`.
    ///
    /// ```no_run
    /// # async fn demo() {
    /// use codedeploy_hooks::{Clients, Deployment, Target};
    /// // A target of your own, e.g. for a tool that runs checks outside a hook.
    /// let target = Target::new(Deployment::new("hello", "4"), Clients::from_env().await);
    /// let out = target.invoke(serde_json::json!({})).await;
    /// # let _ = out; }
    /// ```
    pub fn new(deployment: Deployment, clients: Clients) -> Self {
        Self::with_calls(
            deployment,
            clients,
            CallPolicy::default(),
            CallLog::default(),
        )
    }

    /// The target of `deployment`, calling under `policy` and recording retried calls in
    /// `log`. The checks' deadline is the runner's to enforce: it cancels the check, and says
    /// what the check's calls were failing with (see [`CallLog::last_error_of`]).
    pub(crate) fn with_calls(
        deployment: Deployment,
        clients: Clients,
        policy: CallPolicy,
        log: CallLog,
    ) -> Self {
        Target {
            shared: Arc::new(Shared {
                deployment,
                clients,
                log,
                #[cfg(feature = "canary")]
                analyses: std::sync::Mutex::default(),
            }),
            check: Arc::from(""),
            policy,
            through_alias: None,
        }
    }

    /// The same target, for the named check (its name goes into the client context), under
    /// the check's own call policy if it has one.
    pub(crate) fn for_check(&self, name: &str, policy: Option<CallPolicy>) -> Self {
        Target {
            shared: Arc::clone(&self.shared),
            check: Arc::from(name),
            policy: policy.unwrap_or(self.policy),
            through_alias: self.through_alias.clone(),
        }
    }

    /// The same helpers, calling the alias being shifted instead of the target version:
    /// what users get while traffic is split (either version may answer). For checks of a
    /// [`Watch`](crate::Watch).
    ///
    /// ```no_run
    /// # async fn demo(t: codedeploy_hooks::Target) -> codedeploy_hooks::CheckResult {
    /// let out = t.through_alias()?.invoke(serde_json::json!({"name": "watch"})).await?;
    /// out.ensure_ok()?; // no function error (either version may have run)
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::AliasUnknown`] when the deployment names no alias.
    pub fn through_alias(&self) -> Result<Target, Error> {
        let alias = self
            .deployment()
            .alias
            .as_deref()
            .ok_or(Error::AliasUnknown)?;
        Ok(Target {
            through_alias: Some(Arc::from(alias)),
            ..self.clone()
        })
    }

    /// `name:qualifier` of what the invocations call, and the version that must run.
    fn invoked(&self) -> (&str, Option<&str>) {
        let deployment = self.deployment();
        match &self.through_alias {
            Some(alias) => (alias, None),
            None => (&deployment.target_version, Some(&deployment.target_version)),
        }
    }

    /// Where retried calls are recorded.
    pub(crate) fn call_log(&self) -> &CallLog {
        &self.shared.log
    }

    /// A control call (not `Invoke`) of `operation` under this target's policy.
    #[cfg(feature = "canary")]
    pub(crate) fn control_call(&self, operation: &'static str) -> Call<'_> {
        self.call(operation, self.policy.attempt_timeout)
    }

    /// The CloudWatch client, if the hook has one.
    #[cfg(feature = "canary")]
    pub(crate) fn cloudwatch(&self) -> Option<&aws_sdk_cloudwatch::Client> {
        self.shared.clients.cloudwatch.as_ref()
    }

    /// Keep a canary report for the summary, and log it.
    #[cfg(feature = "canary")]
    pub(crate) fn record_analysis(&self, report: &crate::canary::CanaryReport) {
        let table = report.table();
        match report.verdict {
            crate::canary::Verdict::Pass => {
                tracing::info!(verdict = "Pass", report = %table, "canary analysis")
            }
            verdict => {
                tracing::warn!(verdict = verdict.as_str(), report = %table, "canary analysis")
            }
        }
        crate::lock(&self.shared.analyses).push(report.clone());
    }

    /// The canary reports recorded since the last call.
    #[cfg(feature = "canary")]
    pub(crate) fn take_analyses(&self) -> Vec<crate::canary::CanaryReport> {
        std::mem::take(&mut *crate::lock(&self.shared.analyses))
    }

    /// A call of `operation` under this target's policy.
    fn call(&self, operation: &'static str, attempt_timeout: std::time::Duration) -> Call<'_> {
        Call {
            operation,
            attempt_timeout,
            max_attempts: Some(self.policy.max_attempts),
            deadline: None,
            policy: &self.policy,
            log: Some(&self.shared.log),
            context: &self.check,
        }
    }

    /// The deployment under test.
    ///
    /// ```no_run
    /// let hook = codedeploy_hooks::Hook::new().check("example", |t| async move {
    ///     let d = t.deployment();
    ///     println!("{} {} -> {}", d.function_name, d.current_version.as_deref().unwrap_or("?"), d.target_version);
    ///     Ok(())
    /// });
    /// # let _ = hook;
    /// ```
    pub fn deployment(&self) -> &Deployment {
        &self.shared.deployment
    }

    /// The Lambda client, for calls the helpers do not cover.
    ///
    /// ```no_run
    /// let hook = codedeploy_hooks::Hook::new().check("example", |t| async move {
    ///     let lambda: &codedeploy_hooks::aws_sdk_lambda::Client = t.lambda();
    ///     let config = lambda.get_function_configuration().function_name(&t.deployment().function_name).send().await;
    ///     let _ = config;
    ///     Ok(())
    /// });
    /// # let _ = hook;
    /// ```
    pub fn lambda(&self) -> &aws_sdk_lambda::Client {
        &self.shared.clients.lambda
    }

    /// The CodeDeploy client.
    ///
    /// ```no_run
    /// let hook = codedeploy_hooks::Hook::new().check("example", |t| async move {
    ///     if let Some(id) = &t.deployment().deployment_id {
    ///         let _ = t.codedeploy().get_deployment().deployment_id(id).send().await;
    ///     }
    ///     Ok(())
    /// });
    /// # let _ = hook;
    /// ```
    pub fn codedeploy(&self) -> &aws_sdk_codedeploy::Client {
        &self.shared.clients.codedeploy
    }

    /// An HTTP client, for checks that call URLs.
    ///
    /// ```no_run
    /// let hook = codedeploy_hooks::Hook::new().check("example", |t| async move {
    ///     let page = t.http_client().get("https://example.com/health").send().await;
    ///     let _ = page;
    ///     Ok(())
    /// });
    /// # let _ = hook;
    /// ```
    pub fn http_client(&self) -> &reqwest::Client {
        self.shared.clients.http()
    }

    /// Invoke the target version synchronously with this JSON payload, asking for the log tail.
    ///
    /// ```no_run
    /// # async fn demo(t: codedeploy_hooks::Target) -> codedeploy_hooks::CheckResult {
    /// let out = t.invoke(serde_json::json!({"name": "smoke"})).await?; // hello:<target version>
    /// out.ensure_ok()?;
    /// codedeploy_hooks::ensure!(out.latency() < std::time::Duration::from_secs(1));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Payload`] when `payload` does not serialize; [`Error::Aws`] when the Invoke
    /// call fails (a *function* error is not an `Err`: see [`Invocation::ensure_ok`]).
    pub async fn invoke(&self, payload: impl Serialize) -> Result<Invocation, Error> {
        let bytes = serde_json::to_vec(&payload).map_err(|source| Error::Payload {
            what: "invoke payload".into(),
            source,
        })?;
        self.invoke_bytes(bytes).await
    }

    /// Invoke the target version with a raw payload.
    ///
    /// Throttling, 5xx, transport errors and attempts past the policy's
    /// [`invoke_timeout`](CallPolicy::invoke_timeout) are retried (see [`CallPolicy`]); the
    /// target may then run more than once, which smoke traffic must allow.
    ///
    /// # Errors
    /// [`Error::Aws`] when the Invoke call fails for good.
    ///
    /// ```no_run
    /// let hook = codedeploy_hooks::Hook::new().check("example", |t| async move {
    ///     let out = t.invoke_bytes(br#"{"name": "raw"}"#.to_vec()).await?;
    ///     out.ensure_ok()?;
    ///     Ok(())
    /// });
    /// # let _ = hook;
    /// ```
    pub async fn invoke_bytes(&self, payload: impl Into<Vec<u8>>) -> Result<Invocation, Error> {
        let deployment = self.deployment();
        let (qualifier, expected_version) = self.invoked();
        let payload: Vec<u8> = payload.into();
        let context = self.client_context();
        let operation = "lambda:Invoke";
        let (out, latency) = self
            .call(operation, self.policy.invoke_timeout)
            .run(|| {
                let sent = self
                    .lambda()
                    .invoke()
                    .function_name(&deployment.function_name)
                    .qualifier(qualifier)
                    .invocation_type(InvocationType::RequestResponse)
                    .log_type(LogType::Tail)
                    .client_context(context.clone())
                    .payload(Blob::new(payload.clone()))
                    .send();
                async move {
                    // tokio's clock: the same as std's in a hook, and one a test can pause.
                    let started = tokio::time::Instant::now();
                    let out = sent.await.map_err(|e| Error::aws(operation, e))?;
                    Ok((out, started.elapsed()))
                }
            })
            .await?;
        let log_tail = out
            .log_result()
            .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
        let invocation = Invocation {
            invoked: format!("{}:{qualifier}", deployment.function_name),
            expected_version: expected_version.map(str::to_owned),
            status_code: out.status_code(),
            function_error: out.function_error().map(str::to_owned),
            executed_version: out.executed_version().map(str::to_owned),
            payload: out.payload.map(Blob::into_inner).unwrap_or_default(),
            log_tail,
            latency,
        };
        debug!(
            target_fn = %invocation.invoked,
            latency_us = latency.as_micros() as u64,
            function_error = invocation.function_error.as_deref(),
            "invoked"
        );
        Ok(invocation)
    }

    /// The alias being shifted, as Lambda has it now (`GetAlias`): the version it points at
    /// and its routing weights. Called under the policy, like every helper.
    ///
    /// ```no_run
    /// # async fn demo(t: codedeploy_hooks::Target) -> codedeploy_hooks::CheckResult {
    /// let alias = t.read_alias().await?;
    /// codedeploy_hooks::ensure!(alias.function_version() == Some(t.deployment().target_version.as_str()));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::AliasUnknown`] when the deployment names no alias; [`Error::Aws`] when
    /// `GetAlias` fails for good.
    pub async fn read_alias(&self) -> Result<GetAliasOutput, Error> {
        let deployment = self.deployment();
        let alias = deployment.alias.as_deref().ok_or(Error::AliasUnknown)?;
        let operation = "lambda:GetAlias";
        self.call(operation, self.policy.attempt_timeout)
            .run(|| {
                let sent = self
                    .lambda()
                    .get_alias()
                    .function_name(&deployment.function_name)
                    .name(alias)
                    .send();
                async move { sent.await.map_err(|e| Error::aws(operation, e)) }
            })
            .await
    }

    /// Send an HTTP request to the target version as API Gateway (HTTP API, payload 2.0)
    /// would, and get the HTTP response API Gateway would send (502 for a function error).
    ///
    /// ```no_run
    /// # async fn demo(t: codedeploy_hooks::Target) -> codedeploy_hooks::CheckResult {
    /// let response = t.http(http::Request::get("/hello?name=smoke").body(Vec::new())?).await?;
    /// codedeploy_hooks::ensure!(response.status() == 200);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Aws`] when the Invoke call fails. A malformed answer is a 502, as from
    /// API Gateway.
    pub async fn http<B: AsRef<[u8]>>(
        &self,
        request: http::Request<B>,
    ) -> Result<http::Response<Vec<u8>>, Error> {
        self.http_as(request, Flavor::HttpApi).await
    }

    /// Like [`http`](Self::http), for functions behind a REST API (proxy integration,
    /// payload 1.0).
    ///
    /// # Errors
    /// As [`http`](Self::http).
    ///
    /// ```no_run
    /// let hook = codedeploy_hooks::Hook::new().check("example", |t| async move {
    ///     let request = codedeploy_hooks::http::Request::get("/orders?limit=1").body(Vec::new()).expect("a request");
    ///     let response = t.http_rest(request).await?; // as a REST API (payload 1.0) would
    ///     codedeploy_hooks::ensure!(response.status() == 200);
    ///     Ok(())
    /// });
    /// # let _ = hook;
    /// ```
    pub async fn http_rest<B: AsRef<[u8]>>(
        &self,
        request: http::Request<B>,
    ) -> Result<http::Response<Vec<u8>>, Error> {
        self.http_as(request, Flavor::RestApi).await
    }

    async fn http_as<B: AsRef<[u8]>>(
        &self,
        request: http::Request<B>,
        flavor: Flavor,
    ) -> Result<http::Response<Vec<u8>>, Error> {
        let request_id = format!("codedeploy-hooks-{}", self.check);
        let event = apigw::event(&request, flavor, &request_id);
        let invocation = self.invoke(&event).await?;
        if let Some(kind) = invocation.function_error() {
            tracing::warn!(
                function_error = kind,
                payload = %crate::invocation::shorten(&invocation.text()),
                "the target failed; API Gateway would answer 502"
            );
        }
        Ok(apigw::response(
            invocation.payload(),
            invocation.function_error().is_some(),
            flavor,
        ))
    }

    /// Invoke the target as `load` says (how many calls, how many at a time) and measure
    /// the latencies. An invocation counts as an error when the call fails (after the call
    /// policy's retries), the function fails, or another version ran.
    ///
    /// ```no_run
    /// # async fn demo(t: codedeploy_hooks::Target) -> codedeploy_hooks::CheckResult {
    /// use std::time::Duration;
    /// use codedeploy_hooks::{ensure, Load};
    ///
    /// let stats = t.invoke_many(serde_json::json!({}), Load::total(50).concurrency(10)).await?;
    /// ensure!(stats.errors() == 0 && stats.p95() < Duration::from_millis(300));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Payload`] when `payload` does not serialize. Failed invocations are counted,
    /// not returned.
    pub async fn invoke_many(
        &self,
        payload: impl Serialize,
        load: Load,
    ) -> Result<LoadStats, Error> {
        let bytes = serde_json::to_vec(&payload).map_err(|source| Error::Payload {
            what: "invoke payload".into(),
            source,
        })?;
        let total = load.total_calls();
        let results: Vec<Result<Invocation, Error>> = futures::stream::iter(0..total)
            .map(|_| self.invoke_bytes(bytes.clone()))
            .buffer_unordered(load.at_once())
            .collect()
            .await;
        let mut latencies = Vec::with_capacity(total);
        let mut errors = Vec::new();
        for result in results {
            match result {
                Ok(invocation) => match invocation.ensure_ok() {
                    Ok(_) => latencies.push(invocation.latency()),
                    Err(failure) => errors.push(failure.message().to_owned()),
                },
                Err(err) => errors.push(err.to_string()),
            }
        }
        Ok(LoadStats::new(latencies, errors))
    }

    fn client_context(&self) -> String {
        let mut custom = serde_json::Map::new();
        custom.insert(smoke::MARKER_KEY.into(), smoke::MARKER_VALUE.into());
        let mut name: &str = &self.check;
        if name.len() > MAX_CHECK_NAME {
            let mut end = MAX_CHECK_NAME;
            while !name.is_char_boundary(end) {
                end -= 1;
            }
            name = &name[..end];
        }
        custom.insert(smoke::CHECK_KEY.into(), name.into());
        if let Some(id) = &self.deployment().deployment_id {
            custom.insert(smoke::DEPLOYMENT_KEY.into(), id.as_str().into());
        }
        // Only `custom`, no null members: lambda_runtime rejects `"client": null`.
        let context = serde_json::json!({ "custom": custom });
        base64::engine::general_purpose::STANDARD.encode(context.to_string())
    }
}
