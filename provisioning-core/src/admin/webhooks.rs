//! Webhook endpoints through the admin API: made (the signing secret shown once), listed with
//! their delivery counts, their deliveries listed, replayed, removed. See `crate::webhooks`.
//! The same operations serve the portal (`/portal/v1/webhooks`), confined to the session's
//! tenant: there an endpoint is always of that tenant, and no other is seen.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Admin, AdminError, Answer, Operator, body, instant, time};
use crate::store::tenants;
use crate::store::webhooks::{self, DEAD, DELIVERED, Delivery, Endpoint, PENDING};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewEndpoint {
    url: String,
    /// One tenant's events; none: every tenant's.
    tenant: Option<String>,
    /// Only these event types (`user.created`, …); none: all.
    event_types: Option<Vec<String>>,
    description: Option<String>,
}

fn endpoint_json(endpoint: &Endpoint, counts: (i64, i64, i64)) -> Value {
    json!({
        "id": endpoint.id,
        "url": endpoint.url,
        "tenant": endpoint.tenant_id,
        "event_types": endpoint.types(),
        "description": endpoint.description,
        "created_at": time(endpoint.created_at),
        "deliveries": {"pending": counts.0, "delivered": counts.1, "dead": counts.2},
    })
}

fn delivery_json(delivery: &Delivery) -> Value {
    json!({
        "seq": delivery.seq,
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "resource": delivery.resource_key,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "queued_at": time(delivery.created_at),
        "next_attempt_at": (delivery.state == PENDING).then(|| time(delivery.next_attempt_at)).flatten(),
        "last_attempt_at": delivery.last_attempt_at.and_then(time),
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "delivered_at": delivery.delivered_at.and_then(time),
    })
}

/// Who asks: an operator (every endpoint) or one tenant's portal session (its own only).
#[derive(Clone, Copy)]
pub(super) enum Scope<'a> {
    Operator,
    Tenant(&'a str),
}

impl Scope<'_> {
    fn owned(self) -> Option<String> {
        match self {
            Scope::Operator => None,
            Scope::Tenant(tenant) => Some(tenant.to_owned()),
        }
    }
}

/// The endpoint if the caller may see it (a portal sees only its tenant's; others are 404).
fn visible(
    conn: &mut platform::db::DbConnection,
    id: &str,
    tenant: Option<&str>,
) -> Result<Endpoint, crate::error::CoreError> {
    let endpoint = webhooks::find(conn, id)?;
    match tenant {
        Some(tenant) if endpoint.tenant_id.as_deref() != Some(tenant) => {
            Err(crate::error::CoreError::Scim(scim::ScimError::not_found(format!("no webhook endpoint '{id}'"))))
        }
        _ => Ok(endpoint),
    }
}

