//! The self-serve portal (issue 15): a page and its JSON API (`/portal/v1`) with which a
//! customer's IT admin sets up and watches the provisioning of their own tenant, without an
//! operator. The only credential is a portal session (`Authorization: Bearer portal_…`),
//! which the product's backend obtains through the admin API: one tenant's, short-lived,
//! revocable. Every handler reads and changes only that session's tenant; no id of another
//! tenant is ever looked up outside it, so such an id answers 404 exactly like an unknown one.
//!
//! Served by provisioning-core on its own listener (`PORTAL_HTTP_ADDR`), which the public
//! host's ingress routes `/portal` to. It lives here and not in the gateway because every
//! answer is the core's own state (tokens, log, resources, rules): in the gateway it would need
//! a second gRPC contract mirroring each endpoint, for no gain. The page is three files built
//! into the binary (`page/`); it loads nothing from anywhere else.
//!
//! The OpenAPI description is generated from this code (`utoipa`) and served at
//! `/portal/v1/openapi.json`.

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use scim::ScimError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::{
    Admin, AdminError, Answer, IssuedToken, LogPage, NewToken, RotationEnded, RulesEdit, TokenView, body, time,
};
use crate::error::CoreError;
use crate::provisioning_log;
use crate::store::activity::{self, ConnectionStatus};
use crate::store::tenants::{self, TenantId};
use crate::store::{groups, portal, query, schemas, users};
use platform::db::{DbConnection, now_micros};

/// An open portal session: the tenant every handler is confined to.
pub(super) struct Session {
    id: String,
    tenant: String,
    expires_at: i64,
}

const SESSION_MISSING: &str =
    "an 'Authorization: Bearer <portal session>' header is required: open the portal link your vendor's app gave you";

impl FromRequest for Session {
    type Error = AdminError;
    type Future = futures::future::LocalBoxFuture<'static, Result<Self, AdminError>>;

    fn from_request(request: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let admin = request.app_data::<web::Data<Admin>>().cloned();
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(proto::credential::bearer_token)
            .map(str::to_owned);
        Box::pin(async move {
            let admin = admin.ok_or_else(|| AdminError::new(500, "portal state missing"))?;
            let secret = presented.ok_or_else(|| AdminError::new(401, SESSION_MISSING))?;
            if !secret.starts_with("portal_") {
                return Err(AdminError::new(
                    401,
                    "this is not a portal session: SCIM tokens and admin credentials are not accepted here",
                ));
            }
            let now = now_micros();
            let found = admin.store(move |store| store.read(|conn| portal::authenticate(conn, &secret, now))).await?;
            let session = found.ok_or_else(|| {
                AdminError::new(
                    401,
                    "this portal session has expired or was revoked: open a new link from your vendor's app",
                )
            })?;
            Ok(Session { id: session.id, tenant: session.tenant_id, expires_at: session.expires_at })
        })
    }
}

/// An error: its HTTP status and what to do about it.
#[derive(Serialize, ToSchema)]
struct ErrorBody {
    status: u16,
    detail: String,
}

/// The tenant, as its admin sees it.
#[derive(Serialize, ToSchema)]
struct TenantView {
    slug: String,
    display_name: String,
    region: String,
    /// A disabled tenant's requests are refused (the vendor's operators decide).
    disabled: bool,
}

/// How many users and groups are provisioned.
#[derive(Serialize, ToSchema, Default)]
struct Counts {
    users: i64,
    active_users: i64,
    groups: i64,
    users_without_given_name: i64,
    users_without_family_name: i64,
    users_without_email: i64,
}

/// A problem, in plain words, with what fixes it.
#[derive(Serialize, ToSchema, Debug, Clone, PartialEq)]
struct Problem {
    /// A stable name (`no_live_token`, `sync_overdue`, `missing_given_name`, …).
    code: &'static str,
    /// `error` (provisioning does not work), `warning` (some of it does not) or `info`.
    severity: &'static str,
    message: String,
    fix: String,
}

/// Everything the portal's status page shows.
#[derive(Serialize, ToSchema)]
struct Overview {
    tenant: TenantView,
    /// The SCIM base URL to paste in the IdP (Entra ID: Tenant URL; Okta: SCIM connector base
    /// URL), of this tenant's region.
    tenant_url: Option<String>,
    /// When this portal session ends (RFC 3339).
    session_expires_at: Option<String>,
    connection: ConnectionStatus,
    counts: Counts,
    tokens: Vec<TokenView>,
    problems: Vec<Problem>,
}

#[derive(Serialize, ToSchema)]
struct TokenList {
    tokens: Vec<TokenView>,
}

/// A provisioned user.
#[derive(Serialize, ToSchema)]
struct UserView {
    /// The SCIM id.
    id: String,
    user_name: String,
    external_id: Option<String>,
    display_name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    email: Option<String>,
    active: bool,
    created_at: Option<String>,
    updated_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct UserPage {
    /// How many users match.
    total: i64,
    start_index: u32,
    users: Vec<UserView>,
}

/// A provisioned group and the product permissions its members get.
#[derive(Serialize, ToSchema)]
struct GroupView {
    id: String,
    display_name: String,
    external_id: Option<String>,
    members: i64,
    permissions: Vec<String>,
}

#[derive(Serialize, ToSchema)]
struct GroupPage {
    total: i64,
    start_index: u32,
    groups: Vec<GroupView>,
}

/// The permissions the members of a group get in the product (replacing the previous ones; an
/// empty list removes them).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PermissionsBody {
    permissions: Vec<String>,
}

