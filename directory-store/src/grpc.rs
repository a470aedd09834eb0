//! The `Directory` gRPC service: accounts and teams by id (a team without its members, which are
//! paged with `ListTeamMembers` so that no answer outgrows the message limit), the live
//! accounts with an email (what provisioning-core asks before creating an account, to link to a
//! manual one), the states of a tenant's accounts and teams for reconciliation, and the dead
//! letters.

use proto::directory_server::Directory as DirectoryRpc;
use proto::{
    Account, FindAccountsRequest, FindAccountsResponse, GetAccountRequest, GetTeamRequest, ListAccountStatesResponse,
    ListAccountsRequest, ListAccountsResponse, ListDeadLettersRequest, ListDeadLettersResponse, ListStatesRequest,
    ListTeamMembersRequest, ListTeamMembersResponse, ListTeamStatesResponse, ListTeamsRequest, ListTeamsResponse, Team,
    TeamSummary,
};
use tonic::{Request, Response, Status};

use crate::Directory;
use crate::credentials::{self, Grant, Scope};
use crate::error::DirectoryError;
use crate::{dead_letter, paging, read};

/// A page request's size and decoded cursor.
fn page(limit: u32, cursor: &str) -> Result<(i64, Option<String>), DirectoryError> {
    let limit = paging::page_size_within(paging::grpc_limit(limit), paging::DEFAULT_RECORDS, paging::MAX_RECORDS)?;
    Ok((limit, paging::decode_cursor(cursor)?))
}

fn next_cursor(next: Option<String>) -> String {
    next.as_deref().map(paging::encode_cursor).unwrap_or_default()
}

/// A valid `ListStatesRequest`: the tenant, the id to continue after and the page size.
fn states_request(request: ListStatesRequest) -> Result<(String, Option<String>, i64), DirectoryError> {
    let ListStatesRequest { tenant_id, after_id, limit } = request;
    if tenant_id.is_empty() {
        return Err(DirectoryError::Invalid("tenant_id is required".to_owned()));
    }
    let limit = paging::page_size(paging::grpc_limit(limit))?;
    Ok((tenant_id, (!after_id.is_empty()).then_some(after_id), limit))
}

pub struct DirectoryService {
    directory: Directory,
}

impl DirectoryService {
    pub fn new(directory: Directory) -> Self {
        Self { directory }
    }

    /// The caller's grant, from its `authorization: Bearer …` metadata (UNAUTHENTICATED without a
    /// valid one).
    async fn grant(&self, metadata: &tonic::metadata::MetadataMap) -> Result<Grant, Status> {
        let value = metadata.get(proto::credential::METADATA_KEY).and_then(|v| v.to_str().ok());
        let token = credentials::presented(value)?.to_owned();
        self.blocking(move |d| d.read(|conn| credentials::authenticate(conn, &token))).await
    }

    /// UNAUTHENTICATED / PERMISSION_DENIED unless the caller may read `tenant`.
    async fn may_read(&self, metadata: &tonic::metadata::MetadataMap, tenant: &str) -> Result<(), Status> {
        Ok(self.grant(metadata).await?.check(tenant, Scope::Read)?)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Directory) -> Result<T, DirectoryError> + Send + 'static,
    ) -> Result<T, Status> {
        let directory = self.directory.clone();
        let outcome = tokio::task::spawn_blocking(move || work(&directory))
            .await
            .map_err(|e| DirectoryError::Internal(e.to_string()))?;
        Ok(outcome?)
    }
}

#[tonic::async_trait]
impl DirectoryRpc for DirectoryService {
    #[tracing::instrument(skip_all, fields(rpc.system.name = "grpc", rpc.method = "GetAccount"))]
    async fn get_account(&self, request: Request<GetAccountRequest>) -> Result<Response<Account>, Status> {
        self.may_read(request.metadata(), &request.get_ref().tenant_id).await?;
        let GetAccountRequest { tenant_id, id } = request.into_inner();
        let account = self.blocking(move |d| d.read(|conn| read::account(conn, &tenant_id, &id))).await?;
        Ok(Response::new(account.into()))
    }

