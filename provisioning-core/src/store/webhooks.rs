//! Webhook endpoints and their deliveries (see `crate::webhooks` for the dispatcher).

use diesel::prelude::*;
use scim::ScimError;

use crate::error::CoreError;
use crate::schema::{outbox, webhook_deliveries, webhook_endpoints};
use crate::store::outbox::OutboxEvent;
use platform::db::{DbConnection, now_micros};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = webhook_endpoints)]
pub struct Endpoint {
    pub id: String,
    /// None: every tenant's events.
    pub tenant_id: Option<String>,
    pub url: String,
    pub secret: String,
    /// A JSON list of event types (`user.created`, …); None: every type.
    pub event_types: Option<String>,
    pub description: Option<String>,
    pub created_at: i64,
}

impl Endpoint {
    pub fn types(&self) -> Option<Vec<String>> {
        self.event_types.as_deref().and_then(|text| serde_json::from_str(text).ok())
    }

    fn wants(&self, event: &OutboxEvent) -> bool {
        self.tenant_id.as_ref().is_none_or(|tenant| *tenant == event.tenant_id)
            && self.types().is_none_or(|types| types.contains(&event.event_type))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries)]
pub struct Delivery {
    pub endpoint_id: String,
    pub seq: i64,
    pub resource_key: String,
    pub event_id: String,
    pub event_type: String,
    /// `pending`, `delivered` or `dead`.
    pub state: String,
    pub attempts: i32,
    pub created_at: i64,
    pub next_attempt_at: i64,
    pub last_attempt_at: Option<i64>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
}

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const DEAD: &str = "dead";

fn not_found(id: &str) -> CoreError {
    CoreError::Scim(ScimError::not_found(format!("no webhook endpoint '{id}'")))
}

/// Stores an endpoint; it receives the events written from now on (those not yet queued are
/// marked queued, so that it does not start with a backlog).
pub fn create(
    conn: &mut DbConnection,
    tenant: Option<&str>,
    url: &str,
    secret: &str,
    event_types: Option<&[String]>,
    description: Option<&str>,
) -> Result<Endpoint, CoreError> {
    let id = uuid::Uuid::now_v7().to_string();
    let types = event_types.map(|t| serde_json::to_string(t).unwrap_or_default());
    let now = now_micros();
    diesel::update(outbox::table.filter(outbox::webhooks_queued_at.is_null()))
        .set(outbox::webhooks_queued_at.eq(now))
        .execute(conn)?;
    diesel::insert_into(webhook_endpoints::table)
        .values((
            webhook_endpoints::id.eq(&id),
            webhook_endpoints::tenant_id.eq(tenant),
            webhook_endpoints::url.eq(url),
            webhook_endpoints::secret.eq(secret),
            webhook_endpoints::event_types.eq(types),
            webhook_endpoints::description.eq(description),
            webhook_endpoints::created_at.eq(now),
        ))
        .execute(conn)?;
    find(conn, &id)
}

pub fn find(conn: &mut DbConnection, id: &str) -> Result<Endpoint, CoreError> {
    webhook_endpoints::table.find(id).select(Endpoint::as_select()).first(conn).optional()?.ok_or_else(|| not_found(id))
}

pub fn list(conn: &mut DbConnection) -> Result<Vec<Endpoint>, CoreError> {
    Ok(webhook_endpoints::table.order(webhook_endpoints::created_at).select(Endpoint::as_select()).load(conn)?)
}

/// Removes an endpoint and its deliveries.
pub fn delete(conn: &mut DbConnection, id: &str) -> Result<(), CoreError> {
    find(conn, id)?;
    diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::endpoint_id.eq(id))).execute(conn)?;
    diesel::delete(webhook_endpoints::table.find(id)).execute(conn)?;
    Ok(())
}

/// How many of an endpoint's deliveries are pending, delivered and dead.
pub fn counts(conn: &mut DbConnection, id: &str) -> Result<(i64, i64, i64), CoreError> {
    let mut count = |state: &str| -> Result<i64, CoreError> {
        Ok(webhook_deliveries::table
            .filter(webhook_deliveries::endpoint_id.eq(id))
            .filter(webhook_deliveries::state.eq(state.to_owned()))
            .count()
            .get_result(conn)?)
    };
    Ok((count(PENDING)?, count(DELIVERED)?, count(DEAD)?))
}

/// Queues up to `limit` outbox events not yet queued for every endpoint that wants them, in
/// outbox order; returns how many events were queued. With no endpoint, nothing is done.
pub fn queue(conn: &mut DbConnection, limit: i64) -> Result<usize, CoreError> {
    let endpoints = list(conn)?;
    if endpoints.is_empty() {
        return Ok(0);
    }
    let events: Vec<OutboxEvent> = outbox::table
        .filter(outbox::webhooks_queued_at.is_null())
        .order(outbox::seq.asc())
        .limit(limit)
        .select(OutboxEvent::as_select())
        .load(conn)?;
    let now = now_micros();
    let rows: Vec<_> = events
        .iter()
        .flat_map(|event| endpoints.iter().filter(|e| e.wants(event)).map(move |endpoint| (endpoint, event)))
        .map(|(endpoint, event)| {
            (
                webhook_deliveries::endpoint_id.eq(endpoint.id.clone()),
                webhook_deliveries::seq.eq(event.seq),
                webhook_deliveries::resource_key.eq(event.key()),
                webhook_deliveries::event_id.eq(event.event_id.clone()),
                webhook_deliveries::event_type.eq(event.event_type.clone()),
                webhook_deliveries::state.eq(PENDING),
                webhook_deliveries::attempts.eq(0),
                webhook_deliveries::created_at.eq(now),
                webhook_deliveries::next_attempt_at.eq(now),
            )
        })
        .collect();
    // One statement per 100 deliveries (SQLite allows 32,766 bound values; 9 per row).
    for chunk in rows.chunks(100) {
        platform::db::insert_rows(conn, diesel::insert_into(webhook_deliveries::table).values(chunk.to_vec()))?;
    }
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    diesel::update(outbox::table.filter(outbox::seq.eq_any(&seqs)))
        .set(outbox::webhooks_queued_at.eq(now))
        .execute(conn)?;
    Ok(events.len())
}

