//! Background re-publishing: a change of a team that grants permissions to more users than a
//! request re-publishes itself (a create, a rename, a delete) hands them to a job, which goes
//! through them in bounded batches, resumes from its committed cursor, and publishes each
//! user's new record once.

use std::collections::BTreeMap;

use provisioning_core::mapping::MappingConfig;
use provisioning_core::republish::{self, BATCH};
use provisioning_core::store::tenants::{TenantId, set_mapping};
use provisioning_core::store::{Store, StoredResource};
use provisioning_core::store::{jobs, outbox};
use provisioning_core::write::publish::REPUBLISHED_IN_REQUEST;
use scim::GroupInput;
use serde_json::json;

use crate::pipeline::{groups, users};
use crate::{TestStore, account, take_events, tenant, user_input};

const USERS: usize = REPUBLISHED_IN_REQUEST + 50;

#[test]
fn large_team_changes_republish_in_the_background_sqlite() {
    large_team_changes_republish_in_the_background(&TestStore::sqlite());
}

#[test]
fn large_team_changes_republish_in_the_background_postgres() {
    large_team_changes_republish_in_the_background(&TestStore::postgres());
}

/// Each user's permissions in the `user.updated` events taken now; fails on a user published
/// twice.
fn published_permissions(store: &Store) -> BTreeMap<String, Vec<String>> {
    let mut published = BTreeMap::new();
    for (row, event) in take_events(store) {
        assert_eq!(row.event_type, "user.updated", "only members are re-published: {row:?}");
        let before = published.insert(row.resource_id.clone(), account(&event).permissions.clone());
        assert!(before.is_none(), "{} published twice", row.resource_id);
    }
    published
}

/// Marks every event so far published, however many.
fn skip_events(store: &Store) {
    loop {
        let rows = store.read(|conn| outbox::pending(conn, 1000)).expect("reading the outbox");
        if rows.is_empty() {
            return;
        }
        let seqs: Vec<i64> = rows.iter().map(|row| row.seq).collect();
        store.write(|conn| outbox::mark_published(conn, &seqs)).expect("marking published");
    }
}

/// Runs the open jobs to their end, taking the events of each batch; fails on a user published
/// twice.
fn drain(store: &Store) -> BTreeMap<String, Vec<String>> {
    let mut published = BTreeMap::new();
    while republish::run_batch(store).expect("a batch").is_some() {
        for (id, permissions) in published_permissions(store) {
            assert!(published.insert(id.clone(), permissions).is_none(), "{id} published twice");
        }
    }
    published
}

/// Runs one batch; returns (handled, published, finished).
fn one_batch(store: &Store) -> (i64, i64, bool) {
    let progress = republish::run_batch(store).expect("a batch").expect("an open job");
    (progress.handled, progress.published, progress.finished)
}

fn open_job(store: &Store, tenant: &TenantId) -> jobs::JobRow {
    let all = store.read(|conn| jobs::of_tenant(conn, tenant.as_str(), 10)).expect("jobs");
    let open: Vec<_> = all.into_iter().filter(|job| job.finished_at.is_none()).collect();
    assert_eq!(open.len(), 1, "one open job: {open:?}");
    open.into_iter().next().expect("one")
}

