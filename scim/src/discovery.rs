//! The discovery documents (RFC 7644 §4; RFC 7643 §5, §6, §7): `/ServiceProviderConfig`,
//! `/ResourceTypes` and `/Schemas`, built from what the server can do and from the tenant's schema
//! registry, so that what a client discovers is what the server does. Pure builders: the gateway
//! serves them, and answers 404 when a single-item lookup gives `None`.

use serde_json::{Map, Value, json};

use crate::list::list_response;
use crate::schema::{ResourceType, SchemaRegistry};

pub const SERVICE_PROVIDER_CONFIG: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";

/// What this deployment supports, as `/ServiceProviderConfig` advertises it. Filtering is always
/// supported (the crate implements it); only its page limit is configurable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    pub patch: bool,
    /// `None` when `/Bulk` is not offered.
    pub bulk: Option<BulkLimits>,
    pub filter_max_results: u32,
    pub sort: bool,
    pub etag: bool,
    pub change_password: bool,
    pub documentation_uri: Option<String>,
}

/// The limits of `/Bulk` (RFC 7643 §5 `bulk`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkLimits {
    pub max_operations: u32,
    /// In bytes.
    pub max_payload_size: u64,
}

/// The `/ServiceProviderConfig` document (RFC 7643 §5). Authentication is one OAuth bearer
/// token scheme: the tenant's secret token.
pub fn service_provider_config(capabilities: &Capabilities, base_url: &str) -> Value {
    let mut out = Map::new();
    out.insert("schemas".into(), json!([SERVICE_PROVIDER_CONFIG]));
    if let Some(uri) = &capabilities.documentation_uri {
        out.insert("documentationUri".into(), Value::String(uri.clone()));
    }
    // RFC 7643 §5 makes maxOperations and maxPayloadSize required even when bulk is unsupported.
    let bulk = capabilities.bulk.unwrap_or(BulkLimits { max_operations: 0, max_payload_size: 0 });
    out.insert("patch".into(), json!({"supported": capabilities.patch}));
    out.insert(
        "bulk".into(),
        json!({
            "supported": capabilities.bulk.is_some(),
            "maxOperations": bulk.max_operations,
            "maxPayloadSize": bulk.max_payload_size,
        }),
    );
    out.insert("filter".into(), json!({"supported": true, "maxResults": capabilities.filter_max_results}));
    out.insert("changePassword".into(), json!({"supported": capabilities.change_password}));
    out.insert("sort".into(), json!({"supported": capabilities.sort}));
    out.insert("etag".into(), json!({"supported": capabilities.etag}));
    out.insert(
        "authenticationSchemes".into(),
        json!([{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication scheme using the OAuth Bearer Token Standard",
            "specUri": "https://www.rfc-editor.org/info/rfc6750",
            "primary": true,
        }]),
    );
    out.insert("meta".into(), meta("ServiceProviderConfig", format!("{}/ServiceProviderConfig", trim(base_url))));
    Value::Object(out)
}

/// `/ResourceTypes`: a ListResponse of User and Group.
pub fn resource_types(registry: &SchemaRegistry, base_url: &str) -> Value {
    let resources: Vec<Value> =
        ResourceType::ALL.into_iter().map(|kind| resource_type_json(registry, kind, base_url)).collect();
    list_response(resources.len() as u64, 1, resources)
}

/// `/ResourceTypes/{id}`, the id in any case; `None` for an unknown id.
pub fn resource_type(registry: &SchemaRegistry, id: &str, base_url: &str) -> Option<Value> {
    ResourceType::ALL
        .into_iter()
        .find(|kind| kind.name().eq_ignore_ascii_case(id))
        .map(|kind| resource_type_json(registry, kind, base_url))
}

/// `/Schemas`: a ListResponse of every schema in the registry.
pub fn schemas(registry: &SchemaRegistry, base_url: &str) -> Value {
    let resources: Vec<Value> = registry.schemas().map(|schema| published(schema, base_url)).collect();
    list_response(resources.len() as u64, 1, resources)
}

