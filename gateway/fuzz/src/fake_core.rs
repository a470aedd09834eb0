//! A provisioning-core stand-in for the `request` target: it answers every RPC with a plausible
//! resource or with the error the fuzz input chose, and checks what the gateway promises the
//! core (a credential and a valid trace context on every call, attributes that are JSON
//! objects, no NUL in any text a database column would store, bounded pages and PATCHes). A
//! broken promise is recorded and fails the input that caused it.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};

use proto::provisioning_server::Provisioning;
use proto::{
    CheckTokenRequest, CheckTokenResponse, CreateGroupRequest, CreateUserRequest, DeleteResourceRequest,
    DeleteResourceResponse, GetResourceRequest, GetSchemasRequest, GetSchemasResponse, GroupPart, PatchResourceRequest,
    QueryRequest, QueryResponse, RecordRejectionRequest, RecordRejectionResponse, ReplaceGroupRequest,
    ReplaceUserRequest, Resource,
};
use serde_json::{Value, json};
use tonic::codegen::tokio_stream::{self, Stream};
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Written into the core's internal errors: it must never reach an HTTP client.
pub const INTERNAL_SECRET: &str = "core-internal-cause-5f1c";

/// The most operations one PATCH may hold (the gateway refuses more).
const MAX_PATCH_OPERATIONS: usize = 1000;

/// The token the gateway is given by most inputs (region `local`, the default).
pub const TOKEN: &str = "scim_local_fuzz0token";

/// What the core answers to every call of the current input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, arbitrary::Arbitrary)]
pub enum Answer {
    Resource,
    /// Groups come without their members (read with `ReadGroup`).
    MembersOmitted,
    NotFound,
    Uniqueness,
    VersionMismatch,
    InvalidValue,
    InvalidFilter,
    TooMany,
    RateLimited,
    /// A SCIM 503 with details (a statement timeout), as the core sends it.
    Busy,
    Unauthenticated,
    Unavailable,
    Internal,
}

impl Answer {
    const ALL: [Answer; 13] = [
        Answer::Resource,
        Answer::MembersOmitted,
        Answer::NotFound,
        Answer::Uniqueness,
        Answer::VersionMismatch,
        Answer::InvalidValue,
        Answer::InvalidFilter,
        Answer::TooMany,
        Answer::RateLimited,
        Answer::Busy,
        Answer::Unauthenticated,
        Answer::Unavailable,
        Answer::Internal,
    ];

    /// Whether the core itself fails (then the gateway may answer 5xx).
    pub fn is_server_error(self) -> bool {
        matches!(self, Answer::Busy | Answer::Unavailable | Answer::Internal)
    }

    /// The error of this answer, as provisioning-core builds it (`provisioning-core/src/error.rs`).
    fn error(self) -> Option<Status> {
        let scim = |status: u16, code: Code, reason: &str, detail: &str| {
            let mut details = ErrorDetails::new();
            details.set_error_info(reason, "scim", HashMap::from([("status".to_owned(), status.to_string())]));
            Some(Status::with_error_details(code, detail, details))
        };
        match self {
            Answer::Resource | Answer::MembersOmitted => None,
            Answer::NotFound => scim(404, Code::NotFound, "none", "User 2819c223 not found"),
            Answer::Uniqueness => scim(409, Code::AlreadyExists, "uniqueness", "userName is already taken"),
            Answer::VersionMismatch => {
                scim(412, Code::FailedPrecondition, "none", "the resource has changed: its version is W/\"7\"")
            }
            Answer::InvalidValue => scim(400, Code::InvalidArgument, "invalidValue", "'active' must be a boolean"),
            Answer::InvalidFilter => scim(400, Code::InvalidArgument, "invalidFilter", "no attribute 'foo'"),
            Answer::TooMany => scim(413, Code::OutOfRange, "tooMany", "the filter matches too many resources"),
            Answer::RateLimited => scim(429, Code::ResourceExhausted, "none", "too many requests"),
            Answer::Busy => scim(503, Code::Unavailable, "none", "the request needed more database time"),
            Answer::Unauthenticated => Some(Status::unauthenticated("missing, unknown or revoked token")),
            Answer::Unavailable => {
                Some(Status::unavailable(format!("the database is unavailable ({INTERNAL_SECRET})")))
            }
            Answer::Internal => Some(Status::internal(format!("database error: {INTERNAL_SECRET}"))),
        }
    }
}

