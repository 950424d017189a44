//! The live view: `GET /ui` (a page whose script fetches the two fragments below every
//! second), `GET /ui/deployments` (the deployments known), `GET /ui/deployments/{id}` (one
//! deployment's picture) and `GET /ui/deployments/{id}/report` (its report, as a file).
//! Each is drawn from the deployment's record when asked: there is no second copy to drift.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::AppState;
use crate::cloudwatch::Metrics;
use crate::codedeploy::CodeDeploy;
use crate::picture;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui", get(page))
        .route("/ui/deployments", get(list))
        .route("/ui/deployments/{id}", get(one))
        .route("/ui/deployments/{id}/report", get(report))
}

async fn page() -> Html<String> {
    Html(picture::live())
}

async fn list(State(codedeploy): State<Arc<CodeDeploy>>) -> Html<String> {
    Html(picture::list(&picture::rows(&codedeploy)))
}

async fn one(
    State(codedeploy): State<Arc<CodeDeploy>>,
    State(metrics): State<Arc<Metrics>>,
    Path(id): Path<String>,
) -> Response {
    match picture::picture_of(&codedeploy, &metrics, &id) {
        Some(p) => Html(picture::fragment(&p)).into_response(),
        None => unknown(&id),
    }
}

async fn report(
    State(codedeploy): State<Arc<CodeDeploy>>,
    State(metrics): State<Arc<Metrics>>,
    Path(id): Path<String>,
) -> Response {
    let Some(p) = picture::picture_of(&codedeploy, &metrics, &id) else {
        return unknown(&id);
    };
    let disposition = format!("attachment; filename=\"{id}.html\"");
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        picture::report(&p),
    )
        .into_response()
}

fn unknown(id: &str) -> Response {
    let message = format!(
        "no deployment {id} here: the list at /ui/deployments has the ones this stand-in knows"
    );
    (StatusCode::NOT_FOUND, message).into_response()
}
