//! The picture drawn: panels stacked on one time axis (the new version's traffic weight; per
//! version invocations, errors and p99 duration), then the lanes ([`super::lanes`]: alarms,
//! hooks, the watch), the axis and a legend. Nothing relies on colour alone: versions differ by marker and dash,
//! states are written out and alarm bands are hatched.

use super::lanes::{alarm_lanes, hook_lanes, legend, time_axis, verdict_line, watch_lanes};
use super::model::{Bucket, Picture};
use super::svg::{clock, Svg, TimeAxis, LEFT, WIDTH};
use crate::alarms::AlarmState;
use crate::markup::escape;

const WEIGHT_HEIGHT: f64 = 110.0;
const METRIC_HEIGHT: f64 = 66.0;
const GAP: f64 = 14.0;
/// Where the panels start: room for the verdict's label above them.
const TOP: f64 = 24.0;

/// Patterns, and styles that hold when printed.
const DEFS: &str = r##"<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" class="hatch-bg"/><line x1="0" y1="0" x2="0" y2="6" class="hatch-line"/></pattern></defs>"##;

/// Where a time axis ends that runs a little past `end`, so that what happened at `end`
/// (an alarm, the rollback, the last planned step) has width.
pub(crate) fn axis_past(end: f64) -> f64 {
    end * 1.08 + 1.0
}

/// The whole drawing, as an `<svg>` element.
pub(crate) fn draw(picture: &Picture) -> String {
    // An ended deployment's axis runs a little past the verdict.
    let end = match (picture.status.is_active(), picture.planned.last()) {
        (true, Some(&(last_planned, _))) => picture.end.max(axis_past(last_planned)),
        (true, None) => picture.end,
        (false, _) => axis_past(picture.end),
    };
    let axis = TimeAxis {
        end: end.max(picture.axis_at_least),
    };
    let mut body = Svg::default();
    // The verdict's label sits above the panels, clear of the weight's step labels.
    let mut y = TOP;
    y = weight_panel(&mut body, picture, axis, y) + GAP;
    for metric in Metric::ALL {
        y = metric_panel(&mut body, picture, axis, metric, y) + GAP;
    }
    y = alarm_lanes(&mut body, picture, axis, y);
    y = hook_lanes(&mut body, picture, axis, y);
    y = watch_lanes(&mut body, picture, axis, y);
    let bottom = y + 4.0;
    verdict_line(&mut body, picture, axis, (TOP, bottom));
    time_axis(&mut body, axis, (TOP, bottom));
    legend(&mut body, picture, bottom + 40.0);
    let height = bottom + 64.0;
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0}" width="{WIDTH}" height="{height:.0}" role="img" aria-labelledby="picture-title picture-desc" id="picture-svg"><title id="picture-title">{}</title><desc id="picture-desc">{}</desc>{DEFS}{}</svg>"#,
        escape(&format!(
            "Deployment {} of {}",
            picture.id, picture.function
        )),
        escape(&describe(picture)),
        body.finish()
    )
}

/// What the picture shows, in words.
fn describe(picture: &Picture) -> String {
    let steps: Vec<String> = picture
        .weight
        .iter()
        .map(|(t, p)| format!("{p}% at {}", clock(*t)))
        .collect();
    let mut text = format!(
        "{:?}. Traffic to version {}: {}.",
        picture.status,
        picture.target_version,
        steps.join(", ")
    );
    for lane in &picture.alarms {
        for (start, end, _) in lane.spans.iter().filter(|s| s.2 == AlarmState::Alarm) {
            text.push_str(&format!(
                " Alarm {} in ALARM from {} to {}.",
                lane.name,
                clock(*start),
                clock(*end)
            ));
        }
    }
    text
}

fn weight_panel(svg: &mut Svg, picture: &Picture, axis: TimeAxis, top: f64) -> f64 {
    let bottom = top + WEIGHT_HEIGHT;
    let y = |percent: u32| bottom - f64::from(percent) / 100.0 * WEIGHT_HEIGHT;
    let label = format!("traffic to version {}", picture.target_version);
    panel_frame(svg, axis, (top, bottom), &label, &["100%", "0%"]);
    let mut points = Vec::new();
    for (i, &(t, percent)) in picture.weight.iter().enumerate() {
        if let Some(&(_, before)) = i.checked_sub(1).and_then(|j| picture.weight.get(j)) {
            points.push((axis.x(t), y(before)));
        }
        points.push((axis.x(t), y(percent)));
    }
    let last = picture.weight.last().map_or(0, |w| w.1);
    let now = match picture.status.is_active() {
        true => axis.x(picture.end),
        false => axis.right(),
    };
    points.push((now, y(last)));
    svg.polyline(&points, "weight-line");
    planned_steps(svg, picture, axis, (now, y(last)), y);
    for &(t, percent) in picture.weight.iter().skip(1) {
        svg.group(
            &[
                ("data-kind", "weight-step".into()),
                ("data-t", format!("{t}")),
                ("data-percent", percent.to_string()),
            ],
            &format!(
                "{percent}% of the traffic to the new version from {}",
                clock(t)
            ),
        );
        let point = (axis.x(t), y(percent));
        svg.marker(point, false, "weight-point");
        svg.text(
            (point.0 + 4.0, step_label_y(percent, point.1)),
            "start",
            "step-label",
            &format!("{percent}%"),
        );
        svg.end();
    }
    bottom
}

