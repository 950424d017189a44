//! The template as typed `serde` structs: the resources and properties the stand-in reads.
//! Properties it does not read are ignored, as SAM has many; a property it reads with the
//! wrong shape is an error naming its path (`Resources.Fn.Properties.Timeout`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::expr::Expr;

/// The document: parameters, globals and resources.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Document {
    #[serde(default)]
    pub parameters: BTreeMap<String, Parameter>,
    #[serde(default)]
    pub globals: Globals,
    /// Resources, each read by its `Type` (see [`Resource`]).
    pub resources: BTreeMap<String, Resource>,
}

/// A parameter; only its default is read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Parameter {
    pub default: Option<Value>,
}

/// `Globals`: only `Function` is read.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Globals {
    #[serde(default)]
    pub function: FunctionProperties,
}

/// A resource before its type is known: its properties are read per type, so that an
/// error's path reaches into them (serde's internally tagged enums lose the path).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Resource {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(default)]
    pub properties: Value,
    #[serde(default)]
    pub metadata: Value,
    /// `UpdatePolicy` (an alias's `CodeDeployLambdaAliasUpdate`).
    #[serde(default)]
    pub update_policy: Value,
}

/// `Metadata` of a function: `BuildProperties.Binary`, as for `BuildMethod: rust-cargolambda`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct FunctionMetadata {
    #[serde(default)]
    pub build_properties: BuildProperties,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct BuildProperties {
    pub binary: Option<String>,
}

/// `AWS::Serverless::Function` properties (and `Globals.Function`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct FunctionProperties {
    pub function_name: Option<Expr>,
    pub timeout: Option<u64>,
    pub memory_size: Option<u32>,
    pub architectures: Option<Vec<Architecture>>,
    pub environment: Option<Environment>,
    pub auto_publish_alias: Option<String>,
    pub deployment_preference: Option<DeploymentPreference>,
    #[serde(default)]
    pub events: BTreeMap<String, EventSource>,
    /// `Role`: the execution role's ARN (SAM generates one when it is absent).
    pub role: Option<Expr>,
    /// `Policies`: a managed policy's name or ARN, an inline document, a SAM policy
    /// template, or a list of them.
    pub policies: Option<Value>,
}

/// One of Lambda's architectures (its model: `x86_64` or `arm64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(super) enum Architecture {
    #[serde(rename = "x86_64")]
    X86_64,
    #[serde(rename = "arm64")]
    Arm64,
}

impl Architecture {
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        }
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Environment {
    #[serde(default)]
    pub variables: BTreeMap<String, Expr>,
}

/// `DeploymentPreference`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DeploymentPreference {
    pub enabled: Option<bool>,
    #[serde(rename = "Type")]
    pub kind: Option<Expr>,
    #[serde(default)]
    pub alarms: Vec<Expr>,
    #[serde(default)]
    pub hooks: Hooks,
    #[serde(default)]
    pub trigger_configurations: Vec<TriggerConfiguration>,
    /// `Role`: CodeDeploy's service role (SAM generates one when it is absent).
    pub role: Option<Expr>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Hooks {
    pub pre_traffic: Option<Expr>,
    pub post_traffic: Option<Expr>,
}

/// One of `DeploymentPreference.TriggerConfigurations`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TriggerConfiguration {
    /// `TriggerName`.
    pub trigger_name: Option<String>,
    /// `TriggerTargetArn`: `!Ref Topic` or an SNS topic ARN.
    pub trigger_target_arn: Option<Expr>,
    /// `TriggerEvents`, e.g. `DeploymentFailure`.
    #[serde(default)]
    pub trigger_events: Vec<String>,
}

/// An event source of a function; only HTTP ones are read.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct EventSource {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(default)]
    pub properties: Value,
}

/// `AWS::CloudWatch::Alarm` properties the stand-in evaluates (and `Metrics`, to refuse it).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AlarmProperties {
    /// `Namespace`.
    pub namespace: Option<Expr>,
    /// `MetricName`.
    pub metric_name: Option<Expr>,
    /// `Statistic`.
    pub statistic: Option<Expr>,
    /// `ExtendedStatistic`, e.g. `p99`.
    pub extended_statistic: Option<Expr>,
    /// `Period`, seconds.
    pub period: Option<Expr>,
    /// `EvaluationPeriods`.
    pub evaluation_periods: Option<Expr>,
    /// `DatapointsToAlarm`.
    pub datapoints_to_alarm: Option<Expr>,
    /// `Threshold`.
    pub threshold: Option<Expr>,
    /// `ComparisonOperator`.
    pub comparison_operator: Option<Expr>,
    /// `TreatMissingData`.
    pub treat_missing_data: Option<Expr>,
    /// `Dimensions`.
    #[serde(default)]
    pub dimensions: Vec<Dimension>,
    /// `Metrics` (metric math), which the stand-in does not evaluate.
    pub metrics: Option<Value>,
    /// `AlarmActions`: topics notified when the alarm goes off.
    #[serde(default)]
    pub alarm_actions: Vec<Expr>,
    /// `OKActions`: topics notified when it is OK again.
    #[serde(default, rename = "OKActions")]
    pub ok_actions: Vec<Expr>,
}

