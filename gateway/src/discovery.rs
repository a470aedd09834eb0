//! `/ServiceProviderConfig`, `/ResourceTypes` and `/Schemas` (RFC 7644 §4): what this server
//! does, from the same registry and limits the endpoints use. Read-only: other methods get 405;
//! a `filter` gets 403, as §4 says.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use scim::ScimError;
use scim::discovery::{self, BulkLimits, Capabilities};
use scim::schema::SchemaRegistry;
use serde_json::{Value, json};

use crate::error::scim_error_response;
use crate::render;
use crate::routes::{DEFAULT_PAGE, Gateway, MAX_PAGE};

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

pub async fn resource_types(gateway: web::Data<Gateway>, request: HttpRequest) -> HttpResponse {
    if let Some(refused) = refuse_filter(&request) {
        return refused;
    }
    ok(&discovery::resource_types(&SchemaRegistry::default(), &render::base_url(&gateway.config, &request)))
}

pub async fn resource_type(gateway: web::Data<Gateway>, request: HttpRequest, id: web::Path<String>) -> HttpResponse {
    let base = render::base_url(&gateway.config, &request);
    match discovery::resource_type(&SchemaRegistry::default(), &id, &base) {
        Some(body) => ok(&body),
        None => scim_error_response(&ScimError::not_found(format!("no resource type '{id}'"))),
    }
}

pub async fn schemas(gateway: web::Data<Gateway>, request: HttpRequest) -> HttpResponse {
    if let Some(refused) = refuse_filter(&request) {
        return refused;
    }
    ok(&discovery::schemas(&SchemaRegistry::default(), &render::base_url(&gateway.config, &request)))
}

pub async fn schema(gateway: web::Data<Gateway>, request: HttpRequest, id: web::Path<String>) -> HttpResponse {
    let base = render::base_url(&gateway.config, &request);
    match discovery::schema(&SchemaRegistry::default(), &id, &base) {
        Some(body) => ok(&body),
        None => scim_error_response(&ScimError::not_found(format!("no schema '{id}'"))),
    }
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
