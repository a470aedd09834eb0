//! Dead letters: messages the directory could not apply, set aside so that one poison event does
//! not stop its Kafka partition (or, in standalone, all in-process delivery) for good.
//!
//! A message is poison when its payload is not a change event (at once: it can never decode), or
//! when applying it failed [`POISON_FAILURES`] times in a row, each failure followed by the
//! database answering a `SELECT 1` in a fresh transaction. A failure after which the database
//! does not answer, or whose error says the database is unreachable or busy, resets the count: an
//! outage fails every message, and is waited out rather than taken for poison. The dead letter
//! keeps the payload and what could be decoded of it; the resource is repaired by its next event
//! (versions are compared with what was applied, so the one skipped confuses nothing) or by a
//! republish.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::result::DatabaseErrorKind;
use platform::db::{DbBackend, DbConnection, now_micros};
use proto::ChangeEvent;
use serde::Serialize;

use crate::Directory;
use crate::error::DirectoryError;
use crate::schema::dead_letters;

/// Failures in a row (with the database answering) that make a message poison.
pub const POISON_FAILURES: u32 = 5;

/// The topic of the dead letters of standalone's in-process delivery, whose offset is the
/// outbox `seq` (partition 0).
pub const IN_PROCESS_TOPIC: &str = "in-process";

/// The longest reason stored, in characters (an error's text, which is not bounded).
const MAX_REASON_CHARS: usize = 2000;

/// Where a message was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

impl Position {
    pub fn new(topic: &str, partition: i32, offset: i64) -> Self {
        Self { topic: topic.to_owned(), partition, offset }
    }

    /// An event of standalone's outbox, delivered in-process.
    pub fn in_process(seq: i64) -> Self {
        Self::new(IN_PROCESS_TOPIC, 0, seq)
    }
}

/// The reason stored for a payload that does not decode.
pub fn undecodable_reason(error: &impl std::fmt::Display) -> String {
    format!("the payload is not a change event: {error}")
}

/// What to do with a message whose apply just failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Apply it again after a pause; later messages of its partition wait.
    Retry,
    /// Set it aside as a dead letter and go on with the next one.
    SetAside,
}

/// The failures in a row of the message being retried, counting only those after which the
/// database still answered.
#[derive(Debug, Default)]
pub struct FailureStreak {
    position: Option<Position>,
    failures: u32,
}

impl FailureStreak {
    /// Counts a failure of the message at `position` and decides. `database_answers` is asked
    /// only when the error itself does not say that the database is out.
    pub fn failed(
        &mut self,
        position: &Position,
        error: &DirectoryError,
        database_answers: impl FnOnce() -> bool,
    ) -> Verdict {
        if self.position.as_ref() != Some(position) {
            self.position = Some(position.clone());
            self.failures = 0;
        }
        if is_transient(error) || !database_answers() {
            // This failure says nothing about the message: it starts counting again.
            self.failures = 0;
            return Verdict::Retry;
        }
        self.failures = self.failures.saturating_add(1);
        if self.failures >= POISON_FAILURES { Verdict::SetAside } else { Verdict::Retry }
    }

    /// The failures counted so far of the message being retried.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The message applied or was set aside: the next failure is another message's first.
    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

/// Errors that say the database is unreachable, disconnected or busy, whatever the message.
fn is_transient(error: &DirectoryError) -> bool {
    match error {
        DirectoryError::Unavailable(_) => true,
        DirectoryError::Database(diesel::result::Error::DatabaseError(kind, information)) => {
            matches!(
                kind,
                DatabaseErrorKind::ClosedConnection
                    | DatabaseErrorKind::UnableToSendCommand
                    | DatabaseErrorKind::SerializationFailure
            ) ||
                // SQLITE_BUSY / SQLITE_LOCKED, which diesel reports with no kind of their own.
                information.message().contains("database is locked")
                || information.message().contains("database table is locked")
        }
        DirectoryError::Database(_)
        | DirectoryError::NotFound(_)
        | DirectoryError::Unauthorized(_)
        | DirectoryError::Forbidden(_)
        | DirectoryError::Invalid(_)
        | DirectoryError::Conflict(_)
        | DirectoryError::Internal(_) => false,
    }
}

/// Whether the database answers a `SELECT 1` in a fresh transaction now.
pub fn database_answers(directory: &Directory) -> bool {
    directory
        .read(|conn| {
            conn.batch_execute("SELECT 1")?;
            Ok::<_, DirectoryError>(())
        })
        .is_ok()
}

#[derive(Insertable)]
#[diesel(table_name = dead_letters)]
struct NewDeadLetter<'a> {
    topic: &'a str,
    kafka_partition: i32,
    kafka_offset: i64,
    tenant_id: &'a str,
    event_type: &'a str,
    resource_id: &'a str,
    version: i64,
    reason: &'a str,
    payload: &'a [u8],
    recorded_at: i64,
}

