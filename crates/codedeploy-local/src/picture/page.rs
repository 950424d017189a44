//! The pages: the report (one self-contained HTML file), and the live view `serve` gives at
//! `/ui` with its two fragments (the deployments it knows; one deployment's picture), which
//! its script fetches again every second.

use std::fmt::Write as _;

use super::chart;
use super::model::Picture;
use super::svg::clock;
use crate::codedeploy::spec::DeploymentStatus;
use crate::codedeploy::timeline::{About, Event};
use crate::markup::escape;

/// Styles shared by the report and the live view; print keeps the drawing on one page.
const STYLE: &str = include_str!("picture.css");

/// The live view's script: fetch the list and the chosen deployment's picture, again every
/// second. The deployment is `?deployment=ID`, else the running one, else the newest.
const LIVE_SCRIPT: &str = include_str!("live.js");

/// A deployment's picture as a complete page that needs nothing else to open: the drawing,
/// the verdict, the options and the timeline.
pub(crate) fn report(picture: &Picture) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head>\n<body><main>{}</main></body></html>\n",
        escape(&format!("{} {}", picture.id, headline(picture))),
        fragment(picture)
    )
}

/// A stack update's page: its verdict and events, then one panel per function, every
/// panel on the same clock (each drawn to the end of the longest deployment).
pub(crate) fn stack_report(
    verdict: &str,
    events: &[(String, String, String)],
    panels: Vec<(String, Picture)>,
) -> String {
    // The longest deployment's axis, as the chart draws an ended one's.
    let end = panels
        .iter()
        .map(|(_, p)| chart::axis_past(p.end))
        .fold(0.0, f64::max);
    let mut body = format!(
        "<header><h1 id=\"stack-verdict\" class=\"verdict\">{}</h1></header><section><h2>Stack events</h2><table id=\"stack-events\"><thead><tr><th>resource</th><th>status</th><th>reason</th></tr></thead><tbody>",
        escape(verdict)
    );
    for (resource, status, reason) in events {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(resource),
            escape(status),
            escape(reason)
        );
    }
    body.push_str("</tbody></table></section>");
    for (index, (function, mut picture)) in panels.into_iter().enumerate() {
        picture.axis_at_least = end;
        // Each panel's ids made its own, so that the page has each once.
        let panel = fragment(&picture).replace(" id=\"", &format!(" id=\"p{index}-"));
        let _ = write!(
            body,
            "<section class=\"panel\" data-function=\"{f}\"><h2>{f}</h2>{panel}</section>",
            f = escape(&function)
        );
    }
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head>\n<body><main>{body}</main></body></html>\n",
        escape(verdict)
    )
}

/// The live view's page: the list and the picture are filled in by its script.
pub(crate) fn live() -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>codedeploy-local: deployments</title><style>{STYLE}</style></head>\n<body><main><h2 class=\"no-print\">Deployments <small id=\"live-status\">connecting...</small></h2><div id=\"list\" class=\"no-print\"></div><div id=\"picture\"><p>No deployment yet: start one (e.g. aws deploy create-deployment) and it appears here.</p></div></main><script>{LIVE_SCRIPT}</script></body></html>\n"
    )
}

/// The deployments known, newest first, as a table the live view shows.
pub(crate) fn list(rows: &[ListRow]) -> String {
    let mut out = String::from(
        "<table id=\"deployments\"><thead><tr><th>deployment</th><th>status</th><th>function</th><th>alias</th><th>versions</th><th>type</th></tr></thead><tbody>",
    );
    for row in rows {
        let _ = write!(
            out,
            "<tr data-id=\"{id}\" data-status=\"{status:?}\"><td><a href=\"?deployment={id}\">{id}</a></td><td>{status:?}</td><td>{}</td><td>{}</td><td>{} → {}</td><td>{}</td></tr>",
            escape(&row.function),
            escape(&row.alias),
            escape(&row.current_version),
            escape(&row.target_version),
            escape(&row.config),
            id = escape(&row.id),
            status = row.status,
        );
    }
    out.push_str("</tbody></table>");
    out
}

