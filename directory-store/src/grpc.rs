//! The `Directory` gRPC service: accounts and teams by id (a team without its members, which are
//! paged with `ListTeamMembers` so that no answer outgrows the message limit), and the live
//! accounts with an email (what provisioning-core asks before creating an account, to link to a
//! manual one).

use proto::directory_server::Directory as DirectoryRpc;
use proto::{
    Account, FindAccountsRequest, FindAccountsResponse, GetAccountRequest, GetTeamRequest, ListTeamMembersRequest,
    ListTeamMembersResponse, Team,
};
use tonic::{Request, Response, Status};

use crate::Directory;
use crate::error::DirectoryError;
use crate::{paging, read};

pub struct DirectoryService {
    directory: Directory,
}

impl DirectoryService {
    pub fn new(directory: Directory) -> Self {
        Self { directory }
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
    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "GetAccount"))]
    async fn get_account(&self, request: Request<GetAccountRequest>) -> Result<Response<Account>, Status> {
        let GetAccountRequest { tenant_id, id } = request.into_inner();
        let account = self.blocking(move |d| d.read(|conn| read::account(conn, &tenant_id, &id))).await?;
        Ok(Response::new(account.into()))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "GetTeam"))]
    async fn get_team(&self, request: Request<GetTeamRequest>) -> Result<Response<Team>, Status> {
        let GetTeamRequest { tenant_id, id } = request.into_inner();
        let team = self.blocking(move |d| d.read(|conn| read::team_without_members(conn, &tenant_id, &id))).await?;
        Ok(Response::new(team))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "ListTeamMembers"))]
    async fn list_team_members(
        &self,
        request: Request<ListTeamMembersRequest>,
    ) -> Result<Response<ListTeamMembersResponse>, Status> {
        let ListTeamMembersRequest { tenant_id, team_id, cursor, limit } = request.into_inner();
        if tenant_id.is_empty() {
            return Err(DirectoryError::Invalid("tenant_id is required".to_owned()).into());
        }
        if team_id.is_empty() {
            return Err(DirectoryError::Invalid("team_id is required".to_owned()).into());
        }
        let limit = paging::page_size((limit != 0).then_some(i64::from(limit)))?;
        let after = paging::decode_cursor(&cursor)?;
        let (member_ids, next) = self
            .blocking(move |d| d.read(|conn| read::team_members(conn, &tenant_id, &team_id, after.as_deref(), limit)))
            .await?;
        let next_cursor = next.as_deref().map(paging::encode_cursor).unwrap_or_default();
        Ok(Response::new(ListTeamMembersResponse { member_ids, next_cursor }))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "FindAccounts"))]
    async fn find_accounts(
        &self,
        request: Request<FindAccountsRequest>,
    ) -> Result<Response<FindAccountsResponse>, Status> {
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
}
