//! API Gateway's mapping, both ways: an `http::Request` becomes the proxy event a function
//! receives, and the function's answer becomes the `http::Response` a client gets.
//!
//! [`Target::http`](crate::Target::http) uses it to call an HTTP route of the new version
//! before any traffic reaches it, and the local stand-in to serve an alias over HTTP. It needs
//! no AWS SDK, so it is available without the `hook` feature.
//!
//! ```
//! use codedeploy_hooks::apigw::{event, response, Flavor};
//!
//! let request = http::Request::get("/hello?name=Ada").body(Vec::new()).unwrap();
//! let ev = event(&request, Flavor::HttpApi, "request-1");
//! assert_eq!(ev["queryStringParameters"]["name"], "Ada");
//! let answer = response(br#"{"statusCode": 200, "body": "hi"}"#, false, Flavor::HttpApi);
//! assert_eq!(answer.body(), b"hi");
//! ```

use std::collections::{BTreeMap, HashMap};

use aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyRequestContext, ApiGatewayRequestIdentity,
    ApiGatewayV2httpRequest, ApiGatewayV2httpRequestContext,
    ApiGatewayV2httpRequestContextHttpDescription,
};
use aws_lambda_events::query_map::QueryMap;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

/// Which API Gateway integration to imitate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Flavor {
    /// HTTP API, payload format 2.0.
    HttpApi,
    /// REST API, proxy integration (payload format 1.0).
    RestApi,
}

/// The proxy event API Gateway sends the function for `request`, built from
/// `aws_lambda_events`' types (`ApiGatewayV2httpRequest` for HTTP APIs,
/// `ApiGatewayProxyRequest` for REST APIs), so the field names are those every Rust Lambda
/// deserializes, and returned as JSON, ready to be an `Invoke` payload.
///
/// ```
/// use codedeploy_hooks::apigw::{event, Flavor};
/// let request = http::Request::get("/hello?name=Ada").body(Vec::new()).expect("a request");
/// let payload = event(&request, Flavor::HttpApi, "request-1");
/// assert_eq!(payload["rawPath"], "/hello");
/// assert_eq!(payload["queryStringParameters"]["name"], "Ada");
/// ```
pub fn event<B: AsRef<[u8]>>(
    request: &http::Request<B>,
    flavor: Flavor,
    request_id: &str,
) -> Value {
    let parts = Parts::of(request);
    let built = match flavor {
        Flavor::HttpApi => serde_json::to_value(http_api_event(request, &parts, request_id)),
        Flavor::RestApi => serde_json::to_value(rest_api_event(request, &parts, request_id)),
    };
    // These types serialize to JSON whatever their content.
    built.unwrap_or(Value::Null)
}

/// What both event flavors take from the request.
struct Parts {
    path: String,
    raw_query: String,
    query: QueryMap,
    host: String,
    user_agent: Option<String>,
    body: Option<String>,
    is_base64: bool,
    now_ms: i64,
}

