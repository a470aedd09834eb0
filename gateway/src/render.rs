//! Stored resources → SCIM JSON responses: `schemas`, `id`, `meta` (with `location` and the
//! version as a weak ETag), member `$ref`s, and the requested projection.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, http::StatusCode};
use scim::ResourceType;
use scim::list::Meta;
use scim::projection::Projection;
use serde_json::{Map, Value};

use crate::config::GatewayConfig;
use crate::error::{GatewayError, SCIM_CONTENT_TYPE};

/// The tenant URL as the client sees it: `PUBLIC_BASE_URL`, else scheme and host of the request.
pub fn base_url(config: &GatewayConfig, request: &HttpRequest) -> String {
    match &config.public_base_url {
        Some(url) => url.clone(),
        None => {
            let info = request.connection_info();
            format!("{}://{}{}", info.scheme(), info.host(), config.base_path)
        }
    }
}

fn timestamp(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        // Microseconds, as stored: a `meta.lastModified` read here filters exactly.
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// A resource as JSON, and its ETag.
pub fn resource(
    kind: ResourceType,
    resource: proto::Resource,
    base: &str,
    projection: &Projection,
) -> Result<(Value, String), GatewayError> {
    let proto::Resource { id, attributes_json, version, created_micros, last_modified_micros, members_omitted: _ } =
        resource;
    let mut attributes: Map<String, Value> = match serde_json::from_str(&attributes_json) {
        Ok(Value::Object(map)) => map,
        _ => return Err(tonic::Status::internal("the core returned attributes that are not a JSON object").into()),
    };
    if let Some(Value::Array(members)) = attributes.get_mut("members") {
        for member in members.iter_mut().filter_map(Value::as_object_mut) {
            if let Some(id) = member.get("value").and_then(Value::as_str) {
                let reference = format!("{base}/Users/{id}");
                member.insert("$ref".into(), Value::String(reference));
            }
        }
    }
    let meta = Meta {
        created: timestamp(created_micros),
        last_modified: timestamp(last_modified_micros),
        version,
        location: format!("{base}/{}/{id}", kind.endpoint()),
    };
    let etag = meta.etag();
    let Value::Object(mut rendered) = scim::list::render(kind, &id, attributes, &meta) else {
        return Err(tonic::Status::internal("rendering produced a non-object").into());
    };
    projection.apply(&mut rendered);
    Ok((Value::Object(rendered), etag))
}

/// A SCIM JSON response.
pub fn respond(status: StatusCode, body: &Value, etag: Option<&str>, location: Option<&str>) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    response.content_type(SCIM_CONTENT_TYPE);
    if let Some(value) = etag.and_then(|e| HeaderValue::from_str(e).ok()) {
        response.insert_header((header::ETAG, value));
    }
    if let Some(value) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        response.insert_header((header::LOCATION, value));
    }
    response.body(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_meta_and_member_refs() {
        let stored = proto::Resource {
            id: "g1".into(),
            attributes_json: r#"{"displayName":"T","members":[{"value":"u1","type":"User"}]}"#.into(),
            version: 4,
            created_micros: 0,
            last_modified_micros: 1_000_000,
            members_omitted: false,
        };
        let (json, etag) = resource(ResourceType::Group, stored, "https://x/scim/v2", &Projection::default()).unwrap();
        assert_eq!(etag, "W/\"4\"");
        assert_eq!(json["schemas"][0], scim::schema::GROUP);
        assert_eq!(json["meta"]["location"], "https://x/scim/v2/Groups/g1");
        assert_eq!(json["meta"]["version"], "W/\"4\"");
        assert_eq!(json["meta"]["lastModified"], "1970-01-01T00:00:01.000000Z");
        assert_eq!(json["members"][0]["$ref"], "https://x/scim/v2/Users/u1");
    }
}
