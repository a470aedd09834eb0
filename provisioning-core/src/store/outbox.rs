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
}

impl OutboxEvent {
    /// The Kafka key: per-resource order holds within a partition.
    pub fn key(&self) -> String {
        format!("{}/{}", self.tenant_id, self.resource_id)
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
