//! The in-process event sink: the outbox relay hands events straight to the directory store,
//! each applied in its own transaction (the same code the Kafka consumer runs), with the same
//! dead-letter rule (see `directory_store::dead_letter`): a payload that is not a change event, or
//! an event whose apply failed five times in a row with the database answering, is recorded as a
//! dead letter and acknowledged, so delivery goes on. Any other failure stops the batch there:
//! later events wait for the relay's next try, so that order holds.

use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use prost::Message;
use provisioning_core::relay::{Delivery, EventSink};
use provisioning_core::store::outbox::OutboxEvent;

use directory_store::Directory;
use directory_store::apply::{self, Applied};
use directory_store::dead_letter::{self, FailureStreak, Position, Verdict};
use directory_store::error::DirectoryError;

pub struct DirectorySink {
    directory: Directory,
    /// The failures of the event the relay keeps offering, across its tries.
    streak: Arc<Mutex<FailureStreak>>,
}

impl DirectorySink {
    pub fn new(directory: Directory) -> Self {
        Self { directory, streak: Arc::default() }
    }
}

/// Records the event at `seq` as a dead letter in its own transaction.
fn set_aside(directory: &Directory, seq: i64, payload: &[u8], reason: &str) -> Result<(), DirectoryError> {
    let position = Position::in_process(seq);
    let decoded = <proto::ChangeEvent as prost::Message>::decode(payload).unwrap_or_default();
    directory.write(|conn| dead_letter::record(conn, &position, &decoded, payload, reason))?;
    dead_letter::log_set_aside(&position, reason);
    Ok(())
}