static ANSWER: AtomicU8 = AtomicU8::new(0);
static BROKEN_PROMISES: Mutex<Vec<String>> = Mutex::new(Vec::new());
static REJECTIONS: AtomicU64 = AtomicU64::new(0);
static REJECTION_RECORDED: LazyLock<tokio::sync::Notify> = LazyLock::new(tokio::sync::Notify::new);

/// Sets the answer for the calls of the next request.
pub fn answer_with(answer: Answer) {
    let index = Answer::ALL.iter().position(|a| *a == answer).unwrap_or(0);
    ANSWER.store(index as u8, Ordering::SeqCst);
}

fn current() -> Answer {
    Answer::ALL[usize::from(ANSWER.load(Ordering::SeqCst)) % Answer::ALL.len()]
}

/// The promises broken since the last call, emptied.
pub fn broken_promises() -> Vec<String> {
    std::mem::take(&mut *BROKEN_PROMISES.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
}

/// How many `RecordRejection` calls arrived so far.
pub fn rejections() -> u64 {
    REJECTIONS.load(Ordering::SeqCst)
}

/// Waits until more than `seen` rejections arrived.
pub async fn rejection_after(seen: u64) {
    loop {
        let notified = REJECTION_RECORDED.notified();
        if rejections() > seen {
            return;
        }
        notified.await;
    }
}

fn broken(rpc: &str, what: String) {
    BROKEN_PROMISES.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(format!("{rpc}: {what}"));
}

fn check_text(rpc: &str, field: &str, text: &str) {
    if text.contains('\0') {
        broken(rpc, format!("{field} holds a NUL: {text:?}"));
    }
}

/// Every string and key of a JSON document, checked for NUL.
fn check_json_text(rpc: &str, field: &str, value: &Value) {
    match value {
        Value::String(text) => check_text(rpc, field, text),
        Value::Array(items) => items.iter().for_each(|item| check_json_text(rpc, field, item)),
        Value::Object(object) => object.iter().for_each(|(key, item)| {
            check_text(rpc, field, key);
            check_json_text(rpc, field, item);
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn check_object(rpc: &str, field: &str, json: &str) -> serde_json::Map<String, Value> {
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(object)) => {
            check_json_text(rpc, field, &Value::Object(object.clone()));
            object
        }
        _ => {
            broken(rpc, format!("{field} is not a JSON object: {json:?}"));
            serde_json::Map::new()
        }
    }
}

/// The metadata every call carries: `authorization: Bearer <token>` and a valid `traceparent`.
fn check_metadata<T>(rpc: &str, request: &Request<T>) {
    let metadata = request.metadata();
    match metadata.get(proto::credential::METADATA_KEY).map(|v| v.to_str()) {
        Some(Ok(value)) if proto::credential::bearer_token(value).is_some() => {}
        other => broken(rpc, format!("no bearer credential in the metadata: {other:?}")),
    }
    match metadata.get(proto::trace_context::METADATA_KEY).map(|v| v.to_str()) {
        Some(Ok(value)) if proto::trace_context::trace_id(value).is_some() => {}
        other => broken(rpc, format!("no valid traceparent in the metadata: {other:?}")),
    }
}

/// The start of every RPC: the promises, then the chosen error if any.
fn start<T>(rpc: &str, request: &Request<T>) -> Result<(), Status> {
    check_metadata(rpc, request);
    current().error().map_or(Ok(()), Err)
}

fn check_id(rpc: &str, id: &str) {
    check_text(rpc, "id", id);
}

fn resource(id: &str, attributes: serde_json::Map<String, Value>, version: i64, members_omitted: bool) -> Resource {
    Resource {
        id: id.to_owned(),
        attributes_json: Value::Object(attributes).to_string(),
        version,
        created_micros: 1_700_000_000_000_000,
        last_modified_micros: 1_700_000_100_000_000,
        members_omitted,
    }
}

fn stored_user() -> serde_json::Map<String, Value> {
    object(json!({
        "userName": "bjensen@example.com",
        "externalId": "e-1",
        "active": true,
        "displayName": "Barbara Jensen",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [{"type": "work", "value": "bjensen@example.com", "primary": true}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D", "manager": {"value": "m1"}},
    }))
}

/// A stored group, with its members unless they are omitted from the message.
fn stored_group(members: bool) -> serde_json::Map<String, Value> {
    let mut group = object(json!({"displayName": "Engineering", "externalId": "g-1"}));
    if members {
        group.insert("members".into(), json!([{"value": "u1", "type": "User"}, {"value": "u2", "type": "User"}]));
    }
    group
}

fn object(value: Value) -> serde_json::Map<String, Value> {
    match value {
        Value::Object(object) => object,
        _ => serde_json::Map::new(),
    }
}

fn check_user(rpc: &str, user: Option<&proto::UserInput>) -> serde_json::Map<String, Value> {
    let Some(user) = user else {
        broken(rpc, "no user".into());
        return stored_user();
    };
    check_text(rpc, "userName", &user.user_name);
    if user.user_name.trim().is_empty() {
        broken(rpc, "an empty userName".into());
    }
    user.external_id.iter().for_each(|e| check_text(rpc, "externalId", e));
    user.display_name.iter().for_each(|d| check_text(rpc, "displayName", d));
    check_object(rpc, "attributes_json", &user.attributes_json)
}

fn check_group(rpc: &str, group: Option<&proto::GroupInput>) -> serde_json::Map<String, Value> {
    let Some(group) = group else {
        broken(rpc, "no group".into());
        return stored_group(false);
    };
    check_text(rpc, "displayName", &group.display_name);
    group.external_id.iter().for_each(|e| check_text(rpc, "externalId", e));
    group.member_ids.iter().for_each(|id| check_text(rpc, "member id", id));
    let mut attributes = check_object(rpc, "attributes_json", &group.attributes_json);
    if attributes.contains_key("members") {
        broken(rpc, "members in attributes_json (they travel as member_ids)".into());
    }
    if current() != Answer::MembersOmitted {
        let members: Vec<Value> = group.member_ids.iter().map(|id| json!({"value": id, "type": "User"})).collect();
        attributes.insert("members".into(), Value::Array(members));
    }
    attributes
}

fn check_patch(rpc: &str, request: &PatchResourceRequest) {
    check_id(rpc, &request.id);
    if request.operations.len() > MAX_PATCH_OPERATIONS {
        broken(rpc, format!("{} operations", request.operations.len()));
    }
    for operation in &request.operations {
        if proto::PatchOp::try_from(operation.op).is_err() || operation.op == proto::PatchOp::Unspecified as i32 {
            broken(rpc, format!("operation {}", operation.op));
        }
        operation.path.iter().for_each(|p| check_text(rpc, "path", p));
        if let Some(value) = &operation.value_json {
            match serde_json::from_str::<Value>(value) {
                Ok(value) => check_json_text(rpc, "value_json", &value),
                Err(_) => broken(rpc, format!("value_json is not JSON: {value:?}")),
            }
        }
    }
}

fn check_query(rpc: &str, request: &QueryRequest) {
    if request.count > scim::list::MAX_PAGE {
        broken(rpc, format!("count {} above the page bound", request.count));
    }
    if request.start_index == 0 && request.cursor.is_none() {
        broken(rpc, "startIndex 0".into());
    }
    // sortBy and the cursor the core parses and refuses itself; a filter's text it compares
    // with stored text, so the gateway's parser refuses NUL in it.
    if let Some(filter) = &request.filter {
        check_filter(rpc, filter);
    }
}

fn check_filter(rpc: &str, filter: &proto::Filter) {
    use proto::filter::Kind;
    match &filter.kind {
        Some(Kind::Compare(comparison)) => {
            check_text(rpc, "filter attribute", &comparison.attribute);
            match serde_json::from_str::<Value>(&comparison.value_json) {
                Ok(value) => check_json_text(rpc, "filter value", &value),
                Err(_) => broken(rpc, format!("filter value is not JSON: {:?}", comparison.value_json)),
            }
        }
        Some(Kind::Present(attribute)) => check_text(rpc, "filter attribute", attribute),
        Some(Kind::And(list) | Kind::Or(list)) => list.filters.iter().for_each(|f| check_filter(rpc, f)),
        Some(Kind::Not(inner)) => check_filter(rpc, inner),
        Some(Kind::ValuePath(value_path)) => {
            check_text(rpc, "filter attribute", &value_path.attribute);
            value_path.filter.iter().for_each(|f| check_filter(rpc, f));
        }
        None => broken(rpc, "a filter of no kind".into()),
    }
}

/// A page of the query: at most two resources of two.
fn page(request: &QueryRequest, found: impl Fn(usize) -> Resource) -> QueryResponse {
    let total = 2u64;
    let skip = if request.cursor.is_some() { 0 } else { u64::from(request.start_index.max(1)) - 1 };
    let shown = total.saturating_sub(skip).min(u64::from(request.count));
    let resources = (0..shown).map(|i| found(usize::try_from(skip + i).unwrap_or(0))).collect();
    let next_cursor = request.cursor.as_ref().filter(|c| c.is_empty()).map(|_| "page-2".to_owned());
    QueryResponse { total_results: total, resources, next_cursor }
}

pub struct FakeCore;

type Answered<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl Provisioning for FakeCore {
    async fn create_user(&self, request: Request<CreateUserRequest>) -> Answered<Resource> {
        start("CreateUser", &request)?;
        let attributes = check_user("CreateUser", request.get_ref().user.as_ref());
        Ok(Response::new(resource("2819c223-7f76-453a-919d-413861904646", attributes, 1, false)))
    }

    async fn get_user(&self, request: Request<GetResourceRequest>) -> Answered<Resource> {
        start("GetUser", &request)?;
        check_id("GetUser", &request.get_ref().id);
        Ok(Response::new(resource(&request.get_ref().id, stored_user(), 3, false)))
    }

    async fn replace_user(&self, request: Request<ReplaceUserRequest>) -> Answered<Resource> {
        start("ReplaceUser", &request)?;
        check_id("ReplaceUser", &request.get_ref().id);
        let attributes = check_user("ReplaceUser", request.get_ref().user.as_ref());
        Ok(Response::new(resource(&request.get_ref().id, attributes, 4, false)))
    }

    async fn patch_user(&self, request: Request<PatchResourceRequest>) -> Answered<Resource> {
        start("PatchUser", &request)?;
        check_patch("PatchUser", request.get_ref());
        Ok(Response::new(resource(&request.get_ref().id, stored_user(), 4, false)))
    }

    async fn delete_user(&self, request: Request<DeleteResourceRequest>) -> Answered<DeleteResourceResponse> {
        start("DeleteUser", &request)?;
        check_id("DeleteUser", &request.get_ref().id);
        Ok(Response::new(DeleteResourceResponse {}))
    }

    async fn query_users(&self, request: Request<QueryRequest>) -> Answered<QueryResponse> {
        start("QueryUsers", &request)?;
        check_query("QueryUsers", request.get_ref());
        Ok(Response::new(page(request.get_ref(), |i| resource(&format!("u{}", i + 1), stored_user(), 2, false))))
    }

    async fn create_group(&self, request: Request<CreateGroupRequest>) -> Answered<Resource> {
        start("CreateGroup", &request)?;
        let attributes = check_group("CreateGroup", request.get_ref().group.as_ref());
        let omitted = current() == Answer::MembersOmitted;
        Ok(Response::new(resource("e9e30dba-f08f-4109-8486-d5c6a331660a", attributes, 1, omitted)))
    }

    async fn get_group(&self, request: Request<GetResourceRequest>) -> Answered<Resource> {
        start("GetGroup", &request)?;
        check_id("GetGroup", &request.get_ref().id);
        let with_members = !request.get_ref().exclude_members && current() != Answer::MembersOmitted;
        let omitted = !request.get_ref().exclude_members && current() == Answer::MembersOmitted;
        Ok(Response::new(resource(&request.get_ref().id, stored_group(with_members), 3, omitted)))
    }

    type ReadGroupStream = Pin<Box<dyn Stream<Item = Result<GroupPart, Status>> + Send>>;

    async fn read_group(&self, request: Request<GetResourceRequest>) -> Answered<Self::ReadGroupStream> {
        start("ReadGroup", &request)?;
        check_id("ReadGroup", &request.get_ref().id);
        let first = resource(&request.get_ref().id, stored_group(false), 3, false);
        let parts = vec![
            Ok(GroupPart { part: Some(proto::group_part::Part::Resource(first)) }),
            Ok(GroupPart {
                part: Some(proto::group_part::Part::Members(proto::MemberIds { ids: vec!["u1".into(), "u2".into()] })),
            }),
            Ok(GroupPart { part: Some(proto::group_part::Part::Members(proto::MemberIds { ids: vec!["u3".into()] })) }),
        ];
        Ok(Response::new(Box::pin(tokio_stream::iter(parts))))
    }

    async fn replace_group(&self, request: Request<ReplaceGroupRequest>) -> Answered<Resource> {
        start("ReplaceGroup", &request)?;
        check_id("ReplaceGroup", &request.get_ref().id);
        let attributes = check_group("ReplaceGroup", request.get_ref().group.as_ref());
        let omitted = current() == Answer::MembersOmitted;
        Ok(Response::new(resource(&request.get_ref().id, attributes, 4, omitted)))
    }

    async fn patch_group(&self, request: Request<PatchResourceRequest>) -> Answered<Resource> {
        start("PatchGroup", &request)?;
        check_patch("PatchGroup", request.get_ref());
        let with_members = !request.get_ref().exclude_members && current() != Answer::MembersOmitted;
        let omitted = !request.get_ref().exclude_members && current() == Answer::MembersOmitted;
        Ok(Response::new(resource(&request.get_ref().id, stored_group(with_members), 4, omitted)))
    }

    async fn delete_group(&self, request: Request<DeleteResourceRequest>) -> Answered<DeleteResourceResponse> {
        start("DeleteGroup", &request)?;
        check_id("DeleteGroup", &request.get_ref().id);
        Ok(Response::new(DeleteResourceResponse {}))
    }

    async fn query_groups(&self, request: Request<QueryRequest>) -> Answered<QueryResponse> {
        start("QueryGroups", &request)?;
        check_query("QueryGroups", request.get_ref());
        let with_members = !request.get_ref().exclude_members && current() != Answer::MembersOmitted;
        let omitted = !request.get_ref().exclude_members && current() == Answer::MembersOmitted;
        Ok(Response::new(page(request.get_ref(), |i| {
            resource(&format!("g{}", i + 1), stored_group(with_members), 2, omitted)
        })))
    }

    async fn get_schemas(&self, request: Request<GetSchemasRequest>) -> Answered<GetSchemasResponse> {
        start("GetSchemas", &request)?;
        let definition = json!({
            "id": "urn:ietf:params:scim:schemas:extension:acme:2.0:User",
            "name": "AcmeUser",
            "attributes": [{"name": "badge", "type": "string"}],
        });
        Ok(Response::new(GetSchemasResponse {
            schemas: vec![proto::DeclaredSchema {
                resource_type: "User".into(),
                definition_json: definition.to_string(),
            }],
        }))
    }

    async fn check_token(&self, request: Request<CheckTokenRequest>) -> Answered<CheckTokenResponse> {
        check_metadata("CheckToken", &request);
        match current() {
            // What the core answers here: the token's verdict, or its own failure.
            answer @ (Answer::Unauthenticated | Answer::Unavailable | Answer::Internal) => {
                Err(answer.error().unwrap_or_else(|| Status::internal(INTERNAL_SECRET)))
            }
            _ => Ok(Response::new(CheckTokenResponse {})),
        }
    }

    async fn record_rejection(&self, request: Request<RecordRejectionRequest>) -> Answered<RecordRejectionResponse> {
        // Never refused (the log is best effort), but the promises hold here too.
        check_metadata("RecordRejection", &request);
        let report = request.get_ref();
        if !(400..600).contains(&report.status) || report.status == 401 {
            broken("RecordRejection", format!("status {}", report.status));
        }
        if !report.path.starts_with('/') || report.path.contains('?') {
            broken("RecordRejection", format!("path {:?}", report.path));
        }
        check_text("RecordRejection", "path", &report.path);
        REJECTIONS.fetch_add(1, Ordering::SeqCst);
        REJECTION_RECORDED.notify_waiters();
        Ok(Response::new(RecordRejectionResponse {}))
    }
}
