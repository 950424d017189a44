//! CloudWatch's three wires. Every request becomes the same JSON value before it is read as
//! a typed input; every answer is written from the same output: CBOR (smithy-rpc-v2-cbor,
//! timestamps as tag 1), JSON (awsJson1.0, epoch seconds) or XML (query, ISO 8601).

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ciborium::Value as Cbor;
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::error::CloudWatchWire;
use crate::markup::escape;

/// The XML namespace of query answers (the service model's `xmlNamespace`).
const XML_NAMESPACE: &str = "http://monitoring.amazonaws.com/doc/2010-08-01/";

/// One `MetricDataResult`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResultOut {
    pub(crate) id: String,
    pub(crate) label: String,
    /// `(epoch second, value)`.
    pub(crate) points: Vec<(u64, f64)>,
}

/// A request body as JSON, whichever wire it came on.
///
/// # Errors
/// What is wrong with the body, for a `SerializationException`.
pub(crate) fn request_json(wire: CloudWatchWire, body: &[u8]) -> Result<Value, String> {
    match wire {
        CloudWatchWire::Json if body.is_empty() => Ok(json!({})),
        CloudWatchWire::Json => serde_json::from_slice(body).map_err(|e| e.to_string()),
        CloudWatchWire::Cbor if body.is_empty() => Ok(json!({})),
        CloudWatchWire::Cbor => {
            let value: Cbor = ciborium::from_reader(body).map_err(|e| e.to_string())?;
            cbor_to_json(value)
        }
        CloudWatchWire::Query => Ok(query_to_json(body)),
    }
}

fn cbor_to_json(value: Cbor) -> Result<Value, String> {
    Ok(match value {
        Cbor::Null => Value::Null,
        Cbor::Bool(b) => Value::Bool(b),
        Cbor::Integer(i) => {
            let i = i128::from(i);
            json!(i64::try_from(i).map_err(|_| format!("integer {i} out of range"))?)
        }
        Cbor::Float(f) => json!(f),
        Cbor::Text(s) => Value::String(s),
        // Timestamps (tag 1) and any other tag: the value inside.
        Cbor::Tag(_, inner) => cbor_to_json(*inner)?,
        Cbor::Array(items) => Value::Array(
            items
                .into_iter()
                .map(cbor_to_json)
                .collect::<Result<_, _>>()?,
        ),
        Cbor::Map(entries) => {
            let mut map = Map::new();
            for (k, v) in entries {
                let Cbor::Text(key) = k else {
                    return Err("a map key is not text".into());
                };
                map.insert(key, cbor_to_json(v)?);
            }
            Value::Object(map)
        }
        other => return Err(format!("unexpected CBOR item {other:?}")),
    })
}

/// A query-protocol form as JSON: `A.member.2.B=x` becomes `{"A": [_, {"B": "x"}]}`, and
/// the members the input has as numbers, booleans or timestamps are converted.
fn query_to_json(body: &[u8]) -> Value {
    let mut root = Value::Object(Map::new());
    for (key, value) in form_urlencoded::parse(body) {
        if key == "Action" || key == "Version" {
            continue;
        }
        let parts: Vec<&str> = key.split('.').collect();
        let mut at = &mut root;
        let mut i = 0;
        while i < parts.len() {
            let part = parts[i];
            if part == "member" {
                let index: usize = parts.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(1);
                if !at.is_array() {
                    *at = Value::Array(Vec::new());
                }
                let Value::Array(items) = at else { break };
                while items.len() < index {
                    items.push(Value::Null);
                }
                at = &mut items[index.max(1) - 1];
                i += 2;
                continue;
            }
            if !at.is_object() {
                *at = Value::Object(Map::new());
            }
            let Value::Object(map) = at else { break };
            at = map.entry(part.to_owned()).or_insert(Value::Null);
            i += 1;
        }
        *at = typed_leaf(parts.last().copied().unwrap_or(""), &value);
    }
    root
}

