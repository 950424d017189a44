//! The AWS and HTTP clients, built once per process.

mod sdk_http;

use std::sync::{Arc, OnceLock};

use aws_config::retry::RetryConfig;
use aws_config::BehaviorVersion;

/// The clients a hook uses. Built once per process and shared by every event and check.
///
/// The SDK's own retries are off: the framework retries every call itself under its
/// [`CallPolicy`](crate::CallPolicy), so every attempt is visible in the summary and fits the
/// Lambda deadline.
///
/// ```no_run
/// # async fn demo() {
/// // Region, credentials and AWS_ENDPOINT_URL from the environment, as any AWS tool.
/// let clients = codedeploy_hooks::Clients::from_env().await;
/// let target = codedeploy_hooks::Target::new(codedeploy_hooks::Deployment::new("hello", "4"), clients);
/// # }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Clients {
    /// Reads the deployment and reports the verdict.
    pub codedeploy: aws_sdk_codedeploy::Client,
    /// Invokes the target version.
    pub lambda: aws_sdk_lambda::Client,
    /// Reads metrics for the canary analysis (feature `canary`); `None` in clients built
    /// with [`Clients::new`] until [`Clients::with_cloudwatch`].
    #[cfg(feature = "canary")]
    pub cloudwatch: Option<aws_sdk_cloudwatch::Client>,
    /// For checks that call URLs; built on first use (see [`Clients::http`]).
    http: Arc<OnceLock<reqwest::Client>>,
}

impl Clients {
    /// Clients configured from the environment: region, credentials, and
    /// `AWS_ENDPOINT_URL` (or per-service `AWS_ENDPOINT_URL_CODEDEPLOY` / `_LAMBDA`), as every
    /// AWS SDK reads them.
    ///
    /// ```no_run
    /// # async fn demo() {
    /// // The Lambda environment's credentials and region, as the SDK finds them.
    /// let clients = codedeploy_hooks::Clients::from_env().await;
    /// # let _ = clients; }
    /// ```
    pub async fn from_env() -> Self {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::disabled())
            .http_client(https_client())
            .load()
            .await;
        Self::from_conf(&config)
    }

    /// Clients from an SDK configuration (retries are turned off, see above).
    ///
    /// ```no_run
    /// # async fn demo() {
    /// use codedeploy_hooks::{aws_config, Clients};
    /// let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).region("eu-west-1").load().await;
    /// let clients = Clients::from_conf(&config);
    /// # let _ = clients; }
    /// ```
    pub fn from_conf(config: &aws_config::SdkConfig) -> Self {
        let codedeploy = aws_sdk_codedeploy::config::Builder::from(config)
            .retry_config(RetryConfig::disabled())
            .build();
        let lambda = aws_sdk_lambda::config::Builder::from(config)
            .retry_config(RetryConfig::disabled())
            .build();
        Clients {
            codedeploy: aws_sdk_codedeploy::Client::from_conf(codedeploy),
            lambda: aws_sdk_lambda::Client::from_conf(lambda),
            #[cfg(feature = "canary")]
            cloudwatch: Some(aws_sdk_cloudwatch::Client::from_conf(
                aws_sdk_cloudwatch::config::Builder::from(config)
                    .retry_config(RetryConfig::disabled())
                    .build(),
            )),
            http: Arc::new(OnceLock::new()),
        }
    }

    /// An HTTP client as the hook's own: `reqwest` on rustls with ring, which this crate
    /// installs as the process's crypto provider unless one is installed already. Build
    /// the one given to [`Clients::new`] with it: `reqwest` as this crate enables it has no
    /// crypto provider of its own.
    ///
    /// ```no_run
    /// let http = codedeploy_hooks::Clients::default_http(); // rustls with ring, as the SDK's
    /// # let _ = http;
    /// ```
    pub fn default_http() -> reqwest::Client {
        new_http_client()
    }

    /// Clients made of the given parts: for tests with mocked SDK clients.
    ///
    /// ```no_run
    /// # async fn demo() {
    /// use codedeploy_hooks::{aws_config, aws_sdk_codedeploy, aws_sdk_lambda, Clients};
    /// let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    /// let clients = Clients::new(
    ///     aws_sdk_codedeploy::Client::new(&config),
    ///     aws_sdk_lambda::Client::new(&config),
    ///     Clients::default_http(),
    /// );
    /// # let _ = clients; }
    /// ```
    pub fn new(
        codedeploy: aws_sdk_codedeploy::Client,
        lambda: aws_sdk_lambda::Client,
        http: reqwest::Client,
    ) -> Self {
        Clients {
            codedeploy,
            lambda,
            #[cfg(feature = "canary")]
            cloudwatch: None,
            http: Arc::new(OnceLock::from(http)),
        }
    }

    /// The same clients with a CloudWatch client, for the canary analysis (e.g. a mocked one
    /// in tests).
    ///
    /// ```no_run
    /// # async fn demo() {
    /// use codedeploy_hooks::{aws_config, aws_sdk_cloudwatch, Clients};
    /// let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    /// let clients = Clients::from_conf(&config).with_cloudwatch(aws_sdk_cloudwatch::Client::new(&config));
    /// # let _ = clients; }
    /// ```
    #[cfg(feature = "canary")]
    pub fn with_cloudwatch(mut self, cloudwatch: aws_sdk_cloudwatch::Client) -> Self {
        self.cloudwatch = Some(cloudwatch);
        self
    }

    /// An HTTP client, for checks that call URLs (e.g. the public API after the shift).
    ///
    /// Built on first use: setting up TLS loads the system's root certificates, which costs
    /// milliseconds that a hook whose checks only invoke the function should not pay.
    ///
    /// ```no_run
    /// # async fn demo() {
    /// let clients = codedeploy_hooks::Clients::from_env().await;
    /// let health = clients.http().get("https://example.com/health").send().await;
    /// # let _ = health; }
    /// ```
    pub fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(new_http_client)
    }
}

/// The SDK's HTTPS client: `reqwest` on rustls with ring, as the checks' (see
/// [`sdk_http`] for why not the SDK's own).
pub(crate) fn https_client() -> aws_sdk_lambda::config::SharedHttpClient {
    sdk_http::sdk_http_client()
}

/// A `reqwest` client on the process's crypto provider.
pub(crate) fn new_http_client() -> reqwest::Client {
    install_ring();
    reqwest::Client::new()
}

/// ring as the process's rustls crypto provider, unless the program installed its own
/// first: the one provider a hook carries (see the workspace's Cargo.toml for why not the
/// SDK's default, aws-lc-rs).
fn install_ring() {
    // An error only says a default is installed already: that one serves.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
