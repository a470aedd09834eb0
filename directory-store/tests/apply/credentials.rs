//! Service credentials in the directory's database: only hashes stored, the internal one kept
//! equal to DIRECTORY_INTERNAL_TOKEN across restarts, revocation effective at once.

use directory_store::Directory;
use directory_store::credentials::{self, Grant, Scope};
use directory_store::error::DirectoryError;

use crate::TestDirectory;

#[test]
fn credentials_are_hashed_kept_and_revoked_sqlite() {
    credentials_are_hashed_kept_and_revoked(&TestDirectory::sqlite());
}

#[test]
fn credentials_are_hashed_kept_and_revoked_postgres() {
    credentials_are_hashed_kept_and_revoked(&TestDirectory::postgres());
}

fn grant(directory: &Directory, token: &str) -> Result<Grant, DirectoryError> {
    directory.read(|conn| credentials::authenticate(conn, token))
}

fn credentials_are_hashed_kept_and_revoked(directory: &Directory) {
    let (record, token) =
        directory.write(|conn| credentials::issue(conn, "billing", Some("acme"), Scope::Read, None)).expect("issuing");
    assert_eq!((record.tenant_id.as_deref(), record.scope.as_str()), (Some("acme"), "read"));
    let found = grant(directory, &token).expect("the token authenticates");
    assert_eq!((found.tenant.as_deref(), found.scope), (Some("acme"), Scope::Read));
    assert!(matches!(grant(directory, "dirsvc_other"), Err(DirectoryError::Unauthorized(_))));
    let stored = format!("{:?}", directory.read(credentials::list).expect("listing"));
    assert!(!stored.contains(&token), "no token is listed");

    // The internal credential: the same token twice is one credential; a new token replaces it.
    let first = "dirsvc_internal_first_token_0123456789";
    directory.write(|conn| credentials::ensure_internal(conn, first)).expect("ensuring");
    directory.write(|conn| credentials::ensure_internal(conn, first)).expect("ensuring again");
    let internal = |d: &Directory| {
        d.read(credentials::list).expect("listing").into_iter().filter(|c| c.internal && c.revoked_at.is_none()).count()
    };
    assert_eq!(internal(directory), 1);
    assert_eq!(grant(directory, first).expect("internal").scope, Scope::Read);
    let second = "dirsvc_internal_second_token_0123456789";
    directory.write(|conn| credentials::ensure_internal(conn, second)).expect("rotating");
    assert_eq!(internal(directory), 1);
    assert!(grant(directory, first).is_err(), "the old internal token is revoked");
    assert!(grant(directory, second).expect("the new one").tenant.is_none());
    // Back to the first (a rollback of the Secret): it works again.
    directory.write(|conn| credentials::ensure_internal(conn, first)).expect("back");
    assert!(grant(directory, first).is_ok() && grant(directory, second).is_err());
    assert!(directory.write(|conn| credentials::ensure_internal(conn, "short")).is_err());

    // A given token is registered once; revocation is at once.
    let given = "dirsvc_made_by_the_operator_0123456789";
    directory.write(|conn| credentials::issue(conn, "ops", None, Scope::Write, Some(given))).expect("registering");
    let again = directory.write(|conn| credentials::issue(conn, "ops", None, Scope::Write, Some(given)));
    assert!(matches!(again, Err(DirectoryError::Conflict(_))), "{again:?}");
    assert!(directory.write(|conn| credentials::issue(conn, "ops", None, Scope::Write, Some("short"))).is_err());
    directory.write(|conn| credentials::revoke(conn, &record.id)).expect("revoking");
    assert!(matches!(grant(directory, &token), Err(DirectoryError::Unauthorized(_))));
    assert!(matches!(directory.write(|conn| credentials::revoke(conn, &record.id)), Err(DirectoryError::NotFound(_))));
}
