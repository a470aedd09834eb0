//! DELETE /Users/{id}, DELETE /Groups/{id}.

use proto::{DeleteResourceRequest, DeleteResourceResponse};
use tonic::{Request, Response, Status};

use super::{Op, ProvisioningService};
use crate::write::{Kind, Write};

pub(super) async fn delete<K: Kind>(
    service: &ProvisioningService,
    request: Request<DeleteResourceRequest>,
) -> Result<Response<DeleteResourceResponse>, Status> {
    let (metadata, _, DeleteResourceRequest { id, if_match_version, if_match }) = request.into_parts();
    let if_match = proto::precondition::allowed(if_match_version, if_match);
    let op = Op::on("DELETE", K::TYPE, &id);
    service
        .write(
            &metadata,
            op,
            Box::new(move |store, ctx, warnings| {
                store.write(|conn| {
                    ctx.write(conn, |conn, ctx| K::delete(&mut Write { conn, ctx, warnings }, &id, if_match.as_deref()))
                })
            }),
        )
        .await?;
    Ok(Response::new(DeleteResourceResponse {}))
}
