//! What the picture shows, on the deployment's clock: read from the deployment's record (its
//! timeline and plan) and the stand-in's CloudWatch metrics, at the moment it is drawn.

use std::time::{SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::alarms::AlarmState;
use crate::cloudwatch::{MetricQuery, Metrics, SeriesKey, Stat};
use crate::codedeploy::deployments::Record;
use crate::codedeploy::spec::DeploymentStatus;
use crate::codedeploy::timeline::{About, HookStep, TimelineEvent};

/// Time buckets of the per-version metrics across the deployment, at most.
const BUCKETS: f64 = 40.0;

/// A deployment as drawn. Times are seconds on the deployment's clock from its start.
#[derive(Debug, Clone)]
pub(crate) struct Picture {
    pub(crate) id: String,
    pub(crate) function: String,
    pub(crate) alias: String,
    pub(crate) current_version: String,
    pub(crate) target_version: String,
    pub(crate) config: String,
    pub(crate) time_scale: f64,
    pub(crate) status: DeploymentStatus,
    /// `(code, message)` of a deployment that did not succeed.
    pub(crate) error: Option<(String, String)>,
    /// The end of the time axis: the last event of an ended deployment, now for a running one.
    pub(crate) end: f64,
    /// The new version's share from each time on, starting at `(0, 0)`.
    pub(crate) weight: Vec<(f64, u32)>,
    /// The steps still to come while the shift runs, as its configuration plans them.
    pub(crate) planned: Vec<(f64, u32)>,
    pub(crate) alarms: Vec<AlarmLane>,
    pub(crate) hooks: Vec<HookSpan>,
    pub(crate) rounds: Vec<Round>,
    /// The current version's series, then the new one's.
    pub(crate) versions: [Series; 2],
    /// What the deployment ran with, as `(name, value)`.
    pub(crate) options: Vec<(String, String)>,
    /// Draw the time axis at least this long (seconds): pictures side by side share a clock.
    pub(crate) axis_at_least: f64,
    pub(crate) events: Vec<TimelineEvent>,
    /// Where the metrics are read from, once the record has been let go.
    window: Option<Window>,
}

/// One alarm's states over the deployment.
#[derive(Debug, Clone)]
pub(crate) struct AlarmLane {
    pub(crate) name: String,
    pub(crate) spans: Vec<(f64, f64, AlarmState)>,
}

/// A hook execution, from its invocation to its report (or the deployment's end).
#[derive(Debug, Clone)]
pub(crate) struct HookSpan {
    pub(crate) lifecycle_event: String,
    pub(crate) function: String,
    pub(crate) start: f64,
    pub(crate) end: f64,
    /// How it ended; `None` while it runs, or when the deployment ended first.
    pub(crate) outcome: Option<HookStep>,
}

/// A round of the shift's watch.
#[derive(Debug, Clone)]
pub(crate) struct Round {
    pub(crate) at: f64,
    pub(crate) round: u64,
    pub(crate) verdict: String,
    /// Its canary analysis's verdict, if it analysed.
    pub(crate) analysis: Option<String>,
    pub(crate) detail: String,
}

/// One version's invocations through the alias, per time bucket.
#[derive(Debug, Clone, Default)]
pub(crate) struct Series {
    pub(crate) version: String,
    pub(crate) buckets: Vec<Bucket>,
}

/// A time bucket of a version's invocations.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bucket {
    pub(crate) start: f64,
    pub(crate) end: f64,
    pub(crate) invocations: f64,
    pub(crate) errors: f64,
    /// p99 of `Duration`, milliseconds.
    pub(crate) p99_ms: Option<f64>,
}

impl Picture {
    /// The picture of a deployment as its record stands now, without the metrics (read them
    /// with [`Picture::read_metrics`] after letting go of the record).
    pub(crate) fn of(record: &Record) -> Picture {
        let spec = &record.spec;
        let (time_scale, config) = record
            .run
            .as_ref()
            .map_or((1.0, spec.config_name.clone()), |run| {
                (run.plan.time_scale, run.plan.config.to_string())
            });
        let ended = !record.status.is_active();
        let end = axis_end(record, ended);
        let mut picture = Picture {
            id: record.id.clone(),
            function: spec.function_name.clone(),
            alias: spec.alias.clone(),
            current_version: spec.current_version.clone(),
            target_version: spec.target_version.clone(),
            config,
            time_scale,
            status: record.status,
            error: record.error.clone(),
            end,
            weight: weight_steps(&record.timeline),
            planned: Vec::new(),
            alarms: Vec::new(),
            hooks: hook_spans(&record.timeline, end),
            rounds: rounds(&record.timeline),
            versions: Default::default(),
            options: Vec::new(),
            axis_at_least: 0.0,
            events: record.timeline.clone(),
            window: None,
        };
        if let Some(run) = &record.run {
            let names = run.plan.alarms.iter().map(|a| a.name.clone());
            picture.alarms = alarm_lanes(names, &record.timeline, end);
            picture.options = plan_options(&run.plan);
            if !ended {
                picture.planned = planned_steps(&run.plan, &picture.weight);
            }
            picture.window = Some(Window {
                started_at: run.started_at,
                time_scale,
                end,
            });
        }
        picture
    }

