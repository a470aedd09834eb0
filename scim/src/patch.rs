//! PATCH (RFC 7644 §3.5.2): request parsing, path parsing, and application to a resource's
//! attributes. Applied to a copy by the caller, so a failing operation leaves nothing half-done.
//!
//! Dialects: `op` in any case (Entra sends `Add`/`Replace`/`Remove`), path-less operations whose
//! value holds plain, dotted (`name.givenName`) or URN-qualified keys, and `add`/`replace` through
//! a value filter that matches nothing, which creates the element (`emails[type eq "work"].value`).

use serde_json::{Map, Value};

use crate::error::ScimError;
use crate::filter::{AttrPath, CompareOp, Filter, lookup};
use crate::resource::{member_ids, normalize_value};
use crate::schema::{ENTERPRISE_USER, ResourceType, canonical_sub_attribute};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchOp {
    Add,
    Remove,
    Replace,
}

impl PatchOp {
    pub fn parse(text: &str) -> Result<Self, ScimError> {
        match text.to_ascii_lowercase().as_str() {
            "add" => Ok(PatchOp::Add),
            "remove" => Ok(PatchOp::Remove),
            "replace" => Ok(PatchOp::Replace),
            _ => Err(ScimError::invalid_syntax(format!("'{text}' is not a PATCH op (add, remove, replace)"))),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    pub op: PatchOp,
    pub path: Option<String>,
    pub value: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchRequest {
    pub operations: Vec<PatchOperation>,
}

/// The most operations one PATCH may hold, counted after each path-less operation expands into
/// one per key of its value.
pub const MAX_OPERATIONS: usize = 1000;

impl PatchRequest {
    /// A PatchOp message body. Member names are matched case-insensitively.
    pub fn from_body(body: &Value) -> Result<Self, ScimError> {
        let operations = lookup(body, "Operations")
            .and_then(Value::as_array)
            .ok_or_else(|| ScimError::invalid_syntax("a PATCH body needs an 'Operations' array"))?;
        if operations.len() > MAX_OPERATIONS {
            return Err(too_many_operations(operations.len()));
        }
        let operations = operations
            .iter()
            .map(|operation| {
                let op = lookup(operation, "op")
                    .and_then(Value::as_str)
                    .ok_or_else(|| ScimError::invalid_syntax("each operation needs an 'op'"))?;
                let op = PatchOp::parse(op)?;
                let path = match lookup(operation, "path") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(path)) if path.trim().is_empty() => None,
                    Some(Value::String(path)) => {
                        PatchPath::parse(path)?;
                        Some(path.trim().to_owned())
                    }
                    Some(_) => return Err(ScimError::invalid_path("'path' must be a string")),
                };
                let value = lookup(operation, "value").cloned();
                if op != PatchOp::Remove && value.is_none() {
                    return Err(ScimError::invalid_value(format!("'{op:?}' needs a 'value'").to_lowercase()));
                }
                if op == PatchOp::Remove && path.is_none() {
                    return Err(ScimError::no_target("'remove' needs a 'path'"));
                }
                Ok(PatchOperation { op, path, value })
            })
            .collect::<Result<Vec<_>, ScimError>>()?;
        check_bounds(&operations)?;
        Ok(Self { operations })
    }
}

fn too_many_operations(count: usize) -> ScimError {
    ScimError::invalid_value(format!("a PATCH holds at most {MAX_OPERATIONS} operations, this one {count}"))
}

/// Refuses a PATCH over the bounds of one request, before any of it is applied: more than
/// [`MAX_OPERATIONS`] operations once path-less ones are expanded (one per key), or more than
/// [`crate::resource::MAX_MEMBERS_PER_REQUEST`] member values in all. Counted without copying.
pub fn check_bounds(operations: &[PatchOperation]) -> Result<(), ScimError> {
    let is_members = |name: &str| name.trim().get(..7).is_some_and(|head| head.eq_ignore_ascii_case("members"));
    let values = |value: Option<&Value>| match value {
        Some(Value::Array(items)) => items.len(),
        Some(_) => 1,
        None => 0,
    };
    let (mut expanded, mut members) = (0usize, 0usize);
    for operation in operations {
        match (&operation.path, &operation.value) {
            (None, Some(Value::Object(object))) => {
                expanded += object.len();
                members +=
                    object.iter().filter(|(key, _)| is_members(key)).map(|(_, v)| values(Some(v))).sum::<usize>();
            }
            (path, value) => {
                expanded += 1;
                if path.as_deref().is_some_and(is_members) {
                    members += values(value.as_ref());
                }
            }
        }
    }
    if expanded > MAX_OPERATIONS {
        return Err(too_many_operations(expanded));
    }
    crate::resource::check_member_count(members)
}

impl PatchOperation {
    /// A path-less operation becomes one operation per key of its value, each with that key as
    /// its path; an operation with a path stays as it is.
    pub fn expand(self) -> Result<Vec<PatchOperation>, ScimError> {
        if self.path.is_some() {
            return Ok(vec![self]);
        }
        let Some(Value::Object(object)) = self.value else {
            return Err(ScimError::invalid_value("an operation without 'path' needs an object 'value'"));
        };
        Ok(object
            .into_iter()
            .filter(|(key, _)| !matches!(key.to_ascii_lowercase().as_str(), "schemas" | "id" | "meta"))
            .map(|(key, value)| PatchOperation { op: self.op, path: Some(key), value: Some(value) })
            .collect())
    }
}

/// `attr`, `attr.sub`, `attr[filter]`, `attr[filter].sub`, each optionally URN-qualified, or a
/// whole extension URN.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
    pub sub: Option<String>,
    /// The path names a whole extension object (`urn:...:enterprise:2.0:User`).
    pub extension: Option<String>,
}

