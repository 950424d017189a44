//! Reading a SAM template: the functions, their deployment preference, the alarms, and the
//! intrinsic functions (`!Ref`, `!Sub`, `!GetAtt`, ...) resolved against the local stand-in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::error::Error;

/// A function of the template, as the stand-in runs it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TemplateFunction {
    /// The logical id, e.g. `HelloFunction`.
    pub logical_id: String,
    /// `Metadata.BuildProperties.Binary`: the cargo binary to build.
    pub binary: String,
    /// The raw `FunctionName` (resolved later), if set.
    pub function_name: Option<Value>,
    /// `Timeout` in seconds (Globals merged; 3 by default, as Lambda).
    pub timeout_seconds: u64,
    /// `MemorySize` (128 by default).
    pub memory_mb: u32,
    /// `Architectures` (Globals merged; `x86_64` by default, as Lambda).
    pub architecture: String,
    /// `Environment.Variables`, unresolved.
    pub environment: BTreeMap<String, Value>,
    /// `AutoPublishAlias`.
    pub alias: Option<String>,
    /// `DeploymentPreference`, when enabled.
    pub deployment: Option<Preference>,
    /// `(path, method)` of `HttpApi`/`Api` events.
    pub http_events: Vec<(String, String)>,
}

/// A function's `DeploymentPreference`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Preference {
    /// `Type`, unresolved (often `!Ref DeploymentType`).
    pub deployment_type: Value,
    /// Logical ids of the alarms.
    pub alarms: Vec<String>,
    /// Logical id of the PreTraffic hook function.
    pub pre_traffic: Option<String>,
    /// Logical id of the PostTraffic hook function.
    pub post_traffic: Option<String>,
    /// `TriggerConfigurations`, unresolved.
    pub triggers: Option<Value>,
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
    /// Parameter defaults.
    pub parameters: BTreeMap<String, Value>,
    /// The functions, by logical id.
    pub functions: BTreeMap<String, TemplateFunction>,
    /// `AWS::CloudWatch::Alarm` properties, by logical id.
    pub alarms: BTreeMap<String, Value>,
    /// HTTP APIs.
    pub apis: Vec<TemplateApi>,
    /// Logical ids of the `AWS::SNS::Topic`s.
    pub topics: std::collections::BTreeSet<String>,
    /// `AWS::Lambda::Alias`es of the template's functions, e.g. a watch's lease.
    pub aliases: Vec<TemplateAlias>,
}

/// An `AWS::Lambda::Alias` of a function of the template (`FunctionName: !Ref F`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TemplateAlias {
    /// The function's logical id.
    pub function: String,
    /// The alias name.
    pub name: String,
    /// `FunctionVersion`: `$LATEST` or a version number.
    pub version: String,
}

impl TemplateAlias {
    /// An alias of `!Ref F` with a literal name and version; `None` for any other form.
    fn read(props: &Value) -> Option<TemplateAlias> {
        Some(TemplateAlias {
            function: props.pointer("/FunctionName/Ref")?.as_str()?.to_owned(),
            name: props.get("Name")?.as_str()?.to_owned(),
            version: props.get("FunctionVersion")?.as_str()?.to_owned(),
        })
    }
}

