//! The lanes under the panels (alarm states, hook executions, watch rounds), the verdict's
//! line, the time axis and the legend.

use super::model::Picture;
use super::svg::{clock, text_width, Svg, TimeAxis, LEFT};
use crate::alarms::AlarmState;
use crate::codedeploy::timeline::HookStep;

const LANE_HEIGHT: f64 = 26.0;

fn lane_label(svg: &mut Svg, y: f64, label: &str) {
    svg.text(
        (LEFT - 10.0, y + LANE_HEIGHT / 2.0 + 4.0),
        "end",
        "lane-label",
        label,
    );
}

pub(super) fn alarm_lanes(svg: &mut Svg, picture: &Picture, axis: TimeAxis, mut y: f64) -> f64 {
    for lane in &picture.alarms {
        lane_label(svg, y, &format!("alarm {}", lane.name));
        for (i, &(start, end, state)) in lane.spans.iter().enumerate() {
            // The last state holds past the verdict, as far as the stand-in knows: it stops
            // evaluating alarms when the deployment ends.
            let last = i + 1 == lane.spans.len() && !picture.status.is_active();
            svg.group(
                &[
                    ("data-kind", "alarm-band".into()),
                    ("data-alarm", lane.name.clone()),
                    ("data-state", state.as_str().into()),
                    ("data-start", format!("{start}")),
                    ("data-end", format!("{end}")),
                ],
                &match last {
                    true => format!(
                        "{} {} from {} (its state at the verdict)",
                        lane.name,
                        state.as_str(),
                        clock(start)
                    ),
                    false => format!(
                        "{} {} from {} to {}",
                        lane.name,
                        state.as_str(),
                        clock(start),
                        clock(end)
                    ),
                },
            );
            let x0 = axis.x(start);
            let x1 = if last { axis.right() } else { axis.x(end) };
            let class = match state {
                AlarmState::Alarm => "band band-alarm",
                AlarmState::Ok => "band band-ok",
            };
            svg.rect(x0, y + 3.0, x1 - x0, LANE_HEIGHT - 6.0, class);
            if x1 - x0 > 30.0 {
                svg.text(
                    (x0 + 5.0, y + LANE_HEIGHT / 2.0 + 4.0),
                    "start",
                    "band-label",
                    state.as_str(),
                );
            }
            svg.end();
        }
        y += LANE_HEIGHT;
    }
    y
}

pub(super) fn hook_lanes(svg: &mut Svg, picture: &Picture, axis: TimeAxis, mut y: f64) -> f64 {
    for span in &picture.hooks {
        lane_label(svg, y, &format!("hook {}", span.lifecycle_event));
        let (class, verdict) = match span.outcome {
            Some(HookStep::Succeeded) => ("span span-ok", "✓ Succeeded"),
            Some(HookStep::Failed) => ("span span-failed", "✗ Failed"),
            Some(HookStep::TimedOut) => ("span span-failed", "✗ no report in time"),
            _ if picture.status.is_active() => ("span span-running", "… running"),
            _ => ("span span-cut", "– no report (the deployment ended)"),
        };
        svg.group(
            &[
                ("data-kind", "hook-span".into()),
                ("data-lifecycle-event", span.lifecycle_event.clone()),
                (
                    "data-verdict",
                    verdict.trim_start_matches(['✓', '✗', '…', '–', ' ']).into(),
                ),
                ("data-start", format!("{}", span.start)),
                ("data-end", format!("{}", span.end)),
            ],
            &format!(
                "{} hook {}: {verdict} ({} to {})",
                span.lifecycle_event,
                span.function,
                clock(span.start),
                clock(span.end)
            ),
        );
        let (x0, x1) = (
            axis.x(span.start),
            axis.x(span.end).max(axis.x(span.start) + 3.0),
        );
        svg.rect(x0, y + 3.0, x1 - x0, LANE_HEIGHT - 6.0, class);
        // The verdict right of the span, or left of it when the span ends near the edge.
        let label_y = y + LANE_HEIGHT / 2.0 + 4.0;
        match x1 + text_width(verdict) > axis.right() {
            true => svg.text((x0 - 5.0, label_y), "end", "span-label", verdict),
            false => svg.text((x1 + 5.0, label_y), "start", "span-label", verdict),
        }
        svg.end();
        y += LANE_HEIGHT;
    }
    y
}

