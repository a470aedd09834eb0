//! Tenants and their tokens: only hashes are stored, and a revoked or expired token, a disabled
//! tenant or a finished rotation takes effect on the next authentication.

use diesel::prelude::*;
use provisioning_core::error::CoreError;
use provisioning_core::schema::tenant_tokens;
use provisioning_core::store::tenants::{
    self, Caller, RateLimitSetting, TenantSettings, TokenRecord, authenticate, create_tenant, finish_rotation,
    issue_token, start_rotation,
};
use provisioning_core::store::{Store, now_micros};
use provisioning_core::token::{fingerprint, generate};
use secrecy::ExposeSecret;

use crate::{TestStore, scim_error, tenant};

/// A new token of the documented shape, `scim_eu_<43 characters>`.
fn secret() -> String {
    let token = generate("scim", "eu").expose_secret().to_owned();
    assert_eq!(token.len(), "scim_eu_".len() + 43);
    token
}

fn issue(store: &Store, tenant: &str, token: &str, expires_at: Option<i64>) -> TokenRecord {
    store.write(|conn| issue_token(conn, tenant, token, expires_at, None)).expect("issuing a token")
}

/// Authenticates a bearer token as of `now`.
fn authenticate_at(store: &Store, token: &str, now: i64) -> Result<Caller, CoreError> {
    store.read(|conn| authenticate(conn, &fingerprint(token), now))
}

fn authenticate_now(store: &Store, token: &str) -> Result<Caller, CoreError> {
    authenticate_at(store, token, now_micros())
}

/// The tenant and token id a token authenticates as.
fn caller(store: &Store, token: &str) -> (String, String) {
    let caller = authenticate_now(store, token).expect("the token authenticates");
    (caller.tenant.0, caller.token_id)
}

fn assert_unauthenticated(result: Result<Caller, CoreError>) {
    assert!(matches!(result, Err(CoreError::Unauthenticated)), "expected Unauthenticated, got {result:?}");
}

fn find(store: &Store, tenant: &str, id: &str) -> TokenRecord {
    store.read(|conn| tenants::find_token(conn, tenant, id)).expect("finding a token")
}

type TokenRow = (String, String, String, i64, Option<i64>, String, Option<i64>, Option<i64>, Option<String>);

#[test]
fn a_token_authenticates_its_tenant_and_only_its_hash_is_stored_sqlite() {
    a_token_authenticates_its_tenant_and_only_its_hash_is_stored(&TestStore::sqlite());
}

#[test]
fn a_token_authenticates_its_tenant_and_only_its_hash_is_stored_postgres() {
    a_token_authenticates_its_tenant_and_only_its_hash_is_stored(&TestStore::postgres());
}

fn a_token_authenticates_its_tenant_and_only_its_hash_is_stored(store: &Store) {
    tenant(store, "acme");
    tenant(store, "globex");
    let acme_secret = secret();
    let globex_secret = secret();
    let acme_token = issue(store, "acme", &acme_secret, None);
    let globex_token = issue(store, "globex", &globex_secret, None);
    assert_eq!(acme_token.tenant_id, "acme");
    assert_eq!((acme_token.revoked_at, acme_token.expires_at, acme_token.rotation_of.as_deref()), (None, None, None));

    assert_eq!(caller(store, &acme_secret), ("acme".to_owned(), acme_token.id.clone()));
    assert_eq!(caller(store, &globex_secret), ("globex".to_owned(), globex_token.id.clone()));
    let authenticated = authenticate_now(store, &acme_secret).expect("the token authenticates");
    assert_eq!(authenticated.settings, TenantSettings::default());
    assert_unauthenticated(authenticate_now(store, &secret()));
    assert_unauthenticated(authenticate_now(store, "not-a-token"));
    // The secret itself is not a fingerprint of anything stored.
    assert_unauthenticated(store.read(|conn| authenticate(conn, &acme_secret, now_micros())));

    let rows: Vec<TokenRow> = store
        .read(|conn| Ok(tenant_tokens::table.order((tenant_tokens::created_at, tenant_tokens::id)).load(conn)?))
        .expect("reading");
    assert_eq!(rows.len(), 2);
    for (row, secret) in rows.iter().zip([&acme_secret, &globex_secret]) {
        let (id, tenant_id, token_sha256, _, _, prefix, _, _, rotation_of) = row;
        for text in [id, tenant_id, token_sha256, prefix].into_iter().chain(rotation_of) {
            assert_ne!(text, secret);
            assert!(!text.contains(&secret[8..]), "a stored column holds the secret: {text}");
        }
        assert_eq!(token_sha256, &fingerprint(secret));
        assert_eq!(prefix, &format!("scim_eu_{}", &secret[8..12]));
        assert_eq!(prefix.len(), "scim_eu_".len() + 4);
    }
}

