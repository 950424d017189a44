//! The shift's watch (codedeploy_hooks::Watch) of `template.yaml`, rehearsed end to end with
//! the real example binaries: the PreTraffic hook starts it, it runs rounds while traffic
//! moves, stops a bad deployment, hands over past its function's timeout, and the PostTraffic
//! hook fails when it died.

use std::sync::Arc;

use codedeploy_local::{
    DeploymentOutcome, DeploymentStatus, Event, Options, Progress, RehearsalOptions, StandIn,
    Template,
};
use e2e::{bin_dir, template};
use serde_json::Value;
use tokio::sync::mpsc;

const PRE_TRAFFIC: &str = "CodeDeployHook_local_pre_traffic";

fn options(fault: Option<&str>) -> RehearsalOptions {
    let mut options = RehearsalOptions::default();
    options.time_scale = 60.0;
    options.binaries = codedeploy_local::Binaries::Dir(bin_dir());
    if let Some(fault) = fault {
        options.target_env = vec![("HELLO_FAULT".into(), fault.into())];
    }
    options
}

/// Rehearse `template`; `observe` sees each progress report of the deployment.
async fn rehearse(
    template: &Template,
    options: RehearsalOptions,
    observe: impl FnMut(&Progress) + Send,
) -> (Arc<StandIn>, DeploymentOutcome) {
    let local = Arc::new(
        StandIn::start(Options::default())
            .await
            .expect("the stand-in starts"),
    );
    let plan = codedeploy_local::prepare(&local, template, &options)
        .await
        .unwrap_or_else(|e| panic!("the rehearsal is prepared: {e}"));
    let mut observe = observe;
    let outcome = local.deploy(plan, &mut observe).await;
    (local, outcome)
}

fn details(outcome: &DeploymentOutcome, event: Event) -> Vec<&str> {
    outcome
        .timeline
        .iter()
        .filter(|e| e.event == event)
        .map(|e| e.detail.as_str())
        .collect()
}

fn live_version(local: &StandIn) -> String {
    local
        .alias("HelloFunction", "live")
        .expect("the alias")
        .function_version
}

/// The watch's lease, as the hook function's alias description holds it.
fn lease(local: &StandIn) -> Value {
    let alias = local
        .alias(PRE_TRAFFIC, "watch-lease")
        .expect("the lease alias");
    serde_json::from_str(&alias.description).expect("a lease record")
}