/// A symbol at a time on a lane, with what it is.
struct Mark {
    at: f64,
    symbol: &'static str,
    class: &'static str,
    attributes: Vec<(&'static str, String)>,
    title: String,
}

/// A lane of marks (nothing when there are none); returns where the next lane starts.
fn mark_lane(svg: &mut Svg, axis: TimeAxis, y: f64, label: &str, marks: Vec<Mark>) -> f64 {
    if marks.is_empty() {
        return y;
    }
    lane_label(svg, y, label);
    let middle = y + LANE_HEIGHT / 2.0;
    svg.line((LEFT, middle), (axis.right(), middle), "grid");
    for mark in marks {
        svg.group(&mark.attributes, &mark.title);
        svg.text(
            (axis.x(mark.at), middle + 5.0),
            "middle",
            mark.class,
            mark.symbol,
        );
        svg.end();
    }
    y + LANE_HEIGHT
}

/// The watch's rounds (✓ passed, ✗ failed, ■ stopping), then the canary analyses of those
/// that analysed (✓ Pass, ✗ Fail, ? Inconclusive).
pub(super) fn watch_lanes(svg: &mut Svg, picture: &Picture, axis: TimeAxis, y: f64) -> f64 {
    let title =
        |r: &super::model::Round| format!("round {} at {}: {}", r.round, clock(r.at), r.detail);
    let rounds = picture.rounds.iter().map(|r| {
        let (symbol, class) = match r.verdict.as_str() {
            "passed" => ("✓", "round round-passed"),
            "stopping" => ("■", "round round-stopping"),
            _ => ("✗", "round round-failed"),
        };
        let attributes = vec![
            ("data-kind", "watch-round".into()),
            ("data-round", r.round.to_string()),
            ("data-verdict", r.verdict.clone()),
            ("data-t", format!("{}", r.at)),
        ];
        Mark {
            at: r.at,
            symbol,
            class,
            attributes,
            title: title(r),
        }
    });
    let y = mark_lane(svg, axis, y, "watch rounds", rounds.collect());
    let analyses = picture.rounds.iter().filter_map(|r| {
        let verdict = r.analysis.as_deref()?;
        let (symbol, class) = match verdict {
            "Pass" => ("✓", "round round-passed"),
            "Fail" => ("✗", "round round-failed"),
            _ => ("?", "round round-inconclusive"),
        };
        let attributes = vec![
            ("data-kind", "analysis".into()),
            ("data-round", r.round.to_string()),
            ("data-verdict", verdict.to_owned()),
            ("data-t", format!("{}", r.at)),
        ];
        Some(Mark {
            at: r.at,
            symbol,
            class,
            attributes,
            title: title(r),
        })
    });
    mark_lane(svg, axis, y, "canary analyses", analyses.collect())
}

/// The verdict's time, as a line across every panel.
pub(super) fn verdict_line(
    svg: &mut Svg,
    picture: &Picture,
    axis: TimeAxis,
    (top, bottom): (f64, f64),
) {
    if picture.status.is_active() {
        return;
    }
    let x = axis.x(picture.end);
    let text = match &picture.error {
        Some((code, _)) => format!("{:?}: {code}", picture.status),
        None => format!("{:?}", picture.status),
    };
    svg.group(
        &[
            ("data-kind", "verdict-line".into()),
            ("data-t", format!("{}", picture.end)),
        ],
        &format!("{text} at {}", clock(picture.end)),
    );
    svg.rect(x, top, axis.right() - x, bottom - top, "after-verdict");
    svg.line((x, top), (x, bottom), "verdict-line");
    // Centred on the line, unless that would run past the right edge.
    match x + text_width(&text) / 2.0 > axis.right() {
        true => svg.text((axis.right(), top - 8.0), "end", "verdict-label", &text),
        false => svg.text((x, top - 8.0), "middle", "verdict-label", &text),
    }
    svg.end();
}

pub(super) fn time_axis(svg: &mut Svg, axis: TimeAxis, (top, bottom): (f64, f64)) {
    svg.line((LEFT, bottom), (axis.right(), bottom), "axis");
    for t in axis.ticks() {
        let x = axis.x(t);
        let attributes = [
            ("data-kind", "tick".into()),
            ("data-t", format!("{t}")),
            ("data-x", format!("{x:.1}")),
        ];
        svg.group(&attributes, &clock(t));
        svg.line((x, top), (x, bottom), "grid faint");
        svg.line((x, bottom), (x, bottom + 5.0), "axis");
        svg.text((x, bottom + 18.0), "middle", "tick", &clock(t));
        svg.end();
    }
    svg.text(
        (LEFT - 10.0, bottom + 18.0),
        "end",
        "lane-label",
        "deployment clock",
    );
}

pub(super) fn legend(svg: &mut Svg, picture: &Picture, y: f64) {
    let [current, new] = &picture.versions;
    let entries = [
        (false, format!("version {} (current)", current.version)),
        (true, format!("version {} (new)", new.version)),
    ];
    let mut x = LEFT;
    for (square, label) in entries {
        let role = if square { "new" } else { "current" };
        svg.line((x, y), (x + 28.0, y), &format!("series series-{role}"));
        svg.marker((x + 14.0, y), square, &format!("point point-{role}"));
        svg.text((x + 36.0, y + 4.0), "start", "legend", &label);
        x += 240.0;
    }
    svg.text(
        (x, y + 4.0),
        "start",
        "legend",
        "bands: ALARM hatched, OK plain",
    );
}
