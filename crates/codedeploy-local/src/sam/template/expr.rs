//! A value of the template before it is resolved: a literal, or one of the intrinsic functions
//! the stand-in resolves (`Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// A template value, unresolved. Any other intrinsic (`Fn::If`, `Fn::Select`, ...) is kept by
/// name and refused when something needs its value, so a template that uses one where the
/// stand-in does not look still rehearses.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "Value")]
#[non_exhaustive]
pub enum Expr {
    /// A string, number or boolean, as its text (`60`, `true`).
    Literal(String),
    /// `!Ref NAME`: a parameter, a resource or a pseudo parameter.
    Ref(String),
    /// `!GetAtt RESOURCE.ATTRIBUTE`.
    GetAtt {
        /// The logical id.
        resource: String,
        /// The attribute, e.g. `Arn` or `Version.Version`.
        attribute: String,
    },
    /// `!Sub TEXT` or `!Sub [TEXT, {NAME: VALUE}]`.
    Sub {
        /// The text with `${NAME}` placeholders.
        text: String,
        /// The variables of the list form.
        variables: BTreeMap<String, Expr>,
    },
    /// `!Join [SEPARATOR, [VALUES]]`.
    Join {
        /// The separator.
        separator: String,
        /// The values joined.
        items: Vec<Expr>,
    },
    /// An intrinsic the stand-in does not resolve, by name (`Fn::If`).
    Unsupported(String),
}

impl Expr {
    /// The logical id of `!Ref ID`, or a literal id (`Hooks: {PreTraffic: PreHook}`).
    #[must_use]
    pub fn logical_id(&self) -> Option<&str> {
        match self {
            Expr::Ref(id) | Expr::Literal(id) => Some(id),
            _ => None,
        }
    }
}

impl From<&str> for Expr {
    fn from(text: &str) -> Expr {
        Expr::Literal(text.to_owned())
    }
}

/// Why a value is not one the template may hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExprError {
    /// An intrinsic function with the wrong form of argument.
    #[error("{function} takes {takes}")]
    Form {
        /// `Ref`, `Fn::Sub`, ...
        function: &'static str,
        /// The forms it takes.
        takes: &'static str,
    },
    /// A null, a list or a map that is no intrinsic function.
    #[error(
        "expected a string, a number or an intrinsic function (Ref, Fn::Sub, ...), not {found}"
    )]
    NotAValue {
        /// What was found instead.
        found: String,
    },
}

impl TryFrom<Value> for Expr {
    type Error = ExprError;

    fn try_from(value: Value) -> Result<Expr, ExprError> {
        match value {
            Value::String(s) => Ok(Expr::Literal(s)),
            Value::Bool(b) => Ok(Expr::Literal(b.to_string())),
            Value::Number(n) => Ok(Expr::Literal(n.to_string())),
            Value::Object(map) if map.len() == 1 => {
                let mut entries = map.into_iter();
                match entries.next() {
                    Some((name, argument)) => intrinsic(&name, argument),
                    None => Err(not_a_value("an empty map".into())),
                }
            }
            Value::Null => Err(not_a_value("null".into())),
            Value::Array(_) => Err(not_a_value("a list".into())),
            Value::Object(map) => Err(not_a_value(format!("a map of {} keys", map.len()))),
        }
    }
}

fn not_a_value(found: String) -> ExprError {
    ExprError::NotAValue { found }
}

fn form(function: &'static str, takes: &'static str) -> ExprError {
    ExprError::Form { function, takes }
}

fn intrinsic(name: &str, argument: Value) -> Result<Expr, ExprError> {
    const GET_ATT: &str = "RESOURCE.ATTRIBUTE or [RESOURCE, ATTRIBUTE]";
    const SUB: &str = "a string or [STRING, {NAME: VALUE}]";
    const JOIN: &str = "[SEPARATOR, [VALUES]]";
    match (name, argument) {
        ("Ref", Value::String(id)) => Ok(Expr::Ref(id)),
        ("Ref", _) => Err(form("Ref", "a name")),
        ("Fn::GetAtt", Value::String(dotted)) => match dotted.split_once('.') {
            Some((resource, attribute)) => Ok(Expr::GetAtt {
                resource: resource.to_owned(),
                attribute: attribute.to_owned(),
            }),
            None => Err(form("Fn::GetAtt", GET_ATT)),
        },
        ("Fn::GetAtt", Value::Array(parts)) => match <[Value; 2]>::try_from(parts) {
            Ok([Value::String(resource), Value::String(attribute)]) => Ok(Expr::GetAtt {
                resource,
                attribute,
            }),
            _ => Err(form("Fn::GetAtt", GET_ATT)),
        },
        ("Fn::Sub", Value::String(text)) => Ok(Expr::Sub {
            text,
            variables: BTreeMap::new(),
        }),
        ("Fn::Sub", Value::Array(parts)) => match <[Value; 2]>::try_from(parts) {
            Ok([Value::String(text), Value::Object(vars)]) => Ok(Expr::Sub {
                text,
                variables: vars
                    .into_iter()
                    .map(|(k, v)| Ok((k, Expr::try_from(v)?)))
                    .collect::<Result<_, ExprError>>()?,
            }),
            _ => Err(form("Fn::Sub", SUB)),
        },
        ("Fn::Join", Value::Array(parts)) => match <[Value; 2]>::try_from(parts) {
            Ok([Value::String(separator), Value::Array(items)]) => Ok(Expr::Join {
                separator,
                items: items
                    .into_iter()
                    .map(Expr::try_from)
                    .collect::<Result<_, ExprError>>()?,
            }),
            _ => Err(form("Fn::Join", JOIN)),
        },
        ("Fn::GetAtt", _) => Err(form("Fn::GetAtt", GET_ATT)),
        ("Fn::Sub", _) => Err(form("Fn::Sub", SUB)),
        ("Fn::Join", _) => Err(form("Fn::Join", JOIN)),
        (other, _) if other.starts_with("Fn::") || other == "Condition" => {
            Ok(Expr::Unsupported(other.to_owned()))
        }
        (other, _) => Err(not_a_value(format!("a map with the key `{other}`"))),
    }
}