/// An endpoint's pending deliveries, oldest first, with their events (a delivery whose event
/// is no longer in the outbox comes with None).
pub fn pending(
    conn: &mut DbConnection,
    endpoint: &str,
    limit: i64,
) -> Result<Vec<(Delivery, Option<OutboxEvent>)>, CoreError> {
    let deliveries: Vec<Delivery> = webhook_deliveries::table
        .filter(webhook_deliveries::endpoint_id.eq(endpoint))
        .filter(webhook_deliveries::state.eq(PENDING))
        .order(webhook_deliveries::seq.asc())
        .limit(limit)
        .select(Delivery::as_select())
        .load(conn)?;
    let seqs: Vec<i64> = deliveries.iter().map(|d| d.seq).collect();
    let events: Vec<OutboxEvent> =
        outbox::table.filter(outbox::seq.eq_any(&seqs)).select(OutboxEvent::as_select()).load(conn)?;
    Ok(deliveries
        .into_iter()
        .map(|delivery| {
            let event = events.iter().find(|e| e.seq == delivery.seq).cloned();
            (delivery, event)
        })
        .collect())
}

/// What one attempt came to.
pub enum Outcome {
    Delivered {
        status: i32,
    },
    /// Tried again at `next_attempt_at`, or dead when `dead`.
    Failed {
        status: Option<i32>,
        error: String,
        next_attempt_at: i64,
        dead: bool,
    },
}

pub fn record(conn: &mut DbConnection, endpoint: &str, seq: i64, outcome: &Outcome) -> Result<(), CoreError> {
    let now = now_micros();
    let row = webhook_deliveries::table.find((endpoint, seq));
    match outcome {
        Outcome::Delivered { status } => diesel::update(row)
            .set((
                webhook_deliveries::state.eq(DELIVERED),
                webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
                webhook_deliveries::last_attempt_at.eq(now),
                webhook_deliveries::last_status.eq(status),
                webhook_deliveries::last_error.eq(None::<String>),
                webhook_deliveries::delivered_at.eq(now),
            ))
            .execute(conn)?,
        Outcome::Failed { status, error, next_attempt_at, dead } => diesel::update(row)
            .set((
                webhook_deliveries::state.eq(if *dead { DEAD } else { PENDING }),
                webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
                webhook_deliveries::last_attempt_at.eq(now),
                webhook_deliveries::last_status.eq(status),
                webhook_deliveries::last_error.eq(error),
                webhook_deliveries::next_attempt_at.eq(next_attempt_at),
            ))
            .execute(conn)?,
    };
    Ok(())
}

/// An endpoint's deliveries, newest first (of one state when given).
pub fn deliveries(
    conn: &mut DbConnection,
    endpoint: &str,
    state: Option<&str>,
    limit: i64,
) -> Result<Vec<Delivery>, CoreError> {
    find(conn, endpoint)?;
    let mut query = webhook_deliveries::table.filter(webhook_deliveries::endpoint_id.eq(endpoint)).into_boxed();
    if let Some(state) = state {
        query = query.filter(webhook_deliveries::state.eq(state.to_owned()));
    }
    Ok(query.order(webhook_deliveries::seq.desc()).limit(limit).select(Delivery::as_select()).load(conn)?)
}

/// Puts an endpoint's delivered or dead deliveries (created at or after `since`, of one state
/// when given) back in line, in their order; returns how many.
pub fn replay(
    conn: &mut DbConnection,
    endpoint: &str,
    since: Option<i64>,
    state: Option<&str>,
) -> Result<usize, CoreError> {
    find(conn, endpoint)?;
    let mut query = webhook_deliveries::table
        .filter(webhook_deliveries::endpoint_id.eq(endpoint))
        .filter(webhook_deliveries::state.ne(PENDING))
        .into_boxed();
    if let Some(since) = since {
        query = query.filter(webhook_deliveries::created_at.ge(since));
    }
    if let Some(state) = state {
        query = query.filter(webhook_deliveries::state.eq(state.to_owned()));
    }
    let seqs: Vec<i64> = query.select(webhook_deliveries::seq).load(conn)?;
    let now = now_micros();
    Ok(diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::endpoint_id.eq(endpoint))
            .filter(webhook_deliveries::seq.eq_any(&seqs)),
    )
    .set((
        webhook_deliveries::state.eq(PENDING),
        webhook_deliveries::attempts.eq(0),
        webhook_deliveries::created_at.eq(now),
        webhook_deliveries::next_attempt_at.eq(now),
        webhook_deliveries::delivered_at.eq(None::<i64>),
    ))
    .execute(conn)?)
}
