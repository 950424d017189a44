//! The template's roles as IAM would hold them: each function's execution role and
//! CodeDeploy's service role, with their policies resolved against the stand-in.
//!
//! As SAM writes them (the SAM translator's output, as read 2026-12-05): a function without
//! `Role` gets a generated role with `AWSLambdaBasicExecutionRole` and its `Policies` (a
//! managed policy by name or ARN, an inline document `{Statement: ...}`, or a SAM policy
//! template); a `DeploymentPreference` without `Role` gets a generated role with
//! `AWSCodeDeployRoleForLambda`. A `Role` naming an `AWS::IAM::Role` of the template is read
//! with its `Policies` and `ManagedPolicyArns`.
//!
//! What the stand-in cannot read makes the role's missing grants undecided (let through,
//! and said so), never allowed: a managed policy it does not know, a SAM policy template
//! (none is modelled yet), an intrinsic it does not resolve, a role defined outside the
//! template.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::template::{Expr, Resolver, RoleProperties, Template, TemplateFunction};
use crate::iam::{managed, Policy, Role};

/// The managed policy SAM attaches to a function's generated role.
const BASIC_EXECUTION: &str = "AWSLambdaBasicExecutionRole";
/// The managed policy SAM attaches to CodeDeploy's generated role.
const CODEDEPLOY_FOR_LAMBDA: &str = "AWSCodeDeployRoleForLambda";

/// Reading the template's roles, with the resolver of the rehearsal.
pub(crate) struct Roles<'a> {
    pub(crate) template: &'a Template,
    pub(crate) resolver: &'a Resolver,
}

impl Roles<'_> {
    /// A function's execution role.
    pub(crate) fn of_function(&self, f: &TemplateFunction) -> Arc<Role> {
        if let Some(role) = &f.role {
            return Arc::new(self.named(role, &format!("{}.Role", f.logical_id)));
        }
        let mut role = Role::new(&format!("{}Role", f.logical_id), &self.resolver.account_id);
        role = self.managed(role, BASIC_EXECUTION);
        for (i, entry) in f.policies.iter().enumerate() {
            let place = format!("{}.Policies[{i}]", f.logical_id);
            role = self.policy_entry(role, entry, &place);
        }
        Arc::new(role)
    }

    /// CodeDeploy's service role for a function's deployment preference.
    pub(crate) fn of_deployment(&self, f: &TemplateFunction) -> Arc<Role> {
        let role = f.deployment.as_ref().and_then(|p| p.role.as_ref());
        if let Some(role) = role {
            return Arc::new(
                self.named(role, &format!("{}.DeploymentPreference.Role", f.logical_id)),
            );
        }
        let role = Role::new("CodeDeployServiceRole", &self.resolver.account_id);
        Arc::new(self.managed(role, CODEDEPLOY_FOR_LAMBDA))
    }

    /// A role given by ARN: an `AWS::IAM::Role` of the template, or one from outside.
    fn named(&self, role: &Expr, place: &str) -> Role {
        let logical = match role {
            Expr::GetAtt {
                resource,
                attribute,
            } if attribute == "Arn" => Some(resource.as_str()),
            other => other.logical_id(),
        };
        if let Some((id, props)) = logical.and_then(|id| self.template.roles.get_key_value(id)) {
            return self.template_role(id, props);
        }
        let arn = self
            .resolver
            .string(role)
            .unwrap_or_else(|_| format!("{role:?}"));
        let name = arn.rsplit('/').next().unwrap_or(&arn);
        Role::new(name, &self.resolver.account_id).with_unknown(format!(
            "{place}: the role {arn} is defined outside the template"
        ))
    }

    fn template_role(&self, id: &str, props: &RoleProperties) -> Role {
        let name = props
            .role_name
            .as_ref()
            .and_then(|n| self.resolver.string(n).ok())
            .unwrap_or_else(|| id.to_owned());
        let mut role = Role::new(&name, &self.resolver.account_id);
        for arn in &props.managed_policy_arns {
            match self.resolver.string(arn) {
                Ok(arn) => role = self.managed(role, &arn),
                Err(e) => role = role.with_unknown(format!("{id}.ManagedPolicyArns: {e}")),
            }
        }
        for (i, inline) in props.policies.iter().enumerate() {
            let policy_name = inline
                .policy_name
                .as_ref()
                .and_then(|n| self.resolver.string(n).ok())
                .unwrap_or_else(|| format!("{id}.Policies[{i}]"));
            role = self.document(role, &policy_name, &inline.policy_document);
        }
        role
    }

    /// One entry of a function's `Policies`.
    fn policy_entry(&self, role: Role, entry: &Value, place: &str) -> Role {
        match entry {
            Value::String(name) => self.managed(role, name),
            Value::Object(map) if map.contains_key("Statement") => {
                self.document(role, place, entry)
            }
            Value::Object(map) if map.len() == 1 && !is_intrinsic(map) => {
                let template = map.keys().next().map_or("", String::as_str);
                role.with_unknown(format!(
                    "{place}: the SAM policy template {template} is not modelled by the stand-in"
                ))
            }
            other => match resolve_document(self.resolver, other) {
                Ok(Value::String(name)) => self.managed(role, &name),
                _ => role.with_unknown(format!("{place}: not a policy the stand-in can read")),
            },
        }
    }

    fn managed(&self, role: Role, name_or_arn: &str) -> Role {
        match managed::by_name(name_or_arn) {
            Some(policy) => role.with_policy(policy),
            None => role.with_unknown(format!(
                "the managed policy {name_or_arn} is not one the stand-in knows"
            )),
        }
    }

    /// An inline policy document, its intrinsics resolved.
    fn document(&self, role: Role, name: &str, document: &Value) -> Role {
        let resolved = match resolve_document(self.resolver, document) {
            Ok(resolved) => resolved,
            Err(e) => return role.with_unknown(format!("{name}: {e}")),
        };
        let mut resolved = resolved;
        if let Value::Object(map) = &mut resolved {
            map.entry("Version")
                .or_insert_with(|| Value::from("2012-10-17"));
        }
        match Policy::parse(name, &resolved.to_string()) {
            Ok(policy) => role.with_policy(policy),
            Err(e) => role.with_unknown(e.to_string()),
        }
    }
}