impl PatchPath {
    pub fn parse(text: &str) -> Result<Self, ScimError> {
        let text = text.trim();
        if is_extension_urn(text) {
            return Ok(Self { attr: AttrPath::new(text), filter: None, sub: None, extension: Some(text.to_owned()) });
        }
        let Some(open) = text.find('[') else {
            let attr = AttrPath::parse(text)?;
            return Ok(Self { sub: None, filter: None, attr, extension: None });
        };
        let close = text.rfind(']').ok_or_else(|| ScimError::invalid_path(format!("missing ']' in '{text}'")))?;
        if close < open {
            return Err(ScimError::invalid_path(format!("'{text}' is not a valid path")));
        }
        let attr = AttrPath::parse(&text[..open])?;
        if attr.sub.is_some() {
            return Err(ScimError::invalid_path(format!("'{text}': a value filter follows an attribute name")));
        }
        let filter = Filter::parse(&text[open + 1..close])
            .map_err(|e| ScimError::invalid_path(format!("invalid value filter in '{text}': {}", e.detail)))?;
        let rest = &text[close + 1..];
        let sub = match rest.strip_prefix('.') {
            None if rest.is_empty() => None,
            Some(sub) if AttrPath::parse(sub).is_ok_and(|p| p.sub.is_none() && p.schema.is_none()) => {
                Some(sub.to_owned())
            }
            _ => return Err(ScimError::invalid_path(format!("'{text}' is not a valid path"))),
        };
        Ok(Self { attr, filter: Some(filter), sub, extension: None })
    }

    /// True when the path targets `members` (any form).
    pub fn is_members(&self) -> bool {
        self.extension.is_none() && self.attr.name.eq_ignore_ascii_case("members") && self.attr.schema.is_none()
    }
}

fn is_extension_urn(text: &str) -> bool {
    if !text.to_ascii_lowercase().starts_with("urn:") {
        return false;
    }
    // `urn:...:2.0:User` names a schema; `urn:...:2.0:User:attr` names an attribute in it.
    let last = text.rsplit(':').next().unwrap_or("");
    text.eq_ignore_ascii_case(ENTERPRISE_USER)
        || (last.chars().next().is_some_and(|c| c.is_ascii_uppercase()) && text.contains(":2.0:"))
}

/// What a PATCH operation does to a group's membership rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberChange {
    Add(Vec<String>),
    Remove(Vec<String>),
    RemoveAll,
    Replace(Vec<String>),
}

