//! Attribute characteristics checked on every write (RFC 7643 §2): the type of each declared
//! attribute, single- versus multi-valued, required sub-attributes of an extension, and
//! immutable values on replace. Unknown attributes pass through as sent: IdPs send attributes
//! no schema declares, and refusing them would break provisioning.

use serde_json::{Map, Value};

use crate::error::ScimError;
use crate::schema::{AttributeDef, AttributeType, Mutability, ResourceType, SchemaDef, SchemaRegistry};

/// A member of a JSON object, its name in any case.
fn get<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value)
}

/// Entra sends booleans as "True"/"False" for any boolean attribute, declared extensions
/// included: such strings become booleans wherever the schemas say Boolean.
pub fn coerce_booleans(registry: &SchemaRegistry, kind: ResourceType, attributes: &mut Map<String, Value>) {
    fn coerce(attribute: &AttributeDef, value: &mut Value) {
        match (attribute.r#type, value) {
            (AttributeType::Boolean, value @ Value::String(_)) => {
                if let Some(flag) = crate::filter::as_bool(value) {
                    *value = Value::Bool(flag);
                }
            }
            (_, Value::Array(items)) => items.iter_mut().for_each(|item| coerce(attribute, item)),
            (AttributeType::Complex, Value::Object(object)) => {
                for (name, sub_value) in object.iter_mut() {
                    if let Some(sub) = attribute.sub_attribute(name) {
                        coerce(sub, sub_value);
                    }
                }
            }
            _ => {}
        }
    }
    let (core, extensions) = registry.resource_schemas(kind);
    for (name, value) in attributes.iter_mut() {
        if let Some(attribute) = core.attribute(name) {
            coerce(attribute, value);
        } else if let Some(extension) = extensions.iter().find(|e| e.id.eq_ignore_ascii_case(name))
            && let Value::Object(object) = value
        {
            for (sub_name, sub_value) in object.iter_mut() {
                if let Some(attribute) = extension.attribute(sub_name) {
                    coerce(attribute, sub_value);
                }
            }
        }
    }
}

/// Checks a resource's attributes against the registry's schemas for `kind`.
pub fn check(registry: &SchemaRegistry, kind: ResourceType, attributes: &Map<String, Value>) -> Result<(), ScimError> {
    let (core, extensions) = registry.resource_schemas(kind);
    check_schema(core, attributes, "")?;
    for extension in extensions {
        let Some(value) = get(attributes, &extension.id) else {
            continue;
        };
        let Value::Object(object) = value else {
            return Err(ScimError::invalid_value(format!("'{}' must be an object of its attributes", extension.id)));
        };
        check_schema(extension, object, &format!("{}:", extension.id))?;
        for attribute in extension.attributes.iter().filter(|a| a.required) {
            if get(object, &attribute.name).is_none_or(Value::is_null) {
                return Err(ScimError::invalid_value(format!("'{}{}' is required", extension.id, attribute.name)));
            }
        }
    }
    Ok(())
}

fn check_schema(schema: &SchemaDef, attributes: &Map<String, Value>, prefix: &str) -> Result<(), ScimError> {
    for (name, value) in attributes {
        if let Some(attribute) = schema.attribute(name) {
            check_value(attribute, value, &format!("{prefix}{}", attribute.name))?;
        }
    }
    Ok(())
}

fn check_value(attribute: &AttributeDef, value: &Value, path: &str) -> Result<(), ScimError> {
    if value.is_null() {
        return Ok(());
    }
    if attribute.multi_valued {
        let items: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            // A single value where a list is expected: tolerated as a one-element list.
            other => vec![other],
        };
        return items.into_iter().try_for_each(|item| check_single(attribute, item, path));
    }
    if value.is_array() {
        return Err(ScimError::invalid_value(format!("'{path}' is single-valued, not a list")));
    }
    check_single(attribute, value, path)
}

