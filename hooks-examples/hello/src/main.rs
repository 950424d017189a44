//! `hello`: the sample function that the example hooks check.
//!
//! It answers a direct event `{"name": "Ada"}` with `{"message": "hello Ada"}`, and an API
//! Gateway HTTP API event for `GET /hello?name=Ada` with the same JSON and status 200.
//!
//! `HELLO_FAULT` makes it misbehave on purpose, for tests and rollback demos:
//! - `error`: every invocation fails (a function error);
//! - `wrong-body`: answers 200 with the wrong message;
//! - `slow`: answers after 10 s;
//! - `error-unmarked`: fails only for traffic *not* marked as smoke traffic, a bug the
//!   hook's checks cannot see and only the alarms catch;
//! - `wrong-body-after:N`: answers right for its first N invocations (per execution
//!   environment, as a leak or a filling cache would), then the wrong message with status
//!   200: it passes the PreTraffic hook, no alarm sees it, and only the shift's watch can;
//! - `flaky:P`: each invocation *not* marked as smoke traffic fails with probability P
//!   (0 to 1), as a function with a baseline error rate does; the hooks' checks pass, and
//!   only a comparison of the versions (the canary analysis) tells a flakier version apart.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use codedeploy_hooks::smoke;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    None,
    Error,
    WrongBody,
    Slow,
    ErrorUnmarked,
    WrongBodyAfter(u64),
    Flaky(f64),
}

/// Invocations this execution environment has served.
static SERVED: AtomicU64 = AtomicU64::new(0);

impl Fault {
    fn from_env() -> Result<Fault, String> {
        Fault::parse(&std::env::var("HELLO_FAULT").unwrap_or_default())
    }

    fn parse(value: &str) -> Result<Fault, String> {
        match value {
            "" | "none" => Ok(Fault::None),
            "error" => Ok(Fault::Error),
            "wrong-body" => Ok(Fault::WrongBody),
            "slow" => Ok(Fault::Slow),
            "error-unmarked" => Ok(Fault::ErrorUnmarked),
            other => {
                if let Some(Ok(n)) = other
                    .strip_prefix("wrong-body-after:")
                    .map(str::parse::<u64>)
                {
                    return Ok(Fault::WrongBodyAfter(n));
                }
                match other.strip_prefix("flaky:").map(str::parse::<f64>) {
                    Some(Ok(p)) if (0.0..=1.0).contains(&p) => Ok(Fault::Flaky(p)),
                    _ => Err(format!(
                        "HELLO_FAULT={other} is not a fault; use error, wrong-body, slow, error-unmarked, \
                         wrong-body-after:N (N a whole number) or flaky:P (P from 0 to 1)"
                    )),
                }
            }
        }
    }

    /// The fault of this invocation, the `served`-th of its environment (from 1).
    fn now(self, served: u64) -> Fault {
        match self {
            Fault::WrongBodyAfter(n) if served > n => Fault::WrongBody,
            Fault::WrongBodyAfter(_) => Fault::None,
            fault => fault,
        }
    }
}

// An execution environment runs one invocation at a time: a current-thread runtime spares
// the wake-ups between worker threads a multi-thread one pays on every event. Measured in
// the stand-in (one environment, `ab -k -c 64`): 107 -> 42 µs of this process's CPU per
// invoke, 5,300 -> 9,300 invokes/s.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let fault = Fault::from_env()?;
    lambda_runtime::run(service_fn(move |event| handle(event, fault))).await
}

async fn handle(event: LambdaEvent<Value>, fault: Fault) -> Result<Value, Error> {
    let (payload, ctx) = event.into_parts();
    let fault = fault.now(SERVED.fetch_add(1, Ordering::Relaxed) + 1);
    // Smoke traffic from the hooks could be kept out of business metrics here.
    let is_smoke = smoke::is_smoke_traffic(&ctx);
    match fault {
        Fault::Error => return Err("HELLO_FAULT=error: failing on purpose".into()),
        Fault::ErrorUnmarked if !is_smoke => {
            return Err("HELLO_FAULT=error-unmarked: failing real traffic on purpose".into())
        }
        Fault::Flaky(p) if !is_smoke && fastrand::f64() < p => {
            return Err(format!("HELLO_FAULT=flaky:{p}: this call drew a failure").into())
        }
        Fault::Slow => tokio::time::sleep(Duration::from_secs(10)).await,
        _ => {}
    }
    // HTTP API events carry `requestContext.http`; anything else is a direct invocation.
    if payload.pointer("/requestContext/http").is_some() {
        let request: ApiGatewayV2httpRequest = serde_json::from_value(payload)?;
        return Ok(serde_json::to_value(route(&request, fault))?);
    }
    let name = payload
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("world");
    Ok(json!({ "message": greeting(name, fault) }))
}

fn route(request: &ApiGatewayV2httpRequest, fault: Fault) -> ApiGatewayV2httpResponse {
    let http = &request.request_context.http;
    let mut response = ApiGatewayV2httpResponse::default();
    response.headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    let (status, body) = match (http.method.as_str(), http.path.as_deref().unwrap_or("/")) {
        ("GET", "/hello") => {
            let name = request
                .query_string_parameters
                .first("name")
                .unwrap_or("world");
            (200, json!({ "message": greeting(name, fault) }))
        }
        (_, "/hello") => (405, json!({ "message": "only GET /hello is served" })),
        (_, path) => (404, json!({ "message": format!("no route for {path}") })),
    };
    response.status_code = status;
    response.body = Some(Body::Text(body.to_string()));
    response
}

fn greeting(name: &str, fault: Fault) -> String {
    match fault {
        Fault::WrongBody => format!("goodbye {name}"),
        _ => format!("hello {name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::Fault;

    #[test]
    fn wrong_body_after_n_answers_right_n_times_then_wrong() {
        let fault = Fault::WrongBodyAfter(2);
        assert_eq!(fault.now(1), Fault::None);
        assert_eq!(fault.now(2), Fault::None);
        assert_eq!(fault.now(3), Fault::WrongBody);
        assert_eq!(Fault::Error.now(9), Fault::Error);
    }

    #[test]
    fn flaky_takes_a_probability() {
        for (value, expected) in [
            ("flaky:0.08", Some(0.08)),
            ("flaky:1", Some(1.0)),
            ("flaky:2", None),
            ("flaky:x", None),
        ] {
            let parsed = Fault::parse(value);
            assert_eq!(parsed.clone().ok(), expected.map(Fault::Flaky), "{value}");
            if expected.is_none() {
                assert!(parsed.unwrap_err().contains("flaky:P (P from 0 to 1)"));
            }
        }
    }
}
