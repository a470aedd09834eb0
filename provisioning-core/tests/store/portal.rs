//! Portal sessions and tenant activity on both backends: a session opens only its tenant,
//! until it expires or is revoked, and only its hash is stored; activity only moves forward.

use diesel::prelude::*;
use provisioning_core::provisioning_log::Entry;
use provisioning_core::schema::portal_sessions;
use provisioning_core::store::{Store, activity, now_micros, portal};
use provisioning_core::token::{fingerprint, generate};
use secrecy::ExposeSecret;

use crate::{TestStore, tenant};

#[test]
fn a_portal_session_opens_its_tenant_until_it_expires_or_is_revoked_sqlite() {
    a_portal_session_opens_its_tenant_until_it_expires_or_is_revoked(&TestStore::sqlite());
}

#[test]
fn a_portal_session_opens_its_tenant_until_it_expires_or_is_revoked_postgres() {
    a_portal_session_opens_its_tenant_until_it_expires_or_is_revoked(&TestStore::postgres());
}

fn a_portal_session_opens_its_tenant_until_it_expires_or_is_revoked(store: &Store) {
    tenant(store, "acme");
    tenant(store, "globex");
    let secret = generate("portal", "eu").expose_secret().to_owned();
    let other = generate("portal", "eu").expose_secret().to_owned();
    let session = store.write(|conn| portal::issue(conn, "acme", &secret, 60, Some("it@acme.example"))).unwrap();
    store.write(|conn| portal::issue(conn, "globex", &other, 5, None)).unwrap();
    assert_eq!(session.expires_at - session.created_at, 60 * 60_000_000);

    let now = now_micros();
    let opened = store.read(|conn| portal::authenticate(conn, &secret, now)).unwrap().expect("a live session");
    assert_eq!((opened.id.as_str(), opened.tenant_id.as_str()), (session.id.as_str(), "acme"));
    assert_eq!(opened.status(now), "active");
    let after_expiry = session.expires_at;
    assert_eq!(store.read(|conn| portal::authenticate(conn, &secret, after_expiry)).unwrap(), None, "expired");
    let unknown = generate("portal", "eu").expose_secret().to_owned();
    assert_eq!(store.read(|conn| portal::authenticate(conn, &unknown, now)).unwrap(), None);

    // Only the hash is stored.
    let stored: Vec<String> = store
        .read(|conn| Ok(portal_sessions::table.select(portal_sessions::secret_sha256).load::<String>(conn)?))
        .unwrap();
    assert!(stored.contains(&fingerprint(&secret)) && !stored.contains(&secret));

    // A tenant sees and revokes only its own sessions.
    let listed = store.read(|conn| portal::list(conn, "acme", 100)).unwrap();
    assert_eq!(listed.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), [session.id.as_str()]);
    assert!(store.write(|conn| portal::revoke(conn, "globex", &session.id)).is_err(), "another tenant's session");
    let revoked = store.write(|conn| portal::revoke(conn, "acme", &session.id)).unwrap();
    assert_eq!(revoked.status(now), "revoked");
    assert_eq!(store.read(|conn| portal::authenticate(conn, &secret, now)).unwrap(), None, "revoked");
    let again = store.write(|conn| portal::revoke(conn, "acme", &session.id)).unwrap();
    assert_eq!(again.revoked_at, revoked.revoked_at, "revoking twice keeps the first time");
    assert!(store.read(|conn| portal::authenticate(conn, &other, now)).unwrap().is_some(), "globex's still works");
}

fn entry(tenant: &str, at: i64, status: i32, user_agent: &str) -> Entry {
    Entry {
        tenant_id: tenant.to_owned(),
        at,
        method: "PATCH".to_owned(),
        path: "/Users/u1".to_owned(),
        resource_type: Some("User".to_owned()),
        resource_id: Some("u1".to_owned()),
        status,
        scim_type: None,
        detail: None,
        warnings: None,
        latency_micros: 1,
        trace_id: None,
        token_id: None,
        user_agent: Some(user_agent.to_owned()),
    }
}

#[test]
fn tenant_activity_only_moves_forward_sqlite() {
    tenant_activity_only_moves_forward(&TestStore::sqlite());
}

#[test]
fn tenant_activity_only_moves_forward_postgres() {
    tenant_activity_only_moves_forward(&TestStore::postgres());
}

/// Batches of several replicas arrive in any order.
fn tenant_activity_only_moves_forward(store: &Store) {
    tenant(store, "acme");
    let record = |batch: Vec<Entry>| {
        let activity = activity::of_batch(&batch);
        store.write(|conn| activity::record(conn, &activity)).unwrap();
        store.read(|conn| activity::get(conn, "acme")).unwrap().expect("a row")
    };
    assert_eq!(store.read(|conn| activity::get(conn, "acme")).unwrap(), None);
    let first = record(vec![entry("acme", 100, 200, "Okta SCIM Client 1.0.0"), entry("acme", 150, 500, "Okta")]);
    assert_eq!((first.first_request_at, first.last_request_at, first.last_error_at), (100, 150, Some(150)));
    assert_eq!(first.last_error.as_deref(), Some("500 PATCH /Users/u1"));
    let newer = record(vec![entry("acme", 300, 200, "Azure AD SCIM")]);
    assert_eq!((newer.first_request_at, newer.last_request_at), (100, 300));
    assert_eq!(newer.last_user_agent.as_deref(), Some("Azure AD SCIM"));
    assert_eq!(newer.last_error_at, Some(150), "a success does not clear the last failure");
    let late = record(vec![entry("acme", 50, 409, "late replica")]);
    assert_eq!((late.first_request_at, late.last_request_at), (50, 300), "an older batch moves only the first");
    assert_eq!(late.last_error_at, Some(150), "an older failure is not the last");
    assert_eq!(late.last_user_agent.as_deref(), Some("Azure AD SCIM"), "nor an older User-Agent");
}
