//! The CloudWatch API: `GetMetricData`, on each wire its service model lists
//! (smithy-rpc-v2-cbor, awsJson1.0, query), from the stand-in's own metrics.

use std::collections::HashSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use serde::Deserialize;

use super::cloudwatch_wire::CloudWatchWire;
use super::cloudwatch_wire::{self as wire, ResultOut};
use super::error::ApiError;
use super::faults::before;
use super::permission::{Permission, Service};
use super::{AppState, RequestId};
use crate::cloudwatch::{MetricQuery, Metrics, SeriesKey, Stat};
use crate::faults::{Faults, Operation};

/// The service's target prefix and the CBOR path's service name (the model's `targetPrefix`).
const SERVICE: &str = "GraniteServiceVersion20100801";
/// The most queries one call may carry (the `GetMetricData` API reference).
const MAX_QUERIES: usize = 500;

/// The smithy-rpc-v2-cbor route; the other two wires share `POST /` (see [`wire_of`]).
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/service/{service}/operation/{operation}", post(cbor))
}

async fn cbor(
    State(metrics): State<Arc<Metrics>>,
    State(faults): State<Arc<Faults>>,
    permission: Permission,
    Path((service, operation)): Path<(String, String)>,
    Extension(request_id): Extension<RequestId>,
    body: Bytes,
) -> Response {
    if service != SERVICE {
        return ApiError::cloudwatch(
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
            format!("codedeploy-local serves CloudWatch ({SERVICE}) over smithy-rpc-v2-cbor, not {service}"),
        )
        .on_wire(CloudWatchWire::Cbor)
        .into_response();
    }
    serve(
        &metrics,
        &faults,
        &permission,
        CloudWatchWire::Cbor,
        &operation,
        &body,
        &request_id,
    )
    .await
}

/// Which CloudWatch wire a `POST /` speaks, if it is CloudWatch: awsJson1.0 names the
/// service in `X-Amz-Target`; query sends a form. Returns the operation's name too.
pub(crate) fn wire_of(headers: &HeaderMap, body: &[u8]) -> Option<(CloudWatchWire, String)> {
    match wire_of_headers(headers)? {
        (CloudWatchWire::Query, _) => {
            let action = form_urlencoded::parse(body)
                .find(|(k, _)| k == "Action")?
                .1
                .into_owned();
            Some((CloudWatchWire::Query, action))
        }
        (wire, operation) => Some((wire, operation?.to_owned())),
    }
}

/// Which CloudWatch wire a `POST /` speaks by its headers alone, and the operation when
/// they name it (awsJson1.0's `X-Amz-Target`; a query form names it in its body).
pub(crate) fn wire_of_headers(headers: &HeaderMap) -> Option<(CloudWatchWire, Option<&str>)> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(operation) =
        header("x-amz-target").and_then(|t| t.strip_prefix(SERVICE)?.strip_prefix('.'))
    {
        return Some((CloudWatchWire::Json, Some(operation)));
    }
    header("content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
        .then_some((CloudWatchWire::Query, None))
}

/// Serve `operation` on `wire`.
pub(crate) async fn serve(
    metrics: &Metrics,
    faults: &Faults,
    permission: &Permission,
    on: CloudWatchWire,
    operation: &str,
    body: &[u8],
    request_id: &RequestId,
) -> Response {
    let result = async {
        if operation != "GetMetricData" {
            return Err(ApiError::cloudwatch(
                StatusCode::BAD_REQUEST,
                "UnknownOperationException",
                format!("codedeploy-local serves CloudWatch GetMetricData only, not {operation}"),
            ));
        }
        before(faults, Operation::GetMetricData).await?;
        // GetMetricData takes no resource (the Service Authorization Reference lists none):
        // only `*` grants it.
        permission.check(Service::CloudWatch, "cloudwatch:GetMetricData", "*")?;
        let input = wire::request_json(on, body).map_err(|e| match e {
            wire::BodyError::KeyTooDeep { .. } | wire::BodyError::BadIndex { .. } => {
                invalid("InvalidParameterValue", e.to_string())
            }
            _ => invalid(
                "SerializationException",
                format!("the request body is not valid: {e}"),
            ),
        })?;
        let input: GetMetricDataInput = serde_json::from_value(input)
            .map_err(|e| invalid("InvalidParameterValue", format!("GetMetricData input: {e}")))?;
        get_metric_data(metrics, input)
    }
    .await;
    match result {
        Ok(results) => wire::get_metric_data_response(on, &results, &request_id.0),
        Err(err) => err.on_wire(on).into_response(),
    }
}

