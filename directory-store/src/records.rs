//! What the directory serves about an account: the record of `records.proto` plus what only the
//! directory knows (whether the product made the account by hand), the states of accounts and
//! teams that reconciliation compares, and the one conversion of each to the wire. Records are
//! destructured, so a new field fails to compile until handled here.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::DirectoryError;

/// Who made an account. A manual account stays `Manual` after SCIM links to it, so the product
/// can tell it apart from one SCIM created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Created by a SCIM user's `user.created` event.
    Scim,
    /// Created by the product through the directory's HTTP API.
    Manual,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Scim => "scim",
            Origin::Manual => "manual",
        }
    }

    pub fn parse(stored: &str) -> Result<Self, DirectoryError> {
        match stored {
            "scim" => Ok(Origin::Scim),
            "manual" => Ok(Origin::Manual),
            other => Err(DirectoryError::Internal(format!("stored account origin {other:?} is not scim or manual"))),
        }
    }
}

/// A live account, as read from the directory (and, without its tenant, the HTTP API's JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AccountRecord {
    pub id: String,
    #[serde(skip)]
    pub tenant_id: String,
    pub user_name: String,
    pub external_id: Option<String>,
    pub active: bool,
    pub email: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: Option<String>,
    pub roles: Vec<String>,
    /// Team ids, sorted.
    pub teams: Vec<String>,
    pub permissions: Vec<String>,
    pub custom_fields: BTreeMap<String, String>,
    /// The SCIM User that provisions the account; `None` for a manual account SCIM has not
    /// linked.
    pub scim_user_id: Option<String>,
    pub origin: Origin,
}

impl From<AccountRecord> for proto::Account {
    fn from(record: AccountRecord) -> Self {
        let AccountRecord {
            id,
            tenant_id,
            user_name,
            external_id,
            active,
            email,
            given_name,
            family_name,
            display_name,
            roles,
            teams,
            permissions,
            custom_fields,
            scim_user_id,
            // The wire record has no origin: an empty scim_user_id is what tells a manual account.
            origin: _,
        } = record;
        proto::Account {
            id,
            tenant_id,
            user_name,
            external_id,
            active,
            email,
            given_name,
            family_name,
            display_name,
            roles,
            teams,
            permissions,
            custom_fields: custom_fields.into_iter().collect(),
            scim_user_id: scim_user_id.unwrap_or_default(),
        }
    }
}

/// How emails are compared: trimmed and lowercased (Unicode), as stored in `accounts.email_key`.
pub fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// What reconciliation compares of an account: its ids, its version and whether it is live.
/// Deleted and purged accounts have one too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountState {
    pub id: String,
    /// `None` for a manual account no SCIM user provisions.
    pub scim_user_id: Option<String>,
    pub version: i64,
    pub deleted: bool,
    pub purged: bool,
    pub active: bool,
    pub origin: Origin,
}

impl From<AccountState> for proto::AccountState {
    fn from(state: AccountState) -> Self {
        let AccountState { id, scim_user_id, version, deleted, purged, active, origin } = state;
        proto::AccountState {
            id,
            scim_user_id: scim_user_id.unwrap_or_default(),
            version,
            deleted,
            purged,
            active,
            origin: origin.as_str().to_owned(),
        }
    }
}

/// What reconciliation compares of a team, deleted ones too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TeamState {
    pub id: String,
    pub version: i64,
    pub deleted: bool,
    /// Members whose account is live, as `ListTeamMembers` lists them.
    pub member_count: u64,
}

impl From<TeamState> for proto::TeamState {
    fn from(state: TeamState) -> Self {
        let TeamState { id, version, deleted, member_count } = state;
        proto::TeamState { id, version, deleted, member_count }
    }
}