impl Parts {
    fn of<B: AsRef<[u8]>>(request: &http::Request<B>) -> Parts {
        let uri = request.uri();
        let raw_query = uri.query().unwrap_or("").to_owned();
        let mut query: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in form_urlencoded::parse(raw_query.as_bytes()) {
            query
                .entry(k.into_owned())
                .or_default()
                .push(v.into_owned());
        }
        let header = |name: http::header::HeaderName| {
            request
                .headers()
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        let bytes = request.body().as_ref();
        let (body, is_base64) = match std::str::from_utf8(bytes) {
            _ if bytes.is_empty() => (None, false),
            Ok(text) => (Some(text.to_owned()), false),
            Err(_) => (
                Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
                true,
            ),
        };
        Parts {
            path: uri.path().to_owned(),
            raw_query,
            query: QueryMap::from(query),
            host: header(http::header::HOST).unwrap_or_else(|| "localhost".into()),
            user_agent: header(http::header::USER_AGENT),
            body,
            is_base64,
            now_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or_default(),
        }
    }
}

fn http_api_event<B>(
    request: &http::Request<B>,
    parts: &Parts,
    request_id: &str,
) -> ApiGatewayV2httpRequest {
    let mut headers = request.headers().clone();
    // HTTP APIs move cookies out of the headers into their own list.
    let cookies: Vec<String> = headers
        .remove(http::header::COOKIE)
        .map(|c| String::from_utf8_lossy(c.as_bytes()).into_owned())
        .iter()
        .flat_map(|c| c.split(';').map(|p| p.trim().to_owned()))
        .filter(|c| !c.is_empty())
        .collect();
    let mut description = ApiGatewayV2httpRequestContextHttpDescription::default();
    description.method = request.method().clone();
    description.path = Some(parts.path.clone());
    description.protocol = Some("HTTP/1.1".into());
    description.source_ip = Some("127.0.0.1".into());
    description.user_agent = parts.user_agent.clone();
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.route_key = Some("$default".into());
    context.account_id = Some("anonymous".into());
    context.stage = Some("$default".into());
    context.request_id = Some(request_id.to_owned());
    context.apiid = Some("codedeploy-hooks".into());
    context.domain_name = Some(parts.host.clone());
    context.domain_prefix = parts.host.split('.').next().map(str::to_owned);
    context.time_epoch = parts.now_ms;
    context.http = description;
    let mut event = ApiGatewayV2httpRequest::default();
    event.version = Some("2.0".into());
    event.route_key = Some("$default".into());
    event.raw_path = Some(parts.path.clone());
    event.raw_query_string = Some(parts.raw_query.clone());
    event.cookies = (!cookies.is_empty()).then_some(cookies);
    event.headers = headers;
    event.query_string_parameters = parts.query.clone();
    event.request_context = context;
    event.body = parts.body.clone();
    event.is_base64_encoded = parts.is_base64;
    event
}

fn rest_api_event<B>(
    request: &http::Request<B>,
    parts: &Parts,
    request_id: &str,
) -> ApiGatewayProxyRequest {
    let mut identity = ApiGatewayRequestIdentity::default();
    identity.source_ip = Some("127.0.0.1".into());
    identity.user_agent = parts.user_agent.clone();
    let mut context = ApiGatewayProxyRequestContext::default();
    context.account_id = Some("anonymous".into());
    context.apiid = Some("codedeploy-hooks".into());
    context.http_method = request.method().clone();
    context.path = Some(parts.path.clone());
    context.resource_path = Some("/{proxy+}".into());
    context.stage = Some("test".into());
    context.request_id = Some(request_id.to_owned());
    context.request_time_epoch = parts.now_ms;
    context.identity = identity;
    let mut event = ApiGatewayProxyRequest::default();
    event.resource = Some("/{proxy+}".into());
    event.path = Some(parts.path.clone());
    event.http_method = request.method().clone();
    event.headers = request.headers().clone();
    event.multi_value_headers = request.headers().clone();
    event.query_string_parameters = parts.query.clone();
    event.multi_value_query_string_parameters = parts.query.clone();
    event.path_parameters = HashMap::from([(
        "proxy".to_owned(),
        parts.path.trim_start_matches('/').to_owned(),
    )]);
    event.request_context = context;
    event.body = parts.body.clone();
    event.is_base64_encoded = parts.is_base64;
    event
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProxyResponse {
    status_code: u16,
    #[serde(default)]
    headers: BTreeMap<String, Value>,
    #[serde(default)]
    multi_value_headers: BTreeMap<String, Vec<Value>>,
    #[serde(default)]
    cookies: Vec<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    is_base64_encoded: bool,
}

/// What API Gateway answers for a function error or a response it cannot use.
fn bad_gateway() -> http::Response<Vec<u8>> {
    let mut response = http::Response::new(br#"{"message":"Internal Server Error"}"#.to_vec());
    *response.status_mut() = http::StatusCode::BAD_GATEWAY;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// The HTTP response API Gateway sends for this function answer: 502 for a function error
/// or an answer it cannot use, as API Gateway does.
///
/// ```
/// use codedeploy_hooks::apigw::{response, Flavor};
/// let answer = response(br#"{"statusCode": 201, "body": "made"}"#, false, Flavor::HttpApi);
/// assert_eq!(answer.status(), 201);
/// assert_eq!(response(b"{}", true, Flavor::HttpApi).status(), 502, "a function error");
/// ```
pub fn response(payload: &[u8], function_failed: bool, flavor: Flavor) -> http::Response<Vec<u8>> {
    if function_failed {
        return bad_gateway();
    }
    let value: Value = match serde_json::from_slice(payload) {
        Ok(v) => v,
        Err(_) if flavor == Flavor::HttpApi => {
            // HTTP APIs pass a non-JSON answer through as the body.
            let mut response = http::Response::new(payload.to_vec());
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            return response;
        }
        Err(_) => return bad_gateway(),
    };
    let has_status = value.get("statusCode").is_some();
    if !has_status {
        return match flavor {
            // Payload 2.0: an answer without statusCode is a 200 whose body is the JSON.
            Flavor::HttpApi => {
                let mut response = http::Response::new(payload.to_vec());
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
                response
            }
            Flavor::RestApi => bad_gateway(),
        };
    }
    let Ok(proxy) = serde_json::from_value::<ProxyResponse>(value) else {
        return bad_gateway();
    };
    let body = match (proxy.body, proxy.is_base64_encoded) {
        (None, _) => Vec::new(),
        (Some(text), false) => text.into_bytes(),
        (Some(text), true) => {
            match base64::engine::general_purpose::STANDARD.decode(text.as_bytes()) {
                Ok(bytes) => bytes,
                Err(_) => return bad_gateway(),
            }
        }
    };
    let mut builder = http::Response::builder().status(proxy.status_code);
    for (name, values) in &proxy.multi_value_headers {
        for value in values {
            builder = builder.header(name.as_str(), header_text(value));
        }
    }
    for (name, value) in &proxy.headers {
        if !proxy.multi_value_headers.contains_key(name) {
            builder = builder.header(name.as_str(), header_text(value));
        }
    }
    for cookie in &proxy.cookies {
        builder = builder.header(http::header::SET_COOKIE, cookie.as_str());
    }
    builder.body(body).unwrap_or_else(|_| bad_gateway())
}

fn header_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn http_api_events_carry_path_query_headers_and_body() {
        let request = http::Request::post("/hello?name=smoke%20test&x=1&x=2")
            .header("host", "api.example.com")
            .header("cookie", "a=1; b=2")
            .body(b"{\"k\":1}".to_vec())
            .unwrap();
        let ev = event(&request, Flavor::HttpApi, "req-1");
        assert_eq!(ev["version"], "2.0");
        assert_eq!(ev["rawPath"], "/hello");
        assert_eq!(ev["requestContext"]["http"]["method"], "POST");
        assert_eq!(ev["queryStringParameters"]["name"], "smoke test");
        assert_eq!(ev["queryStringParameters"]["x"], "1,2");
        assert_eq!(ev["cookies"], json!(["a=1", "b=2"]));
        assert_eq!(ev["body"], "{\"k\":1}");
        assert_eq!(ev["isBase64Encoded"], false);
    }

    #[test]
    fn rest_api_events_use_the_v1_shape_and_base64_for_binary() {
        let request = http::Request::get("/items?id=7")
            .body(vec![0xff, 0x00])
            .unwrap();
        let ev = event(&request, Flavor::RestApi, "req-2");
        assert_eq!(ev["httpMethod"], "GET");
        assert_eq!(ev["queryStringParameters"]["id"], "7");
        assert_eq!(ev["multiValueQueryStringParameters"]["id"], json!(["7"]));
        assert_eq!(ev["isBase64Encoded"], true);
        assert_eq!(ev["body"], "/wA=");
    }

    #[test]
    fn responses_follow_api_gateway_rules() {
        let ok = response(
            br#"{"statusCode": 201, "headers": {"content-type": "text/plain"}, "body": "aGk=", "isBase64Encoded": true, "cookies": ["s=1"]}"#,
            false,
            Flavor::HttpApi,
        );
        assert_eq!(ok.status(), 201);
        assert_eq!(ok.body(), b"hi");
        assert_eq!(ok.headers()["set-cookie"], "s=1");
        let bare = response(br#"{"message": "hi"}"#, false, Flavor::HttpApi);
        assert_eq!(bare.status(), 200);
        assert_eq!(bare.body(), br#"{"message": "hi"}"#);
        assert_eq!(
            response(br#"{"message": "hi"}"#, false, Flavor::RestApi).status(),
            502
        );
        assert_eq!(response(b"{}", true, Flavor::HttpApi).status(), 502);
        let malformed = response(br#"{"statusCode": "teapot"}"#, false, Flavor::HttpApi);
        assert_eq!(malformed.status(), 502);
    }
}
