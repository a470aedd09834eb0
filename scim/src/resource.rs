//! Request bodies of POST and PUT (and the result of a PATCH) → validated resources.
//!
//! Normalization, as IdPs need it: `null` values are dropped, read-only noise (`id`, `meta`,
//! `schemas`, `groups`) and the write-only `password` are removed rather than rejected, attribute
//! names take their canonical spelling, and booleans sent as "True"/"False" become booleans.
//! Unknown attributes and extension URNs are kept as sent.

use serde_json::{Map, Value};

use crate::error::ScimError;
use crate::filter::as_bool;
use crate::schema::{ResourceType, canonical_sub_attribute};

/// A User ready to store: the fields the store indexes, and every attribute as normalized JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct UserInput {
    pub user_name: String,
    pub external_id: Option<String>,
    pub active: bool,
    pub display_name: Option<String>,
    pub attributes: Map<String, Value>,
}

impl UserInput {
    /// A POST or PUT body. A user is active unless the body says otherwise, and a created or
    /// replaced user says so (Okta's checks expect `active` on every user); a PATCH may still
    /// remove the attribute.
    pub fn from_body(body: Value) -> Result<Self, ScimError> {
        let mut attributes = normalize(ResourceType::User, body)?;
        attributes.entry("active").or_insert(Value::Bool(true));
        Self::from_attributes(attributes)
    }

    /// Normalized attributes (for instance after a PATCH): checks and extracts what is indexed.
    /// Read-only and write-only attributes (`password`, `groups`, …) are dropped here too, so
    /// that no path (POST, PUT or PATCH) stores them.
    pub fn from_attributes(mut attributes: Map<String, Value>) -> Result<Self, ScimError> {
        attributes.retain(|name, _| !is_ignored_on_write(ResourceType::User, name));
        for (name, value) in &attributes {
            let primaries = value
                .as_array()
                .map(|items| {
                    items.iter().filter(|i| crate::filter::lookup(i, "primary") == Some(&Value::Bool(true))).count()
                })
                .unwrap_or(0);
            if primaries > 1 {
                return Err(ScimError::invalid_value(format!("at most one value of '{name}' may be primary")));
            }
        }
        let user_name = required_string(&attributes, "userName")?;
        let active = match attributes.get("active") {
            None => true,
            Some(value) => as_bool(value).ok_or_else(|| ScimError::invalid_value("'active' must be a boolean"))?,
        };
        Ok(Self {
            user_name,
            external_id: optional_string(&attributes, "externalId")?,
            active,
            display_name: optional_string(&attributes, "displayName")?,
            attributes,
        })
    }
}

/// A Group ready to store. Members are kept apart: the store keeps them as rows.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupInput {
    pub display_name: String,
    pub external_id: Option<String>,
    pub member_ids: Vec<String>,
    /// The attributes without `members`.
    pub attributes: Map<String, Value>,
}

impl GroupInput {
    pub fn from_body(body: Value) -> Result<Self, ScimError> {
        let mut attributes = normalize(ResourceType::Group, body)?;
        let member_ids = match attributes.remove("members") {
            None => Vec::new(),
            Some(members) => member_ids(&members)?,
        };
        Self::from_attributes(attributes, member_ids)
    }

    pub fn from_attributes(mut attributes: Map<String, Value>, member_ids: Vec<String>) -> Result<Self, ScimError> {
        attributes.retain(|name, _| !is_ignored_on_write(ResourceType::Group, name) && name != "members");
        Ok(Self {
            display_name: required_string(&attributes, "displayName")?,
            external_id: optional_string(&attributes, "externalId")?,
            member_ids,
            attributes,
        })
    }
}

/// The most member values one request may name: a group's POST or PUT body, or all the
/// operations of a PATCH. Twice the 100,000-member groups this service is built for; a request
/// over it is refused before any member is looked at.
pub const MAX_MEMBERS_PER_REQUEST: usize = 200_000;

