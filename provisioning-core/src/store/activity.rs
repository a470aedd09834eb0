//! A tenant's connection as its admin and the operators see it: the first and the last SCIM
//! request, the IdP's `User-Agent`, the last request that failed, and from the last request and
//! the tenant's expected cadence, whether its IdP has gone quiet. Written with each
//! provisioning-log batch (one row per tenant, only ever moving forward, so that the batches of
//! several core replicas may come in any order).

use diesel::prelude::*;
use serde_json::Value;

use crate::error::CoreError;
use crate::provisioning_log::Entry;
use crate::schema::tenant_activity;
use platform::db::DbConnection;

/// A tenant's connection, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = tenant_activity)]
pub struct Activity {
    pub tenant_id: String,
    pub first_request_at: i64,
    pub last_request_at: i64,
    pub last_user_agent: Option<String>,
    pub last_error_at: Option<i64>,
    pub last_error: Option<String>,
}

/// Whether a request's answer is a failure its admin should see. A 404 to a read is how an IdP
/// learns that a resource is gone, not a problem.
fn failed(entry: &Entry) -> bool {
    entry.status >= 400 && !(entry.status == 404 && entry.method == "GET")
}

/// What one batch of log entries says of each tenant in it, in tenant order.
pub fn of_batch(batch: &[Entry]) -> Vec<Activity> {
    let mut by_tenant: std::collections::BTreeMap<&str, Activity> = std::collections::BTreeMap::new();
    for entry in batch {
        let activity = by_tenant.entry(entry.tenant_id.as_str()).or_insert_with(|| Activity {
            tenant_id: entry.tenant_id.clone(),
            first_request_at: entry.at,
            last_request_at: entry.at,
            last_user_agent: None,
            last_error_at: None,
            last_error: None,
        });
        activity.first_request_at = activity.first_request_at.min(entry.at);
        if entry.at >= activity.last_request_at {
            activity.last_request_at = entry.at;
            if entry.user_agent.is_some() {
                activity.last_user_agent.clone_from(&entry.user_agent);
            }
        } else if activity.last_user_agent.is_none() {
            activity.last_user_agent.clone_from(&entry.user_agent);
        }
        if failed(entry) && activity.last_error_at.is_none_or(|at| entry.at >= at) {
            activity.last_error_at = Some(entry.at);
            let reason = entry.scim_type.as_deref().or(entry.detail.as_deref()).unwrap_or("");
            let text = format!("{} {} {}", entry.status, entry.method, entry.path);
            activity.last_error = Some(if reason.is_empty() { text } else { format!("{text}: {reason}") });
        }
    }
    by_tenant.into_values().collect()
}

/// Stores a batch's activity, moving each field only forward (the first request only back).
pub fn record(conn: &mut DbConnection, batch: &[Activity]) -> Result<(), CoreError> {
    for activity in batch {
        let tenant = tenant_activity::table.filter(tenant_activity::tenant_id.eq(&activity.tenant_id));
        let exists: i64 = tenant.count().get_result(conn)?;
        if exists == 0 {
            // In a savepoint: another replica inserting the row first fails this insert alone,
            // and the updates below merge into its row.
            let inserted =
                conn.transaction(|conn| diesel::insert_into(tenant_activity::table).values(activity).execute(conn));
            if inserted.is_ok() {
                continue;
            }
        }
        diesel::update(tenant.filter(tenant_activity::first_request_at.gt(activity.first_request_at)))
            .set(tenant_activity::first_request_at.eq(activity.first_request_at))
            .execute(conn)?;
        // The User-Agent moves with the last request: an older batch leaves the newer one.
        let newer = tenant.filter(tenant_activity::last_request_at.lt(activity.last_request_at));
        match &activity.last_user_agent {
            Some(user_agent) => diesel::update(newer)
                .set((
                    tenant_activity::last_request_at.eq(activity.last_request_at),
                    tenant_activity::last_user_agent.eq(user_agent),
                ))
                .execute(conn)?,
            None => diesel::update(newer)
                .set(tenant_activity::last_request_at.eq(activity.last_request_at))
                .execute(conn)?,
        };
        if let (Some(at), Some(error)) = (activity.last_error_at, &activity.last_error) {
            diesel::update(
                tenant.filter(tenant_activity::last_error_at.is_null().or(tenant_activity::last_error_at.lt(at))),
            )
            .set((tenant_activity::last_error_at.eq(at), tenant_activity::last_error.eq(error)))
            .execute(conn)?;
        }
    }
    Ok(())
}

/// A tenant's connection; None before its first request.
pub fn get(conn: &mut DbConnection, tenant: &str) -> Result<Option<Activity>, CoreError> {
    Ok(tenant_activity::table
        .filter(tenant_activity::tenant_id.eq(tenant))
        .select(Activity::as_select())
        .first(conn)
        .optional()?)
}

/// Every tenant's connection (for the metrics).
pub fn all(conn: &mut DbConnection) -> Result<Vec<Activity>, CoreError> {
    Ok(tenant_activity::table.select(Activity::as_select()).order(tenant_activity::tenant_id).load(conn)?)
}

/// The IdP a `User-Agent` names, when it is one of the known ones.
pub fn idp_of(user_agent: &str) -> Option<&'static str> {
    let lower = user_agent.to_ascii_lowercase();
    if lower.contains("azure") || lower.contains("microsoft") || lower.contains("entra") {
        Some("Microsoft Entra ID")
    } else if lower.contains("okta") {
        Some("Okta")
    } else if lower.contains("onelogin") {
        Some("OneLogin")
    } else if lower.contains("google") {
        Some("Google Workspace")
    } else if lower.contains("jumpcloud") {
        Some("JumpCloud")
    } else {
        None
    }
}

