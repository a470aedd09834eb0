//! The SCIM endpoints for Users and Groups. Each handler parses and normalizes the request with
//! the `scim` crate, sends one command to provisioning-core, and renders the answer.

use actix_web::http::StatusCode;
use actix_web::http::header;
use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use futures::StreamExt;
use proto::provisioning_client::ProvisioningClient;
use proto::{
    CreateGroupRequest, CreateUserRequest, DeleteResourceRequest, GetResourceRequest, PatchResourceRequest,
    QueryRequest, ReplaceGroupRequest, ReplaceUserRequest,
};
use scim::projection::Projection;
use scim::{Filter, GroupInput, PatchRequest, ResourceType, ScimError, UserInput};
use serde_json::{Value, json};
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

/// Bodies up to this size are read before the token is checked (by the core, with the request
/// itself): parsing them costs less than a round trip. Larger ones wait for the token.
pub const CHECKED_FIRST_BYTES: u64 = 64 * 1024;

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
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| ScimError::invalid_syntax(format!("the body is not valid JSON: {e}")))?;
    if has_nul(&value) {
        return Err(ScimError::invalid_value("a value may not contain the NUL character (\\u0000)"));
    }
    Ok(value)
}

/// Whether a NUL hides in any key or string (no database text column can store one).
fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(object) => object.iter().any(|(key, value)| key.contains('\0') || has_nul(value)),
        _ => false,
    }
}

/// A resource id from the path; one with a NUL names nothing.
fn resource_id(id: web::Path<String>) -> Result<String, ScimError> {
    let id = id.into_inner();
    if id.contains('\0') {
        return Err(ScimError::not_found("no such resource"));
    }
    Ok(id)
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

/// What every SCIM handler starts from: the gateway, the resource type of the scope (`/Users`
/// or `/Groups`), the caller's credential, the request and its query parameters.
pub struct ScimCall {
    gateway: web::Data<Gateway>,
    kind: ResourceType,
    credential: Credential,
    request: HttpRequest,
    params: Params,
}

impl FromRequest for ScimCall {
    type Error = GatewayError;
    type Future = Ready<Result<Self, GatewayError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let call = || -> Result<Self, GatewayError> {
            let missing = |what: &str| tonic::Status::internal(format!("route without {what}"));
            let gateway = request.app_data::<web::Data<Gateway>>().cloned().ok_or_else(|| missing("gateway"))?;
            // Outside /Users and /Groups (e.g. POST /.search) the kind is not used.
            let kind = request.app_data::<web::Data<ResourceType>>().map_or(ResourceType::User, |k| *k.get_ref());
            let credential = Credential::from_request(request, &gateway.config)?;
            let params = Params::from_request(request)?;
            Ok(Self { gateway, kind, credential, request: request.clone(), params })
        };
        ready(call())
    }
}

impl ScimCall {
    fn core(&self) -> ProvisioningClient<Channel> {
        self.gateway.core.clone()
    }

    fn grpc<T>(&self, message: T) -> tonic::Request<T> {
        self.credential.request(message)
    }

