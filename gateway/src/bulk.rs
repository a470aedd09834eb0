//! `/Bulk` (RFC 7644 §3.7). Operations run one by one through the same code as the single
//! endpoints, in dependency order: an operation whose data or path names `bulkId:x` runs after
//! the operation that creates `x` (a forward reference included), with the reference replaced by
//! the new id. A cycle, or a reference to an unknown or failed bulkId, fails that operation.
//! `failOnErrors` stops after that many failures; `maxOperations` and `maxPayloadSize`
//! (advertised in /ServiceProviderConfig) answer 413.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::web;
use scim::filter::lookup;
use scim::{ResourceType, ScimError};
use serde_json::{Map, Value, json};

use crate::error::GatewayError;
use crate::render;
use crate::routes::ScimCall;

pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

/// The most operations one request may hold.
pub const MAX_OPERATIONS: u32 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

#[derive(Debug, Clone)]
struct Operation {
    method: Method,
    kind: ResourceType,
    /// The id in the path (PUT, PATCH, DELETE), maybe a `bulkId:` reference.
    id: Option<String>,
    bulk_id: Option<String>,
    version: Option<String>,
    data: Value,
}

/// One operation's outcome, as the BulkResponse lists it.
struct Outcome {
    method: Method,
    bulk_id: Option<String>,
    status: u16,
    location: Option<String>,
    version: Option<String>,
    error: Option<ScimError>,
}

impl Outcome {
    fn failed(operation: &Operation, error: ScimError) -> Self {
        Self {
            method: operation.method,
            bulk_id: operation.bulk_id.clone(),
            status: error.status,
            location: None,
            version: None,
            error: Some(error),
        }
    }

    fn to_json(&self) -> Value {
        let mut out = Map::new();
        if let Some(location) = &self.location {
            out.insert("location".into(), json!(location));
        }
        out.insert("method".into(), json!(self.method.name()));
        if let Some(bulk_id) = &self.bulk_id {
            out.insert("bulkId".into(), json!(bulk_id));
        }
        if let Some(version) = &self.version {
            out.insert("version".into(), json!(version));
        }
        out.insert("status".into(), json!(self.status.to_string()));
        if let Some(error) = &self.error {
            out.insert("response".into(), error.to_json());
        }
        Value::Object(out)
    }
}

fn parse_operation(value: &Value, index: usize) -> Result<Operation, ScimError> {
    let at = |detail: &str| ScimError::invalid_syntax(format!("Operations[{index}]: {detail}"));
    let method = match lookup(value, "method").and_then(Value::as_str).map(str::to_ascii_uppercase).as_deref() {
        Some("POST") => Method::Post,
        Some("PUT") => Method::Put,
        Some("PATCH") => Method::Patch,
        Some("DELETE") => Method::Delete,
        _ => return Err(at("'method' must be POST, PUT, PATCH or DELETE")),
    };
    let path = lookup(value, "path").and_then(Value::as_str).ok_or_else(|| at("'path' is required"))?;
    let mut segments = path.trim_matches('/').split('/');
    let kind = match segments.next() {
        Some(endpoint) if endpoint.eq_ignore_ascii_case("Users") => ResourceType::User,
        Some(endpoint) if endpoint.eq_ignore_ascii_case("Groups") => ResourceType::Group,
        _ => return Err(at("'path' must be /Users or /Groups, with an id unless POST")),
    };
    let id = segments.next().filter(|id| !id.is_empty()).map(str::to_owned);
    if segments.next().is_some() || (method == Method::Post) != id.is_none() {
        return Err(at("'path' must be /Users or /Groups for POST, and name a resource otherwise"));
    }
    let bulk_id = match lookup(value, "bulkId") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) if !id.is_empty() => Some(id.clone()),
        Some(_) => return Err(at("'bulkId' must be a non-empty string")),
    };
    if method == Method::Post && bulk_id.is_none() {
        return Err(at("a POST needs a 'bulkId'"));
    }
    let data = lookup(value, "data").cloned().unwrap_or(Value::Null);
    if method != Method::Delete && !data.is_object() {
        return Err(at("'data' must be an object"));
    }
    let version = lookup(value, "version").and_then(Value::as_str).map(str::to_owned);
    Ok(Operation { method, kind, id, bulk_id, version, data })
}

/// The method a malformed operation names, for its outcome (POST when it names none).
fn raw_method(value: &Value) -> Method {
    match lookup(value, "method").and_then(Value::as_str).map(str::to_ascii_uppercase).as_deref() {
        Some("PUT") => Method::Put,
        Some("PATCH") => Method::Patch,
        Some("DELETE") => Method::Delete,
        _ => Method::Post,
    }
}

