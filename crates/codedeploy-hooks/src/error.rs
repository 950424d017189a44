//! The crate's one error enum.

use std::time::Duration;

/// What went wrong outside the checks themselves: a bad event, a version that cannot be
/// found, an AWS call that failed, a report that could not be delivered.
///
/// Every message says what happened and what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The event is not a CodeDeploy lifecycle event.
    #[error(
        "the event is not a CodeDeploy lifecycle event: {reason}; a hook expects \
         {{\"DeploymentId\": \"d-...\", \"LifecycleEventHookExecutionId\": \"...\"}} \
         (is this function set as PreTraffic/PostTraffic hook of a DeploymentPreference?)"
    )]
    MalformedEvent {
        /// Why the event was rejected.
        reason: String,
    },

    /// A configured target (builder, environment variable or CLI flag) cannot be tested.
    #[error("{source_name} is invalid: `{value}` {problem}")]
    InvalidSetting {
        /// Where the value came from, e.g. the environment variable's name.
        source_name: String,
        /// The value as given (shortened).
        value: String,
        /// What is wrong with it.
        #[source]
        problem: crate::TargetProblem,
    },

    /// Nothing says which function version to test.
    #[error(
        "cannot tell which version to test: {reason}; set it in code with Hook::target, \
         in the environment variable {env}, or run as a CodeDeploy hook so the AppSpec can be read",
        env = crate::deployment::TARGET_ENV
    )]
    TargetUnknown {
        /// What was tried.
        reason: String,
    },

    /// A check asked for the alias, but nothing names it.
    #[error(
        "the alias being shifted is not known: the deployment's AppSpec names it (the hook's \
         role needs codedeploy:GetDeployment), or set it with Hook::alias or --alias"
    )]
    AliasUnknown,

    /// Two sources name different versions (or functions) under test.
    #[error(
        "the target sources disagree: {first} says `{first_value}` but {second} says \
         `{second_value}`; fix the template or drop one of them"
    )]
    TargetConflict {
        /// The first source, e.g. `Hook::target`.
        first: &'static str,
        /// What the first source says.
        first_value: String,
        /// The second source, e.g. `the deployment's AppSpec`.
        second: &'static str,
        /// What the second source says.
        second_value: String,
    },

    /// AppSpec content cannot be used.
    #[error("{what} is unusable: {problem}")]
    AppSpec {
        /// Which AppSpec, e.g. `the AppSpec of deployment d-AB12CD34E`.
        what: String,
        /// What is wrong with it.
        #[source]
        problem: crate::appspec::AppSpecProblem,
    },

    /// An AWS API call failed (after the retries its class allows).
    #[error(
        "{operation} failed ({kind}){tries}: {message}{hint}",
        tries = attempts_note(*attempts),
        hint = kind.hint()
    )]
    Aws {
        /// The API operation, e.g. `lambda:Invoke`.
        operation: &'static str,
        /// The class of failure, which decides whether it is retried.
        kind: AwsErrorKind,
        /// The service's or transport's message.
        message: String,
        /// Calls made, retries included.
        attempts: u32,
    },

    /// The Lambda deadline leaves less time than the reporting reserve: nothing could run.
    #[error(
        "only {left:?} was left before the Lambda deadline, less than the {reserve:?} kept to \
         report the verdict, so no check ran; raise the hook function's timeout (the checks' \
         time plus the reserve) or lower Hook::reserve"
    )]
    NoTimeForChecks {
        /// Time left when the event arrived.
        left: Duration,
        /// The reporting reserve.
        reserve: Duration,
    },

    /// A payload could not be (de)serialized.
    #[error("the {what} is not what was expected: {source}")]
    Payload {
        /// Which payload, e.g. `response of hello:7`.
        what: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },

    /// A canary analysis cannot run: something it needs is unknown.
    #[error("the canary analysis cannot run: {reason}")]
    CanaryUnavailable {
        /// What is missing and where it comes from.
        reason: String,
    },

    /// The PreTraffic hook could not start the shift's watch, so it fails: the shift must
    /// not run unwatched.
    #[error(
        "could not start the shift's watch of deployment {deployment_id}: {source}; the hook \
         fails so that the shift does not run unwatched (the hook's role needs \
         lambda:InvokeFunction on its own function and lambda:GetAlias and lambda:UpdateAlias \
         on its alias watch-lease, which the template must create)"
    )]
    WatchNotStarted {
        /// The deployment.
        deployment_id: String,
        /// What failed.
        #[source]
        source: Box<Error>,
    },

    /// The hook function has no such lease alias.
    #[error(
        "{function} has no alias {alias} to hold the watch's lease: the template must create \
         it (AWS::Lambda::Alias of the hook, FunctionVersion $LATEST)"
    )]
    LeaseMissing {
        /// The hook function.
        function: String,
        /// The alias.
        alias: String,
    },

    /// Every lease the shift's watch may take is held by a deployment in progress.
    #[error(
        "the watch's lease watch-lease of {function} is held by deployment {held}, still in \
         progress, and {function} has no free alias {alias}: a hook shared by functions \
         deployed at once needs an alias watch-lease-FUNCTION for each function it watches \
         (AWS::Lambda::Alias of the hook, FunctionVersion $LATEST, Name {alias})"
    )]
    LeaseBusy {
        /// The hook function.
        function: String,
        /// The deployment holding `watch-lease`.
        held: String,
        /// The alias of the function deployed, missing or held too.
        alias: String,
    },

    /// No report could be delivered to CodeDeploy before the deadline.
    #[error(
        "could not report {status} for deployment {deployment_id} after {attempts} attempt(s) \
         in {elapsed:?}: {last_error}; CodeDeploy will retry the hook, or fail the deployment \
         after its timeout (check the hook's permission codedeploy:PutLifecycleEventHookExecutionStatus)"
    )]
    ReportUndelivered {
        /// The deployment.
        deployment_id: String,
        /// The status that was to be reported.
        status: &'static str,
        /// How many calls were made.
        attempts: u32,
        /// How long it tried.
        elapsed: Duration,
        /// The last call's error.
        #[source]
        last_error: Box<Error>,
    },
}