fn typed_leaf(name: &str, value: &str) -> Value {
    match name {
        "Period" | "MaxDatapoints" => value
            .parse::<i64>()
            .map_or_else(|_| json!(value), |n| json!(n)),
        "ReturnData" => json!(value == "true"),
        "StartTime" | "EndTime" => OffsetDateTime::parse(value, &Rfc3339)
            .map_or_else(|_| json!(value), |t| json!(t.unix_timestamp())),
        _ => json!(value),
    }
}

/// The `GetMetricData` answer on `wire`.
pub(crate) fn get_metric_data_response(
    wire: CloudWatchWire,
    results: &[ResultOut],
    request_id: &str,
) -> Response {
    match wire {
        CloudWatchWire::Json => respond(
            StatusCode::OK,
            json_body(results),
            "application/x-amz-json-1.0",
            false,
        ),
        CloudWatchWire::Cbor => {
            respond(StatusCode::OK, cbor_body(results), "application/cbor", true)
        }
        CloudWatchWire::Query => respond(
            StatusCode::OK,
            xml_body(results, request_id),
            "text/xml",
            false,
        ),
    }
}

/// awsJson1.0: timestamps in epoch seconds.
fn json_body(results: &[ResultOut]) -> Vec<u8> {
    let results: Vec<Value> = results
        .iter()
        .map(|r| {
            json!({
                "Id": r.id, "Label": r.label, "StatusCode": "Complete", "Messages": [],
                "Timestamps": r.points.iter().map(|p| p.0).collect::<Vec<_>>(),
                "Values": r.points.iter().map(|p| p.1).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({"MetricDataResults": results, "Messages": []})
        .to_string()
        .into_bytes()
}

/// smithy-rpc-v2-cbor: timestamps as tag 1 (epoch seconds).
fn cbor_body(results: &[ResultOut]) -> Vec<u8> {
    let text = |s: &str| Cbor::Text(s.to_owned());
    let timestamp = |at: u64| Cbor::Tag(1, Box::new(Cbor::Float(at as f64)));
    let results = results
        .iter()
        .map(|r| {
            Cbor::Map(vec![
                (text("Id"), text(&r.id)),
                (text("Label"), text(&r.label)),
                (text("StatusCode"), text("Complete")),
                (text("Messages"), Cbor::Array(Vec::new())),
                (
                    text("Timestamps"),
                    Cbor::Array(r.points.iter().map(|p| timestamp(p.0)).collect()),
                ),
                (
                    text("Values"),
                    Cbor::Array(r.points.iter().map(|p| Cbor::Float(p.1)).collect()),
                ),
            ])
        })
        .collect();
    cbor_bytes(&Cbor::Map(vec![
        (text("MetricDataResults"), Cbor::Array(results)),
        (text("Messages"), Cbor::Array(Vec::new())),
    ]))
}

/// query: XML with `member` lists, timestamps in ISO 8601.
fn xml_body(results: &[ResultOut], request_id: &str) -> Vec<u8> {
    let mut xml = format!(
        "<GetMetricDataResponse xmlns=\"{XML_NAMESPACE}\"><GetMetricDataResult><MetricDataResults>"
    );
    for r in results {
        xml.push_str(&format!(
            "<member><Id>{}</Id><Label>{}</Label><StatusCode>Complete</StatusCode><Messages/><Timestamps>",
            escape(&r.id),
            escape(&r.label)
        ));
        for (at, _) in &r.points {
            xml.push_str(&format!("<member>{}</member>", iso(*at)));
        }
        xml.push_str("</Timestamps><Values>");
        for (_, value) in &r.points {
            xml.push_str(&format!("<member>{value}</member>"));
        }
        xml.push_str("</Values></member>");
    }
    xml.push_str(&format!(
        "</MetricDataResults><Messages/></GetMetricDataResult><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></GetMetricDataResponse>",
        escape(request_id)
    ));
    xml.into_bytes()
}

/// An error on `wire`: `__type` and `message` (CBOR, JSON; with `x-amzn-query-error`, as
/// the model's `awsQueryCompatible` says), or query's `ErrorResponse`.
pub(crate) fn error_response(
    wire: CloudWatchWire,
    status: StatusCode,
    code: &str,
    message: &str,
) -> Response {
    let fault = if status.is_server_error() {
        "Receiver"
    } else {
        "Sender"
    };
    let mut response = match wire {
        CloudWatchWire::Json => {
            let body = json!({"__type": code, "message": message}).to_string();
            respond(
                status,
                body.into_bytes(),
                "application/x-amz-json-1.0",
                false,
            )
        }
        CloudWatchWire::Cbor => {
            let body = Cbor::Map(vec![
                (Cbor::Text("__type".into()), Cbor::Text(code.to_owned())),
                (Cbor::Text("message".into()), Cbor::Text(message.to_owned())),
            ]);
            respond(status, cbor_bytes(&body), "application/cbor", true)
        }
        CloudWatchWire::Query => {
            let xml = format!(
                "<ErrorResponse xmlns=\"{XML_NAMESPACE}\"><Error><Type>{fault}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>-</RequestId></ErrorResponse>",
                escape(code),
                escape(message)
            );
            respond(status, xml.into_bytes(), "text/xml", false)
        }
    };
    if let Ok(value) = HeaderValue::from_str(&format!("{code};{fault}")) {
        response.headers_mut().insert("x-amzn-query-error", value);
    }
    response
}

fn respond(status: StatusCode, body: Vec<u8>, content_type: &'static str, cbor: bool) -> Response {
    let mut response = (status, Body::from(body)).into_response();
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static(content_type));
    if cbor {
        headers.insert("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor"));
    }
    response
}

fn cbor_bytes(value: &Cbor) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = ciborium::into_writer(value, &mut out);
    out
}

fn iso(epoch_second: u64) -> String {
    OffsetDateTime::from_unix_timestamp(i64::try_from(epoch_second).unwrap_or(0))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_form_becomes_the_json_the_other_wires_send() {
        let form = "Action=GetMetricData&Version=2010-08-01&StartTime=2026-11-30T22%3A00%3A00Z&EndTime=2026-11-30T22%3A05%3A00Z\
            &MetricDataQueries.member.1.Id=m0&MetricDataQueries.member.1.ReturnData=true\
            &MetricDataQueries.member.1.MetricStat.Period=60&MetricDataQueries.member.1.MetricStat.Stat=Sum\
            &MetricDataQueries.member.1.MetricStat.Metric.Namespace=AWS%2FLambda\
            &MetricDataQueries.member.1.MetricStat.Metric.MetricName=Errors\
            &MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Name=FunctionName\
            &MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Value=hello";
        let value = request_json(CloudWatchWire::Query, form.as_bytes()).unwrap();
        assert_eq!(
            value,
            json!({
                "StartTime": 1_796_076_000, "EndTime": 1_796_076_300,
                "MetricDataQueries": [{"Id": "m0", "ReturnData": true, "MetricStat": {
                    "Period": 60, "Stat": "Sum",
                    "Metric": {"Namespace": "AWS/Lambda", "MetricName": "Errors",
                        "Dimensions": [{"Name": "FunctionName", "Value": "hello"}]}}}]
            })
        );
    }

    #[test]
    fn cbor_timestamps_are_tagged_and_read_back_as_numbers() {
        let body = Cbor::Map(vec![(
            Cbor::Text("StartTime".into()),
            Cbor::Tag(1, Box::new(Cbor::Float(1.5e9))),
        )]);
        let value = request_json(CloudWatchWire::Cbor, &cbor_bytes(&body)).unwrap();
        assert_eq!(value, json!({"StartTime": 1.5e9}));
    }
}