    /// Each version's invocations through the alias during the deployment.
    pub(crate) fn read_metrics(&mut self, metrics: &Metrics) {
        let Some(window) = &self.window else {
            return;
        };
        self.versions = [&self.current_version, &self.target_version]
            .map(|version| window.series(metrics, &self.function, &self.alias, version));
    }
}

#[cfg(test)]
impl Picture {
    /// A picture of hello 1 -> 2 that ended at `end` with `status`, and nothing drawn yet.
    pub(crate) fn ended_at(end: f64, status: DeploymentStatus) -> Picture {
        Picture {
            id: "d-TEST00000".into(),
            function: "hello".into(),
            alias: "live".into(),
            current_version: "1".into(),
            target_version: "2".into(),
            config: "Canary10Percent5Minutes".into(),
            time_scale: 60.0,
            status,
            error: None,
            end,
            weight: vec![(0.0, 0)],
            planned: Vec::new(),
            alarms: Vec::new(),
            hooks: Vec::new(),
            rounds: Vec::new(),
            versions: Default::default(),
            options: Vec::new(),
            axis_at_least: 0.0,
            events: Vec::new(),
            window: None,
        }
    }
}

/// The deployment clock's reading at the last event (ended) or now (running).
fn axis_end(record: &Record, ended: bool) -> f64 {
    let last = record.timeline.last().map_or(0.0, |e| e.deployment_seconds);
    match (&record.run, ended) {
        (Some(run), false) => {
            let now = Instant::now().duration_since(run.started).as_secs_f64();
            (now * run.plan.time_scale).max(last)
        }
        _ => last,
    }
}

fn weight_steps(timeline: &[TimelineEvent]) -> Vec<(f64, u32)> {
    let mut steps = vec![(0.0, 0)];
    for e in timeline {
        if let Some(About::Weight { percent }) = e.about {
            steps.push((e.deployment_seconds, percent));
        }
    }
    steps
}

/// The shift's steps after the last one taken, timed from its first (the shift's start).
fn planned_steps(
    plan: &crate::codedeploy::plan::DeploymentPlan,
    taken: &[(f64, u32)],
) -> Vec<(f64, u32)> {
    let (Some(first), Some(last)) = (taken.get(1), taken.last()) else {
        return Vec::new(); // not shifting yet: when it starts depends on the hook
    };
    plan.config
        .steps()
        .iter()
        .map(|step| (first.0 + step.after.as_secs_f64(), step.percent))
        .filter(|(t, _)| *t > last.0)
        .collect()
}

/// What a running deployment is doing, from its timeline.
pub(crate) fn phase(timeline: &[TimelineEvent]) -> &'static str {
    let last_hook = timeline.iter().rev().find_map(|e| match &e.about {
        Some(About::Hook { step, .. }) => Some(*step),
        _ => None,
    });
    let shifting = timeline
        .iter()
        .any(|e| matches!(e.about, Some(About::Weight { .. })));
    match (last_hook, shifting) {
        (Some(HookStep::Invoked), false) => "the BeforeAllowTraffic hook runs",
        (Some(HookStep::Invoked), true) => "the AfterAllowTraffic hook runs",
        (_, true) => "shifting traffic",
        (_, false) => "starting",
    }
}

pub(crate) fn alarm_lanes(
    names: impl Iterator<Item = String>,
    timeline: &[TimelineEvent],
    end: f64,
) -> Vec<AlarmLane> {
    names
        .map(|name| {
            let mut spans = Vec::new();
            let (mut since, mut state) = (0.0, AlarmState::Ok);
            for e in timeline {
                if let Some(About::Alarm { alarm, state: next }) = &e.about {
                    if *alarm == name && *next != state {
                        spans.push((since, e.deployment_seconds, state));
                        (since, state) = (e.deployment_seconds, *next);
                    }
                }
            }
            spans.push((since, end.max(since), state));
            AlarmLane { name, spans }
        })
        .collect()
}

