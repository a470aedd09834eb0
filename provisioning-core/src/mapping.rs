//! SCIM resources → the product's directory records, carried by every event.
//!
//! email ← the primary email, else the work email, else the first; names ← `name.*`;
//! roles ← the `value` of each role.

use proto::{Account, Team};
use serde_json::{Map, Value};

use scim::filter::{as_bool, lookup};

pub fn account(tenant_id: &str, id: &str, attributes: &Map<String, Value>, active: bool) -> Account {
    let object = Value::Object(attributes.clone());
    let name = lookup(&object, "name");
    Account {
        id: id.to_owned(),
        tenant_id: tenant_id.to_owned(),
        user_name: string(&object, "userName").unwrap_or_default(),
        external_id: string(&object, "externalId"),
        active,
        email: email(&object),
        given_name: name.and_then(|n| string(n, "givenName")),
        family_name: name.and_then(|n| string(n, "familyName")),
        display_name: string(&object, "displayName"),
        roles: roles(&object),
        teams: Vec::new(),
    }
}

pub fn team(tenant_id: &str, id: &str, attributes: &Map<String, Value>, member_ids: Vec<String>) -> Team {
    let object = Value::Object(attributes.clone());
    Team {
        id: id.to_owned(),
        tenant_id: tenant_id.to_owned(),
        name: string(&object, "displayName").unwrap_or_default(),
        external_id: string(&object, "externalId"),
        member_ids,
    }
}

fn string(object: &Value, name: &str) -> Option<String> {
    lookup(object, name).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

fn email(user: &Value) -> Option<String> {
    let emails = lookup(user, "emails").and_then(Value::as_array)?;
    let value = |e: &Value| string(e, "value");
    emails
        .iter()
        .find(|e| lookup(e, "primary").and_then(as_bool) == Some(true))
        .and_then(value)
        .or_else(|| {
            emails.iter().find(|e| string(e, "type").is_some_and(|t| t.eq_ignore_ascii_case("work"))).and_then(value)
        })
        .or_else(|| emails.iter().find_map(value))
}

/// The role values. Entra's app-role assignments (SingleAppRoleAssignment,
/// AppRoleAssignmentsComplex) send each role as a JSON object serialized into the `value`
/// string, `{"id": …, "value": "Admin", "displayName": …}`: its `value` (else `displayName`) is
/// the role.
fn roles(user: &Value) -> Vec<String> {
    let role = |r: &Value| -> Option<String> {
        let value = string(r, "value").or_else(|| r.as_str().map(str::to_owned))?;
        match serde_json::from_str::<Value>(&value) {
            Ok(inner @ Value::Object(_)) => string(&inner, "value").or_else(|| string(&inner, "displayName")),
            _ => Some(value),
        }
    };
    let mut roles: Vec<String> = lookup(user, "roles")
        .and_then(Value::as_array)
        .map(|roles| roles.iter().filter_map(role).collect())
        .unwrap_or_default();
    roles.dedup();
    roles
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn email_prefers_primary_then_work_then_first() {
        let primary = attrs(json!({"userName": "u", "emails": [
            {"type": "work", "value": "w@x"}, {"type": "home", "value": "p@x", "primary": true}]}));
        assert_eq!(account("t", "1", &primary, true).email.as_deref(), Some("p@x"));
        let work = attrs(
            json!({"userName": "u", "emails": [{"type": "home", "value": "h@x"}, {"type": "Work", "value": "w@x"}]}),
        );
        assert_eq!(account("t", "1", &work, true).email.as_deref(), Some("w@x"));
        let first = attrs(json!({"userName": "u", "emails": [{"type": "home", "value": "h@x"}, {"value": "o@x"}]}));
        assert_eq!(account("t", "1", &first, true).email.as_deref(), Some("h@x"));
        assert_eq!(account("t", "1", &attrs(json!({"userName": "u"})), true).email, None);
    }

    #[test]
    fn names_and_roles() {
        let user = attrs(json!({"userName": "u", "name": {"givenName": "G", "familyName": "F"},
            "displayName": "G F", "roles": [{"value": "Admin"}, {"value": "Reader"}]}));
        let account = account("t", "1", &user, false);
        assert_eq!(account.given_name.as_deref(), Some("G"));
        assert_eq!(account.family_name.as_deref(), Some("F"));
        assert_eq!(account.display_name.as_deref(), Some("G F"));
        assert_eq!(account.roles, vec!["Admin", "Reader"]);
        let entra = attrs(json!({"userName": "u", "roles": [
            {"value": "{\"id\":\"06b0\",\"value\":\"Approver\",\"displayName\":\"Role1234\"}"},
            {"value": "{\"id\":\"06b1\",\"displayName\":\"Viewer\"}"},
            {"primary": true, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}]}));
        assert_eq!(super::account("t", "1", &entra, true).roles, vec!["Approver", "Viewer", "Admin"]);
        assert!(!account.active);
    }
}
