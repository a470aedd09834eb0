//! The operators' HTTP JSON API (`/admin/v1`), on its own listener (`ADMIN_HTTP_ADDR`), never
//! on the SCIM port: tenants, their tokens (issue, list, revoke, rotate), settings and the
//! provisioning log. The credential is `Authorization: Bearer <ADMIN_TOKEN>`, compared in
//! constant time; a SCIM token is never one. Errors are `{"status": N, "detail": "…"}`.

pub mod cli;
mod events;
mod oidc;
mod operators;
mod portal_api;
mod repair;
mod schemas;
mod webhooks;

use std::future::Future;
use std::net::SocketAddr;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use anyhow::Context;
use diesel::RunQueryDsl;
use scim::ScimError;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::config::CoreConfig;
use crate::error::CoreError;
use crate::provisioning_log::{self, LogQuery, StatusFilter, StoredEntry};
use crate::rate_limit::TenantLimits;
use crate::store::Store;
use crate::store::jobs::{self, JobRow};
use crate::store::portal;
use crate::store::tenants::{self, Tenant, TenantSettings, TokenRecord};
use crate::token;

/// What every admin handler shares.
struct Admin {
    store: Store,
    /// SHA-256 of `ADMIN_TOKEN`; `None` refuses every request.
    credential: Option<[u8; 32]>,
    region: String,
    region_tenant_urls: Vec<(String, String)>,
    token_prefix: String,
    limits: TenantLimits,
    /// The directory's read API, for reconciliation (`DIRECTORY_GRPC_URL`).
    directory: Option<proto::directory_client::DirectoryClient<proto::credential::Authorized>>,
    /// Wakes the outbox relay (after set-aside events are retried).
    relay_wake: std::sync::Arc<tokio::sync::Notify>,
    /// The portal page's public address, for the links portal sessions come with.
    portal_url: Option<String>,
    /// How events are named in JSON (the events API).
    naming: crate::events_json::Naming,
    /// `OUTBOX_RETENTION_DAYS`: an events cursor older than this is refused.
    outbox_retention_days: u32,
    /// `WEBHOOK_ALLOW_PRIVATE_TARGETS`: endpoints on non-public addresses are accepted.
    allow_private_webhooks: bool,
    /// Operator SSO (`ADMIN_OIDC_ISSUER`): OpenID Connect tokens as admin credentials.
    oidc: Option<oidc::Verifier>,
}

impl Admin {
    fn tenant_url(&self, region: &str) -> Option<&str> {
        let region = if region.is_empty() { &self.region } else { region };
        self.region_tenant_urls.iter().find(|(r, _)| r == region).map(|(_, url)| url.as_str())
    }

    fn tenant_json(&self, tenant: &Tenant) -> Value {
        let region = if tenant.region.is_empty() { self.region.as_str() } else { tenant.region.as_str() };
        let rate_limit = self.limits.effective(tenant.settings.rate_limit);
        json!({
            "slug": tenant.id,
            "display_name": tenant.display_name,
            "region": region,
            "disabled": tenant.disabled,
            "created_at": time(tenant.created_at),
            "tenant_url": self.tenant_url(region),
            "settings": settings_json(&tenant.settings, rate_limit),
        })
    }

    /// A new token of tenant `slug` (the successor of token `rotating` when given), at most
    /// `live_cap` live tokens when given: the tenant, the stored record and the secret.
    async fn new_token(
        &self,
        slug: String,
        rotating: Option<String>,
        expires_at: Option<i64>,
        live_cap: Option<usize>,
    ) -> Result<(Tenant, TokenRecord, SecretString), AdminError> {
        let secret = token::generate(&self.token_prefix, &self.region);
        let issued = secret.clone();
        let (tenant, record) = self
            .store(move |store| {
                store.write(|conn| {
                    let tenant = tenants::get_tenant(conn, &slug)?;
                    if let Some(cap) = live_cap {
                        tenants::lock_tenant(conn, &slug)?;
                        let now = platform::db::now_micros();
                        let live = tenants::list_tokens(conn, &slug)?.iter().filter(|t| t.is_live(now)).count();
                        if live >= cap {
                            return Err(CoreError::Scim(ScimError::new(
                                409,
                                None,
                                format!(
                                    "this tenant already has {live} live tokens: revoke one it no longer uses first"
                                ),
                            )));
                        }
                    }
                    let record = match &rotating {
                        Some(id) => tenants::start_rotation(conn, &slug, id, issued.expose_secret(), expires_at)?,
                        None => tenants::issue_token(conn, &slug, issued.expose_secret(), expires_at, None)?,
                    };
                    Ok((tenant, record))
                })
            })
            .await?;
        Ok((tenant, record, secret))
    }

    fn issued(&self, (tenant, record, secret): &(Tenant, TokenRecord, SecretString)) -> IssuedToken {
        IssuedToken::of(record, secret, self.tenant_url(&tenant.region))
    }

    /// Runs store work on the blocking pool.
    async fn store<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Store) -> Result<T, CoreError> + Send + 'static,
    ) -> Result<T, AdminError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || work(&store))
            .await
            .map_err(|e| AdminError::from(CoreError::Internal(format!("admin task failed: {e}"))))?
            .map_err(AdminError::from)
    }
}