/// Hook executions from their steps; one still open ends at `end` (it runs, or the
/// deployment ended before it reported).
pub(crate) fn hook_spans(timeline: &[TimelineEvent], end: f64) -> Vec<HookSpan> {
    let mut spans: Vec<HookSpan> = Vec::new();
    for e in timeline {
        let Some(About::Hook {
            lifecycle_event,
            function,
            step,
        }) = &e.about
        else {
            continue;
        };
        let open = spans
            .iter()
            .rposition(|s| s.lifecycle_event == *lifecycle_event && s.outcome.is_none());
        match (step, open) {
            // A duplicate delivery is the same execution.
            (HookStep::Invoked, Some(_)) => {}
            (HookStep::Invoked, None) => spans.push(HookSpan {
                lifecycle_event: lifecycle_event.clone(),
                function: function.clone(),
                start: e.deployment_seconds,
                end,
                outcome: None,
            }),
            (step, Some(i)) => {
                spans[i].end = e.deployment_seconds;
                spans[i].outcome = Some(*step);
            }
            (_, None) => {}
        }
    }
    spans
}

fn rounds(timeline: &[TimelineEvent]) -> Vec<Round> {
    timeline
        .iter()
        .filter_map(|e| match &e.about {
            Some(About::WatchRound {
                round,
                verdict,
                analysis,
            }) => Some(Round {
                at: e.deployment_seconds,
                round: *round,
                verdict: verdict.clone(),
                analysis: analysis.clone(),
                detail: e.detail.clone(),
            }),
            _ => None,
        })
        .collect()
}

fn plan_options(plan: &crate::codedeploy::plan::DeploymentPlan) -> Vec<(String, String)> {
    let mut options = vec![
        ("deployment type".to_owned(), plan.config.to_string()),
        ("time scale".to_owned(), format!("x{}", plan.time_scale)),
    ];
    let alarms: Vec<&str> = plan.alarms.iter().map(|a| a.name.as_str()).collect();
    let alarms = match alarms.is_empty() {
        true => "none".to_owned(),
        false => alarms.join(", "),
    };
    options.push(("alarms".to_owned(), alarms));
    if let Some(traffic) = &plan.traffic {
        let rate = format!("{} calls/s (real time) to the alias", traffic.rate);
        options.push(("synthetic traffic".to_owned(), rate));
    }
    if plan.hook_timeout != crate::codedeploy::plan::HOOK_TIMEOUT {
        let timeout = format!("{:?} (deployment time)", plan.hook_timeout);
        options.push(("hook timeout".to_owned(), timeout));
    }
    if plan.duplicate_deliveries {
        options.push(("hook events".to_owned(), "delivered twice".to_owned()));
    }
    options
}

/// Where the deployment's clock sits in real time, for reading metrics kept in real seconds.
#[derive(Debug, Clone)]
struct Window {
    started_at: SystemTime,
    time_scale: f64,
    end: f64,
}

impl Window {
    /// A version's invocations through the alias, as CloudWatch has them by `ExecutedVersion`.
    fn series(&self, metrics: &Metrics, function: &str, alias: &str, version: &str) -> Series {
        let started = self
            .started_at
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let real_length = self.end / self.time_scale;
        // Metrics are kept per real second: no bucket is shorter.
        let period = (real_length / BUCKETS).ceil().max(1.0) as u64;
        let (first, last) = (
            started.floor() as u64,
            (started + real_length).ceil() as u64 + 1,
        );
        let dimensions = vec![
            ("FunctionName".to_owned(), function.to_owned()),
            ("Resource".to_owned(), format!("{function}:{alias}")),
            ("ExecutedVersion".to_owned(), version.to_owned()),
        ];
        let read = |name: &str, stat: Stat| {
            let query = MetricQuery {
                key: SeriesKey::new("AWS/Lambda", name, dimensions.clone()),
                stat,
                period,
            };
            metrics.datapoints(&query, first, last)
        };
        let invocations = read("Invocations", Stat::Sum);
        let errors = read("Errors", Stat::Sum);
        let p99 = read("Duration", Stat::Percentile(99.0));
        let at = |second: u64| ((second as f64 - started) * self.time_scale).clamp(0.0, self.end);
        let buckets = invocations
            .iter()
            .map(|&(second, count)| Bucket {
                start: at(second),
                end: at(second + period),
                invocations: count,
                errors: value_at(&errors, second).unwrap_or(0.0),
                p99_ms: value_at(&p99, second),
            })
            .collect();
        Series {
            version: version.to_owned(),
            buckets,
        }
    }
}

fn value_at(points: &[(u64, f64)], second: u64) -> Option<f64> {
    points.iter().find(|(at, _)| *at == second).map(|(_, v)| *v)
}

#[cfg(test)]
mod tests;
