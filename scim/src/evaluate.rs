//! Filters evaluated in memory, with the schema's characteristics: the reference semantics that
//! the SQL translation in provisioning-core is tested against (and usable wherever a resource is
//! already in memory).
//!
//! - A multi-valued attribute matches when any of its values does; `emails` alone means the
//!   values' `value`.
//! - Strings compare lowercased unless the attribute is `caseExact`; booleans accept
//!   "True"/"False" literals; numbers compare as numbers; dateTimes as their RFC 3339 text.
//! - `ne` is `not eq`: a resource without the attribute is not equal to anything.
//! - `pr` is true when some value is neither null nor an empty string, array or object.

use serde_json::Value;

use crate::filter::{AttrPath, CompareOp, Filter, as_bool, lookup};
use crate::schema::{AttributeType, ResourceType, SchemaRegistry, qualified_path};

/// Whether `resource` (its attributes as JSON) matches `filter`.
pub fn matches(registry: &SchemaRegistry, kind: ResourceType, filter: &Filter, resource: &Value) -> bool {
    match filter {
        Filter::And(a, b) => matches(registry, kind, a, resource) && matches(registry, kind, b, resource),
        Filter::Or(a, b) => matches(registry, kind, a, resource) || matches(registry, kind, b, resource),
        Filter::Not(inner) => !matches(registry, kind, inner, resource),
        Filter::Present(path) => {
            values(registry, kind, &qualified_path(kind, path), resource).iter().any(|(v, _)| present(v))
        }
        Filter::Compare { path, op: CompareOp::Ne, value } => {
            !values(registry, kind, &qualified_path(kind, path), resource)
                .iter()
                .any(|(v, t)| compare(v, CompareOp::Eq, value, *t))
        }
        Filter::Compare { path, op, value } => values(registry, kind, &qualified_path(kind, path), resource)
            .iter()
            .any(|(v, t)| compare(v, *op, value, *t)),
        Filter::ValuePath { path, filter } => {
            let Some((container, attribute)) = container(kind, path, resource) else { return false };
            let items: Vec<&Value> = match lookup(container, &attribute) {
                Some(Value::Array(items)) => items.iter().collect(),
                Some(item @ Value::Object(_)) => vec![item],
                _ => Vec::new(),
            };
            items.into_iter().any(|item| element_matches(registry, kind, path, filter, item))
        }
    }
}

/// A valuePath's inner filter on one value: its paths name sub-attributes.
fn element_matches(
    registry: &SchemaRegistry,
    kind: ResourceType,
    parent: &AttrPath,
    filter: &Filter,
    item: &Value,
) -> bool {
    match filter {
        Filter::And(a, b) => {
            element_matches(registry, kind, parent, a, item) && element_matches(registry, kind, parent, b, item)
        }
        Filter::Or(a, b) => {
            element_matches(registry, kind, parent, a, item) || element_matches(registry, kind, parent, b, item)
        }
        Filter::Not(inner) => !element_matches(registry, kind, parent, inner, item),
        Filter::Present(sub) | Filter::Compare { path: sub, .. } => {
            let full =
                AttrPath { schema: parent.schema.clone(), name: parent.name.clone(), sub: Some(sub.name.clone()) };
            let traits = characteristics(registry, kind, &full);
            let value = lookup(item, &sub.name);
            match (filter, value) {
                (Filter::Present(_), value) => value.is_some_and(present),
                (Filter::Compare { op: CompareOp::Ne, value: literal, .. }, value) => {
                    !value.is_some_and(|v| compare(v, CompareOp::Eq, literal, traits))
                }
                (Filter::Compare { op, value: literal, .. }, Some(value)) => compare(value, *op, literal, traits),
                _ => false,
            }
        }
        Filter::ValuePath { .. } => false,
    }
}

#[derive(Debug, Clone, Copy)]
struct Traits {
    kind: AttributeType,
    case_exact: bool,
}

