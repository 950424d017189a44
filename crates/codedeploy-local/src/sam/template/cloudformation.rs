//! A template as CloudFormation deploys it, without SAM's transform: what `serverless
//! package` writes (`cloudformation-template-update-stack.json`). Read into the same
//! functions, deployment preferences and APIs as a SAM template:
//! - `AWS::Lambda::Function`: its binary is its zip's name (`Code.S3Key` `.../hello.zip` is
//!   the cargo binary `hello`, as `hooks-examples/serverless/build.sh` names them);
//! - an `AWS::Lambda::Alias` with `UpdatePolicy.CodeDeployLambdaAliasUpdate` is the
//!   function's deployment: its hooks, and its `AWS::CodeDeploy::DeploymentGroup`'s
//!   configuration, alarms, triggers and service role;
//! - an `AWS::ApiGatewayV2::Integration` whose URI names such an alias serves it over HTTP;
//! - what each of these resources' `Ref` gives (an application's or group's name, an alias's
//!   or version's ARN) is kept in [`Template::names`].

use std::collections::BTreeMap;

use serde_json::Value;

use super::expr::Expr;
use super::resources::{
    AliasUpdate, ApplicationProperties, DeploymentGroupProperties, IntegrationProperties,
    LambdaFunctionProperties, Resource, UpdatePolicy, VersionProperties,
};
use super::{Preference, Reader, Template, TemplateApi, TemplateFunction};
use crate::error::Error;

/// An alias CodeDeploy shifts: its resource, function, name and update policy.
struct ShiftedAlias {
    logical_id: String,
    function: String,
    name: String,
    update: AliasUpdate,
}

/// The CloudFormation-form resources read so far, linked once all are.
#[derive(Default)]
pub(super) struct CloudFormation {
    aliases: Vec<ShiftedAlias>,
    groups: BTreeMap<String, DeploymentGroupProperties>,
    applications: BTreeMap<String, ApplicationProperties>,
    integrations: Vec<IntegrationProperties>,
}

