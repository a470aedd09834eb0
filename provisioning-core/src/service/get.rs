//! GET /Users/{id}, GET /Groups/{id}.

use proto::{GetResourceRequest, Resource};
use tonic::{Request, Response, Status};

use super::{Op, ProvisioningService};
use crate::write::Kind;

pub(super) async fn get<K: Kind>(
    service: &ProvisioningService,
    request: Request<GetResourceRequest>,
) -> Result<Response<Resource>, Status> {
    let (metadata, _, GetResourceRequest { id, exclude_members }) = request.into_parts();
    let op = Op::on("GET", K::TYPE, &id);
    let found = service
        .run(&metadata, op, Box::new(move |store, ctx, _| store.read(|conn| K::get(conn, ctx, &id, exclude_members))))
        .await?;
    Ok(Response::new(found.into()))
}
