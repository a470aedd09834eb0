//! The transactional outbox: events are written in the transaction of the change they describe
//! and published later by the relay, which marks them published only after the broker (or the
//! in-process directory) acknowledged them.

use diesel::prelude::*;
use platform::db::DbConnection;
use prost::Message;
use proto::ChangeEvent;

use super::now_micros;
use crate::error::CoreError;
use crate::schema::outbox;

/// An event waiting in (or read from) the outbox.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = outbox)]
pub struct OutboxEvent {
    pub seq: i64,
    pub event_id: String,
    pub event_type: String,
    pub tenant_id: String,
    pub resource_type: String,
    pub resource_id: String,
    pub payload: Vec<u8>,
    pub created_at: i64,
    /// The `traceparent` of the request that wrote it, when spans are exported.
    pub trace_context: Option<String>,
}

impl OutboxEvent {
    /// The Kafka key: per-resource order holds within a partition.
    pub fn key(&self) -> String {
        format!("{}/{}", self.tenant_id, self.resource_id)
    }

    /// The span that publishes this event: a producer span continuing the trace of the request
    /// that wrote it (OpenTelemetry messaging conventions).
    pub fn publish_span(&self, system: &'static str, destination: &str) -> tracing::Span {
        let span = tracing::info_span!(
            "send",
            otel.name = format!("send {destination}"),
            otel.kind = "producer",
            component = "provisioning-core",
            messaging.system = system,
            messaging.operation.type = "send",
            messaging.destination.name = destination,
            messaging.message.id = %self.event_id,
            tenant.id = %self.tenant_id,
            scim.resource_type = %self.resource_type,
            scim.resource_id = %self.resource_id,
            trace_id = tracing::field::Empty,
        );
        let trace_id = platform::telemetry::continue_trace(&span, |key| {
            if key == "traceparent" { self.trace_context.as_deref() } else { None }
        });
        if let Some(trace_id) = trace_id {
            span.record("trace_id", trace_id);
        }
        span
    }

    /// The CloudEvents subject: the resource's SCIM path.
    pub fn subject(&self) -> String {
        format!("{}/{}", self.resource_type, self.resource_id)
    }
}

pub fn enqueue(
    conn: &mut DbConnection,
    event: &ChangeEvent,
    resource_type: scim::ResourceType,
) -> Result<(), CoreError> {
    diesel::insert_into(outbox::table)
        .values((
            outbox::event_id.eq(&event.event_id),
            outbox::event_type.eq(&event.event_type),
            outbox::tenant_id.eq(&event.tenant_id),
            outbox::resource_type.eq(resource_type.endpoint()),
            outbox::resource_id.eq(&event.resource_id),
            outbox::payload.eq(event.encode_to_vec()),
            outbox::created_at.eq(event.occurred_at_micros),
            outbox::trace_context.eq(platform::telemetry::context_of(&tracing::Span::current()).remove("traceparent")),
        ))
        .execute(conn)?;
    Ok(())
}

/// The oldest unpublished events, in commit order (set-aside ones excluded).
pub fn pending(conn: &mut DbConnection, limit: i64) -> Result<Vec<OutboxEvent>, CoreError> {
    Ok(outbox::table
        .filter(outbox::published_at.is_null())
        .filter(outbox::failed_at.is_null())
        .order(outbox::seq.asc())
        .limit(limit)
        .select(OutboxEvent::as_select())
        .load(conn)?)
}

pub fn mark_published(conn: &mut DbConnection, seqs: &[i64]) -> Result<usize, CoreError> {
    if seqs.is_empty() {
        return Ok(0);
    }
    Ok(diesel::update(outbox::table.filter(outbox::seq.eq_any(seqs)))
        .set(outbox::published_at.eq(now_micros()))
        .execute(conn)?)
}

/// Sets aside an event the sink refused for good, with the reason.
pub fn mark_failed(conn: &mut DbConnection, seq: i64, failure: &str) -> Result<(), CoreError> {
    diesel::update(outbox::table.find(seq))
        .set((outbox::failed_at.eq(now_micros()), outbox::failure.eq(failure)))
        .execute(conn)?;
    Ok(())
}

