//! A tenant's schema extensions through the admin API (`/admin/v1/tenants/{slug}/schemas`):
//! list, show, declare (or redeclare) and remove the RFC 7643 §7 extensions that drive the
//! tenant's validation, filters and discovery. Removing one that users or groups still hold
//! attributes of is refused with 409.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Admin, AdminError, Answer, Operator, body, time};
use crate::store::schemas::{self, Declared};
use crate::store::tenants::{self, TenantId};

fn view(declared: &Declared) -> Value {
    json!({
        "id": declared.id,
        "resource_type": declared.resource_type.name(),
        "name": declared.definition.get("name"),
        "declared_at": time(declared.declared_at),
        "definition": declared.definition,
    })
}

pub(super) async fn list(_: Operator, admin: web::Data<Admin>, slug: web::Path<String>) -> Answer {
    let tenant = TenantId(slug.into_inner());
    let declared = admin
        .store(move |store| {
            store.read(|conn| {
                tenants::get_tenant(conn, tenant.as_str())?;
                schemas::list(conn, &tenant)
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "schemas": declared.iter().map(view).collect::<Vec<_>>() })))
}

pub(super) async fn get(_: Operator, admin: web::Data<Admin>, path: web::Path<(String, String)>) -> Answer {
    let (slug, id) = path.into_inner();
    let tenant = TenantId(slug);
    let declared = admin
        .store(move |store| {
            store.read(|conn| {
                tenants::get_tenant(conn, tenant.as_str())?;
                schemas::find(conn, &tenant, &id)
            })
        })
        .await?;
    let declared = declared.ok_or_else(|| AdminError::new(404, "the tenant declared no extension with this id"))?;
    Ok(HttpResponse::Ok().json(view(&declared)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Declaration {
    /// `User` or `Group`.
    resource_type: String,
    /// The extension in RFC 7643 §7 form (`id`, `name`, `attributes`, …).
    definition: Value,
}

/// 201 with the extension when it is new, 200 when it replaced one of the same id.
pub(super) async fn declare(
    _: Operator,
    admin: web::Data<Admin>,
    slug: web::Path<String>,
    bytes: web::Bytes,
) -> Answer {
    let declaration: Declaration = body(&bytes)?;
    let tenant = TenantId(slug.into_inner());
    let (declared, replaced) = admin
        .store(move |store| {
            // `declare` takes the tenant's row first: 404 for an unknown tenant.
            store.write(|conn| {
                let (id, replaced) =
                    schemas::declare(conn, &tenant, &declaration.resource_type, &declaration.definition)?;
                Ok((schemas::find(conn, &tenant, &id)?, replaced))
            })
        })
        .await?;
    let declared = declared.ok_or_else(|| AdminError::new(500, "the declared extension was not stored"))?;
    tracing::info!(schema.id = %declared.id, replaced, "schema extension declared by an operator");
    let mut answer = if replaced { HttpResponse::Ok() } else { HttpResponse::Created() };
    Ok(answer.json(view(&declared)))
}

pub(super) async fn remove(_: Operator, admin: web::Data<Admin>, path: web::Path<(String, String)>) -> Answer {
    let (slug, id) = path.into_inner();
    let tenant = TenantId(slug);
    let removed = admin
        .store(move |store| {
            // `remove` takes the tenant's row first: 404 for an unknown tenant.
            store.write(|conn| schemas::remove(conn, &tenant, &id))
        })
        .await?;
    let removed = removed.ok_or_else(|| AdminError::new(404, "the tenant declared no extension with this id"))?;
    tracing::info!(schema.id = %removed.id, "schema extension removed by an operator");
    Ok(HttpResponse::NoContent().finish())
}