/// The class of an AWS call failure. Throttling, server and transport failures are
/// worth retrying; client failures (permissions, bad input) are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AwsErrorKind {
    /// The service throttled the call (`ThrottlingException`, `TooManyRequestsException`, 429).
    Throttling,
    /// The service failed (HTTP 5xx).
    Server,
    /// The call did not get a response (connection refused or reset, broken response).
    Transport,
    /// An attempt got no answer within its timeout ([`CallPolicy`](crate::CallPolicy)).
    Timeout,
    /// The service rejected the call (4xx other than throttling).
    Client,
}

impl AwsErrorKind {
    /// Whether a call failing this way is worth retrying.
    ///
    /// ```
    /// use codedeploy_hooks::AwsErrorKind;
    /// assert!(AwsErrorKind::Throttling.is_retryable());
    /// assert!(!AwsErrorKind::Client.is_retryable());
    /// ```
    pub fn is_retryable(self) -> bool {
        !matches!(self, AwsErrorKind::Client)
    }

    fn hint(self) -> &'static str {
        match self {
            AwsErrorKind::Client => "; check the hook role's permissions and the function name",
            AwsErrorKind::Transport => "; check AWS_ENDPOINT_URL, the network and the region",
            AwsErrorKind::Throttling | AwsErrorKind::Server | AwsErrorKind::Timeout => "",
        }
    }
}

impl std::fmt::Display for AwsErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AwsErrorKind::Throttling => "throttled",
            AwsErrorKind::Server => "service error",
            AwsErrorKind::Transport => "no response",
            AwsErrorKind::Timeout => "timed out",
            AwsErrorKind::Client => "rejected",
        })
    }
}

impl Error {
    /// Whether the failure is one of the infrastructure (throttling, 5xx, transport),
    /// which checks retry by default.
    ///
    /// ```
    /// let error = codedeploy_hooks::Error::AliasUnknown;
    /// assert!(!error.is_infrastructure(), "a setting, not AWS having a bad moment");
    /// ```
    pub fn is_infrastructure(&self) -> bool {
        matches!(self, Error::Aws { kind, .. } if kind.is_retryable())
    }

    /// Whether it is [`Error::LeaseMissing`].
    #[cfg(feature = "hook")]
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, Error::LeaseMissing { .. })
    }

    /// Build an [`Error::Aws`] from any SDK error, classifying it for retries. (Every
    /// `aws-sdk-*` crate shares smithy's raw `HttpResponse`, so one signature fits all.)
    #[cfg(feature = "hook")]
    pub(crate) fn aws<E>(
        operation: &'static str,
        err: aws_sdk_lambda::error::SdkError<E, aws_sdk_lambda::config::http::HttpResponse>,
    ) -> Self
    where
        E: aws_sdk_lambda::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        use aws_sdk_lambda::error::SdkError;
        let (kind, message) = match &err {
            SdkError::ServiceError(service) => {
                let code = service.err().code().unwrap_or("Unknown");
                let status = service.raw().status().as_u16();
                let kind = if matches!(
                    code,
                    "ThrottlingException"
                        | "TooManyRequestsException"
                        | "Throttling"
                        | "RequestLimitExceeded"
                ) || status == 429
                {
                    AwsErrorKind::Throttling
                } else if status >= 500 {
                    AwsErrorKind::Server
                } else {
                    AwsErrorKind::Client
                };
                let text = service.err().message().unwrap_or("no message");
                (kind, format!("{code}: {text}"))
            }
            SdkError::ResponseError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::TimeoutError(_) => (AwsErrorKind::Transport, source_chain(&err)),
            _ => (AwsErrorKind::Client, source_chain(&err)),
        };
        Error::Aws {
            operation,
            kind,
            message,
            attempts: 1,
        }
    }

    /// The same error, noting how many calls were made.
    #[cfg(feature = "hook")]
    pub(crate) fn after_attempts(self, attempts: u32) -> Self {
        match self {
            Error::Aws {
                operation,
                kind,
                message,
                ..
            } => Error::Aws {
                operation,
                kind,
                message,
                attempts,
            },
            other => other,
        }
    }
}

fn attempts_note(attempts: u32) -> String {
    if attempts > 1 {
        format!(" after {attempts} attempts")
    } else {
        String::new()
    }
}

/// "a: b: c" from an error and its sources: SDK errors keep the useful part in the chain.
#[cfg(feature = "hook")]
pub(crate) fn source_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut next = err.source();
    while let Some(cause) = next {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        next = cause.source();
    }
    text
}

impl From<Error> for lambda_runtime::Diagnostic {
    fn from(err: Error) -> Self {
        lambda_runtime::Diagnostic {
            error_type: "codedeploy_hooks::Error".to_owned(),
            error_message: err.to_string(),
        }
    }
}
