//! Test your own checks and hooks without AWS (feature `testing`): a fake of the function
//! under test and of CodeDeploy, answering the real SDK clients in memory.
//!
//! [`FakeTarget`] answers `Invoke` with a canned payload (or a function error, a throttle,
//! after a latency on tokio's clock), `GetAlias` with the alias, `GetDeployment` with an
//! AppSpec naming the fake version, `GetMetricData` (feature `canary`) with no data, and
//! records every report. Check one closure with
//! [`FakeTarget::target`], or a whole hook through its tower `Service`:
//!
//! ```
//! use codedeploy_hooks::testing::FakeTarget;
//! use codedeploy_hooks::{ensure, Hook, Status};
//! use serde_json::{json, Value};
//! use tower::ServiceExt as _;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let fake = FakeTarget::new("hello", "4")
//!     .returns(json!({"message": "hello smoke"}))
//!     .throttled_next(1); // the first call is throttled; the helper retries it
//! let hook = Hook::new().check("greets by name", |t| async move {
//!     let out = t.invoke(json!({"name": "smoke"})).await?;
//!     out.ensure_ok()?;
//!     ensure!(out.json::<Value>()?["message"] == "hello smoke");
//!     Ok(())
//! });
//! let summary = hook.into_service(fake.clients()).oneshot(fake.event()).await.unwrap();
//! assert_eq!(summary.status, Status::Succeeded);
//! assert_eq!(fake.reported().as_deref(), Some("Succeeded"));
//! assert_eq!(fake.invocations().len(), 2);
//! # }
//! ```

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use base64::Engine as _;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Value};

use crate::clients::Clients;
use crate::deployment::Deployment;
use crate::target::Target;

/// The deployment id of the fake's events and AppSpec.
pub const DEPLOYMENT_ID: &str = "d-FAKE00001";
/// The hook execution id of the fake's events.
pub const EXECUTION_ID: &str = "fake-execution";

/// A function computing the answer to an invocation from its payload.
type Responder = Arc<dyn Fn(&Value) -> Value + Send + Sync>;

/// One scripted answer to `Invoke`.
#[derive(Clone)]
enum Answer {
    Payload(Value),
    Respond(Responder),
    FunctionError(String, Value),
    Throttled,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Payload(p) => write!(f, "Payload({p})"),
            Answer::Respond(_) => f.write_str("Respond(..)"),
            Answer::FunctionError(kind, p) => write!(f, "FunctionError({kind}, {p})"),
            Answer::Throttled => f.write_str("Throttled"),
        }
    }
}

#[derive(Debug)]
struct Script {
    function: String,
    version: String,
    alias: String,
    alias_version: String,
    executed_version: Option<String>,
    answer: Answer,
    next: VecDeque<Answer>,
    latency: Duration,
    log: Option<String>,
    invocations: Vec<Value>,
    reported: Vec<String>,
}

/// A fake function version under test, and a fake CodeDeploy around it.
///
/// Cheap to clone; clones share the script and what was recorded.
///
/// ```
/// use std::time::Duration;
/// use codedeploy_hooks::testing::FakeTarget;
/// use serde_json::json;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// // One check, alone: a slow answer (on tokio's paused clock, so the test does not wait).
/// let fake = FakeTarget::new("hello", "4").returns(json!({"ok": true})).latency(Duration::from_secs(2));
/// let out = fake.target().invoke(json!({})).await.unwrap();
/// assert!(out.latency() >= Duration::from_secs(2));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct FakeTarget {
    script: Arc<Mutex<Script>>,
}

impl FakeTarget {
    /// `function:version` under test, on alias `live` (pointing at `version`), answering
    /// `{}` to every invocation.
    ///
    /// ```
    /// use codedeploy_hooks::testing::FakeTarget;
    /// use serde_json::{json, Value};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let fake = FakeTarget::new("hello", "4");
    /// assert_eq!(fake.target().deployment().qualified_target(), "hello:4");
    /// # }
    /// ```
    pub fn new(function: impl Into<String>, version: impl Into<String>) -> Self {
        let version = version.into();
        FakeTarget {
            script: Arc::new(Mutex::new(Script {
                function: function.into(),
                alias: "live".into(),
                alias_version: version.clone(),
                version,
                executed_version: None,
                answer: Answer::Payload(json!({})),
                next: VecDeque::new(),
                latency: Duration::ZERO,
                log: None,
                invocations: Vec::new(),
                reported: Vec::new(),
            })),
        }
    }

