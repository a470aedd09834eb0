//! The directory's HTTP JSON read API for the product, with liveness and readiness.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;

use crate::Directory;
use crate::error::DirectoryError;
use crate::read;

#[derive(Debug, Serialize)]
struct AccountBody {
    id: String,
    user_name: String,
    external_id: Option<String>,
    active: bool,
    email: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    display_name: Option<String>,
    roles: Vec<String>,
    teams: Vec<String>,
}

impl From<proto::Account> for AccountBody {
    fn from(account: proto::Account) -> Self {
        let proto::Account {
            id,
            tenant_id: _,
            user_name,
            external_id,
            active,
            email,
            given_name,
            family_name,
            display_name,
            roles,
            teams,
        } = account;
        Self { id, user_name, external_id, active, email, given_name, family_name, display_name, roles, teams }
    }
}

#[derive(Debug, Serialize)]
struct TeamBody {
    id: String,
    name: String,
    external_id: Option<String>,
    members: Vec<String>,
}

impl From<proto::Team> for TeamBody {
    fn from(team: proto::Team) -> Self {
        let proto::Team { id, tenant_id: _, name, external_id, member_ids } = team;
        Self { id, name, external_id, members: member_ids }
    }
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
    Ok(HttpResponse::Ok().json(AccountBody::from(account)))
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

#[get("/livez")]
async fn livez() -> HttpResponse {
    HttpResponse::Ok().body("ok")
}

/// Ready when the database answers.
#[get("/readyz")]
async fn readyz(directory: web::Data<Directory>) -> HttpResponse {
    let ready = blocking(&directory, |d| {
        d.read(|conn| {
            diesel::connection::SimpleConnection::batch_execute(conn, "SELECT 1")?;
            Ok(())
        })
    })
    .await;
    match ready {
        Ok(()) => HttpResponse::Ok().body("ready"),
        Err(_) => HttpResponse::ServiceUnavailable().body("database unavailable"),
    }
}

pub fn routes(config: &mut web::ServiceConfig) {
    config.service(get_account).service(get_team).service(livez).service(readyz);
}