/// Where a step's label goes: above its level, or below it near the panel's top.
fn step_label_y(percent: u32, level: f64) -> f64 {
    match percent > 85 {
        true => level + 14.0,
        false => level - 6.0,
    }
}

/// The steps still to come, dashed, from now.
fn planned_steps(
    svg: &mut Svg,
    picture: &Picture,
    axis: TimeAxis,
    now: (f64, f64),
    y: impl Fn(u32) -> f64,
) {
    if picture.planned.is_empty() {
        return;
    }
    let mut points = vec![now];
    let mut level = now.1;
    for &(t, percent) in &picture.planned {
        points.push((axis.x(t), level));
        level = y(percent);
        points.push((axis.x(t), level));
    }
    points.push((axis.right(), level));
    svg.polyline(&points, "weight-planned");
    for &(t, percent) in &picture.planned {
        let attributes = [
            ("data-kind", "planned-step".into()),
            ("data-t", format!("{t}")),
            ("data-percent", percent.to_string()),
        ];
        svg.group(
            &attributes,
            &format!("planned: {percent}% from {}", clock(t)),
        );
        svg.text(
            (axis.x(t) + 4.0, step_label_y(percent, y(percent))),
            "start",
            "planned-label",
            &format!("{percent}%"),
        );
        svg.end();
    }
    svg.line((now.0, TOP), (now.0, TOP + WEIGHT_HEIGHT), "now-line");
}

/// The per-version metrics drawn as panels.
#[derive(Debug, Clone, Copy)]
enum Metric {
    Invocations,
    Errors,
    P99,
}

impl Metric {
    const ALL: [Metric; 3] = [Metric::Invocations, Metric::Errors, Metric::P99];

    fn label(self) -> &'static str {
        match self {
            Metric::Invocations => "invocations",
            Metric::Errors => "errors",
            Metric::P99 => "p99 duration (ms)",
        }
    }

    fn value(self, bucket: &Bucket) -> Option<f64> {
        match self {
            Metric::Invocations => Some(bucket.invocations),
            Metric::Errors => Some(bucket.errors),
            Metric::P99 => bucket.p99_ms,
        }
    }
}

fn metric_panel(svg: &mut Svg, picture: &Picture, axis: TimeAxis, metric: Metric, top: f64) -> f64 {
    let bottom = top + METRIC_HEIGHT;
    let max = picture
        .versions
        .iter()
        .flat_map(|s| s.buckets.iter().filter_map(|b| metric.value(b)))
        .fold(0.0_f64, f64::max);
    let scale = if max > 0.0 { max } else { 1.0 };
    let top_label = format_value(max);
    panel_frame(svg, axis, (top, bottom), metric.label(), &[&top_label, "0"]);
    if max == 0.0 && picture.versions.iter().all(|s| s.buckets.is_empty()) {
        let middle = ((LEFT + axis.right()) / 2.0, (top + bottom) / 2.0 + 4.0);
        let note = match picture.status.is_active() {
            true => "no invocations through the alias yet",
            false => "no invocations through the alias",
        };
        svg.text(middle, "middle", "no-data", note);
    }
    for (i, series) in picture.versions.iter().enumerate() {
        let new = i == 1;
        let role = if new { "new" } else { "current" };
        let values: Vec<String> = series
            .buckets
            .iter()
            .filter_map(|b| Some(format_value(metric.value(b)?)))
            .collect();
        svg.group(
            &[
                ("data-kind", "metric".into()),
                ("data-metric", metric.label().into()),
                ("data-version", series.version.clone()),
                ("data-values", values.join(",")),
            ],
            &format!("{} of version {} ({role})", metric.label(), series.version),
        );
        // Each point with its bucket: a bucket without this metric (no durations) has none.
        let points: Vec<(&Bucket, (f64, f64))> = series
            .buckets
            .iter()
            .filter_map(|b| {
                let v = metric.value(b)?;
                let at = axis.x((b.start + b.end) / 2.0);
                Some((b, (at, bottom - v / scale * METRIC_HEIGHT)))
            })
            .collect();
        series_line(svg, &points, role);
        for (b, point) in points {
            svg.group(&[], &bucket_title(&series.version, b));
            svg.marker(point, new, &format!("point point-{role}"));
            svg.end();
        }
        svg.end();
    }
    bottom
}

/// A version's line: it joins adjacent buckets only, so a gap (no invocations) stays a gap.
fn series_line(svg: &mut Svg, points: &[(&Bucket, (f64, f64))], role: &str) {
    let mut segment: Vec<(f64, f64)> = Vec::new();
    let mut previous_end = f64::NAN;
    for (b, point) in points {
        if !segment.is_empty() && b.start > previous_end + 1e-6 {
            svg.polyline(&segment, &format!("series series-{role}"));
            segment.clear();
        }
        segment.push(*point);
        previous_end = b.end;
    }
    svg.polyline(&segment, &format!("series series-{role}"));
}