    /// The request's JSON body. Work in proportion to a body waits for its token: a body
    /// declared larger than [`CHECKED_FIRST_BYTES`] (or of no declared length) is read only
    /// after the core has accepted the token, so an unauthenticated sender of megabytes gets
    /// its 401 before any of them is read. One declared over the limit is refused unread, and
    /// a body that arrives slower than `BODY_READ_TIMEOUT_MS` gets 408.
    pub(crate) async fn body(&self, payload: web::Payload) -> Result<Value, GatewayError> {
        let limit = self.gateway.config.max_body_bytes;
        let declared = self
            .request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|length| length > limit as u64) {
            return Err(ScimError::new(413, None, format!("the request body exceeds {limit} bytes")).into());
        }
        if declared.is_none_or(|length| length > CHECKED_FIRST_BYTES) {
            match self.core().check_token(self.grpc(proto::CheckTokenRequest {})).await {
                // A core of the release before CheckToken (a rolling upgrade) checks it after.
                Err(status) if status.code() != tonic::Code::Unimplemented => return Err(status.into()),
                _ => {}
            }
        }
        let read = self.gateway.config.body_read_timeout;
        match tokio::time::timeout(read, read_json(payload, limit)).await {
            Ok(body) => Ok(body?),
            Err(_) => Err(ScimError::new(
                408,
                None,
                format!("the request body did not arrive within {} ms", read.as_millis()),
            )
            .into()),
        }
    }

    /// The `If-Match` precondition of a write (RFC 7232 §3.1): `*` is none (any existing
    /// resource matches), a list names versions, a tag that is not ours names none.
    fn if_match(&self) -> Option<proto::IfMatch> {
        proto::precondition::if_match(self.tags(header::IF_MATCH))
    }

    /// The entity-tags of every field of this header (a field that is not text names none).
    fn tags(&self, name: header::HeaderName) -> Option<proto::precondition::Tags> {
        let fields = self.request.headers().get_all(name);
        proto::precondition::parse(fields.map(|v| v.to_str().unwrap_or("\"\"")))
    }

    pub(crate) fn base_url(&self) -> String {
        render::base_url(&self.gateway.config, &self.request)
    }

    fn render(&self, resource: proto::Resource, status: StatusCode) -> Handled {
        let (body, etag) = render::resource(self.kind, resource, &self.base_url(), &self.params.projection())?;
        let location =
            (status == StatusCode::CREATED).then(|| body["meta"]["location"].as_str().unwrap_or_default().to_owned());
        Ok(render::respond(status, &body, Some(&etag), location.as_deref()))
    }
}

/// The writes, for one resource type: what the handlers and `/Bulk` share.
impl ScimCall {
    pub(crate) async fn create_in(&self, kind: ResourceType, body: Value) -> Result<proto::Resource, GatewayError> {
        let mut core = self.core();
        let resource = match kind {
            ResourceType::User => {
                let user = Some(user_message(UserInput::from_body(body)?));
                core.create_user(self.grpc(CreateUserRequest { user })).await?
            }
            ResourceType::Group => {
                let group = Some(group_message(GroupInput::from_body(body)?));
                core.create_group(self.grpc(CreateGroupRequest { group })).await?
            }
        };
        Ok(resource.into_inner())
    }

    pub(crate) async fn replace_in(
        &self,
        kind: ResourceType,
        id: String,
        body: Value,
        if_match: Option<proto::IfMatch>,
    ) -> Result<proto::Resource, GatewayError> {
        let mut core = self.core();
        let resource = match kind {
            ResourceType::User => {
                let user = Some(user_message(UserInput::from_body(body)?));
                core.replace_user(self.grpc(ReplaceUserRequest { id, user, if_match_version: None, if_match })).await?
            }
            ResourceType::Group => {
                let group = Some(group_message(GroupInput::from_body(body)?));
                core.replace_group(self.grpc(ReplaceGroupRequest { id, group, if_match_version: None, if_match }))
                    .await?
            }
        };
        Ok(resource.into_inner())
    }

    pub(crate) async fn patch_in(
        &self,
        kind: ResourceType,
        id: String,
        body: &Value,
        if_match: Option<proto::IfMatch>,
        exclude_members: bool,
    ) -> Result<proto::Resource, GatewayError> {
        // Bounded there: operations after expansion, member values in all.
        let operations = PatchRequest::from_body(body)?.operations;
        let operations = operations.iter().map(proto::PatchOperation::from).collect();
        let message = PatchResourceRequest { id, operations, if_match_version: None, exclude_members, if_match };
        let mut core = self.core();
        let resource = match kind {
            ResourceType::User => core.patch_user(self.grpc(message)).await?,
            ResourceType::Group => core.patch_group(self.grpc(message)).await?,
        };
        Ok(resource.into_inner())
    }

    pub(crate) async fn delete_in(
        &self,
        kind: ResourceType,
        id: String,
        if_match: Option<proto::IfMatch>,
    ) -> Result<(), GatewayError> {
        let message = DeleteResourceRequest { id, if_match_version: None, if_match };
        let mut core = self.core();
        match kind {
            ResourceType::User => core.delete_user(self.grpc(message)).await?,
            ResourceType::Group => core.delete_group(self.grpc(message)).await?,
        };
        Ok(())
    }

