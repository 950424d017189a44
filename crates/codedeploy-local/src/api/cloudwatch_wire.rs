//! CloudWatch's three wires. Every request becomes the same JSON value before it is read as
//! a typed input; every answer is written from the same output: CBOR (smithy-rpc-v2-cbor,
//! timestamps as tag 1), JSON (awsJson1.0, epoch seconds) or XML (query, ISO 8601).

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ciborium::Value as Cbor;
use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::markup::escape;

/// The three protocols of CloudWatch's service model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloudWatchWire {
    /// smithy-rpc-v2-cbor: what aws-sdk-rust and boto3 speak today.
    Cbor,
    /// awsJson1.0 with `X-Amz-Target: GraniteServiceVersion20100801.*`.
    Json,
    /// The query protocol: form-encoded requests, XML answers.
    Query,
}

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

/// The most parts a query key of `GetMetricData` has:
/// `MetricDataQueries.member.N.MetricStat.Metric.Dimensions.member.M.Name` has 9. A deeper
/// key is no input of the operation; it is refused before anything is built for it.
const MAX_KEY_PARTS: usize = 16;
/// The largest list index a query key may carry: `MetricDataQueries` takes at most 500
/// members (the `GetMetricData` API reference), and no list of the input takes more.
const MAX_MEMBER_INDEX: usize = 500;
/// How deep a CBOR body may nest: the input's deepest value is 6 levels down.
const MAX_CBOR_DEPTH: usize = 32;

/// Why a request body could not be read as the operation's input.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// Not JSON (awsJson1.0).
    #[error("the body is not JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// Not CBOR (smithy-rpc-v2-cbor), or nested deeper than any input.
    #[error("the body is not CBOR of at most {MAX_CBOR_DEPTH} levels: {0}")]
    Cbor(String),
    /// A CBOR item JSON has no place for.
    #[error("the CBOR body holds {0}, which no input of the operation has")]
    CborItem(&'static str),
    /// A query key deeper than any input's.
    #[error("the query key {key:?} has more than {MAX_KEY_PARTS} parts; no input of the operation is that deep")]
    KeyTooDeep { key: String },
    /// A query list index out of range.
    #[error("the query key {key:?} has a member index outside 1 to {MAX_MEMBER_INDEX}")]
    BadIndex { key: String },
}

/// A request body as JSON, whichever wire it came on.
///
/// # Errors
/// [`BodyError`]: what is wrong with the body, for a `SerializationException` or an
/// `InvalidParameterValue`.
pub(crate) fn request_json(wire: CloudWatchWire, body: &[u8]) -> Result<Value, BodyError> {
    match wire {
        CloudWatchWire::Json if body.is_empty() => Ok(json!({})),
        // serde_json refuses nesting past 128 levels: no deep recursion here.
        CloudWatchWire::Json => serde_json::from_slice(body).map_err(BodyError::Json),
        CloudWatchWire::Cbor if body.is_empty() => Ok(json!({})),
        CloudWatchWire::Cbor => {
            let value: Cbor = ciborium::de::from_reader_with_recursion_limit(body, MAX_CBOR_DEPTH)
                .map_err(|e| BodyError::Cbor(e.to_string()))?;
            cbor_to_json(value)
        }
        CloudWatchWire::Query => query_to_json(body),
    }
}

fn cbor_to_json(value: Cbor) -> Result<Value, BodyError> {
    Ok(match value {
        Cbor::Null => Value::Null,
        Cbor::Bool(b) => Value::Bool(b),
        Cbor::Integer(i) => {
            let i = i128::from(i);
            json!(i64::try_from(i).map_err(|_| BodyError::CborItem("an integer out of range"))?)
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
                    return Err(BodyError::CborItem("a map key that is not text"));
                };
                map.insert(key, cbor_to_json(v)?);
            }
            Value::Object(map)
        }
        _ => return Err(BodyError::CborItem("a byte string or another item")),
    })
}

/// A query form's value as it is built: lists keep only the members given, by index, so a
/// large index costs nothing (AWS's clients send members from 1 without gaps).
enum Form {
    Leaf(Value),
    Map(BTreeMap<String, Form>),
    List(BTreeMap<usize, Form>),
}

impl Form {
    fn into_json(self) -> Value {
        match self {
            Form::Leaf(value) => value,
            Form::Map(map) => {
                Value::Object(map.into_iter().map(|(k, v)| (k, v.into_json())).collect())
            }
            Form::List(items) => Value::Array(items.into_values().map(Form::into_json).collect()),
        }
    }
}

/// A query-protocol form as JSON: `A.member.2.B=x` becomes `{"A": [_, {"B": "x"}]}`, and
/// the members the input has as numbers, booleans or timestamps are converted. Keys are
/// bounded in depth and list indexes in range before anything is built for them.
fn query_to_json(body: &[u8]) -> Result<Value, BodyError> {
    let mut root = Form::Map(BTreeMap::new());
    for (key, value) in form_urlencoded::parse(body) {
        if key == "Action" || key == "Version" {
            continue;
        }
        let parts: Vec<&str> = key.splitn(MAX_KEY_PARTS + 1, '.').collect();
        if parts.len() > MAX_KEY_PARTS {
            let key = key.chars().take(80).collect();
            return Err(BodyError::KeyTooDeep { key });
        }
        let leaf = typed_leaf(parts.last().copied().unwrap_or(""), &value);
        insert(&mut root, &parts, leaf).map_err(|()| BodyError::BadIndex {
            key: key.chars().take(80).collect(),
        })?;
    }
    Ok(root.into_json())
}

