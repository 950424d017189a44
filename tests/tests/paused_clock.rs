//! The engine on tokio's paused clock (issue 21): deployment time is exact, whatever the
//! machine's speed, and an hour of it passes in milliseconds. The clock is real-time
//! (`time_scale` 1): nothing is compressed, only waited out by tokio's auto-advance.

use codedeploy_local::{
    About, DeploymentOutcome, DeploymentPlan, DeploymentSpec, DeploymentStatus, HookStep, Options,
    StandIn, TrafficConfig, VersionSpec,
};
use e2e::binary;

/// A stand-in with `hello` 1 (on `live`) and 2, and `hello` again as a function that never
/// reports when it is run as a hook.
async fn stand_in() -> StandIn {
    let local = StandIn::start(Options::default()).await.expect("starts");
    for (name, version) in [("hello", "1"), ("hello", "2"), ("never-reports", "1")] {
        local
            .publish_version(name, version, VersionSpec::new(binary("hello")))
            .expect("published");
    }
    local.set_alias("hello", "live", "1").expect("alias");
    local
}

async fn deploy(local: &StandIn, spec: DeploymentSpec, config: &str) -> DeploymentOutcome {
    let config: TrafficConfig = config.parse().expect("a configuration");
    let plan = DeploymentPlan::new(spec, config, 1.0);
    local.deploy(plan, &mut |_| {}).await
}

/// Deployment seconds of each `about` the filter picks.
fn seconds_of(outcome: &DeploymentOutcome, pick: impl Fn(&About) -> bool) -> Vec<f64> {
    outcome
        .timeline
        .iter()
        .filter(|e| e.about.as_ref().is_some_and(&pick))
        .map(|e| e.deployment_seconds)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn linear_steps_land_on_their_minutes() {
    let local = stand_in().await;
    let spec = DeploymentSpec::new("hello", "live", "1", "2");
    let outcome = deploy(&local, spec, "Linear10PercentEvery1Minute").await;
    assert_eq!(outcome.status, DeploymentStatus::Succeeded, "{outcome:?}");
    let weights: Vec<(u32, f64)> = outcome
        .timeline
        .iter()
        .filter_map(|e| match e.about {
            Some(About::Weight { percent }) => Some((percent, e.deployment_seconds)),
            _ => None,
        })
        .collect();
    let expected: Vec<(u32, f64)> = (1..=10)
        .map(|k| (k * 10, f64::from(k - 1) * 60.0))
        .collect();
    assert_eq!(weights, expected);
}

#[tokio::test(start_paused = true)]
async fn a_hook_that_never_reports_times_out_at_one_hour() {
    let local = stand_in().await;
    let spec =
        DeploymentSpec::new("hello", "live", "1", "2").hook("BeforeAllowTraffic", "never-reports");
    let outcome = deploy(&local, spec, "AllAtOnce").await;
    assert_eq!(outcome.status, DeploymentStatus::Failed, "{outcome:?}");
    assert_eq!(
        outcome.error.as_ref().map(|(code, _)| code.as_str()),
        Some("TIMEOUT")
    );
    let timed_out = seconds_of(&outcome, |about| {
        matches!(
            about,
            About::Hook {
                step: HookStep::TimedOut,
                ..
            }
        )
    });
    assert_eq!(timed_out, [3600.0]);
    // No traffic moved: the alias stayed on 1.
    assert!(seconds_of(
        &outcome,
        |a| matches!(a, About::Weight { percent } if *percent > 0)
    )
    .is_empty());
}