    /// A group with all its members, however many: streamed from the core in bounded messages
    /// (`ReadGroup`, one snapshot). `follow_up`: the rest of an answer already logged.
    async fn read_group(&self, id: String, follow_up: bool) -> Result<proto::Resource, GatewayError> {
        let message = GetResourceRequest { id, exclude_members: false, follow_up };
        let mut parts = match self.core().read_group(self.grpc(message.clone())).await {
            Ok(parts) => parts.into_inner(),
            // A core of the release before ReadGroup (during a rolling upgrade): one message.
            Err(status) if status.code() == tonic::Code::Unimplemented => {
                return Ok(self.core().get_group(self.grpc(message)).await?.into_inner());
            }
            Err(status) => return Err(status.into()),
        };
        let (mut resource, mut members) = (None, Vec::new());
        while let Some(part) = parts.message().await? {
            match part.part {
                Some(proto::group_part::Part::Resource(found)) => resource = Some(found),
                Some(proto::group_part::Part::Members(chunk)) => {
                    members.extend(chunk.ids.into_iter().map(|id| json!({"value": id, "type": "User"})));
                }
                None => {}
            }
        }
        let mut resource =
            resource.ok_or_else(|| GatewayError::Upstream(tonic::Status::internal("ReadGroup sent no resource")))?;
        if !members.is_empty() {
            let mut attributes: serde_json::Map<String, Value> = serde_json::from_str(&resource.attributes_json)
                .map_err(|e| GatewayError::Upstream(tonic::Status::internal(format!("ReadGroup attributes: {e}"))))?;
            attributes.insert("members".into(), Value::Array(members));
            resource.attributes_json = Value::Object(attributes).to_string();
        }
        Ok(resource)
    }

    /// A resource as the answer shows it: a group that came without its members (too many for
    /// one message) gets them from `ReadGroup`.
    pub(crate) async fn complete(&self, resource: proto::Resource) -> Result<proto::Resource, GatewayError> {
        if resource.members_omitted && !self.params.projection().excludes("members") {
            self.read_group(resource.id, true).await
        } else {
            Ok(resource)
        }
    }

    pub(crate) fn location_of(&self, kind: ResourceType, id: &str) -> String {
        format!("{}/{}/{id}", self.base_url(), kind.endpoint())
    }
}

pub async fn create(call: ScimCall, payload: web::Payload) -> Handled {
    let body = call.body(payload).await?;
    let resource = call.create_in(call.kind, body).await?;
    let resource = call.complete(resource).await?;
    call.render(resource, StatusCode::CREATED)
}

pub async fn get(call: ScimCall, id: web::Path<String>) -> Handled {
    let exclude_members = call.params.projection().excludes("members");
    let message = GetResourceRequest { id: resource_id(id)?, exclude_members, follow_up: false };
    let mut core = call.core();
    let resource = match call.kind {
        ResourceType::User => core.get_user(call.grpc(message)).await?.into_inner(),
        // Members however many, in bounded messages; `excludedAttributes=members` never reads them.
        ResourceType::Group if !exclude_members => call.read_group(message.id, false).await?,
        ResourceType::Group => core.get_group(call.grpc(message)).await?.into_inner(),
    };
    // RFC 7232 §3.2: `*` or a list naming the current version.
    let unchanged = match call.tags(header::IF_NONE_MATCH) {
        Some(proto::precondition::Tags::Any) => true,
        Some(proto::precondition::Tags::Versions(versions)) => versions.contains(&resource.version),
        None => false,
    };
    if unchanged {
        let etag = scim::list::weak_etag(resource.version);
        return Ok(HttpResponse::NotModified().insert_header((header::ETAG, etag)).finish());
    }
    call.render(resource, StatusCode::OK)
}

/// A query: from the query string of `GET /Users`, or from the body of `POST /Users/.search`.
struct Search {
    filter: Option<Filter>,
    start_index: u32,
    count: u32,
    sort_by: Option<String>,
    descending: bool,
    cursor: Option<String>,
    projection: Projection,
}

use scim::list::{DEFAULT_PAGE, MAX_PAGE};