fn large_team_changes_republish_in_the_background(store: &Store) {
    let acme = tenant(store, "acme");
    let table = json!({"Staff": ["read"], "Everyone": ["all"]});
    let permissions = serde_json::from_value(table).expect("a permissions table");
    store.write(|conn| set_mapping(conn, acme.as_str(), &MappingConfig::default(), &permissions)).expect("mapping");
    let created: Vec<StoredResource> = store
        .write(|conn| {
            (0..USERS)
                .map(|n| users::create(conn, &acme, user_input(json!({"userName": format!("u{n:05}@example.com")}))))
                .collect()
        })
        .expect("users");
    let ids: Vec<String> = created.into_iter().map(|user| user.id).collect();
    skip_events(store);
    assert_eq!(republish::run_batch(store).expect("no job"), None, "no job yet");

    // A team of more users than a request re-publishes: the create commits with its own
    // events only, and a job holds the members.
    let members: Vec<serde_json::Value> = ids.iter().map(|id| json!({"value": id})).collect();
    let input = GroupInput::from_body(json!({"displayName": "Staff", "members": members})).expect("a group");
    let group = store.write(|conn| groups::create(conn, &acme, input)).expect("the group");
    let events = take_events(store);
    assert_eq!(events.iter().map(|(row, _)| row.event_type.as_str()).collect::<Vec<_>>(), ["group.created"]);
    let job = open_job(store, &acme);
    assert_eq!((job.state(), job.total, job.scope.as_str()), ("pending", USERS as i64, jobs::SCOPE_LISTED));
    assert!(job.reason.contains("created"), "{job:?}");

    // One batch: BATCH users, in id order, committed with the job's cursor.
    assert_eq!(one_batch(store), (BATCH, BATCH, false));
    let first = published_permissions(store);
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(first.keys().cloned().collect::<Vec<_>>(), sorted[..BATCH as usize].to_vec());
    assert!(first.values().all(|p| p == &["read"]), "{first:?}");
    let job = open_job(store, &acme);
    assert_eq!(
        (job.state(), job.done, job.cursor.as_deref()),
        ("running", BATCH, Some(sorted[BATCH as usize - 1].as_str()))
    );

    // Resumed by another store on the same database (a restarted core): the rest, once each.
    let restarted = Store::new(store.database().clone());
    let rest = drain(&restarted);
    assert_eq!(first.len() + rest.len(), USERS, "every member once");
    assert!(rest.keys().all(|id| !first.contains_key(id)));
    let done = store.read(|conn| jobs::find(conn, acme.as_str(), &job.id)).expect("job").expect("kept");
    assert_eq!((done.state(), done.done, done.published), ("done", USERS as i64, USERS as i64));

    // A rename moves every member's permissions: a job again, the members copied in one go.
    let renamed = store
        .write(|conn| {
            groups::update(conn, &acme, &group.id, None, |mut attributes, members| {
                attributes.insert("displayName".to_owned(), json!("Everyone"));
                let members: Vec<serde_json::Value> = members.iter().map(|id| json!({"value": id})).collect();
                attributes.insert("members".to_owned(), json!(members));
                Ok(GroupInput::from_body(serde_json::Value::Object(attributes))?)
            })
        })
        .expect("renamed");
    assert_eq!(renamed.version, 2);
    let events = take_events(store);
    assert_eq!(events.iter().map(|(row, _)| row.event_type.as_str()).collect::<Vec<_>>(), ["group.updated"]);
    assert!(open_job(store, &acme).reason.contains("renamed"));
    let after_rename = drain(store);
    assert_eq!(after_rename.len(), USERS);
    assert!(after_rename.values().all(|p| p == &["all"]), "the new team's permissions");

    // Deleted: the members' list is copied before the rows go; each loses the permissions.
    store.write(|conn| groups::delete(conn, &acme, &group.id, None)).expect("deleted");
    let events = take_events(store);
    assert_eq!(events.len(), 1);
    let (row, deleted) = &events[0];
    assert_eq!(row.event_type, "group.deleted");
    assert!(deleted.added_member_ids.is_empty() && deleted.removed_member_ids.is_empty(), "a bounded event");
    let after_delete = drain(store);
    assert_eq!(after_delete.len(), USERS);
    assert!(after_delete.values().all(Vec::is_empty), "no team, no permissions");

    // Rules changed twice in a row make one tenant job, started over from its first phase.
    let first = store.write(|conn| jobs::tenant_job(conn, &acme, "mapping changed")).expect("job");
    assert_eq!(one_batch(store), (0, 0, false), "no group left: the groups phase ends at once");
    assert_eq!(one_batch(store), (BATCH, 0, false), "users: nothing changed, nothing published");
    let job = open_job(store, &acme);
    assert_eq!((job.phase.as_str(), job.done), (jobs::PHASE_USERS, BATCH));
    let second = store.write(|conn| jobs::tenant_job(conn, &acme, "group permissions changed")).expect("job");
    assert_eq!(first, second);
    let job = open_job(store, &acme);
    assert_eq!(
        (job.reason.as_str(), job.phase.as_str(), job.cursor.as_deref(), job.done, job.total),
        ("group permissions changed", jobs::PHASE_GROUPS, None, 0, USERS as i64)
    );
    assert!(drain(store).is_empty(), "nothing changed: nothing published");
    let done = store.read(|conn| jobs::find(conn, acme.as_str(), &first)).expect("job").expect("kept");
    assert_eq!((done.state(), done.done, done.skipped), ("done", USERS as i64, 0));
    // A finished job is never restarted: the next change makes a new one.
    let third = store.write(|conn| jobs::tenant_job(conn, &acme, "mapping changed")).expect("job");
    assert_ne!(third, first);
    assert!(drain(store).is_empty());
}

#[test]
fn two_workers_share_the_jobs_and_publish_each_user_once_sqlite() {
    two_workers_share_the_jobs_and_publish_each_user_once(&TestStore::sqlite());
}

#[test]
fn two_workers_share_the_jobs_and_publish_each_user_once_postgres() {
    two_workers_share_the_jobs_and_publish_each_user_once(&TestStore::postgres());
}

/// Every `user.updated` event so far, however many: user id → permissions of each.
fn all_user_updates(store: &Store) -> BTreeMap<String, Vec<Vec<String>>> {
    let mut updates: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
    loop {
        let rows = store.read(|conn| outbox::pending(conn, 1000)).expect("reading the outbox");
        if rows.is_empty() {
            return updates;
        }
        let seqs: Vec<i64> = rows.iter().map(|row| row.seq).collect();
        for row in rows.into_iter().filter(|row| row.event_type == "user.updated") {
            let event = <proto::ChangeEvent as prost::Message>::decode(row.payload.as_slice()).expect("an event");
            updates.entry(row.resource_id.clone()).or_default().push(account(&event).permissions.clone());
        }
        store.write(|conn| outbox::mark_published(conn, &seqs)).expect("marking published");
    }
}

