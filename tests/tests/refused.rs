//! A connection refused (nothing listens where AWS_ENDPOINT_URL points) is a transport
//! failure: retried under the call policy, then a clear error naming the operation.

use codedeploy_hooks::{Clients, Deployment, Target};

#[tokio::test]
async fn a_refused_connection_is_retried_then_named() {
    let config = e2e::sdk_config(&format!("http://{}", e2e::closed_loopback_address()));
    let clients = Clients::from_conf(&config);
    let target = Target::new(Deployment::new("hello", "4"), clients);
    let err = target.invoke(serde_json::json!({})).await.unwrap_err();
    let message = err.to_string();
    // The default policy: five attempts.
    assert!(
        message.starts_with("lambda:Invoke failed (no response) after 5 attempts"),
        "{message}"
    );
    assert!(message.contains("AWS_ENDPOINT_URL"), "{message}");
}
