//! Service credentials: who may call the directory API. Every HTTP route under `/v1` and every
//! gRPC method requires `Authorization: Bearer <token>`; the directory keeps only the token's
//! SHA-256. A credential is of one tenant or of every tenant (`tenant` absent), and `read` or
//! `write` (reads too, and the manual accounts that SCIM later links to by email). Issued,
//! listed and revoked with `directory-store credentials …` (`standalone directory-credentials …`)
//! against the directory's database. provisioning-core's own credential (global, read: it
//! looks up accounts to link and reconciles) is `DIRECTORY_INTERNAL_TOKEN`, set on both sides.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use diesel::prelude::*;
use platform::db::{DbConnection, now_micros};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::DirectoryError;
use crate::schema::service_credentials;

/// Every token starts with this, so that a leaked one is recognised (secret scanners).
pub const TOKEN_PREFIX: &str = "dirsvc_";
/// The name of provisioning-core's credential.
pub const INTERNAL_NAME: &str = "provisioning-core";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Read,
    Write,
}

impl Scope {
    pub fn parse(text: &str) -> Result<Self, DirectoryError> {
        match text {
            "read" => Ok(Scope::Read),
            "write" => Ok(Scope::Write),
            other => Err(DirectoryError::Invalid(format!("scope is read or write, not {other:?}"))),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
        }
    }
}

/// What an authenticated caller may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub credential_id: String,
    /// `None`: every tenant.
    pub tenant: Option<String>,
    pub scope: Scope,
}

impl Grant {
    /// Refused (403) unless the credential covers `tenant` with at least `scope`.
    pub fn check(&self, tenant: &str, scope: Scope) -> Result<(), DirectoryError> {
        if self.tenant.as_deref().is_some_and(|own| own != tenant) {
            return Err(DirectoryError::Forbidden("this credential is for another tenant".to_owned()));
        }
        if scope == Scope::Write && self.scope == Scope::Read {
            return Err(DirectoryError::Forbidden("this credential may only read (write scope needed)".to_owned()));
        }
        Ok(())
    }

    /// Refused (403) unless the credential covers every tenant.
    pub fn check_all_tenants(&self) -> Result<(), DirectoryError> {
        match &self.tenant {
            None => Ok(()),
            Some(_) => Err(DirectoryError::Forbidden(
                "this credential is for one tenant: name it (?tenant=…) or use a credential of every tenant".to_owned(),
            )),
        }
    }
}

