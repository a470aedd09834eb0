//! PUT /Users/{id}, PUT /Groups/{id}: the whole resource replaced.

use proto::Resource;
use tonic::metadata::MetadataMap;
use tonic::{Response, Status};

use super::{Op, ProvisioningService};
use crate::write::{Kind, Write};

pub(super) async fn replace<K: Kind>(
    service: &ProvisioningService,
    metadata: &MetadataMap,
    id: String,
    input: K::Input,
    if_match: Option<Vec<i64>>,
) -> Result<Response<Resource>, Status> {
    let op = Op::on("PUT", K::TYPE, &id);
    let replaced = service
        .write(
            metadata,
            op,
            Box::new(move |store, ctx, warnings| {
                store.write(|conn| {
                    ctx.write(conn, |conn, ctx| {
                        K::replace(&mut Write { conn, ctx, warnings }, &id, if_match.as_deref(), input)
                    })
                })
            }),
        )
        .await?;
    Ok(Response::new(replaced.into()))
}
