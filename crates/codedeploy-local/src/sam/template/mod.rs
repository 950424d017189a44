//! Reading a SAM template into typed structs ([`resources`]): the functions, their deployment
//! preference, the alarms, the topics, aliases and HTTP APIs. Values stay unresolved
//! ([`Expr`]) until a [`Resolver`] resolves them against the local stand-in.

mod cloudformation;
mod expr;
pub(crate) mod resolve;
mod resources;
mod yaml;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::Error;
pub use expr::{Expr, ExprError};
pub use resolve::{ResolveError, Resolver};
pub use resources::{
    AlarmProperties, Dimension, InlinePolicy, PermissionProperties, RoleProperties,
    TopicPolicyProperties, TriggerConfiguration,
};
use resources::{
    AliasProperties, ApiProperties, DeploymentPreference, Document, FunctionMetadata,
    FunctionProperties, Resource,
};

/// A function of the template, as the stand-in runs it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TemplateFunction {
    /// The logical id, e.g. `HelloFunction`.
    pub logical_id: String,
    /// `Metadata.BuildProperties.Binary`: the cargo binary to build.
    pub binary: String,
    /// `FunctionName`, unresolved, if set.
    pub function_name: Option<Expr>,
    /// `Timeout` in seconds (Globals merged; 3 by default, as Lambda).
    pub timeout_seconds: u64,
    /// `MemorySize` (128 by default).
    pub memory_mb: u32,
    /// `Architectures` (Globals merged; `x86_64` by default, as Lambda).
    pub architecture: String,
    /// `Environment.Variables` (Globals merged), unresolved.
    pub environment: BTreeMap<String, Expr>,
    /// `AutoPublishAlias`.
    pub alias: Option<String>,
    /// `DeploymentPreference`, when enabled.
    pub deployment: Option<Preference>,
    /// `(path, method)` of `HttpApi`/`Api` events.
    pub http_events: Vec<(String, String)>,
    /// `Role`, unresolved: its execution role, when not SAM's generated one.
    pub role: Option<Expr>,
    /// `Policies` of SAM's generated role, each entry as written.
    pub policies: Vec<Value>,
}

impl TemplateFunction {
    /// The alias a deployment shifts: `AutoPublishAlias`, which SAM requires with a
    /// `DeploymentPreference`; `live` when a template gives none.
    pub fn alias_name(&self) -> &str {
        self.alias.as_deref().unwrap_or("live")
    }
}

/// A function's `DeploymentPreference`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Preference {
    /// `Type`, unresolved (often `!Ref DeploymentType`).
    pub deployment_type: Expr,
    /// Logical ids of the alarms.
    pub alarms: Vec<String>,
    /// Logical id of the PreTraffic hook function.
    pub pre_traffic: Option<String>,
    /// Logical id of the PostTraffic hook function.
    pub post_traffic: Option<String>,
    /// `TriggerConfigurations`.
    pub triggers: Vec<TriggerConfiguration>,
    /// `Role`, unresolved: CodeDeploy's service role, when not SAM's generated one.
    pub role: Option<Expr>,
    /// The CodeDeploy application's logical id, when the template declares it (a
    /// CloudFormation-form template); SAM's `ServerlessDeploymentApplication` otherwise.
    pub application: Option<String>,
    /// The deployment group's name, when the template declares the group; SAM's
    /// `<Function>DeploymentGroup` otherwise.
    pub group: Option<Expr>,
}

/// An HTTP API of the template, and the function alias its routes call.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TemplateApi {
    /// The API's logical id.
    pub logical_id: String,
    /// The function's logical id.
    pub function: String,
    /// The alias.
    pub alias: String,
}

/// A parsed template.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Template {
    /// Where it was read from.
    pub path: PathBuf,
    /// The folder `CodeUri: .` is relative to.
    pub root: PathBuf,
    /// Parameter defaults, as text.
    pub parameters: BTreeMap<String, String>,
    /// The functions, by logical id.
    pub functions: BTreeMap<String, TemplateFunction>,
    /// `AWS::CloudWatch::Alarm` properties, by logical id.
    pub alarms: BTreeMap<String, AlarmProperties>,
    /// HTTP APIs.
    pub apis: Vec<TemplateApi>,
    /// Logical ids of the `AWS::SNS::Topic`s.
    pub topics: BTreeSet<String>,
    /// `AWS::Lambda::Alias`es of the template's functions, e.g. a watch's lease.
    pub aliases: Vec<TemplateAlias>,
    /// `AWS::IAM::Role`s, by logical id.
    pub roles: BTreeMap<String, RoleProperties>,
    /// `AWS::Lambda::Permission`s, by logical id.
    pub permissions: BTreeMap<String, PermissionProperties>,
    /// `AWS::SNS::TopicPolicy`s, by logical id.
    pub topic_policies: BTreeMap<String, TopicPolicyProperties>,
    /// What other resources' `Ref` gives, unresolved, by logical id (a CloudFormation-form
    /// template's CodeDeploy application and group names, its aliases' and versions' ARNs).
    pub names: BTreeMap<String, Expr>,
}