/// A group's new permissions, and the job that re-publishes its members' records.
#[derive(Serialize, ToSchema)]
struct PermissionsChanged {
    group: GroupView,
    republishing_job: String,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// Part of a userName, displayName, e-mail or externalId (users); of a displayName or
    /// externalId (groups).
    search: Option<String>,
    /// 1-based (default 1).
    start_index: Option<u32>,
    /// 1 to 100 (default 25).
    count: Option<u32>,
}

/// The most live tokens a portal session may bring a tenant to.
const MAX_LIVE_TOKENS: usize = 5;
/// The most permissions one group may carry, and the longest one.
const MAX_PERMISSIONS: usize = 50;
const MAX_PERMISSION_CHARS: usize = 100;
/// What the mapping rules accept (`Rules::compile`).
const MAX_PERMISSION_BYTES: usize = 200;
/// The longest search text, and the largest page.
const MAX_SEARCH_CHARS: usize = 200;
const MAX_PAGE: u32 = 100;
/// The longest page of the provisioning log.
const MAX_LOG_LIMIT: i64 = 200;
const DAY_MICROS: i64 = 86_400_000_000;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "SCIM provisioning: self-serve portal API",
        description = "One tenant's provisioning, for that tenant's own admin. Authenticate with a portal session \
                       (`Authorization: Bearer portal_…`), which the product's backend obtains from the admin API \
                       (`POST /admin/v1/tenants/{slug}/portal-sessions`). Errors are `{\"status\", \"detail\"}`."
    ),
    paths(
        overview,
        list_tokens,
        issue_token,
        revoke_token,
        rotate_token,
        complete_rotation,
        cancel_rotation,
        log,
        list_users,
        list_groups,
        put_permissions,
        list_webhooks,
        create_webhook,
        delete_webhook,
        webhook_deliveries,
        replay_webhook
    ),
    modifiers(&SessionScheme)
)]
struct PortalApi;

struct SessionScheme;

impl utoipa::Modify for SessionScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "portal_session",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("portal_…").build()),
        );
    }
}

/// The portal API's OpenAPI description.
pub fn openapi_json() -> String {
    PortalApi::openapi().to_pretty_json().unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

fn tenant_id(session: &Session) -> TenantId {
    TenantId(session.tenant.clone())
}

fn counts(conn: &mut DbConnection, tenant: &TenantId) -> Result<Counts, CoreError> {
    let registry = schemas::registry(conn, tenant)?;
    let page = query::Page { start_index: 1, count: 0 };
    // How many of the tenant's users match a filter (none: all).
    let users = |conn: &mut DbConnection, filter: Option<&str>| -> Result<i64, CoreError> {
        let filter = filter.map(scim::Filter::parse).transpose()?;
        Ok(users::search(conn, tenant, &registry, filter.as_ref(), None, page)?.0)
    };
    Ok(Counts {
        users: users(conn, None)?,
        active_users: users(conn, Some("active eq true"))?,
        users_without_given_name: users(conn, Some("not (name.givenName pr)"))?,
        users_without_family_name: users(conn, Some("not (name.familyName pr)"))?,
        users_without_email: users(conn, Some("not (emails pr)"))?,
        groups: groups::search(conn, tenant, &registry, None, None, page, true)?.0,
    })
}

/// What the problems are made from.
struct Findings {
    disabled: bool,
    idp: Option<&'static str>,
    connection: ConnectionStatus,
    quiet_for_minutes: Option<i64>,
    tenant_url: Option<String>,
    live_tokens: Vec<(String, Option<i64>)>,
    counts: Counts,
    /// Failed requests of the last day: (status, scimType) and how many, most frequent first.
    failures: Vec<((i32, Option<String>), i64)>,
    /// Requests of the last day that succeeded with warnings (e.g. unknown members).
    warned: i64,
    now: i64,
}

/// Where in the IdP an attribute mapping is changed.
fn mappings_place(idp: Option<&str>) -> &'static str {
    match idp {
        Some("Okta") => "in Okta: Applications › your app › Provisioning › To App › Attribute Mappings",
        _ => {
            "in Entra ID: Enterprise applications › your app › Provisioning › Mappings › Provision Microsoft Entra ID Users"
        }
    }
}

