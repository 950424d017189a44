//! The benchmark's baseline: the same hook written by hand with the AWS SDK for Rust and
//! lambda_runtime - GetDeployment and GetApplicationRevision (the AppSpec names the
//! target; GetDeployment gives only its sha256, as in AWS), Invoke, report. No
//! timeouts, retries, panic containment or logs: the bare minimum the framework must be
//! compared against.
use aws_config::BehaviorVersion;
use aws_sdk_codedeploy::types::LifecycleEventStatus;
use aws_sdk_lambda::primitives::Blob;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let codedeploy = aws_sdk_codedeploy::Client::new(&config);
    let lambda = aws_sdk_lambda::Client::new(&config);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (codedeploy, lambda) = (codedeploy.clone(), lambda.clone());
        async move {
            let deployment_id = event.payload["DeploymentId"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let execution_id = event.payload["LifecycleEventHookExecutionId"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let deployment = codedeploy
                .get_deployment()
                .deployment_id(&deployment_id)
                .send()
                .await?;
            let info = deployment.deployment_info();
            let revision = codedeploy
                .get_application_revision()
                .application_name(info.and_then(|i| i.application_name()).unwrap_or_default())
                .set_revision(info.and_then(|i| i.revision()).cloned())
                .send()
                .await?;
            let content = revision
                .revision()
                .and_then(|r| r.app_spec_content())
                .and_then(|c| c.content())
                .unwrap_or("{}");
            let appspec: Value = serde_json::from_str(content)?;
            let props = appspec["Resources"][0]
                .as_object()
                .and_then(|m| m.values().next())
                .map(|r| r["Properties"].clone())
                .unwrap_or_default();
            let out = lambda
                .invoke()
                .function_name(props["Name"].as_str().unwrap_or_default())
                .qualifier(props["TargetVersion"].as_str().unwrap_or_default())
                .payload(Blob::new(br#"{"name": "bench"}"#.to_vec()))
                .send()
                .await?;
            let status = if out.function_error().is_none() {
                LifecycleEventStatus::Succeeded
            } else {
                LifecycleEventStatus::Failed
            };
            codedeploy
                .put_lifecycle_event_hook_execution_status()
                .deployment_id(&deployment_id)
                .lifecycle_event_hook_execution_id(&execution_id)
                .status(status.clone())
                .send()
                .await?;
            Ok::<_, Error>(json!({ "status": status.as_str() }))
        }
    }))
    .await
}