fn check_single(attribute: &AttributeDef, value: &Value, path: &str) -> Result<(), ScimError> {
    let wrong = |expected: &str| ScimError::invalid_value(format!("'{path}' must be {expected}"));
    match (attribute.r#type, value) {
        (_, Value::Null) => Ok(()),
        (AttributeType::String | AttributeType::Reference | AttributeType::Binary, Value::String(_)) => Ok(()),
        (AttributeType::String | AttributeType::Reference | AttributeType::Binary, _) => Err(wrong("a string")),
        (AttributeType::Boolean, Value::Bool(_)) => Ok(()),
        (AttributeType::Boolean, _) => Err(wrong("a boolean")),
        (AttributeType::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(()),
        (AttributeType::Integer, _) => Err(wrong("an integer")),
        (AttributeType::Decimal, Value::Number(_)) => Ok(()),
        (AttributeType::Decimal, _) => Err(wrong("a number")),
        (AttributeType::DateTime, Value::String(text)) => {
            chrono_like(text).then_some(()).ok_or_else(|| wrong("a dateTime (RFC 3339)"))
        }
        (AttributeType::DateTime, _) => Err(wrong("a dateTime (RFC 3339)")),
        (AttributeType::Complex, Value::Object(object)) => {
            for (name, sub_value) in object {
                if let Some(sub) = attribute.sub_attribute(name) {
                    check_value(sub, sub_value, &format!("{path}.{}", sub.name))?;
                }
            }
            Ok(())
        }
        (AttributeType::Complex, _) => Err(wrong("an object")),
    }
}

/// An RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
fn chrono_like(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| bytes.get(range).is_some_and(|b| b.iter().all(u8::is_ascii_digit));
    if bytes.len() < 20
        || !digits(0..4)
        || !digits(5..7)
        || !digits(8..10)
        || !digits(11..13)
        || !digits(14..16)
        || !digits(17..19)
    {
        return false;
    }
    if bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b'T' | b't')
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return false;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let end = fraction.find(|c: char| !c.is_ascii_digit()).unwrap_or(fraction.len());
        if end == 0 {
            return false;
        }
        rest = &fraction[end..];
    }
    rest.eq_ignore_ascii_case("z")
        || (rest.len() == 6
            && matches!(rest.as_bytes()[0], b'+' | b'-')
            && rest.as_bytes()[3] == b':'
            && rest[1..3].bytes().chain(rest[4..6].bytes()).all(|b| b.is_ascii_digit()))
}

