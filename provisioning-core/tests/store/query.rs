//! SCIM filters run as SQL, and count/startIndex paging.

use provisioning_core::error::CoreError;
use provisioning_core::store::query::Page;
use provisioning_core::store::tenants::TenantId;
use provisioning_core::store::{Store, StoredResource};

use crate::pipeline::{groups, users};
use scim::{Filter, ScimType};
use serde_json::json;

use crate::{TestStore, create_group, create_user, scim_error, tenant};

fn list_users(store: &Store, tenant: &TenantId, filter: &str, page: Page) -> Result<(i64, Vec<String>), CoreError> {
    let filter = (!filter.is_empty()).then(|| Filter::parse(filter).expect("a valid filter"));
    let (total, found) = store.read(|conn| users::list(conn, tenant, filter.as_ref(), page))?;
    Ok((total, ids(&found)))
}

fn list_groups(store: &Store, tenant: &TenantId, filter: &str) -> Result<(i64, Vec<String>), CoreError> {
    let filter = Filter::parse(filter).expect("a valid filter");
    let (total, found) = store.read(|conn| groups::list(conn, tenant, Some(&filter), Page::new(1, None), false))?;
    Ok((total, ids(&found)))
}

fn ids(resources: &[StoredResource]) -> Vec<String> {
    resources.iter().map(|resource| resource.id.clone()).collect()
}

#[test]
fn filters_select_in_the_database_sqlite() {
    filters_select_in_the_database(&TestStore::sqlite());
}

#[test]
fn filters_select_in_the_database_postgres() {
    filters_select_in_the_database(&TestStore::postgres());
}

