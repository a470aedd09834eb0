//! Applying change events to the directory. Each event carries its resource's version; a version
//! at or below the one stored is skipped, so replays and late duplicates change nothing. A user
//! event is applied to the row of its account, which SCIM may have linked to an account the
//! product made by hand, or restored from a soft delete; `user.purged` leaves a tombstone without
//! personal data. When the event comes from Kafka, its offset is stored in the same transaction.
//! An event that cannot be applied (see `dead_letter`) is set aside with its offset stored, so
//! its partition goes on.

use std::collections::BTreeMap;

use diesel::prelude::*;
use platform::db::{DbConnection, now_micros};
use proto::change_event::Record;
use proto::{Account, ChangeEvent, ResourceKind, Team};
#[cfg(feature = "kafka")]
use scim_events::kafka::Received;
use scim_events::offsets::OffsetStore;
#[cfg(feature = "kafka")]
use scim_events::offsets::{Consumed, consume_in};
use scim_events::versions::is_newer;

use crate::dead_letter;
#[cfg(feature = "kafka")]
use crate::dead_letter::Position;
use crate::error::DirectoryError;
use crate::records::{Origin, email_key};
use crate::schema::{accounts, consumed_offsets, memberships, teams};

/// The most member rows one statement names (SQLite binds at most 32,766 parameters).
const MEMBER_CHUNK: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Applied,
    /// The directory already holds this version or a newer one, or (for a user event) the
    /// account is provisioned by another SCIM user now.
    Stale,
    /// The offset was consumed before (a redelivery after a restart or rebalance).
    AlreadyConsumed,
    /// The payload is not a change event: set aside as a dead letter at once, it would never
    /// decode.
    Undecodable,
    /// Applying it failed [`dead_letter::POISON_FAILURES`] times in a row with the database
    /// answering: set aside as a dead letter.
    DeadLettered,
}

/// The `consumed_offsets` table: each partition's next offset, stored in the transaction that
/// applies its messages (`scim_events::offsets`).
pub struct ConsumedOffsets;

impl OffsetStore<DbConnection> for ConsumedOffsets {
    type Error = DirectoryError;

    fn next_offset(&self, conn: &mut DbConnection, topic: &str, partition: i32) -> Result<Option<i64>, DirectoryError> {
        Ok(consumed_offsets::table
            .find((topic, partition))
            .select(consumed_offsets::next_offset)
            .first(conn)
            .optional()?)
    }

    fn store_next_offset(
        &self,
        conn: &mut DbConnection,
        topic: &str,
        partition: i32,
        next: i64,
    ) -> Result<(), DirectoryError> {
        let stored = diesel::update(consumed_offsets::table.find((topic, partition)))
            .set(consumed_offsets::next_offset.eq(next))
            .execute(conn)?;
        if stored == 0 {
            diesel::insert_into(consumed_offsets::table)
                .values((
                    consumed_offsets::topic.eq(topic),
                    consumed_offsets::kafka_partition.eq(partition),
                    consumed_offsets::next_offset.eq(next),
                ))
                .execute(conn)?;
        }
        Ok(())
    }

    fn stored_offsets(&self, conn: &mut DbConnection, topic: &str) -> Result<Vec<(i32, i64)>, DirectoryError> {
        stored_offsets(conn, topic)
    }
}

#[cfg(feature = "kafka")]
fn outcome(consumed: Consumed<Applied>) -> Applied {
    match consumed {
        Consumed::Done(applied) => applied,
        Consumed::Before => Applied::AlreadyConsumed,
    }
}

/// Applies one Kafka message (protobuf or JSON, as its `content-type` says) and records its
/// offset, in the caller's transaction. A payload that is not a change event is recorded as a
/// dead letter instead.
#[cfg(feature = "kafka")]
pub fn apply_message(conn: &mut DbConnection, message: &Received) -> Result<Applied, DirectoryError> {
    let position = Position::new(&message.topic, message.partition, message.offset);
    let consumed = consume_in(&ConsumedOffsets, conn, message.position(), |conn| match message.decode() {
        Ok(event) => apply_event(conn, &event),
        Err(error) => {
            let reason = dead_letter::undecodable_reason(&error);
            let known = scim_events::identify(&message.attributes, &message.payload);
            dead_letter::record(conn, &position, &known, &message.payload, &reason)?;
            tracing::error!(
                topic = message.topic,
                partition = message.partition,
                offset = message.offset,
                reason,
                "a message that is not a change event was set aside as a dead letter"
            );
            Ok(Applied::Undecodable)
        }
    })?;
    Ok(outcome(consumed))
}

/// Records a poison message as a dead letter instead of applying it, and its offset, in the
/// caller's transaction.
#[cfg(feature = "kafka")]
pub fn set_aside_message(conn: &mut DbConnection, message: &Received, reason: &str) -> Result<Applied, DirectoryError> {
    let position = Position::new(&message.topic, message.partition, message.offset);
    let decoded = scim_events::identify(&message.attributes, &message.payload);
    let consumed = consume_in(&ConsumedOffsets, conn, message.position(), |conn| {
        dead_letter::record(conn, &position, &decoded, &message.payload, reason)?;
        Ok(Applied::DeadLettered)
    })?;
    Ok(outcome(consumed))
}

