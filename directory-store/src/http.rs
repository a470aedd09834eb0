//! The directory's HTTP JSON API for the product: accounts (read, looked up by email, created by
//! hand) and teams (with their members paged), with liveness and readiness; for operators and
//! reconciliation, the states of a tenant's accounts and teams and the dead letters. Errors are
//! `{"status": N, "detail": "…"}`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::Directory;
use crate::credentials::{self, Grant, Scope};
use crate::dead_letter::DeadLetterRecord;
use crate::error::DirectoryError;
use crate::manual::{self, NewAccount, NewAccountRequest};
use crate::read::{AccountFilter, TeamSummary};
use crate::records::{AccountRecord, AccountState, TeamState};
use crate::{dead_letter, paging, read};

/// The largest request body accepted.
const MAX_BODY_BYTES: usize = 16 * 1024;

#[derive(Debug, Serialize, ToSchema)]
struct AccountsBody {
    accounts: Vec<AccountRecord>,
    next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct TeamsBody {
    teams: Vec<TeamSummary>,
    next_cursor: Option<String>,
}

/// The caller's grant: its bearer token looked up (401 without a valid one).
async fn grant(directory: &Directory, request: &HttpRequest) -> Result<Grant, DirectoryError> {
    let value = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let token = credentials::presented(value)?.to_owned();
    blocking(directory, move |d| d.read(|conn| credentials::authenticate(conn, &token))).await
}

/// 401/403 unless the caller may do `scope` on `tenant`.
async fn authorize(
    directory: &Directory,
    request: &HttpRequest,
    tenant: &str,
    scope: Scope,
) -> Result<(), DirectoryError> {
    grant(directory, request).await?.check(tenant, scope)
}

#[derive(Debug, Serialize, ToSchema)]
struct TeamBody {
    id: String,
    name: String,
    external_id: Option<String>,
    members: Vec<String>,
    member_count: usize,
    permissions: Vec<String>,
}

impl From<proto::Team> for TeamBody {
    fn from(team: proto::Team) -> Self {
        let proto::Team { id, tenant_id: _, name, external_id, member_ids, permissions } = team;
        Self { id, name, external_id, member_count: member_ids.len(), members: member_ids, permissions }
    }
}

#[derive(Debug, Serialize, ToSchema)]
struct MembersBody {
    members: Vec<String>,
    next_cursor: Option<String>,
}

/// The query string as `T`; 400 for an unknown parameter or a bad value.
fn parse_query<T: serde::de::DeserializeOwned>(request: &HttpRequest) -> Result<T, DirectoryError> {
    Ok(web::Query::<T>::from_query(request.query_string())
        .map_err(|e| DirectoryError::Invalid(format!("invalid query: {e}")))?
        .into_inner())
}

async fn blocking<T: Send + 'static>(
    directory: &Directory,
    work: impl FnOnce(&Directory) -> Result<T, DirectoryError> + Send + 'static,
) -> Result<T, DirectoryError> {
    let directory = directory.clone();
    web::block(move || work(&directory)).await.map_err(|e| DirectoryError::Internal(e.to_string()))?
}