/// A value with every intrinsic in it resolved to its text.
pub(crate) fn resolve_document(resolver: &Resolver, value: &Value) -> Result<Value, String> {
    Ok(match value {
        Value::Object(map) if is_intrinsic(map) => {
            let expr = Expr::try_from(value.clone()).map_err(|e| e.to_string())?;
            Value::String(resolver.string(&expr).map_err(|e| e.to_string())?)
        }
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(k.clone(), resolve_document(resolver, v)?);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| resolve_document(resolver, v))
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    })
}

fn is_intrinsic(map: &Map<String, Value>) -> bool {
    map.len() == 1 && map.keys().all(|k| k == "Ref" || k.starts_with("Fn::"))
}

/// What the template's other resources resolve to: `Ref` and `Arn` of its topics, alarms
/// and roles, and the names of the CodeDeploy application and deployment groups SAM
/// generates (as the rehearsal names them).
pub(crate) fn resource_names(template: &Template, resolver: &mut Resolver) {
    let (region, account) = (resolver.region.clone(), resolver.account_id.clone());
    let mut both = |id: &str, reference: String, arn: String| {
        resolver.refs.insert(id.to_owned(), reference);
        resolver.arns.insert(id.to_owned(), arn);
    };
    for topic in &template.topics {
        let arn = format!("arn:aws:sns:{region}:{account}:{topic}");
        both(topic, arn.clone(), arn);
    }
    for alarm in template.alarms.keys() {
        both(
            alarm,
            alarm.clone(),
            format!("arn:aws:cloudwatch:{region}:{account}:alarm:{alarm}"),
        );
    }
    let literal_names: BTreeMap<&String, String> = template
        .roles
        .iter()
        .map(|(id, props)| {
            let name = match &props.role_name {
                Some(Expr::Literal(name)) => name.clone(),
                _ => id.clone(),
            };
            (id, name)
        })
        .collect();
    for (id, name) in literal_names {
        both(
            id,
            name.clone(),
            format!("arn:aws:iam::{account}:role/{name}"),
        );
    }
    resolver.refs.insert(
        "ServerlessDeploymentApplication".into(),
        "ServerlessDeploymentApplication".into(),
    );
    for f in template
        .functions
        .values()
        .filter(|f| f.deployment.is_some())
    {
        let group = format!("{}DeploymentGroup", f.logical_id);
        resolver.refs.insert(group.clone(), group);
    }
    // A CloudFormation-form template's names, last: they are the
    // template's own (SAM's above are its translator's). An alias's ARN names its function,
    // already known.
    for (id, expr) in &template.names {
        if let Ok(value) = resolver.string(expr) {
            resolver.refs.insert(id.clone(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{resource_names, Roles};
    use crate::iam::{evaluate, Verdict};
    use crate::sam::template::{Resolver, Template};

    const TEMPLATE: &str = r#"
Resources:
  Topic:
    Type: AWS::SNS::Topic
  Generated:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: a}}
    Properties:
      Policies:
        - AWSLambdaBasicExecutionRole
        - Statement:
            - Effect: Allow
              Action: sns:Publish
              Resource: !Ref Topic
        - SQSPollerPolicy: {QueueName: q}
  Own:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: b}}
    Properties:
      Role: !GetAtt OwnRole.Arn
  Outside:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: c}}
    Properties:
      Role: arn:aws:iam::000000000000:role/elsewhere
  OwnRole:
    Type: AWS::IAM::Role
    Properties:
      RoleName: own
      ManagedPolicyArns: [!Sub "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited"]
      Policies:
        - PolicyName: Publish
          PolicyDocument:
            Statement: [{Effect: Allow, Action: sns:Publish, Resource: !GetAtt Topic.Arn}]