    /// Answer every invocation with this payload (unless a `*_next` answer is queued).
    ///
    /// ```
    /// use codedeploy_hooks::testing::FakeTarget;
    /// use serde_json::{json, Value};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let fake = FakeTarget::new("hello", "4").returns(json!({"message": "hi"}));
    /// let out = fake.target().invoke(json!({})).await.unwrap();
    /// assert_eq!(out.json::<Value>().unwrap()["message"], "hi");
    /// # }
    /// ```
    pub fn returns(self, payload: Value) -> Self {
        self.script().answer = Answer::Payload(payload);
        self
    }

    /// Answer every invocation with what `respond` makes of its payload: a stand-in for the
    /// function's own logic, e.g. to serve several checks that send different payloads.
    ///
    /// ```
    /// use codedeploy_hooks::testing::FakeTarget;
    /// use serde_json::{json, Value};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let fake = FakeTarget::new("hello", "4").responds_with(|event| json!({"echo": event["name"]}));
    /// let out = fake.target().invoke(json!({"name": "Ada"})).await.unwrap();
    /// assert_eq!(out.json::<Value>().unwrap()["echo"], "Ada");
    /// # }
    /// ```
    pub fn responds_with(self, respond: impl Fn(&Value) -> Value + Send + Sync + 'static) -> Self {
        self.script().answer = Answer::Respond(Arc::new(respond));
        self
    }

    /// Fail every invocation with a function error (`Unhandled`) and this error payload.
    ///
    /// ```
    /// use codedeploy_hooks::testing::FakeTarget;
    /// use serde_json::{json, Value};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let fake = FakeTarget::new("hello", "4").fails(json!({"errorMessage": "boom"}));
    /// let out = fake.target().invoke(json!({})).await.unwrap();
    /// assert!(out.function_error().is_some() && !out.is_ok());
    /// # }
    /// ```
    pub fn fails(self, payload: Value) -> Self {
        self.script().answer = Answer::FunctionError("Unhandled".into(), payload);
        self
    }

    /// Throttle the next `n` invocations (`TooManyRequestsException`, HTTP 429).
    ///
    /// ```
    /// use codedeploy_hooks::testing::FakeTarget;
    /// use serde_json::{json, Value};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // The first call is throttled; the target's helper retries it.
    /// let fake = FakeTarget::new("hello", "4").returns(json!({})).throttled_next(1);
    /// fake.target().invoke(json!({})).await.unwrap();
    /// assert_eq!(fake.invocations().len(), 2);
    /// # }
    /// ```
    pub fn throttled_next(self, n: usize) -> Self {
        self.script()
            .next
            .extend(std::iter::repeat_n(Answer::Throttled, n));
        self
    }

    /// Answer the next invocation with this payload, then go on as before.
    ///
    /// ```
    /// use codedeploy_hooks::testing::FakeTarget;
    /// use serde_json::{json, Value};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let fake = FakeTarget::new("hello", "4").returns(json!({"n": 2})).returns_next(json!({"n": 1}));
    /// let target = fake.target();
    /// assert_eq!(target.invoke(json!({})).await.unwrap().json::<Value>().unwrap()["n"], 1);
    /// assert_eq!(target.invoke(json!({})).await.unwrap().json::<Value>().unwrap()["n"], 2);
    /// # }
    /// ```
    pub fn returns_next(self, payload: Value) -> Self {
        self.script().next.push_back(Answer::Payload(payload));
        self
    }

    /// Fail the next invocation with a function error, then go on as before.
    ///
    /// ```
    /// use codedeploy_hooks::testing::FakeTarget;
    /// use serde_json::{json, Value};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let fake = FakeTarget::new("hello", "4").returns(json!({})).fails_next(json!({"errorMessage": "cold"}));
    /// let target = fake.target();
    /// assert!(!target.invoke(json!({})).await.unwrap().is_ok());
    /// assert!(target.invoke(json!({})).await.unwrap().is_ok());
    /// # }
    /// ```
    pub fn fails_next(self, payload: Value) -> Self {
        self.script()
            .next
            .push_back(Answer::FunctionError("Unhandled".into(), payload));
        self
    }