fn settings_json(settings: &TenantSettings, effective: crate::config::RateLimit) -> Value {
    let lifecycle = settings.lifecycle.unwrap_or_default();
    json!({
        "rate_limit": {
            "requests_per_second": effective.per_second.get(),
            "burst": effective.burst.get(),
            "default": settings.rate_limit.is_none(),
        },
        "lifecycle": {
            "delete": match lifecycle.delete { tenants::DeleteMode::Soft => "soft", tenants::DeleteMode::Hard => "hard" },
            "tombstone_days": lifecycle.tombstone_days,
            "link_by_email": lifecycle.link_by_email,
            "default": settings.lifecycle.is_none(),
        },
        "expected_cadence_minutes": settings.cadence_minutes(),
    })
}

fn time(micros: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_micros(micros).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

/// A token as the admin API and the portal list it (never its secret).
#[derive(serde::Serialize, utoipa::ToSchema)]
struct TokenView {
    id: String,
    /// The token's first characters (`scim_eu_AbCd`), to tell tokens apart.
    prefix: String,
    /// `active`, `expired` or `revoked`.
    status: &'static str,
    created_at: Option<String>,
    last_used_at: Option<String>,
    expires_at: Option<String>,
    revoked_at: Option<String>,
    /// The token this one replaces, during (and after) a rotation.
    rotation_of: Option<String>,
}

impl TokenView {
    fn of(token: &TokenRecord, now: i64) -> Self {
        let status = match (token.revoked_at, token.expires_at) {
            (Some(_), _) => "revoked",
            (None, Some(expires)) if expires <= now => "expired",
            _ => "active",
        };
        Self {
            id: token.id.clone(),
            prefix: token.prefix.clone(),
            status,
            created_at: time(token.created_at),
            last_used_at: token.last_used_at.and_then(time),
            expires_at: token.expires_at.and_then(time),
            revoked_at: token.revoked_at.and_then(time),
            rotation_of: token.rotation_of.clone(),
        }
    }
}

/// A new token, as shown once: the secret is never stored.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct IssuedToken {
    id: String,
    /// The secret: shown in this answer only.
    token: String,
    prefix: String,
    expires_at: Option<String>,
    rotation_of: Option<String>,
    /// Where the IdP sends its requests (this tenant's region).
    tenant_url: Option<String>,
}

impl IssuedToken {
    fn of(token: &TokenRecord, secret: &SecretString, tenant_url: Option<&str>) -> Self {
        Self {
            id: token.id.clone(),
            token: secret.expose_secret().to_owned(),
            prefix: token.prefix.clone(),
            expires_at: token.expires_at.and_then(time),
            rotation_of: token.rotation_of.clone(),
            tenant_url: tenant_url.map(str::to_owned),
        }
    }
}

/// One provisioning-log entry: what a request did, never what it carried.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct LogEntry {
    id: i64,
    at: Option<String>,
    method: String,
    path: String,
    resource_type: Option<String>,
    resource_id: Option<String>,
    status: i32,
    scim_type: Option<String>,
    detail: Option<String>,
    warnings: Vec<String>,
    latency_ms: f64,
    trace_id: Option<String>,
    token_id: Option<String>,
}

impl LogEntry {
    fn of(stored: &StoredEntry) -> Self {
        let entry = &stored.entry;
        Self {
            id: stored.id,
            at: time(entry.at),
            method: entry.method.clone(),
            path: entry.path.clone(),
            resource_type: entry.resource_type.clone(),
            resource_id: entry.resource_id.clone(),
            status: entry.status,
            scim_type: entry.scim_type.clone(),
            detail: entry.detail.clone(),
            warnings: entry.warnings.as_deref().and_then(|w| serde_json::from_str(w).ok()).unwrap_or_default(),
            latency_ms: entry.latency_micros as f64 / 1000.0,
            trace_id: entry.trace_id.clone(),
            token_id: entry.token_id.clone(),
        }
    }
}

/// A page of the provisioning log, newest first.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct LogPage {
    entries: Vec<LogEntry>,
    /// Pass as `before` for the next (older) page; null on the last page.
    next: Option<i64>,
}

/// An admin API error: a status and what to do about it.
#[derive(Debug, thiserror::Error)]
#[error("{status}: {detail}")]
pub struct AdminError {
    status: u16,
    detail: String,
}

impl AdminError {
    fn new(status: u16, detail: impl Into<String>) -> Self {
        Self { status, detail: detail.into() }
    }

    fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(400, detail)
    }
}

impl From<CoreError> for AdminError {
    fn from(error: CoreError) -> Self {
        match error {
            CoreError::Scim(ScimError { status, detail, .. }) => Self::new(status, detail),
            CoreError::Unavailable(cause) => {
                tracing::error!(error = %cause, "admin: database unavailable");
                Self::new(503, "the database is unavailable")
            }
            other => {
                tracing::error!(error = %other, "admin request failed");
                Self::new(500, "internal error")
            }
        }
    }
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if self.status == 401 {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        response.json(json!({ "status": self.status, "detail": self.detail }))
    }
}

type Answer = Result<HttpResponse, AdminError>;

/// An authenticated operator: extracting it checks `Authorization: Bearer <ADMIN_TOKEN>`.
/// An authenticated operator whose scope allows this request (see `operators`): `ADMIN_TOKEN`
/// or a live operator key.
struct Operator(operators::Identity);

impl FromRequest for Operator {
    type Error = AdminError;
    type Future = futures::future::LocalBoxFuture<'static, Result<Self, AdminError>>;

    fn from_request(request: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move { operators::authorize(request).await.map(Operator) })
    }
}

