//! GET /Users, GET /Groups (and their `.search`): a filtered, sorted page, by index or by
//! RFC 9865 cursor.

use proto::{QueryRequest, QueryResponse, Resource};
use scim::{ResourceType, ScimError, ScimType};
use tonic::{Request, Response, Status};

use super::{Op, ProvisioningService};
use crate::conversions;
use crate::error::CoreError;
use crate::store::StoredResource;
use crate::store::cursor::{self, CursorKey};
use crate::store::query::{Page, Sort};
use crate::store::tenants::TenantId;
use crate::write::{Kind, Search};

pub(super) async fn query<K: Kind>(
    service: &ProvisioningService,
    request: Request<QueryRequest>,
) -> Result<Response<QueryResponse>, Status> {
    let (metadata, _, message) = request.into_parts();
    let key = service.cursor_key.clone();
    let (plan, found) = service
        .run(
            &metadata,
            Op::list(K::TYPE),
            Box::new(move |store, ctx, _| {
                let plan = QueryPlan::new(K::TYPE, message, &key, &ctx.tenant)?;
                let search = Search {
                    filter: plan.filter.as_ref(),
                    sort: plan.sort.as_ref(),
                    page: plan.page,
                    exclude_members: plan.exclude_members,
                };
                let found = store.read(|conn| K::search(conn, ctx, &search))?;
                Ok((plan, found))
            }),
        )
        .await?;
    Ok(Response::new(plan.respond(found, &service.cursor_key)?))
}

/// The most bytes of attributes one page of a query carries (past its first resource): what
/// keeps the answer within `proto::MAX_MESSAGE_BYTES` (16 MiB) with its members (at most
/// 10,000, about 500 KB). Only pages of unusually large resources reach it: a shorter page
/// is correct SCIM, but a client that pages by `startIndex += count` (Okta) would skip the
/// rest, so it is a last resort, as high as the message allows.
pub const ANSWER_BYTES: usize = 12 * 1024 * 1024;

/// A query, checked and planned: filter, sort and the page (by index or by cursor).
struct QueryPlan {
    filter: Option<scim::Filter>,
    sort: Option<Sort>,
    page: Page,
    exclude_members: bool,
    /// With cursor paging: the query's fingerprint, to sign the next cursor with.
    cursor_query: Option<String>,
}

impl QueryPlan {
    /// Plans a tenant's query; a cursor must have been issued for this tenant and query.
    fn new(kind: ResourceType, message: QueryRequest, key: &CursorKey, tenant: &TenantId) -> Result<Self, CoreError> {
        let QueryRequest { filter, start_index, count, exclude_members, sort_by, sort_descending, cursor } = message;
        let filter = conversions::filter(filter)?;
        let sort = sort_by
            .as_deref()
            .map(|by| {
                scim::AttrPath::parse(by)
                    .map(|by| Sort { by, descending: sort_descending })
                    .map_err(|_| ScimError::invalid_value(format!("sortBy: '{by}' is not an attribute path")))
            })
            .transpose()?;
        let fingerprint = cursor::fingerprint(tenant, kind, filter.as_ref(), sort_by.as_deref(), sort_descending);
        let (start_index, cursor_query) = match cursor {
            None => (start_index, None),
            Some(cursor) if cursor.is_empty() => (1, Some(fingerprint)),
            Some(cursor) => {
                let offset = key.open(&cursor, &fingerprint)?;
                (
                    u32::try_from(offset + 1)
                        .map_err(|_| ScimError::bad_request(ScimType::InvalidCursor, "the cursor is out of range"))?,
                    Some(fingerprint),
                )
            }
        };
        Ok(Self { filter, sort, page: Page::new(start_index, Some(count)), exclude_members, cursor_query })
    }

    fn respond(
        self,
        (total, resources): (i64, Vec<StoredResource>),
        key: &CursorKey,
    ) -> Result<QueryResponse, CoreError> {
        let total_results = u64::try_from(total).unwrap_or(0);
        // A page stops early (RFC 7644 §3.4.2.4 lets it hold fewer than asked) once its
        // attributes pass ANSWER_BYTES, so that no answer grows with the resources' size; the
        // next page starts after the last resource returned.
        let mut bytes = 0;
        let resources: Vec<Resource> = resources
            .into_iter()
            .map(Resource::from)
            .take_while(|resource| {
                let fits = bytes == 0 || bytes + resource.attributes_json.len() <= ANSWER_BYTES;
                bytes += resource.attributes_json.len();
                fits
            })
            .collect();
        let next = u64::try_from(self.page.offset()).unwrap_or(0) + resources.len() as u64;
        let next_cursor = match &self.cursor_query {
            Some(query) if next < total_results && !resources.is_empty() => Some(key.issue(next, query)?),
            _ => None,
        };
        Ok(QueryResponse { total_results, resources, next_cursor })
    }
}