/// `/Schemas/{urn}`, the URN in any case; `None` for an unknown URN.
pub fn schema(registry: &SchemaRegistry, id: &str, base_url: &str) -> Option<Value> {
    registry.schema(id).map(|schema| published(schema, base_url))
}

/// A schema as `/Schemas` publishes it: without the common `meta` attribute, which RFC 7643
/// §8.7.1 does not list (clients build their own `meta` model, and scim2-client breaks when a
/// published one differs).
fn published(schema: &crate::schema::SchemaDef, base_url: &str) -> Value {
    let mut json = schema.to_json(base_url);
    if let Some(Value::Array(attributes)) = json.get_mut("attributes") {
        attributes.retain(|attribute| attribute.get("name").and_then(Value::as_str) != Some("meta"));
    }
    json
}

/// One ResourceType (RFC 7643 §6). Every extension is optional: IdPs omit them freely.
fn resource_type_json(registry: &SchemaRegistry, kind: ResourceType, base_url: &str) -> Value {
    let (core, extensions) = registry.resource_schemas(kind);
    let mut out = Map::new();
    out.insert("schemas".into(), json!([RESOURCE_TYPE]));
    out.insert("id".into(), Value::String(kind.name().to_owned()));
    out.insert("name".into(), Value::String(kind.name().to_owned()));
    out.insert("endpoint".into(), Value::String(format!("/{}", kind.endpoint())));
    if let Some(description) = &core.description {
        out.insert("description".into(), Value::String(description.clone()));
    }
    out.insert("schema".into(), Value::String(core.id.clone()));
    if !extensions.is_empty() {
        let extensions: Vec<Value> =
            extensions.iter().map(|extension| json!({"schema": extension.id, "required": false})).collect();
        out.insert("schemaExtensions".into(), Value::Array(extensions));
    }
    out.insert("meta".into(), meta("ResourceType", format!("{}/ResourceTypes/{}", trim(base_url), kind.name())));
    Value::Object(out)
}

fn meta(resource_type: &str, location: String) -> Value {
    json!({"resourceType": resource_type, "location": location})
}