/// One live account, with its teams.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/accounts/{id}", tag = "accounts", security(("service_credential" = [])), 
    params(("tenant" = String, Path), ("id" = String, Path, description = "The account id")),
    responses((status = 200, body = AccountRecord), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
#[get("/v1/tenants/{tenant}/accounts/{id}")]
async fn get_account(
    directory: web::Data<Directory>,
    path: web::Path<(String, String)>,
    request: HttpRequest,
) -> Result<HttpResponse, DirectoryError> {
    let (tenant, id) = path.into_inner();
    authorize(&directory, &request, &tenant, Scope::Read).await?;
    let account = blocking(&directory, move |d| d.read(|conn| read::account(conn, &tenant, &id))).await?;
    Ok(HttpResponse::Ok().json(account))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AccountsQuery {
    /// The IdP's id of the user (exact).
    external_id: Option<String>,
    /// The SCIM userName (exact).
    user_name: Option<String>,
    /// The email (case-insensitive).
    email: Option<String>,
    /// The SCIM User id that provisions the account (a linked manual account too).
    scim_user_id: Option<String>,
    /// `true` or `false`.
    active: Option<String>,
    /// A team id: its members.
    team: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// 1 to 1000, default 100.
    limit: Option<String>,
}

/// `GET /v1/tenants/{tenant}/accounts?external_id=&user_name=&email=&scim_user_id=&active=&team=&cursor=&limit=`:
/// a page of the live accounts matching every filter given, by id, and the cursor of the next
/// page (`null` after the last).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/accounts", tag = "accounts", security(("service_credential" = [])), 
    params(("tenant" = String, Path), AccountsQuery),
    responses((status = 200, body = AccountsBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_accounts(
    directory: web::Data<Directory>,
    tenant: web::Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse, DirectoryError> {
    let tenant = tenant.into_inner();
    authorize(&directory, &request, &tenant, Scope::Read).await?;
    let query = parse_query::<AccountsQuery>(&request)?;
    let active = match query.active.as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => return Err(DirectoryError::Invalid(format!("active is true or false, not {other:?}"))),
    };
    let filter = AccountFilter {
        external_id: paging::given("external_id", query.external_id)?,
        user_name: paging::given("user_name", query.user_name)?,
        email: paging::given("email", query.email)?,
        scim_user_id: paging::given("scim_user_id", query.scim_user_id)?,
        active,
        team: paging::given("team", query.team)?,
    };
    let limit = paging::parse_page_size_within(query.limit.as_deref(), paging::DEFAULT_RECORDS, paging::MAX_RECORDS)?;
    let after = paging::decode_cursor(query.cursor.as_deref().unwrap_or_default())?;
    let (accounts, next) = blocking(&directory, move |d| {
        d.read(|conn| read::list_accounts(conn, &tenant, &filter, after.as_deref(), limit))
    })
    .await?;
    Ok(HttpResponse::Ok().json(AccountsBody { accounts, next_cursor: next.as_deref().map(paging::encode_cursor) }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct TeamsQuery {
    /// The IdP's id of the group (exact).
    external_id: Option<String>,
    /// The team's name (exact).
    name: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// 1 to 1000, default 100.
    limit: Option<String>,
}

/// `GET /v1/tenants/{tenant}/teams?external_id=&name=&cursor=&limit=`: a page of the live teams
/// (each with its member count, not its members), by id.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/teams", tag = "teams", security(("service_credential" = [])), 
    params(("tenant" = String, Path), TeamsQuery),
    responses((status = 200, body = TeamsBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
#[get("/v1/tenants/{tenant}/teams")]
async fn list_teams(
    directory: web::Data<Directory>,
    tenant: web::Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse, DirectoryError> {
    let tenant = tenant.into_inner();
    authorize(&directory, &request, &tenant, Scope::Read).await?;
    let query = parse_query::<TeamsQuery>(&request)?;
    let external_id = paging::given("external_id", query.external_id)?;
    let name = paging::given("name", query.name)?;
    let limit = paging::parse_page_size_within(query.limit.as_deref(), paging::DEFAULT_RECORDS, paging::MAX_RECORDS)?;
    let after = paging::decode_cursor(query.cursor.as_deref().unwrap_or_default())?;
    let (teams, next) = blocking(&directory, move |d| {
        d.read(|conn| read::list_teams(conn, &tenant, external_id.as_deref(), name.as_deref(), after.as_deref(), limit))
    })
    .await?;
    Ok(HttpResponse::Ok().json(TeamsBody { teams, next_cursor: next.as_deref().map(paging::encode_cursor) }))
}

/// `POST /v1/tenants/{tenant}/accounts`: a manual account; 409 when a live account of the tenant
/// has the email.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/accounts", tag = "accounts", security(("service_credential" = [])), 
    params(("tenant" = String, Path)), request_body = NewAccountRequest,
    responses((status = 201, body = AccountRecord), (status = 400, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "A live account has this email"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn create_account(
    directory: web::Data<Directory>,
    tenant: web::Path<String>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, DirectoryError> {
    let tenant = tenant.into_inner();
    authorize(&directory, &request, &tenant, Scope::Write).await?;
    let request: NewAccountRequest =
        serde_json::from_slice(&body).map_err(|e| DirectoryError::Invalid(format!("invalid request body: {e}")))?;
    let new = NewAccount::parse(request)?;
    let account = blocking(&directory, move |d| d.write(|conn| manual::create(conn, &tenant, new))).await?;
    tracing::info!(tenant.id = %account.tenant_id, account.id = %account.id, "manual account created");
    Ok(HttpResponse::Created().json(account))
}

/// One live team, with all its members (large teams: page them with `…/members`).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/teams/{id}", tag = "teams", security(("service_credential" = [])), 
    params(("tenant" = String, Path), ("id" = String, Path, description = "The SCIM group id")),
    responses((status = 200, body = TeamBody), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
#[get("/v1/tenants/{tenant}/teams/{id}")]
async fn get_team(
    directory: web::Data<Directory>,
    path: web::Path<(String, String)>,
    request: HttpRequest,
) -> Result<HttpResponse, DirectoryError> {
    let (tenant, id) = path.into_inner();
    authorize(&directory, &request, &tenant, Scope::Read).await?;
    let team = blocking(&directory, move |d| d.read(|conn| read::team(conn, &tenant, &id))).await?;
    Ok(HttpResponse::Ok().json(TeamBody::from(team)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct MembersQuery {
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// 1 to 10000, default 1000.
    limit: Option<String>,
}

/// `GET /v1/tenants/{tenant}/teams/{id}/members?cursor=…&limit=…`: a page of the team's live
/// members by account id, and the cursor of the next page (`null` after the last).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/teams/{id}/members", tag = "teams", security(("service_credential" = [])), 
    params(("tenant" = String, Path), ("id" = String, Path, description = "The SCIM group id"), MembersQuery),
    responses((status = 200, body = MembersBody), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
#[get("/v1/tenants/{tenant}/teams/{id}/members")]
async fn get_team_members(
    directory: web::Data<Directory>,
    path: web::Path<(String, String)>,
    request: HttpRequest,
) -> Result<HttpResponse, DirectoryError> {
    let (tenant, id) = path.into_inner();
    authorize(&directory, &request, &tenant, Scope::Read).await?;
    let MembersQuery { cursor, limit } = parse_query::<MembersQuery>(&request)?;
    let limit = paging::parse_page_size(limit.as_deref())?;
    let after = paging::decode_cursor(cursor.as_deref().unwrap_or_default())?;
    let (members, next) =
        blocking(&directory, move |d| d.read(|conn| read::team_members(conn, &tenant, &id, after.as_deref(), limit)))
            .await?;
    Ok(HttpResponse::Ok().json(MembersBody { members, next_cursor: next.as_deref().map(paging::encode_cursor) }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatesQuery {
    after: Option<String>,
    limit: Option<String>,
}

impl StatesQuery {
    /// The id to continue after (`None`, or empty: from the first) and the page size.
    fn parse(request: &HttpRequest) -> Result<(Option<String>, i64), DirectoryError> {
        let StatesQuery { after, limit } = parse_query::<StatesQuery>(request)?;
        Ok((after.filter(|after| !after.is_empty()), paging::parse_page_size(limit.as_deref())?))
    }
}

#[derive(Debug, Serialize)]
struct AccountStatesBody {
    accounts: Vec<AccountState>,
}

/// `GET /v1/tenants/{tenant}/account-states?after=…&limit=…`: a page of every account of the
/// tenant (deleted and purged ones too) by id ascending; fewer than `limit` on the last page.
#[get("/v1/tenants/{tenant}/account-states")]
async fn get_account_states(
    directory: web::Data<Directory>,
    tenant: web::Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse, DirectoryError> {
    let tenant = tenant.into_inner();
    authorize(&directory, &request, &tenant, Scope::Read).await?;
    let (after, limit) = StatesQuery::parse(&request)?;
    let accounts =
        blocking(&directory, move |d| d.read(|conn| read::account_states(conn, &tenant, after.as_deref(), limit)))
            .await?;
    Ok(HttpResponse::Ok().json(AccountStatesBody { accounts }))
}

#[derive(Debug, Serialize)]
struct TeamStatesBody {
    teams: Vec<TeamState>,
}

/// `GET /v1/tenants/{tenant}/team-states?after=…&limit=…`: a page of every team of the tenant
/// (deleted ones too) by id ascending, each with its count of live members.
#[get("/v1/tenants/{tenant}/team-states")]
async fn get_team_states(
    directory: web::Data<Directory>,
    tenant: web::Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse, DirectoryError> {
    let tenant = tenant.into_inner();
    authorize(&directory, &request, &tenant, Scope::Read).await?;
    let (after, limit) = StatesQuery::parse(&request)?;
    let teams =
        blocking(&directory, move |d| d.read(|conn| read::team_states(conn, &tenant, after.as_deref(), limit))).await?;
    Ok(HttpResponse::Ok().json(TeamStatesBody { teams }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeadLettersQuery {
    tenant: Option<String>,
    limit: Option<String>,
}

#[derive(Debug, Serialize)]
struct DeadLettersBody {
    dead_letters: Vec<DeadLetterRecord>,
    total: i64,
}

/// `GET /v1/dead-letters?tenant=…&limit=…`: the newest dead letters (of every tenant without
/// `tenant`; at most `limit`, 100 by default and at most 1000), and how many there are in all.
#[get("/v1/dead-letters")]
async fn get_dead_letters(
    directory: web::Data<Directory>,
    request: HttpRequest,
) -> Result<HttpResponse, DirectoryError> {
    let DeadLettersQuery { tenant, limit } = parse_query::<DeadLettersQuery>(&request)?;
    let limit =
        paging::parse_page_size_within(limit.as_deref(), paging::DEFAULT_DEAD_LETTERS, paging::MAX_DEAD_LETTERS)?;
    let tenant = tenant.filter(|tenant| !tenant.is_empty());
    let caller = grant(&directory, &request).await?;
    match &tenant {
        Some(tenant) => caller.check(tenant, Scope::Read)?,
        None => caller.check_all_tenants()?,
    }
    let (dead_letters, total) =
        blocking(&directory, move |d| d.read(|conn| dead_letter::list(conn, tenant.as_deref(), limit))).await?;
    Ok(HttpResponse::Ok().json(DeadLettersBody { dead_letters, total }))
}

/// An error: its HTTP status and what to do about it.
#[derive(Serialize, ToSchema)]
struct ErrorBody {
    status: u16,
    detail: String,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "SCIM provisioning: directory API",
        description = "The product's directory of accounts and teams, projected from SCIM. Every route needs a \
                       service credential (`Authorization: Bearer dirsvc_…`), of one tenant or of all, read or \
                       write (`directory-store credentials issue`). Lists page by an opaque `cursor` \
                       (`next_cursor`, `null` after the last page). Errors are `{\"status\", \"detail\"}`."
    ),
    paths(list_accounts, get_account, create_account, list_teams, get_team, get_team_members),
    modifiers(&CredentialScheme)
)]
struct DirectoryApi;

struct CredentialScheme;

impl utoipa::Modify for CredentialScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        openapi.components.get_or_insert_with(Default::default).add_security_scheme(
            "service_credential",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("dirsvc_…").build()),
        );
    }
}

/// The directory API's OpenAPI description, generated from the handlers above.
pub fn openapi_json() -> String {
    DirectoryApi::openapi().to_pretty_json().unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// `GET /v1/openapi.json` (no credential needed).
#[get("/v1/openapi.json")]
async fn get_openapi() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(openapi_json())
}

#[get("/livez")]
async fn livez() -> HttpResponse {
    HttpResponse::Ok().body("ok")
}

/// Ready when the database answers.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
        .service(
            web::resource("/v1/tenants/{tenant}/accounts")
                .route(web::get().to(list_accounts))
                .route(web::post().to(create_account)),
        )
        .service(get_account)
        .service(list_teams)
        .service(get_team)
        .service(get_team_members)
        .service(get_account_states)
        .service(get_team_states)
        .service(get_dead_letters)
        .service(get_openapi)
        .service(livez);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_description_covers_the_product_routes() {
        let description: serde_json::Value = serde_json::from_str(&openapi_json()).expect("JSON");
        for (path, method) in [
            ("/v1/tenants/{tenant}/accounts", "get"),
            ("/v1/tenants/{tenant}/accounts", "post"),
            ("/v1/tenants/{tenant}/accounts/{id}", "get"),
            ("/v1/tenants/{tenant}/teams", "get"),
            ("/v1/tenants/{tenant}/teams/{id}", "get"),
            ("/v1/tenants/{tenant}/teams/{id}/members", "get"),
        ] {
            assert!(description["paths"][path][method].is_object(), "{method} {path}");
        }
        let params = description["paths"]["/v1/tenants/{tenant}/accounts"]["get"]["parameters"].to_string();
        for name in ["external_id", "user_name", "email", "scim_user_id", "active", "team", "cursor", "limit"] {
            assert!(params.contains(&format!("\"{name}\"")), "{name}: {params}");
        }
        assert!(description["components"]["schemas"]["AccountRecord"]["properties"]["scim_user_id"].is_object());
        assert!(description["components"]["securitySchemes"]["service_credential"].is_object());
    }
}
