//! The tonic `Provisioning` service. Each RPC authenticates the credential in the metadata,
//! converts its message, and runs its store work on the blocking pool (diesel is synchronous);
//! writes wake the outbox relay.

use std::sync::Arc;

use proto::provisioning_server::Provisioning;
use proto::{
    CreateGroupRequest, CreateUserRequest, DeleteResourceRequest, DeleteResourceResponse, GetResourceRequest,
    PatchResourceRequest, QueryRequest, QueryResponse, ReplaceGroupRequest, ReplaceUserRequest, Resource,
};
use tokio::sync::Notify;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use crate::conversions;
use crate::error::CoreError;
use crate::store::query::Page;
use crate::store::tenants::{self, TenantId};
use crate::store::{Store, StoredResource, groups, users};

#[derive(Clone)]
pub struct ProvisioningService {
    store: Store,
    relay_wake: Arc<Notify>,
}

impl ProvisioningService {
    pub fn new(store: Store, relay_wake: Arc<Notify>) -> Self {
        Self { store, relay_wake }
    }

    /// Authenticates, then runs `work` for the tenant on the blocking pool.
    async fn run<T: Send + 'static>(
        &self,
        metadata: &MetadataMap,
        work: impl FnOnce(&Store, &TenantId) -> Result<T, CoreError> + Send + 'static,
    ) -> Result<T, Status> {
        let credential = metadata
            .get(proto::credential::METADATA_KEY)
            .and_then(|value| value.to_str().ok())
            .and_then(proto::credential::bearer_token)
            .map(crate::token::fingerprint)
            .ok_or(CoreError::Unauthenticated)?;
        let store = self.store.clone();
        // The RPC's span: spawn_blocking does not carry it over by itself.
        let span = tracing::Span::current();
        let outcome = tokio::task::spawn_blocking(move || {
            let tenant = store.read(|conn| tenants::authenticate(conn, &credential))?;
            span.record("tenant.id", tenant.as_str());
            let _entered = span.enter();
            work(&store, &tenant)
        })
        .await
        .map_err(|e| CoreError::Internal(format!("store task failed: {e}")))?;
        Ok(outcome?)
    }

    async fn write(
        &self,
        metadata: &MetadataMap,
        work: impl FnOnce(&mut platform::db::DbConnection, &TenantId) -> Result<StoredResource, CoreError> + Send + 'static,
    ) -> Result<Response<Resource>, Status> {
        let resource = self.run(metadata, move |store, tenant| store.write(|conn| work(conn, tenant))).await?;
        self.relay_wake.notify_one();
        Ok(Response::new(resource.into()))
    }

    async fn delete(
        &self,
        metadata: &MetadataMap,
        work: impl FnOnce(&mut platform::db::DbConnection, &TenantId) -> Result<(), CoreError> + Send + 'static,
    ) -> Result<Response<DeleteResourceResponse>, Status> {
        self.run(metadata, move |store, tenant| store.write(|conn| work(conn, tenant))).await?;
        self.relay_wake.notify_one();
        Ok(Response::new(DeleteResourceResponse {}))
    }
}

fn query_response((total, resources): (i64, Vec<StoredResource>)) -> QueryResponse {
    QueryResponse {
        total_results: u64::try_from(total).unwrap_or(0),
        resources: resources.into_iter().map(Resource::from).collect(),
    }
}

