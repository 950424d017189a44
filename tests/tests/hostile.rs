//! Hostile requests against the stand-in's HTTP API (issue 26): each is answered with the
//! service's typed error, none crashes or starves the server, and a valid Invoke is served
//! right after. Loopback only; every loop is bounded.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use codedeploy_local::{Options, StandIn, VersionSpec};
use e2e::hello_on_live;

/// A valid Invoke through the alias, over HTTP: its status.
async fn valid_invoke(endpoint: &str) -> u16 {
    let response = reqwest::Client::new()
        .post(format!(
            "{endpoint}/2015-03-31/functions/hello/invocations?Qualifier=live"
        ))
        .body(r#"{"name":"after"}"#)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("the server still answers");
    response.status().as_u16()
}

/// POST `body` with `headers`: the status and the body, which must be typed.
async fn post(
    endpoint: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, String) {
    send(reqwest::Method::POST, endpoint, path, headers, body).await
}

/// Send `body` with `headers`: the status and the body, which must be typed.
async fn send(
    method: reqwest::Method,
    endpoint: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{endpoint}{path}"))
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("an answer, not a broken pipe");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        !content_type.starts_with("text/plain") && !content_type.is_empty(),
        "{path}: an untyped answer ({content_type:?})"
    );
    (status, response.text().await.expect("a body"))
}

