//! Applying change events to the directory. Each event carries its resource's version; a version
//! at or below the one stored is skipped, so replays and late duplicates change nothing. When
//! the event comes from Kafka, its offset is stored in the same transaction.

use diesel::prelude::*;
use platform::db::{DbConnection, now_micros};
use prost::Message;
use proto::change_event::Record;
use proto::{Account, ChangeEvent, Team};

use crate::error::DirectoryError;
use crate::schema::{accounts, consumed_offsets, memberships, teams};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Applied,
    /// The directory already holds this version or a newer one.
    Stale,
    /// The offset was consumed before (a redelivery after a restart or rebalance).
    AlreadyConsumed,
    /// The payload is not a change event: logged and skipped, it would never decode.
    Undecodable,
}

/// Applies one Kafka message and records its offset, in the caller's transaction.
pub fn apply_message(
    conn: &mut DbConnection,
    topic: &str,
    partition: i32,
    offset: i64,
    payload: &[u8],
) -> Result<Applied, DirectoryError> {
    let next: Option<i64> = consumed_offsets::table
        .find((topic, partition))
        .select(consumed_offsets::next_offset)
        .first(conn)
        .optional()?;
    if next.is_some_and(|next| offset < next) {
        return Ok(Applied::AlreadyConsumed);
    }
    let applied = match ChangeEvent::decode(payload) {
        Ok(event) => apply_event(conn, &event)?,
        Err(error) => {
            tracing::error!(error = %error, topic, partition, offset, "skipping a message that is not a change event");
            Applied::Undecodable
        }
    };
    let stored = diesel::update(consumed_offsets::table.find((topic, partition)))
        .set(consumed_offsets::next_offset.eq(offset + 1))
        .execute(conn)?;
    if stored == 0 {
        diesel::insert_into(consumed_offsets::table)
            .values((
                consumed_offsets::topic.eq(topic),
                consumed_offsets::kafka_partition.eq(partition),
                consumed_offsets::next_offset.eq(offset + 1),
            ))
            .execute(conn)?;
    }
    Ok(applied)
}

/// The next offset to consume per partition of `topic`, as stored.
pub fn stored_offsets(conn: &mut DbConnection, topic: &str) -> Result<Vec<(i32, i64)>, DirectoryError> {
    Ok(consumed_offsets::table
        .filter(consumed_offsets::topic.eq(topic))
        .select((consumed_offsets::kafka_partition, consumed_offsets::next_offset))
        .load(conn)?)
}

/// Applies one change event, in the caller's transaction.
pub fn apply_event(conn: &mut DbConnection, event: &ChangeEvent) -> Result<Applied, DirectoryError> {
    match &event.record {
        Some(Record::Account(account)) => apply_account(conn, event, account),
        Some(Record::Team(team)) => apply_team(conn, event, team),
        None => {
            tracing::error!(event_id = %event.event_id, "change event without a record; skipped");
            Ok(Applied::Undecodable)
        }
    }
}

fn apply_account(conn: &mut DbConnection, event: &ChangeEvent, account: &Account) -> Result<Applied, DirectoryError> {
    let key = (event.tenant_id.as_str(), event.resource_id.as_str());
    let stored: Option<i64> = accounts::table.find(key).select(accounts::version).first(conn).optional()?;
    if stored.is_some_and(|version| version >= event.version) {
        return Ok(Applied::Stale);
    }
    let roles = serde_json::to_string(&account.roles).map_err(|e| DirectoryError::Internal(e.to_string()))?;
    let values = (
        accounts::user_name.eq(&account.user_name),
        accounts::external_id.eq(&account.external_id),
        accounts::active.eq(account.active && !event.deleted),
        accounts::email.eq(&account.email),
        accounts::given_name.eq(&account.given_name),
        accounts::family_name.eq(&account.family_name),
        accounts::display_name.eq(&account.display_name),
        accounts::roles.eq(&roles),
        accounts::version.eq(event.version),
        accounts::deleted.eq(event.deleted),
        accounts::updated_at.eq(now_micros()),
    );
    if stored.is_some() {
        diesel::update(accounts::table.find(key)).set(values).execute(conn)?;
    } else {
        diesel::insert_into(accounts::table)
            .values((accounts::tenant_id.eq(key.0), accounts::id.eq(key.1), values))
            .execute(conn)?;
    }
    if event.deleted {
        diesel::delete(
            memberships::table.filter(memberships::tenant_id.eq(key.0)).filter(memberships::account_id.eq(key.1)),
        )
        .execute(conn)?;
    }
    Ok(Applied::Applied)
}

fn apply_team(conn: &mut DbConnection, event: &ChangeEvent, team: &Team) -> Result<Applied, DirectoryError> {
    let key = (event.tenant_id.as_str(), event.resource_id.as_str());
    let stored: Option<i64> = teams::table.find(key).select(teams::version).first(conn).optional()?;
    if stored.is_some_and(|version| version >= event.version) {
        return Ok(Applied::Stale);
    }
    let values = (
        teams::name.eq(&team.name),
        teams::external_id.eq(&team.external_id),
        teams::version.eq(event.version),
        teams::deleted.eq(event.deleted),
        teams::updated_at.eq(now_micros()),
    );
    if stored.is_some() {
        diesel::update(teams::table.find(key)).set(values).execute(conn)?;
    } else {
        diesel::insert_into(teams::table)
            .values((teams::tenant_id.eq(key.0), teams::id.eq(key.1), values))
            .execute(conn)?;
    }
    // The event carries the whole member list of this version: the rows become exactly that.
    diesel::delete(memberships::table.filter(memberships::tenant_id.eq(key.0)).filter(memberships::team_id.eq(key.1)))
        .execute(conn)?;
    if !event.deleted {
        for account_id in &team.member_ids {
            diesel::insert_into(memberships::table)
                .values((
                    memberships::tenant_id.eq(key.0),
                    memberships::team_id.eq(key.1),
                    memberships::account_id.eq(account_id),
                ))
                .execute(conn)?;
        }
    }
    Ok(Applied::Applied)
}