    #[tracing::instrument(skip_all, fields(rpc.system.name = "grpc", rpc.method = "GetTeam"))]
    async fn get_team(&self, request: Request<GetTeamRequest>) -> Result<Response<Team>, Status> {
        self.may_read(request.metadata(), &request.get_ref().tenant_id).await?;
        let GetTeamRequest { tenant_id, id } = request.into_inner();
        let team = self.blocking(move |d| d.read(|conn| read::team_without_members(conn, &tenant_id, &id))).await?;
        Ok(Response::new(team))
    }

    #[tracing::instrument(skip_all, fields(rpc.system.name = "grpc", rpc.method = "ListTeamMembers"))]
    async fn list_team_members(
        &self,
        request: Request<ListTeamMembersRequest>,
    ) -> Result<Response<ListTeamMembersResponse>, Status> {
        self.may_read(request.metadata(), &request.get_ref().tenant_id).await?;
        let ListTeamMembersRequest { tenant_id, team_id, cursor, limit } = request.into_inner();
        if tenant_id.is_empty() {
            return Err(DirectoryError::Invalid("tenant_id is required".to_owned()).into());
        }
        if team_id.is_empty() {
            return Err(DirectoryError::Invalid("team_id is required".to_owned()).into());
        }
        let limit = paging::page_size(paging::grpc_limit(limit))?;
        let after = paging::decode_cursor(&cursor)?;
        let (member_ids, next) = self
            .blocking(move |d| d.read(|conn| read::team_members(conn, &tenant_id, &team_id, after.as_deref(), limit)))
            .await?;
        let next_cursor = next.as_deref().map(paging::encode_cursor).unwrap_or_default();
        Ok(Response::new(ListTeamMembersResponse { member_ids, next_cursor }))
    }

