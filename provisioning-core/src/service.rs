//! The tonic `Provisioning` service. Each RPC authenticates the credential in the metadata,
//! converts its message, and runs its store work on the blocking pool (diesel is synchronous);
//! writes wake the outbox relay.

use std::sync::Arc;

use proto::provisioning_server::Provisioning;
use proto::{
    CreateGroupRequest, CreateUserRequest, DeclaredSchema, DeleteResourceRequest, DeleteResourceResponse,
    GetResourceRequest, GetSchemasRequest, GetSchemasResponse, PatchResourceRequest, QueryRequest, QueryResponse,
    RecordRejectionRequest, RecordRejectionResponse, ReplaceGroupRequest, ReplaceUserRequest, Resource,
};
use tokio::sync::Notify;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use crate::conversions;
use crate::error::CoreError;
use crate::provisioning_log::{self, ProvisioningLog};
use crate::rate_limit::TenantLimits;
use crate::store::cursor::{self, CursorKey};
use crate::store::query::{Page, Sort};
use crate::store::tenants::{self, Caller, TenantId};
use crate::store::{Store, StoredResource, groups, schemas, users};
use scim::{ResourceType, ScimError, ScimType};

#[derive(Clone)]
pub struct ProvisioningService {
    store: Store,
    relay_wake: Arc<Notify>,
    cursor_key: CursorKey,
    log: ProvisioningLog,
    limits: TenantLimits,
    /// Links new users to accounts the product made by hand (when a directory is configured).
    linker: Option<crate::linking::Linker>,
}

/// The hash of the bearer token in a request's metadata.
fn credential(metadata: &MetadataMap) -> Result<String, CoreError> {
    metadata
        .get(proto::credential::METADATA_KEY)
        .and_then(|value| value.to_str().ok())
        .and_then(proto::credential::bearer_token)
        .map(crate::token::fingerprint)
        .ok_or(CoreError::Unauthenticated)
}

/// Who a token (by hash) belongs to; on a blocking thread.
fn caller(store: &Store, credential: &str) -> Result<Caller, CoreError> {
    store.read(|conn| tenants::authenticate(conn, credential, platform::db::now_micros()))
}

/// The trace id of the request's W3C trace context, when it carries one.
fn trace_id(metadata: &MetadataMap) -> Option<String> {
    let traceparent = metadata.get(proto::trace_context::METADATA_KEY)?.to_str().ok()?;
    proto::trace_context::trace_id(traceparent).map(str::to_owned)
}

/// What the provisioning log says a request was.
struct Op {
    method: &'static str,
    kind: Option<ResourceType>,
    id: Option<String>,
    path: &'static str,
    /// The status a success answers.
    success: i32,
}

impl Op {
    /// The operation's name in metrics, and the gRPC method that carried it.
    fn names(&self) -> (&'static str, String) {
        let operation = match (self.method, self.kind.is_some(), self.id.is_some()) {
            ("POST", true, false) => "create",
            ("GET", true, true) => "get",
            ("GET", true, false) => "query",
            ("PUT", _, _) => "replace",
            ("PATCH", _, _) => "patch",
            ("DELETE", _, _) => "delete",
            _ => "schemas",
        };
        let method = match (operation, self.kind) {
            ("query", Some(ResourceType::User)) => "QueryUsers".to_owned(),
            ("query", Some(ResourceType::Group)) => "QueryGroups".to_owned(),
            ("schemas", _) => "GetSchemas".to_owned(),
            (_, Some(kind)) => {
                let verb = match operation {
                    "create" => "Create",
                    "get" => "Get",
                    "replace" => "Replace",
                    "patch" => "Patch",
                    _ => "Delete",
                };
                format!("{verb}{}", kind.name())
            }
            (_, None) => "Unknown".to_owned(),
        };
        (operation, method)
    }

    fn create(kind: ResourceType) -> Self {
        Self { method: "POST", kind: Some(kind), id: None, path: "", success: 201 }
    }

    fn on(method: &'static str, kind: ResourceType, id: &str) -> Self {
        let success = if method == "DELETE" { 204 } else { 200 };
        Self { method, kind: Some(kind), id: Some(id.to_owned()), path: "", success }
    }

    fn list(kind: ResourceType) -> Self {
        Self { method: "GET", kind: Some(kind), id: None, path: "", success: 200 }
    }