/// A bucket in words, for its points' tooltips: the error rate the counts imply included.
fn bucket_title(version: &str, b: &Bucket) -> String {
    let rate = match b.invocations > 0.0 {
        true => format!(" ({:.1}%)", b.errors / b.invocations * 100.0),
        false => String::new(),
    };
    let p99 = b
        .p99_ms
        .map_or(String::new(), |p| format!(", p99 {p:.1} ms"));
    format!(
        "version {version}, {} to {}: {} invocations, {} errors{rate}{p99}",
        clock(b.start),
        clock(b.end),
        format_value(b.invocations),
        format_value(b.errors)
    )
}

fn format_value(v: f64) -> String {
    if v >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// A panel's label, its top and bottom values, and the time grid.
fn panel_frame(
    svg: &mut Svg,
    axis: TimeAxis,
    (top, bottom): (f64, f64),
    label: &str,
    ends: &[&str],
) {
    svg.rect(LEFT, top, axis.right() - LEFT, bottom - top, "panel");
    for t in axis.ticks() {
        svg.line((axis.x(t), top), (axis.x(t), bottom), "grid");
    }
    svg.text(
        (LEFT - 10.0, (top + bottom) / 2.0 + 4.0),
        "end",
        "panel-label",
        label,
    );
    if let [high, low] = ends {
        svg.text((LEFT - 10.0, top + 10.0), "end", "scale", high);
        svg.text((LEFT - 10.0, bottom), "end", "scale", low);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codedeploy::spec::DeploymentStatus;

    fn bucket(start: f64, invocations: f64) -> Bucket {
        Bucket {
            start,
            end: start + 60.0,
            invocations,
            errors: 0.0,
            p99_ms: Some(2.0),
        }
    }

    #[test]
    fn pictures_side_by_side_share_the_longest_clock() {
        let short = Picture::ended_at(60.0, DeploymentStatus::Succeeded);
        let alone = draw(&short);
        let mut beside_a_long_one = short.clone();
        beside_a_long_one.axis_at_least = axis_past(600.0);
        let shared = draw(&beside_a_long_one);
        assert!(!alone.contains(">10m<"), "its own axis ends near a minute");
        assert!(
            shared.contains(">10m<"),
            "the shared axis reaches the longest one's end"
        );
    }

    #[test]
    fn a_line_joins_adjacent_buckets_and_breaks_where_there_were_no_invocations() {
        let mut picture = Picture::ended_at(600.0, DeploymentStatus::Succeeded);
        picture.versions[1].version = "2".into();
        picture.versions[1].buckets = vec![bucket(0.0, 5.0), bucket(60.0, 6.0), bucket(300.0, 4.0)];
        let svg = draw(&picture);
        let start = svg
            .find(r#"data-metric="invocations" data-version="2""#)
            .unwrap();
        // Up to the next metric's group (points nest their own groups with their titles).
        let next = svg[start + 1..].find(r#"data-kind="metric""#).unwrap();
        let group = &svg[start..start + 1 + next];
        assert_eq!(group.matches("<polyline").count(), 2, "{group}");
        assert!(group.contains(r#"data-values="5,6,4""#));
        assert!(group.contains("version 2, 5m to 6m: 4 invocations, 0 errors (0.0%), p99 2.0 ms"));
    }

    #[test]
    fn rounds_that_analysed_get_a_mark_with_the_analysis_verdict() {
        let mut picture = Picture::ended_at(120.0, DeploymentStatus::Stopped);
        let round = |at: f64, round: u64, analysis: Option<&str>| super::super::model::Round {
            at,
            round,
            verdict: "passed".into(),
            analysis: analysis.map(str::to_owned),
            detail: format!("round {round}"),
        };
        picture.rounds = vec![
            round(5.0, 1, None),
            round(35.0, 2, Some("Inconclusive")),
            round(65.0, 3, Some("Fail")),
        ];
        let svg = draw(&picture);
        assert_eq!(svg.matches(r#"data-kind="watch-round""#).count(), 3);
        assert_eq!(svg.matches(r#"data-kind="analysis""#).count(), 2);
        assert!(svg.contains(r#"data-kind="analysis" data-round="3" data-verdict="Fail""#));
        assert!(svg.contains("canary analyses"));
    }

    #[test]
    fn the_alarm_periods_are_told_in_words_too() {
        let mut picture = Picture::ended_at(80.0, DeploymentStatus::Failed);
        picture.weight.push((12.0, 10));
        picture.alarms = vec![super::super::model::AlarmLane {
            name: "Errors".into(),
            spans: vec![(0.0, 60.0, AlarmState::Ok), (60.0, 80.0, AlarmState::Alarm)],
        }];
        let text = describe(&picture);
        assert!(text.contains("10% at 12s"), "{text}");
        assert!(
            text.contains("Alarm Errors in ALARM from 1m to 1m20s"),
            "{text}"
        );
    }
}
