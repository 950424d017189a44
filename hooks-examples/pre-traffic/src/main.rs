//! `pre-traffic`: the PreTraffic hook of `hello`.
//!
//! CodeDeploy runs it before any traffic moves to the new version. Each check calls the
//! new version directly (`hello:<new version>`, never the alias); the framework finds that
//! version, runs the checks, and reports the verdict. Run it from a laptop too:
//! `pre-traffic --function hello --qualifier 7`.

use std::time::Duration;

use codedeploy_hooks::{ensure, Check, Hook, Load, Phase};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    Hook::new()
        .phase(Phase::PreTraffic)
        // The plain invocation: no function error, the new version ran, the answer is right.
        .check("greets by name", |t| async move {
            let out = t.invoke(json!({ "name": "smoke" })).await?;
            out.ensure_ok()?;
            ensure!(out.json::<Value>()?["message"] == "hello smoke");
            Ok(())
        })
        // The HTTP route, as API Gateway will call it once traffic arrives.
        .check("GET /hello answers JSON", |t| async move {
            let request = http::Request::get("/hello?name=route").body(Vec::new())?;
            let response = t.http(request).await?;
            ensure!(response.status() == 200);
            let body: Value = serde_json::from_slice(response.body())?;
            ensure!(body["message"] == "hello route");
            Ok(())
        })
        // A small latency check. Throttled or stalled calls are retried by the helper (the
        // hook's call policy); a slow answer is a failure.
        .check(
            Check::named("p95 under 1 s").timeout(Duration::from_secs(20)),
            |t| async move {
                let load = Load::total(20).concurrency(5);
                let stats = t.invoke_many(json!({ "name": "load" }), load).await?;
                ensure!(
                    stats.errors() == 0,
                    "first errors: {:?}",
                    stats.first_errors()
                );
                ensure!(stats.p95() < Duration::from_secs(1));
                Ok(())
            },
        )
        .run()
        .await
}
