//! Rendering of resources and ListResponses.

use serde_json::{Map, Value, json};

use crate::schema::{LIST_RESPONSE, ResourceType};

/// The most resources one page returns (advertised as `filter.maxResults`).
pub const MAX_PAGE: u32 = 1000;
/// The page size when a request gives no `count`.
pub const DEFAULT_PAGE: u32 = 100;

/// What the gateway knows about a stored resource besides its attributes.
#[derive(Debug, Clone)]
pub struct Meta {
    pub created: String,
    pub last_modified: String,
    pub version: i64,
    pub location: String,
}

impl Meta {
    /// The weak ETag that equals `meta.version`.
    pub fn etag(&self) -> String {
        weak_etag(self.version)
    }
}

pub fn weak_etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// A resource as SCIM returns it: `schemas`, `id`, the attributes, `meta`.
pub fn render(kind: ResourceType, id: &str, attributes: Map<String, Value>, meta: &Meta) -> Value {
    let mut schemas = vec![Value::String(kind.core_schema().to_owned())];
    schemas.extend(
        attributes.keys().filter(|k| k.to_ascii_lowercase().starts_with("urn:")).map(|k| Value::String(k.clone())),
    );
    let mut out = Map::new();
    out.insert("schemas".into(), Value::Array(schemas));
    out.insert("id".into(), Value::String(id.to_owned()));
    out.extend(attributes);
    out.insert(
        "meta".into(),
        json!({
            "resourceType": kind.name(),
            "created": meta.created,
            "lastModified": meta.last_modified,
            "version": meta.etag(),
            "location": meta.location,
        }),
    );
    Value::Object(out)
}

pub fn list_response(total_results: u64, start_index: u32, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": total_results,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}