#[test]
fn a_revoked_token_stops_working_and_only_its_tenant_can_revoke_it_sqlite() {
    a_revoked_token_stops_working_and_only_its_tenant_can_revoke_it(&TestStore::sqlite());
}

#[test]
fn a_revoked_token_stops_working_and_only_its_tenant_can_revoke_it_postgres() {
    a_revoked_token_stops_working_and_only_its_tenant_can_revoke_it(&TestStore::postgres());
}

fn a_revoked_token_stops_working_and_only_its_tenant_can_revoke_it(store: &Store) {
    tenant(store, "acme");
    tenant(store, "globex");
    let (acme_secret, other_acme_secret, globex_secret) = (secret(), secret(), secret());
    let acme_token = issue(store, "acme", &acme_secret, None);
    let other_acme_token = issue(store, "acme", &other_acme_secret, None);
    let globex_token = issue(store, "globex", &globex_secret, None);

    let revoked = store.write(|conn| tenants::revoke_token(conn, "acme", &acme_token.id)).expect("revoking");
    assert_eq!(revoked.id, acme_token.id);
    let revoked_at = revoked.revoked_at.expect("the token is revoked");
    assert_unauthenticated(authenticate_now(store, &acme_secret));
    // Revoking one token leaves the tenant's others alone.
    assert_eq!(caller(store, &other_acme_secret), ("acme".to_owned(), other_acme_token.id.clone()));

    let again = store.write(|conn| tenants::revoke_token(conn, "acme", &acme_token.id)).expect("revoking again");
    assert_eq!(again.revoked_at, Some(revoked_at), "revoking again keeps the first revocation time");
    assert_unauthenticated(authenticate_now(store, &acme_secret));

    let unknown = store.write(|conn| tenants::revoke_token(conn, "acme", "no-such-token"));
    assert_eq!(scim_error(unknown).status, 404);
    let cross_tenant = store.write(|conn| tenants::revoke_token(conn, "acme", &globex_token.id));
    assert_eq!(scim_error(cross_tenant).status, 404);
    assert_eq!(find(store, "globex", &globex_token.id).revoked_at, None);
    assert_eq!(caller(store, &globex_secret), ("globex".to_owned(), globex_token.id.clone()));
}

#[test]
fn an_expired_token_is_refused_with_401_sqlite() {
    an_expired_token_is_refused_with_401(&TestStore::sqlite());
}

#[test]
fn an_expired_token_is_refused_with_401_postgres() {
    an_expired_token_is_refused_with_401(&TestStore::postgres());
}

fn an_expired_token_is_refused_with_401(store: &Store) {
    tenant(store, "acme");
    let now = now_micros();
    let hour = 3_600_000_000;

    let expired_secret = secret();
    let expired = issue(store, "acme", &expired_secret, Some(now - hour));
    assert_eq!(expired.expires_at, Some(now - hour));
    let error = scim_error(authenticate_at(store, &expired_secret, now));
    assert_eq!(error.status, 401);
    assert!(error.detail.contains("expired"), "{}", error.detail);

    let expiring_secret = secret();
    let expiring = issue(store, "acme", &expiring_secret, Some(now + hour));
    let before = authenticate_at(store, &expiring_secret, now).expect("a token before it expires");
    assert_eq!((before.tenant.0.as_str(), before.token_id.as_str()), ("acme", expiring.id.as_str()));
    authenticate_at(store, &expiring_secret, now + hour - 1).expect("a token a microsecond before it expires");
    // At its expiry time, and after, the same token is refused.
    for later in [now + hour, now + 2 * hour] {
        let error = scim_error(authenticate_at(store, &expiring_secret, later));
        assert_eq!(error.status, 401);
        assert!(error.detail.contains("expired"), "{}", error.detail);
    }
}