/// The problems, most serious first, each with its fix.
fn problems(found: &Findings) -> Vec<Problem> {
    let mut list = Vec::new();
    let mut add = |code, severity, message: String, fix: String| list.push(Problem { code, severity, message, fix });
    let url = found.tenant_url.as_deref().unwrap_or("the tenant URL above");
    if found.disabled {
        add(
            "tenant_disabled",
            "error",
            "Provisioning to this tenant is switched off by your vendor: every request is refused.".to_owned(),
            "Contact your vendor's support to have it enabled again.".to_owned(),
        );
    }
    if found.live_tokens.is_empty() {
        add(
            "no_live_token",
            "error",
            "There is no active secret token: your identity provider cannot sign in.".to_owned(),
            "Generate a token below and paste it as the Secret Token (Entra ID) or API token (Okta).".to_owned(),
        );
    }
    // Provisioning stops only when every live token has expired: name the last to go.
    let expiries: Option<Vec<(&String, i64)>> =
        found.live_tokens.iter().map(|(prefix, expires_at)| expires_at.map(|at| (prefix, at))).collect();
    let last = expiries.and_then(|list| list.into_iter().max_by_key(|(_, at)| *at));
    if let Some((prefix, expires_at)) = last.filter(|(_, at)| *at - found.now < 14 * DAY_MICROS) {
        let when = time(expires_at).unwrap_or_default();
        add(
            "token_expiring",
            "warning",
            format!("The token {prefix}… expires at {when}; provisioning stops then."),
            "Rotate it below, paste the new token in your identity provider, then finish the rotation.".to_owned(),
        );
    }
    match (found.connection.status, found.quiet_for_minutes) {
        ("never", _) => add(
            "never_connected",
            "info",
            "No request from your identity provider has arrived yet.".to_owned(),
            format!(
                "Paste {url} and a secret token in your identity provider, test the connection, and start provisioning."
            ),
        ),
        ("overdue", Some(minutes)) => {
            let quiet = if minutes >= 2 * 24 * 60 {
                format!("{} days", minutes / (24 * 60))
            } else if minutes >= 120 {
                format!("{} hours", minutes / 60)
            } else {
                format!("{minutes} minutes")
            };
            let fix = match found.idp {
                Some("Okta") => "Okta may have stopped pushing: check Applications › your app › Provisioning and the \
                                 Okta system log for errors."
                    .to_owned(),
                _ => "Provisioning may be paused or in quarantine in Entra ID: open Enterprise applications › your \
                      app › Provisioning › Overview, fix what it reports, and restart provisioning."
                    .to_owned(),
            };
            add("sync_overdue", "warning", format!("No request for {quiet}, longer than three sync cycles."), fix);
        }
        _ => {}
    }
    let users = found.counts.users;
    let place = mappings_place(found.idp);
    let okta = found.idp == Some("Okta");
    // (code, how many, what is missing, the SCIM attribute, its source in Entra ID and in Okta)
    for (code, missing, what, attribute, entra, okta_source) in [
        (
            "missing_given_name",
            found.counts.users_without_given_name,
            "givenName",
            "name.givenName",
            "givenName",
            "firstName",
        ),
        (
            "missing_family_name",
            found.counts.users_without_family_name,
            "familyName",
            "name.familyName",
            "surname",
            "lastName",
        ),
        (
            "missing_email",
            found.counts.users_without_email,
            "an e-mail",
            "emails[type eq \"work\"].value",
            "mail",
            "email",
        ),
    ] {
        if missing > 0 {
            let source = if okta { okta_source } else { entra };
            add(
                code,
                "warning",
                format!("{missing} of {users} users arrived without {what}."),
                format!("Map {source} to {attribute} {place}; the users are updated on the next sync cycle."),
            );
        }
    }
    for ((status, scim_type), count) in found.failures.iter().take(3) {
        let (message, fix) = failure_words(*status, scim_type.as_deref());
        add("requests_failing", "warning", format!("{count} requests in the last 24 hours failed: {message}"), fix);
    }
    if found.warned > 0 {
        add(
            "requests_with_warnings",
            "info",
            format!("{} requests in the last 24 hours succeeded with warnings (see the log below).", found.warned),
            "Most often a group names members that were never provisioned: assign those users to the app too."
                .to_owned(),
        );
    }
    list
}

/// A failed request's kind in plain words, and its fix.
fn failure_words(status: i32, scim_type: Option<&str>) -> (String, String) {
    match (status, scim_type) {
        (409, _) => (
            "a user or group with the same userName or displayName already exists (409 uniqueness).".to_owned(),
            "Two people share a userName, or the app was provisioned before: check the users named in the log, \
             or match on the existing accounts in your identity provider."
                .to_owned(),
        ),
        (400, Some(kind)) => (
            format!("your identity provider sent something this service refuses (400 {kind})."),
            "Open the log entries below: the detail names the attribute; a custom attribute mapping is the usual \
             cause."
                .to_owned(),
        ),
        (429, _) => (
            "your identity provider sent faster than this tenant's limit (429); it retries by itself.".to_owned(),
            "Nothing to do unless it persists; then ask your vendor to raise the tenant's rate limit.".to_owned(),
        ),
        (status, _) if status >= 500 => (
            format!("the service answered {status}; your identity provider retries these."),
            "If this persists, contact your vendor's support with the time and trace id from the log.".to_owned(),
        ),
        (status, _) => (format!("answered {status}."), "Open the log entries below for the detail of each.".to_owned()),
    }
}

