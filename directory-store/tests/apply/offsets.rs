//! Kafka offsets: stored in the transaction that applies the message, so a message is applied
//! once however often it is delivered, and a rolled-back transaction stores neither.

use directory_store::Directory;
use directory_store::apply::{Applied, apply_message, stored_offsets};
use directory_store::error::DirectoryError;
use prost::Message;
use proto::ChangeEvent;
use scim_events::Attributes;
use scim_events::kafka::Received;

use crate::{TestDirectory, account, account_event, assert_not_found};

const TOPIC: &str = "scim.changes";

/// A protobuf message (no `content-type`, as before the header was set) at that position.
pub fn received(partition: i32, offset: i64, payload: &[u8]) -> Received {
    Received {
        topic: TOPIC.to_owned(),
        partition,
        offset,
        attributes: Attributes::default(),
        payload: payload.to_vec(),
    }
}

fn consume(directory: &Directory, partition: i32, offset: i64, payload: &[u8]) -> Applied {
    directory.write(|conn| apply_message(conn, &received(partition, offset, payload))).expect("applying a message")
}

fn offsets(directory: &Directory) -> Vec<(i32, i64)> {
    let mut offsets = directory.read(|conn| stored_offsets(conn, TOPIC)).expect("reading the offsets");
    offsets.sort_unstable();
    offsets
}

fn user_name(directory: &Directory, id: &str) -> String {
    account(directory, id).expect("the account").user_name
}

#[test]
fn a_consumed_offset_is_not_applied_again_sqlite() {
    a_consumed_offset_is_not_applied_again(&TestDirectory::sqlite());
}

#[test]
fn a_consumed_offset_is_not_applied_again_postgres() {
    a_consumed_offset_is_not_applied_again(&TestDirectory::postgres());
}

fn a_consumed_offset_is_not_applied_again(directory: &Directory) {
    let message = |version: i64, user_name: &str| account_event("u1", version, user_name).encode_to_vec();
    assert_eq!(consume(directory, 0, 5, &message(1, "v1")), Applied::Applied);
    assert_eq!(offsets(directory), [(0, 6)]);

    // A redelivery, or anything older, is not applied, even when it carries a newer version.
    assert_eq!(consume(directory, 0, 5, &message(2, "redelivered")), Applied::AlreadyConsumed);
    assert_eq!(consume(directory, 0, 3, &message(3, "older offset")), Applied::AlreadyConsumed);
    assert_eq!((user_name(directory, "u1"), offsets(directory)), ("v1".to_owned(), vec![(0, 6)]));

    // Each partition has its own offset.
    assert_eq!(consume(directory, 1, 0, &account_event("u2", 1, "bob").encode_to_vec()), Applied::Applied);
    assert_eq!(offsets(directory), [(0, 6), (1, 1)]);

    assert_eq!(consume(directory, 0, 6, &message(2, "v2")), Applied::Applied);
    assert_eq!((user_name(directory, "u1"), offsets(directory)), ("v2".to_owned(), vec![(0, 7), (1, 1)]));

    // A transaction that fails after applying the message stores neither the change nor the offset…
    let rolled_back = directory.write(|conn| {
        assert_eq!(apply_message(conn, &received(0, 7, &message(3, "v3")))?, Applied::Applied);
        Err::<(), _>(DirectoryError::Internal("failing after the message".into()))
    });
    assert!(matches!(rolled_back, Err(DirectoryError::Internal(_))), "{rolled_back:?}");
    assert_eq!((user_name(directory, "u1"), offsets(directory)), ("v2".to_owned(), vec![(0, 7), (1, 1)]));

    // …so the redelivered message applies.
    assert_eq!(consume(directory, 0, 7, &message(3, "v3")), Applied::Applied);
    assert_eq!((user_name(directory, "u1"), offsets(directory)), ("v3".to_owned(), vec![(0, 8), (1, 1)]));
}

#[test]
fn an_undecodable_message_is_set_aside_and_its_offset_stored_sqlite() {
    an_undecodable_message_is_set_aside_and_its_offset_stored(&TestDirectory::sqlite());
}

#[test]
fn an_undecodable_message_is_set_aside_and_its_offset_stored_postgres() {
    an_undecodable_message_is_set_aside_and_its_offset_stored(&TestDirectory::postgres());
}