    /// Take this long to answer each invocation (on tokio's clock: a test with a paused
    /// clock does not wait).
    ///
    /// ```
    /// use codedeploy_hooks::testing::FakeTarget;
    /// use serde_json::{json, Value};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let fake = FakeTarget::new("hello", "4").returns(json!({})).latency(std::time::Duration::from_millis(5));
    /// let out = fake.target().invoke(json!({})).await.unwrap();
    /// assert!(out.latency() >= std::time::Duration::from_millis(5));
    /// # }
    /// ```
    pub fn latency(self, latency: Duration) -> Self {
        self.script().latency = latency;
        self
    }

    /// Report that another version ran (`X-Amz-Executed-Version`), as when the wrong code
    /// answers.
    ///
    /// ```
    /// use codedeploy_hooks::testing::FakeTarget;
    /// use serde_json::{json, Value};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // Another version answers: `ensure_ok` catches it.
    /// let fake = FakeTarget::new("hello", "4").returns(json!({})).executed_version("3");
    /// let out = fake.target().invoke(json!({})).await.unwrap();
    /// assert!(out.ensure_ok().is_err());
    /// # }
    /// ```
    pub fn executed_version(self, version: impl Into<String>) -> Self {
        self.script().executed_version = Some(version.into());
        self
    }

    /// The log tail each invocation returns.
    ///
    /// ```
    /// use codedeploy_hooks::testing::FakeTarget;
    /// use serde_json::{json, Value};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let fake = FakeTarget::new("hello", "4").returns(json!({})).log_tail("START ...");
    /// let out = fake.target().invoke(json!({})).await.unwrap();
    /// assert_eq!(out.log_tail(), Some("START ..."));
    /// # }
    /// ```
    pub fn log_tail(self, log: impl Into<String>) -> Self {
        self.script().log = Some(log.into());
        self
    }

    /// The alias `GetAlias` describes, and the version it points at.
    ///
    /// ```
    /// use codedeploy_hooks::testing::FakeTarget;
    /// use serde_json::{json, Value};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let fake = FakeTarget::new("hello", "4").alias("live", "3");
    /// let alias = fake.target().read_alias().await.unwrap();
    /// assert_eq!(alias.function_version(), Some("3"));
    /// # }
    /// ```
    pub fn alias(self, alias: impl Into<String>, version: impl Into<String>) -> Self {
        let mut script = self.script();
        script.alias = alias.into();
        script.alias_version = version.into();
        drop(script);
        self
    }

    /// SDK clients answered by this fake; no request leaves the process.
    ///
    /// ```
    /// use codedeploy_hooks::testing::FakeTarget;
    /// use serde_json::{json, Value};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let fake = FakeTarget::new("hello", "4").returns(json!({}));
    /// let clients = fake.clients(); // the real SDK clients, answered in memory
    /// # let _ = clients;
    /// # }
    /// ```
    pub fn clients(&self) -> Clients {
        let client = SharedHttpClient::new(FakeHttp(self.clone()));
        let credentials = Credentials::new("AKIDFAKE", "fake-secret", None, None, "fake");
        let lambda = aws_sdk_lambda::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(credentials.clone())
            .http_client(client.clone())
            .build();
        #[cfg(feature = "canary")]
        let cloudwatch = aws_sdk_cloudwatch::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(credentials.clone())
            .http_client(client.clone())
            .build();
        let codedeploy = aws_sdk_codedeploy::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(credentials)
            .http_client(client)
            .build();
        let clients = Clients::new(
            aws_sdk_codedeploy::Client::from_conf(codedeploy),
            aws_sdk_lambda::Client::from_conf(lambda),
            crate::clients::new_http_client(),
        );
        #[cfg(feature = "canary")]
        let clients = clients.with_cloudwatch(aws_sdk_cloudwatch::Client::from_conf(cloudwatch));
        clients
    }

    /// A [`Target`] for one check: call the check's closure with it.
    ///
    /// ```
    /// use codedeploy_hooks::testing::FakeTarget;
    /// use serde_json::{json, Value};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let fake = FakeTarget::new("hello", "4").returns(json!({"message": "hello smoke"}));
    /// // One check's closure, given the fake's target.
    /// let out = fake.target().invoke(json!({"name": "smoke"})).await.unwrap();
    /// assert!(out.ensure_ok().is_ok());
    /// # }
    /// ```
    pub fn target(&self) -> Target {
        let script = self.script();
        let deployment = Deployment::new(script.function.clone(), script.version.clone())
            .with_alias(script.alias.clone());
        drop(script);
        Target::new(deployment, self.clients())
    }