/// The outbox's state, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    pub pending: i64,
    pub oldest_created_at: Option<i64>,
    pub set_aside: i64,
}

pub fn backlog(conn: &mut DbConnection) -> Result<Backlog, CoreError> {
    let waiting = outbox::table.filter(outbox::published_at.is_null());
    let (pending, oldest_created_at): (i64, Option<i64>) = waiting
        .filter(outbox::failed_at.is_null())
        .select((diesel::dsl::count_star(), diesel::dsl::min(outbox::created_at)))
        .first(conn)?;
    let set_aside: i64 = waiting.filter(outbox::failed_at.is_not_null()).count().get_result(conn)?;
    Ok(Backlog { pending, oldest_created_at, set_aside })
}

/// Deletes events published before `cutoff` (at most `limit`, oldest first): the outbox keeps
/// full records (names, e-mails) only as long as the retention says. Set-aside events stay
/// until an operator retries or discards them.
pub fn prune_published(conn: &mut DbConnection, cutoff: i64, limit: i64) -> Result<usize, CoreError> {
    use crate::schema::{webhook_deliveries, webhook_endpoints};
    // Not what the webhook endpoints still need: an event not yet queued for them (while there
    // are any), or one with a delivery still pending.
    let endpoints: i64 = webhook_endpoints::table.count().get_result(conn)?;
    let mut query = outbox::table.filter(outbox::published_at.lt(cutoff)).into_boxed();
    if endpoints > 0 {
        let pending = webhook_deliveries::table
            .filter(webhook_deliveries::state.eq(crate::store::webhooks::PENDING))
            .select(webhook_deliveries::seq);
        query = query
            .filter(outbox::webhooks_queued_at.is_not_null())
            .filter(diesel::dsl::not(outbox::seq.eq_any(pending)));
    }
    let due: Vec<i64> = query.order(outbox::seq.asc()).limit(limit).select(outbox::seq).load(conn)?;
    if due.is_empty() {
        return Ok(0);
    }
    // Their finished deliveries go with them (they could not be replayed any more).
    diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::seq.eq_any(&due))).execute(conn)?;
    Ok(diesel::delete(outbox::table.filter(outbox::seq.eq_any(&due))).execute(conn)?)
}

/// An event the sink refused for good, as operators see it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = outbox)]
pub struct SetAside {
    pub seq: i64,
    pub event_id: String,
    pub event_type: String,
    pub tenant_id: String,
    pub resource_type: String,
    pub resource_id: String,
    pub created_at: i64,
    pub failed_at: Option<i64>,
    pub failure: Option<String>,
}

/// The set-aside events (of one tenant, or all), oldest first, and how many there are.
pub fn set_aside(conn: &mut DbConnection, tenant: Option<&str>, limit: i64) -> Result<(i64, Vec<SetAside>), CoreError> {
    let mut listed = outbox::table
        .filter(outbox::published_at.is_null())
        .filter(outbox::failed_at.is_not_null())
        .order(outbox::seq.asc())
        .limit(limit)
        .select(SetAside::as_select())
        .into_boxed();
    let mut counted = outbox::table
        .filter(outbox::published_at.is_null())
        .filter(outbox::failed_at.is_not_null())
        .count()
        .into_boxed();
    if let Some(tenant) = tenant {
        listed = listed.filter(outbox::tenant_id.eq(tenant));
        counted = counted.filter(outbox::tenant_id.eq(tenant));
    }
    Ok((counted.get_result(conn)?, listed.load(conn)?))
}

/// Puts set-aside events back in line for the relay (one by `seq`, or every one of a tenant, or
/// all): the relay publishes them in seq order, and consumers skip what a later version made
/// stale. Returns how many.
pub fn retry_set_aside(conn: &mut DbConnection, seq: Option<i64>, tenant: Option<&str>) -> Result<usize, CoreError> {
    let mut target = diesel::update(outbox::table)
        .filter(outbox::published_at.is_null())
        .filter(outbox::failed_at.is_not_null())
        .into_boxed();
    if let Some(seq) = seq {
        target = target.filter(outbox::seq.eq(seq));
    }
    if let Some(tenant) = tenant {
        target = target.filter(outbox::tenant_id.eq(tenant));
    }
    Ok(target.set((outbox::failed_at.eq(None::<i64>), outbox::failure.eq(None::<String>))).execute(conn)?)
}