fn findings(conn: &mut DbConnection, admin: &Admin, tenant_slug: &str, now: i64) -> Result<Overview, CoreError> {
    let tenant = tenants::get_tenant(conn, tenant_slug)?;
    let id = TenantId(tenant.id.clone());
    let seen = activity::get(conn, tenant_slug)?;
    let cadence = tenant.settings.cadence_minutes();
    let connection = activity::connection(seen.as_ref(), cadence, now);
    let tokens = tenants::list_tokens(conn, tenant_slug)?;
    let counts = counts(conn, &id)?;
    let (failures, warned) = provisioning_log::summary_since(conn, tenant_slug, now - DAY_MICROS)?;
    let region = if tenant.region.is_empty() { admin.region.clone() } else { tenant.region.clone() };
    let tenant_url = admin.tenant_url(&region).map(str::to_owned);
    let live_tokens = tokens
        .iter()
        .filter(|token| token.is_live(now))
        .map(|token| (token.prefix.clone(), token.expires_at))
        .collect();
    let found = Findings {
        disabled: tenant.disabled,
        idp: connection.idp,
        quiet_for_minutes: seen.as_ref().map(|s| (now - s.last_request_at) / 60_000_000),
        connection: connection.clone(),
        tenant_url: tenant_url.clone(),
        live_tokens,
        counts,
        failures,
        warned,
        now,
    };
    let problems = problems(&found);
    let overview = Overview {
        tenant: TenantView { slug: tenant.id, display_name: tenant.display_name, region, disabled: tenant.disabled },
        tenant_url,
        session_expires_at: None,
        connection,
        counts: found.counts,
        tokens: tokens.iter().map(|token| TokenView::of(token, now)).collect(),
        problems,
    };
    Ok(overview)
}

/// The tenant, its tenant URL, connection, counts, tokens and problems.
#[utoipa::path(get, path = "/portal/v1/overview", tag = "portal", security(("portal_session" = [])),
    responses((status = 200, body = Overview), (status = 401, body = ErrorBody)))]
async fn overview(session: Session, admin: web::Data<Admin>) -> Answer {
    let slug = session.tenant.clone();
    let state = admin.clone();
    let mut overview = admin.store(move |store| store.read(|conn| findings(conn, &state, &slug, now_micros()))).await?;
    overview.session_expires_at = time(session.expires_at);
    Ok(HttpResponse::Ok().json(overview))
}

/// The tenant's SCIM tokens (never their secrets).
#[utoipa::path(get, path = "/portal/v1/tokens", tag = "portal", security(("portal_session" = [])),
    responses((status = 200, body = TokenList), (status = 401, body = ErrorBody)))]
async fn list_tokens(session: Session, admin: web::Data<Admin>) -> Answer {
    let slug = session.tenant;
    let list = admin.store(move |store| store.read(|conn| tenants::list_tokens(conn, &slug))).await?;
    let now = now_micros();
    Ok(HttpResponse::Ok().json(TokenList { tokens: list.iter().map(|t| TokenView::of(t, now)).collect() }))
}

/// A new SCIM token, shown once (`{"expires_in_days": N}` optional, 1 to 3650); at most five
/// live tokens.
#[utoipa::path(post, path = "/portal/v1/tokens", tag = "portal", security(("portal_session" = [])),
    request_body(content = Option<NewToken>, description = "optional; `{}` or no body: a token that does not expire"),
    responses((status = 201, body = IssuedToken), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, description = "five live tokens already", body = ErrorBody)))]
async fn issue_token(session: Session, admin: web::Data<Admin>, bytes: web::Bytes) -> Answer {
    let expires_at = body::<NewToken>(&bytes)?.expires_at()?;
    let issued = admin.new_token(session.tenant.clone(), None, expires_at, Some(MAX_LIVE_TOKENS)).await?;
    tracing::info!(tenant.id = %session.tenant, token.id = %issued.1.id, portal_session.id = %session.id, "token issued through the portal");
    Ok(HttpResponse::Created().json(admin.issued(&issued)))
}

/// Revokes a token at once.
#[utoipa::path(delete, path = "/portal/v1/tokens/{id}", tag = "portal", security(("portal_session" = [])),
    params(("id" = String, Path, description = "the token's id")),
    responses((status = 204, description = "revoked"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke_token(session: Session, admin: web::Data<Admin>, id: web::Path<String>) -> Answer {
    let (slug, id) = (session.tenant.clone(), id.into_inner());
    let record = admin.store(move |store| store.write(|conn| tenants::revoke_token(conn, &slug, &id))).await?;
    tracing::info!(tenant.id = %session.tenant, token.id = %record.id, portal_session.id = %session.id, "token revoked through the portal");
    Ok(HttpResponse::NoContent().finish())
}

/// Starts a rotation: a new token (shown once) while the old one keeps working, until the
/// rotation is completed (the old one revoked) or cancelled (the new one revoked).
#[utoipa::path(post, path = "/portal/v1/tokens/{id}/rotate", tag = "portal", security(("portal_session" = [])),
    params(("id" = String, Path, description = "the token being replaced")),
    request_body(content = Option<NewToken>, description = "optional: the new token's expiry"),
    responses((status = 201, body = IssuedToken), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "revoked, expired, or already rotating", body = ErrorBody)))]