/// A row of the list.
pub(crate) struct ListRow {
    pub(crate) id: String,
    pub(crate) status: DeploymentStatus,
    pub(crate) function: String,
    pub(crate) alias: String,
    pub(crate) current_version: String,
    pub(crate) target_version: String,
    pub(crate) config: String,
}

fn headline(picture: &Picture) -> String {
    let rolled_back = picture.events.iter().any(|e| e.event == Event::RolledBack);
    match picture.status {
        DeploymentStatus::Succeeded => "✓ Succeeded".into(),
        DeploymentStatus::Failed if rolled_back => "✗ Failed, rolled back".into(),
        DeploymentStatus::Stopped if rolled_back => "■ Stopped, rolled back".into(),
        DeploymentStatus::Failed => "✗ Failed".into(),
        DeploymentStatus::Stopped => "■ Stopped".into(),
        _ => format!(
            "… In progress at {}: {}",
            clock(picture.end),
            super::model::phase(&picture.events)
        ),
    }
}

/// The picture with its verdict, options and timeline: the report's body, and what the live
/// view puts in its page.
pub(crate) fn fragment(picture: &Picture) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<header><h1 id=\"verdict\" data-status=\"{:?}\" class=\"verdict verdict-{}\">{}</h1>",
        picture.status,
        format!("{:?}", picture.status).to_lowercase(),
        escape(&headline(picture))
    );
    if let Some((code, message)) = &picture.error {
        let _ = write!(
            out,
            "<p id=\"reason\"><strong>{}</strong>: {}</p>",
            escape(code),
            escape(message)
        );
    }
    let _ = write!(
        out,
        "<p class=\"what\">Deployment <code id=\"deployment-id\">{}</code>: {} alias <code>{}</code> from version {} to version {}, {}, on the deployment's clock (real time x{}).</p></header>",
        escape(&picture.id),
        escape(&picture.function),
        escape(&picture.alias),
        escape(&picture.current_version),
        escape(&picture.target_version),
        escape(&picture.config),
        picture.time_scale
    );
    let _ = write!(out, "<figure>{}</figure>", chart::draw(picture));
    permissions(&mut out, picture);
    options(&mut out, picture);
    timeline(&mut out, picture);
    out
}

/// The calls the roles' policies did not allow, each with the statement that grants it.
fn permissions(out: &mut String, picture: &Picture) {
    let denials: Vec<(&str, &str, &str, bool)> = picture
        .events
        .iter()
        .filter_map(|e| match &e.about {
            Some(About::Denial {
                principal,
                action,
                resource,
                enforced,
            }) => Some((
                principal.as_str(),
                action.as_str(),
                resource.as_str(),
                *enforced,
            )),
            _ => None,
        })
        .collect();
    if denials.is_empty() {
        return;
    }
    out.push_str("<section><h2>What the roles lack</h2><table id=\"denials\"><thead><tr><th>caller</th><th>action</th><th>resource</th><th></th><th>grant it with</th></tr></thead><tbody>");
    for (principal, action, resource, enforced) in denials {
        let statement = crate::iam::grant(action, resource, &[]);
        let _ = write!(
            out,
            "<tr class=\"{}\"><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td><code>{}</code></td></tr>",
            if enforced { "denied" } else { "let-through" },
            escape(principal),
            escape(action),
            escape(resource),
            if enforced { "denied" } else { "let through" },
            escape(&statement)
        );
    }
    out.push_str("</tbody></table></section>");
}

fn options(out: &mut String, picture: &Picture) {
    out.push_str("<section><h2>Ran with</h2><dl id=\"options\">");
    for (name, value) in &picture.options {
        let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", escape(name), escape(value));
    }
    out.push_str("</dl></section>");
}

fn timeline(out: &mut String, picture: &Picture) {
    out.push_str("<section><h2>Timeline</h2><table id=\"timeline\"><thead><tr><th>clock</th><th>event</th><th>detail</th></tr></thead><tbody>");
    for e in &picture.events {
        let _ = write!(
            out,
            "<tr><td>{:.1}s</td><td>{}</td><td>{}</td></tr>",
            e.deployment_seconds,
            escape(e.event.as_str()),
            escape(&e.detail)
        );
    }
    out.push_str("</tbody></table></section>");
}
