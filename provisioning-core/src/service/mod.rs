//! The tonic `Provisioning` service. Every RPC goes through [`ProvisioningService::run`]: the
//! credential in the metadata is checked, the tenant's context loaded (once, cached by config
//! revision), the rate limit applied, and the work done on the blocking pool (diesel is
//! synchronous), then the request is logged in the tenant's provisioning log. The operations
//! are one file each, written once over the resource kind (`crate::write::Kind`).

mod create;
mod delete;
mod get;
mod patch;
mod query;
mod rejection;
mod replace;
mod schemas;

use std::sync::Arc;

use proto::provisioning_server::Provisioning;
use proto::{
    CheckTokenRequest, CheckTokenResponse, CreateGroupRequest, CreateUserRequest, DeleteResourceRequest,
    DeleteResourceResponse, GetResourceRequest, GetSchemasRequest, GetSchemasResponse, PatchResourceRequest,
    QueryRequest, QueryResponse, RecordRejectionRequest, RecordRejectionResponse, ReplaceGroupRequest,
    ReplaceUserRequest, Resource,
};
use tokio::sync::Notify;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use crate::context::{ContextCache, TenantContext};
use crate::conversions;
use crate::error::CoreError;
use crate::provisioning_log::{self, ProvisioningLog};
use crate::rate_limit::{TenantLimits, TenantSlots};
use crate::store::cursor::CursorKey;
use crate::store::tenants::{self, Caller};
use crate::store::{Store, StoredResource};
use crate::write::{Group, User};
use scim::ResourceType;

#[derive(Clone)]
pub struct ProvisioningService {
    store: Store,
    relay_wake: Arc<Notify>,
    cursor_key: CursorKey,
    log: ProvisioningLog,
    limits: TenantLimits,
    slots: TenantSlots,
    contexts: ContextCache,
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
    // One statement: no transaction around it.
    store.query(|conn| tenants::authenticate(conn, credential, platform::db::now_micros()))
}

/// The last moment a write of this request may commit: the caller's gRPC deadline
/// (`grpc-timeout`) less a margin for the answer to reach it (a fifth of it, at most 2 s), so
/// that a write is either answered or rolled back, never committed after the caller gave up.
fn commit_deadline(metadata: &MetadataMap, started: std::time::Instant) -> Option<std::time::Instant> {
    let timeout = grpc_timeout(metadata.get("grpc-timeout")?.to_str().ok()?)?;
    let margin = (timeout / 5).min(std::time::Duration::from_secs(2));
    Some(started + timeout - margin)
}