/// Two core replicas (two stores on one database, each running batches on its own thread) go
/// through two jobs at once: each job's users once, each user's final record published once.
fn two_workers_share_the_jobs_and_publish_each_user_once(store: &Store) {
    let acme = tenant(store, "acme");
    let permissions = serde_json::from_value(json!({"A": ["a"], "B": ["b"]})).expect("a permissions table");
    store.write(|conn| set_mapping(conn, acme.as_str(), &MappingConfig::default(), &permissions)).expect("mapping");
    let mut ids: Vec<String> = store
        .write(|conn| {
            (0..USERS)
                .map(|n| users::create(conn, &acme, user_input(json!({"userName": format!("w{n:05}@example.com")}))))
                .map(|user| user.map(|user| user.id))
                .collect::<Result<Vec<_>, _>>()
        })
        .expect("users");
    ids.sort();
    skip_events(store);
    // A: the first 1,020 users; B: the last 1,020 (more than a request re-publishes, each).
    let (a_members, b_members) = (&ids[..1020], &ids[USERS - 1020..]);
    for (name, members) in [("A", a_members), ("B", b_members)] {
        let members: Vec<serde_json::Value> = members.iter().map(|id| json!({"value": id})).collect();
        let input = GroupInput::from_body(json!({"displayName": name, "members": members})).expect("a group");
        store.write(|conn| groups::create(conn, &acme, input)).expect("a group");
    }
    let jobs_made = store.read(|conn| jobs::of_tenant(conn, acme.as_str(), 10)).expect("jobs");
    assert_eq!(jobs_made.len(), 2, "{jobs_made:?}");

    let database = store.database().clone();
    std::thread::scope(|scope| {
        for _ in 0..2 {
            let replica = Store::new(database.clone());
            scope.spawn(move || while republish::run_batch(&replica).expect("a batch").is_some() {});
        }
    });
    // A worker that found the other's job locked may have stopped early: finish what is left.
    while republish::run_batch(store).expect("a batch").is_some() {}

    let updates = all_user_updates(store);
    assert_eq!(updates.len(), USERS, "every member re-published");
    for (index, id) in ids.iter().enumerate() {
        let expected: Vec<&str> = match (index < 1020, index >= USERS - 1020) {
            (true, true) => vec!["a", "b"],
            (true, false) => vec!["a"],
            _ => vec!["b"],
        };
        let published = &updates[id];
        assert_eq!(published.len(), 1, "{id} published once: {published:?}");
        assert_eq!(published[0], expected, "{id}'s permissions from both teams");
    }
    let finished = store.read(|conn| jobs::of_tenant(conn, acme.as_str(), 10)).expect("jobs");
    assert!(finished.iter().all(|job| job.state() == "done" && job.done == 1020), "{finished:?}");
}

#[test]
fn a_record_too_large_to_publish_is_skipped_and_noted_sqlite() {
    a_record_too_large_to_publish_is_skipped_and_noted(&TestStore::sqlite());
}

#[test]
fn a_record_too_large_to_publish_is_skipped_and_noted_postgres() {
    a_record_too_large_to_publish_is_skipped_and_noted(&TestStore::postgres());
}

/// A user whose record would make an event above the bound (stored before events were
/// bounded: here written straight into its row) is left as it was, counted and noted; the job
/// finishes and the other users are handled.
fn a_record_too_large_to_publish_is_skipped_and_noted(store: &Store) {
    use diesel::prelude::*;
    use provisioning_core::schema::scim_users;

    let acme = tenant(store, "acme");
    let created: Vec<StoredResource> = store
        .write(|conn| {
            (0..3)
                .map(|n| users::create(conn, &acme, user_input(json!({"userName": format!("s{n}@example.com")}))))
                .collect()
        })
        .expect("users");
    skip_events(store);
    let huge = &created[1].id;
    let attributes = json!({"userName": "s1@example.com", "displayName": "x".repeat(600 * 1024)}).to_string();
    let record_version = |store: &Store| -> i64 {
        store
            .read(|conn| {
                Ok::<_, provisioning_core::error::CoreError>(
                    scim_users::table
                        .find((acme.as_str(), huge.as_str()))
                        .select(scim_users::record_version)
                        .first(conn)?,
                )
            })
            .expect("the row")
    };
    store
        .write(|conn| {
            diesel::update(scim_users::table.find((acme.as_str(), huge.as_str())))
                .set(scim_users::attributes.eq(&attributes))
                .execute(conn)
                .map_err(provisioning_core::error::CoreError::from)
        })
        .expect("a huge display name");
    let before = record_version(store);

    let id = store.write(|conn| jobs::tenant_job(conn, &acme, "mapping changed")).expect("job");
    assert!(drain(store).is_empty(), "the others' records did not change; the huge one is not published");
    let job = store.read(|conn| jobs::find(conn, acme.as_str(), &id)).expect("job").expect("kept");
    assert_eq!((job.state(), job.done, job.published, job.skipped), ("done", 3, 0, 1), "{job:?}");
    let note = job.last_error.unwrap_or_default();
    assert!(note.contains(huge.as_str()) && note.contains("bytes"), "the note names the user and why: {note}");
    assert_eq!(record_version(store), before, "nothing of it was written");
}