async fn rotate_token(session: Session, admin: web::Data<Admin>, id: web::Path<String>, bytes: web::Bytes) -> Answer {
    let expires_at = body::<NewToken>(&bytes)?.expires_at()?;
    // One more than the cap: a rotation's overlap (a chain of rotations stops at it).
    let issued =
        admin.new_token(session.tenant.clone(), Some(id.into_inner()), expires_at, Some(MAX_LIVE_TOKENS + 1)).await?;
    tracing::info!(tenant.id = %session.tenant, token.id = %issued.1.id, portal_session.id = %session.id, "token rotation started through the portal");
    Ok(HttpResponse::Created().json(admin.issued(&issued)))
}

async fn finish_rotation(session: Session, admin: web::Data<Admin>, id: String, complete: bool) -> Answer {
    let answer = super::finish_rotation(admin, session.tenant.clone(), id.clone(), complete).await?;
    tracing::info!(tenant.id = %session.tenant, token.id = %id, portal_session.id = %session.id, complete, "token rotation ended through the portal");
    Ok(answer)
}

/// Completes a rotation: the old token is revoked.
#[utoipa::path(post, path = "/portal/v1/tokens/{id}/rotate/complete", tag = "portal", security(("portal_session" = [])),
    params(("id" = String, Path, description = "the token being replaced")),
    responses((status = 200, body = RotationEnded), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "not being rotated", body = ErrorBody)))]
async fn complete_rotation(session: Session, admin: web::Data<Admin>, id: web::Path<String>) -> Answer {
    finish_rotation(session, admin, id.into_inner(), true).await
}

/// Cancels a rotation: the new token is revoked, the old one stays.
#[utoipa::path(post, path = "/portal/v1/tokens/{id}/rotate/cancel", tag = "portal", security(("portal_session" = [])),
    params(("id" = String, Path, description = "the token being replaced")),
    responses((status = 200, body = RotationEnded), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "not being rotated", body = ErrorBody)))]
async fn cancel_rotation(session: Session, admin: web::Data<Admin>, id: web::Path<String>) -> Answer {
    finish_rotation(session, admin, id.into_inner(), false).await
}

