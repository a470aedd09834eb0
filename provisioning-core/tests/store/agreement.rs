//! The SQL translation of filters agrees with the in-memory evaluator (`scim::evaluate`) on
//! random users and random filters, on both backends.

use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use provisioning_core::store::Store;
use provisioning_core::store::query::Page;

use crate::pipeline::users;
use scim::schema::{ENTERPRISE_USER, SchemaRegistry};
use scim::{Filter, ResourceType};
use serde_json::{Value, json};

use crate::{TestStore, create_user, tenant};

fn pick(options: &'static [&'static str]) -> impl Strategy<Value = String> + Clone {
    proptest::sample::select(options).prop_map(str::to_owned)
}

fn optional(options: &'static [&'static str]) -> impl Strategy<Value = Option<String>> {
    proptest::option::of(pick(options))
}

fn email() -> impl Strategy<Value = Value> {
    (pick(&["a@x.io", "A@X.io", "b@y.io"]), pick(&["work", "home", "Work"]), any::<bool>())
        .prop_map(|(value, kind, primary)| json!({"value": value, "type": kind, "primary": primary}))
}

/// One user's body, its userName made unique by `index`.
fn user(index: usize) -> impl Strategy<Value = Value> {
    (
        pick(&["ann", "Bob", "cat"]),
        optional(&["engineer", "Engineer", "manager", "x", "Émile", "émile"]),
        optional(&["ab", "AB", "cd"]),
        any::<bool>(),
        optional(&["Ann", "ann", "zed"]),
        proptest::collection::vec(email(), 0..3),
        optional(&["rd", "RD", "ops"]),
    )
        .prop_map(move |(name, title, external_id, active, given, mut emails, department)| {
            // At most one primary, as POST requires.
            let mut seen_primary = false;
            for email in &mut emails {
                if email["primary"] == true {
                    if seen_primary {
                        email["primary"] = json!(false);
                    }
                    seen_primary = true;
                }
            }
            let mut body = json!({"userName": format!("{name}{index}"), "active": active, "emails": emails});
            if let Some(title) = title {
                body["title"] = json!(title);
            }
            if let Some(id) = external_id {
                body["externalId"] = json!(id);
            }
            if let Some(given) = given {
                body["name"] = json!({"givenName": given});
            }
            if let Some(department) = department {
                body[ENTERPRISE_USER] = json!({"department": department});
            }
            body
        })
}

fn users() -> impl Strategy<Value = Vec<Value>> {
    (1usize..6).prop_flat_map(|n| (0..n).map(user).collect::<Vec<_>>())
}

fn leaf() -> impl Strategy<Value = String> {
    let strings = pick(&[
        "ann", "ANN", "a", "n", "engineer", "eng", "ab", "AB", "b", "rd", "x", "a@x.io", "work", "zed", "bob1",
        "ÉMILE", "émi",
    ]);
    let ordered_attribute = pick(&["userName", "title", "externalId", "name.givenName", DEPARTMENT]);
    let any_attribute = pick(&[
        "userName",
        "title",
        "externalId",
        "name.givenName",
        "emails",
        "emails.value",
        "emails.type",
        DEPARTMENT,
    ]);
    prop_oneof![
        (any_attribute.clone(), pick(&["eq", "ne", "co", "sw", "ew"]), strings.clone())
            .prop_map(|(a, op, v)| format!("{a} {op} {}", json!(v))),
        (ordered_attribute, pick(&["gt", "ge", "lt", "le"]), pick(&["a", "b", "engineer", "m", "rd", "ann1", "zz"]))
            .prop_map(|(a, op, v)| format!("{a} {op} {}", json!(v))),
        (pick(&["active", "emails.primary"]), pick(&["eq", "ne"]), any::<bool>())
            .prop_map(|(a, op, v)| format!("{a} {op} {v}")),
        pick(&["title", "externalId", "emails", "name.givenName", DEPARTMENT]).prop_map(|a| format!("{a} pr")),
        (pick(&["work", "home", "WORK"]), strings, pick(&["and", "or"])).prop_map(|(kind, v, join)| format!(
            "emails[type eq {} {join} value co {}]",
            json!(kind),
            json!(v)
        )),
    ]
}

const DEPARTMENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department";

fn filter() -> impl Strategy<Value = String> {
    leaf().prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) and ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) or ({b})")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

#[test]
fn sql_filters_agree_with_the_in_memory_evaluator_sqlite() {
    agreement(&TestStore::sqlite(), 1000);
}

#[test]
fn sql_filters_agree_with_the_in_memory_evaluator_postgres() {
    agreement(&TestStore::postgres(), 300);
}

fn agreement(store: &Store, cases: u32) {
    static TENANTS: AtomicUsize = AtomicUsize::new(0);
    let registry = SchemaRegistry::default();
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    runner
        .run(&(users(), filter()), |(bodies, text)| {
            let acme = tenant(store, &format!("t{}", TENANTS.fetch_add(1, Ordering::Relaxed)));
            let created: Vec<_> = bodies.into_iter().map(|body| create_user(store, &acme, body)).collect();
            let filter = Filter::parse(&text).expect("generated filters parse");
            let (_, found) = store
                .read(|conn| users::list(conn, &acme, Some(&filter), Page::new(1, Some(1000))))
                .unwrap_or_else(|e| panic!("{text}: {e:?}"));
            let mut from_sql: Vec<String> = found.into_iter().map(|r| r.id).collect();
            let mut in_memory: Vec<String> = created
                .iter()
                .filter(|r| {
                    scim::evaluate::matches(
                        &registry,
                        ResourceType::User,
                        &filter,
                        &Value::Object(r.attributes.clone()),
                    )
                })
                .map(|r| r.id.clone())
                .collect();
            from_sql.sort();
            in_memory.sort();
            prop_assert_eq!(
                from_sql,
                in_memory,
                "filter {} on {:?}",
                text,
                created.iter().map(|r| &r.attributes).collect::<Vec<_>>()
            );
            Ok(())
        })
        .unwrap_or_else(|failure| panic!("{failure}"));
}