fn characteristics(registry: &SchemaRegistry, kind: ResourceType, path: &AttrPath) -> Traits {
    match registry.resolve(kind, path) {
        Some(resolved) => {
            let target = match (resolved.sub_attribute, resolved.attribute.r#type) {
                (None, AttributeType::Complex) => {
                    resolved.attribute.sub_attribute("value").unwrap_or(resolved.attribute)
                }
                _ => resolved.target(),
            };
            Traits { kind: target.r#type, case_exact: target.case_exact }
        }
        None => Traits { kind: AttributeType::String, case_exact: false },
    }
}

/// The object holding the attribute (the resource, or its extension object) and the name.
fn container<'a>(kind: ResourceType, path: &AttrPath, resource: &'a Value) -> Option<(&'a Value, String)> {
    match &path.schema {
        Some(schema) if !schema.eq_ignore_ascii_case(kind.core_schema()) => {
            Some((lookup(resource, schema)?, path.name.clone()))
        }
        _ => Some((resource, path.name.clone())),
    }
}

/// Every value the path names, with how to compare it.
fn values<'a>(
    registry: &SchemaRegistry,
    kind: ResourceType,
    path: &AttrPath,
    resource: &'a Value,
) -> Vec<(&'a Value, Traits)> {
    let traits = characteristics(registry, kind, path);
    let Some((container, name)) = container(kind, path, resource) else { return Vec::new() };
    let Some(value) = lookup(container, &name) else { return Vec::new() };
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let sub = path.sub.clone().or_else(|| {
        let complex = registry.resolve(kind, path).is_some_and(|r| r.attribute.r#type == AttributeType::Complex);
        (complex && matches!(value, Value::Array(_))).then(|| "value".to_owned())
    });
    match sub {
        None => items.into_iter().map(|v| (v, traits)).collect(),
        Some(sub) => items.into_iter().filter_map(|item| lookup(item, &sub)).map(|v| (v, traits)).collect(),
    }
}

fn present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

fn compare(actual: &Value, op: CompareOp, literal: &Value, traits: Traits) -> bool {
    use std::cmp::Ordering;
    let ordering: Option<Ordering> = match traits.kind {
        AttributeType::Boolean => {
            return match (as_bool(actual), as_bool(literal), op) {
                (Some(a), Some(b), CompareOp::Eq) => a == b,
                _ => false,
            };
        }
        AttributeType::Integer | AttributeType::Decimal => match (actual.as_f64(), literal.as_f64()) {
            (Some(a), Some(b)) => a.partial_cmp(&b),
            _ => None,
        },
        _ => {
            let (Some(a), Some(b)) = (text(actual), text(literal)) else { return false };
            let (a, b) = if traits.case_exact { (a, b) } else { (a.to_lowercase(), b.to_lowercase()) };
            match op {
                CompareOp::Co => return a.contains(&b),
                CompareOp::Sw => return a.starts_with(&b),
                CompareOp::Ew => return a.ends_with(&b),
                _ => Some(a.cmp(&b)),
            }
        }
    };
    match (op, ordering) {
        (CompareOp::Eq, Some(o)) => o == Ordering::Equal,
        (CompareOp::Gt, Some(o)) => o == Ordering::Greater,
        (CompareOp::Ge, Some(o)) => o != Ordering::Less,
        (CompareOp::Lt, Some(o)) => o == Ordering::Less,
        (CompareOp::Le, Some(o)) => o != Ordering::Greater,
        _ => false,
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(_) | Value::Number(_) => Some(value.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(filter: &str, resource: &Value) -> bool {
        matches(&SchemaRegistry::default(), ResourceType::User, &Filter::parse(filter).unwrap(), resource)
    }

    #[test]
    fn characteristics_drive_comparison() {
        let user = json!({"userName": "Alice", "externalId": "AbC", "emails": [{"value": "A@x", "type": "work", "primary": true}]});
        assert!(check(r#"userName eq "alice""#, &user));
        assert!(!check(r#"externalId eq "abc""#, &user), "externalId is caseExact");
        assert!(check(r#"emails eq "a@X""#, &user));
        assert!(check(r#"emails[type eq "WORK" and primary eq "True"]"#, &user));
        assert!(check(r#"title ne "x""#, &user), "absent is not equal");
        assert!(!check("title pr", &user));
        assert!(check(r#"not (title eq "x")"#, &user));
        let managed = json!({"userName": "b", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "m1"}}});
        assert!(check(r#"manager eq "m1""#, &managed), "Entra's unqualified manager check");
    }
}