fn an_undecodable_message_is_set_aside_and_its_offset_stored(directory: &Directory) {
    // Field 1, length-delimited, announces 5 bytes and holds 1.
    let truncated = [0x0a, 0x05, b'a'];
    assert!(ChangeEvent::decode(&truncated[..]).is_err());
    assert_eq!(consume(directory, 0, 0, &truncated), Applied::Undecodable);
    assert_eq!(offsets(directory), [(0, 1)]);
    assert_eq!(consume(directory, 0, 0, &truncated), Applied::AlreadyConsumed);
    let (letters, total) = crate::dead_letters::stored(directory, None);
    assert_eq!(total, 1, "{letters:?}");
    assert!(letters[0].reason.starts_with("the payload is not a change event: "), "{letters:?}");

    // An event without a record cannot be applied either: its transaction fails and stores
    // nothing (the consumer retries it, then sets it aside).
    let no_record = ChangeEvent { record: None, ..account_event("u1", 1, "alice") };
    let refused = directory.write(|conn| apply_message(conn, &received(0, 1, &no_record.encode_to_vec())));
    assert!(matches!(&refused, Err(DirectoryError::Invalid(detail)) if detail.contains("no record")), "{refused:?}");
    assert_eq!(offsets(directory), [(0, 1)]);
    assert_not_found(account(directory, "u1"));

    // The messages after them apply.
    assert_eq!(consume(directory, 0, 1, &account_event("u1", 1, "alice").encode_to_vec()), Applied::Applied);
    assert_eq!((user_name(directory, "u1"), offsets(directory)), ("alice".to_owned(), vec![(0, 2)]));
}

#[test]
fn json_messages_apply_as_protobuf_ones_do_sqlite() {
    json_messages_apply_as_protobuf_ones_do(&TestDirectory::sqlite());
}

#[test]
fn json_messages_apply_as_protobuf_ones_do_postgres() {
    json_messages_apply_as_protobuf_ones_do(&TestDirectory::postgres());
}

/// `KAFKA_EVENT_FORMAT=json`: the contract's `data` as the payload, id, type and time in the
/// CloudEvents headers.
fn json_messages_apply_as_protobuf_ones_do(directory: &Directory) {
    let naming = scim_events::json::Naming { type_prefix: "com.example.scim".into(), source: "/s".into() };
    let json_message = |offset: i64, event: &ChangeEvent, content_type: &str| Received {
        attributes: Attributes {
            id: Some(event.event_id.clone()),
            event_type: Some(naming.event_type(event)),
            time: scim_events::json::rfc3339(event.occurred_at_micros),
            content_type: Some(content_type.to_owned()),
            dataschema: Some(scim_events::json::dataschema()),
        },
        ..received(0, offset, &serde_json::to_vec(&scim_events::json::data(event)).expect("JSON"))
    };
    let created = account_event("u1", 1, "alice");
    let applied = directory.write(|conn| apply_message(conn, &json_message(0, &created, "application/json")));
    assert_eq!(applied.expect("applying a JSON message"), Applied::Applied);
    assert_eq!((user_name(directory, "u1"), offsets(directory)), ("alice".to_owned(), vec![(0, 1)]));

    // Versions are skipped the same way, whatever the format.
    let stale = json_message(1, &account_event("u1", 1, "stale"), "application/json; charset=utf-8");
    assert_eq!(directory.write(|conn| apply_message(conn, &stale)).expect("applying"), Applied::Stale);
    assert_eq!(user_name(directory, "u1"), "alice");

    // A content type that is neither format is not a change event: set aside, and the partition
    // goes on.
    let unknown = json_message(2, &account_event("u1", 2, "text"), "text/plain");
    assert_eq!(directory.write(|conn| apply_message(conn, &unknown)).expect("applying"), Applied::Undecodable);
    let (letters, total) = crate::dead_letters::stored(directory, None);
    assert_eq!(total, 1, "{letters:?}");
    assert!(letters[0].reason.contains("text/plain"), "{letters:?}");
    assert_eq!((user_name(directory, "u1"), offsets(directory)), ("alice".to_owned(), vec![(0, 3)]));
}
