//! SCIM Users through the pipeline: validated against the tenant's schemas, applied (PUT and
//! PATCH share one path), written as rows, published as the account's record.

use platform::db::DbConnection;
use proto::Link;
use scim::{ResourceType, UserInput};
use serde_json::{Map, Value};

use super::{Kind, Search, User, Write, check_version, groups, publish};
use crate::context::TenantContext;
use crate::error::CoreError;
use crate::events;
use crate::store::tenants::DeleteMode;
use crate::store::users::{self, UserRow, UserWrite};
use crate::store::{StoredResource, fold_case, now_micros, parse_attributes};

/// A user to create, and the account the product made by hand that it may link to (an
/// account with the user's email that no other user provisions; see `crate::linking`).
pub struct NewUser {
    pub input: UserInput,
    pub link_candidate: Option<String>,
}

impl From<UserInput> for NewUser {
    fn from(input: UserInput) -> Self {
        Self { input, link_candidate: None }
    }
}

/// The email a new user would get under the tenant's rules, when the tenant links new users
/// to accounts made by hand by email.
pub fn email_for_linking(ctx: &TenantContext, attributes: &Map<String, Value>) -> Option<String> {
    if ctx.lifecycle.link_by_email { ctx.rules().email(attributes) } else { None }
}

impl Kind for User {
    const TYPE: ResourceType = ResourceType::User;
    type Input = NewUser;

    /// Creates a user. Its account is a new one, or the soft-deleted account of the same
    /// userName (restored, within its tombstone period), or the link candidate.
    fn create(w: &mut Write<'_>, new: NewUser) -> Result<StoredResource, CoreError> {
        let NewUser { mut input, link_candidate } = new;
        let (ctx, tenant) = (w.ctx, &w.ctx.tenant);
        scim::validate::coerce_booleans(ctx.registry(), ResourceType::User, &mut input.attributes);
        scim::validate::check(ctx.registry(), ResourceType::User, &input.attributes)?;
        let key = fold_case(&input.user_name);
        users::ensure_unique(w.conn, tenant, &key, None)?;
        let id = uuid::Uuid::new_v4().to_string();
        let tombstone = match ctx.lifecycle.delete {
            DeleteMode::Soft => users::take_tombstone(w.conn, tenant, &key, input.external_id.as_deref())?,
            DeleteMode::Hard => None,
        };
        let (account_id, record_version, link) = match (tombstone, link_candidate) {
            (Some(tombstone), _) => {
                // The former SCIM user's last event (keyed by its id) holds personal data and
                // would stay in a compacted topic: close that key with a purged record.
                let closed = publish::purged_event(
                    tenant.as_str(),
                    &tombstone.scim_user_id,
                    &tombstone.account_id,
                    tombstone.record_version + 1,
                );
                publish::enqueue(w.conn, &closed)?;
                let link = Link { account_id: tombstone.account_id.clone(), reason: "restored".to_owned() };
                (tombstone.account_id, tombstone.record_version + 1, Some(link))
            }
            (None, Some(candidate))
                if ctx.lifecycle.link_by_email && !users::account_taken(w.conn, tenant, &candidate)? =>
            {
                let link = Link { account_id: candidate.clone(), reason: "email".to_owned() };
                (candidate, 0, Some(link))
            }
            _ => (id.clone(), 0, None),
        };
        // A new user is in no team yet: it has no permissions.
        let facts = crate::mapping::UserFacts {
            tenant_id: tenant.as_str(),
            account_id: &account_id,
            scim_user_id: &id,
            user_name: &input.user_name,
            active: input.active,
            attributes: &input.attributes,
            permissions: &[],
        };
        let published = publish::user_written(ctx, &facts, (None, record_version), "user.created", link, w.warnings)?;
        let now = now_micros();
        let attributes = Value::Object(input.attributes.clone()).to_string();
        let row = row(tenant.as_str(), &id, &input, &key, &attributes, (1, now, now), &published);
        users::insert(w.conn, &row, &account_id)?;
        users::insert_emails(w.conn, tenant, &id, &users::email_keys(&input.attributes))?;
        publish::enqueue(w.conn, &published.event)?;
        Ok(StoredResource {
            id,
            attributes: input.attributes,
            version: 1,
            created_at: now,
            updated_at: now,
            members_omitted: false,
        })
    }

    fn replace(
        w: &mut Write<'_>,
        id: &str,
        if_match: Option<&[i64]>,
        new: NewUser,
    ) -> Result<StoredResource, CoreError> {
        update(w, id, if_match, |_| Ok(new.input))
    }

    fn patch(
        w: &mut Write<'_>,
        id: &str,
        if_match: Option<&[i64]>,
        operations: Vec<scim::PatchOperation>,
        _with_members: bool,
    ) -> Result<StoredResource, CoreError> {
        update(w, id, if_match, |attributes| Ok(scim::patch::patch_user(attributes, operations)?))
    }

