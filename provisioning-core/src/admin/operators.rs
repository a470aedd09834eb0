//! Operator identities of the admin API: who calls (a named key, or `ADMIN_TOKEN`), what its scope
//! lets it do, the keys' management (`/admin/v1/operator-keys`), and the audit log of every
//! change made through the API (`/admin/v1/audit`), written by [`audit`] around each request.
//!
//! Scopes: `read_only` reads everything (GET); `tenant_admin` also changes tenants (everything
//! under `/admin/v1/tenants`: tokens, settings, mappings, portal sessions, repairs); `full` does
//! everything, operator keys and webhooks included. Operator keys are managed with `full` only.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Admin, AdminError, Answer, body, time};
use crate::store::operators::{self, AuditEntry, NewAuditEntry, OperatorKey, Scope};

/// Who called, once authenticated.
#[derive(Debug, Clone)]
pub(super) struct Identity {
    pub name: String,
    pub key_id: Option<String>,
    pub scope: Scope,
}

/// Who the audit log names for a request, kept in the request's extensions: the caller as
/// identified, allowed or refused. It carries no scope, so it can never stand for an
/// authenticated caller.
#[derive(Debug, Clone)]
struct Audited {
    name: String,
    key_id: Option<String>,
}

impl Audited {
    fn of(identity: &Identity) -> Self {
        Self { name: identity.name.clone(), key_id: identity.key_id.clone() }
    }
}

/// The name `ADMIN_TOKEN` has in the audit log.
pub const ADMIN_TOKEN_NAME: &str = "ADMIN_TOKEN";

/// The scope a request needs.
pub(super) fn required_scope(method: &Method, path: &str) -> Scope {
    if path.starts_with("/admin/v1/operator-keys") {
        Scope::Full
    } else if matches!(*method, Method::GET | Method::HEAD) {
        Scope::ReadOnly
    } else if path.starts_with("/admin/v1/tenants") {
        Scope::TenantAdmin
    } else {
        Scope::Full
    }
}

/// The caller of `request`: `ADMIN_TOKEN`, an SSO token (`oidc`) or a live operator key; 401
/// otherwise.
async fn identify(admin: &web::Data<Admin>, request: &HttpRequest) -> Result<Identity, AdminError> {
    let presented = request
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(proto::credential::bearer_token)
        .ok_or_else(|| {
            AdminError::new(401, "an 'Authorization: Bearer <admin token or operator key>' header is required")
        })?;
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    if admin.credential.as_ref().is_some_and(|expected| bool::from(digest.ct_eq(expected))) {
        return Ok(Identity { name: ADMIN_TOKEN_NAME.to_owned(), key_id: None, scope: Scope::Full });
    }
    if let Some(verifier) = &admin.oidc
        && super::oidc::looks_like_jwt(presented)
    {
        let (identity, refusal) = verifier.verify(presented).await?;
        return match refusal {
            None => Ok(identity),
            Some(detail) => {
                // Refused, but the audit log names who it was.
                request.extensions_mut().insert(Audited::of(&identity));
                Err(AdminError::new(403, detail))
            }
        };
    }
    let hash = hex::encode(digest);
    let found = admin.store(move |store| operators::authenticate(store, &hash)).await?;
    match found {
        Some(key) if key.revoked_at.is_none() => {
            Ok(Identity { scope: key.scope(), name: key.name, key_id: Some(key.id) })
        }
        Some(key) => {
            let detail = format!(
                "operator key '{}' ({}) was revoked at {}",
                key.name,
                key.id,
                key.revoked_at.and_then(time).unwrap_or_default()
            );
            // Refused, but the audit log names whose key it was.
            request.extensions_mut().insert(Audited { name: key.name, key_id: Some(key.id) });
            Err(AdminError::new(401, detail))
        }
        None => Err(AdminError::new(
            401,
            "the admin credential is not valid: not ADMIN_TOKEN nor a live operator key (a SCIM token is not one)",
        )),
    }
}

/// Authenticates the caller and checks its scope for this request (403 when it falls short);
/// the identity stays in the request for the audit log, refused or not.
pub(super) async fn authorize(request: HttpRequest) -> Result<Identity, AdminError> {
    let admin =
        request.app_data::<web::Data<Admin>>().cloned().ok_or_else(|| AdminError::new(500, "admin state missing"))?;
    let identity = identify(&admin, &request).await?;
    request.extensions_mut().insert(Audited::of(&identity));
    // The route's own pattern (as routed, after percent-decoding): a path spelt otherwise, as
    // `/admin/v1/%6Fperator-keys`, needs the scope of the route it reaches. (Handlers are only
    // reached through a route, so there is always one.)
    let route = request.match_pattern().unwrap_or_else(|| request.path().to_owned());
    let needed = required_scope(request.method(), &route);
    if identity.scope < needed {
        return Err(AdminError::new(
            403,
            format!(
                "operator '{}' has the scope {}; {} {} needs {}",
                identity.name,
                identity.scope.as_str(),
                request.method(),
                route,
                needed.as_str()
            ),
        ));
    }
    Ok(identity)
}

