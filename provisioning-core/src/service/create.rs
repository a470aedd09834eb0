//! POST /Users, POST /Groups: a new resource through the write pipeline. A new user may first
//! be matched to an account the product made by hand (looked up in the directory before the
//! transaction: no transaction waits on the network).

use proto::Resource;
use scim::UserInput;
use tonic::metadata::MetadataMap;
use tonic::{Response, Status};

use super::{Op, ProvisioningService};
use crate::write::users::{NewUser, email_for_linking};
use crate::write::{Kind, User, Write};

pub(super) async fn create<K: Kind>(
    service: &ProvisioningService,
    metadata: &MetadataMap,
    input: K::Input,
) -> Result<Response<Resource>, Status> {
    let created = service
        .write(
            metadata,
            Op::create(K::TYPE),
            Box::new(move |store, ctx, warnings| {
                store.write(|conn| ctx.write(conn, |conn, ctx| K::create(&mut Write { conn, ctx, warnings }, input)))
            }),
        )
        .await?;
    Ok(Response::new(created.into()))
}

/// A user, linked to an account made by hand when the tenant asks for it.
pub(super) async fn create_user(
    service: &ProvisioningService,
    metadata: &MetadataMap,
    input: UserInput,
) -> Result<Response<Resource>, Status> {
    let Some(linker) = service.linker.clone() else {
        return create::<User>(service, metadata, input.into()).await;
    };
    let runtime = tokio::runtime::Handle::current();
    let created = service
        .write(
            metadata,
            Op::create(User::TYPE),
            Box::new(move |store, ctx, warnings| {
                let link_candidate = match email_for_linking(ctx, &input.attributes) {
                    Some(email) => runtime.block_on(linker.unlinked_account(ctx.tenant.as_str(), &email, warnings))?,
                    None => None,
                };
                let new = NewUser { input, link_candidate };
                store.write(|conn| ctx.write(conn, |conn, ctx| User::create(&mut Write { conn, ctx, warnings }, new)))
            }),
        )
        .await?;
    Ok(Response::new(created.into()))
}