impl EventSink for DirectorySink {
    fn publish<'a>(&'a self, events: &'a [OutboxEvent]) -> BoxFuture<'a, Delivery> {
        let directory = self.directory.clone();
        let streak = self.streak.clone();
        // Each event's span continues the trace of the request that wrote it, as the Kafka
        // relay's and consumer's do.
        let batch: Vec<(i64, Vec<u8>, tracing::Span)> = events
            .iter()
            .map(|e| (e.seq, e.payload.clone(), e.publish_span("in-process", "directory-store")))
            .collect();
        Box::pin(async move {
            let applied = tokio::task::spawn_blocking(move || {
                let mut streak = streak.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let mut acknowledged = Vec::with_capacity(batch.len());
                for (seq, payload, span) in batch {
                    let _entered = span.enter();
                    let event = match proto::ChangeEvent::decode(payload.as_slice()) {
                        Ok(event) => event,
                        Err(error) => {
                            let reason = dead_letter::undecodable_reason(&error);
                            match set_aside(&directory, seq, &payload, &reason) {
                                Ok(()) => {
                                    directory_store::observe::record_applied(Applied::Undecodable);
                                    acknowledged.push(seq);
                                    continue;
                                }
                                Err(error) => {
                                    tracing::error!(error = %error, seq, "recording a dead letter failed; retrying");
                                    break;
                                }
                            }
                        }
                    };
                    let error = match directory.write(|conn| apply::apply_event(conn, &event)) {
                        Ok(applied) => {
                            streak.clear();
                            directory_store::observe::record_applied(applied);
                            acknowledged.push(seq);
                            continue;
                        }
                        Err(error) => error,
                    };
                    let reason = error.to_string();
                    let position = Position::in_process(seq);
                    if streak.failed(&position, &error, || dead_letter::database_answers(&directory)) == Verdict::Retry
                    {
                        // Stop here: later events wait so that order holds.
                        tracing::error!(
                            error = %reason, seq, failures = streak.failures(),
                            "directory could not apply an event; retrying"
                        );
                        break;
                    }
                    match set_aside(&directory, seq, &payload, &reason) {
                        Ok(()) => {
                            streak.clear();
                            directory_store::observe::record_applied(Applied::DeadLettered);
                            acknowledged.push(seq);
                        }
                        Err(error) => {
                            tracing::error!(error = %error, seq, "recording a dead letter failed; retrying");
                            break;
                        }
                    }
                }
                Delivery { acknowledged, rejected: Vec::new() }
            })
            .await;
            applied.unwrap_or_default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use directory_store::dead_letter::{IN_PROCESS_TOPIC, POISON_FAILURES};
    use directory_store::{MIGRATIONS_POSTGRES, MIGRATIONS_SQLITE, read};
    use platform::db::{Database, DatabaseUrl};
    use proto::change_event::Record;
    use proto::{Account, ResourceKind, Team};

    /// A directory on a SQLite file of its own, removed on drop.
    struct TestSink {
        sink: DirectorySink,
        directory: Directory,
        dir: std::path::PathBuf,
    }

    impl TestSink {
        fn new() -> Self {
            static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!(
                "standalone-sink-{}-{}-{n}",
                std::process::id(),
                platform::db::now_micros()
            ));
            let database = Database::connect(&DatabaseUrl::sqlite_file(&dir.join("directory.db")), 2).unwrap();
            database.migrate(MIGRATIONS_POSTGRES, MIGRATIONS_SQLITE).unwrap();
            let directory = Directory::new(database);
            Self { sink: DirectorySink::new(directory.clone()), directory, dir }
        }

        fn dead_letters(&self) -> Vec<dead_letter::DeadLetterRecord> {
            self.directory.read(|conn| dead_letter::list(conn, None, 100)).unwrap().0
        }

        fn user_name(&self, id: &str) -> Option<String> {
            self.directory.read(|conn| read::account(conn, "acme", id)).ok().map(|account| account.user_name)
        }
    }

    impl Drop for TestSink {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn outbox(seq: i64, payload: Vec<u8>) -> OutboxEvent {
        OutboxEvent {
            seq,
            event_id: format!("e{seq}"),
            event_type: "user.updated".to_owned(),
            tenant_id: "acme".to_owned(),
            resource_type: "User".to_owned(),
            resource_id: "u1".to_owned(),
            payload,
            created_at: 0,
            trace_context: None,
        }
    }

    fn user_event(id: &str, version: i64, user_name: &str) -> proto::ChangeEvent {
        let account = Account {
            id: id.to_owned(),
            tenant_id: "acme".to_owned(),
            user_name: user_name.to_owned(),
            scim_user_id: id.to_owned(),
            ..Account::default()
        };
        proto::ChangeEvent {
            event_type: "user.updated".to_owned(),
            tenant_id: "acme".to_owned(),
            resource_kind: ResourceKind::User as i32,
            resource_id: id.to_owned(),
            version,
            record: Some(Record::Account(account)),
            ..proto::ChangeEvent::default()
        }
    }

    #[tokio::test]
    async fn a_payload_that_is_not_a_change_event_is_set_aside_and_acknowledged() {
        let test = TestSink::new();
        let events = [outbox(1, vec![0x0a, 0x05, b'a']), outbox(2, user_event("u1", 1, "alice").encode_to_vec())];
        assert_eq!(test.sink.publish(&events).await, Delivery { acknowledged: vec![1, 2], rejected: vec![] });
        assert_eq!(test.user_name("u1").as_deref(), Some("alice"));
        let letters = test.dead_letters();
        assert_eq!(letters.len(), 1);
        assert_eq!((letters[0].topic.as_str(), letters[0].partition, letters[0].offset), (IN_PROCESS_TOPIC, 0, 1));
        assert!(letters[0].reason.starts_with("the payload is not a change event: "), "{letters:?}");
    }

    #[tokio::test]
    async fn an_event_that_keeps_failing_holds_back_the_rest_then_is_set_aside() {
        let test = TestSink::new();
        let mut poison = user_event("u1", 2, "never");
        poison.record = Some(Record::Team(Team { id: "u1".to_owned(), ..Team::default() }));
        let events = [
            outbox(1, user_event("u1", 1, "alice").encode_to_vec()),
            outbox(2, poison.encode_to_vec()),
            outbox(3, user_event("u2", 1, "bob").encode_to_vec()),
        ];
        // The relay offers what was not acknowledged again; until the fifth failure the events
        // after the failing one wait, so that order holds.
        assert_eq!(test.sink.publish(&events).await.acknowledged, [1]);
        for _ in 2..POISON_FAILURES {
            assert_eq!(test.sink.publish(&events[1..]).await.acknowledged, Vec::<i64>::new());
            assert_eq!(test.user_name("u2"), None);
            assert!(test.dead_letters().is_empty());
        }
        assert_eq!(test.sink.publish(&events[1..]).await, Delivery { acknowledged: vec![2, 3], rejected: vec![] });
        assert_eq!(test.user_name("u2").as_deref(), Some("bob"));
        let letters = test.dead_letters();
        assert_eq!(letters.len(), 1, "{letters:?}");
        assert_eq!((letters[0].offset, letters[0].resource_id.as_str(), letters[0].version), (2, "u1", 2));
        assert!(letters[0].reason.contains("a user event carries a team record"), "{letters:?}");

        // The next event of the resource repairs it.
        assert_eq!(
            test.sink.publish(&[outbox(4, user_event("u1", 3, "alice.b").encode_to_vec())]).await.acknowledged,
            [4]
        );
        assert_eq!(test.user_name("u1").as_deref(), Some("alice.b"));
    }
}
