//! The `Directory` gRPC read service.

use proto::directory_server::Directory as DirectoryRpc;
use proto::{Account, GetAccountRequest, GetTeamRequest, Team};
use tonic::{Request, Response, Status};

use crate::Directory;
use crate::error::DirectoryError;
use crate::read;

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
        Ok(Response::new(account))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "GetTeam"))]
    async fn get_team(&self, request: Request<GetTeamRequest>) -> Result<Response<Team>, Status> {
        let GetTeamRequest { tenant_id, id } = request.into_inner();
        let team = self.blocking(move |d| d.read(|conn| read::team(conn, &tenant_id, &id))).await?;
        Ok(Response::new(team))
    }
}