#[test]
fn a_disabled_tenant_s_tokens_are_refused_with_401_sqlite() {
    a_disabled_tenant_s_tokens_are_refused_with_401(&TestStore::sqlite());
}

#[test]
fn a_disabled_tenant_s_tokens_are_refused_with_401_postgres() {
    a_disabled_tenant_s_tokens_are_refused_with_401(&TestStore::postgres());
}

fn a_disabled_tenant_s_tokens_are_refused_with_401(store: &Store) {
    tenant(store, "acme");
    tenant(store, "globex");
    let (acme_secret, globex_secret) = (secret(), secret());
    let acme_token = issue(store, "acme", &acme_secret, None);
    issue(store, "globex", &globex_secret, None);

    let disabled = store.write(|conn| tenants::set_disabled(conn, "acme", true)).expect("disabling");
    assert_eq!((disabled.id.as_str(), disabled.disabled), ("acme", true));
    let error = scim_error(authenticate_now(store, &acme_secret));
    assert_eq!(error.status, 401);
    assert!(error.detail.contains("disabled"), "{}", error.detail);
    assert_eq!(caller(store, &globex_secret).0, "globex");

    let enabled = store.write(|conn| tenants::set_disabled(conn, "acme", false)).expect("enabling");
    assert!(!enabled.disabled);
    assert_eq!(caller(store, &acme_secret), ("acme".to_owned(), acme_token.id.clone()));

    let unknown = store.write(|conn| tenants::set_disabled(conn, "nobody", true));
    assert_eq!(scim_error(unknown).status, 404);
}

#[test]
fn a_rotation_keeps_both_tokens_working_until_it_ends_sqlite() {
    a_rotation_keeps_both_tokens_working_until_it_ends(&TestStore::sqlite());
}

#[test]
fn a_rotation_keeps_both_tokens_working_until_it_ends_postgres() {
    a_rotation_keeps_both_tokens_working_until_it_ends(&TestStore::postgres());
}

fn a_rotation_keeps_both_tokens_working_until_it_ends(store: &Store) {
    tenant(store, "acme");
    let (old_secret, new_secret) = (secret(), secret());
    let old = issue(store, "acme", &old_secret, None);

    let new = store.write(|conn| start_rotation(conn, "acme", &old.id, &new_secret, None)).expect("starting");
    assert_ne!(new.id, old.id);
    assert_eq!((new.tenant_id.as_str(), new.rotation_of.as_deref()), ("acme", Some(old.id.as_str())));
    assert_eq!(caller(store, &old_secret).1, old.id);
    assert_eq!(caller(store, &new_secret).1, new.id);

    let second = store.write(|conn| start_rotation(conn, "acme", &old.id, &secret(), None));
    assert_eq!(scim_error(second).status, 409);
    let unknown = store.write(|conn| start_rotation(conn, "acme", "no-such-token", &secret(), None));
    assert_eq!(scim_error(unknown).status, 404);

    let (revoked, kept) = store.write(|conn| finish_rotation(conn, "acme", &old.id, true)).expect("completing");
    assert_eq!((revoked.id.as_str(), kept.id.as_str()), (old.id.as_str(), new.id.as_str()));
    assert!(revoked.revoked_at.is_some());
    assert_unauthenticated(authenticate_now(store, &old_secret));
    assert_eq!(caller(store, &new_secret).1, new.id);
    assert_eq!(find(store, "acme", &new.id).rotation_of.as_deref(), Some(old.id.as_str()));

    // The old token is revoked: it can neither finish that rotation again nor start another.
    let finished_again = store.write(|conn| finish_rotation(conn, "acme", &old.id, true));
    assert_eq!(scim_error(finished_again).status, 409);
    let rotate_revoked = store.write(|conn| start_rotation(conn, "acme", &old.id, &secret(), None));
    assert_eq!(scim_error(rotate_revoked).status, 409);

    // A cancelled rotation revokes the new token and keeps the old one.
    let cancelled_secret = secret();
    let cancelled =
        store.write(|conn| start_rotation(conn, "acme", &new.id, &cancelled_secret, None)).expect("starting");
    assert_eq!(cancelled.rotation_of.as_deref(), Some(new.id.as_str()));
    assert_eq!(caller(store, &cancelled_secret).1, cancelled.id);
    let (revoked, kept) = store.write(|conn| finish_rotation(conn, "acme", &new.id, false)).expect("cancelling");
    assert_eq!((revoked.id.as_str(), kept.id.as_str()), (cancelled.id.as_str(), new.id.as_str()));
    assert_unauthenticated(authenticate_now(store, &cancelled_secret));
    assert_eq!(caller(store, &new_secret).1, new.id);
    assert_eq!(find(store, "acme", &new.id).revoked_at, None);

    let nothing_under_way = store.write(|conn| finish_rotation(conn, "acme", &new.id, true));
    assert_eq!(scim_error(nothing_under_way).status, 409);
    assert_eq!(caller(store, &new_secret).1, new.id);

    // Once the cancelled rotation is over, another can start.
    let next_secret = secret();
    let next = store.write(|conn| start_rotation(conn, "acme", &new.id, &next_secret, None)).expect("starting");
    assert_eq!(next.rotation_of.as_deref(), Some(new.id.as_str()));
    assert_eq!(caller(store, &next_secret).1, next.id);
}