const QUERY: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_key_of_20000_dots_is_a_typed_400_and_serve_lives_on() {
    let local = hello_on_live(Options::default()).await;
    let body = format!(
        "Action=GetMetricData&Version=2010-08-01&{}=1",
        vec!["a"; 20_000].join(".")
    );
    let (status, text) = post(local.endpoint(), "/", &[QUERY], body.into_bytes()).await;
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("<Code>InvalidParameterValue</Code>"),
        "{text}"
    );
    assert_eq!(valid_invoke(local.endpoint()).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_list_indexes_are_refused_without_allocating_for_them() {
    let local = hello_on_live(Options::default()).await;
    for index in ["8000000", "1000000000"] {
        let body = format!(
            "Action=GetMetricData&Version=2010-08-01&MetricDataQueries.member.{index}.Id=a"
        );
        let (status, text) = post(local.endpoint(), "/", &[QUERY], body.into_bytes()).await;
        assert_eq!(status, 400, "{text}");
        assert!(text.contains("outside 1 to 500"), "{text}");
    }
    assert_eq!(valid_invoke(local.endpoint()).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_answers_up_to_6_mb_go_through_and_larger_ones_fail_at_once() {
    let local = StandIn::start(Options::default()).await.expect("starts");
    // An answer that waited out the timeout would be Sandbox.Timedout, after 10 minutes.
    let spec = VersionSpec::new(e2e::chatty()).timeout(Duration::from_secs(600));
    local
        .publish_version("chatty", "1", spec)
        .expect("chatty 1");
    for bytes in [3 * 1024 * 1024, 6_291_556] {
        let event = format!(r#"{{"lines": 0, "answer_bytes": {bytes}}}"#);
        let out = local
            .invoke("chatty", Some("1"), event.into_bytes())
            .await
            .expect("chatty");
        assert_eq!(out.function_error, None, "{bytes} bytes");
        assert_eq!(out.payload.len(), bytes);
    }
    let out = local
        .invoke(
            "chatty",
            Some("1"),
            br#"{"lines": 0, "answer_bytes": 6291557}"#.to_vec(),
        )
        .await
        .expect("chatty");
    let payload = String::from_utf8_lossy(&out.payload).into_owned();
    assert_eq!(out.function_error.as_deref(), Some("Unhandled"));
    assert!(
        payload.contains("Function.ResponseSizeTooLarge"),
        "{payload}"
    );
    assert!(payload.contains("(6291556 bytes)"), "{payload}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_and_bad_paths_get_each_service_s_typed_error() {
    let local = hello_on_live(Options::default()).await;
    let endpoint = local.endpoint();
    // UpdateAlias: Lambda's limit is 6 MB; CodeDeploy's and CloudWatch's, 1 MiB.
    let (status, text) = send(
        reqwest::Method::PUT,
        endpoint,
        "/2015-03-31/functions/hello/aliases/live",
        &[],
        vec![b' '; 7 * 1024 * 1024],
    )
    .await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("Request must be smaller than"), "{text}");
    let big = vec![b' '; 3 * 1024 * 1024];
    let cases: [(Vec<(&str, &str)>, &str); 3] = [
        (
            vec![("x-amz-target", "CodeDeploy_20141006.GetDeployment")],
            "RequestEntityTooLargeException",
        ),
        (
            vec![(
                "x-amz-target",
                "GraniteServiceVersion20100801.GetMetricData",
            )],
            "LimitExceededException",
        ),
        (vec![QUERY], "<Code>LimitExceededException</Code>"),
    ];
    for (headers, code) in cases {
        let (status, text) = post(endpoint, "/", &headers, big.clone()).await;
        assert_eq!(status, 413, "{headers:?}: {text}");
        assert!(text.contains(code), "{headers:?}: {text}");
    }
    let (status, text) = post(
        endpoint,
        "/2015-03-31/functions/hello/invocations",
        &[],
        vec![b' '; 7 * 1024 * 1024],
    )
    .await;
    assert_eq!(status, 413, "{text}");
    let response = reqwest::get(format!("{endpoint}/2015-03-31/functions/%FF%FE/versions"))
        .await
        .expect("an answer");
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(
        response
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok()),
        Some("InvalidParameterValueException")
    );
    assert_eq!(valid_invoke(endpoint).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_sent_too_slowly_is_answered_408_and_closed() {
    let mut options = Options::default();
    options.request_timeout = Duration::from_millis(300);
    let local = hello_on_live(options).await;
    let address = local.endpoint().trim_start_matches("http://").to_owned();
    let answer = tokio::task::spawn_blocking(move || {
        let mut socket = TcpStream::connect(&address).expect("connect");
        socket
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        socket
            .write_all(
                b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: CodeDeploy_20141006.GetDeployment\r\n\
                  Content-Length: 1000\r\n\r\n{",
            )
            .expect("a head and one byte");
        // Nothing more is sent: the server must answer on its own and close.
        let mut answer = String::new();
        let _ = socket.read_to_string(&mut answer);
        answer
    })
    .await
    .expect("the client");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("RequestTimeout"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_held_connections_do_not_lock_out_a_valid_invoke() {
    // 1,000 client sockets and up to 512 server ones, in this one process.
    let files = e2e::raise_open_files_limit();
    assert!(
        files >= 2_048,
        "this test needs 2,048 open files; the hard limit here is {files} (raise it with ulimit -Hn)"
    );
    let local = hello_on_live(Options::default()).await;
    let address = local.endpoint().trim_start_matches("http://").to_owned();
    // 1,000 held sockets, twice the server's 512 slots: idle ones, half-sent heads, and
    // bodies sent one byte at a time (held, not finished).
    let started = std::time::Instant::now();
    let held: Vec<TcpStream> = (0..1_000)
        .map(|i| {
            let mut socket = TcpStream::connect(&address).expect("connect");
            let start: &[u8] = match i % 3 {
                0 => b"",
                1 => b"POST / HTTP/1.1\r\nHost: x\r\n",
                _ => b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",
            };
            socket.write_all(start).expect("held");
            socket
        })
        .collect();
    // Well inside the 30 s idle and request timeouts: served because held connections
    // make room, not because they timed out.
    let invoked = std::time::Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(20), valid_invoke(local.endpoint()))
        .await
        .expect("a valid Invoke is served while 1,000 connections are held");
    assert_eq!(status, 200);
    println!(
        "1,000 connections held in {:?}; a valid Invoke then took {:?}",
        invoked - started,
        invoked.elapsed()
    );
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_of_asynchronous_invocations_answers_too_many_requests() {
    let mut options = Options::default();
    options.max_async_events = 1;
    let local = StandIn::start(options).await.expect("starts");
    // It answers after 10 s: the first event holds the queue's one place.
    let slow = VersionSpec::new(e2e::binary("hello")).env("HELLO_FAULT", "slow");
    local.publish_version("hello", "1", slow).expect("hello 1");
    let endpoint = local.endpoint().to_owned();
    let send = || {
        reqwest::Client::new()
            .post(format!("{endpoint}/2015-03-31/functions/hello/invocations"))
            .header("x-amz-invocation-type", "Event")
            .body("{}")
            .send()
    };
    assert_eq!(send().await.expect("an answer").status().as_u16(), 202);
    let refused = send().await.expect("an answer");
    assert_eq!(refused.status().as_u16(), 429);
    assert_eq!(
        refused
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok()),
        Some("TooManyRequestsException")
    );
    local.shutdown().await;
}
