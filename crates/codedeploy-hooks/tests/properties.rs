//! Properties of the parsers, on generated input: the lifecycle event, AppSpec content (JSON
//! and YAML) and the API Gateway mapping never panic, and every event with two usable string
//! ids gets exactly one report.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aws_config::retry::RetryConfig;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use codedeploy_hooks::apigw::{self, Flavor};
use codedeploy_hooks::appspec::AppSpec;
use codedeploy_hooks::{Clients, Error, Hook};
use lambda_runtime::{Context, LambdaEvent};
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use tower::ServiceExt as _;

const GET_DEPLOYMENT: &str = include_str!("data/get-deployment-appspec-content.json");

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An id as a string: mostly printable, sometimes blank, sometimes over the limit.
fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[ -~]{1,80}",
        2 => "\\PC{1,40}",
        1 => "[ \t]{0,3}",
        1 => (2040usize..2060).prop_map(|n| "x".repeat(n)),
    ]
}

fn usable(id: &str) -> bool {
    !id.trim().is_empty() && id.len() <= 2048
}

/// The handler with mocked clients; returns its result and how many reports it sent.
fn handle(event: Value) -> (Result<codedeploy_hooks::Summary, Error>, usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let get_deployment = mock!(aws_sdk_codedeploy::Client::get_deployment)
        .sequence()
        .http_status(200, Some(GET_DEPLOYMENT.to_owned()))
        .repeatedly()
        .build();
    let report = mock!(aws_sdk_codedeploy::Client::put_lifecycle_event_hook_execution_status)
        .sequence()
        .http_status(
            200,
            Some(r#"{"lifecycleEventHookExecutionId": "x"}"#.to_owned()),
        )
        .repeatedly()
        .build();
    let codedeploy = mock_client!(
        aws_sdk_codedeploy,
        RuleMode::MatchAny,
        [&get_deployment, &report],
        |b| b.retry_config(RetryConfig::disabled())
    );
    let lambda = mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [], |b| b
        .retry_config(RetryConfig::disabled()));
    let clients = Clients::new(codedeploy, lambda, Clients::default_http());
    let ran = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&ran);
    let hook = Hook::new().target("hello", "4").check("counts", move |_t| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Ok(()) }
    });
    let result = runtime.block_on(
        hook.into_service(clients)
            .oneshot(LambdaEvent::new(event, Context::default())),
    );
    (result, report.num_calls())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn an_event_with_two_usable_string_ids_gets_exactly_one_report(
        deployment_id in id(),
        execution_id in id(),
        extra in prop::collection::btree_map("[A-Za-z]{1,12}", json_value(), 0..4),
    ) {
        let mut event: Map<String, Value> = extra.into_iter().collect();
        event.insert("DeploymentId".into(), json!(deployment_id));
        event.insert("LifecycleEventHookExecutionId".into(), json!(execution_id));
        let (result, reports) = handle(Value::Object(event));
        if usable(&deployment_id) && usable(&execution_id) {
            prop_assert_eq!(reports, 1);
            prop_assert!(result.is_ok());
        } else {
            prop_assert_eq!(reports, 0);
            let is_malformed = matches!(result, Err(Error::MalformedEvent { .. }));
            prop_assert!(is_malformed);
        }
    }

    #[test]
    fn any_json_as_an_event_ends_cleanly(event in json_value()) {
        let (result, reports) = handle(event);
        match result {
            Ok(_) => prop_assert_eq!(reports, 1),
            Err(err) => {
                prop_assert_eq!(reports, 0);
                let is_malformed = matches!(err, Error::MalformedEvent { .. });
                prop_assert!(is_malformed);
                prop_assert!(err.to_string().len() < 4096, "a bounded message");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn appspec_parsing_never_panics_on_text(content in "\\PC{0,200}") {
        let _ = AppSpec::parse(&content);
    }

    #[test]
    fn appspec_parsing_never_panics_on_json_or_yaml_documents(doc in json_value(), yaml in any::<bool>()) {
        let text = if yaml {
            serde_yaml_ng::to_string(&doc).unwrap_or_default()
        } else {
            doc.to_string()
        };
        let _ = AppSpec::parse(&text);
        let wrapped = json!({"Resources": [{"Fn": {"Properties": doc}}]}).to_string();
        let _ = AppSpec::parse(&wrapped);
    }

    #[test]
    fn the_api_gateway_mapping_never_panics(
        path in "/[ -~]{0,60}",
        header in "[a-z-]{1,12}",
        value in "[ -~]{0,30}",
        body in prop::collection::vec(any::<u8>(), 0..64),
        answer in json_value(),
        raw in prop::collection::vec(any::<u8>(), 0..64),
        failed in any::<bool>(),
    ) {
        for flavor in [Flavor::HttpApi, Flavor::RestApi] {
            if let Ok(request) = http::Request::post(path.as_str()).header(header.as_str(), value.as_str()).body(body.clone()) {
                let _ = apigw::event(&request, flavor, "id");
            }
            let _ = apigw::response(answer.to_string().as_bytes(), failed, flavor);
            let _ = apigw::response(&raw, failed, flavor);
        }
    }
}
