//! GET /Users/{id}, GET /Groups/{id}, and a group with all its members (`ReadGroup`).

use std::pin::Pin;

use futures::Stream;
use proto::group_part::Part;
use proto::{GetResourceRequest, GroupPart, MemberIds, Resource};
use scim::ResourceType;
use tonic::{Request, Response, Status};

use super::{Op, ProvisioningService};
use crate::write::{Kind, groups};

pub(super) async fn get<K: Kind>(
    service: &ProvisioningService,
    request: Request<GetResourceRequest>,
) -> Result<Response<Resource>, Status> {
    let (metadata, _, GetResourceRequest { id, exclude_members, follow_up }) = request.into_parts();
    let op = Op::on("GET", K::TYPE, &id).follow_up(follow_up);
    let found = service
        .run(&metadata, op, Box::new(move |store, ctx, _| store.read(|conn| K::get(conn, ctx, &id, exclude_members))))
        .await?;
    Ok(Response::new(found.into()))
}

/// Member ids per message of `ReadGroup` (about 400 KB).
pub const MEMBERS_PER_PART: usize = 10_000;

pub type GroupStream = Pin<Box<dyn Stream<Item = Result<GroupPart, Status>> + Send + 'static>>;

/// A group and all its members, read in one snapshot, sent as a stream of bounded messages.
pub(super) async fn read_group(
    service: &ProvisioningService,
    request: Request<GetResourceRequest>,
) -> Result<Response<GroupStream>, Status> {
    let (metadata, _, GetResourceRequest { id, exclude_members: _, follow_up }) = request.into_parts();
    let op = Op::on("GET", ResourceType::Group, &id).follow_up(follow_up).via("ReadGroup");
    let (resource, members) = service
        .run(&metadata, op, Box::new(move |store, ctx, _| store.read(|conn| groups::read_all(conn, ctx, &id))))
        .await?;
    let mut parts = vec![GroupPart { part: Some(Part::Resource(resource.into())) }];
    // The ids move into their messages, a chunk at a time (no second copy of the list).
    let mut members = members.into_iter().peekable();
    while members.peek().is_some() {
        let ids: Vec<String> = members.by_ref().take(MEMBERS_PER_PART).collect();
        parts.push(GroupPart { part: Some(Part::Members(MemberIds { ids })) });
    }
    Ok(Response::new(Box::pin(futures::stream::iter(parts.into_iter().map(Ok)))))
}