/// An `AWS::Lambda::Alias` of a function of the template (`FunctionName: !Ref F`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TemplateAlias {
    /// The function's logical id.
    pub function: String,
    /// The alias name (e.g. `!Sub "watch-lease-${Fn}"`), resolved when it is created.
    pub name: Expr,
    /// `FunctionVersion`: `$LATEST` or a version number.
    pub version: String,
}

impl TemplateAlias {
    /// An alias of `!Ref F` with a literal version; `None` for any other form.
    fn read(props: &AliasProperties) -> Option<TemplateAlias> {
        match props {
            AliasProperties {
                function_name: Expr::Ref(function),
                name,
                function_version: Expr::Literal(version),
            } => Some(TemplateAlias {
                function: function.clone(),
                name: name.clone(),
                version: version.clone(),
            }),
            _ => None,
        }
    }
}

/// Reading one template: where errors point.
struct Reader<'a> {
    path: &'a Path,
}

impl Reader<'_> {
    fn bad(&self, reason: String) -> Error {
        Error::Template {
            path: self.path.to_owned(),
            reason,
        }
    }

    /// `value` as a `T`; a wrong field is an error naming its path below `at`.
    fn typed<T: DeserializeOwned>(&self, at: &str, value: Value) -> Result<T, Error> {
        let value = if value.is_null() {
            Value::Object(serde_json::Map::new())
        } else {
            value
        };
        serde_path_to_error::deserialize(value).map_err(|e| {
            let inner = e.path().to_string();
            let field = match (at, inner.as_str()) {
                (_, ".") => at.to_owned(),
                ("", inner) => inner.to_owned(),
                (at, inner) => format!("{at}.{inner}"),
            };
            Error::TemplateField {
                path: self.path.to_owned(),
                field,
                source: e.into_inner(),
            }
        })
    }
}