/// The tenant's provisioning log, newest first, in pages of at most 200.
#[utoipa::path(get, path = "/portal/v1/log", tag = "portal", security(("portal_session" = [])),
    params(super::LogParams),
    responses((status = 200, body = LogPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn log(session: Session, admin: web::Data<Admin>, request: HttpRequest) -> Answer {
    let page = super::log_page(&admin, session.tenant, request.query_string(), MAX_LOG_LIMIT).await?;
    Ok(HttpResponse::Ok().json(page))
}

fn list_params(request: &HttpRequest) -> Result<(Option<String>, query::Page), AdminError> {
    let params = web::Query::<ListParams>::from_query(request.query_string())
        .map_err(|e| AdminError::bad_request(format!("invalid query: {e}")))?
        .into_inner();
    let search = params.search.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    if search.as_ref().is_some_and(|s| s.chars().count() > MAX_SEARCH_CHARS) {
        return Err(AdminError::bad_request(format!("search is at most {MAX_SEARCH_CHARS} characters")));
    }
    let count = params.count.unwrap_or(25);
    if !(1..=MAX_PAGE).contains(&count) {
        return Err(AdminError::bad_request(format!("count must be between 1 and {MAX_PAGE}")));
    }
    Ok((search, query::Page { start_index: params.start_index.unwrap_or(1).max(1), count }))
}

/// A SCIM filter matching `search` in any of `attributes` (`co`: contains, case-insensitive).
fn search_filter(search: &str, attributes: &[&str]) -> Result<scim::Filter, CoreError> {
    let quoted = Value::String(search.to_owned()).to_string();
    let text = attributes.iter().map(|a| format!("{a} co {quoted}")).collect::<Vec<_>>().join(" or ");
    Ok(scim::Filter::parse(&text)?)
}

fn text_at(attributes: &Map<String, Value>, path: &[&str]) -> Option<String> {
    let mut value = attributes.get(path[0])?;
    for key in &path[1..] {
        value = value.get(*key)?;
    }
    value.as_str().map(str::to_owned)
}

fn email_of(attributes: &Map<String, Value>) -> Option<String> {
    let emails = attributes.get("emails")?.as_array()?;
    let primary = emails.iter().find(|e| e.get("primary").and_then(Value::as_bool) == Some(true));
    primary.or(emails.first())?.get("value")?.as_str().map(str::to_owned)
}

/// The tenant's users, paged and searchable.
#[utoipa::path(get, path = "/portal/v1/users", tag = "portal", security(("portal_session" = [])),
    params(ListParams),
    responses((status = 200, body = UserPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn list_users(session: Session, admin: web::Data<Admin>, request: HttpRequest) -> Answer {
    let (search, page) = list_params(&request)?;
    let tenant = tenant_id(&session);
    let (total, found) = admin
        .store(move |store| {
            store.read(|conn| {
                let registry = schemas::registry(conn, &tenant)?;
                let filter = search
                    .as_deref()
                    .map(|s| search_filter(s, &["userName", "displayName", "emails.value", "externalId"]))
                    .transpose()?;
                users::search(conn, &tenant, &registry, filter.as_ref(), None, page)
            })
        })
        .await?;
    let users = found
        .into_iter()
        .map(|user| UserView {
            user_name: text_at(&user.attributes, &["userName"]).unwrap_or_default(),
            external_id: text_at(&user.attributes, &["externalId"]),
            display_name: text_at(&user.attributes, &["displayName"]),
            given_name: text_at(&user.attributes, &["name", "givenName"]),
            family_name: text_at(&user.attributes, &["name", "familyName"]),
            email: email_of(&user.attributes),
            active: user.attributes.get("active").and_then(Value::as_bool).unwrap_or(true),
            created_at: time(user.created_at),
            updated_at: time(user.updated_at),
            id: user.id,
        })
        .collect();
    Ok(HttpResponse::Ok().json(UserPage { total, start_index: page.start_index, users }))
}

fn group_view(
    group: &crate::store::StoredResource,
    members: i64,
    permissions: &crate::mapping::GroupPermissions,
) -> GroupView {
    let display_name = text_at(&group.attributes, &["displayName"]).unwrap_or_default();
    let external_id = text_at(&group.attributes, &["externalId"]);
    GroupView {
        id: group.id.clone(),
        members,
        permissions: crate::mapping::team_permissions(permissions, &display_name, external_id.as_deref()),
        display_name,
        external_id,
    }
}

/// The tenant's groups with their member counts and permissions, paged and searchable.
#[utoipa::path(get, path = "/portal/v1/groups", tag = "portal", security(("portal_session" = [])),
    params(ListParams),
    responses((status = 200, body = GroupPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn list_groups(session: Session, admin: web::Data<Admin>, request: HttpRequest) -> Answer {
    let (search, page) = list_params(&request)?;
    let tenant = tenant_id(&session);
    let (total, groups) = admin
        .store(move |store| {
            store.read(|conn| {
                let registry = schemas::registry(conn, &tenant)?;
                let filter = search.as_deref().map(|s| search_filter(s, &["displayName", "externalId"])).transpose()?;
                let (total, found) = groups::search(conn, &tenant, &registry, filter.as_ref(), None, page, true)?;
                let (_, permissions) = tenants::mapping_of(conn, tenant.as_str())?;
                let views = found
                    .iter()
                    .map(|group| Ok(group_view(group, groups::member_count(conn, &tenant, &group.id)?, &permissions)))
                    .collect::<Result<_, CoreError>>()?;
                Ok((total, views))
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(GroupPage { total, start_index: page.start_index, groups }))
}

fn check_permissions(asked: Vec<String>) -> Result<Vec<String>, AdminError> {
    let mut list: Vec<String> = asked.into_iter().map(|p| p.trim().to_owned()).collect();
    list.sort();
    list.dedup();
    if list.len() > MAX_PERMISSIONS {
        return Err(AdminError::bad_request(format!("a group carries at most {MAX_PERMISSIONS} permissions")));
    }
    for permission in &list {
        let valid = !permission.is_empty()
            && permission.chars().count() <= MAX_PERMISSION_CHARS
            && permission.len() <= MAX_PERMISSION_BYTES
            && !permission.chars().any(char::is_control);
        if !valid {
            return Err(AdminError::bad_request(format!(
                "each permission is 1 to {MAX_PERMISSION_CHARS} characters ({MAX_PERMISSION_BYTES} bytes of UTF-8), without control characters"
            )));
        }
    }
    Ok(list)
}

/// Sets the product permissions a group's members get; their records are re-published in the
/// background (the job's id is in the answer).
#[utoipa::path(put, path = "/portal/v1/groups/{id}/permissions", tag = "portal", security(("portal_session" = [])),
    params(("id" = String, Path, description = "the group's SCIM id")),
    request_body = PermissionsBody,
    responses((status = 200, body = PermissionsChanged), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn put_permissions(
    session: Session,
    admin: web::Data<Admin>,
    id: web::Path<String>,
    bytes: web::Bytes,
) -> Answer {
    let asked = check_permissions(body::<PermissionsBody>(&bytes)?.permissions)?;
    let tenant = tenant_id(&session);
    let group_id = id.into_inner();
    // The group is read in the transaction that stores its permissions.
    let edit: RulesEdit<(crate::store::StoredResource, i64)> = Box::new(move |conn, _, permissions| {
        let group = groups::find(conn, &tenant, &group_id)?
            .ok_or_else(|| CoreError::Scim(ScimError::not_found(format!("no group '{group_id}' in this tenant"))))?;
        crate::mapping::set_team_permissions(permissions, &group.display_name, group.external_id.as_deref(), asked);
        let members = groups::member_count(conn, &tenant, &group.id)?;
        Ok((group.to_resource(&groups::Members::Excluded)?, members))
    });
    let changed = super::change_rules(&admin, session.tenant.clone(), "group permissions changed", edit).await?;
    let (group, members) = changed.edited;
    let group = group_view(&group, members, &changed.permissions);
    tracing::info!(tenant.id = %session.tenant, group.id = %group.id, portal_session.id = %session.id, "group permissions changed through the portal");
    Ok(HttpResponse::Ok().json(PermissionsChanged { group, republishing_job: changed.job.id }))
}

/// The tenant's webhook endpoints (its events, signed; the secret is shown once).
#[utoipa::path(get, path = "/portal/v1/webhooks", tag = "webhooks", security(("portal_session" = [])),
    responses((status = 200, description = "`{webhooks: [{id, url, event_types, description, created_at, deliveries: {pending, delivered, dead}}]}`"),
        (status = 401, body = ErrorBody)))]
async fn list_webhooks(session: Session, admin: web::Data<Admin>) -> Answer {
    super::webhooks::list_in(&admin, super::webhooks::Scope::Tenant(&session.tenant)).await
}

/// Makes an endpoint for the tenant's events: `{url, event_types?, description?}`; 201 with
/// `secret` (Standard Webhooks, shown once). Only public addresses, unless the server allows
/// private ones.
#[utoipa::path(post, path = "/portal/v1/webhooks", tag = "webhooks", security(("portal_session" = [])),
    responses((status = 201, description = "the endpoint and its `secret`"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
async fn create_webhook(session: Session, admin: web::Data<Admin>, bytes: web::Bytes) -> Answer {
    let made = super::webhooks::create_in(&admin, &bytes, super::webhooks::Scope::Tenant(&session.tenant)).await?;
    tracing::info!(tenant.id = %session.tenant, portal_session.id = %session.id, "webhook endpoint made through the portal");
    Ok(made)
}

#[utoipa::path(delete, path = "/portal/v1/webhooks/{id}", tag = "webhooks", security(("portal_session" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_webhook(session: Session, admin: web::Data<Admin>, id: web::Path<String>) -> Answer {
    super::webhooks::delete_in(&admin, id.into_inner(), super::webhooks::Scope::Tenant(&session.tenant)).await
}

/// An endpoint's deliveries, newest first (`?state=pending|delivered|dead&limit=`).
#[utoipa::path(get, path = "/portal/v1/webhooks/{id}/deliveries", tag = "webhooks", security(("portal_session" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "`{deliveries: [...]}`"), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn webhook_deliveries(
    session: Session,
    admin: web::Data<Admin>,
    id: web::Path<String>,
    request: HttpRequest,
) -> Answer {
    super::webhooks::deliveries_in(&admin, id.into_inner(), &request, super::webhooks::Scope::Tenant(&session.tenant))
        .await
}

/// Delivered or dead deliveries back in line: `{since?, state?}`.
#[utoipa::path(post, path = "/portal/v1/webhooks/{id}/replay", tag = "webhooks", security(("portal_session" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "`{requeued: n}`"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn replay_webhook(session: Session, admin: web::Data<Admin>, id: web::Path<String>, bytes: web::Bytes) -> Answer {
    super::webhooks::replay_in(&admin, id.into_inner(), &bytes, super::webhooks::Scope::Tenant(&session.tenant)).await
}

/// `/portal/v1`: the API; `/portal/`: the page.
pub(super) fn routes(config: &mut web::ServiceConfig) {
    config
        .service(
            web::scope("/portal/v1")
                .service(super::resource("/overview").route(web::get().to(overview)))
                .service(
                    super::resource("/tokens").route(web::get().to(list_tokens)).route(web::post().to(issue_token)),
                )
                .service(super::resource("/tokens/{id}").route(web::delete().to(revoke_token)))
                .service(super::resource("/tokens/{id}/rotate").route(web::post().to(rotate_token)))
                .service(super::resource("/tokens/{id}/rotate/complete").route(web::post().to(complete_rotation)))
                .service(super::resource("/tokens/{id}/rotate/cancel").route(web::post().to(cancel_rotation)))
                .service(super::resource("/log").route(web::get().to(log)))
                .service(super::resource("/users").route(web::get().to(list_users)))
                .service(super::resource("/groups").route(web::get().to(list_groups)))
                .service(super::resource("/groups/{id}/permissions").route(web::put().to(put_permissions)))
                .service(
                    super::resource("/webhooks")
                        .route(web::get().to(list_webhooks))
                        .route(web::post().to(create_webhook)),
                )
                .service(super::resource("/webhooks/{id}").route(web::delete().to(delete_webhook)))
                .service(super::resource("/webhooks/{id}/deliveries").route(web::get().to(webhook_deliveries)))
                .service(super::resource("/webhooks/{id}/replay").route(web::post().to(replay_webhook)))
                .service(super::resource("/openapi.json").route(web::get().to(openapi))),
        )
        .route("/portal", web::get().to(to_page))
        .route("/portal/", web::get().to(page))
        .route("/portal/portal.js", web::get().to(script))
        .route("/portal/portal.css", web::get().to(style));
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(openapi_json())
}

/// What every page file is served with: nothing from elsewhere, never framed, no referrer
/// (the session travels in the URL's fragment, which browsers never send, and then in
/// `sessionStorage`).
fn page_file(content_type: &'static str, text: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; \
             base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(text)
}

async fn to_page(request: HttpRequest) -> HttpResponse {
    let query = request.query_string();
    let location = if query.is_empty() { "/portal/".to_owned() } else { format!("/portal/?{query}") };
    HttpResponse::PermanentRedirect().insert_header((header::LOCATION, location)).finish()
}

async fn page() -> HttpResponse {
    page_file("text/html; charset=utf-8", include_str!("page/index.html"))
}

async fn script() -> HttpResponse {
    page_file("text/javascript; charset=utf-8", include_str!("page/portal.js"))
}

async fn style() -> HttpResponse {
    page_file("text/css; charset=utf-8", include_str!("page/portal.css"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000_000;

    fn findings(now: i64) -> Findings {
        Findings {
            disabled: false,
            idp: Some("Microsoft Entra ID"),
            connection: activity::connection(None, 40, now),
            quiet_for_minutes: None,
            tenant_url: Some("https://scim.eu.example.com/scim/v2".to_owned()),
            live_tokens: vec![("scim_eu_AbCd".to_owned(), None)],
            counts: Counts { users: 12, active_users: 12, groups: 1, ..Counts::default() },
            failures: Vec::new(),
            warned: 0,
            now,
        }
    }

    fn codes(list: &[Problem]) -> Vec<&'static str> {
        list.iter().map(|p| p.code).collect()
    }

    #[test]
    fn a_new_tenant_is_told_to_paste_the_url_and_a_token() {
        let mut found = findings(0);
        found.live_tokens.clear();
        let list = problems(&found);
        assert_eq!(codes(&list), ["no_live_token", "never_connected"]);
        assert!(list[1].fix.contains("https://scim.eu.example.com/scim/v2"), "{:?}", list[1]);
    }

    #[test]
    fn quiet_beyond_three_cycles_names_where_to_look_in_the_idp() {
        let now = 4 * 24 * 60 * MINUTE;
        let seen = activity::Activity {
            tenant_id: "t".to_owned(),
            first_request_at: 0,
            last_request_at: 0,
            last_user_agent: Some("Okta SCIM Client 1.0.0".to_owned()),
            last_error_at: None,
            last_error: None,
        };
        let mut found = findings(now);
        found.connection = activity::connection(Some(&seen), 40, now);
        found.quiet_for_minutes = Some(4 * 24 * 60);
        found.idp = found.connection.idp;
        let list = problems(&found);
        assert_eq!(codes(&list), ["sync_overdue"]);
        assert_eq!(list[0].message, "No request for 4 days, longer than three sync cycles.");
        assert!(list[0].fix.contains("Okta"), "{:?}", list[0]);
        found.idp = Some("Microsoft Entra ID");
        found.quiet_for_minutes = Some(150);
        let list = problems(&found);
        assert_eq!(list[0].message, "No request for 2 hours, longer than three sync cycles.");
        assert!(list[0].fix.contains("quarantine"), "{:?}", list[0]);
    }

    #[test]
    fn users_without_names_point_at_the_mapping_to_add() {
        let mut found = findings(0);
        found.connection.status = "on_schedule";
        found.counts.users_without_given_name = 12;
        found.counts.users_without_email = 1;
        let list = problems(&found);
        assert_eq!(codes(&list), ["missing_given_name", "missing_email"]);
        assert_eq!(list[0].message, "12 of 12 users arrived without givenName.");
        assert!(list[0].fix.starts_with("Map givenName to name.givenName in Entra ID"), "{:?}", list[0]);
        assert_eq!(list[1].message, "1 of 12 users arrived without an e-mail.");
    }

    #[test]
    fn an_expiring_token_and_failures_are_reported_with_their_fix() {
        let now = 1_000 * 24 * 60 * MINUTE;
        let mut found = findings(now);
        found.connection.status = "on_schedule";
        found.live_tokens = vec![("scim_eu_AbCd".to_owned(), Some(now + 3 * 24 * 60 * MINUTE))];
        found.failures = vec![((409, Some("uniqueness".to_owned())), 7), ((400, Some("invalidValue".to_owned())), 2)];
        found.warned = 3;
        found.disabled = true;
        let list = problems(&found);
        assert_eq!(
            codes(&list),
            ["tenant_disabled", "token_expiring", "requests_failing", "requests_failing", "requests_with_warnings"]
        );
        assert!(list[1].message.starts_with("The token scim_eu_AbCd… expires at"), "{:?}", list[1]);
        assert!(
            list[2].message.starts_with("7 requests in the last 24 hours failed: a user or group"),
            "{:?}",
            list[2]
        );
        assert!(list[3].message.contains("400 invalidValue"), "{:?}", list[3]);
        found.live_tokens = vec![("scim_eu_AbCd".to_owned(), Some(now + 30 * 24 * 60 * MINUTE))];
        assert!(!codes(&problems(&found)).contains(&"token_expiring"), "a month ahead is not a problem yet");
    }

    #[test]
    fn a_search_is_quoted_into_a_filter() {
        let filter = search_filter("o\"brien \\ x", &["userName", "displayName"]).expect("a filter");
        assert!(matches!(filter, scim::Filter::Or(_, _)), "{filter:?}");
        assert!(search_filter("a", &["userName"]).is_ok());
    }

    #[test]
    fn permissions_are_trimmed_deduplicated_and_bounded() {
        assert_eq!(
            check_permissions(vec![" read".into(), "deploy".into(), "read ".into()]).unwrap(),
            ["deploy", "read"]
        );
        assert!(check_permissions(vec![String::new()]).is_err());
        assert!(check_permissions((0..51).map(|i| format!("p{i}")).collect()).is_err());
    }

    #[test]
    fn the_openapi_description_is_generated() {
        let description: Value = serde_json::from_str(&openapi_json()).expect("JSON");
        assert!(description["paths"]["/portal/v1/overview"]["get"].is_object(), "{description}");
    }
}