/// The membership change of an (expanded) operation on `members`, or `None` when the operation
/// targets another attribute.
pub fn member_change(operation: &PatchOperation) -> Result<Option<MemberChange>, ScimError> {
    let Some(path) = &operation.path else { return Ok(None) };
    let path = PatchPath::parse(path)?;
    if !path.is_members() {
        return Ok(None);
    }
    let listed = || member_ids(operation.value.as_ref().unwrap_or(&Value::Null));
    let change = match (&path.filter, &path.sub, operation.op) {
        (None, None, PatchOp::Add) => MemberChange::Add(listed()?),
        (None, None, PatchOp::Replace) => MemberChange::Replace(listed()?),
        // Entra's default dialect lists the members to remove in `value`: remove only those.
        (None, None, PatchOp::Remove) => match &operation.value {
            None | Some(Value::Null) => MemberChange::RemoveAll,
            Some(_) => MemberChange::Remove(listed()?),
        },
        (Some(filter), None, PatchOp::Remove) => MemberChange::Remove(filter_member_ids(filter)?),
        _ => {
            return Err(ScimError::invalid_path(
                "members are changed with add, replace or remove on 'members', or remove on 'members[value eq \"id\"]'",
            ));
        }
    };
    Ok(Some(change))
}

/// The ids of `value eq "a" or value eq "b"`.
fn filter_member_ids(filter: &Filter) -> Result<Vec<String>, ScimError> {
    match filter {
        Filter::Compare { path, op: CompareOp::Eq, value: Value::String(id) } if path.is("value") => {
            Ok(vec![id.clone()])
        }
        Filter::Or(a, b) => {
            let mut ids = filter_member_ids(a)?;
            ids.extend(filter_member_ids(b)?);
            Ok(ids)
        }
        _ => Err(ScimError::invalid_path("a members filter must be 'value eq \"id\"' (or several joined by 'or')")),
    }
}

/// Applies one (expanded) operation to a resource's attributes.
pub fn apply(
    kind: ResourceType,
    attributes: &mut Map<String, Value>,
    operation: &PatchOperation,
) -> Result<(), ScimError> {
    let Some(path_text) = &operation.path else {
        return Err(ScimError::no_target("the operation has no path; expand it first"));
    };
    let mut path = PatchPath::parse(path_text)?;
    // MS-Tutorial's `"path": "manager"`: the enterprise manager (the core schema has none).
    if kind == ResourceType::User
        && path.extension.is_none()
        && path.attr.schema.is_none()
        && path.attr.name.eq_ignore_ascii_case("manager")
    {
        path.attr.schema = Some(ENTERPRISE_USER.to_owned());
    }
    // Normalized as the attribute it lands in: `emails[…].primary` takes "True" as a boolean.
    let leaf = path.sub.as_deref().or(path.attr.sub.as_deref()).unwrap_or(&path.attr.name);
    let value = operation.value.clone().map(|v| normalize_value(leaf, v));
    let value = match (operation.op, value) {
        // An add or replace of null, or of "" for a reference, clears the attribute.
        (PatchOp::Add | PatchOp::Replace, Some(Value::Null) | None) => None,
        (_, value) => value,
    };
    let op = if operation.op != PatchOp::Remove && value.is_none() { PatchOp::Remove } else { operation.op };

    if let Some(urn) = &path.extension {
        let key = existing_key(attributes, urn).unwrap_or_else(|| kind.canonical_attribute(urn));
        return apply_at(attributes, &key, None, None, op, value, path_text);
    }
    let extension_key = match &path.attr.schema {
        Some(schema) if !is_core_schema(schema) => {
            let key = existing_key(attributes, schema).unwrap_or_else(|| kind.canonical_attribute(schema));
            if op == PatchOp::Remove && !attributes.contains_key(&key) {
                return Ok(());
            }
            Some(key)
        }
        _ => None,
    };
    let container: &mut Map<String, Value> = match &extension_key {
        Some(key) => {
            let entry = attributes.entry(key.clone()).or_insert_with(|| Value::Object(Map::new()));
            entry.as_object_mut().ok_or_else(|| ScimError::invalid_path(format!("'{path_text}' is not an object")))?
        }
        None => attributes,
    };
    let name = existing_key(container, &path.attr.name).unwrap_or_else(|| match &path.attr.schema {
        Some(schema) if !is_core_schema(schema) => path.attr.name.clone(),
        _ => kind.canonical_attribute(&path.attr.name),
    });
    if matches!(name.as_str(), "id" | "meta" | "schemas") {
        return Err(ScimError::mutability(format!("'{name}' is read-only")));
    }
    let sub = path.attr.sub.as_deref().or(path.sub.as_deref());
    apply_at(container, &name, path.filter.as_ref(), sub, op, value, path_text)?;
    // An extension left without attributes goes.
    if let Some(key) = extension_key {
        drop_if_empty(attributes, &key);
    }
    Ok(())
}