"#;

    const TOPIC: &str = "arn:aws:sns:us-east-1:000000000000:Topic";

    fn allowed(role: &crate::iam::Role, action: &str, resource: &str) -> Verdict {
        evaluate(
            role.policies(),
            "arn:aws:sts::000000000000:assumed-role/r/s",
            action,
            resource,
            &[],
        )
        .expect("evaluated")
    }

    #[test]
    fn roles_are_read_as_sam_and_cloudformation_write_them() {
        let template = Template::parse(Path::new("t.yaml"), TEMPLATE).expect("a template");
        let mut resolver = Resolver {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            ..Resolver::default()
        };
        resource_names(&template, &mut resolver);
        let roles = Roles {
            template: &template,
            resolver: &resolver,
        };

        let generated = roles.of_function(&template.functions["Generated"]);
        assert_eq!(generated.name(), "GeneratedRole");
        assert_eq!(allowed(&generated, "sns:Publish", TOPIC), Verdict::Allowed);
        assert_eq!(
            allowed(
                &generated,
                "logs:PutLogEvents",
                "arn:aws:logs:us-east-1:000000000000:log-group:x"
            ),
            Verdict::Allowed
        );
        assert_eq!(
            generated.unknown().len(),
            1,
            "the SAM policy template: {:?}",
            generated.unknown()
        );
        assert!(generated.unknown()[0].contains("SQSPollerPolicy"));

        let own = roles.of_function(&template.functions["Own"]);
        assert_eq!(own.name(), "own");
        assert!(own.unknown().is_empty(), "{:?}", own.unknown());
        assert_eq!(allowed(&own, "sns:Publish", TOPIC), Verdict::Allowed);
        assert_eq!(
            allowed(
                &own,
                "lambda:InvokeFunction",
                "arn:aws:lambda:us-east-1:000000000000:function:CodeDeployHook_x"
            ),
            Verdict::Allowed,
            "the Limited managed policy"
        );
        assert_eq!(
            allowed(
                &own,
                "lambda:InvokeFunction",
                "arn:aws:lambda:us-east-1:000000000000:function:hook"
            ),
            Verdict::ImplicitlyDenied
        );

        let outside = roles.of_function(&template.functions["Outside"]);
        assert_eq!(outside.name(), "elsewhere");
        assert!(outside.unknown()[0].contains("outside the template"));
    }
}