    fn path(method: &'static str, path: &'static str) -> Self {
        Self { method, kind: None, id: None, path, success: 200 }
    }
}

/// The resource a request's result names, for the log.
trait LoggedId {
    fn logged_id(&self) -> Option<String> {
        None
    }
}

impl LoggedId for StoredResource {
    fn logged_id(&self) -> Option<String> {
        Some(self.id.clone())
    }
}

impl LoggedId for () {}
impl<T> LoggedId for (QueryPlan, T) {}
impl<T> LoggedId for Vec<T> {}

impl ProvisioningService {
    pub fn new(
        store: Store,
        relay_wake: Arc<Notify>,
        cursor_key: CursorKey,
        log: ProvisioningLog,
        limits: TenantLimits,
        linker: Option<crate::linking::Linker>,
    ) -> Self {
        Self { store, relay_wake, cursor_key, log, limits, linker }
    }

    /// Authenticates, then runs `work` for the tenant on the blocking pool, and logs the request
    /// in the tenant's provisioning log.
    async fn run<T: LoggedId + Send + 'static>(
        &self,
        metadata: &MetadataMap,
        op: Op,
        work: impl FnOnce(&Store, &TenantId) -> Result<T, CoreError> + Send + 'static,
    ) -> Result<T, Status> {
        let started = std::time::Instant::now();
        let credential = credential(metadata)?;
        let store = self.store.clone();
        let limits = self.limits.clone();
        // The RPC's span: spawn_blocking does not carry it over by itself.
        let span = tracing::Span::current();
        // One trip to the blocking pool: the token's lookup, the rate limit, the work.
        let (caller, outcome, warnings) = tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let caller = caller(&store, &credential)?;
            span.record("tenant.id", caller.tenant.as_str());
            let (outcome, warnings) = provisioning_log::collecting(|| {
                limits.admit(caller.tenant.as_str(), caller.settings.rate_limit)?;
                work(&store, &caller.tenant)
            });
            Ok::<_, CoreError>((caller, outcome, warnings))
        })
        .await
        .map_err(|e| CoreError::Internal(format!("store task failed: {e}")))??;
        let (status, scim_type, detail) = provisioning_log::outcome(outcome.as_ref().map(|_| ()));
        let logged_status = if status == 200 { op.success } else { status };
        let (operation, grpc_method) = op.names();
        let resource = op.kind.map_or("none", ResourceType::name);
        let status_text = logged_status.to_string();
        crate::observe::SCIM_REQUESTS
            .with_label_values(&[caller.tenant.as_str(), resource, operation, status_text.as_str()])
            .inc();
        crate::observe::SCIM_DURATION
            .with_label_values(&[caller.tenant.as_str(), resource, operation])
            .observe(started.elapsed().as_secs_f64());
        let code = if status == 200 {
            tonic::Code::Ok
        } else {
            crate::error::code_for_status(u16::try_from(status).unwrap_or(500))
        };
        crate::observe::GRPC_HANDLED.with_label_values(&[grpc_method.as_str(), &format!("{code:?}")]).inc();
        tracing::debug!(
            tenant.id = caller.tenant.as_str(),
            operation,
            resource,
            status = logged_status,
            "SCIM request handled"
        );
        let resource_id = op.id.clone().or_else(|| outcome.as_ref().ok().and_then(LoggedId::logged_id));
        let path = match (&op.kind, &resource_id) {
            (Some(kind), Some(id)) if op.method != "POST" || op.id.is_some() => format!("/{}/{id}", kind.endpoint()),
            (Some(kind), _) => format!("/{}", kind.endpoint()),
            (None, _) => op.path.to_owned(),
        };
        self.log.record(provisioning_log::Entry {
            tenant_id: caller.tenant.0,
            at: platform::db::now_micros(),
            method: op.method.to_owned(),
            path,
            resource_type: op.kind.map(|kind| kind.name().to_owned()),
            resource_id,
            status: logged_status,
            scim_type,
            detail,
            warnings: (!warnings.is_empty()).then(|| serde_json::Value::from(warnings).to_string()),
            latency_micros: i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX),
            trace_id: trace_id(metadata),
            token_id: Some(caller.token_id),
        });
        Ok(outcome?)
    }

    /// The caller of a request, from the bearer token in its metadata.
    async fn authenticate(&self, metadata: &MetadataMap) -> Result<Caller, CoreError> {
        let credential = credential(metadata)?;
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || caller(&store, &credential))
            .await
            .map_err(|e| CoreError::Internal(format!("store task failed: {e}")))?
    }

    async fn write(
        &self,
        metadata: &MetadataMap,
        op: Op,
        work: impl FnOnce(&mut platform::db::DbConnection, &TenantId) -> Result<StoredResource, CoreError> + Send + 'static,
    ) -> Result<Response<Resource>, Status> {
        let resource = self.run(metadata, op, move |store, tenant| store.write(|conn| work(conn, tenant))).await?;
        self.relay_wake.notify_one();
        Ok(Response::new(resource.into()))
    }

    async fn delete(
        &self,
        metadata: &MetadataMap,
        op: Op,
        work: impl FnOnce(&mut platform::db::DbConnection, &TenantId) -> Result<(), CoreError> + Send + 'static,
    ) -> Result<Response<DeleteResourceResponse>, Status> {
        self.run(metadata, op, move |store, tenant| store.write(|conn| work(conn, tenant))).await?;
        self.relay_wake.notify_one();
        Ok(Response::new(DeleteResourceResponse {}))
    }
}

