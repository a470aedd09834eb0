//! SCIM filters → SQL, run inside the database. What cannot be translated yet is refused with
//! 400 `invalidFilter`: never all rows, never a silent empty page.

use diesel::dsl::{exists, not};
use diesel::prelude::*;
use diesel::sql_types::Bool;
use platform::db::DbBackend;
use scim::{CompareOp, Filter, ScimError};
use serde_json::Value;

use super::fold_case;
use crate::schema::{group_members, scim_groups, scim_users};

/// The largest page served (advertised as `filter.maxResults`).
pub const MAX_PAGE: u32 = 1000;
pub const DEFAULT_PAGE: u32 = 100;

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

type UserPredicate = Box<dyn BoxableExpression<scim_users::table, DbBackend, SqlType = Bool>>;
type GroupPredicate = Box<dyn BoxableExpression<scim_groups::table, DbBackend, SqlType = Bool>>;

fn unsupported(what: &str) -> ScimError {
    ScimError::invalid_filter(format!("filtering on {what} is not supported"))
}

fn string_value(value: &Value, attribute: &str) -> Result<String, ScimError> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| ScimError::invalid_filter(format!("{attribute} is compared with a string")))
}

pub fn user_predicate(filter: &Filter) -> Result<UserPredicate, ScimError> {
    Ok(match filter {
        Filter::And(a, b) => Box::new(user_predicate(a)?.and(user_predicate(b)?)),
        Filter::Or(a, b) => Box::new(user_predicate(a)?.or(user_predicate(b)?)),
        Filter::Not(inner) => Box::new(not(user_predicate(inner)?)),
        Filter::Compare { path, op, value } => {
            if path.is("userName") {
                let key = fold_case(&string_value(value, "userName")?);
                match op {
                    CompareOp::Eq => Box::new(scim_users::user_name_key.eq(key)),
                    CompareOp::Ne => Box::new(scim_users::user_name_key.ne(key)),
                    CompareOp::Sw => {
                        Box::new(scim_users::user_name_key.like(format!("{}%", escape_like(&key))).escape('\\'))
                    }
                    CompareOp::Ew => {
                        Box::new(scim_users::user_name_key.like(format!("%{}", escape_like(&key))).escape('\\'))
                    }
                    CompareOp::Co => {
                        Box::new(scim_users::user_name_key.like(format!("%{}%", escape_like(&key))).escape('\\'))
                    }
                    _ => return Err(unsupported("userName with this operator")),
                }
            } else if path.is("externalId") {
                let value = string_value(value, "externalId")?;
                match op {
                    // Written out so that NULL never reaches a `not (…)` as unknown: a user
                    // without externalId does not equal "x", and does differ from it.
                    CompareOp::Eq => Box::new(
                        scim_users::external_id.is_not_null().and(scim_users::external_id.eq(value).assume_not_null()),
                    ),
                    CompareOp::Ne => Box::new(
                        scim_users::external_id.is_null().or(scim_users::external_id.ne(value).assume_not_null()),
                    ),
                    _ => return Err(unsupported("externalId with this operator")),
                }
            } else if path.is("id") {
                let value = string_value(value, "id")?;
                match op {
                    CompareOp::Eq => Box::new(scim_users::id.eq(value)),
                    CompareOp::Ne => Box::new(scim_users::id.ne(value)),
                    _ => return Err(unsupported("id with this operator")),
                }
            } else if path.is("active") {
                let value = scim::filter::as_bool(value)
                    .ok_or_else(|| ScimError::invalid_filter("active is compared with a boolean"))?;
                match op {
                    CompareOp::Eq => Box::new(scim_users::active.eq(value)),
                    CompareOp::Ne => Box::new(scim_users::active.ne(value)),
                    _ => return Err(unsupported("active with this operator")),
                }
            } else {
                return Err(unsupported(&format!("'{path}'")));
            }
        }
        Filter::Present(path) if path.is("externalId") => Box::new(scim_users::external_id.is_not_null()),
        Filter::Present(path) => return Err(unsupported(&format!("presence of '{path}'"))),
        Filter::ValuePath { path, .. } => return Err(unsupported(&format!("values of '{path}'"))),
    })
}

pub fn group_predicate(filter: &Filter) -> Result<GroupPredicate, ScimError> {
    Ok(match filter {
        Filter::And(a, b) => Box::new(group_predicate(a)?.and(group_predicate(b)?)),
        Filter::Or(a, b) => Box::new(group_predicate(a)?.or(group_predicate(b)?)),
        Filter::Not(inner) => Box::new(not(group_predicate(inner)?)),
        Filter::Compare { path, op, value } => {
            if path.is("displayName") {
                let key = fold_case(&string_value(value, "displayName")?);
                match op {
                    CompareOp::Eq => Box::new(scim_groups::display_name_key.eq(key)),
                    CompareOp::Ne => Box::new(scim_groups::display_name_key.ne(key)),
                    CompareOp::Sw => {
                        Box::new(scim_groups::display_name_key.like(format!("{}%", escape_like(&key))).escape('\\'))
                    }
                    CompareOp::Co => {
                        Box::new(scim_groups::display_name_key.like(format!("%{}%", escape_like(&key))).escape('\\'))
                    }
                    _ => return Err(unsupported("displayName with this operator")),
                }
            } else if path.is("externalId") && *op == CompareOp::Eq {
                let value = string_value(value, "externalId")?;
                Box::new(
                    scim_groups::external_id.is_not_null().and(scim_groups::external_id.eq(value).assume_not_null()),
                )
            } else if path.is("id") && *op == CompareOp::Eq {
                Box::new(scim_groups::id.eq(string_value(value, "id")?))
            } else if (path.is("members") || path.is_sub("members", "value")) && *op == CompareOp::Eq {
                let member = string_value(value, "members")?;
                Box::new(exists(
                    group_members::table
                        .filter(group_members::tenant_id.eq(scim_groups::tenant_id))
                        .filter(group_members::group_id.eq(scim_groups::id))
                        .filter(group_members::member_id.eq(member)),
                ))
            } else {
                return Err(unsupported(&format!("'{path}' with this operator")));
            }
        }
        Filter::Present(path) if path.is("externalId") => Box::new(scim_groups::external_id.is_not_null()),
        Filter::Present(path) => return Err(unsupported(&format!("presence of '{path}'"))),
        Filter::ValuePath { path, .. } => return Err(unsupported(&format!("values of '{path}'"))),
    })
}

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}
