//! The SCIM endpoints for Users and Groups. Each handler parses and normalizes the request with
//! the `scim` crate, sends one command to provisioning-core, and renders the answer.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures::StreamExt;
use proto::provisioning_client::ProvisioningClient;
use proto::{
    CreateGroupRequest, CreateUserRequest, DeleteResourceRequest, GetResourceRequest, PatchResourceRequest,
    QueryRequest, ReplaceGroupRequest, ReplaceUserRequest,
};
use scim::projection::Projection;
use scim::{Filter, GroupInput, PatchRequest, ResourceType, ScimError, UserInput};
use serde_json::Value;
use tonic::transport::Channel;

use crate::auth::Credential;
use crate::config::GatewayConfig;
use crate::error::{GatewayError, scim_error_response};
use crate::render;

/// What every handler shares: the settings and the client of provisioning-core.
pub struct Gateway {
    pub config: GatewayConfig,
    pub core: ProvisioningClient<Channel>,
    /// The same channel, for the health check.
    pub channel: Channel,
}

type Handled = Result<HttpResponse, GatewayError>;

/// The query parameters, found case-insensitively (`+` decoded as a space).
struct Params(Vec<(String, String)>);

impl Params {
    fn from_request(request: &HttpRequest) -> Result<Self, ScimError> {
        web::Query::<Vec<(String, String)>>::from_query(request.query_string())
            .map(|q| Params(q.into_inner()))
            .map_err(|_| ScimError::invalid_syntax("the query string is malformed"))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn projection(&self) -> Projection {
        Projection::parse(self.get("attributes"), self.get("excludedAttributes"))
    }

    fn number(&self, name: &str) -> Result<Option<i64>, ScimError> {
        self.get(name)
            .map(|v| {
                v.trim().parse::<i64>().map_err(|_| ScimError::invalid_value(format!("'{name}' must be an integer")))
            })
            .transpose()
    }
}

/// Reads a JSON body of at most `limit` bytes, whatever its JSON media type (or none).
async fn read_json(mut payload: web::Payload, limit: usize) -> Result<Value, ScimError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ScimError::invalid_syntax("the request body could not be read"))?;
        if body.len() + chunk.len() > limit {
            return Err(ScimError::new(413, None, format!("the request body exceeds {limit} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| ScimError::invalid_syntax(format!("the body is not valid JSON: {e}")))
}

fn if_match(request: &HttpRequest) -> Option<i64> {
    request.headers().get(header::IF_MATCH).and_then(|v| v.to_str().ok()).and_then(render::etag_version)
}

fn user_message(input: UserInput) -> proto::UserInput {
    let UserInput { user_name, external_id, active, display_name, attributes } = input;
    proto::UserInput {
        user_name,
        external_id,
        active,
        display_name,
        attributes_json: Value::Object(attributes).to_string(),
    }
}

fn group_message(input: GroupInput) -> proto::GroupInput {
    let GroupInput { display_name, external_id, member_ids, attributes } = input;
    proto::GroupInput { display_name, external_id, member_ids, attributes_json: Value::Object(attributes).to_string() }
}

fn render_one(
    gateway: &Gateway,
    request: &HttpRequest,
    kind: ResourceType,
    resource: proto::Resource,
    status: StatusCode,
    projection: &Projection,
) -> Handled {
    let base = render::base_url(&gateway.config, request);
    let (body, etag) = render::resource(kind, resource, &base, projection)?;
    let location =
        (status == StatusCode::CREATED).then(|| body["meta"]["location"].as_str().unwrap_or_default().to_owned());
    Ok(render::respond(status, &body, Some(&etag), location.as_deref()))
}

pub async fn create(
    gateway: web::Data<Gateway>,
    kind: web::Data<ResourceType>,
    credential: Credential,
    request: HttpRequest,
    payload: web::Payload,
) -> Handled {
    let params = Params::from_request(&request)?;
    let body = read_json(payload, gateway.config.max_body_bytes).await?;
    let mut core = gateway.core.clone();
    let resource = match **kind {
        ResourceType::User => {
            let user = Some(user_message(UserInput::from_body(body)?));
            core.create_user(credential.request(CreateUserRequest { user })).await?
        }
        ResourceType::Group => {
            let group = Some(group_message(GroupInput::from_body(body)?));
            core.create_group(credential.request(CreateGroupRequest { group })).await?
        }
    };
    render_one(&gateway, &request, **kind, resource.into_inner(), StatusCode::CREATED, &params.projection())
}

pub async fn get(
    gateway: web::Data<Gateway>,
    kind: web::Data<ResourceType>,
    credential: Credential,
    request: HttpRequest,
    id: web::Path<String>,
) -> Handled {
    let params = Params::from_request(&request)?;
    let projection = params.projection();
    let message = GetResourceRequest { id: id.into_inner(), exclude_members: projection.excludes("members") };
    let mut core = gateway.core.clone();
    let resource = match **kind {
        ResourceType::User => core.get_user(credential.request(message)).await?,
        ResourceType::Group => core.get_group(credential.request(message)).await?,
    }
    .into_inner();
    let unchanged = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .and_then(render::etag_version)
        .is_some_and(|v| v == resource.version);
    if unchanged {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, scim::list::weak_etag(resource.version)))
            .finish());
    }
    render_one(&gateway, &request, **kind, resource, StatusCode::OK, &projection)
}