#[tonic::async_trait]
impl Provisioning for ProvisioningService {
    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "CreateUser", tenant.id))]
    async fn create_user(&self, request: Request<CreateUserRequest>) -> Result<Response<Resource>, Status> {
        let (metadata, _, CreateUserRequest { user }) = request.into_parts();
        let input = conversions::user_input(user)?;
        self.write(&metadata, move |conn, tenant| users::create(conn, tenant, input)).await
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "GetUser", tenant.id))]
    async fn get_user(&self, request: Request<GetResourceRequest>) -> Result<Response<Resource>, Status> {
        let (metadata, _, GetResourceRequest { id, exclude_members: _ }) = request.into_parts();
        let resource =
            self.run(&metadata, move |store, tenant| store.read(|conn| users::get(conn, tenant, &id))).await?;
        Ok(Response::new(resource.into()))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "ReplaceUser", tenant.id))]
    async fn replace_user(&self, request: Request<ReplaceUserRequest>) -> Result<Response<Resource>, Status> {
        let (metadata, _, ReplaceUserRequest { id, user, if_match_version }) = request.into_parts();
        let input = conversions::user_input(user)?;
        self.write(&metadata, move |conn, tenant| users::update(conn, tenant, &id, if_match_version, |_| Ok(input)))
            .await
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "PatchUser", tenant.id))]
    async fn patch_user(&self, request: Request<PatchResourceRequest>) -> Result<Response<Resource>, Status> {
        let (metadata, _, PatchResourceRequest { id, operations, if_match_version }) = request.into_parts();
        let operations = conversions::patch_operations(operations)?;
        self.write(&metadata, move |conn, tenant| {
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
        self.delete(&metadata, move |conn, tenant| users::delete(conn, tenant, &id, if_match_version)).await
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "QueryUsers", tenant.id))]
    async fn query_users(&self, request: Request<QueryRequest>) -> Result<Response<QueryResponse>, Status> {
        let (metadata, _, QueryRequest { filter, start_index, count, exclude_members: _ }) = request.into_parts();
        let filter = conversions::filter(filter)?;
        let page = Page::new(start_index, Some(count));
        let found = self
            .run(&metadata, move |store, tenant| store.read(|conn| users::list(conn, tenant, filter.as_ref(), page)))
            .await?;
        Ok(Response::new(query_response(found)))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "CreateGroup", tenant.id))]
    async fn create_group(&self, request: Request<CreateGroupRequest>) -> Result<Response<Resource>, Status> {
        let (metadata, _, CreateGroupRequest { group }) = request.into_parts();
        let input = conversions::group_input(group)?;
        self.write(&metadata, move |conn, tenant| groups::create(conn, tenant, input)).await
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "GetGroup", tenant.id))]
    async fn get_group(&self, request: Request<GetResourceRequest>) -> Result<Response<Resource>, Status> {
        let (metadata, _, GetResourceRequest { id, exclude_members }) = request.into_parts();
        let resource = self
            .run(&metadata, move |store, tenant| store.read(|conn| groups::get(conn, tenant, &id, exclude_members)))
            .await?;
        Ok(Response::new(resource.into()))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "ReplaceGroup", tenant.id))]
    async fn replace_group(&self, request: Request<ReplaceGroupRequest>) -> Result<Response<Resource>, Status> {
        let (metadata, _, ReplaceGroupRequest { id, group, if_match_version }) = request.into_parts();
        let input = conversions::group_input(group)?;
        self.write(&metadata, move |conn, tenant| groups::update(conn, tenant, &id, if_match_version, |_, _| Ok(input)))
            .await
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "PatchGroup", tenant.id))]
    async fn patch_group(&self, request: Request<PatchResourceRequest>) -> Result<Response<Resource>, Status> {
        let (metadata, _, PatchResourceRequest { id, operations, if_match_version }) = request.into_parts();
        let operations = conversions::patch_operations(operations)?;
        self.write(&metadata, move |conn, tenant| {
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
        self.delete(&metadata, move |conn, tenant| groups::delete(conn, tenant, &id, if_match_version)).await
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "QueryGroups", tenant.id))]
    async fn query_groups(&self, request: Request<QueryRequest>) -> Result<Response<QueryResponse>, Status> {
        let (metadata, _, QueryRequest { filter, start_index, count, exclude_members }) = request.into_parts();
        let filter = conversions::filter(filter)?;
        let page = Page::new(start_index, Some(count));
        let found = self
            .run(&metadata, move |store, tenant| {
                store.read(|conn| groups::list(conn, tenant, filter.as_ref(), page, exclude_members))
            })
            .await?;
        Ok(Response::new(query_response(found)))
    }
}
