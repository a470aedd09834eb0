//! Change events as JSON. Webhooks and the events API deliver CloudEvents 1.0 in structured mode
//! (`application/cloudevents+json`, [`cloud_event`]); Kafka with `KAFKA_EVENT_FORMAT=json`
//! carries the same attributes as `ce_*` headers and the same `data` as the payload
//! ([`data`]). The `data` is the protobuf `ChangeEvent` as plain JSON: records as objects, times
//! as RFC 3339, field changes as real JSON values (not JSON text), and types named in reverse-DNS
//! form under a configurable prefix (`com.example.scim.user.created`).
//!
//! The shape is a contract: [`CONTRACT_VERSION`] names it in `dataschema`, and
//! provisioning-core's tests hold an example of every type
//! (`provisioning-core/contract/events-v1.json`); changing a shape means changing the version.
//! [`from_binary`] and [`from_cloud_event`] read it back.

use std::collections::HashMap;

use proto::{Account, ChangeEvent, FieldChange, Link, ResourceKind, Team, change_event::Record};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::{Attributes, DecodeError};

/// The version of the JSON event contract (`dataschema`).
pub const CONTRACT_VERSION: u32 = 1;

/// The `dataschema` of every JSON event of this contract version.
pub fn dataschema() -> String {
    format!("urn:scim-provisioning:events:v{CONTRACT_VERSION}")
}

/// The `dataschema` of a protobuf payload: the message's full name.
pub const PROTOBUF_DATASCHEMA: &str = "urn:scim-provisioning:proto:scimsvc.v1.ChangeEvent";

/// How events are named and sourced (`EVENT_TYPE_PREFIX`, `CLOUDEVENTS_SOURCE`).
#[derive(Debug, Clone)]
pub struct Naming {
    /// Reverse-DNS prefix of every type, e.g. `com.example.scim`.
    pub type_prefix: String,
    /// The CloudEvents `source` before `/tenants/<tenant>`.
    pub source: String,
}

impl Naming {
    /// `<prefix>.<event type>`.
    pub fn event_type(&self, event: &ChangeEvent) -> String {
        format!("{}.{}", self.type_prefix, event.event_type)
    }

    /// `<source>/tenants/<tenant>`.
    pub fn source_of(&self, event: &ChangeEvent) -> String {
        format!("{}/tenants/{}", self.source, event.tenant_id)
    }
}

/// RFC 3339 with microseconds, in UTC.
pub fn rfc3339(micros: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_micros(micros).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

fn micros_of(text: &str) -> Result<i64, DecodeError> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_micros())
        .map_err(|e| DecodeError::Invalid(format!("{text:?} is not an RFC 3339 time: {e}")))
}

/// A field change's value: the JSON it was written as (text that is not JSON stays text).
fn value_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// The event's `data`: what a JSON Kafka message carries as its payload.
pub fn data(event: &ChangeEvent) -> Value {
    let mut data = Map::new();
    data.insert("tenant_id".into(), json!(event.tenant_id));
    let kind = if event.resource_kind == ResourceKind::Group as i32 { "group" } else { "user" };
    data.insert("resource_kind".into(), json!(kind));
    data.insert("resource_id".into(), json!(event.resource_id));
    data.insert("external_id".into(), json!(event.external_id));
    data.insert("version".into(), json!(event.version));
    data.insert("deleted".into(), json!(event.deleted));
    match &event.record {
        Some(Record::Account(account)) => {
            let custom: Map<String, Value> =
                account.custom_fields.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
            data.insert(
                "account".into(),
                json!({
                    "id": account.id,
                    "scim_user_id": account.scim_user_id,
                    "user_name": account.user_name,
                    "external_id": account.external_id,
                    "active": account.active,
                    "email": account.email,
                    "given_name": account.given_name,
                    "family_name": account.family_name,
                    "display_name": account.display_name,
                    "roles": account.roles,
                    "teams": account.teams,
                    "permissions": account.permissions,
                    "custom_fields": custom,
                }),
            );
        }
        Some(Record::Team(team)) => {
            data.insert(
                "team".into(),
                json!({
                    "id": team.id,
                    "name": team.name,
                    "external_id": team.external_id,
                    "permissions": team.permissions,
                }),
            );
        }
        None => {}
    }
    if kind == "group" {
        data.insert("added_member_ids".into(), json!(event.added_member_ids));
        data.insert("removed_member_ids".into(), json!(event.removed_member_ids));
    }
    let changes: Vec<Value> = event
        .changes
        .iter()
        .map(|c| json!({"field": c.field, "before": value_of(&c.before_json), "after": value_of(&c.after_json)}))
        .collect();
    data.insert("changes".into(), Value::Array(changes));
    if let Some(link) = &event.link {
        data.insert("link".into(), json!({"account_id": link.account_id, "reason": link.reason}));
    }
    if let Some(purge) = event.purge_after_micros {
        data.insert("purge_after".into(), json!(rfc3339(purge)));
    }
    if event.parts > 0 {
        data.insert("part".into(), json!(event.part));
        data.insert("parts".into(), json!(event.parts));
    }
    Value::Object(data)
}