/// A query, checked and planned: filter, sort and the page (by index or by cursor).
struct QueryPlan {
    filter: Option<scim::Filter>,
    sort: Option<Sort>,
    page: Page,
    exclude_members: bool,
    /// With cursor paging: the query's fingerprint, to sign the next cursor with.
    cursor_query: Option<String>,
}

impl QueryPlan {
    /// Plans a tenant's query; a cursor must have been issued for this tenant and query.
    fn new(kind: ResourceType, message: QueryRequest, key: &CursorKey, tenant: &TenantId) -> Result<Self, CoreError> {
        let QueryRequest { filter, start_index, count, exclude_members, sort_by, sort_descending, cursor } = message;
        let filter = conversions::filter(filter)?;
        let sort = sort_by
            .as_deref()
            .map(|by| {
                scim::AttrPath::parse(by)
                    .map(|by| Sort { by, descending: sort_descending })
                    .map_err(|_| ScimError::invalid_value(format!("sortBy: '{by}' is not an attribute path")))
            })
            .transpose()?;
        let fingerprint = cursor::fingerprint(tenant, kind, filter.as_ref(), sort_by.as_deref(), sort_descending);
        let (start_index, cursor_query) = match cursor {
            None => (start_index, None),
            Some(cursor) if cursor.is_empty() => (1, Some(fingerprint)),
            Some(cursor) => {
                let offset = key.open(&cursor, &fingerprint)?;
                (
                    u32::try_from(offset + 1)
                        .map_err(|_| ScimError::bad_request(ScimType::InvalidCursor, "the cursor is out of range"))?,
                    Some(fingerprint),
                )
            }
        };
        Ok(Self { filter, sort, page: Page::new(start_index, Some(count)), exclude_members, cursor_query })
    }

    fn respond(
        self,
        (total, resources): (i64, Vec<StoredResource>),
        key: &CursorKey,
    ) -> Result<QueryResponse, CoreError> {
        let total_results = u64::try_from(total).unwrap_or(0);
        let next = u64::try_from(self.page.offset()).unwrap_or(0) + resources.len() as u64;
        let next_cursor = match &self.cursor_query {
            Some(query) if next < total_results && !resources.is_empty() => Some(key.issue(next, query)?),
            _ => None,
        };
        Ok(QueryResponse { total_results, resources: resources.into_iter().map(Resource::from).collect(), next_cursor })
    }
}