/// Put `leaf` at `path` (`member` followed by an index steps into a list).
fn insert(root: &mut Form, path: &[&str], leaf: Value) -> Result<(), ()> {
    let mut at = root;
    let mut i = 0;
    while i < path.len() {
        if path[i] == "member" {
            let index: usize = path.get(i + 1).ok_or(())?.parse().map_err(|_| ())?;
            if !(1..=MAX_MEMBER_INDEX).contains(&index) {
                return Err(());
            }
            if !matches!(at, Form::List(_)) {
                *at = Form::List(BTreeMap::new());
            }
            let Form::List(items) = at else {
                return Err(());
            };
            at = items.entry(index).or_insert(Form::Leaf(Value::Null));
            i += 2;
            continue;
        }
        if !matches!(at, Form::Map(_)) {
            *at = Form::Map(BTreeMap::new());
        }
        let Form::Map(map) = at else { return Err(()) };
        at = map
            .entry(path[i].to_owned())
            .or_insert(Form::Leaf(Value::Null));
        i += 1;
    }
    *at = Form::Leaf(leaf);
    Ok(())
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
    fn a_key_deeper_than_any_input_is_refused_before_anything_is_built() {
        let body = format!("Action=GetMetricData&{}=1", vec!["a"; 20_000].join("."));
        let err = request_json(CloudWatchWire::Query, body.as_bytes()).unwrap_err();
        assert!(matches!(err, BodyError::KeyTooDeep { .. }), "{err}");
        assert!(err.to_string().len() < 300, "the key is cut in the message");
    }

    #[test]
    fn list_indexes_outside_one_to_500_are_refused_and_gaps_take_no_room() {
        for index in [
            "0",
            "501",
            "8000000",
            "1000000000",
            "99999999999999999999999",
            "x",
            "",
        ] {
            let body = format!("MetricDataQueries.member.{index}.Id=a");
            let err = request_json(CloudWatchWire::Query, body.as_bytes()).unwrap_err();
            assert!(matches!(err, BodyError::BadIndex { .. }), "{index}: {err}");
        }
        let value = request_json(
            CloudWatchWire::Query,
            b"MetricDataQueries.member.500.Id=last&MetricDataQueries.member.2.Id=second",
        )
        .unwrap();
        assert_eq!(
            value,
            json!({"MetricDataQueries": [{"Id": "second"}, {"Id": "last"}]})
        );
    }

    #[test]
    fn cbor_nested_deeper_than_any_input_is_refused() {
        let mut body = vec![0x81u8; 10_000]; // arrays of one item, 10,000 deep
        body.push(0x01);
        let err = request_json(CloudWatchWire::Cbor, &body).unwrap_err();
        assert!(matches!(err, BodyError::Cbor(_)), "{err}");
        // A header that claims 2^60 items allocates nothing up front.
        let huge = [0x9bu8, 0x10, 0, 0, 0, 0, 0, 0, 0, 0x01];
        assert!(request_json(CloudWatchWire::Cbor, &huge).is_err());
    }

    #[test]
    fn json_nested_past_serde_json_s_limit_is_an_error_not_an_overflow() {
        let body = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(
            request_json(CloudWatchWire::Json, body.as_bytes()),
            Err(BodyError::Json(_))
        ));
    }

    /// How many values a JSON value holds, itself included.
    fn nodes(value: &Value) -> usize {
        1 + match value {
            Value::Array(items) => items.iter().map(nodes).sum(),
            Value::Object(map) => map.values().map(nodes).sum(),
            _ => 0,
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]

        /// Any bytes on any wire: an answer, never a panic, and never more values than
        /// the body has bytes (memory bounded by the request's size times a constant).
        #[test]
        fn any_body_decodes_or_fails_within_its_size(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
        ) {
            for wire in [CloudWatchWire::Json, CloudWatchWire::Cbor, CloudWatchWire::Query] {
                if let Ok(value) = request_json(wire, &body) {
                    proptest::prop_assert!(nodes(&value) <= body.len().max(1) + 1);
                }
            }
        }

        /// Forms shaped like GetMetricData's, with hostile indexes and depths.
        #[test]
        fn any_query_form_decodes_or_fails_within_its_size(
            keys in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::prop_oneof![
                        proptest::prelude::Just("member".to_owned()),
                        "[0-9]{1,12}",
                        "[A-Za-z]{1,8}",
                    ],
                    1..24,
                ),
                1..16,
            ),
        ) {
            let body = keys
                .iter()
                .map(|parts| format!("{}=v", parts.join(".")))
                .collect::<Vec<_>>()
                .join("&");
            if let Ok(value) = request_json(CloudWatchWire::Query, body.as_bytes()) {
                proptest::prop_assert!(nodes(&value) <= body.len() + 1);
            }
        }
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