/// One of an alarm's `Dimensions`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Dimension {
    /// `Name`, e.g. `FunctionName`.
    pub name: String,
    /// `Value`.
    pub value: Expr,
}

/// `AWS::Lambda::Alias` properties.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct AliasProperties {
    pub function_name: Expr,
    pub name: Expr,
    pub function_version: Expr,
}

/// `AWS::Serverless::HttpApi` / `AWS::ApiGatewayV2::Api` properties: the OpenAPI body whose
/// integrations name the function.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ApiProperties {
    pub definition_body: Option<Value>,
    pub body: Option<Value>,
}

/// `AWS::IAM::Role` properties: its name and policies.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoleProperties {
    /// `RoleName`; CloudFormation generates one when it is absent.
    pub role_name: Option<Expr>,
    /// `Policies`: inline policies.
    #[serde(default)]
    pub policies: Vec<InlinePolicy>,
    /// `ManagedPolicyArns`.
    #[serde(default)]
    pub managed_policy_arns: Vec<Expr>,
}

/// One of a role's inline `Policies`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InlinePolicy {
    /// `PolicyName`, unresolved (the Serverless Framework writes a `Fn::Join`).
    pub policy_name: Option<Expr>,
    /// `PolicyDocument`, with its intrinsics unresolved.
    pub policy_document: Value,
}

/// `AWS::Lambda::Permission` properties: a statement of a function's resource-based policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PermissionProperties {
    /// `Action`, e.g. `lambda:InvokeFunction`.
    pub action: Expr,
    /// `FunctionName`: a name, an ARN, or a qualified one.
    pub function_name: Expr,
    /// `Principal`: a service (`apigateway.amazonaws.com`) or an account.
    pub principal: Expr,
    /// `SourceArn`.
    pub source_arn: Option<Expr>,
    /// `SourceAccount`.
    pub source_account: Option<Expr>,
}

/// `AWS::SNS::TopicPolicy` properties.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TopicPolicyProperties {
    /// `Topics`: the topics it applies to.
    #[serde(default)]
    pub topics: Vec<Expr>,
    /// `PolicyDocument`, with its intrinsics unresolved.
    pub policy_document: Value,
}

/// `AWS::Lambda::Function` properties (a template as CloudFormation deploys it, e.g. what
/// `serverless package` writes).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct LambdaFunctionProperties {
    pub function_name: Option<Expr>,
    pub code: Option<Code>,
    pub timeout: Option<u64>,
    pub memory_size: Option<u32>,
    pub architectures: Option<Vec<Architecture>>,
    pub environment: Option<Environment>,
    pub role: Option<Expr>,
}

/// `Code`: only the zip's key is read; its file name names the cargo binary.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Code {
    #[serde(rename = "S3Key")]
    pub s3_key: Option<Expr>,
}

/// `AWS::Lambda::Version` properties.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct VersionProperties {
    pub function_name: Expr,
}

/// An alias's `UpdatePolicy`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct UpdatePolicy {
    pub code_deploy_lambda_alias_update: Option<AliasUpdate>,
}

/// `CodeDeployLambdaAliasUpdate`: the alias is shifted by a CodeDeploy deployment.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct AliasUpdate {
    pub application_name: Expr,
    pub deployment_group_name: Expr,
    pub before_allow_traffic_hook: Option<Expr>,
    pub after_allow_traffic_hook: Option<Expr>,
}

/// `AWS::CodeDeploy::Application` properties.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ApplicationProperties {
    pub application_name: Option<Expr>,
}

/// `AWS::CodeDeploy::DeploymentGroup` properties.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DeploymentGroupProperties {
    pub deployment_group_name: Option<Expr>,
    pub deployment_config_name: Option<Expr>,
    pub service_role_arn: Option<Expr>,
    pub alarm_configuration: Option<AlarmConfiguration>,
    #[serde(default)]
    pub trigger_configurations: Vec<TriggerConfiguration>,
}

/// `AlarmConfiguration`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct AlarmConfiguration {
    #[serde(default)]
    pub alarms: Vec<AlarmName>,
    pub enabled: Option<bool>,
}

/// One of `AlarmConfiguration.Alarms`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct AlarmName {
    pub name: Expr,
}

/// `AWS::ApiGatewayV2::Integration` properties.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct IntegrationProperties {
    pub api_id: Expr,
    pub integration_uri: Option<Expr>,
}
