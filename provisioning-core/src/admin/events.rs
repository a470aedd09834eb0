//! The events API: `GET /admin/v1/events?after=<cursor>&tenant=<slug>&limit=<n>`, the retained
//! outbox read as a feed, for consumers that poll (backfill, or products that want neither
//! Kafka nor webhooks). Each event is the CloudEvent a webhook receives; `next_cursor` is passed
//! back as `after` to continue (it stays put while nothing new is visible). An event shows once
//! every transaction older than it has ended, so a position once served is never overtaken by a
//! row that commits later. A cursor older than the retention (`OUTBOX_RETENTION_DAYS`) is
//! refused with 410: events after it may have been pruned, and the directory is the backfill.

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Admin, AdminError, Answer, Operator};
use crate::store::outbox::{self, FeedPosition};
use crate::store::tenants;

/// Events per page unless `limit` says.
pub const DEFAULT_LIMIT: i64 = 100;
/// The most events one page may hold.
pub const MAX_LIMIT: i64 = 1000;

fn encode(position: FeedPosition) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1.{}.{}.{}", position.txid, position.seq, position.created_at))
}

fn decode(cursor: &str) -> Result<FeedPosition, AdminError> {
    let invalid = || AdminError::bad_request("after is not a cursor this API returned (next_cursor)");
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?).map_err(|_| invalid())?;
    let parts: Vec<&str> = text.split('.').collect();
    let ["v1", txid, seq, created_at] = parts.as_slice() else { return Err(invalid()) };
    let number = |part: &str| part.parse::<i64>().map_err(|_| invalid());
    Ok(FeedPosition { txid: number(txid)?, seq: number(seq)?, created_at: number(created_at)? })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedQuery {
    after: Option<String>,
    tenant: Option<String>,
    limit: Option<i64>,
}

pub(super) async fn list(_: Operator, admin: web::Data<Admin>, request: HttpRequest) -> Answer {
    let query = web::Query::<FeedQuery>::from_query(request.query_string())
        .map_err(|e| AdminError::bad_request(format!("invalid query: {e}")))?
        .into_inner();
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AdminError::bad_request(format!("limit must be between 1 and {MAX_LIMIT}")));
    }
    let after = query.after.as_deref().filter(|a| !a.is_empty()).map(decode).transpose()?;
    if let Some(position) = after {
        let retention_micros = i64::from(admin.outbox_retention_days) * 86_400 * 1_000_000;
        if position.created_at < platform::db::now_micros() - retention_micros {
            return Err(AdminError::new(
                410,
                format!(
                    "this cursor is older than the outbox's retention ({} days): events after it may be gone; \
                     read the current state from the directory, then poll without after",
                    admin.outbox_retention_days
                ),
            ));
        }
    }
    let tenant = query.tenant.filter(|t| !t.is_empty());
    let (page, more) = admin
        .store(move |store| {
            store.read(|conn| {
                if let Some(tenant) = &tenant {
                    tenants::get_tenant(conn, tenant)?;
                }
                let mut page = outbox::feed(conn, after, tenant.as_deref(), limit + 1)?;
                let more = page.len() > usize::try_from(limit).unwrap_or(usize::MAX);
                page.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
                Ok((page, more))
            })
        })
        .await?;
    let next = page.last().map(|(position, _)| *position).or(after);
    let events = page
        .iter()
        .map(|(_, event)| crate::events_json::of_outbox(event, &admin.naming))
        .collect::<Result<Vec<Value>, _>>()?;
    Ok(HttpResponse::Ok().json(json!({
        "events": events,
        "next_cursor": next.map(encode),
        "has_more": more,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_others_are_refused() {
        let position = FeedPosition { txid: 9_876_543_210, seq: 42, created_at: 1_796_000_000_000_000 };
        assert_eq!(decode(&encode(position)).ok(), Some(position));
        let zero = FeedPosition { txid: 0, seq: 1, created_at: 0 };
        assert_eq!(decode(&encode(zero)).ok(), Some(zero));
        for bad in ["", "!!", "djEuMS4y", &URL_SAFE_NO_PAD.encode("v2.1.2.3"), &URL_SAFE_NO_PAD.encode("v1.a.2.3")] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }
}
