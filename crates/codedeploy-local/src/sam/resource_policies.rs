//! The template's resource-based policies, where they decide a rehearsal's calls: a
//! function's `AWS::Lambda::Permission`s (API Gateway invoking it) and a topic's
//! `AWS::SNS::TopicPolicy` (CloudWatch publishing an alarm's actions).
//!
//! A permission becomes the statement Lambda writes for it (its `AddPermission`: the
//! principal, the action on the function ARN as named, `ArnLike` `AWS:SourceArn` and
//! `StringEquals` `AWS:SourceAccount` when given). An API's id, in a permission, is its
//! logical id (its local address is only for the functions' environment).
//!
//! Not checked: a topic without a `TopicPolicy` (SNS's default topic policy admits the
//! owner account; which service principals acting for it pass is not documented), and an
//! HTTP API made from a function's `HttpApi` event (SAM writes its permission).

use serde_json::{json, Value};

use super::roles::resolve_document;
use super::template::{PermissionProperties, Resolver, Template};
use crate::iam::{Authority, Policy};

/// Attach the template's resource-based policies that the stand-in checks to `iam`.
pub(crate) fn attach(template: &Template, resolver: &Resolver, iam: &Authority) {
    let mut resolver = resolver.clone();
    for api in std::mem::take(&mut resolver.api_urls).into_keys() {
        resolver.refs.insert(api.clone(), api);
    }
    for (id, permission) in &template.permissions {
        match statement(&resolver, permission) {
            Ok((function, statement)) => {
                let document = json!({"Version": "2012-10-17", "Statement": [statement]});
                if let Ok(policy) = Policy::parse(id, &document.to_string()) {
                    iam.attach(&function, policy);
                }
            }
            Err(why) => tracing::warn!(permission = %id, %why, "not rehearsed"),
        }
    }
    for (id, topic_policy) in &template.topic_policies {
        let document = match resolve_document(&resolver, &topic_policy.policy_document) {
            Ok(document) => document,
            Err(why) => {
                tracing::warn!(topic_policy = %id, %why, "not rehearsed");
                continue;
            }
        };
        for topic in &topic_policy.topics {
            let (Ok(arn), Ok(policy)) = (
                resolver.string(topic),
                Policy::parse(id, &document.to_string()),
            ) else {
                continue;
            };
            iam.attach(&arn, policy);
        }
    }
}

/// The function a permission is for (its name), and its statement.
fn statement(resolver: &Resolver, p: &PermissionProperties) -> Result<(String, Value), String> {
    let text = |e| resolver.string(e).map_err(|e| e.to_string());
    let named = text(&p.function_name)?;
    let (function, resource) = match named.strip_prefix("arn:") {
        Some(_) => {
            let name = named.split(':').nth(6).unwrap_or_default().to_owned();
            (name, named.clone())
        }
        None => {
            let (name, qualifier) = match named.split_once(':') {
                Some((name, qualifier)) => (name, Some(qualifier)),
                None => (named.as_str(), None),
            };
            let arn = format!(
                "arn:aws:lambda:{}:{}:function:{name}",
                resolver.region, resolver.account_id
            );
            let resource = qualifier.map_or(arn.clone(), |q| format!("{arn}:{q}"));
            (name.to_owned(), resource)
        }
    };
    let principal = text(&p.principal)?;
    let principal = if principal.ends_with(".amazonaws.com") {
        json!({ "Service": principal })
    } else {
        json!({ "AWS": principal })
    };
    let mut statement = json!({
        "Effect": "Allow",
        "Principal": principal,
        "Action": text(&p.action)?,
        "Resource": resource,
    });
    let mut condition = serde_json::Map::new();
    if let Some(source) = &p.source_arn {
        condition.insert("ArnLike".into(), json!({"AWS:SourceArn": text(source)?}));
    }
    if let Some(account) = &p.source_account {
        condition.insert(
            "StringEquals".into(),
            json!({"AWS:SourceAccount": text(account)?}),
        );
    }
    if !condition.is_empty() {
        statement["Condition"] = Value::Object(condition);
    }
    Ok((function, statement))
}