    /// The lifecycle event CodeDeploy would send the hook, for `HookService` tests.
    ///
    /// ```
    /// use codedeploy_hooks::testing::FakeTarget;
    /// use serde_json::{json, Value};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let fake = FakeTarget::new("hello", "4");
    /// let event = fake.event(); // {"DeploymentId", "LifecycleEventHookExecutionId"}
    /// assert!(event.payload["DeploymentId"].is_string());
    /// # }
    /// ```
    pub fn event(&self) -> LambdaEvent<Value> {
        let event =
            json!({"DeploymentId": DEPLOYMENT_ID, "LifecycleEventHookExecutionId": EXECUTION_ID});
        LambdaEvent::new(event, Context::default())
    }

    /// Run `hook` on the fake's lifecycle event, as CodeDeploy would:
    /// `hook.into_service(self.clients()).oneshot(self.event())`.
    ///
    /// # Errors
    /// As [`HookService::handle`](crate::HookService::handle).
    ///
    /// ```
    /// use codedeploy_hooks::testing::FakeTarget;
    /// use serde_json::{json, Value};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use codedeploy_hooks::{Hook, Status};
    /// let fake = FakeTarget::new("hello", "4").returns(json!({}));
    /// let hook = Hook::new().check("answers", |t| async move {
    ///     t.invoke(json!({})).await?.ensure_ok()?;
    ///     Ok(())
    /// });
    /// let summary = fake.run(hook).await.unwrap();
    /// assert_eq!(summary.status, Status::Succeeded);
    /// # }
    /// ```
    pub async fn run(&self, hook: crate::Hook) -> Result<crate::Summary, crate::Error> {
        hook.into_service(self.clients()).handle(self.event()).await
    }

    /// The payloads the function received, in order (throttled calls included).
    ///
    /// ```
    /// use codedeploy_hooks::testing::FakeTarget;
    /// use serde_json::{json, Value};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let fake = FakeTarget::new("hello", "4").returns(json!({}));
    /// fake.target().invoke(json!({"name": "Ada"})).await.unwrap();
    /// assert_eq!(fake.invocations(), vec![json!({"name": "Ada"})]);
    /// # }
    /// ```
    pub fn invocations(&self) -> Vec<Value> {
        self.script().invocations.clone()
    }

    /// The last status reported to the fake CodeDeploy, if any.
    ///
    /// ```
    /// use codedeploy_hooks::testing::FakeTarget;
    /// use serde_json::{json, Value};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use codedeploy_hooks::Hook;
    /// let fake = FakeTarget::new("hello", "4").fails(json!({"errorMessage": "boom"}));
    /// let hook = Hook::new().check("answers", |t| async move {
    ///     t.invoke(json!({})).await?.ensure_ok()?;
    ///     Ok(())
    /// });
    /// fake.run(hook).await.unwrap();
    /// assert_eq!(fake.reported().as_deref(), Some("Failed"));
    /// # }
    /// ```
    pub fn reported(&self) -> Option<String> {
        self.script().reported.last().cloned()
    }

