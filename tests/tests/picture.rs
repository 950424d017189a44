//! The picture of a deployment, as a person sees it in a real browser (headless Chromium):
//! the report `deploy --report` writes for a rollback, and `serve`'s live view while a
//! deployment runs and after it stopped. Assertions read the DOM Chromium rendered; the
//! screenshots and the printed PDF are left in `target/picture/`.

use std::time::Duration;

use codedeploy_local::{DeploymentPlan, DeploymentSpec, DeploymentStatus, StandIn, VersionSpec};
use e2e::{binary, browser};
use scraper::{ElementRef, Html, Selector};

fn select<'a>(dom: &'a Html, css: &str) -> Vec<ElementRef<'a>> {
    let selector = Selector::parse(css).unwrap_or_else(|e| panic!("selector {css}: {e:?}"));
    dom.select(&selector).collect()
}

fn one<'a>(dom: &'a Html, css: &str) -> ElementRef<'a> {
    let found = select(dom, css);
    assert_eq!(found.len(), 1, "one {css} in the page");
    found[0]
}

fn text(element: ElementRef<'_>) -> String {
    element.text().collect::<String>()
}

fn attr(element: ElementRef<'_>, name: &str) -> String {
    element.value().attr(name).unwrap_or_default().to_owned()
}

fn number(element: ElementRef<'_>, name: &str) -> f64 {
    attr(element, name)
        .parse()
        .unwrap_or_else(|_| panic!("{name} of {:?} is a number", element.value()))
}