pub async fn list(
    gateway: web::Data<Gateway>,
    kind: web::Data<ResourceType>,
    credential: Credential,
    request: HttpRequest,
) -> Handled {
    let params = Params::from_request(&request)?;
    let filter = params.get("filter").filter(|f| !f.trim().is_empty()).map(Filter::parse).transpose()?;
    let start_index = params.number("startIndex")?.unwrap_or(1).clamp(1, i64::from(u32::MAX));
    let count = params.number("count")?.unwrap_or(100).clamp(0, 1000);
    let projection = params.projection();
    let message = QueryRequest {
        filter: filter.as_ref().map(proto::Filter::from),
        start_index: u32::try_from(start_index).unwrap_or(1),
        count: u32::try_from(count).unwrap_or(0),
        exclude_members: projection.excludes("members"),
    };
    let mut core = gateway.core.clone();
    let found = match **kind {
        ResourceType::User => core.query_users(credential.request(message)).await?,
        ResourceType::Group => core.query_groups(credential.request(message)).await?,
    }
    .into_inner();
    let base = render::base_url(&gateway.config, &request);
    let resources = found
        .resources
        .into_iter()
        .map(|resource| render::resource(**kind, resource, &base, &projection).map(|(json, _)| json))
        .collect::<Result<Vec<_>, _>>()?;
    let start = u32::try_from(start_index).unwrap_or(1);
    let body = scim::list::list_response(found.total_results, start, resources);
    Ok(render::respond(StatusCode::OK, &body, None, None))
}

pub async fn replace(
    gateway: web::Data<Gateway>,
    kind: web::Data<ResourceType>,
    credential: Credential,
    request: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
) -> Handled {
    let params = Params::from_request(&request)?;
    let body = read_json(payload, gateway.config.max_body_bytes).await?;
    let (id, if_match_version) = (id.into_inner(), if_match(&request));
    let mut core = gateway.core.clone();
    let resource = match **kind {
        ResourceType::User => {
            let user = Some(user_message(UserInput::from_body(body)?));
            core.replace_user(credential.request(ReplaceUserRequest { id, user, if_match_version })).await?
        }
        ResourceType::Group => {
            let group = Some(group_message(GroupInput::from_body(body)?));
            core.replace_group(credential.request(ReplaceGroupRequest { id, group, if_match_version })).await?
        }
    };
    render_one(&gateway, &request, **kind, resource.into_inner(), StatusCode::OK, &params.projection())
}

/// PATCH: Users answer 200 with the resource (Entra's validator expects it); Groups answer 204,
/// as Microsoft recommends, unless `attributes` asks for the resource.
pub async fn patch(
    gateway: web::Data<Gateway>,
    kind: web::Data<ResourceType>,
    credential: Credential,
    request: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
) -> Handled {
    let params = Params::from_request(&request)?;
    let body = read_json(payload, gateway.config.max_body_bytes).await?;
    let operations = PatchRequest::from_body(&body)?.operations.iter().map(proto::PatchOperation::from).collect();
    let message = PatchResourceRequest { id: id.into_inner(), operations, if_match_version: if_match(&request) };
    let mut core = gateway.core.clone();
    let resource = match **kind {
        ResourceType::User => core.patch_user(credential.request(message)).await?,
        ResourceType::Group => core.patch_group(credential.request(message)).await?,
    }
    .into_inner();
    if **kind == ResourceType::Group && params.get("attributes").is_none() {
        return Ok(HttpResponse::NoContent()
            .insert_header((header::ETAG, scim::list::weak_etag(resource.version)))
            .finish());
    }
    render_one(&gateway, &request, **kind, resource, StatusCode::OK, &params.projection())
}

pub async fn delete(
    gateway: web::Data<Gateway>,
    kind: web::Data<ResourceType>,
    credential: Credential,
    request: HttpRequest,
    id: web::Path<String>,
) -> Handled {
    let message = DeleteResourceRequest { id: id.into_inner(), if_match_version: if_match(&request) };
    let mut core = gateway.core.clone();
    match **kind {
        ResourceType::User => core.delete_user(credential.request(message)).await?,
        ResourceType::Group => core.delete_group(credential.request(message)).await?,
    };
    Ok(HttpResponse::NoContent().finish())
}

pub async fn method_not_allowed() -> HttpResponse {
    scim_error_response(&ScimError::new(405, None, "this method is not supported on this endpoint"))
}

pub async fn not_found() -> HttpResponse {
    scim_error_response(&ScimError::not_found("no such endpoint"))
}

/// The routes of one resource type, under its scope (`/Users` or `/Groups`).
pub fn resource_routes(config: &mut web::ServiceConfig) {
    config
        .service(
            web::resource(["", "/"])
                .route(web::get().to(list))
                .route(web::post().to(create))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/{id}")
                .route(web::get().to(get))
                .route(web::put().to(replace))
                .route(web::patch().to(patch))
                .route(web::delete().to(delete))
                .default_service(web::to(method_not_allowed)),
        );
}