/// A JSON body (an empty body is `{}`), with a clear error when it is not the expected shape.
fn body<T: serde::de::DeserializeOwned>(bytes: &web::Bytes) -> Result<T, AdminError> {
    let text = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { bytes.as_ref() };
    serde_json::from_slice(text).map_err(|e| AdminError::bad_request(format!("invalid request body: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    slug: String,
    display_name: Option<String>,
    region: Option<String>,
}

async fn create_tenant(_: Operator, admin: web::Data<Admin>, bytes: web::Bytes) -> Answer {
    let NewTenant { slug, display_name, region } = body(&bytes)?;
    let region = region.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty()).unwrap_or_else(|| admin.region.clone());
    if region != admin.region {
        let detail = match admin.tenant_url(&region) {
            Some(url) => format!(
                "this deployment serves region '{}'; create tenants of region '{region}' in that region's deployment (tenant URL {url})",
                admin.region
            ),
            None => format!(
                "this deployment serves region '{}', and region '{region}' is not one it knows (REGION_TENANT_URLS)",
                admin.region
            ),
        };
        return Err(AdminError::bad_request(detail));
    }
    let display_name = display_name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).unwrap_or(slug.clone());
    if display_name.chars().count() > 200 {
        return Err(AdminError::bad_request("display_name may be at most 200 characters"));
    }
    let tenant = admin
        .store(move |store| store.write(|conn| tenants::create_tenant(conn, &slug, &display_name, &region)))
        .await?;
    Ok(HttpResponse::Created().json(admin.tenant_json(&tenant)))
}

async fn list_tenants(_: Operator, admin: web::Data<Admin>) -> Answer {
    let list = admin.store(|store| store.read(tenants::list_tenants)).await?;
    let tenants: Vec<Value> = list.iter().map(|tenant| admin.tenant_json(tenant)).collect();
    Ok(HttpResponse::Ok().json(json!({ "tenants": tenants })))
}

async fn get_tenant(_: Operator, admin: web::Data<Admin>, slug: web::Path<String>) -> Answer {
    let slug = slug.into_inner();
    let (tenant, activity) = admin
        .store(move |store| {
            store.read(|conn| Ok((tenants::get_tenant(conn, &slug)?, crate::store::activity::get(conn, &slug)?)))
        })
        .await?;
    let mut view = admin.tenant_json(&tenant);
    view["connection"] = crate::store::activity::connection_json(
        activity.as_ref(),
        tenant.settings.cadence_minutes(),
        platform::db::now_micros(),
    );
    Ok(HttpResponse::Ok().json(view))
}

async fn set_disabled(admin: web::Data<Admin>, slug: String, disabled: bool) -> Answer {
    let tenant = admin.store(move |store| store.write(|conn| tenants::set_disabled(conn, &slug, disabled))).await?;
    tracing::info!(tenant.id = %tenant.id, disabled, "tenant disabled flag changed by an operator");
    Ok(HttpResponse::Ok().json(admin.tenant_json(&tenant)))
}

async fn disable_tenant(_: Operator, admin: web::Data<Admin>, slug: web::Path<String>) -> Answer {
    set_disabled(admin, slug.into_inner(), true).await
}

async fn enable_tenant(_: Operator, admin: web::Data<Admin>, slug: web::Path<String>) -> Answer {
    set_disabled(admin, slug.into_inner(), false).await
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewToken {
    /// 1 to 3650; none: the token does not expire.
    expires_in_days: Option<u32>,
}

/// The longest a token may be issued for.
const MAX_EXPIRY_DAYS: u32 = 3650;

impl NewToken {
    fn expires_at(&self) -> Result<Option<i64>, AdminError> {
        match self.expires_in_days {
            None => Ok(None),
            Some(days) if (1..=MAX_EXPIRY_DAYS).contains(&days) => {
                Ok(Some(platform::db::now_micros() + i64::from(days) * 86_400_000_000))
            }
            Some(_) => Err(AdminError::bad_request(format!("expires_in_days must be between 1 and {MAX_EXPIRY_DAYS}"))),
        }
    }
}

async fn issue_token(_: Operator, admin: web::Data<Admin>, slug: web::Path<String>, bytes: web::Bytes) -> Answer {
    let expires_at = body::<NewToken>(&bytes)?.expires_at()?;
    let issued = admin.new_token(slug.into_inner(), None, expires_at, None).await?;
    tracing::info!(tenant.id = %issued.1.tenant_id, token.id = %issued.1.id, "token issued by an operator");
    Ok(HttpResponse::Created().json(admin.issued(&issued)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPortalSession {
    ttl_minutes: Option<u32>,
    label: Option<String>,
}

fn portal_session_json(session: &portal::PortalSession, now: i64) -> Value {
    json!({
        "id": session.id,
        "label": session.label,
        "status": session.status(now),
        "created_at": time(session.created_at),
        "expires_at": time(session.expires_at),
        "revoked_at": session.revoked_at.and_then(time),
    })
}

/// `POST /admin/v1/tenants/{slug}/portal-sessions` `{ttl_minutes?, label?}`: a session of the
/// self-serve portal for the tenant's own admin; its secret is in the answer only.
async fn issue_portal_session(
    _: Operator,
    admin: web::Data<Admin>,
    slug: web::Path<String>,
    bytes: web::Bytes,
) -> Answer {
    let asked = body::<NewPortalSession>(&bytes)?;
    let ttl = asked.ttl_minutes.unwrap_or(portal::DEFAULT_TTL_MINUTES);
    if !(portal::MIN_TTL_MINUTES..=portal::MAX_TTL_MINUTES).contains(&ttl) {
        return Err(AdminError::bad_request(format!(
            "ttl_minutes must be between {} and {}",
            portal::MIN_TTL_MINUTES,
            portal::MAX_TTL_MINUTES
        )));
    }
    let label = asked.label.map(|label| label.trim().to_owned()).filter(|label| !label.is_empty());
    if label.as_ref().is_some_and(|label| label.chars().count() > portal::MAX_LABEL_CHARS) {
        return Err(AdminError::bad_request(format!("label is at most {} characters", portal::MAX_LABEL_CHARS)));
    }
    let slug = slug.into_inner();
    let secret = token::generate("portal", &admin.region);
    let issued = secret.clone();
    let session = admin
        .store(move |store| {
            store.write(|conn| {
                tenants::get_tenant(conn, &slug)?;
                portal::issue(conn, &slug, issued.expose_secret(), ttl, label.as_deref())
            })
        })
        .await?;
    tracing::info!(tenant.id = %session.tenant_id, portal_session.id = %session.id, "portal session issued");
    let mut answer = portal_session_json(&session, platform::db::now_micros());
    answer["token"] = json!(secret.expose_secret());
    // The secret in the fragment: browsers never send it, so it stays out of access logs and
    // Referer headers; the page moves it to sessionStorage and drops it from the address.
    answer["url"] = json!(admin.portal_url.as_ref().map(|url| format!("{url}#session={}", secret.expose_secret())));
    Ok(HttpResponse::Created().json(answer))
}

async fn list_portal_sessions(_: Operator, admin: web::Data<Admin>, slug: web::Path<String>) -> Answer {
    let slug = slug.into_inner();
    let list = admin
        .store(move |store| {
            store.read(|conn| {
                tenants::get_tenant(conn, &slug)?;
                portal::list(conn, &slug, 100)
            })
        })
        .await?;
    let now = platform::db::now_micros();
    let sessions: Vec<Value> = list.iter().map(|session| portal_session_json(session, now)).collect();
    Ok(HttpResponse::Ok().json(json!({ "portal_sessions": sessions })))
}

async fn revoke_portal_session(_: Operator, admin: web::Data<Admin>, path: web::Path<(String, String)>) -> Answer {
    let (slug, id) = path.into_inner();
    let session = admin.store(move |store| store.write(|conn| portal::revoke(conn, &slug, &id))).await?;
    tracing::info!(tenant.id = %session.tenant_id, portal_session.id = %session.id, "portal session revoked");
    Ok(HttpResponse::NoContent().finish())
}

async fn list_tokens(_: Operator, admin: web::Data<Admin>, slug: web::Path<String>) -> Answer {
    let slug = slug.into_inner();
    let list = admin.store(move |store| store.read(|conn| tenants::list_tokens(conn, &slug))).await?;
    let now = platform::db::now_micros();
    let tokens: Vec<TokenView> = list.iter().map(|token| TokenView::of(token, now)).collect();
    Ok(HttpResponse::Ok().json(json!({ "tokens": tokens })))
}

async fn revoke_token(_: Operator, admin: web::Data<Admin>, path: web::Path<(String, String)>) -> Answer {
    let (slug, id) = path.into_inner();
    let record = admin.store(move |store| store.write(|conn| tenants::revoke_token(conn, &slug, &id))).await?;
    tracing::info!(tenant.id = %record.tenant_id, token.id = %record.id, "token revoked by an operator");
    Ok(HttpResponse::NoContent().finish())
}

async fn rotate_token(
    _: Operator,
    admin: web::Data<Admin>,
    path: web::Path<(String, String)>,
    bytes: web::Bytes,
) -> Answer {
    let expires_at = body::<NewToken>(&bytes)?.expires_at()?;
    let (slug, id) = path.into_inner();
    let issued = admin.new_token(slug, Some(id), expires_at, None).await?;
    tracing::info!(tenant.id = %issued.1.tenant_id, token.id = %issued.1.id, "token rotation started by an operator");
    Ok(HttpResponse::Created().json(admin.issued(&issued)))
}

/// The end of a rotation: the token revoked and the one that stays.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct RotationEnded {
    revoked: TokenView,
    active: TokenView,
}

async fn finish_rotation(admin: web::Data<Admin>, slug: String, id: String, complete: bool) -> Answer {
    let (revoked, kept) =
        admin.store(move |store| store.write(|conn| tenants::finish_rotation(conn, &slug, &id, complete))).await?;
    tracing::info!(tenant.id = %revoked.tenant_id, revoked = %revoked.id, kept = %kept.id, complete, "token rotation ended");
    let now = platform::db::now_micros();
    Ok(HttpResponse::Ok()
        .json(RotationEnded { revoked: TokenView::of(&revoked, now), active: TokenView::of(&kept, now) }))
}

async fn complete_rotation(_: Operator, admin: web::Data<Admin>, path: web::Path<(String, String)>) -> Answer {
    let (slug, id) = path.into_inner();
    finish_rotation(admin, slug, id, true).await
}

async fn cancel_rotation(_: Operator, admin: web::Data<Admin>, path: web::Path<(String, String)>) -> Answer {
    let (slug, id) = path.into_inner();
    finish_rotation(admin, slug, id, false).await
}

async fn get_settings(_: Operator, admin: web::Data<Admin>, slug: web::Path<String>) -> Answer {
    let slug = slug.into_inner();
    let tenant = admin.store(move |store| store.read(|conn| tenants::get_tenant(conn, &slug))).await?;
    let effective = admin.limits.effective(tenant.settings.rate_limit);
    Ok(HttpResponse::Ok().json(settings_json(&tenant.settings, effective)))
}

async fn put_settings(_: Operator, admin: web::Data<Admin>, slug: web::Path<String>, bytes: web::Bytes) -> Answer {
    let text = std::str::from_utf8(&bytes).map_err(|_| AdminError::bad_request("the body is not UTF-8"))?;
    let settings = TenantSettings::parse(text).map_err(AdminError::bad_request)?;
    let slug = slug.into_inner();
    let tenant = admin.store(move |store| store.write(|conn| tenants::set_settings(conn, &slug, &settings))).await?;
    tracing::info!(tenant.id = %tenant.id, "tenant settings changed by an operator");
    let effective = admin.limits.effective(tenant.settings.rate_limit);
    Ok(HttpResponse::Ok().json(settings_json(&tenant.settings, effective)))
}

async fn get_mapping(_: Operator, admin: web::Data<Admin>, slug: web::Path<String>) -> Answer {
    let slug = slug.into_inner();
    let (mapping, permissions) = admin.store(move |store| store.read(|conn| tenants::mapping_of(conn, &slug))).await?;
    Ok(HttpResponse::Ok().json(json!({ "mapping": mapping, "group_permissions": permissions })))
}

/// What a change of a tenant's rules edits, in the transaction that stores it, and what it
/// returns.
type RulesEdit<T> = Box<
    dyn FnOnce(
            &mut platform::db::DbConnection,
            &mut crate::mapping::MappingConfig,
            &mut crate::mapping::GroupPermissions,
        ) -> Result<T, CoreError>
        + Send,
>;

/// A tenant's rules as changed, what the edit returned, and the job re-publishing the change.
struct RulesChanged<T> {
    mapping: crate::mapping::MappingConfig,
    permissions: crate::mapping::GroupPermissions,
    job: JobRow,
    edited: T,
}

/// Changes a tenant's mapping or group permissions: read (with the tenant's row locked, so
/// that concurrent changes apply one after the other), edited and stored in one transaction;
/// a background job re-publishes every record the change touches (its progress under
/// `/jobs/{id}`).
async fn change_rules<T: Send + 'static>(
    admin: &Admin,
    slug: String,
    reason: &'static str,
    edit: RulesEdit<T>,
) -> Result<RulesChanged<T>, AdminError> {
    let (mapping, permissions, job, edited) = admin
        .store(move |store| {
            store.write(|conn| {
                tenants::lock_tenant(conn, &slug)?;
                let (mut mapping, mut permissions) = tenants::mapping_of(conn, &slug)?;
                let edited = edit(conn, &mut mapping, &mut permissions)?;
                tenants::set_mapping(conn, &slug, &mapping, &permissions)?;
                let tenant = tenants::TenantId(slug.clone());
                let id = jobs::tenant_job(conn, &tenant, reason)?;
                let job = jobs::find(conn, &slug, &id)?;
                Ok((mapping, permissions, job, edited))
            })
        })
        .await?;
    let job = job.ok_or_else(|| AdminError::new(500, "the re-publishing job was not stored"))?;
    tracing::info!(job.id = %job.id, reason, "tenant rules changed; records re-published in the background");
    Ok(RulesChanged { mapping, permissions, job, edited })
}

/// The admin API's answer to a change of rules.
async fn store_rules(
    admin: web::Data<Admin>,
    slug: String,
    mapping: Option<crate::mapping::MappingConfig>,
    permissions: Option<crate::mapping::GroupPermissions>,
) -> Answer {
    let reason = if mapping.is_some() { "mapping changed" } else { "group permissions changed" };
    let edit: RulesEdit<()> = Box::new(move |_, stored_mapping, stored_permissions| {
        if let Some(mapping) = mapping {
            *stored_mapping = mapping;
        }
        if let Some(permissions) = permissions {
            *stored_permissions = permissions;
        }
        Ok(())
    });
    let changed = change_rules(&admin, slug, reason, edit).await?;
    Ok(HttpResponse::Ok().json(json!({
        "mapping": changed.mapping,
        "group_permissions": changed.permissions,
        "republishing": job_json(&changed.job),
    })))
}

fn job_json(job: &JobRow) -> Value {
    json!({
        "id": job.id,
        "reason": job.reason,
        "state": job.state(),
        "scope": job.scope,
        "phase": job.phase,
        "total": job.total,
        "done": job.done,
        "published": job.published,
        "skipped": job.skipped,
        "last_error": job.last_error,
        "created_at": time(job.created_at),
        "updated_at": time(job.updated_at),
        "finished_at": job.finished_at.and_then(time),
    })
}

/// The tenant's re-publishing jobs, newest first (at most 100).
async fn list_jobs(_: Operator, admin: web::Data<Admin>, slug: web::Path<String>) -> Answer {
    let slug = slug.into_inner();
    let found = admin
        .store(move |store| {
            store.read(|conn| {
                tenants::get_tenant(conn, &slug)?;
                jobs::of_tenant(conn, &slug, 100)
            })
        })
        .await?;
    let list: Vec<Value> = found.iter().map(job_json).collect();
    Ok(HttpResponse::Ok().json(json!({ "jobs": list })))
}

async fn get_job(_: Operator, admin: web::Data<Admin>, path: web::Path<(String, String)>) -> Answer {
    let (slug, id) = path.into_inner();
    let found = admin
        .store(move |store| {
            store.read(|conn| {
                tenants::get_tenant(conn, &slug)?;
                jobs::find(conn, &slug, &id)
            })
        })
        .await?;
    let job = found.ok_or_else(|| AdminError::new(404, "no such job for this tenant"))?;
    Ok(HttpResponse::Ok().json(job_json(&job)))
}

async fn put_mapping(_: Operator, admin: web::Data<Admin>, slug: web::Path<String>, bytes: web::Bytes) -> Answer {
    let mapping: crate::mapping::MappingConfig = body(&bytes)?;
    store_rules(admin, slug.into_inner(), Some(mapping), None).await
}

async fn put_group_permissions(
    _: Operator,
    admin: web::Data<Admin>,
    slug: web::Path<String>,
    bytes: web::Bytes,
) -> Answer {
    let permissions: crate::mapping::GroupPermissions = body(&bytes)?;
    store_rules(admin, slug.into_inner(), None, Some(permissions)).await
}

/// Changes only the sections the body names (`null` returns a section to the default).
async fn patch_settings(_: Operator, admin: web::Data<Admin>, slug: web::Path<String>, bytes: web::Bytes) -> Answer {
    let patch: serde_json::Map<String, Value> = body(&bytes)?;
    let slug = slug.into_inner();
    let tenant = admin
        .store(move |store| {
            store.write(|conn| {
                let current = tenants::get_tenant(conn, &slug)?;
                let mut merged = match serde_json::to_value(&current.settings) {
                    Ok(Value::Object(map)) => map,
                    _ => serde_json::Map::new(),
                };
                for (section, value) in patch {
                    match value {
                        Value::Null => merged.remove(&section),
                        value => merged.insert(section, value),
                    };
                }
                let settings =
                    TenantSettings::parse(&Value::Object(merged).to_string()).map_err(ScimError::invalid_value)?;
                tenants::set_settings(conn, &slug, &settings)
            })
        })
        .await?;
    tracing::info!(tenant.id = %tenant.id, "tenant settings changed by an operator");
    let effective = admin.limits.effective(tenant.settings.rate_limit);
    Ok(HttpResponse::Ok().json(settings_json(&tenant.settings, effective)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct LogParams {
    /// Entries at or after this RFC 3339 time.
    since: Option<String>,
    /// Entries before this RFC 3339 time.
    until: Option<String>,
    /// A status code (`404`), a class (`4xx`), `error` or `success`.
    status: Option<String>,
    /// `User` or `Group`.
    resource_type: Option<String>,
    /// Entries of one user or group (its SCIM id).
    resource_id: Option<String>,
    /// At most this many entries (default 100; at most 1000 in the admin API, 200 in the portal).
    limit: Option<i64>,
    /// The `next` of the previous page.
    before: Option<i64>,
}

fn instant(name: &str, text: Option<String>) -> Result<Option<i64>, AdminError> {
    text.map(|text| {
        chrono::DateTime::parse_from_rfc3339(text.trim())
            .map(|t| t.timestamp_micros())
            .map_err(|_| AdminError::bad_request(format!("{name} must be an RFC 3339 time, e.g. 2026-11-23T10:00:00Z")))
    })
    .transpose()
}

/// A page of tenant `slug`'s provisioning log, as the query string asks.
async fn log_page(admin: &Admin, slug: String, query_string: &str, max_limit: i64) -> Result<LogPage, AdminError> {
    let params = web::Query::<LogParams>::from_query(query_string)
        .map_err(|e| AdminError::bad_request(format!("invalid query: {e}")))?
        .into_inner();
    let status = params
        .status
        .map(|s| {
            StatusFilter::parse(&s).ok_or_else(|| {
                AdminError::bad_request("status must be a status code (404), a class (4xx), 'error' or 'success'")
            })
        })
        .transpose()?;
    let resource_type = params
        .resource_type
        .map(|kind| match kind.trim().to_ascii_lowercase().as_str() {
            "user" | "users" => Ok("User".to_owned()),
            "group" | "groups" => Ok("Group".to_owned()),
            _ => Err(AdminError::bad_request("resource_type must be 'User' or 'Group'")),
        })
        .transpose()?;
    let limit = params.limit.unwrap_or(100.min(max_limit));
    if !(1..=max_limit).contains(&limit) {
        return Err(AdminError::bad_request(format!("limit must be between 1 and {max_limit}")));
    }
    let query = LogQuery {
        since: instant("since", params.since)?,
        until: instant("until", params.until)?,
        status,
        resource_type,
        resource_id: params.resource_id,
        limit,
        before_id: params.before,
    };
    let entries = admin
        .store(move |store| {
            store.read(|conn| {
                tenants::get_tenant(conn, &slug)?;
                provisioning_log::query(conn, &slug, &query)
            })
        })
        .await?;
    let next = (entries.len() as i64 == limit).then(|| entries.last().map(|e| e.id)).flatten();
    Ok(LogPage { entries: entries.iter().map(LogEntry::of).collect(), next })
}

async fn provisioning_log(
    _: Operator,
    admin: web::Data<Admin>,
    slug: web::Path<String>,
    request: HttpRequest,
) -> Answer {
    let page = log_page(&admin, slug.into_inner(), request.query_string(), provisioning_log::MAX_LIMIT).await?;
    Ok(HttpResponse::Ok().json(page))
}

async fn method_not_allowed() -> Answer {
    Err(AdminError::new(405, "this method is not allowed on this admin endpoint"))
}

async fn portal_not_found() -> Answer {
    Err(AdminError::new(404, "no such portal endpoint (the page is at /portal/, the API under /portal/v1)"))
}

async fn not_found() -> Answer {
    Err(AdminError::new(404, "no such admin endpoint (see /admin/v1/tenants)"))
}

async fn livez() -> HttpResponse {
    HttpResponse::Ok().body("ok")
}

/// Prometheus metrics (no credential: the listener is not exposed publicly, and metrics name
/// tenants by slug only).
async fn metrics(admin: web::Data<Admin>) -> HttpResponse {
    let store = admin.store.clone();
    let text = tokio::task::spawn_blocking(move || crate::observe::scrape(&store)).await.unwrap_or_default();
    HttpResponse::Ok().content_type(platform::metrics::CONTENT_TYPE).body(text)
}

/// Ready when the database answers. The broker is reported but does not decide: while it is
/// down SCIM writes still succeed and their events wait in the outbox, so taking the core out
/// of service would turn a broker outage into a provisioning outage.
async fn readyz(admin: web::Data<Admin>) -> HttpResponse {
    let store = admin.store.clone();
    let checked = tokio::task::spawn_blocking(move || {
        let database = store.read(|conn| {
            diesel::sql_query("SELECT 1").execute(conn)?;
            Ok::<_, CoreError>(())
        });
        (database, store.read(crate::store::outbox::backlog).ok())
    })
    .await;
    let (database, backlog) = match checked {
        Ok((database, backlog)) => (Ok(database), backlog),
        Err(error) => (Err(error), None),
    };
    let body = json!({
        "database": if matches!(database, Ok(Ok(()))) { "ok" } else { "unavailable" },
        "outbox_backlog": backlog.map(|b| b.pending),
        // Events the broker refused for good: reported (and alerted on through the metric),
        // but they do not make the core unready; `admin set-aside` lists and retries them.
        "outbox_set_aside": backlog.map(|b| b.set_aside),
    });
    if matches!(database, Ok(Ok(()))) {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// A resource whose other methods get a JSON 405.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

fn routes(config: &mut web::ServiceConfig) {
    config
        .service(
            web::scope("/admin/v1/outbox/set-aside")
                .service(resource("").route(web::get().to(repair::list_set_aside)))
                .service(resource("/retry").route(web::post().to(repair::retry_all)))
                .service(resource("/{seq}").route(web::delete().to(repair::discard_one)))
                .service(resource("/{seq}/retry").route(web::post().to(repair::retry_one))),
        )
        .service(resource("/admin/v1/events").route(web::get().to(events::list)))
        .service(resource("/admin/v1/audit").route(web::get().to(operators::list_audit)))
        .service(
            web::scope("/admin/v1/operator-keys")
                .service(resource("").route(web::get().to(operators::list)).route(web::post().to(operators::issue)))
                .service(resource("/{id}").route(web::delete().to(operators::revoke))),
        )
        .service(
            web::scope("/admin/v1/webhooks")
                .service(resource("").route(web::get().to(webhooks::list)).route(web::post().to(webhooks::create)))
                .service(
                    resource("/{id}").route(web::get().to(webhooks::get)).route(web::delete().to(webhooks::delete)),
                )
                .service(resource("/{id}/deliveries").route(web::get().to(webhooks::deliveries)))
                .service(resource("/{id}/replay").route(web::post().to(webhooks::replay))),
        );
    config.service(
        web::scope("/admin/v1/tenants")
            .service(resource("").route(web::get().to(list_tenants)).route(web::post().to(create_tenant)))
            .service(resource("/{slug}").route(web::get().to(get_tenant)))
            .service(resource("/{slug}/disable").route(web::post().to(disable_tenant)))
            .service(resource("/{slug}/enable").route(web::post().to(enable_tenant)))
            .service(resource("/{slug}/tokens").route(web::get().to(list_tokens)).route(web::post().to(issue_token)))
            .service(resource("/{slug}/tokens/{id}").route(web::delete().to(revoke_token)))
            .service(
                resource("/{slug}/portal-sessions")
                    .route(web::get().to(list_portal_sessions))
                    .route(web::post().to(issue_portal_session)),
            )
            .service(resource("/{slug}/portal-sessions/{id}").route(web::delete().to(revoke_portal_session)))
            .service(resource("/{slug}/tokens/{id}/rotate").route(web::post().to(rotate_token)))
            .service(resource("/{slug}/tokens/{id}/rotate/complete").route(web::post().to(complete_rotation)))
            .service(resource("/{slug}/tokens/{id}/rotate/cancel").route(web::post().to(cancel_rotation)))
            .service(
                resource("/{slug}/settings")
                    .route(web::get().to(get_settings))
                    .route(web::put().to(put_settings))
                    .route(web::patch().to(patch_settings)),
            )
            .service(resource("/{slug}/provisioning-log").route(web::get().to(provisioning_log)))
            .service(resource("/{slug}/jobs").route(web::get().to(list_jobs)))
            .service(resource("/{slug}/republish").route(web::post().to(repair::republish)))
            .service(resource("/{slug}/reconcile").route(web::post().to(repair::reconcile)))
            .service(resource("/{slug}/jobs/{id}").route(web::get().to(get_job)))
            .service(
                resource("/{slug}/schemas").route(web::get().to(schemas::list)).route(web::post().to(schemas::declare)),
            )
            .service(
                resource("/{slug}/schemas/{id}")
                    .route(web::get().to(schemas::get))
                    .route(web::delete().to(schemas::remove)),
            )
            .service(resource("/{slug}/mapping").route(web::get().to(get_mapping)).route(web::put().to(put_mapping)))
            .service(
                resource("/{slug}/group-permissions")
                    .route(web::get().to(get_mapping))
                    .route(web::put().to(put_group_permissions)),
            ),
    );
}

/// The admin listener, bound (port 0 allowed) and ready to run.
pub struct AdminServer {
    server: actix_web::dev::Server,
    address: SocketAddr,
    /// The self-serve portal's listener, when `PORTAL_HTTP_ADDR` is set.
    portal: Option<(actix_web::dev::Server, SocketAddr)>,
    portal_url: Option<String>,
}

impl AdminServer {
    pub fn build(
        config: &CoreConfig,
        store: Store,
        limits: TenantLimits,
        relay_wake: std::sync::Arc<tokio::sync::Notify>,
    ) -> anyhow::Result<Self> {
        let directory = match config.directory_url.as_deref() {
            Some(url) => Some(proto::directory_client::DirectoryClient::with_interceptor(
                config
                    .directory_tls
                    .endpoint(url, "DIRECTORY_GRPC_URL")?
                    .connect_timeout(std::time::Duration::from_secs(3))
                    .timeout(std::time::Duration::from_secs(30))
                    .connect_lazy(),
                crate::linking::directory_credential(config)?,
            )),
            None => None,
        };
        let portal_listener = config
            .admin
            .portal_addr
            .map(|addr| {
                std::net::TcpListener::bind(addr).with_context(|| format!("binding the portal listener on {addr}"))
            })
            .transpose()?;
        let portal_url = match (&config.admin.portal_url, &portal_listener) {
            (Some(url), Some(_)) => Some(url.clone()),
            (None, Some(listener)) => Some(format!("http://{}/portal/", listener.local_addr()?)),
            (Some(_), None) => {
                tracing::warn!(
                    "PORTAL_PUBLIC_URL is set without PORTAL_HTTP_ADDR: no portal is served, no links given"
                );
                None
            }
            (None, None) => None,
        };
        let admin = web::Data::new(Admin {
            store,
            credential: config.admin.token.as_ref().map(|t| Sha256::digest(t.expose_secret().as_bytes()).into()),
            region: config.region.clone(),
            region_tenant_urls: config.admin.region_tenant_urls.clone(),
            token_prefix: config.token_prefix.clone(),
            limits,
            directory,
            relay_wake,
            portal_url: portal_url.clone(),
            naming: config.webhooks.naming.clone(),
            outbox_retention_days: config.safeguards.outbox_retention_days,
            allow_private_webhooks: config.webhooks.allow_private_targets,
            oidc: config.admin.oidc.clone().map(oidc::Verifier::new).transpose()?,
        });
        if admin.credential.is_none() {
            tracing::warn!("ADMIN_TOKEN is not set: the admin API admits operator keys only");
        }
        let listener = std::net::TcpListener::bind(config.admin.addr)
            .with_context(|| format!("binding the admin listener on {}", config.admin.addr))?;
        let address = listener.local_addr()?;
        let portal_state = admin.clone();
        let server = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .wrap(actix_web::middleware::from_fn(operators::audit))
                .app_data(admin.clone())
                .app_data(web::PayloadConfig::new(64 * 1024))
                .route("/livez", web::get().to(livez))
                .route("/readyz", web::get().to(readyz))
                .route("/metrics", web::get().to(metrics))
                .configure(routes)
                .default_service(web::to(not_found))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(5)
        .listen(listener)?
        .run();
        let portal = match portal_listener {
            Some(listener) => {
                let address = listener.local_addr()?;
                let admin = portal_state;
                let server = actix_web::HttpServer::new(move || {
                    actix_web::App::new()
                        .wrap(
                            actix_web::middleware::DefaultHeaders::new()
                                .add((header::CACHE_CONTROL, "no-store"))
                                .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                                .add((header::REFERRER_POLICY, "no-referrer")),
                        )
                        .app_data(admin.clone())
                        .app_data(web::PayloadConfig::new(16 * 1024))
                        .configure(portal_api::routes)
                        .default_service(web::to(portal_not_found))
                })
                .workers(1)
                .disable_signals()
                .shutdown_timeout(5)
                .client_request_timeout(std::time::Duration::from_secs(10))
                .listen(listener)?
                .run();
                Some((server, address))
            }
            None => None,
        };
        Ok(Self { server, address, portal, portal_url })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The portal page's address (public when `PORTAL_PUBLIC_URL` is set), when it is served.
    pub fn portal_url(&self) -> Option<&str> {
        self.portal_url.as_deref()
    }

    /// Where the portal listens, when it is served.
    pub fn portal_address(&self) -> Option<SocketAddr> {
        self.portal.as_ref().map(|(_, address)| *address)
    }

    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let handles: Vec<_> = std::iter::once(self.server.handle())
            .chain(self.portal.as_ref().map(|(server, _)| server.handle()))
            .collect();
        tokio::spawn(async move {
            shutdown.await;
            for handle in handles {
                handle.stop(true).await;
            }
        });
        tracing::info!(address = %self.address, "admin API serving");
        let portal = async move {
            let Some((server, address)) = self.portal else { return Ok(()) };
            tracing::info!(%address, "self-serve portal serving");
            server.await.context("portal HTTP server failed")
        };
        let admin = async move { self.server.await.context("admin HTTP server failed") };
        tokio::try_join!(admin, portal).map(|_| ())
    }
}