/// A `grpc-timeout` value: at most 8 digits and a unit (gRPC over HTTP/2, "Timeout").
fn grpc_timeout(value: &str) -> Option<std::time::Duration> {
    use std::time::Duration;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The trace id of the request's W3C trace context, when it carries one.
fn trace_id(metadata: &MetadataMap) -> Option<String> {
    let traceparent = metadata.get(proto::trace_context::METADATA_KEY)?.to_str().ok()?;
    proto::trace_context::trace_id(traceparent).map(str::to_owned)
}

/// The IdP's `User-Agent`, as the gateway forwarded it.
pub(crate) fn user_agent(metadata: &MetadataMap) -> Option<String> {
    let value = metadata.get(proto::idp_user_agent::METADATA_KEY)?.to_str().ok()?;
    let value: String = value.chars().take(proto::idp_user_agent::MAX_CHARS).collect();
    (!value.is_empty()).then_some(value)
}

/// What the provisioning log says a request was.
struct Op {
    method: &'static str,
    kind: Option<ResourceType>,
    id: Option<String>,
    path: &'static str,
    /// The status a success answers.
    success: i32,
    /// False for the rest of an answer of a request already logged (`follow_up`).
    logged: bool,
    /// The gRPC method, when it is not the one the operation names (`ReadGroup`).
    rpc: Option<&'static str>,
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
        (operation, self.rpc.map_or(method, str::to_owned))
    }

    fn create(kind: ResourceType) -> Self {
        Self { method: "POST", kind: Some(kind), id: None, path: "", success: 201, logged: true, rpc: None }
    }

    fn on(method: &'static str, kind: ResourceType, id: &str) -> Self {
        let success = if method == "DELETE" { 204 } else { 200 };
        Self { method, kind: Some(kind), id: Some(id.to_owned()), path: "", success, logged: true, rpc: None }
    }

    fn list(kind: ResourceType) -> Self {
        Self { method: "GET", kind: Some(kind), id: None, path: "", success: 200, logged: true, rpc: None }
    }

    fn path(method: &'static str, path: &'static str) -> Self {
        Self { method, kind: None, id: None, path, success: 200, logged: true, rpc: None }
    }

    /// A follow-up call is neither logged nor counted as a SCIM request again.
    fn follow_up(self, follow_up: bool) -> Self {
        Self { logged: !follow_up, ..self }
    }

    fn via(self, rpc: &'static str) -> Self {
        Self { rpc: Some(rpc), ..self }
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
impl<T, U> LoggedId for (T, U) {}
impl<T> LoggedId for Vec<T> {}

/// A request's work: the store, the tenant's context, and where to note warnings.
type Work<T> = Box<dyn FnOnce(&Store, &TenantContext, &mut Vec<String>) -> Result<T, CoreError> + Send>;

impl ProvisioningService {
    pub fn new(
        store: Store,
        relay_wake: Arc<Notify>,
        cursor_key: CursorKey,
        log: ProvisioningLog,
        limits: TenantLimits,
        slots: TenantSlots,
        linker: Option<crate::linking::Linker>,
    ) -> Self {
        Self { store, relay_wake, cursor_key, log, limits, slots, contexts: ContextCache::default(), linker }
    }

    /// Authenticates, loads the tenant's context, then runs `work` for it on the blocking pool,
    /// and logs the request in the tenant's provisioning log.
    async fn run<T: LoggedId + Send + 'static>(
        &self,
        metadata: &MetadataMap,
        op: Op,
        work: Work<T>,
    ) -> Result<T, Status> {
        let started = std::time::Instant::now();
        let deadline = commit_deadline(metadata, started);
        let credential = credential(metadata)?;
        // The RPC's span: spawn_blocking does not carry it over by itself.
        let span = tracing::Span::current();
        // The token's lookup: one statement; an unknown token is answered before anything else.
        let store = self.store.clone();
        let caller = tokio::task::spawn_blocking(move || caller(&store, &credential))
            .await
            .map_err(|e| CoreError::Internal(format!("store task failed: {e}")))??;
        span.record("tenant.id", caller.tenant.as_str());
        // A follow-up belongs to a request admitted already (a write that committed): never
        // refused by the rate limit after the fact.
        let admitted = !op.logged;
        let (store, contexts) = (self.store.clone(), self.contexts.clone());
        let work_caller = caller.clone();
        let run = async {
            if !admitted {
                self.limits.admit(caller.tenant.as_str(), caller.settings.rate_limit)?;
            }
            // The tenant's share of the database: held while its work runs, even past the
            // caller's deadline (the blocking work is not cancelled with the RPC).
            let slot = self.slots.acquire(caller.tenant.as_str()).await?;
            tokio::task::spawn_blocking(move || {
                let _slot = slot;
                let _entered = span.enter();
                let mut warnings = Vec::new();
                let outcome = contexts
                    .context(&store, &work_caller)
                    .map(|ctx| ctx.until(deadline))
                    .and_then(|ctx| work(&store, &ctx, &mut warnings));
                (outcome, warnings)
            })
            .await
            .map_err(|e| CoreError::Internal(format!("store task failed: {e}")))
        };
        let (outcome, warnings) = match run.await {
            Ok(done) => done,
            Err(refused) => (Err(refused), Vec::new()),
        };
        let (status, scim_type, detail) = provisioning_log::outcome(outcome.as_ref().map(|_| ()));
        let logged_status = if status == 200 { op.success } else { status };
        self.observe(&caller, &op, started, status, logged_status);
        if !op.logged {
            return Ok(outcome?);
        }
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
            warnings: provisioning_log::bounded_warnings(warnings),
            latency_micros: i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX),
            trace_id: trace_id(metadata),
            token_id: Some(caller.token_id),
            user_agent: user_agent(metadata),
        });
        Ok(outcome?)
    }

    /// Metrics and the debug line of a handled request.
    /// `status` is the outcome's (200 for any success), `logged_status` what the request answered.
    fn observe(&self, caller: &Caller, op: &Op, started: std::time::Instant, status: i32, logged_status: i32) {
        let (operation, grpc_method) = op.names();
        let resource = op.kind.map_or("none", ResourceType::name);
        let status_text = logged_status.to_string();
        if op.logged {
            crate::observe::SCIM_REQUESTS
                .with_label_values(&[caller.tenant.as_str(), resource, operation, status_text.as_str()])
                .inc();
            crate::observe::SCIM_DURATION
                .with_label_values(&[caller.tenant.as_str(), resource, operation])
                .observe(started.elapsed().as_secs_f64());
        }
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
    }

    /// Runs a write's work and wakes the outbox relay after it.
    async fn write<T: LoggedId + Send + 'static>(
        &self,
        metadata: &MetadataMap,
        op: Op,
        work: Work<T>,
    ) -> Result<T, Status> {
        let done = self.run(metadata, op, work).await?;
        self.relay_wake.notify_one();
        Ok(done)
    }

    /// The caller of a request, from the bearer token in its metadata.
    async fn authenticate(&self, metadata: &MetadataMap) -> Result<Caller, CoreError> {
        let credential = credential(metadata)?;
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || caller(&store, &credential))
            .await
            .map_err(|e| CoreError::Internal(format!("store task failed: {e}")))?
    }
}