/// A credential as listed (never its token).
#[derive(Debug, Clone, Serialize, Queryable, Selectable)]
#[diesel(table_name = service_credentials)]
pub struct CredentialRecord {
    pub id: String,
    pub name: String,
    pub tenant_id: Option<String>,
    pub scope: String,
    /// The token's first characters, to tell tokens apart.
    pub prefix: String,
    pub internal: bool,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random token: the prefix and 32 random bytes.
pub fn new_token() -> String {
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn check_name(name: &str) -> Result<(), DirectoryError> {
    if name.trim().is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(DirectoryError::Invalid("name is 1 to 100 characters, no control characters".to_owned()));
    }
    Ok(())
}

fn insert(
    conn: &mut DbConnection,
    name: &str,
    tenant: Option<&str>,
    scope: Scope,
    token: &str,
    internal: bool,
) -> Result<CredentialRecord, DirectoryError> {
    let id = uuid::Uuid::now_v7().to_string();
    diesel::insert_into(service_credentials::table)
        .values((
            service_credentials::id.eq(&id),
            service_credentials::name.eq(name.trim()),
            service_credentials::tenant_id.eq(tenant),
            service_credentials::scope.eq(scope.as_str()),
            service_credentials::token_sha256.eq(digest(token)),
            service_credentials::prefix.eq(token.chars().take(TOKEN_PREFIX.len() + 4).collect::<String>()),
            service_credentials::internal.eq(internal),
            service_credentials::created_at.eq(now_micros()),
        ))
        .execute(conn)?;
    Ok(service_credentials::table.find(&id).select(CredentialRecord::as_select()).first(conn)?)
}

/// Issues a credential with a new token (or `given`, one the operator made, e.g. kept in a
/// secret manager: at least 32 characters); the token is returned once and only its hash kept.
pub fn issue(
    conn: &mut DbConnection,
    name: &str,
    tenant: Option<&str>,
    scope: Scope,
    given: Option<&str>,
) -> Result<(CredentialRecord, String), DirectoryError> {
    check_name(name)?;
    if tenant.is_some_and(|t| t.trim().is_empty()) {
        return Err(DirectoryError::Invalid("tenant, when given, is a tenant id".to_owned()));
    }
    let token = match given {
        Some(token) if token.len() < 32 || !token.bytes().all(|b| b.is_ascii_graphic()) => {
            return Err(DirectoryError::Invalid("a given token is at least 32 visible ASCII characters".to_owned()));
        }
        Some(token) => token.to_owned(),
        None => new_token(),
    };
    let taken: i64 = service_credentials::table
        .filter(service_credentials::token_sha256.eq(digest(&token)))
        .count()
        .get_result(conn)?;
    if taken > 0 {
        return Err(DirectoryError::Conflict("a credential with this token exists already".to_owned()));
    }
    Ok((insert(conn, name, tenant, scope, &token, false)?, token))
}

/// Makes provisioning-core's credential the one of `token` (global, read): revokes an internal
/// one of another token, keeps the same one. Run at every start with `DIRECTORY_INTERNAL_TOKEN`.
pub fn ensure_internal(conn: &mut DbConnection, token: &str) -> Result<(), DirectoryError> {
    if token.len() < 24 {
        return Err(DirectoryError::Invalid("DIRECTORY_INTERNAL_TOKEN must be at least 24 characters".to_owned()));
    }
    let hash = digest(token);
    diesel::update(
        service_credentials::table
            .filter(service_credentials::internal.eq(true))
            .filter(service_credentials::revoked_at.is_null())
            .filter(service_credentials::token_sha256.ne(&hash)),
    )
    .set(service_credentials::revoked_at.eq(now_micros()))
    .execute(conn)?;
    let live: i64 = service_credentials::table
        .filter(service_credentials::token_sha256.eq(&hash))
        .filter(service_credentials::revoked_at.is_null())
        .count()
        .get_result(conn)?;
    if live == 0 {
        // A revoked row of the same hash would block the insert (the hash is unique).
        diesel::delete(service_credentials::table.filter(service_credentials::token_sha256.eq(&hash))).execute(conn)?;
        insert(conn, INTERNAL_NAME, None, Scope::Read, token, true)?;
    }
    Ok(())
}

pub fn list(conn: &mut DbConnection) -> Result<Vec<CredentialRecord>, DirectoryError> {
    Ok(service_credentials::table
        .order(service_credentials::id.asc())
        .select(CredentialRecord::as_select())
        .load(conn)?)
}

/// Revokes a credential at once (its next request is refused).
pub fn revoke(conn: &mut DbConnection, id: &str) -> Result<(), DirectoryError> {
    let changed = diesel::update(service_credentials::table.find(id).filter(service_credentials::revoked_at.is_null()))
        .set(service_credentials::revoked_at.eq(now_micros()))
        .execute(conn)?;
    if changed == 0 {
        return Err(DirectoryError::NotFound("live credential"));
    }
    Ok(())
}

/// The grant of a presented bearer token; 401 when it is unknown or revoked.
pub fn authenticate(conn: &mut DbConnection, token: &str) -> Result<Grant, DirectoryError> {
    let found: Option<(String, Option<String>, String)> = service_credentials::table
        .filter(service_credentials::token_sha256.eq(digest(token)))
        .filter(service_credentials::revoked_at.is_null())
        .select((service_credentials::id, service_credentials::tenant_id, service_credentials::scope))
        .first(conn)
        .optional()?;
    let (credential_id, tenant, scope) =
        found.ok_or_else(|| DirectoryError::Unauthorized("the credential is unknown or revoked".to_owned()))?;
    Ok(Grant { credential_id, tenant, scope: Scope::parse(&scope)? })
}

/// The token of an `Authorization` header or gRPC metadata value.
pub fn presented(value: Option<&str>) -> Result<&str, DirectoryError> {
    value.and_then(proto::credential::bearer_token).ok_or_else(|| {
        DirectoryError::Unauthorized(
            "an 'Authorization: Bearer <token>' header with a directory service credential is required".to_owned(),
        )
    })
}

const USAGE: &str = "usage: credentials <command>  (DATABASE_URL: the directory's database)
  credentials issue <name> [--tenant <tenant id>] [--scope read|write] [--token-env <VAR>]
      (default: every tenant, read, a new token; --token-env: register the token in $VAR instead)
  credentials list
  credentials revoke <credential id>";

/// `credentials …` on the command line: prints JSON; the token of an issued credential is shown
/// once.
pub fn command(directory: &crate::Directory, arguments: &[String]) -> anyhow::Result<()> {
    let words: Vec<&str> = arguments.iter().map(String::as_str).collect();
    let printed = match words.as_slice() {
        ["issue", name, options @ ..] => {
            let (mut tenant, mut scope, mut given) = (None, Scope::Read, None);
            let mut rest = options.iter();
            while let Some(option) = rest.next() {
                let value = rest.next().ok_or_else(|| anyhow::anyhow!("{option} needs a value\n{USAGE}"))?;
                match *option {
                    "--tenant" => tenant = Some(value.to_string()),
                    "--scope" => scope = Scope::parse(value)?,
                    "--token-env" => {
                        given = Some(std::env::var(value).map_err(|_| anyhow::anyhow!("{value} is not set"))?);
                    }
                    other => anyhow::bail!("unknown option {other}\n{USAGE}"),
                }
            }
            let shown = given.is_none();
            let (record, token) =
                directory.write(|conn| issue(conn, name, tenant.as_deref(), scope, given.as_deref()))?;
            if shown {
                serde_json::json!({ "credential": record, "token": token })
            } else {
                serde_json::json!({ "credential": record })
            }
        }
        ["list"] => serde_json::json!({ "credentials": directory.read(list)? }),
        ["revoke", id] => {
            directory.write(|conn| revoke(conn, id))?;
            serde_json::json!({ "revoked": id })
        }
        _ => anyhow::bail!("{USAGE}"),
    };
    println!("{}", serde_json::to_string_pretty(&printed)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(tenant: Option<&str>, scope: Scope) -> Grant {
        Grant { credential_id: "c".into(), tenant: tenant.map(str::to_owned), scope }
    }

    #[test]
    fn grants_cover_their_tenant_and_scope() {
        assert!(grant(None, Scope::Read).check("acme", Scope::Read).is_ok());
        assert!(grant(None, Scope::Read).check("acme", Scope::Write).is_err());
        assert!(grant(Some("acme"), Scope::Write).check("acme", Scope::Write).is_ok());
        assert!(grant(Some("acme"), Scope::Write).check("globex", Scope::Read).is_err());
        assert!(grant(Some("acme"), Scope::Read).check_all_tenants().is_err());
        assert!(grant(None, Scope::Read).check_all_tenants().is_ok());
    }

    #[test]
    fn tokens_are_prefixed_and_headers_parsed() {
        let token = new_token();
        assert!(token.starts_with(TOKEN_PREFIX) && token.len() == TOKEN_PREFIX.len() + 43, "{token}");
        assert_ne!(token, new_token());
        assert_eq!(presented(Some("Bearer abc")).ok(), Some("abc"));
        for bad in [None, Some(""), Some("Basic abc"), Some("Bearer ")] {
            assert!(matches!(presented(bad), Err(DirectoryError::Unauthorized(_))), "{bad:?}");
        }
    }
}
