//! The write pipeline: every SCIM write of a user or a group goes through the same steps, each
//! in one place:
//!
//! 1. the tenant's context (rules, schemas, lifecycle) is loaded once, before the transaction
//!    ([`crate::context`]);
//! 2. the change is validated and applied with SCIM's semantics (`scim::validate`, `scim::patch`)
//!    in [`users`] / [`groups`]; a group's membership change is resolved into the rows it adds
//!    and removes ([`membership`]) without reading the rest of the group;
//! 3. the rows are written (`crate::store`: rows and queries only);
//! 4. the directory record is mapped, compared with the last one published, and the event(s)
//!    written to the outbox in the same transaction ([`publish`]).
//!
//! What mapping warns about is returned as values and gathered in [`Write::warnings`], for the
//! request's provisioning log entry.

pub mod groups;
pub mod membership;
pub mod publish;
pub mod users;

use platform::db::DbConnection;
use scim::ResourceType;

use crate::context::TenantContext;
use crate::error::CoreError;
use crate::store::StoredResource;
use crate::store::query::{Page, Sort};

/// One write transaction of one request.
pub struct Write<'a> {
    pub conn: &'a mut DbConnection,
    pub ctx: &'a TenantContext,
    /// What the request's log entry should tell the IdP's admin (mapping gaps, unknown members).
    pub warnings: &'a mut Vec<String>,
}

impl Write<'_> {
    /// Notes a warning, cut to a bounded length (the log entry keeps the first few).
    pub fn warn(&mut self, message: String) {
        self.warnings.push(crate::provisioning_log::bounded_warning(message));
    }
}

/// A search: the filter, the order and the page.
pub struct Search<'a> {
    pub filter: Option<&'a scim::Filter>,
    pub sort: Option<&'a Sort>,
    pub page: Page,
    pub exclude_members: bool,
}

/// What the RPCs need of a resource kind; the RPCs are written once, over this.
pub trait Kind: Send + 'static {
    const TYPE: ResourceType;
    /// A full resource as a create or a replace sends it.
    type Input: Send + 'static;

    fn create(w: &mut Write<'_>, input: Self::Input) -> Result<StoredResource, CoreError>;
    fn replace(
        w: &mut Write<'_>,
        id: &str,
        if_match: Option<&[i64]>,
        input: Self::Input,
    ) -> Result<StoredResource, CoreError>;
    /// A PATCH; `with_members` asks for a group's members in the answer (users have none).
    fn patch(
        w: &mut Write<'_>,
        id: &str,
        if_match: Option<&[i64]>,
        operations: Vec<scim::PatchOperation>,
        with_members: bool,
    ) -> Result<StoredResource, CoreError>;
    fn delete(w: &mut Write<'_>, id: &str, if_match: Option<&[i64]>) -> Result<(), CoreError>;
    fn get(
        conn: &mut DbConnection,
        ctx: &TenantContext,
        id: &str,
        exclude_members: bool,
    ) -> Result<StoredResource, CoreError>;
    fn search(
        conn: &mut DbConnection,
        ctx: &TenantContext,
        search: &Search<'_>,
    ) -> Result<(i64, Vec<StoredResource>), CoreError>;
}

/// SCIM Users.
pub struct User;

/// SCIM Groups.
pub struct Group;

/// Fails with 412 when the client's `If-Match` names none of the stored version (RFC 7232
/// §3.1: also when it named only entity-tags that are not ours).
pub(crate) fn check_version(stored: i64, if_match: Option<&[i64]>) -> Result<(), CoreError> {
    match if_match {
        Some(allowed) if !allowed.contains(&stored) => Err(CoreError::version_mismatch(stored)),
        _ => Ok(()),
    }
}
