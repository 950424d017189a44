//! Helpers for the unit tests: fixtures and mocked SDK clients.

use aws_config::retry::RetryConfig;
use aws_smithy_mocks::{mock_client, Rule, RuleMode};

use crate::clients::Clients;

pub(crate) const GET_DEPLOYMENT_APPSPEC: &str =
    include_str!("../tests/data/get-deployment-appspec-content.json");
pub(crate) const GET_DEPLOYMENT_STRING: &str =
    include_str!("../tests/data/get-deployment-string.json");
pub(crate) const GET_DEPLOYMENT_NO_CONTENT: &str =
    include_str!("../tests/data/get-deployment-no-content.json");
pub(crate) const GET_APPLICATION_REVISION: &str =
    include_str!("../tests/data/get-application-revision.json");
pub(crate) const ERROR_ALREADY_COMPLETED: &str =
    include_str!("../tests/data/error-already-completed.json");
pub(crate) const ERROR_THROTTLING: &str = include_str!("../tests/data/error-throttling.json");
pub(crate) const LIFECYCLE_EVENT: &str = include_str!("../tests/data/lifecycle-event.json");

/// A CodeDeploy client answering from `rules` (any matching rule, in order), SDK retries off.
pub(crate) fn codedeploy(rules: &[&Rule]) -> aws_sdk_codedeploy::Client {
    mock_client!(aws_sdk_codedeploy, RuleMode::MatchAny, rules, |b| b
        .retry_config(RetryConfig::disabled()))
}

/// A Lambda client answering from `rules`, SDK retries off.
pub(crate) fn lambda(rules: &[&Rule]) -> aws_sdk_lambda::Client {
    mock_client!(aws_sdk_lambda, RuleMode::MatchAny, rules, |b| b
        .retry_config(RetryConfig::disabled()))
}

pub(crate) fn clients(
    codedeploy: aws_sdk_codedeploy::Client,
    lambda: aws_sdk_lambda::Client,
) -> Clients {
    Clients::new(codedeploy, lambda, crate::clients::new_http_client())
}