/// Middleware of the admin listener: every request that may change something (not GET or HEAD)
/// is written to the audit log after it was answered: who (the identity, or `(unauthenticated)`),
/// what (method and path; never the body, which can hold secrets), when, and its status.
pub(super) async fn audit(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // Every method that may change something, whatever the path says (it is routed decoded).
    let mutating = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let admin = request.app_data::<web::Data<Admin>>().cloned();
    let (method, path) = (request.method().to_string(), request.path().to_owned());
    let response = next.call(request).await?;
    if let (true, Some(admin)) = (mutating, admin) {
        let identity = response.request().extensions().get::<Audited>().cloned();
        // The tenant as routed (`/admin/v1/tenants/{slug}/…`, decoded by the router).
        let tenant = response.request().match_info().get("slug").map(str::to_owned);
        let status = i32::from(response.status().as_u16());
        let written = admin
            .store(move |store| {
                let (operator, key_id) = match &identity {
                    Some(identity) => (identity.name.as_str(), identity.key_id.as_deref()),
                    None => ("(unauthenticated)", None),
                };
                store.write(|conn| {
                    operators::record(
                        conn,
                        &NewAuditEntry {
                            operator,
                            key_id,
                            method: &method,
                            path: &path,
                            tenant_id: tenant.as_deref(),
                            status,
                        },
                    )
                })
            })
            .await;
        if let Err(error) = written {
            tracing::error!(error = %error.detail, "writing the admin audit log failed");
        }
    }
    Ok(response)
}

fn key_json(key: &OperatorKey) -> Value {
    json!({
        "id": key.id,
        "name": key.name,
        "scope": key.scope,
        "created_by": key.created_by,
        "created_at": time(key.created_at),
        "revoked_at": key.revoked_at.and_then(time),
        "last_used_at": key.last_used_at.and_then(time),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    name: String,
    scope: String,
}

/// `POST /admin/v1/operator-keys` `{name, scope}`: 201 with the key, shown once.
pub(super) async fn issue(identity: super::Operator, admin: web::Data<Admin>, bytes: web::Bytes) -> Answer {
    let asked: NewKey = body(&bytes)?;
    let name = asked.name.trim().to_owned();
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if !valid {
        return Err(AdminError::bad_request(
            "name is 1 to 64 letters, digits, '-', '_', '.' or '@' (a person or a system)",
        ));
    }
    if name == ADMIN_TOKEN_NAME {
        return Err(AdminError::bad_request("ADMIN_TOKEN names the built-in credential"));
    }
    let scope = Scope::parse(&asked.scope)
        .ok_or_else(|| AdminError::bad_request("scope is read_only, tenant_admin or full"))?;
    let key = crate::token::generate("opkey", &admin.region);
    let hash = hex::encode(Sha256::digest(key.expose_secret().as_bytes()));
    let creator = identity.0.name.clone();
    let stored =
        admin.store(move |store| store.write(|conn| operators::issue(conn, &name, scope, &hash, &creator))).await?;
    let mut answer = key_json(&stored);
    answer["key"] = json!(key.expose_secret());
    Ok(HttpResponse::Created().json(answer))
}

/// `GET /admin/v1/operator-keys`.
pub(super) async fn list(_: super::Operator, admin: web::Data<Admin>) -> Answer {
    let keys = admin.store(|store| store.read(operators::list)).await?;
    Ok(HttpResponse::Ok().json(json!({ "keys": keys.iter().map(key_json).collect::<Vec<_>>() })))
}

/// `DELETE /admin/v1/operator-keys/{id}`: revoked at once.
pub(super) async fn revoke(_: super::Operator, admin: web::Data<Admin>, id: web::Path<String>) -> Answer {
    let id = id.into_inner();
    let key = admin.store(move |store| store.write(|conn| operators::revoke(conn, &id))).await?;
    Ok(HttpResponse::Ok().json(key_json(&key)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuditQuery {
    operator: Option<String>,
    tenant: Option<String>,
    before: Option<i64>,
    limit: Option<i64>,
}

fn entry_json(entry: &AuditEntry) -> Value {
    json!({
        "id": entry.id,
        "at": time(entry.at),
        "operator": entry.operator,
        "key_id": entry.key_id,
        "method": entry.method,
        "path": entry.path,
        "tenant": entry.tenant_id,
        "status": entry.status,
    })
}

/// `GET /admin/v1/audit?operator=&tenant=&before=&limit=`: newest first; `next` is the `before`
/// of the next page (null after the last).
pub(super) async fn list_audit(_: super::Operator, admin: web::Data<Admin>, request: HttpRequest) -> Answer {
    let query = web::Query::<AuditQuery>::from_query(request.query_string())
        .map_err(|e| AdminError::bad_request(format!("invalid query: {e}")))?
        .into_inner();
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(AdminError::bad_request("limit is 1 to 1000"));
    }
    let AuditQuery { operator, tenant, before, .. } = query;
    let entries = admin
        .store(move |store| {
            store.read(|conn| operators::audit(conn, operator.as_deref(), tenant.as_deref(), before, limit))
        })
        .await?;
    let next = (entries.len() as i64 == limit).then(|| entries.last().map(|e| e.id)).flatten();
    Ok(HttpResponse::Ok().json(json!({ "entries": entries.iter().map(entry_json).collect::<Vec<_>>(), "next": next })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_follow_the_method_and_the_path() {
        assert_eq!(required_scope(&Method::GET, "/admin/v1/webhooks"), Scope::ReadOnly);
        assert_eq!(required_scope(&Method::GET, "/admin/v1/audit"), Scope::ReadOnly);
        assert_eq!(required_scope(&Method::POST, "/admin/v1/tenants/acme/tokens"), Scope::TenantAdmin);
        assert_eq!(required_scope(&Method::POST, "/admin/v1/tenants"), Scope::TenantAdmin);
        assert_eq!(required_scope(&Method::POST, "/admin/v1/webhooks"), Scope::Full);
        assert_eq!(required_scope(&Method::GET, "/admin/v1/operator-keys"), Scope::Full);
        assert!(Scope::ReadOnly < Scope::TenantAdmin && Scope::TenantAdmin < Scope::Full);
    }
}
