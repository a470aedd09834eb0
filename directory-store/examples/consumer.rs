//! A minimal consumer of the change events, as a product service would write one with the
//! `scim-events` crate: it joins a consumer group, decodes each message's `ChangeEvent`
//! (protobuf or JSON, as its `content-type` says), skips versions it has already applied
//! (at-least-once delivery: duplicates happen) with a `versions::Ledger`, and prints one JSON
//! line per event.
//!
//!     cargo run -p directory-store --example consumer -- <bootstrap servers> [topic] [group id]
//!
//! A real consumer would apply the record to its own store and store each partition's offset in
//! the same transaction (`scim_events::offsets::consume_in`, and
//! `scim_events::kafka::StartAtStoredOffsets` to start there), as directory-store does.

use proto::change_event::Record;
use rdkafka::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use scim_events::kafka::Received;
use scim_events::versions::Ledger;
use serde_json::{Value, json};

fn describe(event: &proto::ChangeEvent, ce_type: Option<String>) -> Value {
    let record = match &event.record {
        Some(Record::Account(account)) => json!({
            "account": {
                "id": account.id, "scim_user_id": account.scim_user_id, "user_name": account.user_name,
                "active": account.active, "email": account.email, "roles": account.roles,
                "permissions": account.permissions, "custom_fields": account.custom_fields,
            }
        }),
        Some(Record::Team(team)) => json!({
            "team": { "id": team.id, "name": team.name, "members": team.member_ids, "permissions": team.permissions }
        }),
        None => Value::Null,
    };
    let changes: Vec<Value> = event
        .changes
        .iter()
        .map(|c| json!({ "field": c.field, "before": c.before_json, "after": c.after_json }))
        .collect();
    json!({
        "type": ce_type.unwrap_or_else(|| event.event_type.clone()),
        "tenant": event.tenant_id,
        "resource": event.resource_id,
        "version": event.version,
        "deleted": event.deleted,
        "record": record,
        "changes": changes,
        "link": event.link.as_ref().map(|l| json!({ "account_id": l.account_id, "reason": l.reason })),
        "purge_after_micros": event.purge_after_micros,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut arguments = std::env::args().skip(1);
    let Some(bootstrap) = arguments.next() else {
        anyhow::bail!("usage: consumer <bootstrap servers> [topic] [group id]");
    };
    let topic = arguments.next().unwrap_or_else(|| "scim.changes".to_owned());
    let group = arguments.next().unwrap_or_else(|| "example-consumer".to_owned());
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", &group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    consumer.subscribe(&[topic.as_str()])?;
    // The last version applied per resource: events of one resource arrive in order (one key,
    // one partition), but may arrive twice.
    let mut applied = Ledger::default();
    loop {
        let message = consumer.recv().await?;
        let received = Received::of(&message);
        let event = match received.decode() {
            Ok(event) => event,
            Err(error) => {
                eprintln!("skipping a message that is not a change event: {error}");
                continue;
            }
        };
        if applied.admit(&event) {
            println!("{}", describe(&event, received.attributes.event_type));
        }
        consumer.commit_message(&message, CommitMode::Async)?;
    }
}