impl Template {
    /// Read and parse a template.
    ///
    /// # Errors
    /// [`Error::Template`] naming the file and what is wrong, or [`Error::TemplateField`]
    /// naming the field.
    pub fn load(path: &Path) -> Result<Template, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Template {
            path: path.to_owned(),
            reason: format!("cannot read it: {e}"),
        })?;
        Template::parse(path, &text)
    }

    /// Parse a template's text.
    ///
    /// # Errors
    /// [`Error::Template`] naming what is wrong, or [`Error::TemplateField`] naming the field
    /// whose value has the wrong shape.
    pub fn parse(path: &Path, text: &str) -> Result<Template, Error> {
        let reader = Reader { path };
        let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)
            .map_err(|e| reader.bad(format!("not valid YAML: {e}")))?;
        let doc = yaml::to_json(yaml);
        if !doc.get("Resources").is_some_and(Value::is_object) {
            return Err(reader.bad("it has no Resources".into()));
        }
        let doc: Document = reader.typed("", doc)?;
        let mut template = Template {
            path: path.to_owned(),
            root: match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
                _ => PathBuf::from("."),
            },
            parameters: doc
                .parameters
                .iter()
                .filter_map(|(k, p)| Some((k.clone(), parameter_text(p.default.as_ref()?)?)))
                .collect(),
            functions: BTreeMap::new(),
            alarms: BTreeMap::new(),
            apis: Vec::new(),
            topics: BTreeSet::new(),
            aliases: Vec::new(),
            roles: BTreeMap::new(),
            permissions: BTreeMap::new(),
            topic_policies: BTreeMap::new(),
            names: BTreeMap::new(),
        };
        let mut cloudformation = cloudformation::CloudFormation::default();
        for (logical_id, resource) in doc.resources {
            if cloudformation.read(&mut template, &reader, &logical_id, &resource)? {
                continue;
            }
            template.read_resource(&reader, logical_id, resource, &doc.globals.function)?;
        }
        cloudformation.link(&mut template, &reader)?;
        Ok(template)
    }

    /// One resource of the template, by its type; other types are not read.
    fn read_resource(
        &mut self,
        reader: &Reader<'_>,
        logical_id: String,
        resource: Resource,
        globals: &FunctionProperties,
    ) -> Result<(), Error> {
        let at = format!("Resources.{logical_id}.Properties");
        match resource.kind.as_str() {
            "AWS::Serverless::Function" => {
                let props: FunctionProperties = reader.typed(&at, resource.properties)?;
                let metadata: FunctionMetadata = reader.typed(
                    &format!("Resources.{logical_id}.Metadata"),
                    resource.metadata,
                )?;
                let function = read_function(&logical_id, metadata, props, globals)
                    .map_err(|r| reader.bad(format!("{logical_id}: {r}")))?;
                self.add_function(function);
            }
            "AWS::CloudWatch::Alarm" => {
                let props = reader.typed(&at, resource.properties)?;
                self.alarms.insert(logical_id, props);
            }
            "AWS::SNS::Topic" => {
                self.topics.insert(logical_id);
            }
            "AWS::IAM::Role" | "AWS::Lambda::Permission" | "AWS::SNS::TopicPolicy" => {
                self.read_access(reader, &resource.kind, logical_id, &at, resource.properties)?;
            }
            "AWS::Lambda::Alias" => {
                let props: AliasProperties = reader.typed(&at, resource.properties)?;
                match TemplateAlias::read(&props) {
                    Some(alias) => self.aliases.push(alias),
                    None => tracing::warn!(
                        alias = %logical_id,
                        "not rehearsed: only an alias with FunctionName: !Ref F, a literal Name and FunctionVersion is"
                    ),
                }
            }
            "AWS::Serverless::HttpApi" | "AWS::ApiGatewayV2::Api" => {
                let props: ApiProperties = reader.typed(&at, resource.properties)?;
                let body = props.definition_body.or(props.body);
                if let Some((function, alias)) = body.as_ref().and_then(find_integration) {
                    self.apis.push(TemplateApi {
                        logical_id,
                        function,
                        alias,
                    });
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// A resource that grants access: a role, a function's permission, a topic's policy.
    fn read_access(
        &mut self,
        reader: &Reader<'_>,
        kind: &str,
        logical_id: String,
        at: &str,
        properties: Value,
    ) -> Result<(), Error> {
        match kind {
            "AWS::IAM::Role" => {
                self.roles.insert(logical_id, reader.typed(at, properties)?);
            }
            "AWS::Lambda::Permission" => {
                self.permissions
                    .insert(logical_id, reader.typed(at, properties)?);
            }
            _ => {
                self.topic_policies
                    .insert(logical_id, reader.typed(at, properties)?);
            }
        }
        Ok(())
    }

    /// A function, and the implicit `ServerlessHttpApi` its HTTP events make.
    fn add_function(&mut self, function: TemplateFunction) {
        if let (false, Some(alias)) = (function.http_events.is_empty(), &function.alias) {
            let api = TemplateApi {
                logical_id: "ServerlessHttpApi".into(),
                function: function.logical_id.clone(),
                alias: alias.clone(),
            };
            if !self.apis.iter().any(|a| a.logical_id == api.logical_id) {
                self.apis.push(api);
            }
        }
        self.functions.insert(function.logical_id.clone(), function);
    }

    /// The function to deploy: `logical_id` if given, else the only one with a deployment
    /// preference.
    ///
    /// # Errors
    /// [`Error::Template`] when there is none, or several and none was named.
    pub fn deployed_function(&self, logical_id: Option<&str>) -> Result<&TemplateFunction, Error> {
        let bad = |reason: String| Error::Template {
            path: self.path.clone(),
            reason,
        };
        if let Some(id) = logical_id {
            let f = self
                .functions
                .get(id)
                .ok_or_else(|| bad(format!("it has no AWS::Serverless::Function {id}")))?;
            return if f.deployment.is_some() {
                Ok(f)
            } else {
                Err(bad(format!("{id} has no enabled DeploymentPreference")))
            };
        }
        match self.gradual_functions()?.as_slice() {
            [one] => Ok(*one),
            many => {
                Err(bad(format!(
                "several functions have a DeploymentPreference ({}); choose one with --function",
                many.iter().map(|f| f.logical_id.as_str()).collect::<Vec<_>>().join(", ")
            )))
            }
        }
    }

    /// Every function with an enabled `DeploymentPreference`: what a stack update deploys
    /// gradually.
    ///
    /// # Errors
    /// [`Error::Template`] when there is none.
    pub fn gradual_functions(&self) -> Result<Vec<&TemplateFunction>, Error> {
        let gradual: Vec<&TemplateFunction> = self
            .functions
            .values()
            .filter(|f| f.deployment.is_some())
            .collect();
        if gradual.is_empty() {
            return Err(Error::Template {
                path: self.path.clone(),
                reason: "no function has an enabled DeploymentPreference".into(),
            });
        }
        Ok(gradual)
    }
}

/// A parameter's default as text: a list (`CommaDelimitedList`) joined by commas.
fn parameter_text(default: &Value) -> Option<String> {
    match default {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(items) => items
            .iter()
            .map(parameter_text)
            .collect::<Option<Vec<_>>>()
            .map(|parts| parts.join(",")),
        _ => None,
    }
}

/// Why a function of the template cannot be rehearsed.
#[derive(Debug, thiserror::Error)]
enum FunctionError {
    #[error("it has no Metadata.BuildProperties.Binary (the cargo binary to build, as for BuildMethod: rust-cargolambda)")]
    NoBinary,
    #[error("Architectures must be a list of one architecture, [x86_64] or [arm64] (Lambda's model: at most one)")]
    Architectures,
    #[error("its DeploymentPreference has no Type")]
    NoDeploymentType,
    #[error("a DeploymentPreference needs AutoPublishAlias")]
    NoAlias,
    #[error("DeploymentPreference.{field} must name a resource of the template (!Ref ID)")]
    NotALogicalId { field: &'static str },
}

fn read_function(
    logical_id: &str,
    metadata: FunctionMetadata,
    props: FunctionProperties,
    globals: &FunctionProperties,
) -> Result<TemplateFunction, FunctionError> {
    let binary = metadata
        .build_properties
        .binary
        .ok_or(FunctionError::NoBinary)?;
    let http_events = http_events(&props);
    let mut environment = BTreeMap::new();
    for source in [globals, &props] {
        if let Some(env) = &source.environment {
            environment.extend(env.variables.clone());
        }
    }
    let architecture = match props
        .architectures
        .as_ref()
        .or(globals.architectures.as_ref())
    {
        None => "x86_64",
        Some(list) => match list.as_slice() {
            [one] => one.as_str(),
            _ => return Err(FunctionError::Architectures),
        },
    };
    let deployment = match props.deployment_preference {
        Some(p) if p.enabled != Some(false) => Some(preference(p)?),
        _ => None,
    };
    if deployment.is_some() && props.auto_publish_alias.is_none() {
        return Err(FunctionError::NoAlias);
    }
    Ok(TemplateFunction {
        logical_id: logical_id.to_owned(),
        binary,
        function_name: props.function_name,
        timeout_seconds: props.timeout.or(globals.timeout).unwrap_or(3),
        memory_mb: props.memory_size.or(globals.memory_size).unwrap_or(128),
        architecture: architecture.to_owned(),
        environment,
        alias: props.auto_publish_alias,
        deployment,
        http_events,
        role: props.role.or_else(|| globals.role.clone()),
        policies: match props.policies {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => list,
            Some(one) => vec![one],
        },
    })
}

/// `(path, method)` of the function's `HttpApi` and `Api` events.
fn http_events(props: &FunctionProperties) -> Vec<(String, String)> {
    props
        .events
        .values()
        .filter(|e| matches!(e.kind.as_str(), "HttpApi" | "Api"))
        .map(|e| {
            let text = |key: &str| {
                e.properties
                    .get(key)
                    .and_then(Value::as_str)
                    .unwrap_or("*")
                    .to_owned()
            };
            (text("Path"), text("Method"))
        })
        .collect()
}

fn preference(p: DeploymentPreference) -> Result<Preference, FunctionError> {
    let id = |e: Expr, field| {
        e.logical_id()
            .map(str::to_owned)
            .ok_or(FunctionError::NotALogicalId { field })
    };
    Ok(Preference {
        deployment_type: p.kind.ok_or(FunctionError::NoDeploymentType)?,
        alarms: p
            .alarms
            .into_iter()
            .map(|a| id(a, "Alarms"))
            .collect::<Result<_, _>>()?,
        pre_traffic: p
            .hooks
            .pre_traffic
            .map(|h| id(h, "Hooks.PreTraffic"))
            .transpose()?,
        post_traffic: p
            .hooks
            .post_traffic
            .map(|h| id(h, "Hooks.PostTraffic"))
            .transpose()?,
        triggers: p.trigger_configurations,
        role: p.role,
        application: None,
        group: None,
    })
}

/// Find `functions/${Fn.Arn}:alias/invocations` in an OpenAPI body.
fn find_integration(body: &Value) -> Option<(String, String)> {
    match body {
        Value::String(s) => {
            let rest = s.split("functions/${").nth(1)?;
            let (function, rest) = rest.split_once(".Arn}:")?;
            let alias = rest.split('/').next()?;
            Some((function.to_owned(), alias.to_owned()))
        }
        Value::Array(items) => items.iter().find_map(find_integration),
        Value::Object(map) => map.values().find_map(find_integration),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const TEMPLATE: &str = r#"
Parameters:
  DeploymentType: {Type: String, Default: Canary10Percent5Minutes}
Globals:
  Function: {Timeout: 9, Environment: {Variables: {SHARED: "1"}}}
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Metadata: {BuildMethod: rust-cargolambda, BuildProperties: {Binary: hello}}
    Properties:
      AutoPublishAlias: live
      DeploymentPreference:
        Type: !Ref DeploymentType
        Alarms: [!Ref Errors]
        Hooks: {PreTraffic: !Ref Pre}
  Pre:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: pre-traffic}}
    Properties:
      FunctionName: !Sub "CodeDeployHook_${AWS::StackName}_pre"
      Timeout: 60
      DeploymentPreference: {Enabled: false}
      Environment:
        Variables:
          TARGET: !Ref Fn.Version
          URL: !Sub "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      DefinitionBody:
        paths: {/hello: {get: {x-amazon-apigateway-integration: {uri: !Sub "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Fn.Arn}:live/invocations"}}}}
  Errors:
    Type: AWS::CloudWatch::Alarm
    Properties: {Namespace: AWS/Lambda, MetricName: Errors, Dimensions: [{Name: ExecutedVersion, Value: !GetAtt Fn.Version.Version}]}
"#;

    #[test]
    fn functions_preferences_alarms_and_apis_are_read() {
        let t = Template::parse(Path::new("t.yaml"), TEMPLATE).unwrap();
        let f = t.deployed_function(None).unwrap();
        assert_eq!(
            (f.logical_id.as_str(), f.binary.as_str(), f.timeout_seconds),
            ("Fn", "hello", 9)
        );
        let p = f.deployment.as_ref().unwrap();
        assert_eq!(p.alarms, ["Errors"]);
        assert_eq!(p.pre_traffic.as_deref(), Some("Pre"));
        assert_eq!(p.post_traffic, None);
        assert_eq!(t.functions["Pre"].timeout_seconds, 60);
        assert!(t.functions["Pre"].deployment.is_none());
        assert_eq!(
            t.root,
            Path::new("."),
            "a bare file name is in the current folder"
        );
        assert_eq!(t.apis[0].function, "Fn");
        assert_eq!(t.apis[0].alias, "live");
        assert_eq!(
            t.alarms["Errors"].dimensions[0].value,
            Expr::GetAtt {
                resource: "Fn".into(),
                attribute: "Version.Version".into()
            }
        );
    }

    #[test]
    fn intrinsics_resolve_against_the_local_stand_in() {
        let t = Template::parse(Path::new("t.yaml"), TEMPLATE).unwrap();
        let resolver = Resolver {
            parameters: t.parameters.clone(),
            function_names: BTreeMap::from([("Fn".into(), "hello".into())]),
            versions: BTreeMap::from([("Fn".into(), ("live".into(), "2".into()))]),
            api_urls: BTreeMap::from([("Api".into(), "http://127.0.0.1:9000".into())]),
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            ..Resolver::default()
        };
        let env = &t.functions["Pre"].environment;
        assert_eq!(
            resolver.string(&env["TARGET"]).unwrap(),
            "arn:aws:lambda:us-east-1:000000000000:function:hello:2"
        );
        assert_eq!(
            resolver.string(&env["URL"]).unwrap(),
            "http://127.0.0.1:9000"
        );
        assert_eq!(resolver.string(&env["SHARED"]).unwrap(), "1");
        let pre_name = t.functions["Pre"].function_name.clone().unwrap();
        assert_eq!(
            resolver.string(&pre_name).unwrap(),
            "CodeDeployHook_local_pre"
        );
        let deployment_type = &t.functions["Fn"]
            .deployment
            .as_ref()
            .unwrap()
            .deployment_type;
        assert_eq!(
            resolver.string(deployment_type).unwrap(),
            "Canary10Percent5Minutes"
        );
        assert_eq!(
            resolver
                .string(&t.alarms["Errors"].dimensions[0].value)
                .unwrap(),
            "2"
        );
        assert_eq!(
            resolver.string(&Expr::Ref("Nope".into())),
            Err(ResolveError::Unknown {
                name: "Nope".into()
            })
        );
    }

    #[test]
    fn a_template_without_a_deployment_is_explained() {
        let err = Template::parse(Path::new("t.yaml"), "Resources: {}")
            .unwrap()
            .deployed_function(None)
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("no function has an enabled DeploymentPreference"),
            "{err}"
        );
        let err = Template::parse(Path::new("t.yaml"), "- a list").unwrap_err();
        assert!(err.to_string().contains("no Resources"), "{err}");
    }

    fn field_error(yaml: &str) -> (String, String) {
        match Template::parse(Path::new("t.yaml"), yaml) {
            Err(Error::TemplateField { field, source, .. }) => (field, source.to_string()),
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn a_field_of_the_wrong_shape_is_named_by_its_path() {
        let function = "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n";
        let (field, why) = field_error(&format!("{function}      Timeout: soon\n"));
        assert_eq!(field, "Resources.Fn.Properties.Timeout");
        assert!(why.contains("expected u64"), "{why}");
        let (field, _) = field_error(&format!("{function}      Architectures: [sparc]\n"));
        assert_eq!(field, "Resources.Fn.Properties.Architectures[0]");
        let (field, why) = field_error(&format!(
            "{function}      Environment: {{Variables: {{A: [1, 2]}}}}\n"
        ));
        assert_eq!(field, "Resources.Fn.Properties.Environment.Variables.A");
        assert!(why.contains("not a list"), "{why}");
        let (field, why) = field_error(&format!(
            "{function}      DeploymentPreference: {{Type: !Sub [1, 2, 3]}}\n"
        ));
        assert_eq!(field, "Resources.Fn.Properties.DeploymentPreference.Type");
        assert!(why.contains("Fn::Sub takes"), "{why}");
        let (field, _) = field_error(
            "Resources:\n  A:\n    Type: AWS::CloudWatch::Alarm\n    Properties: {Dimensions: [{Name: X}]}\n",
        );
        assert_eq!(field, "Resources.A.Properties.Dimensions[0]");
        let (field, _) = field_error("Resources:\n  A: {Properties: {}}\n");
        assert_eq!(field, "Resources.A");
    }

    #[test]
    fn an_intrinsic_the_stand_in_does_not_resolve_is_refused_only_when_its_value_is_needed() {
        let t = Template::parse(
            Path::new("t.yaml"),
            "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Metadata: {BuildProperties: {Binary: hello}}\n    Properties:\n      Environment: {Variables: {MODE: !If [Prod, a, b]}}\n",
        )
        .unwrap();
        let mode = &t.functions["Fn"].environment["MODE"];
        assert_eq!(*mode, Expr::Unsupported("Fn::If".into()));
        let err = Resolver::default().string(mode).unwrap_err();
        assert_eq!(
            err,
            ResolveError::Unsupported {
                function: "Fn::If".into()
            }
        );
        assert!(err.to_string().contains("use Ref, Fn::Sub"), "{err}");
    }

    #[test]
    fn an_api_address_in_a_join_or_sub_becomes_the_local_one() {
        let resolver = Resolver {
            api_urls: BTreeMap::from([("Api".into(), "http://127.0.0.1:9000".into())]),
            region: "eu-west-1".into(),
            ..Resolver::default()
        };
        let sub = |text: &str| Expr::Sub {
            text: text.into(),
            variables: BTreeMap::new(),
        };
        assert_eq!(
            resolver
                .string(&sub(
                    "https://${Api}.execute-api.${AWS::Region}.amazonaws.com/hello?x=1"
                ))
                .unwrap(),
            "http://127.0.0.1:9000/hello?x=1"
        );
        let join = Expr::Join {
            separator: String::new(),
            items: vec![
                "https://".into(),
                Expr::Ref("Api".into()),
                ".execute-api.eu-west-1.amazonaws.com".into(),
            ],
        };
        assert_eq!(resolver.string(&join).unwrap(), "http://127.0.0.1:9000");
        assert_eq!(
            resolver.string(&sub("${AWS::Region}: \u{1}")).unwrap(),
            "eu-west-1: \u{1}",
            "an ordinary text passes unchanged"
        );
    }
}