    fn script(&self) -> std::sync::MutexGuard<'_, Script> {
        crate::lock(&self.script)
    }

    /// The answer to one request, by operation.
    async fn answer(&self, request: HttpRequest) -> HttpResponse {
        let path = request.uri().to_owned();
        let target = request
            .headers()
            .get("x-amz-target")
            .map(str::to_owned)
            .unwrap_or_default();
        let body: Value = request
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Value::Null);
        if path.contains("/operation/GetMetricData") {
            no_metric_data()
        } else if path.contains("/invocations") {
            self.invoke(body).await
        } else if path.contains("/aliases/") {
            self.get_alias()
        } else {
            self.codedeploy(&target, &body)
        }
    }

    async fn invoke(&self, payload: Value) -> HttpResponse {
        let (answer, latency, version, log) = {
            let mut script = self.script();
            script.invocations.push(payload.clone());
            let answer = script
                .next
                .pop_front()
                .unwrap_or_else(|| script.answer.clone());
            let version = script
                .executed_version
                .clone()
                .unwrap_or_else(|| script.version.clone());
            (answer, script.latency, version, script.log.clone())
        };
        tokio::time::sleep(latency).await;
        let (status, body, function_error) = match answer {
            Answer::Throttled => {
                let body = json!({"Type": "User", "message": "Rate Exceeded."});
                let mut response = response(429, &body);
                response
                    .headers_mut()
                    .insert("x-amzn-errortype", "TooManyRequestsException");
                return response;
            }
            Answer::Payload(payload) => (200, payload, None),
            Answer::Respond(respond) => (200, respond(&payload), None),
            Answer::FunctionError(kind, payload) => (200, payload, Some(kind)),
        };
        let mut response = response(status, &body);
        let headers = response.headers_mut();
        headers.insert("x-amz-executed-version", version);
        if let Some(kind) = function_error {
            headers.insert("x-amz-function-error", kind);
        }
        if let Some(log) = log {
            headers.insert(
                "x-amz-log-result",
                base64::engine::general_purpose::STANDARD.encode(log),
            );
        }
        response
    }

    fn get_alias(&self) -> HttpResponse {
        let script = self.script();
        response(
            200,
            &json!({
                "AliasArn": format!("arn:aws:lambda:us-east-1:000000000000:function:{}:{}", script.function, script.alias),
                "Name": script.alias,
                "FunctionVersion": script.alias_version,
            }),
        )
    }

    fn codedeploy(&self, target: &str, body: &Value) -> HttpResponse {
        let operation = target.rsplit('.').next().unwrap_or_default();
        let mut script = self.script();
        match operation {
            "GetDeployment" => {
                let appspec = json!({"version": 0.0, "Resources": [{"Fn": {"Type": "AWS::Lambda::Function",
                    "Properties": {"Name": script.function, "Alias": script.alias,
                        "CurrentVersion": script.alias_version, "TargetVersion": script.version}}}]});
                response(
                    200,
                    &json!({"deploymentInfo": {"deploymentId": DEPLOYMENT_ID, "applicationName": "fake",
                        "status": "InProgress", "computePlatform": "Lambda", "createTime": now_seconds(),
                        "revision": {"revisionType": "String", "string": {"content": appspec.to_string()}}}}),
                )
            }
            "PutLifecycleEventHookExecutionStatus" => {
                let status = body["status"].as_str().unwrap_or_default().to_owned();
                script.reported.push(status);
                response(200, &json!({"lifecycleEventHookExecutionId": EXECUTION_ID}))
            }
            other => response(
                400,
                &json!({"__type": "UnknownOperationException", "message": format!("FakeTarget does not serve {other}")}),
            ),
        }
    }
}

fn now_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// CloudWatch's answer with no data (`{"MetricDataResults": []}` in smithy-rpc-v2-cbor,
/// written out: a map of one entry, a 17-byte text key, an empty array), so that a canary
/// analysis in a fake run is inconclusive.
fn no_metric_data() -> HttpResponse {
    let mut body = vec![0xa1, 0x71];
    body.extend_from_slice(b"MetricDataResults");
    body.push(0x80);
    let mut response =
        HttpResponse::new(StatusCode::from(http::StatusCode::OK), SdkBody::from(body));
    response
        .headers_mut()
        .insert("content-type", "application/cbor");
    response
        .headers_mut()
        .insert("smithy-protocol", "rpc-v2-cbor");
    response
}

fn response(status: u16, body: &Value) -> HttpResponse {
    let status = StatusCode::try_from(status)
        .unwrap_or_else(|_| StatusCode::from(http::StatusCode::INTERNAL_SERVER_ERROR));
    let mut response = HttpResponse::new(status, SdkBody::from(body.to_string()));
    response
        .headers_mut()
        .insert("content-type", "application/json");
    response
}

/// The fake as the SDK's HTTP client.
#[derive(Debug)]
struct FakeHttp(FakeTarget);

impl HttpClient for FakeHttp {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(FakeConnector(self.0.clone()))
    }
}

#[derive(Debug)]
struct FakeConnector(FakeTarget);

impl HttpConnector for FakeConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let fake = self.0.clone();
        HttpConnectorFuture::new(async move { Ok(fake.answer(request).await) })
    }
}