/// 413 when a request names more than [`MAX_MEMBERS_PER_REQUEST`] members.
pub fn check_member_count(count: usize) -> Result<(), ScimError> {
    if count > MAX_MEMBERS_PER_REQUEST {
        return Err(ScimError::new(
            413,
            None,
            format!(
                "a request may name at most {MAX_MEMBERS_PER_REQUEST} members, this one {count}: send the \
                 rest in further PATCH requests"
            ),
        ));
    }
    Ok(())
}

/// The ids of a `members` value: an array of `{"value": id, ...}` objects, or one such object.
pub fn member_ids(members: &Value) -> Result<Vec<String>, ScimError> {
    let items: Vec<&Value> = match members {
        Value::Array(items) => items.iter().collect(),
        Value::Object(_) => vec![members],
        Value::Null => Vec::new(),
        _ => return Err(ScimError::invalid_value("'members' must be a list of {\"value\": id} objects")),
    };
    check_member_count(items.len())?;
    // Duplicates are dropped in one pass (a set of those seen): linear in the list's length.
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    let mut ids: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let id = crate::filter::lookup(item, "value")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| ScimError::invalid_value("each member needs a string 'value' holding the member's id"))?;
        if seen.insert(id) {
            ids.push(id.to_owned());
        }
    }
    Ok(ids)
}

/// The normalized attributes of a POST or PUT body.
pub fn normalize(kind: ResourceType, body: Value) -> Result<Map<String, Value>, ScimError> {
    let Value::Object(object) = body else {
        return Err(ScimError::invalid_syntax(format!("a {} must be a JSON object", kind.name())));
    };
    let mut attributes = Map::new();
    for (key, value) in object {
        if value.is_null() {
            continue;
        }
        let name = kind.canonical_attribute(&key);
        if is_ignored_on_write(kind, &name) {
            continue;
        }
        if name == kind.core_schema() {
            // A client that nests core attributes under their own URN.
            attributes.extend(normalize(kind, value)?);
            continue;
        }
        // Entra's older samples put `manager` at the top level: it is the enterprise manager.
        let (name, value) = if kind == ResourceType::User && name.eq_ignore_ascii_case("manager") {
            (crate::schema::ENTERPRISE_USER.to_owned(), serde_json::json!({ "manager": value }))
        } else {
            (name, value)
        };
        let value = normalize_value(&name, value);
        if value.is_null() {
            continue;
        }
        // One value where the schema has a list (`"emails": {…}`): stored as a list of one.
        let multi_valued = kind.core_schema_def().attribute(&name).is_some_and(|a| a.multi_valued);
        let value = if multi_valued && !value.is_array() { Value::Array(vec![value]) } else { value };
        match (attributes.get_mut(&name), value) {
            // The same extension under two spellings (the malformed enterprise URN): merged.
            (Some(Value::Object(existing)), Value::Object(more)) => existing.extend(more),
            (_, value) => {
                attributes.insert(name, value);
            }
        }
    }
    Ok(attributes)
}

fn is_ignored_on_write(kind: ResourceType, name: &str) -> bool {
    ["id", "meta", "schemas"].iter().any(|n| n.eq_ignore_ascii_case(name))
        || (kind == ResourceType::User && ["groups", "password"].iter().any(|n| n.eq_ignore_ascii_case(name)))
}

/// Drops nulls, canonicalizes sub-attribute names and coerces string booleans, recursively.
/// The enterprise `manager` arrives as a bare id, as `{"value": id}` or as a one-element list
/// (Entra sends all three): it is stored as `{"value": id}`, and `""` means no manager.
pub fn normalize_value(name: &str, value: Value) -> Value {
    if name == "manager" {
        return match value {
            Value::String(id) if id.trim().is_empty() => Value::Null,
            Value::String(id) => serde_json::json!({ "value": id }),
            Value::Array(mut items) if items.len() == 1 => normalize_value(name, items.remove(0)),
            Value::Object(object)
                if crate::filter::lookup(&Value::Object(object.clone()), "value")
                    .is_none_or(|v| v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty())) =>
            {
                Value::Null
            }
            other => normalize_object_or_scalar(name, other),
        };
    }
    normalize_object_or_scalar(name, value)
}