fn filters_select_in_the_database(store: &Store) {
    let acme = tenant(store, "acme");
    let globex = tenant(store, "globex");
    let alice = create_user(store, &acme, json!({"userName": "Alice@Example.com", "externalId": "ext-a"}));
    let bob = create_user(store, &acme, json!({"userName": "bob", "externalId": "ext-b"}));
    create_user(store, &globex, json!({"userName": "alice@example.com", "externalId": "ext-b"}));
    let all = Page::new(1, None);

    let users = |filter| list_users(store, &acme, filter, all).expect("a supported filter");
    assert_eq!(users(r#"userName eq "ALICE@example.COM""#), (1, vec![alice.id.clone()]));
    assert_eq!(users(r#"externalId eq "ext-b""#), (1, vec![bob.id.clone()]));
    assert_eq!(users(r#"externalId eq "EXT-B""#), (0, vec![]), "externalId is case-exact");
    assert_eq!(users(r#"userName eq "nobody""#), (0, vec![]));

    let one = create_group(store, &acme, json!({"displayName": "One", "members": [{"value": alice.id}]}));
    let two =
        create_group(store, &acme, json!({"displayName": "Two", "members": [{"value": alice.id}, {"value": bob.id}]}));
    let groups = |filter: String| list_groups(store, &acme, &filter).expect("a supported filter");
    assert_eq!(groups(format!(r#"id eq "{}" and members eq "{}""#, two.id, bob.id)), (1, vec![two.id.clone()]));
    assert_eq!(groups(format!(r#"id eq "{}" and members eq "{}""#, one.id, bob.id)), (0, vec![]));
    let (total, mut with_alice) = groups(format!(r#"members eq "{}""#, alice.id));
    with_alice.sort();
    let mut both = vec![one.id.clone(), two.id.clone()];
    both.sort();
    assert_eq!((total, with_alice), (2, both));

    let unsupported = list_users(store, &acme, r#"noSuchAttribute eq "x""#, all);
    let error = scim_error(unsupported);
    assert_eq!((error.status, error.scim_type), (400, Some(ScimType::InvalidFilter)));
    let unsupported = list_groups(store, &acme, r#"title eq "x""#);
    assert_eq!(scim_error(unsupported).scim_type, Some(ScimType::InvalidFilter));
}

#[test]
fn count_and_start_index_page_the_results_sqlite() {
    count_and_start_index_page_the_results(&TestStore::sqlite());
}

#[test]
fn count_and_start_index_page_the_results_postgres() {
    count_and_start_index_page_the_results(&TestStore::postgres());
}

fn count_and_start_index_page_the_results(store: &Store) {
    let acme = tenant(store, "acme");
    for i in 0..5 {
        create_user(store, &acme, json!({"userName": format!("user{i}")}));
    }
    let zed = create_user(store, &acme, json!({"userName": "zed"})).id;
    let page =
        |filter, start_index, count| list_users(store, &acme, filter, Page::new(start_index, count)).expect("listing");

    let (total, all) = page("", 1, None);
    assert_eq!((total, all.len()), (6, 6));
    assert_eq!(page("", 2, Some(2)), (6, all[1..3].to_vec()));
    assert_eq!(page("", 6, Some(2)), (6, all[5..].to_vec()));
    assert_eq!(page("", 7, Some(2)), (6, vec![]));
    assert_eq!(page("", 0, Some(1)), (6, all[..1].to_vec()), "a startIndex below 1 means 1");
    assert_eq!(page("", 1, Some(0)), (6, vec![]), "count 0 asks only for the total");

    let not_zed: Vec<String> = all.iter().filter(|id| **id != zed).cloned().collect();
    assert_eq!(page(r#"userName sw "user""#, 1, None), (5, not_zed.clone()));
    assert_eq!(page(r#"userName sw "user""#, 4, Some(10)), (5, not_zed[3..].to_vec()));
}

#[test]
fn absent_values_and_like_wildcards_sqlite() {
    absent_values_and_like_wildcards(&TestStore::sqlite());
}

#[test]
fn absent_values_and_like_wildcards_postgres() {
    absent_values_and_like_wildcards(&TestStore::postgres());
}

/// A user without externalId is not equal to "x", differs from it, and matches `not (… eq …)`;
/// `%` and `_` in a value are literal characters, not wildcards.
fn absent_values_and_like_wildcards(store: &Store) {
    let acme = tenant(store, "acme");
    let with = create_user(store, &acme, json!({"userName": "a_b@example.com", "externalId": "x"}));
    let without = create_user(store, &acme, json!({"userName": "aXb@example.com"}));
    let all = Page::new(1, None);
    let users = |filter| list_users(store, &acme, filter, all).expect("a supported filter");
    assert_eq!(users(r#"externalId eq "x""#), (1, vec![with.id.clone()]));
    assert_eq!(users(r#"not (externalId eq "x")"#), (1, vec![without.id.clone()]));
    assert_eq!(users(r#"externalId ne "x""#), (1, vec![without.id.clone()]));
    assert_eq!(users(r#"not (externalId ne "x")"#), (1, vec![with.id.clone()]));
    assert_eq!(users("externalId pr"), (1, vec![with.id.clone()]));
    assert_eq!(users(r#"userName sw "a_""#), (1, vec![with.id.clone()]), "_ is not a wildcard");
    assert_eq!(users(r#"userName co "%""#), (0, vec![]), "% is not a wildcard");
    assert_eq!(users(r#"userName ew "@EXAMPLE.com""#).0, 2);
}

#[test]
fn any_attribute_filters_in_the_database_sqlite() {
    any_attribute_filters_in_the_database(&TestStore::sqlite());
}

#[test]
fn any_attribute_filters_in_the_database_postgres() {
    any_attribute_filters_in_the_database(&TestStore::postgres());
}

/// Sub-attributes, multi-valued attributes, valuePaths (Entra's form included), extensions,
/// booleans, dateTimes and group membership, all answered by SQL.
fn any_attribute_filters_in_the_database(store: &Store) {
    let acme = tenant(store, "acme");
    let alice = create_user(
        store,
        &acme,
        json!({
            "userName": "alice", "title": "Engineer", "name": {"givenName": "Alice", "familyName": "Liddell"},
            "emails": [{"type": "work", "value": "Alice@Work.example", "primary": true}, {"type": "home", "value": "a@home.example"}],
            "roles": [{"value": "admin", "primary": "True"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D", "manager": {"value": "m1"}}
        }),
    );
    let bob = create_user(
        store,
        &acme,
        json!({"userName": "bob", "active": false, "name": {"givenName": "Bob"},
               "emails": [{"type": "home", "value": "bob@work.example"}]}),
    );
    let all = Page::new(1, None);
    let users = |filter| list_users(store, &acme, filter, all).expect("a supported filter").1;
    let only = |id: &String| vec![id.clone()];
    assert_eq!(users(r#"name.givenName eq "ALICE""#), only(&alice.id));
    assert_eq!(users(r#"title co "gine""#), only(&alice.id));
    assert_eq!(users(r#"emails eq "alice@work.example""#), only(&alice.id));
    assert_eq!(users(r#"emails.value eq "BOB@work.example""#), only(&bob.id));
    assert_eq!(users(r#"emails[type eq "work"].value eq "alice@work.example""#), only(&alice.id));
    assert_eq!(users(r#"emails[type eq "work" and value eq "bob@work.example"]"#), Vec::<String>::new());
    assert_eq!(users(r#"emails[type eq "home" and value co "@home"]"#), only(&alice.id));
    assert_eq!(users(r#"emails.value ew "work.example" and not (emails.type eq "work")"#), only(&bob.id));
    assert_eq!(users(r#"emails[primary eq true]"#), only(&alice.id));
    assert_eq!(users(r#"roles[primary eq "True"].value eq "admin""#), only(&alice.id));
    assert_eq!(users("active eq false"), only(&bob.id));
    assert_eq!(users("title pr"), only(&alice.id));
    assert_eq!(users("not (title pr)"), only(&bob.id));
    assert_eq!(
        users(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "r&d""#),
        only(&alice.id)
    );
    assert_eq!(
        users(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m1""#),
        only(&alice.id)
    );
    assert_eq!(
        users(r#"meta.created ge "2000-01-01T00:00:00Z" and meta.lastModified lt "2999-01-01T00:00:00Z""#).len(),
        2
    );
    assert_eq!(users(r#"meta.lastModified gt "2999-01-01T00:00:00+02:00""#), Vec::<String>::new());
    assert_eq!(users(r#"meta.resourceType eq "User""#).len(), 2);

    let team = create_group(store, &acme, json!({"displayName": "Team", "members": [{"value": bob.id}]}));
    assert_eq!(users(&format!(r#"groups eq "{}""#, team.id)), only(&bob.id));
    let groups = |filter: String| list_groups(store, &acme, &filter).expect("a supported filter").1;
    assert_eq!(groups(format!(r#"members[value eq "{}"]"#, bob.id)), only(&team.id));
    assert_eq!(groups(r#"displayName sw "TE""#.to_owned()), only(&team.id));

    for invalid in [r#"active gt true"#, r#"meta.created gt "yesterday""#, r#"emails[value eq "x"].type[x]"#] {
        if let Ok(filter) = Filter::parse(invalid) {
            let error = scim_error(store.read(|conn| users::list(conn, &acme, Some(&filter), all)));
            assert_eq!(error.scim_type, Some(ScimType::InvalidFilter), "{invalid}");
        }
    }
}