#[tonic::async_trait]
impl Provisioning for ProvisioningService {
    #[tracing::instrument(skip_all, fields(rpc.system.name = "grpc", rpc.method = "CreateUser", tenant.id))]
    async fn create_user(&self, request: Request<CreateUserRequest>) -> Result<Response<Resource>, Status> {
        let (metadata, _, CreateUserRequest { user }) = request.into_parts();
        let input = conversions::user_input(user)?;
        create::create_user(self, &metadata, input).await
    }

    #[tracing::instrument(skip_all, fields(rpc.system.name = "grpc", rpc.method = "GetUser", tenant.id))]
    async fn get_user(&self, request: Request<GetResourceRequest>) -> Result<Response<Resource>, Status> {
        get::get::<User>(self, request).await
    }

    #[tracing::instrument(skip_all, fields(rpc.system.name = "grpc", rpc.method = "ReplaceUser", tenant.id))]
    async fn replace_user(&self, request: Request<ReplaceUserRequest>) -> Result<Response<Resource>, Status> {
        let (metadata, _, ReplaceUserRequest { id, user, if_match_version, if_match }) = request.into_parts();
        let input = conversions::user_input(user)?.into();
        let if_match = proto::precondition::allowed(if_match_version, if_match);
        replace::replace::<User>(self, &metadata, id, input, if_match).await
    }

    #[tracing::instrument(skip_all, fields(rpc.system.name = "grpc", rpc.method = "PatchUser", tenant.id))]
    async fn patch_user(&self, request: Request<PatchResourceRequest>) -> Result<Response<Resource>, Status> {
        patch::patch::<User>(self, request).await
    }

    #[tracing::instrument(skip_all, fields(rpc.system.name = "grpc", rpc.method = "DeleteUser", tenant.id))]
    async fn delete_user(
        &self,
        request: Request<DeleteResourceRequest>,
    ) -> Result<Response<DeleteResourceResponse>, Status> {
        delete::delete::<User>(self, request).await
    }

    #[tracing::instrument(skip_all, fields(rpc.system.name = "grpc", rpc.method = "QueryUsers", tenant.id))]
    async fn query_users(&self, request: Request<QueryRequest>) -> Result<Response<QueryResponse>, Status> {
        query::query::<User>(self, request).await
    }

    #[tracing::instrument(skip_all, fields(rpc.system.name = "grpc", rpc.method = "CreateGroup", tenant.id))]
    async fn create_group(&self, request: Request<CreateGroupRequest>) -> Result<Response<Resource>, Status> {
        let (metadata, _, CreateGroupRequest { group }) = request.into_parts();
        let input = conversions::group_input(group)?;
        create::create::<Group>(self, &metadata, input).await
    }