/// The bulkIds an operation refers to (`bulkId:x` in its data or path).
fn references(operation: &Operation) -> Vec<String> {
    fn walk(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::String(text) => {
                if let Some(id) = text.strip_prefix("bulkId:") {
                    found.push(id.to_owned());
                }
            }
            Value::Array(items) => items.iter().for_each(|item| walk(item, found)),
            Value::Object(object) => object.values().for_each(|item| walk(item, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(&operation.data, &mut found);
    if let Some(id) = operation.id.as_deref().and_then(|id| id.strip_prefix("bulkId:")) {
        found.push(id.to_owned());
    }
    found.sort();
    found.dedup();
    found
}

fn substitute(value: &mut Value, created: &HashMap<String, String>) {
    match value {
        Value::String(text) => {
            if let Some(id) = text.strip_prefix("bulkId:").and_then(|key| created.get(key)) {
                *text = id.clone();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| substitute(item, created)),
        Value::Object(object) => object.values_mut().for_each(|item| substitute(item, created)),
        _ => {}
    }
}

/// The order to run the operations in: each after the ones whose bulkIds it references,
/// otherwise in request order. Operations in a cycle come last, flagged.
fn schedule(operations: &[Operation]) -> Vec<(usize, bool)> {
    let owner: HashMap<&str, usize> =
        operations.iter().enumerate().filter_map(|(i, op)| op.bulk_id.as_deref().map(|id| (id, i))).collect();
    let depends: Vec<Vec<usize>> = operations
        .iter()
        .map(|op| references(op).iter().filter_map(|id| owner.get(id.as_str()).copied()).collect())
        .collect();
    let mut done = vec![false; operations.len()];
    let mut order = Vec::with_capacity(operations.len());
    loop {
        // The first operation not yet scheduled whose dependencies all are.
        let next = (0..operations.len()).find(|&i| !done[i] && depends[i].iter().all(|&d| done[d] && d != i));
        match next {
            Some(i) => {
                done[i] = true;
                order.push((i, false));
            }
            None => break,
        }
    }
    order.extend((0..operations.len()).filter(|&i| !done[i]).map(|i| (i, true)));
    order
}

/// `POST /Bulk`.
pub async fn bulk(call: ScimCall, payload: web::Payload) -> Result<actix_web::HttpResponse, GatewayError> {
    let body = call.body(payload).await?;
    let operations = lookup(&body, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid_syntax("a BulkRequest needs an 'Operations' array"))?;
    if operations.len() > MAX_OPERATIONS as usize {
        return Err(ScimError::new(
            413,
            None,
            format!("a bulk request holds at most {MAX_OPERATIONS} operations, this one {}", operations.len()),
        )
        .into());
    }
    let fail_on_errors = match lookup(&body, "failOnErrors") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            value
                .as_u64()
                .filter(|n| *n > 0)
                .ok_or_else(|| ScimError::invalid_value("'failOnErrors' must be a positive integer"))?,
        ),
    };
    let parsed: Vec<Result<Operation, ScimError>> =
        operations.iter().enumerate().map(|(index, value)| parse_operation(value, index)).collect();
    let valid: Vec<Operation> = parsed.iter().filter_map(|p| p.as_ref().ok().cloned()).collect();
    let mut seen = std::collections::HashSet::new();
    if let Some(duplicate) = valid.iter().filter_map(|op| op.bulk_id.as_deref()).find(|id| !seen.insert(*id)) {
        return Err(ScimError::invalid_value(format!("bulkId '{duplicate}' is used twice")).into());
    }

    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut errors = 0u64;
    for (raw, error) in operations.iter().zip(&parsed).filter_map(|(raw, p)| p.as_ref().err().map(|e| (raw, e))) {
        errors += 1;
        outcomes.push(Outcome {
            method: raw_method(raw),
            bulk_id: lookup(raw, "bulkId").and_then(Value::as_str).map(str::to_owned),
            status: error.status,
            location: None,
            version: None,
            error: Some(error.clone()),
        });
    }
    let mut created: HashMap<String, String> = HashMap::new();
    for (index, in_cycle) in schedule(&valid) {
        if fail_on_errors.is_some_and(|limit| errors >= limit) {
            break;
        }
        let operation = &valid[index];
        let outcome = if in_cycle {
            Outcome::failed(
                operation,
                ScimError::new(409, None, "the operation is part of a circular bulkId reference"),
            )
        } else {
            match references(operation).into_iter().find(|id| !created.contains_key(id)) {
                Some(missing) => Outcome::failed(
                    operation,
                    ScimError::invalid_value(format!(
                        "bulkId:{missing} does not name a resource created by this request"
                    )),
                ),
                None => run(&call, operation, &created).await,
            }
        };
        if outcome.error.is_some() {
            errors += 1;
        } else if let (Method::Post, Some(bulk_id), Some(location)) =
            (operation.method, &operation.bulk_id, &outcome.location)
            && let Some(id) = location.rsplit('/').next()
        {
            created.insert(bulk_id.clone(), id.to_owned());
        }
        outcomes.push(outcome);
    }
    let response = json!({
        "schemas": [BULK_RESPONSE],
        "Operations": outcomes.iter().map(Outcome::to_json).collect::<Vec<_>>(),
    });
    Ok(render::respond(StatusCode::OK, &response, None, None))
}

async fn run(call: &ScimCall, operation: &Operation, created: &HashMap<String, String>) -> Outcome {
    let mut data = operation.data.clone();
    substitute(&mut data, created);
    let id = operation.id.as_ref().map(|id| match id.strip_prefix("bulkId:").and_then(|key| created.get(key)) {
        Some(resolved) => resolved.clone(),
        None => id.clone(),
    });
    let if_match = proto::precondition::if_match(proto::precondition::parse(operation.version.as_deref()));
    let kind = operation.kind;
    // RFC 7644 §3.7.3: every outcome but a failed POST names the resource it was about.
    let target = id.as_ref().map(|id| call.location_of(kind, id));
    let result = match (operation.method, id) {
        (Method::Post, _) => call.create_in(kind, data).await.map(|r| (201, Some(r))),
        (Method::Put, Some(id)) => call.replace_in(kind, id, data, if_match).await.map(|r| (200, Some(r))),
        (Method::Patch, Some(id)) => call.patch_in(kind, id, &data, if_match, true).await.map(|r| (200, Some(r))),
        (Method::Delete, Some(id)) => call.delete_in(kind, id, if_match).await.map(|()| (204, None)),
        (_, None) => Err(ScimError::invalid_syntax("the operation names no resource").into()),
    };
    match result {
        Ok((status, resource)) => Outcome {
            method: operation.method,
            bulk_id: operation.bulk_id.clone(),
            status,
            location: resource.as_ref().map(|r| call.location_of(kind, &r.id)).or(target),
            version: resource.as_ref().map(|r| scim::list::weak_etag(r.version)),
            error: None,
        },
        Err(error) => Outcome { location: target, ..Outcome::failed(operation, error.to_scim()) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(method: &str, path: &str, bulk_id: Option<&str>, data: Value) -> Operation {
        let mut value = json!({"method": method, "path": path, "data": data});
        if let Some(id) = bulk_id {
            value["bulkId"] = json!(id);
        }
        parse_operation(&value, 0).unwrap()
    }

    #[test]
    fn forward_references_run_after_what_they_reference() {
        let operations = vec![
            op("POST", "/Groups", Some("g"), json!({"displayName": "G", "members": [{"value": "bulkId:u"}]})),
            op("POST", "/Users", Some("u"), json!({"userName": "u"})),
            op("PATCH", "/Users/bulkId:u", None, json!({"Operations": []})),
        ];
        let order: Vec<usize> = schedule(&operations)
            .into_iter()
            .map(|(i, cycle)| {
                assert!(!cycle);
                i
            })
            .collect();
        assert_eq!(order, vec![1, 0, 2]);
    }

    #[test]
    fn cycles_are_flagged() {
        let operations = vec![
            op("POST", "/Groups", Some("a"), json!({"displayName": "A", "members": [{"value": "bulkId:b"}]})),
            op("POST", "/Groups", Some("b"), json!({"displayName": "B", "members": [{"value": "bulkId:a"}]})),
            op("POST", "/Users", Some("c"), json!({"userName": "c"})),
        ];
        assert_eq!(schedule(&operations), vec![(2, false), (0, true), (1, true)]);
    }

    #[test]
    fn substitution_replaces_references_everywhere() {
        let mut data = json!({"members": [{"value": "bulkId:u"}, {"value": "other"}], "x": "bulkId:unknown"});
        substitute(&mut data, &HashMap::from([("u".to_owned(), "123".to_owned())]));
        assert_eq!(data, json!({"members": [{"value": "123"}, {"value": "other"}], "x": "bulkId:unknown"}));
    }

    #[test]
    fn malformed_operations_are_refused() {
        for value in [
            json!({"method": "GET", "path": "/Users"}),
            json!({"method": "POST", "path": "/Users", "data": {}}),
            json!({"method": "POST", "path": "/Users/1", "bulkId": "x", "data": {}}),
            json!({"method": "DELETE", "path": "/Users"}),
            json!({"method": "PUT", "path": "/Things/1", "data": {}}),
        ] {
            assert!(parse_operation(&value, 0).is_err(), "{value}");
        }
    }
}