/// The next offset to consume per partition of `topic`, as stored.
pub fn stored_offsets(conn: &mut DbConnection, topic: &str) -> Result<Vec<(i32, i64)>, DirectoryError> {
    Ok(consumed_offsets::table
        .filter(consumed_offsets::topic.eq(topic))
        .select((consumed_offsets::kafka_partition, consumed_offsets::next_offset))
        .load(conn)?)
}

/// Applies one change event, in the caller's transaction. An event without a record, or whose
/// record is not of its resource's kind, is refused (`Invalid`): it can never apply.
pub fn apply_event(conn: &mut DbConnection, event: &ChangeEvent) -> Result<Applied, DirectoryError> {
    // Events written before resource_kind was set carry 0 (unspecified): their record decides.
    let kind = ResourceKind::try_from(event.resource_kind).unwrap_or(ResourceKind::Unspecified);
    match (&event.record, kind) {
        (Some(Record::Account(account)), ResourceKind::User | ResourceKind::Unspecified) => {
            apply_account(conn, event, account)
        }
        (Some(Record::Team(team)), ResourceKind::Group | ResourceKind::Unspecified) => apply_team(conn, event, team),
        (Some(Record::Account(_)), ResourceKind::Group) => {
            Err(DirectoryError::Invalid("a group event carries an account record".to_owned()))
        }
        (Some(Record::Team(_)), ResourceKind::User) => {
            Err(DirectoryError::Invalid("a user event carries a team record".to_owned()))
        }
        (None, _) => Err(DirectoryError::Invalid("the change event carries no record".to_owned())),
    }
}

/// The `event_type` that ends a soft-deleted account's tombstone period.
pub const USER_PURGED: &str = "user.purged";

/// The `Link.reason` of a link to an account the product made by hand.
pub const LINK_REASON_EMAIL: &str = "email";

/// What an account event writes to its row (all of it but the keys, the origin and created_at).
#[derive(AsChangeset, Insertable)]
#[diesel(table_name = accounts, treat_none_as_null = true)]
struct AccountChanges<'a> {
    user_name: &'a str,
    external_id: Option<&'a str>,
    active: bool,
    email: Option<&'a str>,
    email_key: Option<String>,
    given_name: Option<&'a str>,
    family_name: Option<&'a str>,
    display_name: Option<&'a str>,
    roles: String,
    permissions: String,
    custom_fields: String,
    scim_user_id: &'a str,
    version: i64,
    deleted: bool,
    purge_after: Option<i64>,
    purged: bool,
    updated_at: i64,
}

impl<'a> AccountChanges<'a> {
    fn from_event(event: &'a ChangeEvent, account: &'a Account) -> Result<Self, DirectoryError> {
        // Sorted keys, so that the stored text does not depend on the map's order.
        let custom_fields: BTreeMap<&String, &String> = account.custom_fields.iter().collect();
        Ok(Self {
            user_name: &account.user_name,
            external_id: account.external_id.as_deref(),
            active: account.active && !event.deleted,
            email: account.email.as_deref(),
            email_key: account.email.as_deref().map(email_key),
            given_name: account.given_name.as_deref(),
            family_name: account.family_name.as_deref(),
            display_name: account.display_name.as_deref(),
            roles: to_json(&account.roles)?,
            permissions: to_json(&account.permissions)?,
            custom_fields: to_json(&custom_fields)?,
            scim_user_id: &event.resource_id,
            version: event.version,
            deleted: event.deleted,
            purge_after: if event.deleted { event.purge_after_micros } else { None },
            purged: false,
            updated_at: now_micros(),
        })
    }

    /// A purged account: only what stops an older event from bringing it back (its ids, its
    /// SCIM user and version, deleted) is kept; its personal data is cleared.
    fn purged(event: &'a ChangeEvent) -> Self {
        Self {
            user_name: "",
            external_id: None,
            active: false,
            email: None,
            email_key: None,
            given_name: None,
            family_name: None,
            display_name: None,
            roles: "[]".to_owned(),
            permissions: "[]".to_owned(),
            custom_fields: "{}".to_owned(),
            scim_user_id: &event.resource_id,
            version: event.version,
            deleted: true,
            purge_after: None,
            purged: true,
            updated_at: now_micros(),
        }
    }
}

fn to_json(value: &impl serde::Serialize) -> Result<String, DirectoryError> {
    serde_json::to_string(value).map_err(|e| DirectoryError::Internal(e.to_string()))
}