#[test]
fn tenants_are_created_listed_and_configured_sqlite() {
    tenants_are_created_listed_and_configured(&TestStore::sqlite());
}

#[test]
fn tenants_are_created_listed_and_configured_postgres() {
    tenants_are_created_listed_and_configured(&TestStore::postgres());
}

fn tenants_are_created_listed_and_configured(store: &Store) {
    let zeta = store.write(|conn| create_tenant(conn, "zeta", "Zeta Corp", "eu")).expect("creating");
    assert_eq!((zeta.id.as_str(), zeta.display_name.as_str(), zeta.region.as_str()), ("zeta", "Zeta Corp", "eu"));
    assert!(!zeta.disabled);
    assert_eq!(zeta.settings, TenantSettings::default());
    store.write(|conn| create_tenant(conn, "acme", "Acme", "eu")).expect("creating");
    store.write(|conn| create_tenant(conn, "m1d-2", "Mid", "us")).expect("creating");

    let taken = store.write(|conn| create_tenant(conn, "zeta", "Another Zeta", "us"));
    assert_eq!(scim_error(taken).status, 409);
    let unchanged = store.read(|conn| tenants::get_tenant(conn, "zeta")).expect("the tenant is still there");
    assert_eq!(unchanged, zeta);
    for bad in ["A", "-x", "a b"] {
        let refused = store.write(|conn| create_tenant(conn, bad, "Bad", "eu"));
        assert_eq!(scim_error(refused).status, 400, "slug {bad:?}");
    }

    let listed = store.read(tenants::list_tenants).expect("listing");
    let slugs: Vec<&str> = listed.iter().map(|tenant| tenant.id.as_str()).collect();
    assert_eq!(slugs, ["acme", "m1d-2", "zeta"]);
    let missing = store.read(|conn| tenants::get_tenant(conn, "nobody"));
    assert_eq!(scim_error(missing).status, 404);

    let acme_secret = secret();
    issue(store, "acme", &acme_secret, None);
    let limited = TenantSettings {
        rate_limit: Some(RateLimitSetting { requests_per_second: 25, burst: 50 }),
        lifecycle: None,
        expected_cadence_minutes: None,
    };
    let updated = store.write(|conn| tenants::set_settings(conn, "acme", &limited)).expect("setting");
    assert_eq!(updated.settings, limited);
    let authenticated = authenticate_now(store, &acme_secret).expect("the token authenticates");
    assert_eq!(authenticated.settings.rate_limit, Some(RateLimitSetting { requests_per_second: 25, burst: 50 }));

    let invalid = TenantSettings {
        rate_limit: Some(RateLimitSetting { requests_per_second: 0, burst: 50 }),
        lifecycle: None,
        expected_cadence_minutes: None,
    };
    let refused = store.write(|conn| tenants::set_settings(conn, "acme", &invalid));
    assert_eq!(scim_error(refused).status, 400);
    let stored = store.read(|conn| tenants::get_tenant(conn, "acme")).expect("reading");
    assert_eq!(stored.settings, limited);
    let authenticated = authenticate_now(store, &acme_secret).expect("the token authenticates");
    assert_eq!(authenticated.settings, limited);

    let unknown = store.write(|conn| tenants::set_settings(conn, "nobody", &limited));
    assert_eq!(scim_error(unknown).status, 404);
}

