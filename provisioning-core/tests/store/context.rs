//! The tenant's context is compiled once and cached by config revision: an operator's edit of
//! the mapping, the group permissions, the settings or the declared schemas reaches the next
//! request (on every replica: the revision is read with the token).

use proto::CreateUserRequest;
use proto::provisioning_server::Provisioning;
use provisioning_core::mapping::{GroupPermissions, MappingConfig};
use provisioning_core::store::Store;
use provisioning_core::store::tenants::{add_token, set_mapping};
use serde_json::json;

use crate::statements::{TOKEN, authorized, service, user_message_with};
use crate::{TestStore, account, take_events, tenant};

#[tokio::test(flavor = "multi_thread")]
async fn a_mapping_edit_reaches_the_next_request_sqlite() {
    a_mapping_edit_reaches_the_next_request(&TestStore::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mapping_edit_reaches_the_next_request_postgres() {
    a_mapping_edit_reaches_the_next_request(&TestStore::postgres()).await;
}

async fn a_mapping_edit_reaches_the_next_request(store: &Store) {
    tenant(store, "acme");
    store.write(|conn| add_token(conn, "acme", TOKEN)).expect("a token");
    let service = service(store);
    let create = |user_name: &str| {
        let user = Some(user_message_with(user_name, json!({"title": "Ops"})));
        service.create_user(authorized(CreateUserRequest { user }))
    };
    create("before@x.io").await.expect("creating a user");
    let before = take_events(store);
    assert!(account(&before[0].1).custom_fields.is_empty(), "the default mapping has no custom fields");

    // Another mapping, stored as the admin API stores it (which moves the config revision).
    let mapping: MappingConfig =
        serde_json::from_value(json!({"custom_fields": {"department": ["title"]}})).expect("a mapping");
    store.write(|conn| set_mapping(conn, "acme", &mapping, &GroupPermissions::new())).expect("storing the mapping");

    create("after@x.io").await.expect("creating a user");
    let after = take_events(store);
    assert_eq!(account(&after[0].1).custom_fields.get("department").map(String::as_str), Some("Ops"));
}