/// Records a dead letter in the caller's transaction, with what decoded of the payload (`event`,
/// the default when nothing did).
pub fn record(
    conn: &mut DbConnection,
    position: &Position,
    event: &ChangeEvent,
    payload: &[u8],
    reason: &str,
) -> Result<(), DirectoryError> {
    let reason: String = reason.chars().take(MAX_REASON_CHARS).collect();
    diesel::insert_into(dead_letters::table)
        .values(NewDeadLetter {
            topic: &position.topic,
            kafka_partition: position.partition,
            kafka_offset: position.offset,
            tenant_id: &event.tenant_id,
            event_type: &event.event_type,
            resource_id: &event.resource_id,
            version: event.version,
            reason: &reason,
            payload,
            recorded_at: now_micros(),
        })
        .execute(conn)?;
    Ok(())
}

/// After a dead letter committed: the error operators are told of. (`observe::record_applied`
/// counts it.)
pub fn log_set_aside(position: &Position, reason: &str) {
    tracing::error!(
        topic = %position.topic, partition = position.partition, offset = position.offset, reason,
        "an event the directory cannot apply was set aside as a dead letter"
    );
}

/// A dead letter as listed (without its payload, which holds personal data).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize)]
#[diesel(table_name = dead_letters)]
pub struct DeadLetterRecord {
    pub id: i64,
    pub topic: String,
    #[diesel(column_name = kafka_partition)]
    pub partition: i32,
    #[diesel(column_name = kafka_offset)]
    pub offset: i64,
    pub tenant_id: String,
    pub event_type: String,
    pub resource_id: String,
    pub version: i64,
    pub reason: String,
    #[diesel(column_name = recorded_at)]
    pub recorded_at_micros: i64,
}

impl From<DeadLetterRecord> for proto::DeadLetter {
    fn from(record: DeadLetterRecord) -> Self {
        let DeadLetterRecord {
            id,
            topic,
            partition,
            offset,
            tenant_id,
            event_type,
            resource_id,
            version,
            reason,
            recorded_at_micros,
        } = record;
        proto::DeadLetter {
            id,
            topic,
            partition,
            offset,
            tenant_id,
            event_type,
            resource_id,
            version,
            reason,
            recorded_at_micros,
        }
    }
}

/// The newest `limit` dead letters of `tenant` (of every tenant when `None`), and how many it
/// has in all.
pub fn list(
    conn: &mut DbConnection,
    tenant: Option<&str>,
    limit: i64,
) -> Result<(Vec<DeadLetterRecord>, i64), DirectoryError> {
    let mut page = dead_letters::table
        .select(DeadLetterRecord::as_select())
        .order(dead_letters::id.desc())
        .limit(limit)
        .into_boxed::<DbBackend>();
    let mut total = dead_letters::table.count().into_boxed::<DbBackend>();
    if let Some(tenant) = tenant {
        page = page.filter(dead_letters::tenant_id.eq(tenant));
        total = total.filter(dead_letters::tenant_id.eq(tenant));
    }
    Ok((page.load(conn)?, total.get_result(conn)?))
}

/// How many dead letters are stored, of every tenant.
pub fn count(conn: &mut DbConnection) -> Result<i64, DirectoryError> {
    Ok(dead_letters::table.count().get_result(conn)?)
}

