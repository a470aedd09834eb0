//! Migration 2 (accounts_v2) on a directory that already holds accounts: each keeps its id as its
//! SCIM user id (so its events still apply by version) and gets its email key; reverting and
//! re-running it works.

use diesel::connection::SimpleConnection;
use diesel_migrations::MigrationHarness;
use directory_store::apply::Applied;
use directory_store::{Directory, MIGRATIONS_POSTGRES, MIGRATIONS_SQLITE};
use platform::db::DbConnection;

use crate::{StoredAccount, TestDirectory, account, account_event, apply, find_by_email, stored_account};

#[test]
fn existing_accounts_become_their_scim_users_sqlite() {
    existing_accounts_become_their_scim_users(&TestDirectory::sqlite());
}

#[test]
fn existing_accounts_become_their_scim_users_postgres() {
    existing_accounts_become_their_scim_users(&TestDirectory::postgres());
}

fn existing_accounts_become_their_scim_users(directory: &Directory) {
    {
        let mut conn = directory.database().get().expect("a connection");
        // Back to the first schema: the migrations after accounts_v2 (service_credentials,
        // dead_letters, email_order), then it.
        for _ in 0..4 {
            match &mut *conn {
                DbConnection::Postgresql(conn) => conn.revert_last_migration(MIGRATIONS_POSTGRES).map(|_| ()),
                DbConnection::Sqlite(conn) => conn.revert_last_migration(MIGRATIONS_SQLITE).map(|_| ()),
            }
            .expect("reverting a migration");
        }
        conn.batch_execute(
            "INSERT INTO accounts (tenant_id, id, user_name, active, email, roles, version, deleted, updated_at) \
             VALUES ('acme', 'u1', 'alice', TRUE, ' Ärger@Example.COM ', '[\"admin\"]', 3, FALSE, 10), \
                    ('acme', 'u2', 'bob', TRUE, NULL, '[]', 1, FALSE, 10); \
             INSERT INTO teams (tenant_id, id, name, version, deleted, updated_at) \
             VALUES ('acme', 't1', 'Staff', 1, FALSE, 10);",
        )
        .expect("inserting accounts of the first schema");
    }
    assert_eq!(directory.database().migrate(MIGRATIONS_POSTGRES, MIGRATIONS_SQLITE).expect("migrating"), 4);

    assert_eq!(
        stored_account(directory, "u1"),
        StoredAccount {
            user_name: "alice".to_owned(),
            external_id: None,
            email: Some(" Ärger@Example.COM ".to_owned()),
            email_key: Some("ärger@example.com".to_owned()),
            given_name: None,
            roles: "[\"admin\"]".to_owned(),
            permissions: "[]".to_owned(),
            custom_fields: "{}".to_owned(),
            scim_user_id: Some("u1".to_owned()),
            origin: "scim".to_owned(),
            version: 3,
            deleted: false,
            purge_after: None,
            purged: false,
        }
    );
    assert_eq!(stored_account(directory, "u2").email_key, None);
    assert_eq!(find_by_email(directory, "ärger@EXAMPLE.com"), ["u1"]);
    assert!(crate::team(directory, "t1").expect("the team").permissions.is_empty());

    // Its events still compare by version.
    assert_eq!(apply(directory, &account_event("u1", 3, "replayed")), Applied::Stale);
    assert_eq!(apply(directory, &account_event("u1", 4, "alice.b")), Applied::Applied);
    assert_eq!(account(directory, "u1").expect("the account").user_name, "alice.b");
}