/// The weight steps drawn: `(deployment seconds, percent)`.
fn weight_steps(dom: &Html) -> Vec<(f64, u32)> {
    select(dom, r#"[data-kind="weight-step"]"#)
        .into_iter()
        .map(|step| (number(step, "data-t"), number(step, "data-percent") as u32))
        .collect()
}

/// Where the axis puts a time: from the first and last ticks' positions.
fn x_of(dom: &Html, t: f64) -> f64 {
    let ticks = select(dom, r#"[data-kind="tick"]"#);
    let (first, last) = (ticks[0], ticks[ticks.len() - 1]);
    let (t0, x0) = (number(first, "data-t"), number(first, "data-x"));
    let (t1, x1) = (number(last, "data-t"), number(last, "data-x"));
    x0 + (t - t0) / (t1 - t0) * (x1 - x0)
}

fn metric_sum(dom: &Html, metric: &str, version: &str) -> f64 {
    let css = format!(r#"[data-kind="metric"][data-metric="{metric}"][data-version="{version}"]"#);
    let values = attr(one(dom, &css), "data-values");
    values
        .split(',')
        .filter_map(|v| v.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn the_report_of_a_rollback_shows_the_verdict_the_steps_and_the_alarm() {
    let Some(chromium) = browser::chromium() else {
        return;
    };
    let dir = browser::artifacts();
    let (report, json) = (dir.join("rollback.html"), dir.join("rollback.json"));
    let output = e2e::deploy_command(&dir)
        .args(["--time-scale", "60", "--traffic", "20"])
        .args(["--target-env", "HELLO_FAULT=error-unmarked"])
        .args(["--current-env", "SECRET_TOKEN=hunter2"])
        .arg("--json")
        .arg(&json)
        .arg("--report")
        .arg(&report)
        .output()
        .await
        .expect("codedeploy-local runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "rolled back: {stderr}");
    let outcome: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();

    let html = std::fs::read_to_string(&report).unwrap();
    assert!(
        !html.contains("hunter2"),
        "a secret-looking value is not in the report"
    );
    assert!(html.contains("SECRET_TOKEN=***"));
    let url = format!("file://{}", report.display());
    let dom = Html::parse_document(&browser::dom(&chromium, &url).await);

    let verdict = one(&dom, "#verdict");
    assert_eq!(attr(verdict, "data-status"), "Failed");
    assert!(
        text(verdict).contains("Failed, rolled back"),
        "{}",
        text(verdict)
    );
    assert!(text(one(&dom, "#reason")).starts_with("ALARM_ACTIVE"));

    // The weight steps where the timeline says traffic moved, drawn at those times.
    let shifted: Vec<(f64, u32)> = outcome["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["about"]["kind"] == "weight")
        .map(|e| {
            let t = e["deployment_seconds"].as_f64().unwrap();
            (t, e["about"]["percent"].as_u64().unwrap() as u32)
        })
        .collect();
    assert_eq!(weight_steps(&dom), shifted);
    assert_eq!(
        shifted.iter().map(|s| s.1).collect::<Vec<_>>(),
        [10, 0],
        "10% (the canary), then 0% (the rollback)"
    );
    for step in select(&dom, r#"[data-kind="weight-step"]"#) {
        let drawn = one_in(step, "circle");
        let expected = x_of(&dom, number(step, "data-t"));
        assert!(
            (number(drawn, "cx") - expected).abs() < 1.0,
            "drawn at its time"
        );
    }

    // The alarm that stopped it is a band in ALARM, wide enough to see.
    let bands = select(&dom, r#"[data-kind="alarm-band"][data-state="ALARM"]"#);
    let alarms: Vec<String> = bands.iter().map(|b| attr(*b, "data-alarm")).collect();
    assert!(
        alarms.contains(&"NewVersionErrorsAlarm".to_owned()),
        "{alarms:?}"
    );
    for band in bands {
        assert!(number(one_in(band, "rect"), "width") > 5.0);
    }
    let hook = one(
        &dom,
        r#"[data-kind="hook-span"][data-lifecycle-event="BeforeAllowTraffic"]"#,
    );
    assert_eq!(attr(hook, "data-verdict"), "Succeeded");

    // Per version: the new one's errors (unmarked traffic fails there), none on the current.
    assert!(metric_sum(&dom, "errors", "2") > 0.0);
    assert_eq!(metric_sum(&dom, "errors", "1"), 0.0);
    assert!(metric_sum(&dom, "invocations", "1") > metric_sum(&dom, "invocations", "2"));

    browser::screenshot(&chromium, &url, &dir.join("rollback.png"), (1040, 800)).await;
    let pdf = dir.join("rollback.pdf");
    browser::print(&chromium, &url, &pdf).await;
    assert!(
        std::fs::read(&pdf).unwrap().starts_with(b"%PDF"),
        "it prints"
    );
}

fn one_in<'a>(element: ElementRef<'a>, css: &str) -> ElementRef<'a> {
    let selector = Selector::parse(css).unwrap();
    element
        .select(&selector)
        .next()
        .unwrap_or_else(|| panic!("{css} in {:?}", element.value()))
}

#[tokio::test]
async fn the_live_view_follows_a_running_deployment_and_shows_how_it_ended() {
    let Some(chromium) = browser::chromium() else {
        return;
    };
    let local = std::sync::Arc::new(
        StandIn::start(codedeploy_local::Options::default())
            .await
            .unwrap(),
    );
    for version in ["1", "2"] {
        local
            .publish_version("hello", version, VersionSpec::new(binary("hello")))
            .unwrap();
    }
    local.set_alias("hello", "live", "1").unwrap();
    // Real time: the canary's 5 minutes at 10% outlast the test, which stops it.
    let spec = DeploymentSpec::new("hello", "live", "1", "2");
    let plan = DeploymentPlan::new(spec, "Canary10Percent5Minutes".parse().unwrap(), 1.0);
    let (percent, mut shifted) = tokio::sync::watch::channel(0);
    let running = {
        let local = std::sync::Arc::clone(&local);
        tokio::spawn(async move {
            let mut observer = |p: &codedeploy_local::Progress| {
                percent.send_replace(p.percent);
            };
            local.deploy(plan, &mut observer).await
        })
    };
    tokio::time::timeout(Duration::from_secs(30), shifted.wait_for(|p| *p == 10))
        .await
        .expect("the canary step comes")
        .unwrap();

    let url = format!("{}/ui", local.endpoint());
    let dom = Html::parse_document(&browser::dom(&chromium, &url).await);
    assert!(text(one(&dom, "#live-status")).starts_with("updated"));
    let row = one(&dom, r#"#deployments tr[data-status="InProgress"]"#);
    let id = attr(row, "data-id");
    assert_eq!(
        text(one(&dom, "#deployment-id")),
        id,
        "the running one is shown"
    );
    assert_eq!(attr(one(&dom, "#verdict"), "data-status"), "InProgress");
    let taken = weight_steps(&dom);
    assert_eq!(taken.iter().map(|s| s.1).collect::<Vec<_>>(), [10]);
    let planned: Vec<(f64, f64)> = select(&dom, r#"[data-kind="planned-step"]"#)
        .into_iter()
        .map(|s| (number(s, "data-t"), number(s, "data-percent")))
        .collect();
    assert_eq!(
        planned,
        [(taken[0].0 + 300.0, 100.0)],
        "all of it 5 minutes on"
    );
    browser::screenshot(
        &chromium,
        &url,
        &browser::artifacts().join("live.png"),
        (1040, 800),
    )
    .await;

    let codedeploy = aws_sdk_codedeploy::Client::new(&e2e::sdk_config(local.endpoint()));
    codedeploy
        .stop_deployment()
        .deployment_id(&id)
        .auto_rollback_enabled(true)
        .send()
        .await
        .expect("StopDeployment");
    let outcome = running.await.unwrap();
    assert_eq!(outcome.status, DeploymentStatus::Stopped);

    let chosen = format!("{url}?deployment={id}");
    let dom = Html::parse_document(&browser::dom(&chromium, &chosen).await);
    let verdict = one(&dom, "#verdict");
    assert_eq!(attr(verdict, "data-status"), "Stopped");
    assert!(
        text(verdict).contains("Stopped, rolled back"),
        "{}",
        text(verdict)
    );
    assert_eq!(
        weight_steps(&dom).iter().map(|s| s.1).collect::<Vec<_>>(),
        [10, 0]
    );
    assert!(select(&dom, r#"[data-kind="planned-step"]"#).is_empty());

    let missing = reqwest::get(format!("{}/ui/deployments/d-NOSUCH000", local.endpoint()))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.text().await.unwrap().contains("/ui/deployments"));
}
