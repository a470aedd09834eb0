//! SCIM filters → SQL, run inside the database. What cannot be translated yet is refused with
//! 400 `invalidFilter`: never all rows, never a silent empty page.

use platform::db::Backend;
use scim::schema::SchemaRegistry;
use scim::{Filter, ResourceType, ScimError};

use super::filter_sql::{self, Predicate, SortTerm, Table};
use crate::schema::{scim_groups, scim_users};

use scim::list::{DEFAULT_PAGE, MAX_PAGE};

/// A 1-based page, as SCIM counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub start_index: u32,
    pub count: u32,
}

impl Page {
    /// SCIM's rules: a `startIndex` below 1 means 1; a missing count the default; counts cap.
    pub fn new(start_index: u32, count: Option<u32>) -> Self {
        Self { start_index: start_index.max(1), count: count.unwrap_or(DEFAULT_PAGE).min(MAX_PAGE) }
    }

    pub fn offset(&self) -> i64 {
        i64::from(self.start_index) - 1
    }

    pub fn limit(&self) -> i64 {
        i64::from(self.count)
    }
}

/// `sortBy` / `sortOrder`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sort {
    pub by: scim::AttrPath,
    pub descending: bool,
}

/// The users matching `filter`, as a condition on `scim_users`.
pub fn user_predicate(
    backend: Backend,
    registry: &SchemaRegistry,
    filter: &Filter,
) -> Result<Predicate<scim_users::table>, ScimError> {
    filter_sql::predicate(Table { kind: ResourceType::User, name: "scim_users", backend, registry }, filter)
}

/// The ORDER BY term of a users' `sortBy`.
pub fn user_sort(backend: Backend, registry: &SchemaRegistry, sort: &Sort) -> Result<SortTerm, ScimError> {
    let table = Table { kind: ResourceType::User, name: "scim_users", backend, registry };
    filter_sql::sort_term(table, &sort.by, sort.descending)
}

/// The ORDER BY term of a groups' `sortBy`.
pub fn group_sort(backend: Backend, registry: &SchemaRegistry, sort: &Sort) -> Result<SortTerm, ScimError> {
    let table = Table { kind: ResourceType::Group, name: "scim_groups", backend, registry };
    filter_sql::sort_term(table, &sort.by, sort.descending)
}

/// The groups matching `filter`, as a condition on `scim_groups`.
pub fn group_predicate(
    backend: Backend,
    registry: &SchemaRegistry,
    filter: &Filter,
) -> Result<Predicate<scim_groups::table>, ScimError> {
    filter_sql::predicate(Table { kind: ResourceType::Group, name: "scim_groups", backend, registry }, filter)
}