    /// Deletes a user: it leaves every group it was in (each such group gets a
    /// `group.member_removed` event), then the user goes with a `user.deleted` event. Under a
    /// soft-delete policy its account stays as a tombstone until purged (`user.purged`, by
    /// [`purge_due`]); under a hard one `user.purged` follows at once.
    fn delete(w: &mut Write<'_>, id: &str, if_match: Option<&[i64]>) -> Result<(), CoreError> {
        let (ctx, tenant) = (w.ctx, &w.ctx.tenant);
        let row = users::lock(w.conn, tenant, id)?;
        check_version(row.version, if_match)?;
        for group_id in users::groups_of(w.conn, tenant, id)? {
            groups::leave(w, &group_id, &row)?;
        }
        // Out of every team: no permissions left.
        let attributes = parse_attributes(&row.attributes)?;
        let (mut account, _) = ctx.rules().account(&publish::facts(tenant, &row, &attributes, &[]));
        account.active = false;
        let version = row.record_version + 1;
        users::remove(w.conn, tenant, id)?;
        let mut event = events::user_event("user.deleted", id, account, version, true);
        match ctx.lifecycle.delete {
            DeleteMode::Soft => {
                let now = now_micros();
                let purge_after = now + i64::from(ctx.lifecycle.tombstone_days) * 86_400_000_000;
                users::bury(w.conn, tenant, &row, version, now, purge_after)?;
                event.purge_after_micros = Some(purge_after);
                publish::enqueue(w.conn, &event)
            }
            DeleteMode::Hard => {
                publish::enqueue(w.conn, &event)?;
                let purged = publish::purged_event(tenant.as_str(), id, row.account_id(), version + 1);
                publish::enqueue(w.conn, &purged)
            }
        }
    }

    fn get(
        conn: &mut DbConnection,
        ctx: &TenantContext,
        id: &str,
        _exclude_members: bool,
    ) -> Result<StoredResource, CoreError> {
        users::get(conn, &ctx.tenant, id)
    }

    fn search(
        conn: &mut DbConnection,
        ctx: &TenantContext,
        search: &Search<'_>,
    ) -> Result<(i64, Vec<StoredResource>), CoreError> {
        users::search(conn, &ctx.tenant, ctx.registry(), search.filter, search.sort, search.page)
    }
}

/// A user's row with its record.
fn row<'a>(
    tenant: &'a str,
    id: &'a str,
    input: &'a UserInput,
    key: &'a str,
    attributes: &'a str,
    (version, created_at, updated_at): (i64, i64, i64),
    published: &'a publish::Published,
) -> UserWrite<'a> {
    UserWrite {
        tenant_id: tenant,
        id,
        user_name: &input.user_name,
        user_name_key: key,
        external_id: input.external_id.as_deref(),
        active: input.active,
        display_name: input.display_name.as_deref(),
        attributes,
        version,
        created_at,
        updated_at,
        record: Some(&published.record),
        record_version: published.version,
    }
}

/// Replaces a user with what `change` computes from its current attributes (PUT and PATCH).
/// Nothing is written, and no event produced, when the result equals what is stored.
fn update(
    w: &mut Write<'_>,
    id: &str,
    if_match: Option<&[i64]>,
    change: impl FnOnce(Map<String, Value>) -> Result<UserInput, CoreError>,
) -> Result<StoredResource, CoreError> {
    let (ctx, tenant) = (w.ctx, &w.ctx.tenant);
    let stored: UserRow = users::lock(w.conn, tenant, id)?;
    check_version(stored.version, if_match)?;
    let before = stored.to_resource()?;
    let mut input = change(before.attributes.clone())?;
    scim::validate::coerce_booleans(ctx.registry(), ResourceType::User, &mut input.attributes);
    if input.attributes == before.attributes {
        return Ok(before);
    }
    scim::validate::check(ctx.registry(), ResourceType::User, &input.attributes)?;
    scim::validate::check_immutable(ctx.registry(), ResourceType::User, &before.attributes, &input.attributes)?;
    let key = fold_case(&input.user_name);
    if key != stored.user_name_key {
        users::ensure_unique(w.conn, tenant, &key, Some(id))?;
    }
    let permissions = publish::permissions(w.conn, ctx, &stored)?;
    let facts = crate::mapping::UserFacts {
        tenant_id: tenant.as_str(),
        account_id: stored.account_id(),
        scim_user_id: id,
        user_name: &input.user_name,
        active: input.active,
        attributes: &input.attributes,
        permissions: &permissions,
    };
    let event_type = events::user_event_type(Some(stored.active), Some(input.active));
    let published = publish::user_written(
        ctx,
        &facts,
        (stored.record.as_deref(), stored.record_version),
        event_type,
        None,
        w.warnings,
    )?;
    let (version, now) = (stored.version + 1, now_micros());
    let attributes = Value::Object(input.attributes.clone()).to_string();
    users::update(
        w.conn,
        &row(tenant.as_str(), id, &input, &key, &attributes, (version, stored.created_at, now), &published),
    )?;
    let emails = users::email_keys(&input.attributes);
    if emails != users::email_keys(&before.attributes) {
        users::replace_emails(w.conn, tenant, id, &emails)?;
    }
    publish::enqueue(w.conn, &published.event)?;
    Ok(StoredResource {
        id: id.to_owned(),
        attributes: input.attributes,
        version,
        created_at: stored.created_at,
        updated_at: now,
        members_omitted: false,
    })
}

/// Purges the tombstones whose time has come, each with a `user.purged` event. Returns how many.
pub fn purge_due(conn: &mut DbConnection, now: i64) -> Result<usize, CoreError> {
    let mut purged = 0;
    for (tenant, tombstone) in users::due_tombstones(conn, now)? {
        // Another replica's purge or a restore may have taken it meanwhile: then no event.
        if users::remove_tombstone(conn, &tenant, &tombstone.account_id)? {
            let event = publish::purged_event(
                &tenant,
                &tombstone.scim_user_id,
                &tombstone.account_id,
                tombstone.record_version + 1,
            );
            publish::enqueue(conn, &event)?;
            purged += 1;
        }
    }
    Ok(purged)
}
