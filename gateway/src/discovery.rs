//! `/ServiceProviderConfig`, `/ResourceTypes` and `/Schemas` (RFC 7644 §4): what this server
//! does, from the same registry and limits the endpoints use. Read-only: other methods get 405;
//! a `filter` gets 403, as §4 says.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use proto::{DeclaredSchema, GetSchemasRequest};
use scim::discovery::{self, BulkLimits, Capabilities};
use scim::schema::{SchemaDef, SchemaRegistry};
use scim::{ResourceType, ScimError};
use serde_json::{Value, json};

use crate::auth::Credential;
use crate::error::{GatewayError, scim_error_response};
use crate::render;
use crate::routes::Gateway;
use scim::list::{DEFAULT_PAGE, MAX_PAGE};

/// What `/ServiceProviderConfig` advertises, and what the endpoints enforce.
pub fn capabilities(gateway: &Gateway) -> Capabilities {
    Capabilities {
        patch: true,
        bulk: Some(BulkLimits {
            max_operations: crate::bulk::MAX_OPERATIONS,
            max_payload_size: gateway.config.max_body_bytes as u64,
        }),
        filter_max_results: MAX_PAGE,
        sort: true,
        etag: true,
        change_password: false,
        documentation_uri: None,
    }
}

fn refuse_filter(request: &HttpRequest) -> Option<HttpResponse> {
    let filtered = web::Query::<Vec<(String, String)>>::from_query(request.query_string())
        .map(|q| q.iter().any(|(k, _)| k.eq_ignore_ascii_case("filter")))
        .unwrap_or(false);
    filtered.then(|| scim_error_response(&ScimError::new(403, None, "discovery endpoints do not filter")))
}

fn ok(body: &Value) -> HttpResponse {
    render::respond(StatusCode::OK, body, None, None)
}

pub async fn service_provider_config(gateway: web::Data<Gateway>, request: HttpRequest) -> HttpResponse {
    if let Some(refused) = refuse_filter(&request) {
        return refused;
    }
    let base = render::base_url(&gateway.config, &request);
    let mut body = discovery::service_provider_config(&capabilities(&gateway), &base);
    // RFC 9865: how listing pages.
    body["pagination"] = json!({
        "cursor": true,
        "index": true,
        "defaultPaginationMethod": "index",
        "defaultPageSize": DEFAULT_PAGE,
        "maxPageSize": MAX_PAGE,
    });
    ok(&body)
}

/// The schemas the caller sees: the RFC 7643 ones, plus its tenant's declared extensions when
/// the request carries the tenant's token (discovery itself needs no token).
async fn registry(gateway: &Gateway, request: &HttpRequest) -> Result<SchemaRegistry, GatewayError> {
    let mut registry = SchemaRegistry::default();
    if request.headers().get(header::AUTHORIZATION).is_none() {
        return Ok(registry);
    }
    let credential = Credential::from_request(request, &gateway.config)?;
    let declared = gateway.core.clone().get_schemas(credential.request(GetSchemasRequest {})).await?.into_inner();
    for DeclaredSchema { resource_type, definition_json } in declared.schemas {
        let kind = if resource_type == "Group" { ResourceType::Group } else { ResourceType::User };
        let definition: Value = serde_json::from_str(&definition_json)
            .map_err(|_| tonic::Status::internal("a declared schema is not JSON"))?;
        registry.register_extension(kind, SchemaDef::from_json(&definition)?)?;
    }
    Ok(registry)
}

fn answer(result: Result<Option<Value>, GatewayError>, missing: impl FnOnce() -> String) -> HttpResponse {
    match result {
        Ok(Some(body)) => ok(&body),
        Ok(None) => scim_error_response(&ScimError::not_found(missing())),
        Err(error) => scim_error_response(&error.to_scim()),
    }
}

pub async fn resource_types(gateway: web::Data<Gateway>, request: HttpRequest) -> HttpResponse {
    if let Some(refused) = refuse_filter(&request) {
        return refused;
    }
    let base = render::base_url(&gateway.config, &request);
    answer(registry(&gateway, &request).await.map(|r| Some(discovery::resource_types(&r, &base))), String::new)
}

pub async fn resource_type(gateway: web::Data<Gateway>, request: HttpRequest, id: web::Path<String>) -> HttpResponse {
    let base = render::base_url(&gateway.config, &request);
    answer(registry(&gateway, &request).await.map(|r| discovery::resource_type(&r, &id, &base)), || {
        format!("no resource type '{id}'")
    })
}

pub async fn schemas(gateway: web::Data<Gateway>, request: HttpRequest) -> HttpResponse {
    if let Some(refused) = refuse_filter(&request) {
        return refused;
    }
    let base = render::base_url(&gateway.config, &request);
    answer(registry(&gateway, &request).await.map(|r| Some(discovery::schemas(&r, &base))), String::new)
}

pub async fn schema(gateway: web::Data<Gateway>, request: HttpRequest, id: web::Path<String>) -> HttpResponse {
    let base = render::base_url(&gateway.config, &request);
    answer(registry(&gateway, &request).await.map(|r| discovery::schema(&r, &id, &base)), || {
        format!("no schema '{id}'")
    })
}

/// The discovery routes, under the SCIM base path.
pub fn routes(config: &mut web::ServiceConfig) {
    let read_only =
        |resource: actix_web::Resource| resource.default_service(web::to(crate::routes::method_not_allowed));
    config
        .service(read_only(
            web::resource(["/ServiceProviderConfig", "/ServiceProviderConfig/"])
                .route(web::get().to(service_provider_config)),
        ))
        .service(read_only(web::resource(["/ResourceTypes", "/ResourceTypes/"]).route(web::get().to(resource_types))))
        .service(read_only(web::resource("/ResourceTypes/{id}").route(web::get().to(resource_type))))
        .service(read_only(web::resource(["/Schemas", "/Schemas/"]).route(web::get().to(schemas))))
        .service(read_only(web::resource("/Schemas/{id}").route(web::get().to(schema))));
}