#[tonic::async_trait]
impl Provisioning for ProvisioningService {
    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "CreateUser", tenant.id))]
    async fn create_user(&self, request: Request<CreateUserRequest>) -> Result<Response<Resource>, Status> {
        let (metadata, _, CreateUserRequest { user }) = request.into_parts();
        let input = conversions::user_input(user)?;
        let Some(linker) = self.linker.clone() else {
            return self
                .write(&metadata, Op::create(ResourceType::User), move |conn, tenant| {
                    users::create(conn, tenant, input)
                })
                .await;
        };
        let runtime = tokio::runtime::Handle::current();
        let resource = self
            .run(&metadata, Op::create(ResourceType::User), move |store, tenant| {
                // Looked up before the write's transaction: no transaction waits on the network.
                let email = store.read(|conn| users::email_for_linking(conn, tenant, &input.attributes))?;
                let candidate = match email {
                    Some(email) => runtime.block_on(linker.unlinked_account(tenant.as_str(), &email))?,
                    None => None,
                };
                store.write(|conn| users::create_linked(conn, tenant, input, candidate))
            })
            .await?;
        self.relay_wake.notify_one();
        Ok(Response::new(resource.into()))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "GetUser", tenant.id))]
    async fn get_user(&self, request: Request<GetResourceRequest>) -> Result<Response<Resource>, Status> {
        let (metadata, _, GetResourceRequest { id, exclude_members: _ }) = request.into_parts();
        let resource = self
            .run(&metadata, Op::on("GET", ResourceType::User, &id), move |store, tenant| {
                store.read(|conn| users::get(conn, tenant, &id))
            })
            .await?;
        Ok(Response::new(resource.into()))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "ReplaceUser", tenant.id))]
    async fn replace_user(&self, request: Request<ReplaceUserRequest>) -> Result<Response<Resource>, Status> {
        let (metadata, _, ReplaceUserRequest { id, user, if_match_version }) = request.into_parts();
        let input = conversions::user_input(user)?;
        self.write(&metadata, Op::on("PUT", ResourceType::User, &id), move |conn, tenant| {
            users::update(conn, tenant, &id, if_match_version, |_| Ok(input))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "PatchUser", tenant.id))]
    async fn patch_user(&self, request: Request<PatchResourceRequest>) -> Result<Response<Resource>, Status> {
        let (metadata, _, PatchResourceRequest { id, operations, if_match_version }) = request.into_parts();
        let operations = conversions::patch_operations(operations)?;
        self.write(&metadata, Op::on("PATCH", ResourceType::User, &id), move |conn, tenant| {
            users::update(conn, tenant, &id, if_match_version, |attributes| {
                Ok(scim::patch::patch_user(attributes, operations)?)
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "DeleteUser", tenant.id))]
    async fn delete_user(
        &self,
        request: Request<DeleteResourceRequest>,
    ) -> Result<Response<DeleteResourceResponse>, Status> {
        let (metadata, _, DeleteResourceRequest { id, if_match_version }) = request.into_parts();
        self.delete(&metadata, Op::on("DELETE", ResourceType::User, &id), move |conn, tenant| {
            users::delete(conn, tenant, &id, if_match_version)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "QueryUsers", tenant.id))]
    async fn query_users(&self, request: Request<QueryRequest>) -> Result<Response<QueryResponse>, Status> {
        let (metadata, _, message) = request.into_parts();
        let key = self.cursor_key.clone();
        let (query, found) = self
            .run(&metadata, Op::list(ResourceType::User), move |store, tenant| {
                let plan = QueryPlan::new(ResourceType::User, message, &key, tenant)?;
                let found = store
                    .read(|conn| users::search(conn, tenant, plan.filter.as_ref(), plan.sort.as_ref(), plan.page))?;
                Ok((plan, found))
            })
            .await?;
        Ok(Response::new(query.respond(found, &self.cursor_key)?))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "CreateGroup", tenant.id))]
    async fn create_group(&self, request: Request<CreateGroupRequest>) -> Result<Response<Resource>, Status> {
        let (metadata, _, CreateGroupRequest { group }) = request.into_parts();
        let input = conversions::group_input(group)?;
        self.write(&metadata, Op::create(ResourceType::Group), move |conn, tenant| groups::create(conn, tenant, input))
            .await
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "GetGroup", tenant.id))]
    async fn get_group(&self, request: Request<GetResourceRequest>) -> Result<Response<Resource>, Status> {
        let (metadata, _, GetResourceRequest { id, exclude_members }) = request.into_parts();
        let resource = self
            .run(&metadata, Op::on("GET", ResourceType::Group, &id), move |store, tenant| {
                store.read(|conn| groups::get(conn, tenant, &id, exclude_members))
            })
            .await?;
        Ok(Response::new(resource.into()))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "ReplaceGroup", tenant.id))]
    async fn replace_group(&self, request: Request<ReplaceGroupRequest>) -> Result<Response<Resource>, Status> {
        let (metadata, _, ReplaceGroupRequest { id, group, if_match_version }) = request.into_parts();
        let input = conversions::group_input(group)?;
        self.write(&metadata, Op::on("PUT", ResourceType::Group, &id), move |conn, tenant| {
            groups::update(conn, tenant, &id, if_match_version, |_, _| Ok(input))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "PatchGroup", tenant.id))]
    async fn patch_group(&self, request: Request<PatchResourceRequest>) -> Result<Response<Resource>, Status> {
        let (metadata, _, PatchResourceRequest { id, operations, if_match_version }) = request.into_parts();
        let operations = conversions::patch_operations(operations)?;
        self.write(&metadata, Op::on("PATCH", ResourceType::Group, &id), move |conn, tenant| {
            groups::update(conn, tenant, &id, if_match_version, |attributes, members| {
                Ok(scim::patch::patch_group(attributes, members, operations)?)
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "DeleteGroup", tenant.id))]
    async fn delete_group(
        &self,
        request: Request<DeleteResourceRequest>,
    ) -> Result<Response<DeleteResourceResponse>, Status> {
        let (metadata, _, DeleteResourceRequest { id, if_match_version }) = request.into_parts();
        self.delete(&metadata, Op::on("DELETE", ResourceType::Group, &id), move |conn, tenant| {
            groups::delete(conn, tenant, &id, if_match_version)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "QueryGroups", tenant.id))]
    async fn query_groups(&self, request: Request<QueryRequest>) -> Result<Response<QueryResponse>, Status> {
        let (metadata, _, message) = request.into_parts();
        let key = self.cursor_key.clone();
        let (query, found) = self
            .run(&metadata, Op::list(ResourceType::Group), move |store, tenant| {
                let plan = QueryPlan::new(ResourceType::Group, message, &key, tenant)?;
                let found = store.read(|conn| {
                    let (filter, sort) = (plan.filter.as_ref(), plan.sort.as_ref());
                    groups::search(conn, tenant, filter, sort, plan.page, plan.exclude_members)
                })?;
                Ok((plan, found))
            })
            .await?;
        Ok(Response::new(query.respond(found, &self.cursor_key)?))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "GetSchemas", tenant.id))]
    async fn get_schemas(&self, request: Request<GetSchemasRequest>) -> Result<Response<GetSchemasResponse>, Status> {
        let (metadata, _, GetSchemasRequest {}) = request.into_parts();
        let declared = self
            .run(&metadata, Op::path("GET", "/Schemas"), move |store, tenant| {
                store.read(|conn| schemas::declared(conn, tenant))
            })
            .await?;
        let schemas = declared
            .into_iter()
            .map(|(kind, definition)| DeclaredSchema {
                resource_type: kind.name().to_owned(),
                definition_json: definition.to_string(),
            })
            .collect();
        Ok(Response::new(GetSchemasResponse { schemas }))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "RecordRejection", tenant.id))]
    async fn record_rejection(
        &self,
        request: Request<RecordRejectionRequest>,
    ) -> Result<Response<RecordRejectionResponse>, Status> {
        let (metadata, _, RecordRejectionRequest { method, path, status, scim_type, latency_micros }) =
            request.into_parts();
        let caller = self.authenticate(&metadata).await?;
        tracing::Span::current().record("tenant.id", caller.tenant.as_str());
        // Rejections count against the tenant's rate limit; over it they are not logged.
        if self.limits.admit(caller.tenant.as_str(), caller.settings.rate_limit).is_err() {
            return Ok(Response::new(RecordRejectionResponse {}));
        }
        let bounded = |text: String, max: usize| text.chars().take(max).collect::<String>();
        let (resource_type, resource_id) = provisioning_log::resource_of(&path);
        self.log.record(provisioning_log::Entry {
            tenant_id: caller.tenant.0,
            at: platform::db::now_micros(),
            method: bounded(method, 16),
            path: bounded(path, 512),
            resource_type,
            resource_id,
            status: i32::try_from(status).unwrap_or(500),
            scim_type: scim_type.and_then(|t| ScimType::parse(&t)).map(|t| t.as_str().to_owned()),
            detail: Some("answered by the gateway".to_owned()),
            warnings: None,
            latency_micros: i64::try_from(latency_micros).unwrap_or(i64::MAX),
            trace_id: trace_id(&metadata),
            token_id: Some(caller.token_id),
        });
        Ok(Response::new(RecordRejectionResponse {}))
    }
}
