//! Change events: what each committed change tells the rest of the product.

use proto::{Account, ChangeEvent, ResourceKind, Team, change_event::Record};

use crate::store::now_micros;

/// Every event type, as named in the protobuf events (JSON events carry them under a prefix).
pub const EVENT_TYPES: &[&str] = &[
    "user.created",
    "user.updated",
    "user.deactivated",
    "user.reactivated",
    "user.deleted",
    "user.purged",
    "group.created",
    "group.updated",
    "group.member_added",
    "group.member_removed",
    "group.deleted",
];

/// What happened to a user, judged from its state before and after.
pub fn user_event_type(before_active: Option<bool>, after_active: Option<bool>) -> &'static str {
    match (before_active, after_active) {
        (None, Some(_)) => "user.created",
        (Some(_), None) => "user.deleted",
        (Some(true), Some(false)) => "user.deactivated",
        (Some(false), Some(true)) => "user.reactivated",
        _ => "user.updated",
    }
}

/// A user event; `resource_id` is the SCIM user id (the Kafka key), the account's id may differ.
pub fn user_event(event_type: &str, resource_id: &str, account: Account, version: i64, deleted: bool) -> ChangeEvent {
    ChangeEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        event_type: event_type.to_owned(),
        tenant_id: account.tenant_id.clone(),
        resource_kind: ResourceKind::User as i32,
        resource_id: resource_id.to_owned(),
        external_id: account.external_id.clone(),
        version,
        occurred_at_micros: now_micros(),
        deleted,
        record: Some(Record::Account(account)),
        added_member_ids: Vec::new(),
        removed_member_ids: Vec::new(),
        changes: Vec::new(),
        link: None,
        purge_after_micros: None,
        part: 0,
        parts: 0,
    }
}

pub fn group_event(
    event_type: &str,
    team: Team,
    version: i64,
    deleted: bool,
    added_member_ids: Vec<String>,
    removed_member_ids: Vec<String>,
) -> ChangeEvent {
    ChangeEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        event_type: event_type.to_owned(),
        tenant_id: team.tenant_id.clone(),
        resource_kind: ResourceKind::Group as i32,
        resource_id: team.id.clone(),
        external_id: team.external_id.clone(),
        version,
        occurred_at_micros: now_micros(),
        deleted,
        record: Some(Record::Team(team)),
        added_member_ids,
        removed_member_ids,
        changes: Vec::new(),
        link: None,
        purge_after_micros: None,
        part: 0,
        parts: 0,
    }
}

/// The event type of a group change: membership-only changes name themselves.
pub fn group_event_type(attributes_changed: bool, added: &[String], removed: &[String]) -> &'static str {
    match (attributes_changed, added.is_empty(), removed.is_empty()) {
        (false, false, true) => "group.member_added",
        (false, true, false) => "group.member_removed",
        _ => "group.updated",
    }
}