fn normalize_object_or_scalar(name: &str, value: Value) -> Value {
    match value {
        Value::Object(object) => Value::Object(
            object
                .into_iter()
                .map(|(k, v)| {
                    let k = if k.starts_with("urn:") { k } else { canonical_sub_attribute(&k) };
                    let v = normalize_value(&k, v);
                    (k, v)
                })
                .filter(|(_, v)| !v.is_null())
                .collect(),
        ),
        Value::Array(items) => {
            Value::Array(items.into_iter().filter(|v| !v.is_null()).map(|v| normalize_value(name, v)).collect())
        }
        Value::String(_) if is_boolean_attribute(name) => as_bool(&value).map(Value::Bool).unwrap_or(value),
        other => other,
    }
}

fn is_boolean_attribute(name: &str) -> bool {
    name.eq_ignore_ascii_case("active") || name.eq_ignore_ascii_case("primary")
}

fn required_string(attributes: &Map<String, Value>, name: &str) -> Result<String, ScimError> {
    match attributes.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(Value::String(_)) | None => Err(ScimError::invalid_value(format!("'{name}' is required"))),
        Some(_) => Err(ScimError::invalid_value(format!("'{name}' must be a string"))),
    }
}

fn optional_string(attributes: &Map<String, Value>, name: &str) -> Result<Option<String>, ScimError> {
    match attributes.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ScimError::invalid_value(format!("'{name}' must be a string"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn user_body_is_normalized() {
        let user = UserInput::from_body(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "client-chosen",
            "meta": {"resourceType": "User"},
            "UserName": "bjensen@example.com",
            "externalId": "abc",
            "active": "False",
            "password": "secret",
            "addresses": null,
            "name": {"GivenName": "Barbara", "familyName": null},
            "emails": [{"primary": "True", "Value": "b@example.com", "type": "work"}]
        }))
        .unwrap();
        assert_eq!(user.user_name, "bjensen@example.com");
        assert_eq!(user.external_id.as_deref(), Some("abc"));
        assert!(!user.active);
        assert_eq!(
            Value::Object(user.attributes),
            json!({
                "userName": "bjensen@example.com",
                "externalId": "abc",
                "active": false,
                "name": {"givenName": "Barbara"},
                "emails": [{"primary": true, "value": "b@example.com", "type": "work"}]
            })
        );
    }

    #[test]
    fn user_name_is_required() {
        let err = UserInput::from_body(json!({"displayName": "x"})).unwrap_err();
        assert_eq!(err.status, 400);
        assert_eq!(err.scim_type, Some(crate::ScimType::InvalidValue));
        assert!(UserInput::from_body(json!({"userName": "  "})).is_err());
        assert!(UserInput::from_body(json!({"userName": 5})).is_err());
    }

    #[test]
    fn non_object_body_is_invalid_syntax() {
        let err = UserInput::from_body(json!([1, 2])).unwrap_err();
        assert_eq!(err.scim_type, Some(crate::ScimType::InvalidSyntax));
    }

    #[test]
    fn group_members_are_split_out() {
        let group = GroupInput::from_body(json!({
            "displayName": "Team",
            "members": [{"value": "u1"}, {"value": "u2", "display": "x"}, {"value": "u1"}]
        }))
        .unwrap();
        assert_eq!(group.member_ids, vec!["u1", "u2"]);
        assert!(group.attributes.get("members").is_none());
    }

    #[test]
    fn a_single_value_of_a_multi_valued_attribute_becomes_a_list() {
        let user = UserInput::from_body(json!({"userName": "a", "emails": {"value": "a@x", "type": "work"}})).unwrap();
        assert_eq!(user.attributes["emails"], json!([{"value": "a@x", "type": "work"}]));
    }

    #[test]
    fn member_without_value_is_rejected() {
        assert!(GroupInput::from_body(json!({"displayName": "T", "members": [{"display": "x"}]})).is_err());
    }
}