fn invalid(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::cloudwatch(StatusCode::BAD_REQUEST, code, message)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetMetricDataInput {
    metric_data_queries: Vec<QueryInput>,
    start_time: f64,
    end_time: f64,
    next_token: Option<String>,
    scan_by: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct QueryInput {
    id: String,
    metric_stat: Option<MetricStatInput>,
    expression: Option<String>,
    label: Option<String>,
    return_data: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MetricStatInput {
    metric: MetricInput,
    period: i64,
    stat: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MetricInput {
    namespace: Option<String>,
    metric_name: Option<String>,
    #[serde(default)]
    dimensions: Vec<DimensionInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DimensionInput {
    name: String,
    value: String,
}

/// `GetMetricData`, checked as the service model and API reference say.
fn get_metric_data(
    metrics: &Metrics,
    input: GetMetricDataInput,
) -> Result<Vec<ResultOut>, ApiError> {
    if input.next_token.is_some() {
        return Err(invalid(
            "InvalidNextToken",
            "codedeploy-local answers in one page and issued no NextToken",
        ));
    }
    let count = input.metric_data_queries.len();
    if count == 0 || count > MAX_QUERIES {
        return Err(invalid(
            "InvalidParameterValue",
            format!("MetricDataQueries must have 1 to {MAX_QUERIES} members, not {count}"),
        ));
    }
    if input.start_time >= input.end_time {
        return Err(invalid(
            "InvalidParameterValue",
            "The parameter StartTime must be less than the parameter EndTime.",
        ));
    }
    let ascending = match input.scan_by.as_deref() {
        None | Some("TimestampDescending") => false,
        Some("TimestampAscending") => true,
        Some(other) => {
            return Err(invalid(
                "InvalidParameterValue",
                format!("ScanBy `{other}` is not TimestampDescending or TimestampAscending"),
            ))
        }
    };
    let mut ids = HashSet::new();
    let mut results = Vec::new();
    for q in input.metric_data_queries {
        let (query, label) = metric_query(&q, &mut ids)?;
        let start = rounded_start(input.start_time.max(0.0) as u64, query.period);
        let end = input.end_time.max(0.0).ceil() as u64;
        let mut points = metrics.datapoints(&query, start, end);
        if !ascending {
            points.reverse();
        }
        if q.return_data != Some(false) {
            results.push(ResultOut {
                id: q.id,
                label,
                points,
            });
        }
    }
    Ok(results)
}

/// A query's `Id`: a lowercase letter, then letters, digits and _; once in the request.
fn check_id(id: &str, ids: &mut HashSet<String>) -> Result<(), ApiError> {
    let id_ok = id.starts_with(|c: char| c.is_ascii_lowercase())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !id_ok {
        return Err(invalid(
            "InvalidParameterValue",
            format!(
                "Id `{id}` must start with a lowercase letter and hold only letters, digits and _"
            ),
        ));
    }
    if !ids.insert(id.to_owned()) {
        return Err(invalid(
            "InvalidParameterValue",
            format!("Id `{id}` is used twice; ids must be unique"),
        ));
    }
    Ok(())
}

/// A query's metric, statistic and period, checked; and its label.
fn metric_query(
    q: &QueryInput,
    ids: &mut HashSet<String>,
) -> Result<(MetricQuery, String), ApiError> {
    check_id(&q.id, ids)?;
    let stat = match (&q.metric_stat, &q.expression) {
        (Some(stat), None) => stat,
        (None, Some(_)) => return Err(invalid("InvalidParameterValue", format!("query {}: codedeploy-local does not evaluate metric math or Metrics Insights expressions; ask for a MetricStat", q.id))),
        _ => return Err(invalid("InvalidParameterValue", format!("query {}: give exactly one of MetricStat and Expression", q.id))),
    };
    let period = u64::try_from(stat.period).unwrap_or(0);
    if !([1, 5, 10, 20, 30].contains(&period) || (period > 0 && period.is_multiple_of(60))) {
        return Err(invalid(
            "InvalidParameterValue",
            format!(
                "query {}: Period {} must be 1, 5, 10, 20, 30 or a multiple of 60",
                q.id, stat.period
            ),
        ));
    }
    let Some(parsed) = Stat::parse(&stat.stat) else {
        return Err(invalid("InvalidParameterValue", format!("query {}: codedeploy-local computes SampleCount, Sum, Average, Minimum, Maximum and pNN, not `{}`", q.id, stat.stat)));
    };
    let (Some(namespace), Some(name)) = (&stat.metric.namespace, &stat.metric.metric_name) else {
        return Err(invalid(
            "InvalidParameterValue",
            format!(
                "query {}: the metric needs a Namespace and a MetricName",
                q.id
            ),
        ));
    };
    let dimensions = stat
        .metric
        .dimensions
        .iter()
        .map(|d| (d.name.clone(), d.value.clone()))
        .collect();
    let label = q.label.clone().unwrap_or_else(|| name.clone());
    Ok((
        MetricQuery {
            key: SeriesKey::new(namespace, name, dimensions),
            stat: parsed,
            period,
        },
        label,
    ))
}

/// The start as CloudWatch rounds it for a recent window: down to the minute, or to the
/// period for periods under a minute (the `StartTime` documentation of the service model).
fn rounded_start(start: u64, period: u64) -> u64 {
    let unit = if period.is_multiple_of(60) {
        60
    } else {
        period.max(1)
    };
    start - start % unit
}

#[cfg(test)]
mod tests {
    use super::rounded_start;

    #[test]
    fn starts_round_down_to_the_minute_or_the_short_period() {
        assert_eq!(rounded_start(1_000_030, 60), 1_000_020);
        assert_eq!(rounded_start(1_000_030, 300), 1_000_020);
        assert_eq!(rounded_start(1_000_033, 10), 1_000_030);
        assert_eq!(rounded_start(1_000_033, 1), 1_000_033);
    }
}