/// The round numbers on the timeline, in order.
fn rounds(outcome: &DeploymentOutcome) -> Vec<u64> {
    details(outcome, Event::WatchRound)
        .iter()
        .filter_map(|d| {
            d.strip_prefix("round ")?
                .split([' ', ':'])
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

#[tokio::test]
async fn a_wrong_body_that_starts_mid_shift_passes_pre_traffic_and_the_watch_stops_it() {
    // The PreTraffic hook calls the new version 22 times; the fault starts after 30.
    let (local, outcome) =
        rehearse(&template(), options(Some("wrong-body-after:30")), |_| {}).await;
    let timeline = format!("{:#?}", outcome.timeline);
    assert_eq!(outcome.status, DeploymentStatus::Stopped, "{timeline}");
    assert!(
        details(&outcome, Event::HookSucceeded)
            .iter()
            .any(|d| d.starts_with("BeforeAllowTraffic")),
        "the PreTraffic hook passed: {timeline}"
    );
    assert_eq!(
        details(&outcome, Event::TrafficShifted),
        ["10% of live to version 2"],
        "stopped mid-shift: {timeline}"
    );
    let (code, message) = outcome.error.clone().expect("a stop reason");
    assert_eq!(code, "MANUAL_STOP");
    // Either check of the round may see the fault first: the one on the new version, or
    // the one through the alias when its 10% lands there.
    let named = [
        "check `the new version still greets by name` failed",
        "check `the route answers right through the alias` failed",
    ];
    assert!(
        message.contains("the shift's watch stopped the deployment")
            && named.iter().any(|check| message.contains(check))
            && message.contains("goodbye watch"),
        "the reason names the check and what it saw: {message}"
    );
    assert_eq!(live_version(&local), "1", "rolled back: {timeline}");
    // On the deployment's clock: from the last round that passed (the fault started after
    // it) to the stop. Printed for the README; bounded by the interval plus the round's time.
    let at = |event: Event, detail: &str| {
        outcome
            .timeline
            .iter()
            .rev()
            .find(|e| e.event == event && e.detail.contains(detail))
            .map(|e| e.deployment_seconds)
    };
    if let (Some(passed), Some(stopped)) =
        (at(Event::WatchRound, "passed"), at(Event::WatchStopped, ""))
    {
        println!(
            "fault onset to StopDeployment: at most {:.1} s (deployment clock)",
            stopped - passed
        );
    }
}

#[tokio::test]
async fn a_good_version_is_watched_to_the_end_and_never_stopped() {
    let (local, outcome) = rehearse(&template(), options(None), |_| {}).await;
    let timeline = format!("{:#?}", outcome.timeline);
    assert_eq!(outcome.status, DeploymentStatus::Succeeded, "{timeline}");
    assert!(
        details(&outcome, Event::WatchStopped).is_empty(),
        "{timeline}"
    );
    let rounds = rounds(&outcome);
    assert!(
        rounds.len() >= 5,
        "a round every 30 s of a 5-minute canary: {timeline}"
    );
    assert!(
        rounds.windows(2).all(|w| w[1] == w[0] + 1),
        "one watcher: rounds counted once each: {rounds:?}"
    );
    assert_eq!(live_version(&local), "2");
    // (The lease's state turns "ended" at the watch's next round, after the deployment's
    // end: not awaited here.)
}

#[tokio::test]
async fn a_watcher_killed_mid_shift_makes_the_post_traffic_hook_fail() {
    let (kill_tx, mut kill_rx) = mpsc::unbounded_channel::<()>();
    let observe = move |progress: &Progress| {
        if progress
            .last_event
            .as_ref()
            .is_some_and(|e| e.event == Event::WatchRound)
        {
            let _ = kill_tx.send(());
        }
    };
    let template = template();
    let local = Arc::new(
        StandIn::start(Options::default())
            .await
            .expect("the stand-in starts"),
    );
    let plan = codedeploy_local::prepare(&local, &template, &options(None))
        .await
        .expect("prepared");
    let killer = {
        let local = Arc::clone(&local);
        async move {
            // At the first round: kill -9 every process of the hook function ($LATEST, the
            // watcher's), as a crash or an out-of-memory kill would.
            if kill_rx.recv().await.is_some() {
                for pid in local.pids(PRE_TRAFFIC, "$LATEST") {
                    e2e::kill_9(pid);
                }
            }
        }
    };
    let mut observe = observe;
    let (outcome, ()) = tokio::join!(local.deploy(plan, &mut observe), killer);
    let timeline = format!("{:#?}", outcome.timeline);
    assert_eq!(outcome.status, DeploymentStatus::Failed, "{timeline}");
    let (code, message) = outcome.error.clone().expect("a reason");
    assert_eq!(code, "HOOK_EXECUTION_FAILURE");
    assert!(
        message.contains("AfterAllowTraffic") && message.contains("stopped renewing its lease"),
        "the PostTraffic hook names the dead watch: {message}"
    );
    assert_eq!(live_version(&local), "1", "rolled back");
}

#[tokio::test]
async fn a_duplicate_start_and_a_duplicate_watch_event_yield_one_watcher() {
    let mut opts = options(None);
    // (a) The PreTraffic hook's event delivered twice: two starts of the watch.
    let (round_tx, mut round_rx) = mpsc::unbounded_channel::<String>();
    let observe = move |progress: &Progress| {
        if let Some(e) = progress
            .last_event
            .as_ref()
            .filter(|e| e.event == Event::WatchRound)
        {
            let _ = round_tx.send(e.detail.clone());
        }
    };
    opts.time_scale = 60.0;
    let template = template();
    let local = Arc::new(
        StandIn::start(Options::default())
            .await
            .expect("the stand-in starts"),
    );
    let mut plan = codedeploy_local::prepare(&local, &template, &opts)
        .await
        .expect("prepared");
    plan.duplicate_deliveries = true;
    // (b) Mid-shift, the watch event of generation 1 once more, as a late duplicate of
    // Lambda's asynchronous delivery: it must be refused.
    let duplicate = {
        let local = Arc::clone(&local);
        async move {
            round_rx.recv().await?;
            let lease = lease(&local);
            let event = serde_json::json!({"codedeploy-hooks-watch": {
                "deploymentId": lease["watch"], "generation": lease["gen"]}});
            let answer = local
                .invoke(PRE_TRAFFIC, None, event.to_string().into_bytes())
                .await
                .expect("invoked");
            Some(serde_json::from_slice::<Value>(&answer.payload).expect("a summary"))
        }
    };
    let mut observe = observe;
    let (outcome, answer) = tokio::join!(local.deploy(plan, &mut observe), duplicate);
    let timeline = format!("{:#?}", outcome.timeline);
    assert_eq!(outcome.status, DeploymentStatus::Succeeded, "{timeline}");
    let answer = answer.expect("the duplicate was sent mid-shift");
    assert_eq!(answer["watch"]["end"], "refused", "{answer:#}");
    assert!(
        answer["reason"]
            .as_str()
            .is_some_and(|r| r.contains("already held by invocation")),
        "{answer:#}"
    );
    let rounds = rounds(&outcome);
    assert!(
        rounds.windows(2).all(|w| w[1] == w[0] + 1),
        "one watcher: each round once: {rounds:?}"
    );
}

#[tokio::test]
async fn a_deployment_longer_than_one_watcher_invocation_is_watched_to_its_end() {
    // The hook function's timeout cut to 6 s (real), for a 10-minute linear shift (10 s real):
    // the watch must hand over to new invocations of itself, and keep the count.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    let text = std::fs::read_to_string(&path).expect("template.yaml");
    assert!(
        text.contains("      Timeout: 900\n"),
        "the PreTraffic hook's timeout"
    );
    let short = Template::parse(
        &path,
        &text.replace("      Timeout: 900\n", "      Timeout: 6\n"),
    )
    .expect("parses");
    let mut opts = options(None);
    opts.deployment_type = Some("Linear10PercentEvery1Minute".into());
    let (local, outcome) = rehearse(&short, opts, |_| {}).await;
    let timeline = format!("{:#?}", outcome.timeline);
    assert_eq!(outcome.status, DeploymentStatus::Succeeded, "{timeline}");
    let lease = lease(&local);
    assert!(
        lease["gen"].as_u64().is_some_and(|g| g >= 2),
        "handed over at least once: {lease}"
    );
    let rounds = rounds(&outcome);
    assert!(rounds.len() >= 15, "rounds all along the shift: {rounds:?}");
    assert!(
        rounds.windows(2).all(|w| w[1] == w[0] + 1),
        "the count goes on across invocations: {rounds:?}"
    );
}