/// On replace (PUT or PATCH): an `immutable` attribute that has a value keeps it (RFC 7644
/// §3.5.1: "400 mutability"). Group members are not checked: their `value` is immutable per
/// member, not the member list.
pub fn check_immutable(
    registry: &SchemaRegistry,
    kind: ResourceType,
    before: &Map<String, Value>,
    after: &Map<String, Value>,
) -> Result<(), ScimError> {
    let (core, extensions) = registry.resource_schemas(kind);
    let changed = |schema: &SchemaDef, before: &Map<String, Value>, after: &Map<String, Value>, prefix: &str| {
        for attribute in schema.attributes.iter().filter(|a| a.mutability == Mutability::Immutable) {
            let old = get(before, &attribute.name).filter(|v| !v.is_null());
            let new = get(after, &attribute.name);
            if let Some(old) = old
                && new != Some(old)
            {
                return Err(ScimError::mutability(format!("'{prefix}{}' is immutable", attribute.name)));
            }
        }
        Ok(())
    };
    changed(core, before, after, "")?;
    for extension in extensions {
        let part = |map: &Map<String, Value>| match get(map, &extension.id) {
            Some(Value::Object(object)) => object.clone(),
            _ => Map::new(),
        };
        changed(extension, &part(before), &part(after), &format!("{}:", extension.id))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ENTERPRISE_USER;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn registry_with_badge() -> SchemaRegistry {
        let schema = SchemaDef::from_json(&json!({
            "id": "urn:example:params:scim:schemas:extension:badge:2.0:User",
            "name": "Badge",
            "attributes": [
                {"name": "number", "type": "integer", "required": true, "mutability": "immutable"},
                {"name": "issued", "type": "dateTime"},
                {"name": "doors", "type": "string", "multiValued": true}
            ]
        }))
        .unwrap();
        let mut registry = SchemaRegistry::default();
        registry.register_extension(ResourceType::User, schema).unwrap();
        registry
    }

    #[test]
    fn types_of_declared_attributes_are_checked() {
        let registry = SchemaRegistry::default();
        assert!(
            check(&registry, ResourceType::User, &map(json!({"userName": "a", "title": "x", "unknown": 5}))).is_ok()
        );
        assert!(check(&registry, ResourceType::User, &map(json!({"userName": "a", "title": 5}))).is_err());
        assert!(
            check(&registry, ResourceType::User, &map(json!({"userName": "a", "emails": [{"value": 1}]}))).is_err()
        );
        assert!(check(&registry, ResourceType::User, &map(json!({"userName": "a", "name": "not an object"}))).is_err());
        assert!(
            check(
                &registry,
                ResourceType::User,
                &map(json!({"userName": "a", ENTERPRISE_USER: {"manager": {"value": "m"}}}))
            )
            .is_ok()
        );
    }

    #[test]
    fn custom_extensions_are_checked_as_declared() {
        let registry = registry_with_badge();
        let urn = "urn:example:params:scim:schemas:extension:badge:2.0:User";
        let ok =
            map(json!({"userName": "a", urn: {"number": 7, "issued": "2026-01-02T03:04:05Z", "doors": ["A", "B"]}}));
        assert!(check(&registry, ResourceType::User, &ok).is_ok());
        let error =
            check(&registry, ResourceType::User, &map(json!({"userName": "a", urn: {"number": "seven"}}))).unwrap_err();
        assert_eq!(error.scim_type, Some(crate::ScimType::InvalidValue));
        assert!(
            check(
                &registry,
                ResourceType::User,
                &map(json!({"userName": "a", urn: {"issued": "2026-01-02T03:04:05Z"}}))
            )
            .is_err(),
            "number is required"
        );
        assert!(
            check(
                &registry,
                ResourceType::User,
                &map(json!({"userName": "a", urn: {"number": 1, "issued": "yesterday"}}))
            )
            .is_err()
        );
        assert!(
            check(&registry, ResourceType::User, &map(json!({"userName": "a", "title": "no extension at all"})))
                .is_ok()
        );
    }

    #[test]
    fn declared_booleans_accept_entra_strings() {
        let schema = SchemaDef::from_json(&json!({
            "id": "urn:example:params:scim:schemas:extension:hr:2.0:User",
            "attributes": [{"name": "isContractor", "type": "boolean"}]
        }))
        .unwrap();
        let mut registry = SchemaRegistry::default();
        registry.register_extension(ResourceType::User, schema).unwrap();
        let urn = "urn:example:params:scim:schemas:extension:hr:2.0:User";
        let mut attributes = map(json!({"userName": "a", urn: {"isContractor": "False"}}));
        coerce_booleans(&registry, ResourceType::User, &mut attributes);
        assert_eq!(attributes[urn]["isContractor"], json!(false));
        assert!(check(&registry, ResourceType::User, &attributes).is_ok());
    }

    #[test]
    fn immutable_values_keep_their_value() {
        let registry = registry_with_badge();
        let urn = "urn:example:params:scim:schemas:extension:badge:2.0:User";
        let before = map(json!({"userName": "a", urn: {"number": 7}}));
        assert!(
            check_immutable(&registry, ResourceType::User, &before, &map(json!({"userName": "b", urn: {"number": 7}})))
                .is_ok()
        );
        let error =
            check_immutable(&registry, ResourceType::User, &before, &map(json!({"userName": "a", urn: {"number": 8}})))
                .unwrap_err();
        assert_eq!(error.scim_type, Some(crate::ScimType::Mutability));
        let unset = map(json!({"userName": "a"}));
        assert!(check_immutable(&registry, ResourceType::User, &unset, &before).is_ok(), "a first value may be set");
    }

    #[test]
    fn date_times() {
        for ok in ["2026-01-02T03:04:05Z", "2026-01-02T03:04:05.123+02:00", "2026-01-02t03:04:05z"] {
            assert!(chrono_like(ok), "{ok}");
        }
        for bad in
            ["2026-01-02", "2026-01-02T03:04:05", "2026-01-02T03:04:05.Z", "yesterday", "2026-01-02T03:04:05+0200"]
        {
            assert!(!chrono_like(bad), "{bad}");
        }
    }
}
