//! Accounts the product creates by hand (origin `manual`): not from SCIM, so they are not in the
//! change topic. SCIM can later link a user to one with the same email (provisioning-core asks
//! `FindAccounts` first); the link event then takes the row over.

use diesel::prelude::*;
use diesel::sql_types::Text;
use platform::db::{Backend, DbConnection, now_micros};
use serde::Deserialize;

use crate::error::DirectoryError;
use crate::read;
use crate::records::{AccountRecord, Origin, email_key};
use crate::schema::accounts;

/// The longest text a field may hold, in characters.
pub const MAX_FIELD_CHARS: usize = 256;

/// The request body of `POST /v1/tenants/{tenant}/accounts`, as sent.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccountRequest {
    pub email: Option<String>,
    pub user_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: Option<String>,
}

/// A valid new manual account: fields trimmed, optional ones `None` when blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    email: String,
    user_name: String,
    given_name: Option<String>,
    family_name: Option<String>,
    display_name: Option<String>,
}

impl NewAccount {
    pub fn parse(request: NewAccountRequest) -> Result<Self, DirectoryError> {
        let NewAccountRequest { email, user_name, given_name, family_name, display_name } = request;
        let email = parse_email(email.as_deref())?;
        let user_name = match optional_text("user_name", user_name.as_deref())? {
            Some(user_name) => user_name,
            None if user_name.is_some() => {
                return Err(invalid("user_name must not be blank (leave it out to use the email)"));
            }
            None => email.clone(),
        };
        Ok(Self {
            email,
            user_name,
            given_name: optional_text("given_name", given_name.as_deref())?,
            family_name: optional_text("family_name", family_name.as_deref())?,
            display_name: optional_text("display_name", display_name.as_deref())?,
        })
    }
}

fn invalid(detail: impl Into<String>) -> DirectoryError {
    DirectoryError::Invalid(detail.into())
}

fn parse_email(email: Option<&str>) -> Result<String, DirectoryError> {
    let email = optional_text("email", email)?.ok_or_else(|| invalid("email is required"))?;
    if email.chars().any(char::is_whitespace) {
        return Err(invalid("email must not contain spaces"));
    }
    match email.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => Ok(email),
        _ => Err(invalid("email must be an address with text on both sides of '@', such as name@example.com")),
    }
}

/// Trimmed text, `None` when absent or blank; at most [`MAX_FIELD_CHARS`], no control characters.
fn optional_text(field: &str, text: Option<&str>) -> Result<Option<String>, DirectoryError> {
    let Some(text) = text.map(str::trim).filter(|text| !text.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > MAX_FIELD_CHARS {
        return Err(invalid(format!("{field} may be at most {MAX_FIELD_CHARS} characters")));
    }
    if text.chars().any(char::is_control) {
        return Err(invalid(format!("{field} must not contain control characters")));
    }
    Ok(Some(text.to_owned()))
}

/// Creates a manual account, refused when a live account of the tenant has the same email
/// (case-insensitive). Runs in the caller's write transaction.
pub fn create(conn: &mut DbConnection, tenant: &str, new: NewAccount) -> Result<AccountRecord, DirectoryError> {
    let NewAccount { email, user_name, given_name, family_name, display_name } = new;
    let key = email_key(&email);
    if conn.backend() == Backend::Postgres {
        // Two creations with one email would each find none and both insert: the second waits
        // here until the first commits. (SQLite writers are serialized already.)
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind::<Text, _>(format!("directory-store manual account\u{1f}{tenant}\u{1f}{key}"))
            .execute(conn)?;
    }
    let taken: i64 = accounts::table
        .filter(accounts::tenant_id.eq(tenant))
        .filter(accounts::email_key.eq(&key))
        .filter(accounts::deleted.eq(false))
        .count()
        .get_result(conn)?;
    if taken > 0 {
        return Err(DirectoryError::Conflict("a live account of this tenant already has this email".to_owned()));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let now = now_micros();
    diesel::insert_into(accounts::table)
        .values((
            accounts::tenant_id.eq(tenant),
            accounts::id.eq(&id),
            accounts::user_name.eq(&user_name),
            accounts::active.eq(true),
            accounts::email.eq(&email),
            accounts::email_key.eq(&key),
            accounts::given_name.eq(&given_name),
            accounts::family_name.eq(&family_name),
            accounts::display_name.eq(&display_name),
            accounts::roles.eq("[]"),
            accounts::permissions.eq("[]"),
            accounts::custom_fields.eq("{}"),
            accounts::origin.eq(Origin::Manual.as_str()),
            accounts::version.eq(0_i64),
            accounts::deleted.eq(false),
            accounts::purged.eq(false),
            accounts::created_at.eq(now),
            accounts::updated_at.eq(now),
        ))
        .execute(conn)?;
    read::account(conn, tenant, &id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(email: Option<&str>) -> NewAccountRequest {
        NewAccountRequest {
            email: email.map(str::to_owned),
            user_name: None,
            given_name: None,
            family_name: None,
            display_name: None,
        }
    }

    fn detail(result: Result<NewAccount, DirectoryError>) -> String {
        match result {
            Err(DirectoryError::Invalid(detail)) => detail,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn the_email_is_required_and_an_address() {
        assert_eq!(detail(NewAccount::parse(request(None))), "email is required");
        assert_eq!(detail(NewAccount::parse(request(Some("  ")))), "email is required");
        for bad in ["alice", "@example.com", "alice@", "@", "al ice@example.com"] {
            assert!(detail(NewAccount::parse(request(Some(bad)))).starts_with("email must"), "{bad}");
        }
        let long = format!("{}@example.com", "a".repeat(MAX_FIELD_CHARS));
        assert_eq!(detail(NewAccount::parse(request(Some(&long)))), "email may be at most 256 characters");
    }

    #[test]
    fn the_user_name_defaults_to_the_email_and_blanks_are_absent() {
        let parsed = NewAccount::parse(NewAccountRequest {
            given_name: Some("  ".to_owned()),
            family_name: Some(" Doe ".to_owned()),
            ..request(Some(" Alice@Example.com "))
        })
        .unwrap();
        assert_eq!(
            parsed,
            NewAccount {
                email: "Alice@Example.com".to_owned(),
                user_name: "Alice@Example.com".to_owned(),
                given_name: None,
                family_name: Some("Doe".to_owned()),
                display_name: None,
            }
        );
        let blank = NewAccountRequest { user_name: Some(" ".to_owned()), ..request(Some("a@b")) };
        assert!(detail(NewAccount::parse(blank)).starts_with("user_name must not be blank"));
        let control = NewAccountRequest { display_name: Some("a\u{0}b".to_owned()), ..request(Some("a@b")) };
        assert_eq!(detail(NewAccount::parse(control)), "display_name must not contain control characters");
    }
}
