//! `post-traffic`: the PostTraffic hook of `hello`.
//!
//! CodeDeploy runs it after all traffic has moved to the new version. It checks that the
//! alias now points at the new version and, when `HELLO_API_URL` is set (the template
//! passes the HTTP API's URL), that the public route answers. With
//! `CODEDEPLOY_HOOKS_WATCHED_BY` set (the template names the PreTraffic hook), it also fails
//! when the shift's watch did not guard the whole shift (it never started, or died).
//!
//! Its canary analysis compares the new version with the current one through the alias
//! (errors and p99 latency, from CloudWatch): a version that fails more often than the one
//! it replaces fails the deployment, even when it stays under the alarms' thresholds.

use std::time::Duration;

use codedeploy_hooks::canary::{Analysis, OnInconclusive};
use codedeploy_hooks::{ensure, Check, Hook, Phase};
use serde_json::Value;

/// The public base URL of the API, e.g. `https://abc123.execute-api.eu-west-1.amazonaws.com`.
const API_URL_ENV: &str = "HELLO_API_URL";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    hook(std::env::var(API_URL_ENV).ok()).run().await
}

/// How the versions are compared: errors and p99 latency through the alias, since the
/// deployment began.
fn analysis() -> Analysis {
    Analysis::new()
        .errors()
        .latency_with_allowance(99.0, 1.5, Duration::from_millis(25))
        // hello fails about 1% of calls at worst. With the thousand or so calls a canary gets,
        // chance alone moves each version's rate by about half a point, so a one-point gap
        // shows up in a good release now and then (about 1 in 125, simulated); two points
        // (the error rate tripled) practically never does, and eight percent against one
        // is caught at once.
        .significance(0.01)
        .min_effect(0.02)
        // A quiet function gives no evidence either way; hello's alarms stay the backstop.
        // A busy function would keep the default (Fail): no evidence, no release.
        .on_inconclusive(OnInconclusive::Pass)
}

fn public_url_check() -> Check {
    Check::named("the public URL answers")
        .retries(2)
        .retry_failures()
}

/// The hook, apart from running it: the tests below drive it with a fake target.
fn hook(api_url: Option<String>) -> Hook {
    let hook = Hook::new()
        .phase(Phase::PostTraffic)
        .analyse(analysis())
        .check("the alias runs the new version", |t| async move {
            // GetAlias through the helper: throttling and stalls are retried like every call.
            let out = t.read_alias().await?;
            ensure!(out.function_version() == Some(t.deployment().target_version.as_str()));
            let extra_weights = out
                .routing_config()
                .and_then(|r| r.additional_version_weights());
            ensure!(
                extra_weights.is_none_or(|w| w.is_empty()),
                "traffic still split: {extra_weights:?}"
            );
            Ok(())
        });
    match api_url {
        // The public route is real traffic (no smoke marker reaches the function through
        // API Gateway): a function with a baseline error rate fails some of it, so a failed
        // request is tried twice more before the check fails. A broken route still fails.
        Some(base) if !base.is_empty() => hook.check(public_url_check(), move |t| {
            let url = format!("{}/hello?name=post", base.trim_end_matches('/'));
            async move {
                let response = t.http_client().get(&url).send().await?;
                ensure!(response.status() == 200, "GET {url}");
                let body: Value = response.json().await?;
                ensure!(body["message"] == "hello post");
                Ok(())
            }
        }),
        _ => hook,
    }
}

#[cfg(test)]
mod tests {
    use codedeploy_hooks::testing::FakeTarget;
    use codedeploy_hooks::Status;

    #[tokio::test]
    async fn passes_when_the_alias_runs_the_new_version() {
        let fake = FakeTarget::new("hello", "4").alias("live", "4");
        let summary = fake.run(super::hook(None)).await.unwrap();
        assert_eq!(summary.status, Status::Succeeded, "{}", summary.table());
    }

    #[tokio::test]
    async fn fails_when_the_alias_still_runs_the_old_version() {
        let fake = FakeTarget::new("hello", "4").alias("live", "3");
        let summary = fake.run(super::hook(None)).await.unwrap();
        assert_eq!(summary.status, Status::Failed);
        assert!(summary
            .reason
            .unwrap_or_default()
            .contains("the alias runs the new version"));
        assert_eq!(fake.reported().as_deref(), Some("Failed"));
    }
}
