//! PATCH /Users/{id}, PATCH /Groups/{id}. A group's answer carries its members only when the
//! gateway asks for them (it answers 204 otherwise): adding one member reads one member row.

use proto::{PatchResourceRequest, Resource};
use tonic::{Request, Response, Status};

use super::{Op, ProvisioningService};
use crate::conversions;
use crate::write::{Kind, Write};

pub(super) async fn patch<K: Kind>(
    service: &ProvisioningService,
    request: Request<PatchResourceRequest>,
) -> Result<Response<Resource>, Status> {
    let (metadata, _, PatchResourceRequest { id, operations, if_match_version, exclude_members, if_match }) =
        request.into_parts();
    let if_match = proto::precondition::allowed(if_match_version, if_match);
    let operations = conversions::patch_operations(operations)?;
    let op = Op::on("PATCH", K::TYPE, &id);
    let patched = service
        .write(
            &metadata,
            op,
            Box::new(move |store, ctx, warnings| {
                store.write(|conn| {
                    ctx.write(conn, |conn, ctx| {
                        let mut write = Write { conn, ctx, warnings };
                        K::patch(&mut write, &id, if_match.as_deref(), operations, !exclude_members)
                    })
                })
            }),
        )
        .await?;
    Ok(Response::new(patched.into()))
}