/// The CloudEvent (structured JSON) of a change event: what a webhook receives.
pub fn cloud_event(event: &ChangeEvent, subject: &str, naming: &Naming) -> Value {
    json!({
        "specversion": "1.0",
        "id": event.event_id,
        "source": naming.source_of(event),
        "type": naming.event_type(event),
        "subject": subject,
        "time": rfc3339(event.occurred_at_micros),
        "datacontenttype": "application/json",
        "dataschema": dataschema(),
        "tenantid": event.tenant_id,
        "data": data(event),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    User,
    Group,
}

#[derive(Deserialize)]
struct AccountData {
    id: String,
    #[serde(default)]
    scim_user_id: String,
    #[serde(default)]
    user_name: String,
    external_id: Option<String>,
    #[serde(default)]
    active: bool,
    email: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    display_name: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    teams: Vec<String>,
    #[serde(default)]
    permissions: Vec<String>,
    #[serde(default)]
    custom_fields: HashMap<String, String>,
}

#[derive(Deserialize)]
struct TeamData {
    id: String,
    #[serde(default)]
    name: String,
    external_id: Option<String>,
    #[serde(default)]
    permissions: Vec<String>,
}

#[derive(Deserialize)]
struct ChangeData {
    field: String,
    before: Value,
    after: Value,
}

#[derive(Deserialize)]
struct LinkData {
    account_id: String,
    reason: String,
}

/// The `data` object; fields this version does not know are ignored (a later minor addition
/// must not stop a consumer).
#[derive(Deserialize)]
struct Data {
    tenant_id: String,
    resource_kind: Kind,
    resource_id: String,
    external_id: Option<String>,
    version: i64,
    #[serde(default)]
    deleted: bool,
    account: Option<AccountData>,
    team: Option<TeamData>,
    #[serde(default)]
    added_member_ids: Vec<String>,
    #[serde(default)]
    removed_member_ids: Vec<String>,
    #[serde(default)]
    changes: Vec<ChangeData>,
    link: Option<LinkData>,
    purge_after: Option<String>,
    #[serde(default)]
    part: u32,
    #[serde(default)]
    parts: u32,
}

fn from_data(data: Data, id: String, event_type: &str, time: Option<&str>) -> Result<ChangeEvent, DecodeError> {
    let record = match (data.resource_kind, data.account, data.team) {
        (Kind::User, Some(a), None) => Record::Account(Account {
            id: a.id,
            tenant_id: data.tenant_id.clone(),
            user_name: a.user_name,
            external_id: a.external_id,
            active: a.active,
            email: a.email,
            given_name: a.given_name,
            family_name: a.family_name,
            display_name: a.display_name,
            roles: a.roles,
            teams: a.teams,
            permissions: a.permissions,
            custom_fields: a.custom_fields,
            scim_user_id: a.scim_user_id,
        }),
        (Kind::Group, None, Some(t)) => Record::Team(Team {
            id: t.id,
            tenant_id: data.tenant_id.clone(),
            name: t.name,
            external_id: t.external_id,
            member_ids: Vec::new(),
            permissions: t.permissions,
        }),
        (Kind::User, _, _) => return Err(DecodeError::Invalid("a user event needs an account and no team".into())),
        (Kind::Group, _, _) => return Err(DecodeError::Invalid("a group event needs a team and no account".into())),
    };
    let resource_kind = if matches!(record, Record::Account(_)) { ResourceKind::User } else { ResourceKind::Group };
    Ok(ChangeEvent {
        event_id: id,
        event_type: crate::unprefixed(event_type).to_owned(),
        tenant_id: data.tenant_id,
        resource_kind: resource_kind as i32,
        resource_id: data.resource_id,
        external_id: data.external_id,
        version: data.version,
        occurred_at_micros: time.map(micros_of).transpose()?.unwrap_or_default(),
        deleted: data.deleted,
        record: Some(record),
        added_member_ids: data.added_member_ids,
        removed_member_ids: data.removed_member_ids,
        changes: data
            .changes
            .iter()
            .map(|c| FieldChange {
                field: c.field.clone(),
                before_json: c.before.to_string(),
                after_json: c.after.to_string(),
            })
            .collect(),
        link: data.link.map(|l| Link { account_id: l.account_id, reason: l.reason }),
        purge_after_micros: data.purge_after.as_deref().map(micros_of).transpose()?,
        part: data.part,
        parts: data.parts,
    })
}

/// Refuses a `dataschema` of another contract version than this one (absent: this one).
fn check_dataschema(given: Option<&str>) -> Result<(), DecodeError> {
    match given {
        Some(schema) if schema != dataschema() => Err(DecodeError::Invalid(format!(
            "dataschema {schema:?} is not {:?}, the contract this consumer reads",
            dataschema()
        ))),
        _ => Ok(()),
    }
}

/// The change event of a JSON binary-mode message: `data` as the payload, the id, type and time
/// from the attributes (which must carry the id and the type).
pub fn from_binary(attributes: &Attributes, payload: &[u8]) -> Result<ChangeEvent, DecodeError> {
    check_dataschema(attributes.dataschema.as_deref())?;
    let data: Data = serde_json::from_slice(payload)?;
    let id = attributes.id.clone().ok_or_else(|| DecodeError::Invalid("no ce_id attribute".into()))?;
    let event_type =
        attributes.event_type.as_deref().ok_or_else(|| DecodeError::Invalid("no ce_type attribute".into()))?;
    from_data(data, id, event_type, attributes.time.as_deref())
}

/// The change event of a structured CloudEvent (a webhook's body, an event of the events API).
pub fn from_cloud_event(event: &Value) -> Result<ChangeEvent, DecodeError> {
    let text = |name: &str| {
        event.get(name).and_then(Value::as_str).ok_or_else(|| DecodeError::Invalid(format!("no {name} attribute")))
    };
    check_dataschema(event.get("dataschema").and_then(Value::as_str))?;
    let data = Data::deserialize(event.get("data").unwrap_or(&Value::Null))?;
    from_data(data, text("id")?.to_owned(), text("type")?, event.get("time").and_then(Value::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naming() -> Naming {
        Naming { type_prefix: "com.example.scim".to_owned(), source: "/scim-provisioning".to_owned() }
    }

    fn attributes_of(event: &ChangeEvent) -> Attributes {
        Attributes {
            id: Some(event.event_id.clone()),
            event_type: Some(naming().event_type(event)),
            time: rfc3339(event.occurred_at_micros),
            content_type: Some(crate::JSON.to_owned()),
            dataschema: Some(dataschema()),
        }
    }

    fn text() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9@. _-]{0,12}"
    }

    /// A JSON value's text, as the core writes field changes (serde_json's compact form).
    fn json_text() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("null".to_owned()),
            Just("[]".to_owned()),
            text().prop_map(|t| Value::String(t).to_string()),
            proptest::collection::vec(text(), 0..3).prop_map(|v| json!(v).to_string()),
            any::<bool>().prop_map(|b| b.to_string()),
            text().prop_map(|t| json!({"value": t, "primary": true}).to_string()),
        ]
    }

    prop_compose! {
        fn account()(
            id in text(), user_name in text(), external_id in proptest::option::of(text()),
            active in any::<bool>(), email in proptest::option::of(text()),
            given_name in proptest::option::of(text()), roles in proptest::collection::vec(text(), 0..3),
            custom in proptest::collection::hash_map(text(), text(), 0..3),
        ) -> Account {
            Account {
                id: id.clone(), tenant_id: "acme".into(), user_name, external_id, active, email,
                given_name, family_name: None, display_name: Some("D".into()), roles,
                teams: vec!["t".into()], permissions: vec!["p".into()], custom_fields: custom,
                scim_user_id: id,
            }
        }
    }

    prop_compose! {
        fn change()(field in text(), before in json_text(), after in json_text()) -> FieldChange {
            FieldChange { field, before_json: before, after_json: after }
        }
    }

    fn event() -> impl Strategy<Value = ChangeEvent> {
        let user = (account(), proptest::collection::vec(change(), 0..3), any::<bool>(), 0i64..1 << 50).prop_map(
            |(account, changes, deleted, micros)| ChangeEvent {
                event_id: "evt".into(),
                event_type: if deleted { "user.deleted" } else { "user.updated" }.into(),
                tenant_id: "acme".into(),
                resource_kind: ResourceKind::User as i32,
                resource_id: account.scim_user_id.clone(),
                external_id: account.external_id.clone(),
                version: 7,
                occurred_at_micros: micros,
                deleted,
                record: Some(Record::Account(account)),
                changes,
                link: deleted.then(|| Link { account_id: "a".into(), reason: "email".into() }),
                purge_after_micros: deleted.then_some(micros + 1),
                ..ChangeEvent::default()
            },
        );
        let group = (text(), proptest::collection::vec(text(), 0..4), proptest::collection::vec(text(), 0..4), 0u32..3)
            .prop_map(|(name, added, removed, part)| ChangeEvent {
                event_id: "evt-g".into(),
                event_type: "group.member_added".into(),
                tenant_id: "acme".into(),
                resource_kind: ResourceKind::Group as i32,
                resource_id: "g-1".into(),
                version: 3,
                occurred_at_micros: 1_796_000_000_000_000,
                record: Some(Record::Team(Team {
                    id: "g-1".into(),
                    tenant_id: "acme".into(),
                    name,
                    external_id: None,
                    member_ids: Vec::new(),
                    permissions: vec!["deploy".into()],
                })),
                added_member_ids: added,
                removed_member_ids: removed,
                part,
                parts: if part > 0 { 3 } else { 0 },
                ..ChangeEvent::default()
            });
        prop_oneof![user, group]
    }

    proptest! {
        /// What the JSON forms carry decodes to the same event (the protobuf form, field by field).
        #[test]
        fn json_forms_decode_to_the_event(event in event()) {
            let payload = serde_json::to_vec(&data(&event)).unwrap();
            prop_assert_eq!(&from_binary(&attributes_of(&event), &payload).unwrap(), &event);
            let structured = cloud_event(&event, "Users/x", &naming());
            prop_assert_eq!(&from_cloud_event(&structured).unwrap(), &event);
        }
    }

    #[test]
    fn a_change_that_is_not_json_text_stays_text() {
        let event = ChangeEvent {
            changes: vec![FieldChange { field: "f".into(), before_json: "not json".into(), after_json: "1".into() }],
            ..ChangeEvent::default()
        };
        assert_eq!(data(&event)["changes"][0], json!({"field": "f", "before": "not json", "after": 1}));
    }

    #[test]
    fn what_is_not_an_event_is_refused() {
        let attributes =
            Attributes { id: Some("e".into()), event_type: Some("com.x.user.created".into()), ..Attributes::default() };
        assert!(matches!(from_binary(&attributes, b"{not json"), Err(DecodeError::Json(_))));
        let team_for_user = json!({"tenant_id": "t", "resource_kind": "user", "resource_id": "u", "version": 1,
            "team": {"id": "u", "name": "n"}});
        let refused = from_binary(&attributes, team_for_user.to_string().as_bytes());
        assert!(matches!(refused, Err(DecodeError::Invalid(_))), "{refused:?}");
        let user = json!({"tenant_id": "t", "resource_kind": "user", "resource_id": "u", "version": 1,
            "account": {"id": "u"}, "added_in_a_later_version": true});
        assert!(from_binary(&attributes, user.to_string().as_bytes()).is_ok(), "unknown fields are ignored");
        let without_id = Attributes { id: None, ..attributes.clone() };
        assert!(matches!(from_binary(&without_id, user.to_string().as_bytes()), Err(DecodeError::Invalid(_))));
        let bad_time = Attributes { time: Some("yesterday".into()), ..attributes.clone() };
        assert!(matches!(from_binary(&bad_time, user.to_string().as_bytes()), Err(DecodeError::Invalid(_))));
        let next_version = Attributes { dataschema: Some("urn:scim-provisioning:events:v2".into()), ..attributes };
        let refused = from_binary(&next_version, user.to_string().as_bytes());
        assert!(matches!(&refused, Err(DecodeError::Invalid(why)) if why.contains("v2")), "{refused:?}");
        let mut structured = cloud_event(
            &ChangeEvent { event_type: "user.created".into(), ..ChangeEvent::default() },
            "Users/u",
            &naming(),
        );
        structured["data"] = json!({"tenant_id": "t", "resource_kind": "user", "resource_id": "u", "version": 1, "account": {"id": "u"}});
        assert!(from_cloud_event(&structured).is_ok());
        structured["dataschema"] = json!("urn:scim-provisioning:events:v2");
        assert!(matches!(from_cloud_event(&structured), Err(DecodeError::Invalid(_))));
    }
}