    #[tracing::instrument(skip_all, fields(rpc.system.name = "grpc", rpc.method = "GetGroup", tenant.id))]
    async fn get_group(&self, request: Request<GetResourceRequest>) -> Result<Response<Resource>, Status> {
        get::get::<Group>(self, request).await
    }

    type ReadGroupStream = get::GroupStream;

    #[tracing::instrument(skip_all, fields(rpc.system.name = "grpc", rpc.method = "ReadGroup", tenant.id))]
    async fn read_group(
        &self,
        request: Request<GetResourceRequest>,
    ) -> Result<Response<Self::ReadGroupStream>, Status> {
        get::read_group(self, request).await
    }

    #[tracing::instrument(skip_all, fields(rpc.system.name = "grpc", rpc.method = "ReplaceGroup", tenant.id))]
    async fn replace_group(&self, request: Request<ReplaceGroupRequest>) -> Result<Response<Resource>, Status> {
        let (metadata, _, ReplaceGroupRequest { id, group, if_match_version, if_match }) = request.into_parts();
        let input = conversions::group_input(group)?;
        let if_match = proto::precondition::allowed(if_match_version, if_match);
        replace::replace::<Group>(self, &metadata, id, input, if_match).await
    }

    #[tracing::instrument(skip_all, fields(rpc.system.name = "grpc", rpc.method = "PatchGroup", tenant.id))]
    async fn patch_group(&self, request: Request<PatchResourceRequest>) -> Result<Response<Resource>, Status> {
        patch::patch::<Group>(self, request).await
    }

    #[tracing::instrument(skip_all, fields(rpc.system.name = "grpc", rpc.method = "DeleteGroup", tenant.id))]
    async fn delete_group(
        &self,
        request: Request<DeleteResourceRequest>,
    ) -> Result<Response<DeleteResourceResponse>, Status> {
        delete::delete::<Group>(self, request).await
    }

    #[tracing::instrument(skip_all, fields(rpc.system.name = "grpc", rpc.method = "QueryGroups", tenant.id))]
    async fn query_groups(&self, request: Request<QueryRequest>) -> Result<Response<QueryResponse>, Status> {
        query::query::<Group>(self, request).await
    }

    #[tracing::instrument(skip_all, fields(rpc.system.name = "grpc", rpc.method = "GetSchemas", tenant.id))]
    async fn get_schemas(&self, request: Request<GetSchemasRequest>) -> Result<Response<GetSchemasResponse>, Status> {
        schemas::get_schemas(self, request).await
    }

    #[tracing::instrument(skip_all, fields(rpc.system.name = "grpc", rpc.method = "CheckToken", tenant.id))]
    async fn check_token(&self, request: Request<CheckTokenRequest>) -> Result<Response<CheckTokenResponse>, Status> {
        let caller = self.authenticate(request.metadata()).await?;
        tracing::Span::current().record("tenant.id", caller.tenant.as_str());
        Ok(Response::new(CheckTokenResponse {}))
    }

    #[tracing::instrument(skip_all, fields(rpc.system.name = "grpc", rpc.method = "RecordRejection", tenant.id))]
    async fn record_rejection(
        &self,
        request: Request<RecordRejectionRequest>,
    ) -> Result<Response<RecordRejectionResponse>, Status> {
        rejection::record_rejection(self, request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn grpc_timeouts_and_the_commit_deadline() {
        assert_eq!(grpc_timeout("25S"), Some(Duration::from_secs(25)));
        assert_eq!(grpc_timeout("1500m"), Some(Duration::from_millis(1500)));
        assert_eq!(grpc_timeout("2M"), Some(Duration::from_secs(120)));
        for bad in ["", "S", "123456789S", "10x", "-1S", "1.5S"] {
            assert_eq!(grpc_timeout(bad), None, "{bad:?}");
        }
        let started = Instant::now();
        let mut metadata = MetadataMap::new();
        assert_eq!(commit_deadline(&metadata, started), None, "no deadline: none");
        metadata.insert("grpc-timeout", "25S".parse().unwrap());
        assert_eq!(commit_deadline(&metadata, started), Some(started + Duration::from_secs(23)), "2 s margin");
        metadata.insert("grpc-timeout", "1000m".parse().unwrap());
        assert_eq!(commit_deadline(&metadata, started), Some(started + Duration::from_millis(800)), "a fifth");
    }
}