    #[tracing::instrument(skip_all, fields(rpc.system.name = "grpc", rpc.method = "ListAccounts"))]
    async fn list_accounts(
        &self,
        request: Request<ListAccountsRequest>,
    ) -> Result<Response<ListAccountsResponse>, Status> {
        self.may_read(request.metadata(), &request.get_ref().tenant_id).await?;
        let ListAccountsRequest {
            tenant_id,
            external_id,
            user_name,
            email,
            scim_user_id,
            active,
            team_id,
            cursor,
            limit,
        } = request.into_inner();
        if tenant_id.is_empty() {
            return Err(DirectoryError::Invalid("tenant_id is required".to_owned()).into());
        }
        let filter = read::AccountFilter {
            external_id: paging::given("external_id", external_id)?,
            user_name: paging::given("user_name", user_name)?,
            email: paging::given("email", email)?,
            scim_user_id: paging::given("scim_user_id", scim_user_id)?,
            active,
            team: paging::given("team_id", team_id)?,
        };
        let (limit, after) = page(limit, &cursor)?;
        let (accounts, next) = self
            .blocking(move |d| d.read(|conn| read::list_accounts(conn, &tenant_id, &filter, after.as_deref(), limit)))
            .await?;
        Ok(Response::new(ListAccountsResponse {
            accounts: accounts.into_iter().map(Account::from).collect(),
            next_cursor: next_cursor(next),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc.system.name = "grpc", rpc.method = "ListTeams"))]
    async fn list_teams(&self, request: Request<ListTeamsRequest>) -> Result<Response<ListTeamsResponse>, Status> {
        self.may_read(request.metadata(), &request.get_ref().tenant_id).await?;
        let ListTeamsRequest { tenant_id, external_id, name, cursor, limit } = request.into_inner();
        if tenant_id.is_empty() {
            return Err(DirectoryError::Invalid("tenant_id is required".to_owned()).into());
        }
        let (external_id, name) = (paging::given("external_id", external_id)?, paging::given("name", name)?);
        let (limit, after) = page(limit, &cursor)?;
        let (teams, next) = self
            .blocking(move |d| {
                d.read(|conn| {
                    read::list_teams(conn, &tenant_id, external_id.as_deref(), name.as_deref(), after.as_deref(), limit)
                })
            })
            .await?;
        let teams = teams
            .into_iter()
            .map(|team| TeamSummary {
                id: team.id,
                name: team.name,
                external_id: team.external_id,
                permissions: team.permissions,
                member_count: u64::try_from(team.member_count).unwrap_or(0),
            })
            .collect();
        Ok(Response::new(ListTeamsResponse { teams, next_cursor: next_cursor(next) }))
    }

    #[tracing::instrument(skip_all, fields(rpc.system.name = "grpc", rpc.method = "FindAccounts"))]
    async fn find_accounts(
        &self,
        request: Request<FindAccountsRequest>,
    ) -> Result<Response<FindAccountsResponse>, Status> {
        self.may_read(request.metadata(), &request.get_ref().tenant_id).await?;
        let FindAccountsRequest { tenant_id, email } = request.into_inner();
        if tenant_id.is_empty() {
            return Err(DirectoryError::Invalid("tenant_id is required".to_owned()).into());
        }
        if email.trim().is_empty() {
            return Err(DirectoryError::Invalid("email is required".to_owned()).into());
        }
        let accounts = self.blocking(move |d| d.read(|conn| read::accounts_by_email(conn, &tenant_id, &email))).await?;
        Ok(Response::new(FindAccountsResponse { accounts: accounts.into_iter().map(Account::from).collect() }))
    }

    #[tracing::instrument(skip_all, fields(rpc.system.name = "grpc", rpc.method = "ListAccountStates"))]
    async fn list_account_states(
        &self,
        request: Request<ListStatesRequest>,
    ) -> Result<Response<ListAccountStatesResponse>, Status> {
        self.may_read(request.metadata(), &request.get_ref().tenant_id).await?;
        let (tenant_id, after, limit) = states_request(request.into_inner())?;
        let accounts = self
            .blocking(move |d| d.read(|conn| read::account_states(conn, &tenant_id, after.as_deref(), limit)))
            .await?;
        Ok(Response::new(ListAccountStatesResponse { accounts: accounts.into_iter().map(Into::into).collect() }))
    }

    #[tracing::instrument(skip_all, fields(rpc.system.name = "grpc", rpc.method = "ListTeamStates"))]
    async fn list_team_states(
        &self,
        request: Request<ListStatesRequest>,
    ) -> Result<Response<ListTeamStatesResponse>, Status> {
        self.may_read(request.metadata(), &request.get_ref().tenant_id).await?;
        let (tenant_id, after, limit) = states_request(request.into_inner())?;
        let teams =
            self.blocking(move |d| d.read(|conn| read::team_states(conn, &tenant_id, after.as_deref(), limit))).await?;
        Ok(Response::new(ListTeamStatesResponse { teams: teams.into_iter().map(Into::into).collect() }))
    }

    #[tracing::instrument(skip_all, fields(rpc.system.name = "grpc", rpc.method = "ListDeadLetters"))]
    async fn list_dead_letters(
        &self,
        request: Request<ListDeadLettersRequest>,
    ) -> Result<Response<ListDeadLettersResponse>, Status> {
        let caller = self.grant(request.metadata()).await?;
        let ListDeadLettersRequest { tenant_id, limit } = request.into_inner();
        if tenant_id.is_empty() {
            caller.check_all_tenants()?;
        } else {
            caller.check(&tenant_id, Scope::Read)?;
        }
        let limit = paging::page_size_within(
            paging::grpc_limit(limit),
            paging::DEFAULT_DEAD_LETTERS,
            paging::MAX_DEAD_LETTERS,
        )?;
        let tenant = (!tenant_id.is_empty()).then_some(tenant_id);
        let (dead_letters, total) =
            self.blocking(move |d| d.read(|conn| dead_letter::list(conn, tenant.as_deref(), limit))).await?;
        Ok(Response::new(ListDeadLettersResponse {
            dead_letters: dead_letters.into_iter().map(Into::into).collect(),
            total: u64::try_from(total).unwrap_or(0),
        }))
    }
}