/// Clears the payloads of a purged user's dead letters: a purge leaves no personal data behind,
/// and the payload carries the user's. What was decoded of them (ids, type, version) stays.
pub fn forget_payloads(conn: &mut DbConnection, tenant: &str, resource_id: &str) -> Result<(), DirectoryError> {
    diesel::update(
        dead_letters::table
            .filter(dead_letters::tenant_id.eq(tenant))
            .filter(dead_letters::resource_id.eq(resource_id)),
    )
    .set(dead_letters::payload.eq(Vec::<u8>::new()))
    .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poison() -> DirectoryError {
        DirectoryError::Invalid("a user event carrying a team".to_owned())
    }

    #[test]
    fn the_fifth_failure_in_a_row_with_the_database_answering_sets_aside() {
        let mut streak = FailureStreak::default();
        let here = Position::new("t", 0, 7);
        for failure in 1..POISON_FAILURES {
            assert_eq!(streak.failed(&here, &poison(), || true), Verdict::Retry, "failure {failure}");
            assert_eq!(streak.failures(), failure);
        }
        assert_eq!(streak.failed(&here, &poison(), || true), Verdict::SetAside);
        // Until the caller clears it (the set-aside committed), a failure still sets aside.
        assert_eq!(streak.failed(&here, &poison(), || true), Verdict::SetAside);
        streak.clear();
        assert_eq!(streak.failed(&here, &poison(), || true), Verdict::Retry);
    }

    #[test]
    fn a_database_outage_is_never_poison() {
        let mut streak = FailureStreak::default();
        let here = Position::new("t", 0, 7);
        for _ in 0..100 {
            assert_eq!(streak.failed(&here, &poison(), || false), Verdict::Retry);
        }
        assert_eq!(streak.failures(), 0);
        // Failures that say the database is out do not even ask.
        let pool = DirectoryError::Unavailable(pool_timeout());
        let closed = DirectoryError::Database(diesel::result::Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection,
            Box::new("server closed the connection unexpectedly".to_owned()),
        ));
        let busy = DirectoryError::Database(diesel::result::Error::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("database is locked".to_owned()),
        ));
        for error in [pool, closed, busy] {
            for _ in 0..POISON_FAILURES * 2 {
                assert_eq!(streak.failed(&here, &error, || panic!("asked the database after {error}")), Verdict::Retry);
            }
        }
        // An outage in the middle of a streak starts it again.
        for _ in 1..POISON_FAILURES {
            streak.failed(&here, &poison(), || true);
        }
        assert_eq!(streak.failed(&here, &poison(), || false), Verdict::Retry);
        for _ in 1..POISON_FAILURES {
            assert_eq!(streak.failed(&here, &poison(), || true), Verdict::Retry);
        }
        assert_eq!(streak.failed(&here, &poison(), || true), Verdict::SetAside);
    }

    #[test]
    fn another_message_starts_its_own_streak() {
        let mut streak = FailureStreak::default();
        for _ in 1..POISON_FAILURES {
            streak.failed(&Position::new("t", 0, 7), &poison(), || true);
        }
        assert_eq!(streak.failed(&Position::new("t", 1, 7), &poison(), || true), Verdict::Retry);
        assert_eq!(streak.failures(), 1);
    }

    /// A pool timeout, as r2d2 reports it when no connection can be had.
    fn pool_timeout() -> diesel::r2d2::PoolError {
        #[derive(Debug)]
        struct Refusing;
        impl diesel::r2d2::ManageConnection for Refusing {
            type Connection = DbConnection;
            type Error = diesel::r2d2::Error;
            fn connect(&self) -> Result<DbConnection, Self::Error> {
                Err(diesel::r2d2::Error::ConnectionError(diesel::ConnectionError::BadConnection("refused".to_owned())))
            }
            fn is_valid(&self, _: &mut DbConnection) -> Result<(), Self::Error> {
                Ok(())
            }
            fn has_broken(&self, _: &mut DbConnection) -> bool {
                false
            }
        }
        let pool = diesel::r2d2::Pool::builder()
            .min_idle(Some(0))
            .connection_timeout(std::time::Duration::from_millis(10))
            .build_unchecked(Refusing);
        match pool.get() {
            Err(error) => error,
            Ok(_) => panic!("a refusing pool gave a connection"),
        }
    }
}