/// Deletes a set-aside event for good (the operator repairs the resource by a republish).
pub fn discard_set_aside(conn: &mut DbConnection, seq: i64, tenant: Option<&str>) -> Result<usize, CoreError> {
    let mut target = diesel::delete(outbox::table)
        .filter(outbox::seq.eq(seq))
        .filter(outbox::published_at.is_null())
        .filter(outbox::failed_at.is_not_null())
        .into_boxed();
    if let Some(tenant) = tenant {
        target = target.filter(outbox::tenant_id.eq(tenant));
    }
    Ok(target.execute(conn)?)
}

/// A position in the events feed: after the event of transaction `txid` and outbox `seq`,
/// written at `created_at` (which tells whether retention may have pruned what follows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedPosition {
    pub txid: i64,
    pub seq: i64,
    pub created_at: i64,
}

/// The oldest transaction id that may still write to this database's outbox: the lowest of the
/// snapshot's running transactions, less those seen running in another database (the snapshot
/// is cluster-wide: a long transaction elsewhere on the server must not hold the feed back),
/// else the snapshot's xmax (ids from there on have not started). A transaction that ended
/// between the snapshot and the look at `pg_stat_activity` counts as running: the bound only
/// errs early.
const OLDEST_RUNNING_HERE: &str = "(SELECT coalesce(\
         (SELECT min(x::text::bigint) FROM pg_snapshot_xip(snap.s) AS x \
          WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity AS a \
              WHERE a.datname <> current_database() AND a.backend_xid = x::xid)), \
         pg_snapshot_xmax(snap.s)::text::bigint) \
     FROM (SELECT pg_current_snapshot() AS s) AS snap)";

/// The ids of the transactions of this database running now (PostgreSQL; none on SQLite, whose
/// writers are serial): those that may still add outbox rows below the last `seq` visible.
pub fn running_here(conn: &mut DbConnection) -> Result<Vec<i64>, CoreError> {
    if conn.backend() != platform::db::Backend::Postgres {
        return Ok(Vec::new());
    }
    Ok(diesel::sql_query(
        "SELECT x::text::bigint AS txid FROM pg_snapshot_xip(pg_current_snapshot()) AS x \
         WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity AS a \
             WHERE a.datname <> current_database() AND a.backend_xid = x::xid)",
    )
    .load::<RunningTransaction>(conn)?
    .into_iter()
    .map(|row| row.txid)
    .collect())
}

#[derive(QueryableByName)]
struct RunningTransaction {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    txid: i64,
}

/// A page of the events feed: at most `limit` events after `after` (from the oldest retained
/// when `None`), of one tenant or all, in the order they became visible. On PostgreSQL that is
/// (txid, seq) among the rows whose transaction is older than every transaction still running,
/// so a row committed later can never fall before a position already served; SQLite has one
/// writer, and seq alone orders (txid is 0).
pub fn feed(
    conn: &mut DbConnection,
    after: Option<FeedPosition>,
    tenant: Option<&str>,
    limit: i64,
) -> Result<Vec<(FeedPosition, OutboxEvent)>, CoreError> {
    let mut query = outbox::table
        .select((outbox::txid, OutboxEvent::as_select()))
        .order((outbox::txid.asc(), outbox::seq.asc()))
        .limit(limit)
        .into_boxed();
    if conn.backend() == platform::db::Backend::Postgres {
        query = query.filter(outbox::txid.lt(diesel::dsl::sql::<diesel::sql_types::BigInt>(OLDEST_RUNNING_HERE)));
    }
    if let Some(FeedPosition { txid, seq, .. }) = after {
        query = query.filter(outbox::txid.gt(txid).or(outbox::txid.eq(txid).and(outbox::seq.gt(seq))));
    }
    if let Some(tenant) = tenant {
        query = query.filter(outbox::tenant_id.eq(tenant));
    }
    let rows: Vec<(i64, OutboxEvent)> = query.load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(txid, event)| (FeedPosition { txid, seq: event.seq, created_at: event.created_at }, event))
        .collect())
}
