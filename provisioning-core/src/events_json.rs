//! Change events as JSON (the contract is `scim_events::json`): the CloudEvent of an outbox
//! row, and the contract's test. The shape is a contract: `CONTRACT_VERSION` names it in
//! `dataschema`, and the tests hold an example of every type (`tests::examples`, written to
//! `contract/events-v<N>.json`); changing a shape means changing the version.

use prost::Message;
use serde_json::Value;

pub use scim_events::json::{CONTRACT_VERSION, Naming, cloud_event, dataschema};

use crate::error::CoreError;
use crate::store::outbox::OutboxEvent;
use proto::ChangeEvent;

/// The CloudEvent of an outbox row.
pub fn of_outbox(event: &OutboxEvent, naming: &Naming) -> Result<Value, CoreError> {
    let decoded = ChangeEvent::decode(event.payload.as_slice())
        .map_err(|e| CoreError::Internal(format!("outbox event {} does not decode: {e}", event.seq)))?;
    Ok(cloud_event(&decoded, &event.subject(), naming))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::{Account, FieldChange, Link, Team};
    use serde_json::{Map, json};

    fn naming() -> Naming {
        Naming { type_prefix: "com.example.scim".to_owned(), source: "/scim-provisioning".to_owned() }
    }

    fn account() -> Account {
        Account {
            id: "acc-1".into(),
            tenant_id: "acme".into(),
            user_name: "ann@acme.example".into(),
            external_id: Some("oid-1".into()),
            active: true,
            email: Some("ann@acme.example".into()),
            given_name: Some("Ann".into()),
            family_name: Some("Lee".into()),
            display_name: Some("Ann Lee".into()),
            roles: vec!["admin".into()],
            teams: vec!["team-1".into()],
            permissions: vec!["deploy".into()],
            custom_fields: [("department".to_owned(), "R&D".to_owned())].into(),
            scim_user_id: "user-1".into(),
        }
    }

    fn user_event(event_type: &str) -> ChangeEvent {
        let mut event = crate::events::user_event(event_type, "user-1", account(), 3, event_type == "user.deleted");
        event.event_id = "evt-1".into();
        event.occurred_at_micros = 1_796_000_000_000_000;
        event
    }

    /// One example of every event type, as the README's contract lists them.
    fn examples() -> Vec<(&'static str, ChangeEvent)> {
        let mut updated = user_event("user.updated");
        updated.changes = vec![FieldChange {
            field: "permissions".into(),
            before_json: "[]".into(),
            after_json: "[\"deploy\"]".into(),
        }];
        let mut linked = user_event("user.created");
        linked.link = Some(Link { account_id: "acc-1".into(), reason: "email".into() });
        let mut deleted = user_event("user.deleted");
        deleted.purge_after_micros = Some(1_798_000_000_000_000);
        // Ids only, as `write::publish::purged_event` makes it.
        let purged_account = Account {
            id: "acc-1".into(),
            tenant_id: "acme".into(),
            scim_user_id: "user-1".into(),
            ..Account::default()
        };
        let mut purged = crate::events::user_event("user.purged", "user-1", purged_account, 4, true);
        (purged.event_id, purged.occurred_at_micros) = ("evt-3".into(), 1_798_000_000_000_000);
        let team = Team {
            id: "team-1".into(),
            tenant_id: "acme".into(),
            name: "Engineering".into(),
            external_id: Some("oid-g".into()),
            member_ids: Vec::new(),
            permissions: vec!["deploy".into()],
        };
        let group = |event_type: &str, added: Vec<String>, removed: Vec<String>| {
            let mut event =
                crate::events::group_event(event_type, team.clone(), 2, event_type == "group.deleted", added, removed);
            event.event_id = "evt-2".into();
            event.occurred_at_micros = 1_796_000_000_000_000;
            event
        };
        let mut chunked = group("group.member_added", vec!["acc-2".into()], Vec::new());
        (chunked.part, chunked.parts) = (2, 3);
        vec![
            ("user.created", linked),
            ("user.updated", updated),
            ("user.deactivated", user_event("user.deactivated")),
            ("user.reactivated", user_event("user.reactivated")),
            ("user.deleted", deleted),
            ("user.purged", purged),
            ("group.created", group("group.created", vec!["acc-1".into()], Vec::new())),
            ("group.updated", group("group.updated", Vec::new(), Vec::new())),
            ("group.member_added", chunked),
            ("group.member_removed", group("group.member_removed", Vec::new(), vec!["acc-1".into()])),
            ("group.deleted", group("group.deleted", Vec::new(), Vec::new())),
        ]
    }

    /// The keys of a JSON value, recursively: the shape, not the values.
    fn shape(value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
            Value::Array(list) => Value::Array(list.first().map(shape).into_iter().collect()),
            Value::String(_) => json!("string"),
            Value::Number(_) => json!("number"),
            Value::Bool(_) => json!("bool"),
            Value::Null => json!("null"),
        }
    }

    /// `provisioning-core/contract/events-v<N>.json`: the shape and an example of every type of
    /// contract version N. A version's file is never rewritten: a change of shape fails the test
    /// below until CONTRACT_VERSION moves on; then `WRITE_EVENT_CONTRACT=1 cargo test -p
    /// provisioning-core events_json` writes the new version's file (and the README points to it).
    fn contract_file() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("contract/events-v{CONTRACT_VERSION}.json"))
    }

    fn rendered_contract() -> Value {
        let mut shapes = Map::new();
        let mut examples_by_type = Map::new();
        for (event_type, event) in examples() {
            let subject = if event_type.starts_with("user.") { "Users/user-1" } else { "Groups/team-1" };
            let rendered = cloud_event(&event, subject, &naming());
            shapes.insert(event_type.to_owned(), shape(&rendered));
            examples_by_type.insert(event_type.to_owned(), rendered);
        }
        json!({"version": CONTRACT_VERSION, "dataschema": dataschema(), "shapes": shapes, "examples": examples_by_type})
    }

    #[test]
    fn the_contract_names_its_version_and_every_type() {
        let path = contract_file();
        if !path.exists() && std::env::var("WRITE_EVENT_CONTRACT").is_ok() {
            let text = serde_json::to_string_pretty(&rendered_contract()).expect("JSON");
            std::fs::write(&path, text + "\n").expect("writing the contract file");
        }
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("{}: {e} (a new contract version needs its file: see contract_file)", path.display())
        });
        let expected: Value = serde_json::from_str(&text).expect("the contract file");
        assert_eq!(expected["version"], CONTRACT_VERSION, "the contract file is of this version");
        let rendered_now = rendered_contract();
        let listed: Vec<&str> = examples().iter().map(|(t, _)| *t).collect();
        assert_eq!(listed, crate::events::EVENT_TYPES, "an example of every type");
        for (event_type, _) in examples() {
            let rendered = &rendered_now["examples"][event_type];
            assert_eq!(rendered["type"], format!("com.example.scim.{event_type}"));
            assert_eq!(rendered["dataschema"], format!("urn:scim-provisioning:events:v{CONTRACT_VERSION}"));
            assert_eq!(
                shape(rendered),
                expected["shapes"][event_type],
                "the shape of {event_type} changed without a new contract version: {rendered}"
            );
        }
    }

    /// The README shows the `data` of every type's example, as the contract file holds it.
    #[test]
    fn the_readme_shows_every_example() {
        let readme = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("the README");
        for (event_type, example) in rendered_contract()["examples"].as_object().expect("examples") {
            let data = serde_json::to_string_pretty(&example["data"]).expect("JSON");
            assert!(
                readme.contains(&format!("<code>{event_type}</code>")) && readme.contains(&data),
                "the README's example of {event_type} is not the contract's: {data}"
            );
        }
    }

    #[test]
    fn values_are_real_json_and_times_rfc3339() {
        let (_, updated) = examples().remove(1);
        let rendered = cloud_event(&updated, "Users/user-1", &naming());
        assert_eq!(rendered["data"]["changes"][0], json!({"field": "permissions", "before": [], "after": ["deploy"]}));
        assert_eq!(rendered["time"], "2026-11-30T00:53:20.000000Z");
        assert_eq!(rendered["source"], "/scim-provisioning/tenants/acme");
        assert_eq!(rendered["data"]["account"]["custom_fields"], json!({"department": "R&D"}));
    }
}