impl Template {
    /// Read and parse a template.
    ///
    /// # Errors
    /// [`Error::Template`] naming the file and what is wrong.
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
    /// [`Error::Template`] naming what is wrong.
    pub fn parse(path: &Path, text: &str) -> Result<Template, Error> {
        let bad = |reason: String| Error::Template {
            path: path.to_owned(),
            reason,
        };
        let yaml: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(text).map_err(|e| bad(format!("not valid YAML: {e}")))?;
        let doc = to_json(yaml);
        let resources = doc
            .get("Resources")
            .and_then(Value::as_object)
            .ok_or_else(|| bad("it has no Resources".into()))?;
        let parameters = doc
            .get("Parameters")
            .and_then(Value::as_object)
            .map(|p| {
                p.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.get("Default")?.clone())))
                    .collect()
            })
            .unwrap_or_default();
        let globals = doc
            .pointer("/Globals/Function")
            .cloned()
            .unwrap_or(json!({}));
        let mut functions = BTreeMap::new();
        let mut alarms = BTreeMap::new();
        let mut apis = Vec::new();
        let mut topics = std::collections::BTreeSet::new();
        let mut aliases = Vec::new();
        for (logical_id, resource) in resources {
            let kind = resource
                .get("Type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let props = resource.get("Properties").cloned().unwrap_or(json!({}));
            match kind {
                "AWS::Serverless::Function" => {
                    let function = read_function(logical_id, resource, &props, &globals)
                        .map_err(|r| bad(format!("{logical_id}: {r}")))?;
                    for _ in &function.http_events {
                        if let Some(alias) = &function.alias {
                            let api = TemplateApi {
                                logical_id: "ServerlessHttpApi".into(),
                                function: logical_id.clone(),
                                alias: alias.clone(),
                            };
                            if !apis
                                .iter()
                                .any(|a: &TemplateApi| a.logical_id == api.logical_id)
                            {
                                apis.push(api);
                            }
                        }
                    }
                    functions.insert(logical_id.clone(), function);
                }
                "AWS::CloudWatch::Alarm" => {
                    alarms.insert(logical_id.clone(), props);
                }
                "AWS::SNS::Topic" => {
                    topics.insert(logical_id.clone());
                }
                "AWS::Lambda::Alias" => match TemplateAlias::read(&props) {
                    Some(alias) => aliases.push(alias),
                    None => tracing::warn!(
                        alias = %logical_id,
                        "not rehearsed: only an alias with FunctionName: !Ref F, a literal Name and FunctionVersion is"
                    ),
                },
                "AWS::Serverless::HttpApi" | "AWS::ApiGatewayV2::Api" => {
                    let body = props.get("DefinitionBody").or_else(|| props.get("Body"));
                    if let Some((function, alias)) = body.and_then(find_integration) {
                        apis.push(TemplateApi {
                            logical_id: logical_id.clone(),
                            function,
                            alias,
                        });
                    }
                }
                _ => {}
            }
        }
        Ok(Template {
            path: path.to_owned(),
            root: match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
                _ => PathBuf::from("."),
            },
            parameters,
            functions,
            alarms,
            apis,
            topics,
            aliases,
        })
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
        let with: Vec<&TemplateFunction> = self
            .functions
            .values()
            .filter(|f| f.deployment.is_some())
            .collect();
        match with.as_slice() {
            [one] => Ok(one),
            [] => Err(bad("no function has an enabled DeploymentPreference".into())),
            many => {
                Err(bad(format!(
                "several functions have a DeploymentPreference ({}); choose one with --function",
                many.iter().map(|f| f.logical_id.as_str()).collect::<Vec<_>>().join(", ")
            )))
            }
        }
    }
}

