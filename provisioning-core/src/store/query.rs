//! SCIM filters → SQL, run inside the database. What cannot be translated yet is refused with
//! 400 `invalidFilter`: never all rows, never a silent empty page.

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

/// One page of a resource table's rows of a tenant matching `filter`, in `sort` order (then
/// creation order, then id, so that pages are stable), and how many match in all: the one
/// search of both resource tables (they share `tenant_id`, `created_at` and `id`).
macro_rules! page_of {
    ($conn:expr, $table:ident, $row:ty, $kind:expr, $tenant:expr, $registry:expr, $filter:expr, $sort:expr, $page:expr) => {{
        use diesel::prelude::*;
        let backend = $conn.backend();
        let table =
            $crate::store::filter_sql::Table { kind: $kind, name: stringify!($table), backend, registry: $registry };
        let matching = || -> Result<_, $crate::error::CoreError> {
            let mut statement = $table::table.filter($table::tenant_id.eq($tenant.as_str())).into_boxed();
            if let Some(filter) = $filter {
                statement = statement.filter($crate::store::filter_sql::predicate(table, filter)?);
            }
            Ok(statement)
        };
        let total: i64 = matching()?.count().get_result($conn)?;
        let mut statement = matching()?;
        if let Some(sort) = $sort {
            statement = statement.order($crate::store::filter_sql::sort_term(table, &sort.by, sort.descending)?);
            statement = statement.then_order_by(($table::created_at.asc(), $table::id.asc()));
        } else {
            statement = statement.order(($table::created_at.asc(), $table::id.asc()));
        }
        let rows: Vec<$row> =
            statement.offset($page.offset()).limit($page.limit()).select(<$row>::as_select()).load($conn)?;
        (total, rows)
    }};
}
pub(crate) use page_of;

/// Up to `limit` ids of a tenant's rows of `$table` (`scim_users`, `scim_groups`) after
/// `after`, in id order: the keyset pages that background jobs walk.
macro_rules! ids_after {
    ($conn:expr, $table:ident, $tenant:expr, $after:expr, $limit:expr) => {{
        let mut query = $table::table
            .filter($table::tenant_id.eq($tenant.as_str()))
            .select($table::id)
            .order($table::id)
            .limit($limit)
            .into_boxed();
        if let Some(after) = $after {
            query = query.filter($table::id.gt(after.to_owned()));
        }
        let ids: Vec<String> = query.load($conn)?;
        ids
    }};
}
pub(crate) use ids_after;