/// The sync status: `never` (no request yet), `on_schedule`, or `overdue` (no request for
/// more than three expected cycles: the IdP's provisioning may be paused, stopped or
/// quarantined).
pub fn sync_status(activity: Option<&Activity>, cadence_minutes: u32, now: i64) -> &'static str {
    match activity {
        None => "never",
        Some(activity) if now - activity.last_request_at > overdue_after_micros(cadence_minutes) => "overdue",
        Some(_) => "on_schedule",
    }
}

/// How long without a request makes a tenant overdue: three expected cycles.
pub fn overdue_after_micros(cadence_minutes: u32) -> i64 {
    3 * i64::from(cadence_minutes) * 60_000_000
}

/// A tenant's connection as the tenant view and the portal show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ConnectionStatus {
    /// `never` (no request yet), `on_schedule` or `overdue` (quiet for more than three
    /// expected cycles).
    pub status: &'static str,
    pub expected_cadence_minutes: u32,
    /// RFC 3339.
    pub first_request_at: Option<String>,
    pub last_request_at: Option<String>,
    /// The `User-Agent` of the newest request that named one.
    pub user_agent: Option<String>,
    /// The identity provider that user agent names, when it is a known one.
    pub idp: Option<&'static str>,
    pub last_error_at: Option<String>,
    /// `<status> <method> <path>: <scimType or detail>` of the newest failed request.
    pub last_error: Option<String>,
}

fn rfc3339(micros: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_micros(micros).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

/// A tenant's connection at `now`.
pub fn connection(activity: Option<&Activity>, cadence_minutes: u32, now: i64) -> ConnectionStatus {
    let user_agent = activity.and_then(|a| a.last_user_agent.clone());
    ConnectionStatus {
        status: sync_status(activity, cadence_minutes, now),
        expected_cadence_minutes: cadence_minutes,
        first_request_at: activity.and_then(|a| rfc3339(a.first_request_at)),
        last_request_at: activity.and_then(|a| rfc3339(a.last_request_at)),
        idp: user_agent.as_deref().and_then(idp_of),
        user_agent,
        last_error_at: activity.and_then(|a| a.last_error_at).and_then(rfc3339),
        last_error: activity.and_then(|a| a.last_error.clone()),
    }
}

/// The tenant view's `connection` section.
pub fn connection_json(activity: Option<&Activity>, cadence_minutes: u32, now: i64) -> Value {
    serde_json::to_value(connection(activity, cadence_minutes, now)).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tenant: &str, at: i64, status: i32, user_agent: Option<&str>) -> Entry {
        Entry {
            tenant_id: tenant.to_owned(),
            at,
            method: "POST".to_owned(),
            path: "/Users".to_owned(),
            resource_type: Some("User".to_owned()),
            resource_id: None,
            status,
            scim_type: (status == 409).then(|| "uniqueness".to_owned()),
            detail: None,
            warnings: None,
            latency_micros: 1,
            trace_id: None,
            token_id: None,
            user_agent: user_agent.map(str::to_owned),
        }
    }

    #[test]
    fn a_batch_gives_each_tenant_its_first_and_last_request_and_last_failure() {
        let batch = [
            entry("b", 30, 201, Some("Okta SCIM Client 1.0.0")),
            entry("a", 20, 409, Some("Azure AD SCIM client")),
            entry("a", 10, 201, Some("older")),
            entry("a", 25, 201, None),
        ];
        let activity = of_batch(&batch);
        assert_eq!(activity.len(), 2);
        let a = &activity[0];
        assert_eq!((a.tenant_id.as_str(), a.first_request_at, a.last_request_at), ("a", 10, 25));
        assert_eq!(a.last_user_agent.as_deref(), Some("Azure AD SCIM client"), "the newest request that named one");
        assert_eq!((a.last_error_at, a.last_error.as_deref()), (Some(20), Some("409 POST /Users: uniqueness")));
        assert_eq!(activity[1].last_error, None);
    }

    #[test]
    fn a_missing_resource_read_is_not_a_failure() {
        let mut read = entry("a", 1, 404, None);
        read.method = "GET".to_owned();
        assert_eq!(of_batch(&[read])[0].last_error, None);
        assert!(of_batch(&[entry("a", 1, 404, None)])[0].last_error.is_some(), "a 404 to a write is");
    }

    #[test]
    fn quiet_beyond_three_cycles_is_overdue() {
        let activity = Activity {
            tenant_id: "a".to_owned(),
            first_request_at: 0,
            last_request_at: 0,
            last_user_agent: None,
            last_error_at: None,
            last_error: None,
        };
        let minute = 60_000_000;
        assert_eq!(sync_status(None, 40, 0), "never");
        assert_eq!(sync_status(Some(&activity), 40, 120 * minute), "on_schedule");
        assert_eq!(sync_status(Some(&activity), 40, 120 * minute + 1), "overdue");
        assert_eq!(sync_status(Some(&activity), 1440, 3 * 1440 * minute), "on_schedule");
    }

    #[test]
    fn known_user_agents_name_their_idp() {
        assert_eq!(idp_of("Azure Active Directory SCIM Client"), Some("Microsoft Entra ID"));
        assert_eq!(idp_of("Okta SCIM Client 1.0.0"), Some("Okta"));
        assert_eq!(idp_of("curl/8.0"), None);
    }
}