/// Applies a user event to the row of its account (`Account.id`, which is the SCIM user id
/// unless SCIM linked the user to an existing account). Versions number one SCIM user's events,
/// so they are compared only when the row is that user's: an event of another SCIM user (or for
/// a manual account) applies only when it links the user to the row, taking it over.
fn apply_account(conn: &mut DbConnection, event: &ChangeEvent, account: &Account) -> Result<Applied, DirectoryError> {
    let scim_user_id = event.resource_id.as_str();
    // Events published before accounts had ids of their own carry the SCIM user id, or nothing.
    let id = if account.id.is_empty() { scim_user_id } else { account.id.as_str() };
    let key = (event.tenant_id.as_str(), id);
    if let Some(link) = &event.link
        && link.account_id != id
    {
        tracing::warn!(event_id = %event.event_id, "a link names another account than the record's id; the record's id is used");
    }
    // The row lock first (PostgreSQL): events of two SCIM users for one account (a restore, a
    // link) can be applied at once by two consumers, and each decides on what it read.
    diesel::update(accounts::table.find(key)).set(accounts::version.eq(accounts::version)).execute(conn)?;
    let stored: Option<(Option<String>, i64)> =
        accounts::table.find(key).select((accounts::scim_user_id, accounts::version)).first(conn).optional()?;
    if let Some((owner, version)) = &stored {
        let owned = owner.as_deref() == Some(scim_user_id);
        if owned && !is_newer(Some(*version), event.version) {
            return Ok(Applied::Stale);
        }
        if !owned && event.link.is_none() {
            // The row is another SCIM user's now (taken over by its link), or a manual account no
            // link claimed: this user's versions say nothing about it.
            tracing::warn!(event_id = %event.event_id, "an event of a SCIM user that does not provision this account; skipped");
            return Ok(Applied::Stale);
        }
    }
    let purged = event.event_type == USER_PURGED;
    let changes = if purged { AccountChanges::purged(event) } else { AccountChanges::from_event(event, account)? };
    if stored.is_some() {
        // A takeover keeps the origin: a manual account stays manual once SCIM provisions it.
        diesel::update(accounts::table.find(key)).set(&changes).execute(conn)?;
    } else {
        // Only a rebuilt directory meets a link to an account it does not hold.
        let origin = match &event.link {
            Some(link) if link.reason == LINK_REASON_EMAIL => Origin::Manual,
            _ => Origin::Scim,
        };
        diesel::insert_into(accounts::table)
            .values((
                accounts::tenant_id.eq(key.0),
                accounts::id.eq(key.1),
                accounts::origin.eq(origin.as_str()),
                accounts::created_at.eq(changes.updated_at),
                &changes,
            ))
            .execute(conn)?;
    }
    if changes.deleted {
        diesel::delete(
            memberships::table.filter(memberships::tenant_id.eq(key.0)).filter(memberships::account_id.eq(key.1)),
        )
        .execute(conn)?;
    }
    if purged {
        dead_letter::forget_payloads(conn, key.0, scim_user_id)?;
    }
    Ok(Applied::Applied)
}

fn apply_team(conn: &mut DbConnection, event: &ChangeEvent, team: &Team) -> Result<Applied, DirectoryError> {
    let key = (event.tenant_id.as_str(), event.resource_id.as_str());
    let stored: Option<i64> = teams::table.find(key).select(teams::version).first(conn).optional()?;
    if !is_newer(stored, event.version) {
        return Ok(Applied::Stale);
    }
    let values = (
        teams::name.eq(&team.name),
        teams::permissions.eq(to_json(&team.permissions)?),
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
    if event.deleted {
        diesel::delete(
            memberships::table.filter(memberships::tenant_id.eq(key.0)).filter(memberships::team_id.eq(key.1)),
        )
        .execute(conn)?;
        return Ok(Applied::Applied);
    }
    // Events carry the membership as deltas (the accounts that joined and left with this
    // version; a team's events apply in version order): only those rows are written.
    for chunk in event.removed_member_ids.chunks(MEMBER_CHUNK) {
        diesel::delete(
            memberships::table
                .filter(memberships::tenant_id.eq(key.0))
                .filter(memberships::team_id.eq(key.1))
                .filter(memberships::account_id.eq_any(chunk)),
        )
        .execute(conn)?;
    }
    for chunk in event.added_member_ids.chunks(MEMBER_CHUNK) {
        let present: Vec<String> = memberships::table
            .filter(memberships::tenant_id.eq(key.0))
            .filter(memberships::team_id.eq(key.1))
            .filter(memberships::account_id.eq_any(chunk))
            .select(memberships::account_id)
            .load(conn)?;
        let rows: Vec<_> = chunk
            .iter()
            .filter(|account_id| !present.contains(account_id))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .map(|account_id| {
                (
                    memberships::tenant_id.eq(key.0),
                    memberships::team_id.eq(key.1),
                    memberships::account_id.eq(account_id),
                )
            })
            .collect();
        if !rows.is_empty() {
            platform::db::insert_rows(conn, diesel::insert_into(memberships::table).values(rows))?;
        }
    }
    Ok(Applied::Applied)
}