impl Search {
    fn new(
        filter: Option<&str>,
        start_index: Option<i64>,
        count: Option<i64>,
        sort_by: Option<&str>,
        sort_order: Option<&str>,
        cursor: Option<&str>,
        projection: Projection,
    ) -> Result<Self, ScimError> {
        let filter = filter.filter(|f| !f.trim().is_empty()).map(Filter::parse).transpose()?;
        let descending = match sort_order.map(str::trim) {
            None | Some("") => false,
            Some(order) if order.eq_ignore_ascii_case("ascending") => false,
            Some(order) if order.eq_ignore_ascii_case("descending") => true,
            Some(order) => {
                return Err(ScimError::invalid_value(format!(
                    "sortOrder '{order}' is neither ascending nor descending"
                )));
            }
        };
        let clamp = |n: i64, low: i64, high: i64| u32::try_from(n.clamp(low, high)).unwrap_or(1);
        Ok(Self {
            filter,
            start_index: clamp(start_index.unwrap_or(1), 1, i64::from(u32::MAX)),
            count: clamp(count.unwrap_or(i64::from(DEFAULT_PAGE)), 0, i64::from(MAX_PAGE)),
            sort_by: sort_by.map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned),
            descending,
            cursor: cursor.map(|c| c.trim().to_owned()),
            projection,
        })
    }

    fn from_params(params: &Params) -> Result<Self, ScimError> {
        Self::new(
            params.get("filter"),
            params.number("startIndex")?,
            params.number("count")?,
            params.get("sortBy"),
            params.get("sortOrder"),
            params.get("cursor"),
            params.projection(),
        )
    }

    /// A SearchRequest body (RFC 7644 §3.4.3); member names in any case.
    fn from_body(body: &Value) -> Result<Self, ScimError> {
        if !body.is_object() {
            return Err(ScimError::invalid_syntax("a SearchRequest is a JSON object"));
        }
        let text = |name: &str| -> Result<Option<String>, ScimError> {
            match scim::filter::lookup(body, name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(ScimError::invalid_value(format!("'{name}' must be a string"))),
            }
        };
        let number = |name: &str| -> Result<Option<i64>, ScimError> {
            match scim::filter::lookup(body, name) {
                None | Some(Value::Null) => Ok(None),
                Some(value) => value
                    .as_i64()
                    .map(Some)
                    .ok_or_else(|| ScimError::invalid_value(format!("'{name}' must be an integer"))),
            }
        };
        let names = |name: &str| -> Result<Option<String>, ScimError> {
            match scim::filter::lookup(body, name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|item| item.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .map(|names| Some(names.join(",")))
                    .ok_or_else(|| ScimError::invalid_value(format!("'{name}' must list attribute names"))),
                Some(_) => Err(ScimError::invalid_value(format!("'{name}' must list attribute names"))),
            }
        };
        let projection = Projection::parse(names("attributes")?.as_deref(), names("excludedAttributes")?.as_deref());
        Self::new(
            text("filter")?.as_deref(),
            number("startIndex")?,
            number("count")?,
            text("sortBy")?.as_deref(),
            text("sortOrder")?.as_deref(),
            text("cursor")?.as_deref(),
            projection,
        )
    }

    fn message(&self) -> QueryRequest {
        QueryRequest {
            filter: self.filter.as_ref().map(proto::Filter::from),
            start_index: self.start_index,
            count: self.count,
            exclude_members: self.projection.excludes("members"),
            sort_by: self.sort_by.clone(),
            sort_descending: self.descending,
            cursor: self.cursor.clone(),
        }
    }
}

impl ScimCall {
    /// Runs a query on this call's resource type and renders the ListResponse.
    async fn query(&self, search: &Search) -> Handled {
        let mut core = self.core();
        let found = match self.kind {
            ResourceType::User => core.query_users(self.grpc(search.message())).await?,
            ResourceType::Group => core.query_groups(self.grpc(search.message())).await?,
        }
        .into_inner();
        let base = self.base_url();
        let mut resources = Vec::with_capacity(found.resources.len());
        for resource in found.resources {
            let resource = self.complete(resource).await?;
            resources.push(render::resource(self.kind, resource, &base, &search.projection)?.0);
        }
        let mut body = scim::list::list_response(found.total_results, search.start_index, resources);
        if search.cursor.is_some() {
            // RFC 9865: cursor pages carry nextCursor instead of startIndex.
            if let Value::Object(object) = &mut body {
                object.remove("startIndex");
                if let Some(next) = found.next_cursor {
                    object.insert("nextCursor".into(), Value::String(next));
                }
            }
        }
        Ok(render::respond(StatusCode::OK, &body, None, None))
    }
}