fn read_function(
    logical_id: &str,
    resource: &Value,
    props: &Value,
    globals: &Value,
) -> Result<TemplateFunction, String> {
    let get = |key: &str| props.get(key).or_else(|| globals.get(key));
    let binary = resource
        .pointer("/Metadata/BuildProperties/Binary")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or("it has no Metadata.BuildProperties.Binary (the cargo binary to build, as for BuildMethod: rust-cargolambda)")?;
    let mut environment: BTreeMap<String, Value> = BTreeMap::new();
    for source in [globals, props] {
        if let Some(vars) = source
            .pointer("/Environment/Variables")
            .and_then(Value::as_object)
        {
            environment.extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    let number = |key: &str, default: u64| -> Result<u64, String> {
        match get(key) {
            None => Ok(default),
            Some(v) => v
                .as_u64()
                .ok_or_else(|| format!("{key} must be a number, not {v}")),
        }
    };
    let architecture = match get("Architectures").map(|a| a.as_array().map(Vec::as_slice)) {
        None => "x86_64".to_owned(),
        Some(Some([Value::String(one)])) if one == "x86_64" || one == "arm64" => one.clone(),
        Some(_) => {
            return Err(
                "Architectures must be a list of one architecture, [x86_64] or [arm64] (Lambda's model: at most one)"
                    .into(),
            )
        }
    };
    let preference = props
        .get("DeploymentPreference")
        .filter(|p| p.get("Enabled") != Some(&json!(false)));
    let deployment = preference
        .map(|p| -> Result<Preference, String> {
            let refs = |v: Option<&Value>| -> Vec<String> {
                v.and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(ref_name).collect())
                    .unwrap_or_default()
            };
            Ok(Preference {
                deployment_type: p
                    .get("Type")
                    .cloned()
                    .ok_or("its DeploymentPreference has no Type")?,
                alarms: refs(p.get("Alarms")),
                pre_traffic: p.pointer("/Hooks/PreTraffic").and_then(ref_name),
                post_traffic: p.pointer("/Hooks/PostTraffic").and_then(ref_name),
                triggers: p.get("TriggerConfigurations").cloned(),
            })
        })
        .transpose()?;
    let http_events = props
        .get("Events")
        .and_then(Value::as_object)
        .map(|events| {
            events
                .values()
                .filter(|e| {
                    matches!(
                        e.get("Type").and_then(Value::as_str),
                        Some("HttpApi" | "Api")
                    )
                })
                .map(|e| {
                    let p = |k: &str| {
                        e.pointer(&format!("/Properties/{k}"))
                            .and_then(Value::as_str)
                            .unwrap_or("*")
                            .to_owned()
                    };
                    (p("Path"), p("Method"))
                })
                .collect()
        })
        .unwrap_or_default();
    if deployment.is_some() && props.get("AutoPublishAlias").is_none() {
        return Err("a DeploymentPreference needs AutoPublishAlias".into());
    }
    Ok(TemplateFunction {
        logical_id: logical_id.to_owned(),
        binary,
        function_name: props.get("FunctionName").cloned(),
        timeout_seconds: number("Timeout", 3)?,
        memory_mb: u32::try_from(number("MemorySize", 128)?)
            .map_err(|_| "MemorySize is too large".to_owned())?,
        architecture,
        environment,
        alias: props
            .get("AutoPublishAlias")
            .and_then(Value::as_str)
            .map(str::to_owned),
        deployment,
        http_events,
    })
}

/// `{"Ref": "X"}` or `"X"` -> `X`.
fn ref_name(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Object(m) => m.get("Ref").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
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

/// YAML with CloudFormation's short tags -> the JSON form (`!Ref X` -> `{"Ref": "X"}`).
fn to_json(value: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(u) = n.as_u64() {
                json!(u)
            } else {
                json!(n.as_f64().unwrap_or_default())
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Y::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match k {
                    Y::String(s) => s,
                    other => serde_yaml_ng::to_string(&other)
                        .unwrap_or_default()
                        .trim()
                        .to_owned(),
                };
                out.insert(key, to_json(v));
            }
            Value::Object(out)
        }
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let tag = tag.trim_start_matches('!');
            let inner = to_json(tagged.value);
            match tag {
                "Ref" => json!({ "Ref": inner }),
                "GetAtt" => match inner {
                    Value::String(s) => {
                        let (resource, attribute) = s.split_once('.').unwrap_or((&s, ""));
                        json!({ "Fn::GetAtt": [resource, attribute] })
                    }
                    other => json!({ "Fn::GetAtt": other }),
                },
                other => json!({ format!("Fn::{other}"): inner }),
            }
        }
    }
}

/// What intrinsic functions resolve to, locally.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    /// Parameter values (defaults, then overrides).
    pub parameters: BTreeMap<String, Value>,
    /// Function logical id -> function name.
    pub function_names: BTreeMap<String, String>,
    /// Function logical id -> (alias, target version), for `Fn.Version` / `Fn.Alias`.
    pub versions: BTreeMap<String, (String, String)>,
    /// API logical id -> local base URL.
    pub api_urls: BTreeMap<String, String>,
    /// Region and account of the stand-in.
    pub region: String,
    /// The account id.
    pub account_id: String,
}