fn check_url(url: &str, allow_private: bool) -> Result<(), AdminError> {
    let parsed = reqwest::Url::parse(url.trim()).map_err(|e| {
        AdminError::bad_request(format!("url is not a URL ({e}): e.g. https://app.example.com/hooks/scim"))
    })?;
    if !matches!(parsed.scheme(), "https" | "http") || parsed.host_str().is_none() {
        return Err(AdminError::bad_request("url must be an http:// or https:// URL with a host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(AdminError::bad_request("url may not carry a user or password: the signature authenticates"));
    }
    if url.len() > 2048 {
        return Err(AdminError::bad_request("url is at most 2048 characters"));
    }
    if !allow_private {
        crate::webhooks::target_allowed(url.trim()).map_err(AdminError::bad_request)?;
    }
    Ok(())
}

/// `POST /admin/v1/webhooks`: 201 with the endpoint and its secret (shown once).
pub(super) async fn create(_: Operator, admin: web::Data<Admin>, bytes: web::Bytes) -> Answer {
    create_in(&admin, &bytes, Scope::Operator).await
}

pub(super) async fn create_in(admin: &web::Data<Admin>, bytes: &web::Bytes, scope: Scope<'_>) -> Answer {
    let mut asked: NewEndpoint = body(bytes)?;
    if let Scope::Tenant(tenant) = scope {
        if asked.tenant.as_deref().is_some_and(|t| t != tenant) {
            return Err(AdminError::bad_request("tenant is this portal's tenant (leave it out)"));
        }
        asked.tenant = Some(tenant.to_owned());
    }
    check_url(&asked.url, admin.allow_private_webhooks)?;
    if let Some(types) = &asked.event_types {
        if let Some(unknown) = types.iter().find(|t| !crate::events::EVENT_TYPES.contains(&t.as_str())) {
            return Err(AdminError::bad_request(format!(
                "unknown event type '{unknown}': one of {}",
                crate::events::EVENT_TYPES.join(", ")
            )));
        }
        if types.is_empty() {
            return Err(AdminError::bad_request("event_types, when given, names at least one type"));
        }
    }
    if asked.description.as_ref().is_some_and(|d| d.chars().count() > 200) {
        return Err(AdminError::bad_request("description is at most 200 characters"));
    }
    let secret = crate::webhooks::new_secret();
    let stored_secret = secret.clone();
    let endpoint = admin
        .store(move |store| {
            store.write(|conn| {
                if let Some(tenant) = &asked.tenant {
                    tenants::get_tenant(conn, tenant)?;
                }
                webhooks::create(
                    conn,
                    asked.tenant.as_deref(),
                    asked.url.trim(),
                    &stored_secret,
                    asked.event_types.as_deref(),
                    asked.description.as_deref(),
                )
            })
        })
        .await?;
    tracing::info!(webhook.id = %endpoint.id, tenant = ?endpoint.tenant_id, "webhook endpoint made by an operator");
    let mut answer = endpoint_json(&endpoint, (0, 0, 0));
    answer["secret"] = json!(secret);
    Ok(HttpResponse::Created().json(answer))
}

pub(super) async fn list(_: Operator, admin: web::Data<Admin>) -> Answer {
    list_in(&admin, Scope::Operator).await
}

pub(super) async fn list_in(admin: &web::Data<Admin>, scope: Scope<'_>) -> Answer {
    let tenant = scope.owned();
    let listed = admin
        .store(move |store| {
            store.read(|conn| {
                webhooks::list(conn)?
                    .into_iter()
                    .filter(|endpoint| tenant.is_none() || endpoint.tenant_id == tenant)
                    .map(|endpoint| {
                        let counts = webhooks::counts(conn, &endpoint.id)?;
                        Ok(endpoint_json(&endpoint, counts))
                    })
                    .collect::<Result<Vec<_>, crate::error::CoreError>>()
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "webhooks": listed })))
}

pub(super) async fn get(_: Operator, admin: web::Data<Admin>, id: web::Path<String>) -> Answer {
    let id = id.into_inner();
    let view = admin
        .store(move |store| {
            store.read(|conn| {
                let endpoint = visible(conn, &id, None)?;
                Ok(endpoint_json(&endpoint, webhooks::counts(conn, &id)?))
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

pub(super) async fn delete(_: Operator, admin: web::Data<Admin>, id: web::Path<String>) -> Answer {
    delete_in(&admin, id.into_inner(), Scope::Operator).await
}

pub(super) async fn delete_in(admin: &web::Data<Admin>, id: String, scope: Scope<'_>) -> Answer {
    let removed = id.clone();
    let tenant = scope.owned();
    admin
        .store(move |store| {
            store.write(|conn| {
                visible(conn, &id, tenant.as_deref())?;
                webhooks::delete(conn, &id)
            })
        })
        .await?;
    tracing::info!(webhook.id = %removed, "webhook endpoint removed by an operator");
    Ok(HttpResponse::NoContent().finish())
}

fn state_of(text: Option<String>) -> Result<Option<String>, AdminError> {
    match text.as_deref() {
        None => Ok(None),
        Some(state @ (PENDING | DELIVERED | DEAD)) => Ok(Some(state.to_owned())),
        Some(_) => Err(AdminError::bad_request("state must be pending, delivered or dead")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveryParams {
    state: Option<String>,
    limit: Option<i64>,
}

/// `GET /admin/v1/webhooks/{id}/deliveries?state=&limit=`: newest first.
pub(super) async fn deliveries(
    _: Operator,
    admin: web::Data<Admin>,
    id: web::Path<String>,
    request: HttpRequest,
) -> Answer {
    deliveries_in(&admin, id.into_inner(), &request, Scope::Operator).await
}

pub(super) async fn deliveries_in(
    admin: &web::Data<Admin>,
    id: String,
    request: &HttpRequest,
    scope: Scope<'_>,
) -> Answer {
    let params = web::Query::<DeliveryParams>::from_query(request.query_string())
        .map_err(|e| AdminError::bad_request(format!("invalid query: {e}")))?
        .into_inner();
    let state = state_of(params.state)?;
    let limit = params.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(AdminError::bad_request("limit must be between 1 and 1000"));
    }
    let tenant = scope.owned();
    let list = admin
        .store(move |store| {
            store.read(|conn| {
                visible(conn, &id, tenant.as_deref())?;
                webhooks::deliveries(conn, &id, state.as_deref(), limit)
            })
        })
        .await?;
    let list: Vec<Value> = list.iter().map(delivery_json).collect();
    Ok(HttpResponse::Ok().json(json!({ "deliveries": list })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Replay {
    /// Deliveries queued at or after this RFC 3339 time.
    since: Option<String>,
    /// Only `delivered` or only `dead` ones.
    state: Option<String>,
}

/// `POST /admin/v1/webhooks/{id}/replay` `{since?, state?}`: delivered or dead deliveries back
/// in line, in their order.
pub(super) async fn replay(_: Operator, admin: web::Data<Admin>, id: web::Path<String>, bytes: web::Bytes) -> Answer {
    replay_in(&admin, id.into_inner(), &bytes, Scope::Operator).await
}

pub(super) async fn replay_in(admin: &web::Data<Admin>, id: String, bytes: &web::Bytes, scope: Scope<'_>) -> Answer {
    let asked: Replay = body(bytes)?;
    let since = instant("since", asked.since)?;
    let state = state_of(asked.state)?;
    if state.as_deref() == Some(PENDING) {
        return Err(AdminError::bad_request("pending deliveries are in line already: state is delivered or dead"));
    }
    let endpoint = id.clone();
    let tenant = scope.owned();
    let requeued = admin
        .store(move |store| {
            store.write(|conn| {
                visible(conn, &id, tenant.as_deref())?;
                webhooks::replay(conn, &id, since, state.as_deref())
            })
        })
        .await?;
    tracing::info!(webhook.id = %endpoint, requeued, "webhook deliveries replayed by an operator");
    Ok(HttpResponse::Ok().json(json!({ "requeued": requeued })))
}
