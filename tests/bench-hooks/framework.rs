//! The benchmark's hook written with codedeploy-hooks: one invoke check.
use codedeploy_hooks::Hook;
use serde_json::json;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    Hook::new()
        .check("invokes", |t| async move {
            t.invoke(json!({ "name": "bench" })).await?.ensure_ok()?;
            Ok(())
        })
        .run()
        .await
}