impl Resolver {
    fn arn(&self, function: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{function}",
            self.region, self.account_id
        )
    }

    /// The value of `!Ref name` or `${name}`.
    fn reference(&self, name: &str) -> Result<String, String> {
        if let Some(v) = self.parameters.get(name) {
            return Ok(scalar(v));
        }
        if let Some(f) = self.function_names.get(name) {
            return Ok(f.clone());
        }
        if let Some(url) = self.api_urls.get(name) {
            return Ok(format!("\u{1}{url}\u{1}"));
        }
        if let Some((logical, what)) = name.split_once('.') {
            let (alias, version) = self
                .versions
                .get(logical)
                .ok_or_else(|| format!("{name} names no function with AutoPublishAlias"))?;
            let function = self
                .function_names
                .get(logical)
                .cloned()
                .unwrap_or_default();
            return match what {
                "Version" => Ok(format!("{}:{version}", self.arn(&function))),
                "Alias" => Ok(format!("{}:{alias}", self.arn(&function))),
                "Arn" => Ok(self.arn(&function)),
                "Version.Version" => Ok(version.clone()),
                other => Err(format!("{logical}.{other} is not supported locally")),
            };
        }
        Ok(match name {
            "AWS::Region" => self.region.clone(),
            "AWS::AccountId" => self.account_id.clone(),
            "AWS::Partition" => "aws".into(),
            "AWS::URLSuffix" => "amazonaws.com".into(),
            "AWS::StackName" => "local".into(),
            other => return Err(format!("`{other}` cannot be resolved locally")),
        })
    }

    /// Resolve a value to a string (`Ref`, `Fn::Sub`, `Fn::GetAtt`, `Fn::Join`, scalars).
    ///
    /// # Errors
    /// What could not be resolved.
    pub fn string(&self, value: &Value) -> Result<String, String> {
        let resolved = match value {
            Value::String(_) | Value::Number(_) | Value::Bool(_) => scalar(value),
            Value::Object(m) if m.len() == 1 => {
                let (key, arg) = m.iter().next().ok_or("empty intrinsic")?;
                match key.as_str() {
                    "Ref" => self.reference(arg.as_str().ok_or("Ref takes a name")?)?,
                    "Fn::GetAtt" => {
                        let parts: Vec<String> = arg
                            .as_array()
                            .ok_or("GetAtt takes [resource, attribute]")?
                            .iter()
                            .map(scalar)
                            .collect();
                        self.reference(&parts.join("."))?
                    }
                    "Fn::Sub" => {
                        let (text, vars) = match arg {
                            Value::String(s) => (s.clone(), Map::new()),
                            Value::Array(a) if a.len() == 2 => (
                                a[0].as_str().ok_or("Sub takes a string")?.to_owned(),
                                a[1].as_object().cloned().unwrap_or_default(),
                            ),
                            _ => return Err("Sub takes a string or [string, variables]".into()),
                        };
                        let mut out = String::new();
                        let mut rest = text.as_str();
                        while let Some(start) = rest.find("${") {
                            out.push_str(&rest[..start]);
                            let end = rest[start..].find('}').ok_or("unclosed ${ in Sub")? + start;
                            let name = &rest[start + 2..end];
                            let value = match vars.get(name) {
                                Some(v) => self.string(v)?,
                                None => self.reference(name)?,
                            };
                            out.push_str(&value);
                            rest = &rest[end + 1..];
                        }
                        out.push_str(rest);
                        out
                    }
                    "Fn::Join" => {
                        let a = arg
                            .as_array()
                            .filter(|a| a.len() == 2)
                            .ok_or("Join takes [separator, list]")?;
                        let parts: Result<Vec<String>, String> = a[1]
                            .as_array()
                            .ok_or("Join takes a list")?
                            .iter()
                            .map(|v| self.string(v))
                            .collect();
                        parts?.join(a[0].as_str().unwrap_or_default())
                    }
                    other => return Err(format!("{other} is not supported locally")),
                }
            }
            other => return Err(format!("{other} is not a string value")),
        };
        Ok(localize_api_urls(&resolved))
    }
}

/// `https://\u{1}URL\u{1}.execute-api.REGION.amazonaws.com/rest` -> `URL/rest`: an API's
/// public address becomes its local one.
fn localize_api_urls(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('\u{1}') {
        let Some(len) = rest[start + 1..].find('\u{1}') else {
            break;
        };
        let url = &rest[start + 1..start + 1 + len];
        let mut prefix = &rest[..start];
        prefix = prefix.strip_suffix("https://").unwrap_or(prefix);
        out.push_str(prefix);
        out.push_str(url);
        rest = &rest[start + 2 + len..];
        if let Some(after) = rest.strip_prefix(".execute-api.") {
            // Skip the region and `amazonaws.com`.
            let host_end = after.find('/').unwrap_or(after.len());
            rest = &after[host_end..];
        }
    }
    out.push_str(rest);
    out
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            t.alarms["Errors"]["Dimensions"][0]["Value"],
            json!({"Fn::GetAtt": ["Fn", "Version.Version"]})
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
                .string(&t.alarms["Errors"]["Dimensions"][0]["Value"])
                .unwrap(),
            "2"
        );
        assert!(resolver
            .string(&json!({"Ref": "Nope"}))
            .unwrap_err()
            .contains("Nope"));
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
}
