//! The directory's HTTP JSON API for the product: accounts (read, looked up by email, created by
//! hand) and teams (with their members paged), with liveness and readiness; for operators and
//! reconciliation, the states of a tenant's accounts and teams and the dead letters. Errors are
//! `{"status": N, "detail": "…"}`.

use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::{Deserialize, Serialize};

use crate::Directory;
use crate::dead_letter::DeadLetterRecord;
use crate::error::DirectoryError;
use crate::manual::{self, NewAccount, NewAccountRequest};
use crate::records::{AccountRecord, AccountState, TeamState};
use crate::{dead_letter, paging, read};

/// The largest request body accepted.
const MAX_BODY_BYTES: usize = 16 * 1024;

#[derive(Debug, Serialize)]
struct AccountsBody {
    accounts: Vec<AccountRecord>,
}

#[derive(Debug, Serialize)]
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

#[derive(Debug, Serialize)]
struct MembersBody {
    members: Vec<String>,
    next_cursor: Option<String>,
}

async fn blocking<T: Send + 'static>(
    directory: &Directory,
    work: impl FnOnce(&Directory) -> Result<T, DirectoryError> + Send + 'static,
) -> Result<T, DirectoryError> {
    let directory = directory.clone();
    web::block(move || work(&directory)).await.map_err(|e| DirectoryError::Internal(e.to_string()))?
}

#[get("/v1/tenants/{tenant}/accounts/{id}")]
async fn get_account(
    directory: web::Data<Directory>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, DirectoryError> {
    let (tenant, id) = path.into_inner();
    let account = blocking(&directory, move |d| d.read(|conn| read::account(conn, &tenant, &id))).await?;
    Ok(HttpResponse::Ok().json(account))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountsQuery {
    email: Option<String>,
}

/// `GET /v1/tenants/{tenant}/accounts?email=…`: the live accounts with this email
/// (case-insensitive).
async fn find_accounts(
    directory: web::Data<Directory>,
    tenant: web::Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse, DirectoryError> {
    let tenant = tenant.into_inner();
    let AccountsQuery { email } = web::Query::<AccountsQuery>::from_query(request.query_string())
        .map_err(|e| DirectoryError::Invalid(format!("invalid query: {e}")))?
        .into_inner();
    let email = email
        .filter(|email| !email.trim().is_empty())
        .ok_or_else(|| DirectoryError::Invalid("the email query parameter is required (?email=…)".to_owned()))?;
    let accounts = blocking(&directory, move |d| d.read(|conn| read::accounts_by_email(conn, &tenant, &email))).await?;
    Ok(HttpResponse::Ok().json(AccountsBody { accounts }))
}

/// `POST /v1/tenants/{tenant}/accounts`: a manual account; 409 when a live account of the tenant
/// has the email.
async fn create_account(
    directory: web::Data<Directory>,
    tenant: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, DirectoryError> {
    let tenant = tenant.into_inner();
    let request: NewAccountRequest =
        serde_json::from_slice(&body).map_err(|e| DirectoryError::Invalid(format!("invalid request body: {e}")))?;
    let new = NewAccount::parse(request)?;
    let account = blocking(&directory, move |d| d.write(|conn| manual::create(conn, &tenant, new))).await?;
    tracing::info!(tenant.id = %account.tenant_id, account.id = %account.id, "manual account created");
    Ok(HttpResponse::Created().json(account))
}

#[get("/v1/tenants/{tenant}/teams/{id}")]
async fn get_team(
    directory: web::Data<Directory>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, DirectoryError> {
    let (tenant, id) = path.into_inner();
    let team = blocking(&directory, move |d| d.read(|conn| read::team(conn, &tenant, &id))).await?;
    Ok(HttpResponse::Ok().json(TeamBody::from(team)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MembersQuery {
    cursor: Option<String>,
    limit: Option<String>,
}

/// `GET /v1/tenants/{tenant}/teams/{id}/members?cursor=…&limit=…`: a page of the team's live
/// members by account id, and the cursor of the next page (`null` after the last).
#[get("/v1/tenants/{tenant}/teams/{id}/members")]
async fn get_team_members(
    directory: web::Data<Directory>,
    path: web::Path<(String, String)>,
    request: HttpRequest,
) -> Result<HttpResponse, DirectoryError> {
    let (tenant, id) = path.into_inner();
    let MembersQuery { cursor, limit } = web::Query::<MembersQuery>::from_query(request.query_string())
        .map_err(|e| DirectoryError::Invalid(format!("invalid query: {e}")))?
        .into_inner();
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
        let StatesQuery { after, limit } = web::Query::<StatesQuery>::from_query(request.query_string())
            .map_err(|e| DirectoryError::Invalid(format!("invalid query: {e}")))?
            .into_inner();
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
    let DeadLettersQuery { tenant, limit } = web::Query::<DeadLettersQuery>::from_query(request.query_string())
        .map_err(|e| DirectoryError::Invalid(format!("invalid query: {e}")))?
        .into_inner();
    let limit =
        paging::parse_page_size_within(limit.as_deref(), paging::DEFAULT_DEAD_LETTERS, paging::MAX_DEAD_LETTERS)?;
    let tenant = tenant.filter(|tenant| !tenant.is_empty());
    let (dead_letters, total) =
        blocking(&directory, move |d| d.read(|conn| dead_letter::list(conn, tenant.as_deref(), limit))).await?;
    Ok(HttpResponse::Ok().json(DeadLettersBody { dead_letters, total }))
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
                .route(web::get().to(find_accounts))
                .route(web::post().to(create_account)),
        )
        .service(get_account)
        .service(get_team)
        .service(get_team_members)
        .service(get_account_states)
        .service(get_team_states)
        .service(get_dead_letters)
        .service(livez);
}
