//! Webhook endpoints and their deliveries (see `crate::webhooks` for the dispatcher).

use diesel::prelude::*;
use scim::ScimError;

use crate::error::CoreError;
use crate::schema::{outbox, webhook_deliveries, webhook_endpoints};
use crate::store::outbox::OutboxEvent;
use platform::db::{DbConnection, now_micros};

#[derive(Clone, PartialEq, Eq, Queryable, Selectable)]
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
    /// It receives the events after this outbox `seq` (the last one when it was made)…
    pub start_seq: i64,
    /// …and those of the transactions running when it was made (a JSON list of ids; PostgreSQL,
    /// whose concurrent writers may have taken a lower seq and commit later).
    pub start_running: String,
}

/// Never the secret.
impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("url", &self.url)
            .field("event_types", &self.event_types)
            .field("start_seq", &self.start_seq)
            .field("start_running", &self.start_running)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    pub fn types(&self) -> Option<Vec<String>> {
        self.event_types.as_deref().and_then(|text| serde_json::from_str(text).ok())
    }

    /// The transactions running when it was made.
    pub fn running_at_start(&self) -> Vec<i64> {
        serde_json::from_str(&self.start_running).unwrap_or_default()
    }
}

/// What an endpoint wants, beyond its tenant and start.
struct Filter {
    types: Option<Vec<String>>,
    running: Vec<i64>,
}

/// What queueing needs of an outbox event (not its payload).
#[derive(Queryable, Selectable)]
#[diesel(table_name = outbox)]
struct Queued {
    seq: i64,
    txid: i64,
    event_id: String,
    event_type: String,
    tenant_id: String,
    resource_id: String,
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
    /// When it was first tried: the dead-letter clock starts then (not while it waits behind
    /// an earlier event of its resource).
    pub first_attempt_at: Option<i64>,
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

/// Stores an endpoint; it receives the events written from now on: after the outbox's last, and
/// (PostgreSQL) those of the transactions running now, which may have taken a lower seq and
/// commit later.
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
    // Read before this transaction writes (and takes an id of its own).
    let running = serde_json::to_string(&crate::store::outbox::running_here(conn)?).unwrap_or_else(|_| "[]".into());
    let last: Option<i64> = outbox::table.select(diesel::dsl::max(outbox::seq)).first(conn)?;
    diesel::insert_into(webhook_endpoints::table)
        .values((
            webhook_endpoints::id.eq(&id),
            webhook_endpoints::tenant_id.eq(tenant),
            webhook_endpoints::url.eq(url),
            webhook_endpoints::secret.eq(secret),
            webhook_endpoints::event_types.eq(types),
            webhook_endpoints::description.eq(description),
            webhook_endpoints::created_at.eq(now),
            webhook_endpoints::start_seq.eq(last.unwrap_or(0)),
            webhook_endpoints::start_running.eq(running),
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
    let events: Vec<Queued> = outbox::table
        .filter(outbox::webhooks_queued_at.is_null())
        .order(outbox::seq.asc())
        .limit(limit)
        .select(Queued::as_select())
        .load(conn)?;
    let now = now_micros();
    let filters: Vec<(&Endpoint, Filter)> =
        endpoints.iter().map(|e| (e, Filter { types: e.types(), running: e.running_at_start() })).collect();
    let wants = |endpoint: &Endpoint, filter: &Filter, event: &Queued| {
        (event.seq > endpoint.start_seq || filter.running.contains(&event.txid))
            && endpoint.tenant_id.as_ref().is_none_or(|tenant| *tenant == event.tenant_id)
            && filter.types.as_ref().is_none_or(|types| types.contains(&event.event_type))
    };
    let rows: Vec<_> = events
        .iter()
        .flat_map(|event| {
            filters
                .iter()
                .filter(move |(e, filter)| wants(e, filter, event))
                .map(move |(endpoint, _)| (*endpoint, event))
        })
        .map(|(endpoint, event)| {
            (
                webhook_deliveries::endpoint_id.eq(endpoint.id.clone()),
                webhook_deliveries::seq.eq(event.seq),
                // The relay's Kafka key: tenant/resource.
                webhook_deliveries::resource_key.eq(format!("{}/{}", event.tenant_id, event.resource_id)),
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

/// What an endpoint may be sent now: of each resource, its oldest pending delivery, when that
/// one is due (a later one waits for it; one resource backing off holds back no other), oldest
/// first, with their events (None: no longer in the outbox).
pub fn due(
    conn: &mut DbConnection,
    endpoint: &str,
    now: i64,
    limit: i64,
) -> Result<Vec<(Delivery, Option<OutboxEvent>)>, CoreError> {
    let earlier = diesel::alias!(webhook_deliveries as earlier);
    let deliveries: Vec<Delivery> = webhook_deliveries::table
        .filter(webhook_deliveries::endpoint_id.eq(endpoint))
        .filter(webhook_deliveries::state.eq(PENDING))
        .filter(webhook_deliveries::next_attempt_at.le(now))
        .filter(diesel::dsl::not(diesel::dsl::exists(
            earlier
                .filter(earlier.field(webhook_deliveries::endpoint_id).eq(webhook_deliveries::endpoint_id))
                .filter(earlier.field(webhook_deliveries::resource_key).eq(webhook_deliveries::resource_key))
                .filter(earlier.field(webhook_deliveries::state).eq(PENDING))
                .filter(earlier.field(webhook_deliveries::seq).lt(webhook_deliveries::seq)),
        )))
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

/// Records an attempt; false when the delivery is gone (its endpoint was removed meanwhile).
pub fn record(conn: &mut DbConnection, endpoint: &str, seq: i64, outcome: &Outcome) -> Result<bool, CoreError> {
    let now = now_micros();
    let row = webhook_deliveries::table.find((endpoint, seq));
    diesel::update(row.filter(webhook_deliveries::first_attempt_at.is_null()))
        .set(webhook_deliveries::first_attempt_at.eq(now))
        .execute(conn)?;
    let changed = match outcome {
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
    Ok(changed == 1)
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

/// Puts an endpoint's delivered or dead deliveries (queued at or after `since`, of one state
/// when given) back in line, in their order; returns how many. Events no longer in the outbox
/// (past its retention) cannot be sent again and are left as they are.
pub fn replay(
    conn: &mut DbConnection,
    endpoint: &str,
    since: Option<i64>,
    state: Option<&str>,
) -> Result<usize, CoreError> {
    find(conn, endpoint)?;
    let retained = outbox::table.select(outbox::seq);
    let mut query = diesel::update(webhook_deliveries::table)
        .filter(webhook_deliveries::endpoint_id.eq(endpoint.to_owned()))
        .filter(webhook_deliveries::state.ne(PENDING))
        .filter(webhook_deliveries::seq.eq_any(retained))
        .into_boxed();
    if let Some(since) = since {
        query = query.filter(webhook_deliveries::created_at.ge(since));
    }
    if let Some(state) = state {
        query = query.filter(webhook_deliveries::state.eq(state.to_owned()));
    }
    let now = now_micros();
    Ok(query
        .set((
            webhook_deliveries::state.eq(PENDING),
            webhook_deliveries::attempts.eq(0),
            webhook_deliveries::next_attempt_at.eq(now),
            webhook_deliveries::first_attempt_at.eq(None::<i64>),
            webhook_deliveries::last_status.eq(None::<i32>),
            webhook_deliveries::last_error.eq(None::<String>),
            webhook_deliveries::delivered_at.eq(None::<i64>),
        ))
        .execute(conn)?)
}