pub async fn list(call: ScimCall) -> Handled {
    let search = Search::from_params(&call.params)?;
    call.query(&search).await
}

/// `POST /Users/.search`, `POST /Groups/.search`.
pub async fn search(call: ScimCall, payload: web::Payload) -> Handled {
    let body = call.body(payload).await?;
    call.query(&Search::from_body(&body)?).await
}

/// `POST /.search`: Users then Groups, one page over both. A filter that names attributes of
/// only one type matches nothing of the other.
pub async fn search_all(call: ScimCall, payload: web::Payload) -> Handled {
    let body = call.body(payload).await?;
    let search = Search::from_body(&body)?;
    if search.sort_by.is_some() || search.cursor.is_some() {
        return Err(ScimError::invalid_value(
            "a search over every resource type pages by startIndex and does not sort",
        )
        .into());
    }
    let base = call.base_url();
    let mut core = call.core();
    let mut resources = Vec::new();
    let mut total = 0u64;
    let mut skip = u64::from(search.start_index) - 1;
    let mut refused = Vec::new();
    for kind in [ResourceType::User, ResourceType::Group] {
        let room = u64::from(search.count).saturating_sub(resources.len() as u64);
        let message = QueryRequest {
            start_index: u32::try_from(skip + 1).unwrap_or(u32::MAX),
            count: u32::try_from(room).unwrap_or(0),
            ..search.message()
        };
        let answer = match kind {
            ResourceType::User => core.query_users(call.grpc(message)).await,
            ResourceType::Group => core.query_groups(call.grpc(message)).await,
        };
        let found = match answer {
            Ok(found) => found.into_inner(),
            // A filter on attributes of the other type only: nothing of this type matches.
            Err(status) if status.code() == tonic::Code::InvalidArgument => {
                refused.push(status);
                continue;
            }
            Err(status) => return Err(status.into()),
        };
        total += found.total_results;
        skip = skip.saturating_sub(found.total_results);
        for resource in found.resources {
            let resource = call.complete(resource).await?;
            resources.push(render::resource(kind, resource, &base, &search.projection)?.0);
        }
    }
    // A filter that no resource type accepts is an error, never an empty list.
    if refused.len() == 2
        && let Some(status) = refused.pop()
    {
        return Err(status.into());
    }
    let body = scim::list::list_response(total, search.start_index, resources);
    Ok(render::respond(StatusCode::OK, &body, None, None))
}

/// `/Me`: there is no user principal behind a provisioning token.
pub async fn me() -> HttpResponse {
    scim_error_response(&ScimError::new(
        501,
        None,
        "/Me is not supported: a SCIM token authenticates a tenant, not a user",
    ))
}

pub async fn replace(call: ScimCall, id: web::Path<String>, payload: web::Payload) -> Handled {
    let body = call.body(payload).await?;
    let resource = call.replace_in(call.kind, resource_id(id)?, body, call.if_match()).await?;
    let resource = call.complete(resource).await?;
    call.render(resource, StatusCode::OK)
}

/// PATCH: Users answer 200 with the resource (Entra's validator expects it); Groups answer 204,
/// as Microsoft recommends, unless `attributes` asks for the resource.
pub async fn patch(call: ScimCall, id: web::Path<String>, payload: web::Payload) -> Handled {
    let body = call.body(payload).await?;
    let no_content = call.kind == ResourceType::Group && call.params.get("attributes").is_none();
    // Members are fetched only for an answer that shows them.
    let exclude_members = no_content || call.params.projection().excludes("members");
    let resource = call.patch_in(call.kind, resource_id(id)?, &body, call.if_match(), exclude_members).await?;
    if no_content {
        let etag = scim::list::weak_etag(resource.version);
        return Ok(HttpResponse::NoContent().insert_header((header::ETAG, etag)).finish());
    }
    let resource = call.complete(resource).await?;
    call.render(resource, StatusCode::OK)
}

pub async fn delete(call: ScimCall, id: web::Path<String>) -> Handled {
    call.delete_in(call.kind, resource_id(id)?, call.if_match()).await?;
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
        .service(web::resource("/.search").route(web::post().to(search)).default_service(web::to(method_not_allowed)))
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
