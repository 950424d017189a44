//! The AWS SDK's HTTP client over `reqwest`, the client a hook has anyway for its checks.
//!
//! Why not the SDK's own (`aws-smithy-http-client`): it brings a second HTTP stack into every
//! hook (hyper's legacy client, tower, and HTTP/2 with `h2`, which it enables whatever the
//! features), about half a megabyte of a hook's zip, for the few small JSON calls a hook
//! makes to CodeDeploy, Lambda and CloudWatch. Over `reqwest` (HTTP/1.1, rustls with ring)
//! the hook carries one HTTP client and one TLS stack.
//!
//! What it keeps of the SDK's contract: the connector settings' connect and read timeouts,
//! and errors classified as the SDK classifies them (a timeout, an I/O failure the request
//! may be retried after, or another error), which the framework's call policy retries on.
//! Bodies are small and in memory: a streaming request body is refused.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;

/// The SDK's HTTP client: a `reqwest` client per connector settings, built once each.
pub(crate) fn sdk_http_client() -> SharedHttpClient {
    SharedHttpClient::new(ReqwestClient::default())
}

type Timeouts = (Option<Duration>, Option<Duration>);

#[derive(Debug, Default)]
struct ReqwestClient {
    /// One per distinct (connect, read) timeouts: the SDK asks per operation.
    connectors: Mutex<HashMap<Timeouts, SharedHttpConnector>>,
}

impl HttpClient for ReqwestClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self.connectors.lock().unwrap_or_else(|e| e.into_inner());
        connectors
            .entry(key)
            .or_insert_with(|| SharedHttpConnector::new(Connector::new(key)))
            .clone()
    }
}

/// A `reqwest::Client` is a handle to a shared pool: clones share it.
#[derive(Debug, Clone)]
struct Connector {
    client: reqwest::Client,
}

impl Connector {
    fn new((connect, read): Timeouts) -> Self {
        super::install_ring();
        let mut builder = reqwest::Client::builder();
        if let Some(connect) = connect {
            builder = builder.connect_timeout(connect);
        }
        if let Some(read) = read {
            builder = builder.read_timeout(read);
        }
        // Building fails only when the TLS backend cannot start; the default client then
        // fails the same way at its first call, with the error to show.
        let client = builder.build().unwrap_or_default();
        Connector { client }
    }
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.client.clone();
        HttpConnectorFuture::new(async move { send(&client, request).await })
    }
}

async fn send(
    client: &reqwest::Client,
    request: HttpRequest,
) -> Result<HttpResponse, ConnectorError> {
    let request = request
        .try_into_http1x()
        .map_err(|e| ConnectorError::user(e.into()))?;
    let (parts, body) = request.into_parts();
    let body = body.bytes().map(<[u8]>::to_vec).ok_or_else(|| {
        ConnectorError::user(
            "a streaming request body: the hooks' AWS calls send theirs in memory".into(),
        )
    })?;
    let url = parts.uri.to_string();
    let response = client
        .request(parts.method, url)
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .map_err(classify)?;
    let mut built = http::Response::builder().status(response.status());
    if let Some(headers) = built.headers_mut() {
        headers.extend(response.headers().clone());
    }
    let bytes = response.bytes().await.map_err(classify)?;
    let response = built
        .body(SdkBody::from(bytes))
        .map_err(|e| ConnectorError::other(e.into(), None))?;
    HttpResponse::try_from(response).map_err(|e| ConnectorError::other(e.into(), None))
}

/// A `reqwest` error as the SDK's own client would have classified it.
fn classify(error: reqwest::Error) -> ConnectorError {
    if error.is_timeout() {
        ConnectorError::timeout(error.into())
    } else if error.is_connect() || error.is_request() || error.is_body() {
        ConnectorError::io(error.into())
    } else {
        ConnectorError::other(error.into(), None)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpListener;

    /// A Lambda client on this HTTP client, against a one-shot server answering `answer`.
    async fn lambda_against(
        answer: &'static str,
    ) -> (aws_sdk_lambda::Client, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let mut buffer = [0u8; 4096];
            // The request, up to its (small) body.
            loop {
                let n = socket.read(&mut buffer).await.unwrap();
                seen.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&seen);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            if !answer.is_empty() {
                socket.write_all(answer.as_bytes()).await.unwrap();
            }
            String::from_utf8_lossy(&seen).into_owned()
        });
        let config = aws_sdk_lambda::Config::builder()
            .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
            .region(aws_sdk_lambda::config::Region::new("eu-west-1"))
            .credentials_provider(aws_sdk_lambda::config::Credentials::new(
                "AKID", "secret", None, None, "test",
            ))
            .endpoint_url(format!("http://{address}"))
            .http_client(super::sdk_http_client())
            .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
            .build();
        (aws_sdk_lambda::Client::from_conf(config), server)
    }

    /// An HTTP/1.1 answer with `head` (status line and headers) and `body`.
    fn answer(head: &str, body: &str) -> &'static str {
        let text = format!("{head}\r\ncontent-length: {}\r\n\r\n{body}", body.len());
        Box::leak(text.into_boxed_str())
    }

    #[tokio::test]
    async fn the_sdk_sends_its_signed_request_and_reads_the_answer() {
        let body = r#"{"AliasArn":"arn:aws:lambda:eu-west-1:1:function:hello:live","Name":"live","FunctionVersion":"3","RevisionId":"r1"}"#;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-amzn-requestid: req-1";
        let (lambda, server) = lambda_against(answer(head, body)).await;
        let alias = lambda
            .get_alias()
            .function_name("hello")
            .name("live")
            .send()
            .await
            .unwrap();
        assert_eq!(alias.function_version(), Some("3"));
        let request = server.await.unwrap();
        assert!(
            request.starts_with("GET /2015-03-31/functions/hello/aliases/live HTTP/1.1"),
            "{request}"
        );
        assert!(
            request
                .to_ascii_lowercase()
                .contains("authorization: aws4-hmac-sha256"),
            "{request}"
        );
    }

    #[tokio::test]
    async fn a_service_error_is_the_services_and_a_dropped_connection_is_io() {
        let error = r#"{"Type":"User","Message":"Alias not found"}"#;
        let head = "HTTP/1.1 404 Not Found\r\nx-amzn-errortype: ResourceNotFoundException";
        let (lambda, _server) = lambda_against(answer(head, error)).await;
        let err = lambda
            .get_alias()
            .function_name("hello")
            .name("nope")
            .send()
            .await
            .unwrap_err();
        assert!(
            err.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()),
            "{err:?}"
        );

        let (lambda, _server) = lambda_against("").await;
        let err = lambda
            .get_alias()
            .function_name("hello")
            .name("live")
            .send()
            .await
            .unwrap_err();
        match err {
            aws_sdk_lambda::error::SdkError::DispatchFailure(failure) => {
                assert!(failure.is_io(), "{failure:?}")
            }
            other => panic!("a dropped connection is a dispatch failure: {other:?}"),
        }
    }
}