fn is_core_schema(schema: &str) -> bool {
    schema.eq_ignore_ascii_case(crate::schema::USER) || schema.eq_ignore_ascii_case(crate::schema::GROUP)
}

fn existing_key(map: &Map<String, Value>, name: &str) -> Option<String> {
    map.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

fn apply_at(
    container: &mut Map<String, Value>,
    name: &str,
    filter: Option<&Filter>,
    sub: Option<&str>,
    op: PatchOp,
    value: Option<Value>,
    path_text: &str,
) -> Result<(), ScimError> {
    match (filter, sub) {
        (None, None) => {
            match (op, value) {
                (PatchOp::Remove, Some(Value::Array(listed))) if container.get(name).is_some_and(Value::is_array) => {
                    // Remove only the listed values of a multi-valued attribute.
                    if let Some(Value::Array(items)) = container.get_mut(name) {
                        items.retain(|item| !listed.iter().any(|l| same_value(item, l)));
                    }
                }
                (PatchOp::Remove, _) => {
                    container.remove(name);
                }
                (op, Some(value)) => set_value(container, name, op, value),
                (_, None) => {}
            }
            drop_if_empty(container, name);
            Ok(())
        }
        (None, Some(sub)) => {
            let sub = existing_sub_key(container.get(name), sub);
            match op {
                PatchOp::Remove => {
                    if let Some(Value::Object(object)) = container.get_mut(name) {
                        object.remove(&sub);
                    }
                }
                _ => {
                    let entry = container.entry(name.to_owned()).or_insert_with(|| Value::Object(Map::new()));
                    let object = entry.as_object_mut().ok_or_else(|| {
                        ScimError::invalid_path(format!("'{path_text}': '{name}' has no sub-attributes"))
                    })?;
                    if let Some(value) = value {
                        object.insert(sub, value);
                    }
                }
            }
            drop_if_empty(container, name);
            Ok(())
        }
        (Some(filter), sub) => {
            let entry = container.entry(name.to_owned()).or_insert_with(|| Value::Array(Vec::new()));
            let Value::Array(items) = entry else {
                return Err(ScimError::invalid_path(format!("'{path_text}': '{name}' is not multi-valued")));
            };
            let matched: Vec<usize> = (0..items.len()).filter(|&i| filter.matches(&items[i])).collect();
            match (op, sub) {
                (PatchOp::Remove, None) => {
                    let mut index = 0;
                    items.retain(|_| {
                        let keep = !matched.contains(&index);
                        index += 1;
                        keep
                    });
                }
                (PatchOp::Remove, Some(sub)) => {
                    for &i in &matched {
                        if let Some(object) = items[i].as_object_mut() {
                            let key = existing_key(object, sub).unwrap_or_else(|| canonical_sub_attribute(sub));
                            object.remove(&key);
                        }
                    }
                }
                (_, sub) if matched.is_empty() => {
                    // Entra: an add or replace through a filter that matches nothing creates the element.
                    let mut element = match sub {
                        Some(_) => Map::new(),
                        None => match &value {
                            Some(Value::Object(object)) => object.clone(),
                            _ => return Err(ScimError::invalid_value(format!("'{path_text}' needs an object value"))),
                        },
                    };
                    seed_from_filter(filter, &mut element)?;
                    if let (Some(sub), Some(value)) = (sub, value) {
                        element.insert(canonical_sub_attribute(sub), value);
                    }
                    items.push(Value::Object(element));
                }
                (_, Some(sub)) => {
                    for &i in &matched {
                        if let (Some(object), Some(value)) = (items[i].as_object_mut(), value.clone()) {
                            let key = existing_key(object, sub).unwrap_or_else(|| canonical_sub_attribute(sub));
                            object.insert(key, value);
                        }
                    }
                }
                (_, None) => {
                    for &i in &matched {
                        match (&mut items[i], value.clone()) {
                            (Value::Object(object), Some(Value::Object(update))) => object.extend(update),
                            (item, Some(value)) => *item = value,
                            (_, None) => {}
                        }
                    }
                }
            }
            drop_if_empty(container, name);
            Ok(())
        }
    }
}

fn existing_sub_key(parent: Option<&Value>, sub: &str) -> String {
    parent
        .and_then(Value::as_object)
        .and_then(|object| existing_key(object, sub))
        .unwrap_or_else(|| canonical_sub_attribute(sub))
}

/// The attributes a created element gets from its filter: `type eq "work"` → `"type": "work"`.
fn seed_from_filter(filter: &Filter, element: &mut Map<String, Value>) -> Result<(), ScimError> {
    match filter {
        Filter::Compare { path, op: CompareOp::Eq, value } if path.sub.is_none() => {
            let value = normalize_value(&path.name, value.clone());
            element.insert(canonical_sub_attribute(&path.name), value);
            Ok(())
        }
        Filter::And(a, b) => {
            seed_from_filter(a, element)?;
            seed_from_filter(b, element)
        }
        _ => Err(ScimError::no_target("the value filter matches nothing and does not say what to create")),
    }
}

fn set_value(container: &mut Map<String, Value>, name: &str, op: PatchOp, value: Value) {
    match (container.get_mut(name), op, value) {
        (Some(Value::Array(items)), PatchOp::Add, Value::Array(new)) => {
            for item in new {
                if !items.iter().any(|existing| same_value(existing, &item)) {
                    items.push(item);
                }
            }
        }
        (Some(Value::Array(items)), PatchOp::Add, item) => {
            if !items.iter().any(|existing| same_value(existing, &item)) {
                items.push(item);
            }
        }
        // A complex attribute: the sub-attributes given replace theirs, the others stay.
        (Some(Value::Object(object)), _, Value::Object(update)) => {
            for (key, value) in update {
                let key = existing_key(object, &key).unwrap_or(key);
                if value.is_null() {
                    object.remove(&key);
                } else {
                    object.insert(key, value);
                }
            }
        }
        (_, _, value) => {
            container.insert(name.to_owned(), value);
        }
    }
}

/// Two values of a multi-valued attribute are the same when their `value`s are (or, without a
/// `value`, when they are equal).
fn same_value(a: &Value, b: &Value) -> bool {
    match (lookup(a, "value"), lookup(b, "value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn drop_if_empty(container: &mut Map<String, Value>, name: &str) {
    let empty = match container.get(name) {
        Some(Value::Array(items)) => items.is_empty(),
        Some(Value::Object(object)) => object.is_empty(),
        Some(Value::String(s)) => s.is_empty(),
        _ => false,
    };
    if empty {
        container.remove(name);
    }
}

/// Applies a whole PATCH to a user's attributes; the result is validated like a PUT body.
pub fn patch_user(
    mut attributes: Map<String, Value>,
    operations: Vec<PatchOperation>,
) -> Result<crate::UserInput, ScimError> {
    check_bounds(&operations)?;
    for operation in operations {
        for operation in operation.expand()? {
            // Only the primary values are kept from before (not a copy of the resource).
            let before = primary_values(&attributes);
            apply(ResourceType::User, &mut attributes, &operation)?;
            keep_one_primary(&before, &mut attributes);
        }
    }
    crate::UserInput::from_attributes(attributes)
}

fn is_primary(item: &Value) -> bool {
    lookup(item, "primary").and_then(crate::filter::as_bool) == Some(true)
}

/// The values marked primary of each multi-valued attribute.
fn primary_values(attributes: &Map<String, Value>) -> Vec<(String, Vec<Value>)> {
    attributes
        .iter()
        .filter_map(|(name, value)| {
            let primary: Vec<Value> = value.as_array()?.iter().filter(|item| is_primary(item)).cloned().collect();
            (!primary.is_empty()).then(|| (name.clone(), primary))
        })
        .collect()
}

/// At most one value of a multi-valued attribute is primary (RFC 7643 §2.4): when an operation
/// makes a value primary, the others stop being primary.
fn keep_one_primary(before: &[(String, Vec<Value>)], attributes: &mut Map<String, Value>) {
    for (name, value) in attributes.iter_mut() {
        let Value::Array(items) = value else { continue };
        if items.iter().filter(|item| is_primary(item)).count() <= 1 {
            continue;
        }
        let was_primary: Vec<&Value> =
            before.iter().find(|(old, _)| old == name).map(|(_, values)| values.iter().collect()).unwrap_or_default();
        // The newly primary value wins (the last one if several); the others are cleared.
        let winner = items
            .iter()
            .rposition(|item| is_primary(item) && !was_primary.contains(&item))
            .or_else(|| items.iter().rposition(is_primary));
        for (index, item) in items.iter_mut().enumerate() {
            if Some(index) != winner
                && is_primary(item)
                && let Some(object) = item.as_object_mut()
            {
                object.insert("primary".into(), Value::Bool(false));
            }
        }
    }
}

/// Applies a whole PATCH to a group: operations on `members` change the member list, the
/// others the attributes.
pub fn patch_group(
    attributes: Map<String, Value>,
    mut members: Vec<String>,
    operations: Vec<PatchOperation>,
) -> Result<crate::GroupInput, ScimError> {
    let (attributes, changes) = patch_group_parts(attributes, operations)?;
    for change in changes {
        change.apply(&mut members);
    }
    crate::GroupInput::from_attributes(attributes, members)
}

/// A group PATCH in two parts: the attributes (but `members`) as patched, and what it does to
/// the membership, in order, left for the caller to resolve against its member rows (so that a
/// PATCH adding one member never needs the whole list).
pub fn patch_group_parts(
    mut attributes: Map<String, Value>,
    operations: Vec<PatchOperation>,
) -> Result<(Map<String, Value>, Vec<MemberChange>), ScimError> {
    check_bounds(&operations)?;
    let mut changes = Vec::new();
    for operation in operations {
        for operation in operation.expand()? {
            match member_change(&operation)? {
                Some(change) => changes.push(change),
                None => apply(ResourceType::Group, &mut attributes, &operation)?,
            }
        }
    }
    Ok((attributes, changes))
}

impl MemberChange {
    pub fn apply(self, members: &mut Vec<String>) {
        match self {
            MemberChange::Add(ids) => {
                let mut present: std::collections::HashSet<String> = members.iter().cloned().collect();
                for id in ids {
                    if present.insert(id.clone()) {
                        members.push(id);
                    }
                }
            }
            MemberChange::Remove(ids) => {
                let gone: std::collections::HashSet<&String> = ids.iter().collect();
                members.retain(|m| !gone.contains(m));
            }
            MemberChange::RemoveAll => members.clear(),
            MemberChange::Replace(ids) => *members = ids,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(resource: Value, body: Value) -> Result<Value, ScimError> {
        let Value::Object(attributes) = resource else { panic!() };
        let user = patch_user(attributes, PatchRequest::from_body(&body)?.operations)?;
        Ok(Value::Object(user.attributes))
    }

    fn ops(ops: Value) -> Value {
        json!({"schemas": [crate::schema::PATCH_OP], "Operations": ops})
    }

    #[test]
    fn replace_active_with_entra_string_boolean() {
        let out = patch(
            json!({"userName": "a", "active": true}),
            ops(json!([{"op": "Replace", "path": "active", "value": "False"}])),
        )
        .unwrap();
        assert_eq!(out["active"], json!(false));
    }

    #[test]
    fn pathless_replace_with_dotted_and_plain_keys() {
        let out = patch(
            json!({"userName": "a", "name": {"givenName": "A", "familyName": "B"}}),
            ops(json!([{"op": "replace", "value": {"active": false, "name.givenName": "Z", "displayName": "Z B"}}])),
        )
        .unwrap();
        assert_eq!(out["active"], json!(false));
        assert_eq!(out["name"], json!({"givenName": "Z", "familyName": "B"}));
        assert_eq!(out["displayName"], json!("Z B"));
    }

    #[test]
    fn replace_sub_attribute_with_path() {
        let out = patch(
            json!({"userName": "a", "name": {"givenName": "A"}}),
            ops(json!([{"op": "replace", "path": "name.familyName", "value": "F"}, {"op": "replace", "path": "userName", "value": "b"}])),
        )
        .unwrap();
        assert_eq!(out["name"], json!({"givenName": "A", "familyName": "F"}));
        assert_eq!(out["userName"], json!("b"));
    }

    #[test]
    fn replace_of_complex_merges_sub_attributes() {
        let out = patch(
            json!({"userName": "a", "name": {"givenName": "A", "familyName": "B"}}),
            ops(json!([{"op": "replace", "path": "name", "value": {"givenName": "C"}}])),
        )
        .unwrap();
        assert_eq!(out["name"], json!({"givenName": "C", "familyName": "B"}));
    }

    #[test]
    fn filtered_add_creates_missing_element() {
        let out = patch(
            json!({"userName": "a"}),
            ops(json!([{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "a@x.com"}])),
        )
        .unwrap();
        assert_eq!(out["emails"], json!([{"type": "work", "value": "a@x.com"}]));
        let out =
            patch(out, ops(json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "b@x.com"}])))
                .unwrap();
        assert_eq!(out["emails"], json!([{"type": "work", "value": "b@x.com"}]));
    }

    #[test]
    fn a_patched_password_is_never_stored() {
        let body = ops(json!([{"op": "replace", "value": {"password": "hunter2", "nickName": "n"}},
            {"op": "add", "path": "Password", "value": "again"}]));
        let operations = PatchRequest::from_body(&body).unwrap().operations;
        let attributes = json!({"userName": "a"}).as_object().unwrap().clone();
        let user = patch_user(attributes, operations).unwrap();
        assert_eq!(Value::Object(user.attributes), json!({"userName": "a", "nickName": "n"}));
    }

    #[test]
    fn a_new_primary_clears_the_old_one() {
        let user = json!({"userName": "a", "emails": [{"value": "old@x", "primary": true}]});
        let out =
            patch(user, ops(json!([{"op": "add", "path": "emails", "value": [{"value": "new@x", "primary": true}]}])))
                .unwrap();
        assert_eq!(out["emails"], json!([{"value": "old@x", "primary": false}, {"value": "new@x", "primary": true}]));
        let out =
            patch(out, ops(json!([{"op": "replace", "path": "emails[value eq \"old@x\"].primary", "value": "True"}])))
                .unwrap();
        assert_eq!(out["emails"], json!([{"value": "old@x", "primary": true}, {"value": "new@x", "primary": false}]));
    }

    #[test]
    fn unqualified_manager_is_the_enterprise_manager() {
        let body = ops(json!([{"op": "Add", "path": "manager", "value": [{"$ref": "x", "value": "boss"}]}]));
        let out = patch(json!({"userName": "a"}), body).unwrap();
        assert_eq!(out[ENTERPRISE_USER]["manager"]["value"], "boss");
        assert!(out.get("manager").is_none());
        let out = patch(out, ops(json!([{"op": "Replace", "path": "manager", "value": ""}]))).unwrap();
        assert!(out.get(ENTERPRISE_USER).is_none(), "{out}");
    }

    #[test]
    fn empty_member_removal_list_removes_nobody() {
        let remove_none = PatchOperation { op: PatchOp::Remove, path: Some("members".into()), value: Some(json!([])) };
        assert_eq!(member_change(&remove_none).unwrap(), Some(MemberChange::Remove(Vec::new())));
    }

    #[test]
    fn remove_attribute_and_read_only_paths() {
        let out =
            patch(json!({"userName": "a", "title": "t"}), ops(json!([{"op": "remove", "path": "title"}]))).unwrap();
        assert!(out.get("title").is_none());
        let err =
            patch(json!({"userName": "a"}), ops(json!([{"op": "replace", "path": "id", "value": "x"}]))).unwrap_err();
        assert_eq!(err.scim_type, Some(crate::ScimType::Mutability));
    }

    #[test]
    fn urn_qualified_path_goes_into_the_extension() {
        let out = patch(json!({"userName": "a"}), ops(json!([{"op": "add", "value": {"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "R&D"}}]))).unwrap();
        assert_eq!(out[ENTERPRISE_USER], json!({"department": "R&D"}));
    }

    #[test]
    fn malformed_bodies_are_rejected() {
        assert_eq!(PatchRequest::from_body(&json!({})).unwrap_err().scim_type, Some(crate::ScimType::InvalidSyntax));
        assert_eq!(
            PatchRequest::from_body(&ops(json!([{"op": "move", "path": "a"}]))).unwrap_err().scim_type,
            Some(crate::ScimType::InvalidSyntax)
        );
        assert_eq!(
            PatchRequest::from_body(&ops(json!([{"op": "remove"}]))).unwrap_err().scim_type,
            Some(crate::ScimType::NoTarget)
        );
        assert_eq!(
            PatchRequest::from_body(&ops(json!([{"op": "add", "path": "emails[type eq", "value": 1}])))
                .unwrap_err()
                .scim_type,
            Some(crate::ScimType::InvalidPath)
        );
    }

    #[test]
    fn group_patch_changes_members_and_attributes() {
        let body = ops(json!([
            {"op": "Add", "path": "members", "value": [{"value": "u2"}, {"value": "u3"}]},
            {"op": "Remove", "path": "members", "value": [{"value": "u1"}]},
            {"op": "Replace", "path": "displayName", "value": "Renamed"}
        ]));
        let operations = PatchRequest::from_body(&body).unwrap().operations;
        let attributes = json!({"displayName": "Team"}).as_object().unwrap().clone();
        let group = patch_group(attributes, vec!["u1".into(), "u2".into()], operations).unwrap();
        assert_eq!(group.member_ids, vec!["u2", "u3"]);
        assert_eq!(group.display_name, "Renamed");
    }

    #[test]
    fn member_changes_in_both_entra_dialects() {
        let remove_listed =
            PatchOperation { op: PatchOp::Remove, path: Some("members".into()), value: Some(json!([{"value": "u1"}])) };
        assert_eq!(member_change(&remove_listed).unwrap(), Some(MemberChange::Remove(vec!["u1".into()])));
        let remove_filtered =
            PatchOperation { op: PatchOp::Remove, path: Some("members[value eq \"u2\"]".into()), value: None };
        assert_eq!(member_change(&remove_filtered).unwrap(), Some(MemberChange::Remove(vec!["u2".into()])));
        let remove_all = PatchOperation { op: PatchOp::Remove, path: Some("Members".into()), value: None };
        assert_eq!(member_change(&remove_all).unwrap(), Some(MemberChange::RemoveAll));
        let add =
            PatchOperation { op: PatchOp::Add, path: Some("members".into()), value: Some(json!([{"value": "u3"}])) };
        assert_eq!(member_change(&add).unwrap(), Some(MemberChange::Add(vec!["u3".into()])));
        let other = PatchOperation { op: PatchOp::Replace, path: Some("displayName".into()), value: Some(json!("x")) };
        assert_eq!(member_change(&other).unwrap(), None);
    }

    #[test]
    fn operations_are_counted_after_expansion_and_members_in_all() {
        let keys: Map<String, Value> = (0..=MAX_OPERATIONS).map(|n| (format!("k{n}"), json!("v"))).collect();
        let body = json!({"Operations": [{"op": "replace", "value": keys}]});
        let error = PatchRequest::from_body(&body).unwrap_err();
        assert_eq!((error.status, error.scim_type), (400, Some(crate::ScimType::InvalidValue)), "{}", error.detail);
        assert!(error.detail.contains("1001"), "{}", error.detail);
        // The core applies the same bound to what it receives (not through from_body).
        let expanded = vec![PatchOperation { op: PatchOp::Replace, path: None, value: Some(Value::Object(keys)) }];
        assert!(patch_user(Map::new(), expanded).is_err());

        let members = |n: usize| Value::Array((0..n).map(|i| json!({"value": format!("u{i}")})).collect());
        let limit = crate::resource::MAX_MEMBERS_PER_REQUEST;
        let half = limit / 2;
        let split = json!({"Operations": [
            {"op": "add", "path": "members", "value": members(half)},
            {"op": "add", "value": {"members": members(half + 1)}}
        ]});
        assert_eq!(PatchRequest::from_body(&split).unwrap_err().status, 413);
        let fits = json!({"Operations": [{"op": "add", "path": "members", "value": members(limit)}]});
        assert!(PatchRequest::from_body(&fits).is_ok());
        assert_eq!(crate::resource::member_ids(&members(limit + 1)).unwrap_err().status, 413);
    }

    #[test]
    fn value_filters_in_paths_are_bounded() {
        let depth = crate::filter::MAX_FILTER_DEPTH;
        let nested = |levels: usize| format!("emails[{}type pr{}].value", "(".repeat(levels), ")".repeat(levels));
        // The path's own brackets are outside the filter's limit.
        assert!(PatchPath::parse(&nested(depth)).is_ok());
        for text in [nested(depth + 1), "emails[".repeat(100_000), format!("emails[{}]", "(".repeat(1_000_000))] {
            let err = PatchPath::parse(&text).unwrap_err();
            assert_eq!(err.scim_type, Some(crate::ScimType::InvalidPath));
        }
    }

    proptest::proptest! {
        #[test]
        fn path_parser_never_panics(text in ".{0,48}") {
            let _ = PatchPath::parse(&text);
        }
    }
}
