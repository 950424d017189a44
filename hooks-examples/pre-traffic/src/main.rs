//! `pre-traffic`: the PreTraffic hook of `hello`.
//!
//! CodeDeploy runs it before any traffic moves to the new version. Each check calls the
//! new version directly (`hello:<new version>`, never the alias); the framework finds that
//! version, runs the checks, and reports the verdict. Run it from a laptop too:
//! `pre-traffic --function hello --qualifier 7`.
//!
//! Once its checks pass it starts the shift's watch ([`watch`]): the same function, invoked
//! again by itself, checks the new version and the alias every 30 s while traffic moves, and
//! stops the deployment (with rollback) at the first round that fails, a canary analysis of
//! the two versions' errors and latency included.

use std::time::Duration;

use codedeploy_hooks::canary::Analysis;
use codedeploy_hooks::{ensure, Check, Hook, Load, Phase, Traffic, Watch};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    hook().watch(watch()).run().await
}

/// The shift's watch: what users get must stay right while traffic moves.
fn watch() -> Watch {
    Watch::every(Duration::from_secs(30))
        // A wrong answer is no transient (AWS's throttling is retried by the call policy
        // before a check fails): stop at the first failed round.
        .failures_to_stop(1)
        // The canary itself, directly: a fault that shows only after a while (a leak, a
        // filling cache) is seen within a round, however little traffic the alias sends it.
        .check("the new version still greets by name", |t| async move {
            let out = t.invoke(json!({ "name": "watch" })).await?;
            out.ensure_ok()?;
            ensure!(out.json::<Value>()?["message"] == "hello watch");
            Ok(())
        })
        // What users get: the route through the alias, either version answering.
        .check(
            "the route answers right through the alias",
            |t| async move {
                let request = http::Request::get("/hello?name=watch").body(Vec::new())?;
                let response = t.through_alias()?.http(request).await?;
                ensure!(response.status() == 200);
                let body: Value = serde_json::from_slice(response.body())?;
                ensure!(body["message"] == "hello watch");
                Ok(())
            },
        )
        // The new version against the current one, as their traffic grows. Each round tests
        // again, so each round's test is stricter (0.001, and 500 requests a side) than the
        // PostTraffic hook's: over a shift of twenty rounds, a good release is stopped by
        // chance about once in a few thousand shifts (simulated). Inconclusive rounds carry on.
        .analyse(
            Analysis::new()
                .errors()
                .latency_with_allowance(99.0, 1.5, Duration::from_millis(25))
                .significance(0.001)
                .min_effect(0.02)
                .min_requests(500),
        )
        // A quiet function gives its canary no signal: send some, and bound it.
        .traffic(
            Traffic::per_round(10, json!({ "name": "synthetic" }))
                .concurrency(5)
                .p95_under(Duration::from_secs(1)),
        )
}

/// The hook, apart from running it: the tests below drive it with a fake target.
fn hook() -> Hook {
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
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use codedeploy_hooks::testing::FakeTarget;
    use codedeploy_hooks::Status;
    use serde_json::{json, Value};

    /// What `hello` answers: `{"message": "hello NAME"}`, or as an HTTP API route.
    fn hello(payload: &Value) -> Value {
        let route_name = payload["queryStringParameters"]["name"].as_str();
        match route_name {
            Some(name) => {
                json!({"statusCode": 200, "headers": {"content-type": "application/json"},
                "body": json!({"message": format!("hello {name}")}).to_string()})
            }
            None => {
                json!({"message": format!("hello {}", payload["name"].as_str().unwrap_or("world"))})
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_good_version_passes_every_check_even_when_throttled() {
        let fake = FakeTarget::new("hello", "4")
            .responds_with(hello)
            .throttled_next(2)
            .latency(Duration::from_millis(40));
        let summary = fake.run(super::hook()).await.unwrap();
        assert_eq!(summary.status, Status::Succeeded, "{}", summary.table());
        assert_eq!(fake.reported().as_deref(), Some("Succeeded"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_wrong_greeting_fails_the_hook_naming_the_check() {
        let fake = FakeTarget::new("hello", "4").returns(json!({"message": "bye"}));
        let summary = fake.run(super::hook()).await.unwrap();
        assert_eq!(summary.status, Status::Failed);
        assert!(summary
            .reason
            .unwrap_or_default()
            .contains("greets by name"));
        assert_eq!(fake.reported().as_deref(), Some("Failed"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_version_fails_the_latency_check() {
        let fake = FakeTarget::new("hello", "4")
            .responds_with(hello)
            .latency(Duration::from_millis(1500));
        let summary = fake.run(super::hook()).await.unwrap();
        let latency = summary
            .checks
            .iter()
            .find(|c| c.name == "p95 under 1 s")
            .unwrap();
        assert!(latency.fails_hook(), "{}", summary.table());
    }
}
