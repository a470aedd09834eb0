//! Any bytes as a PATCH body: JSON → `PatchRequest::from_body` → applied to a small user and a
//! small group. Errors are expected; panics are bugs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim::PatchRequest;
use scim::patch::{patch_group, patch_user};
use serde_json::{Map, Value, json};

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else { return };
    let Ok(request) = PatchRequest::from_body(&body) else { return };
    let _ = patch_user(
        object(json!({
            "userName": "bjensen",
            "externalId": "e1",
            "active": true,
            "displayName": "Babs",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [{"type": "work", "value": "b@example.com", "primary": true}, {"type": "home", "value": "h@example.com"}],
            "phoneNumbers": [{"type": "mobile", "value": "+1 555"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D", "manager": {"value": "m1"}},
        })),
        request.operations.clone(),
    );
    let _ = patch_group(
        object(json!({"displayName": "Team", "externalId": "g1"})),
        vec!["u1".to_owned(), "u2".to_owned()],
        request.operations,
    );
});

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(object) => object,
        _ => Map::new(),
    }
}
