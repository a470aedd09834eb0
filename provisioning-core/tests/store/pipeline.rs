//! The write pipeline as the scenarios call it: one function per operation on a connection,
//! each loading the tenant's context (uncached) and running the pipeline step the RPC runs.

use platform::db::DbConnection;
use provisioning_core::context::TenantContext;
use provisioning_core::error::CoreError;
use provisioning_core::store::StoredResource;
use provisioning_core::store::query::Page;
use provisioning_core::store::tenants::TenantId;
use provisioning_core::write::{Kind, Search, Write};

/// Runs `step` as one request's write, with the warnings it gathered.
pub fn with_warnings<T>(
    conn: &mut DbConnection,
    tenant: &TenantId,
    step: impl FnOnce(&mut Write<'_>) -> Result<T, CoreError>,
) -> (Result<T, CoreError>, Vec<String>) {
    let mut warnings = Vec::new();
    let done =
        TenantContext::load(conn, tenant).and_then(|ctx| step(&mut Write { conn, ctx: &ctx, warnings: &mut warnings }));
    (done, warnings)
}

fn run<T>(
    conn: &mut DbConnection,
    tenant: &TenantId,
    step: impl FnOnce(&mut Write<'_>) -> Result<T, CoreError>,
) -> Result<T, CoreError> {
    with_warnings(conn, tenant, step).0
}

fn list<K: Kind>(
    conn: &mut DbConnection,
    tenant: &TenantId,
    filter: Option<&scim::Filter>,
    page: Page,
    exclude_members: bool,
) -> Result<(i64, Vec<StoredResource>), CoreError> {
    let ctx = TenantContext::load(conn, tenant)?;
    K::search(conn, &ctx, &Search { filter, sort: None, page, exclude_members })
}

pub mod users {
    use super::*;
    use provisioning_core::write::User;
    use provisioning_core::write::users::NewUser;
    use scim::UserInput;
    use serde_json::{Map, Value};

    pub fn create(conn: &mut DbConnection, tenant: &TenantId, input: UserInput) -> Result<StoredResource, CoreError> {
        run(conn, tenant, |w| User::create(w, input.into()))
    }

    pub fn create_linked(
        conn: &mut DbConnection,
        tenant: &TenantId,
        input: UserInput,
        link_candidate: Option<String>,
    ) -> Result<StoredResource, CoreError> {
        run(conn, tenant, |w| User::create(w, NewUser { input, link_candidate }))
    }

    pub fn email_for_linking(
        conn: &mut DbConnection,
        tenant: &TenantId,
        attributes: &Map<String, Value>,
    ) -> Result<Option<String>, CoreError> {
        let ctx = TenantContext::load(conn, tenant)?;
        Ok(provisioning_core::write::users::email_for_linking(&ctx, attributes))
    }

    /// A PUT of what `change` makes of the stored attributes.
    pub fn update(
        conn: &mut DbConnection,
        tenant: &TenantId,
        id: &str,
        if_match: Option<i64>,
        change: impl FnOnce(Map<String, Value>) -> Result<UserInput, CoreError>,
    ) -> Result<StoredResource, CoreError> {
        let current = provisioning_core::store::users::get(conn, tenant, id)?;
        let input = change(current.attributes)?;
        run(conn, tenant, |w| User::replace(w, id, if_match.as_ref().map(std::slice::from_ref), input.into()))
    }

    pub fn delete(
        conn: &mut DbConnection,
        tenant: &TenantId,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<(), CoreError> {
        run(conn, tenant, |w| User::delete(w, id, if_match.as_ref().map(std::slice::from_ref)))
    }

    pub fn get(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> Result<StoredResource, CoreError> {
        provisioning_core::store::users::get(conn, tenant, id)
    }

    pub fn list(
        conn: &mut DbConnection,
        tenant: &TenantId,
        filter: Option<&scim::Filter>,
        page: Page,
    ) -> Result<(i64, Vec<StoredResource>), CoreError> {
        super::list::<User>(conn, tenant, filter, page, false)
    }

    pub use provisioning_core::write::users::purge_due;
}

pub mod groups {
    use super::*;
    use provisioning_core::write::Group;
    use scim::GroupInput;
    use serde_json::{Map, Value};

    pub fn create(conn: &mut DbConnection, tenant: &TenantId, input: GroupInput) -> Result<StoredResource, CoreError> {
        run(conn, tenant, |w| Group::create(w, input))
    }

    /// A PUT of what `change` makes of the stored attributes and members.
    pub fn update(
        conn: &mut DbConnection,
        tenant: &TenantId,
        id: &str,
        if_match: Option<i64>,
        change: impl FnOnce(Map<String, Value>, Vec<String>) -> Result<GroupInput, CoreError>,
    ) -> Result<StoredResource, CoreError> {
        let current = get(conn, tenant, id, true)?;
        let members = provisioning_core::store::groups::members(conn, tenant, id)?;
        let input = change(current.attributes, members)?;
        run(conn, tenant, |w| Group::replace(w, id, if_match.as_ref().map(std::slice::from_ref), input))
    }

    /// A PATCH, answered with the group's members.
    pub fn patch(
        conn: &mut DbConnection,
        tenant: &TenantId,
        id: &str,
        operations: Vec<scim::PatchOperation>,
    ) -> Result<StoredResource, CoreError> {
        run(conn, tenant, |w| Group::patch(w, id, None, operations, true))
    }

    pub fn delete(
        conn: &mut DbConnection,
        tenant: &TenantId,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<(), CoreError> {
        run(conn, tenant, |w| Group::delete(w, id, if_match.as_ref().map(std::slice::from_ref)))
    }

    pub fn get(
        conn: &mut DbConnection,
        tenant: &TenantId,
        id: &str,
        exclude_members: bool,
    ) -> Result<StoredResource, CoreError> {
        let ctx = TenantContext::load(conn, tenant)?;
        Group::get(conn, &ctx, id, exclude_members)
    }

    pub fn list(
        conn: &mut DbConnection,
        tenant: &TenantId,
        filter: Option<&scim::Filter>,
        page: Page,
        exclude_members: bool,
    ) -> Result<(i64, Vec<StoredResource>), CoreError> {
        super::list::<Group>(conn, tenant, filter, page, exclude_members)
    }
}

pub mod records {
    use super::*;

    /// Re-publishes a tenant as a rules change does: a background job, run here batch by batch
    /// to its end. Returns how many records it published.
    pub fn republish_tenant(store: &provisioning_core::store::Store, tenant: &TenantId) -> Result<i64, CoreError> {
        let id = store.write(|conn| provisioning_core::store::jobs::tenant_job(conn, tenant, "test"))?;
        while provisioning_core::republish::run_batch(store)?.is_some() {}
        let job = store.read(|conn| provisioning_core::store::jobs::find(conn, tenant.as_str(), &id))?;
        Ok(job.map_or(-1, |job| job.published))
    }
}