#[test]
fn touching_tokens_only_moves_last_use_forward_sqlite() {
    touching_tokens_only_moves_last_use_forward(&TestStore::sqlite());
}

#[test]
fn touching_tokens_only_moves_last_use_forward_postgres() {
    touching_tokens_only_moves_last_use_forward(&TestStore::postgres());
}

fn touching_tokens_only_moves_last_use_forward(store: &Store) {
    tenant(store, "acme");
    let used = issue(store, "acme", &secret(), None);
    let unused = issue(store, "acme", &secret(), None);
    assert_eq!(used.last_used_at, None);

    let touch = |id: &str, at: i64| {
        store.write(|conn| tenants::touch_tokens(conn, &[(id.to_owned(), at)])).expect("touching");
    };
    touch(&used.id, 200);
    assert_eq!(find(store, "acme", &used.id).last_used_at, Some(200));
    touch(&used.id, 100);
    assert_eq!(find(store, "acme", &used.id).last_used_at, Some(200));
    touch(&used.id, 300);
    assert_eq!(find(store, "acme", &used.id).last_used_at, Some(300));
    assert_eq!(find(store, "acme", &unused.id).last_used_at, None);

    // Several at once, an unknown id among them.
    let batch = [(unused.id.clone(), 50), ("no-such-token".to_owned(), 70), (used.id.clone(), 250)];
    store.write(|conn| tenants::touch_tokens(conn, &batch)).expect("touching");
    assert_eq!(find(store, "acme", &unused.id).last_used_at, Some(50));
    assert_eq!(find(store, "acme", &used.id).last_used_at, Some(300));
}

#[test]
fn tokens_are_listed_oldest_first_without_secrets_sqlite() {
    tokens_are_listed_oldest_first_without_secrets(&TestStore::sqlite());
}

#[test]
fn tokens_are_listed_oldest_first_without_secrets_postgres() {
    tokens_are_listed_oldest_first_without_secrets(&TestStore::postgres());
}

fn tokens_are_listed_oldest_first_without_secrets(store: &Store) {
    tenant(store, "acme");
    tenant(store, "globex");
    let unknown = store.read(|conn| tenants::list_tokens(conn, "nobody"));
    assert_eq!(scim_error(unknown).status, 404);
    assert!(store.read(|conn| tenants::list_tokens(conn, "acme")).expect("listing").is_empty());

    let secrets = [secret(), secret(), secret()];
    let mut issued = Vec::new();
    for secret in &secrets {
        issued.push(issue(store, "acme", secret, None));
    }
    store.write(|conn| tenants::revoke_token(conn, "acme", &issued[1].id)).expect("revoking");
    let globex_secret = secret();
    let globex_token = issue(store, "globex", &globex_secret, None);

    let listed = store.read(|conn| tenants::list_tokens(conn, "acme")).expect("listing");
    let ids: Vec<&str> = listed.iter().map(|token| token.id.as_str()).collect();
    let issued_ids: Vec<&str> = issued.iter().map(|token| token.id.as_str()).collect();
    assert_eq!(ids, issued_ids);
    assert!(listed.windows(2).all(|pair| pair[0].created_at <= pair[1].created_at));
    let revoked: Vec<bool> = listed.iter().map(|token| token.revoked_at.is_some()).collect();
    assert_eq!(revoked, [false, true, false]);
    let shown = format!("{listed:?}");
    for (token, secret) in listed.iter().zip(&secrets) {
        assert_eq!(token.tenant_id, "acme");
        assert_eq!(token.prefix, format!("scim_eu_{}", &secret[8..12]));
        for text in [&token.id, &token.tenant_id, &token.prefix] {
            assert_ne!(text, secret);
        }
        assert!(!shown.contains(secret.as_str()) && !shown.contains(&secret[8..]), "a listing shows a secret");
        assert!(!shown.contains(&fingerprint(secret)), "a listing shows a token's hash");
    }
    assert!(!shown.contains(&globex_token.id), "a listing shows another tenant's token");
}