impl CloudFormation {
    /// Read `resource` if it is one of the CloudFormation form's; `true` when it was.
    pub(super) fn read(
        &mut self,
        template: &mut Template,
        reader: &Reader<'_>,
        logical_id: &str,
        resource: &Resource,
    ) -> Result<bool, Error> {
        let at = format!("Resources.{logical_id}.Properties");
        let props = || resource.properties.clone();
        match resource.kind.as_str() {
            "AWS::Lambda::Function" => {
                let p: LambdaFunctionProperties = reader.typed(&at, props())?;
                if let Some(f) = function(logical_id, p) {
                    template.functions.insert(f.logical_id.clone(), f);
                }
            }
            "AWS::Lambda::Version" => {
                let p: VersionProperties = reader.typed(&at, props())?;
                if let Some(function) = p.function_name.logical_id() {
                    let version = Expr::GetAtt {
                        resource: function.to_owned(),
                        attribute: "Version".into(),
                    };
                    template.names.insert(logical_id.to_owned(), version);
                }
            }
            "AWS::Lambda::Alias" => return self.read_alias(reader, logical_id, resource),
            "AWS::CodeDeploy::Application" => {
                let p = reader.typed(&at, props())?;
                self.applications.insert(logical_id.to_owned(), p);
            }
            "AWS::CodeDeploy::DeploymentGroup" => {
                let p = reader.typed(&at, props())?;
                self.groups.insert(logical_id.to_owned(), p);
            }
            "AWS::ApiGatewayV2::Integration" => {
                self.integrations.push(reader.typed(&at, props())?);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// An alias with a `CodeDeployLambdaAliasUpdate`; any other is left to the SAM reader.
    fn read_alias(
        &mut self,
        reader: &Reader<'_>,
        logical_id: &str,
        resource: &Resource,
    ) -> Result<bool, Error> {
        if resource.update_policy.is_null() {
            return Ok(false);
        }
        let at = format!("Resources.{logical_id}.UpdatePolicy");
        let policy: UpdatePolicy = reader.typed(&at, resource.update_policy.clone())?;
        let Some(update) = policy.code_deploy_lambda_alias_update else {
            return Ok(false);
        };
        let props = &resource.properties;
        let function = props.get("FunctionName").and_then(ref_of);
        let name = props.get("Name").and_then(Value::as_str);
        let (Some(function), Some(name)) = (function, name) else {
            return Err(reader.bad(format!(
                "{logical_id}: an alias CodeDeploy shifts needs FunctionName: !Ref FUNCTION and a literal Name"
            )));
        };
        self.aliases.push(ShiftedAlias {
            logical_id: logical_id.to_owned(),
            function,
            name: name.to_owned(),
            update,
        });
        Ok(true)
    }

    /// Each shifted alias becomes its function's deployment preference; each integration
    /// of one, an HTTP API.
    pub(super) fn link(
        mut self,
        template: &mut Template,
        reader: &Reader<'_>,
    ) -> Result<(), Error> {
        for (id, app) in &self.applications {
            let name = app
                .application_name
                .clone()
                .unwrap_or_else(|| Expr::Literal(id.clone()));
            template.names.insert(id.clone(), name);
        }
        for (id, group) in &self.groups {
            let name = group
                .deployment_group_name
                .clone()
                .unwrap_or_else(|| Expr::Literal(id.clone()));
            template.names.insert(id.clone(), name);
        }
        for alias in std::mem::take(&mut self.aliases) {
            let arn = Expr::Sub {
                text: format!(
                    "arn:aws:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:${{{}}}:{}",
                    alias.function, alias.name
                ),
                variables: BTreeMap::new(),
            };
            template.names.insert(alias.logical_id.clone(), arn);
            for api in self.apis_of(&alias) {
                template.apis.push(api);
            }
            let preference = self
                .preference(&alias)
                .map_err(|why| reader.bad(format!("{}: {why}", alias.logical_id)))?;
            let Some(f) = template.functions.get_mut(&alias.function) else {
                return Err(reader.bad(format!(
                    "{}: FunctionName refers to {}, which is not an AWS::Lambda::Function with a zip the stand-in can run",
                    alias.logical_id, alias.function
                )));
            };
            f.alias = Some(alias.name.clone());
            f.deployment = Some(preference);
        }
        Ok(())
    }

    fn preference(&self, alias: &ShiftedAlias) -> Result<Preference, String> {
        let update = &alias.update;
        let group_id = update
            .deployment_group_name
            .logical_id()
            .ok_or("DeploymentGroupName must be !Ref GROUP")?;
        let group = self.groups.get(group_id).ok_or_else(|| {
            format!("DeploymentGroupName refers to {group_id}, which is not an AWS::CodeDeploy::DeploymentGroup of the template")
        })?;
        let deployment_type = group
            .deployment_config_name
            .clone()
            .ok_or_else(|| format!("{group_id} has no DeploymentConfigName"))?;
        let alarms = match &group.alarm_configuration {
            Some(c) if c.enabled != Some(false) => c
                .alarms
                .iter()
                .map(|a| {
                    a.name
                        .logical_id()
                        .map(str::to_owned)
                        .ok_or("an alarm's Name must be !Ref ALARM")
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => Vec::new(),
        };
        let hook = |e: &Option<Expr>| e.as_ref().and_then(Expr::logical_id).map(str::to_owned);
        Ok(Preference {
            deployment_type,
            alarms,
            pre_traffic: hook(&update.before_allow_traffic_hook),
            post_traffic: hook(&update.after_allow_traffic_hook),
            triggers: group.trigger_configurations.clone(),
            role: group.service_role_arn.clone(),
            application: update.application_name.logical_id().map(str::to_owned),
            group: Some(Expr::Ref(group_id.to_owned())),
        })
    }

    /// The HTTP APIs whose integration names `alias` (by `Ref`, in a `Fn::Join` or a
    /// `Fn::Sub`).
    fn apis_of(&self, alias: &ShiftedAlias) -> Vec<TemplateApi> {
        self.integrations
            .iter()
            .filter(|i| {
                i.integration_uri
                    .as_ref()
                    .is_some_and(|uri| names(uri, &alias.logical_id))
            })
            .filter_map(|i| {
                Some(TemplateApi {
                    logical_id: i.api_id.logical_id()?.to_owned(),
                    function: alias.function.clone(),
                    alias: alias.name.clone(),
                })
            })
            .collect()
    }
}

/// Whether `expr` refers to `logical_id`.
fn names(expr: &Expr, logical_id: &str) -> bool {
    match expr {
        Expr::Ref(id) => id == logical_id,
        Expr::GetAtt { resource, .. } => resource == logical_id,
        Expr::Sub { text, variables } => {
            text.contains(&format!("${{{logical_id}}}"))
                || variables.values().any(|v| names(v, logical_id))
        }
        Expr::Join { items, .. } => items.iter().any(|i| names(i, logical_id)),
        _ => false,
    }
}

/// `{"Ref": ID}` as its id.
fn ref_of(value: &Value) -> Option<String> {
    value.get("Ref").and_then(Value::as_str).map(str::to_owned)
}

/// A function of the template whose code is a zip named after its cargo binary; `None` for
/// any other (inline code, an image), which the stand-in cannot run.
fn function(logical_id: &str, p: LambdaFunctionProperties) -> Option<TemplateFunction> {
    let Some(Expr::Literal(key)) = p.code.and_then(|c| c.s3_key) else {
        tracing::warn!(function = %logical_id, "not rehearsed: its Code is no zip named after its binary");
        return None;
    };
    let file = key.rsplit('/').next().unwrap_or(&key);
    let binary = file.strip_suffix(".zip")?.to_owned();
    let architecture = match p.architectures.as_deref() {
        Some([one]) => one.as_str(),
        _ => "x86_64",
    };
    Some(TemplateFunction {
        logical_id: logical_id.to_owned(),
        binary,
        function_name: p.function_name,
        timeout_seconds: p.timeout.unwrap_or(3),
        memory_mb: p.memory_size.unwrap_or(128),
        architecture: architecture.to_owned(),
        environment: p.environment.map(|e| e.variables).unwrap_or_default(),
        alias: None,
        deployment: None,
        http_events: Vec::new(),
        role: p.role,
        policies: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{Expr, Template};

    /// The shape `serverless package` writes, cut to what the stand-in reads.
    const PACKAGED: &str = r#"{"Resources": {
      "HelloLambdaFunction": {"Type": "AWS::Lambda::Function", "Properties": {
        "Code": {"S3Bucket": {"Ref": "Bucket"}, "S3Key": "serverless/hello/dev/1/hello.zip"},
        "FunctionName": "hello-dev-hello", "Timeout": 15, "Architectures": ["arm64"],
        "Role": {"Fn::GetAtt": ["IamRoleLambdaExecution", "Arn"]}}},
      "PreLambdaFunction": {"Type": "AWS::Lambda::Function", "Properties": {
        "Code": {"S3Key": "serverless/hello/dev/1/pre-traffic.zip"},
        "FunctionName": "CodeDeployHook_hello-dev-pre-traffic"}},
      "HelloLambdaVersionAbc": {"Type": "AWS::Lambda::Version", "Properties": {"FunctionName": {"Ref": "HelloLambdaFunction"}}},
      "App": {"Type": "AWS::CodeDeploy::Application", "Properties": {"ComputePlatform": "Lambda"}},
      "Group": {"Type": "AWS::CodeDeploy::DeploymentGroup", "Properties": {
        "DeploymentGroupName": "hello-dev-group",
        "DeploymentConfigName": {"Fn::Sub": ["CodeDeployDefault.Lambda${C}", {"C": "Canary10Percent5Minutes"}]},
        "ServiceRoleArn": {"Fn::GetAtt": ["CodeDeployRole", "Arn"]},
        "AlarmConfiguration": {"Alarms": [{"Name": {"Ref": "ErrorsAlarm"}}], "Enabled": true}}},
      "HelloAliasLive": {"Type": "AWS::Lambda::Alias",
        "Properties": {"FunctionName": {"Ref": "HelloLambdaFunction"}, "Name": "live",
          "FunctionVersion": {"Fn::GetAtt": ["HelloLambdaVersionAbc", "Version"]}},
        "UpdatePolicy": {"CodeDeployLambdaAliasUpdate": {"ApplicationName": {"Ref": "App"},
          "DeploymentGroupName": {"Ref": "Group"},
          "BeforeAllowTrafficHook": {"Ref": "PreLambdaFunction"}}}},
      "Integration": {"Type": "AWS::ApiGatewayV2::Integration", "Properties": {"ApiId": {"Ref": "HttpApi"},
        "IntegrationUri": {"Fn::Join": ["", ["arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/", {"Ref": "HelloAliasLive"}, "/invocations"]]}}}
    }}"#;

    #[test]
    fn a_packaged_stack_reads_as_a_sam_template_would() {
        let t = Template::parse(Path::new("stack.json"), PACKAGED).expect("a template");
        let hello = t.deployed_function(None).expect("the shifted function");
        assert_eq!(hello.logical_id, "HelloLambdaFunction");
        assert_eq!(hello.binary, "hello", "the zip's name");
        assert_eq!(hello.architecture, "arm64");
        assert_eq!(hello.alias.as_deref(), Some("live"));
        let preference = hello.deployment.as_ref().expect("its deployment");
        assert_eq!(preference.pre_traffic.as_deref(), Some("PreLambdaFunction"));
        assert_eq!(preference.alarms, ["ErrorsAlarm"]);
        assert_eq!(preference.application.as_deref(), Some("App"));
        assert_eq!(t.functions["PreLambdaFunction"].binary, "pre-traffic");
        assert_eq!(t.names["Group"], Expr::Literal("hello-dev-group".into()));
        assert_eq!(
            t.names["App"],
            Expr::Literal("App".into()),
            "a generated name: its logical id"
        );
        assert_eq!(t.apis.len(), 1, "the integration serves the alias");
        assert_eq!(
            (t.apis[0].logical_id.as_str(), t.apis[0].alias.as_str()),
            ("HttpApi", "live")
        );
    }

    #[test]
    fn an_alias_that_names_no_declared_group_is_refused_naming_it() {
        let broken = PACKAGED.replace(
            r#""DeploymentGroupName": {"Ref": "Group"}"#,
            r#""DeploymentGroupName": {"Ref": "Nope"}"#,
        );
        let err = Template::parse(Path::new("stack.json"), &broken).expect_err("refused");
        assert!(
            err.to_string()
                .contains("HelloAliasLive: DeploymentGroupName refers to Nope"),
            "{err}"
        );
    }
}
