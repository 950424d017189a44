//! The picture of a deployment: the new version's traffic weight, each version's
//! invocations, errors and p99 duration, alarm states, hook executions and watch rounds on
//! the deployment's clock, with the verdict. Drawn from the stand-in's own state (the
//! deployment's record and its CloudWatch metrics) whenever it is asked for: as a report
//! file (`deploy --report`) and in `serve`'s live view (`/ui`).
//!
//! It is inline SVG written here rather than a charting library's: the drawing is a few
//! rectangles and lines on one time axis, and as SVG elements each mark is in the DOM with
//! its `<title>` and `data-*` attributes, so a browser test, a screen reader and a printer
//! read what a person sees. Canvas-based libraries (uPlot, Chart.js) draw pixels that none
//! of them can read, and would be script to ship in every report.

mod chart;
mod lanes;
mod model;
mod page;
mod svg;

pub(crate) use model::Picture;
pub(crate) use page::{fragment, list, live, report, stack_report, ListRow};

use crate::cloudwatch::Metrics;
use crate::codedeploy::CodeDeploy;

/// A deployment's picture as it stands now, metrics read; `None` for an unknown id.
pub(crate) fn picture_of(
    codedeploy: &CodeDeploy,
    metrics: &Metrics,
    deployment_id: &str,
) -> Option<Picture> {
    let mut picture = codedeploy.deployments().read(deployment_id, Picture::of)?;
    picture.read_metrics(metrics);
    Some(picture)
}

/// The deployments known, newest first, for the live view's list.
pub(crate) fn rows(codedeploy: &CodeDeploy) -> Vec<ListRow> {
    codedeploy.deployments().newest_first(|r| {
        Some(ListRow {
            id: r.id.clone(),
            status: r.status,
            function: r.spec.function_name.clone(),
            alias: r.spec.alias.clone(),
            current_version: r.spec.current_version.clone(),
            target_version: r.spec.target_version.clone(),
            config: r.spec.config_name.clone(),
        })
    })
}