fn trim(base_url: &str) -> &str {
    base_url.trim_end_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ENTERPRISE_USER, GROUP, LIST_RESPONSE, SchemaDef, USER};

    const BASE: &str = "https://scim.example.com/v2/";

    fn capabilities() -> Capabilities {
        Capabilities {
            patch: true,
            bulk: Some(BulkLimits { max_operations: 100, max_payload_size: 1_048_576 }),
            filter_max_results: 200,
            sort: false,
            etag: true,
            change_password: false,
            documentation_uri: Some("https://docs.example.com/scim".to_owned()),
        }
    }

    fn registry_with_custom_extension() -> SchemaRegistry {
        let mut registry = SchemaRegistry::default();
        let custom = SchemaDef::from_json(&json!({
            "id": "urn:example:scim:schemas:extension:teams:1.0:Group",
            "name": "TeamGroup",
            "attributes": [{"name": "costCode", "type": "string"}]
        }))
        .unwrap();
        registry.register_extension(ResourceType::Group, custom).unwrap();
        registry
    }

    #[test]
    fn service_provider_config_has_every_rfc_field() {
        let spc = service_provider_config(&capabilities(), BASE);
        assert_eq!(spc["schemas"], json!([SERVICE_PROVIDER_CONFIG]));
        assert!(spc["documentationUri"].is_string());
        for feature in ["patch", "bulk", "filter", "changePassword", "sort", "etag"] {
            assert!(spc[feature]["supported"].is_boolean(), "{feature}.supported");
        }
        assert!(spc["bulk"]["maxOperations"].is_u64());
        assert!(spc["bulk"]["maxPayloadSize"].is_u64());
        assert!(spc["filter"]["maxResults"].is_u64());
        assert_eq!(spc["patch"]["supported"], true);
        assert_eq!(spc["bulk"]["supported"], true);
        assert_eq!(spc["bulk"]["maxOperations"], 100);
        assert_eq!(spc["filter"]["maxResults"], 200);
        assert_eq!(spc["sort"]["supported"], false);
        assert_eq!(spc["etag"]["supported"], true);

        let schemes = spc["authenticationSchemes"].as_array().unwrap();
        assert_eq!(schemes.len(), 1);
        let scheme = &schemes[0];
        assert_eq!(scheme["type"], "oauthbearertoken");
        assert_eq!(scheme["primary"], true);
        for key in ["name", "description", "specUri"] {
            assert!(scheme[key].is_string(), "authenticationSchemes[0].{key}");
        }

        assert_eq!(spc["meta"]["resourceType"], "ServiceProviderConfig");
        assert_eq!(spc["meta"]["location"], "https://scim.example.com/v2/ServiceProviderConfig");
        assert!(!spc.to_string().contains("null"));
    }

    #[test]
    fn service_provider_config_without_bulk_still_has_its_limits() {
        let spc =
            service_provider_config(&Capabilities { bulk: None, documentation_uri: None, ..capabilities() }, BASE);
        assert_eq!(spc["bulk"], json!({"supported": false, "maxOperations": 0, "maxPayloadSize": 0}));
        assert!(spc.get("documentationUri").is_none());
    }

    #[test]
    fn resource_types_list_user_and_group_with_their_extensions() {
        let registry = registry_with_custom_extension();
        let list = resource_types(&registry, BASE);
        assert_eq!(list["schemas"], json!([LIST_RESPONSE]));
        assert_eq!(list["totalResults"], 2);
        let user = &list["Resources"][0];
        assert_eq!(user["schemas"], json!([RESOURCE_TYPE]));
        assert_eq!((user["id"].as_str(), user["name"].as_str()), (Some("User"), Some("User")));
        assert_eq!(user["endpoint"], "/Users");
        assert_eq!(user["schema"], USER);
        assert_eq!(user["schemaExtensions"], json!([{"schema": ENTERPRISE_USER, "required": false}]));
        assert_eq!(
            user["meta"],
            json!({"resourceType": "ResourceType", "location": "https://scim.example.com/v2/ResourceTypes/User"})
        );
        let group = &list["Resources"][1];
        assert_eq!(group["endpoint"], "/Groups");
        assert_eq!(group["schema"], GROUP);
        assert_eq!(
            group["schemaExtensions"],
            json!([{"schema": "urn:example:scim:schemas:extension:teams:1.0:Group", "required": false}])
        );

        assert!(SchemaRegistry::default().resource_schemas(ResourceType::Group).1.is_empty());
        let plain_group = resource_type(&SchemaRegistry::default(), "Group", BASE).unwrap();
        assert!(plain_group.get("schemaExtensions").is_none());

        assert_eq!(resource_type(&registry, "user", BASE).unwrap(), *user);
        assert!(resource_type(&registry, "Users", BASE).is_none());
    }

    #[test]
    fn schemas_list_every_registered_schema() {
        let registry = registry_with_custom_extension();
        let list = schemas(&registry, BASE);
        assert_eq!(list["schemas"], json!([LIST_RESPONSE]));
        assert_eq!(list["totalResults"], 4);
        let ids: Vec<&str> = list["Resources"].as_array().unwrap().iter().filter_map(|s| s["id"].as_str()).collect();
        assert_eq!(ids, [USER, GROUP, ENTERPRISE_USER, "urn:example:scim:schemas:extension:teams:1.0:Group"]);

        let enterprise = schema(&registry, &ENTERPRISE_USER.to_uppercase(), BASE).unwrap();
        assert_eq!(enterprise["id"], ENTERPRISE_USER);
        assert_eq!(enterprise["meta"]["location"], format!("https://scim.example.com/v2/Schemas/{ENTERPRISE_USER}"));
        assert!(schema(&registry, "urn:unknown", BASE).is_none());
    }
}
