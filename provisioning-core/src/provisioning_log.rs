//! The provisioning log: one entry per SCIM request of a tenant (method, path, resource,
//! outcome, warnings, latency), never a body, userName, email or name. Entries go through a
//! bounded channel to a background writer that inserts them in batches, so the SCIM path never
//! waits for the log; a full channel drops entries (counted in a warning) rather than slowing
//! requests. The same task prunes entries older than the retention.

use std::future::Future;
use std::time::Duration;

use diesel::prelude::*;
use platform::db::now_micros;
use scim::{ResourceType, ScimError};
use tokio::sync::mpsc;

use crate::error::CoreError;
use crate::schema::provisioning_log;
use crate::store::Store;

/// One request, as the log keeps it.
#[derive(Debug, Clone, PartialEq, Insertable, Queryable, Selectable)]
#[diesel(table_name = provisioning_log)]
pub struct Entry {
    pub tenant_id: String,
    pub at: i64,
    pub method: String,
    pub path: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub status: i32,
    pub scim_type: Option<String>,
    pub detail: Option<String>,
    /// A JSON array of strings, when there are warnings.
    pub warnings: Option<String>,
    pub latency_micros: i64,
    pub trace_id: Option<String>,
    /// The token the request was made with (shows when an IdP moved to a rotated token).
    pub token_id: Option<String>,
    /// The IdP's `User-Agent` (which IdP sent it: "Azure AD SCIM client…", "Okta SCIM Client…").
    pub user_agent: Option<String>,
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = provisioning_log)]
pub struct StoredEntry {
    pub id: i64,
    #[diesel(embed)]
    pub entry: Entry,
}

/// The outcome of a request as the log states it. Only details that never echo what the client
/// sent are kept (not found, conflicts, versions); a 400's detail can quote a filter, a path or
/// a value, which may hold an email or a name, so a 400 keeps its `scimType` alone.
/// The most warnings one log entry keeps, and the most characters of each: a request of
/// thousands of unknown members or unmapped attributes costs the log a few KiB, not megabytes.
pub const MAX_WARNINGS: usize = 20;
pub const MAX_WARNING_CHARS: usize = 500;

/// One warning as the log keeps it: cut at [`MAX_WARNING_CHARS`] characters.
pub fn bounded_warning(mut message: String) -> String {
    if let Some((cut, _)) = message.char_indices().nth(MAX_WARNING_CHARS) {
        message.truncate(cut);
        message.push_str(" …");
    }
    message
}

/// A request's warnings as the log entry's JSON: at most [`MAX_WARNINGS`], each bounded, with a
/// last one counting those left out.
pub fn bounded_warnings(warnings: Vec<String>) -> Option<String> {
    if warnings.is_empty() {
        return None;
    }
    let total = warnings.len();
    let mut kept: Vec<String> = warnings.into_iter().take(MAX_WARNINGS).map(bounded_warning).collect();
    if total > MAX_WARNINGS {
        kept.push(format!("and {} more warnings", total - MAX_WARNINGS));
    }
    Some(serde_json::Value::from(kept).to_string())
}

pub fn outcome(result: Result<(), &CoreError>) -> (i32, Option<String>, Option<String>) {
    match result {
        Ok(()) => (200, None, None),
        Err(CoreError::Scim(error)) => {
            let ScimError { status, scim_type, detail } = error;
            let detail = matches!(status, 404 | 409 | 412).then(|| detail.clone());
            (i32::from(*status), scim_type.map(|t| t.as_str().to_owned()), detail)
        }
        Err(CoreError::Unauthenticated) => (401, None, None),
        Err(CoreError::RateLimited { .. }) => (429, None, None),
        Err(CoreError::Unavailable(_)) => (503, None, Some("the database is unavailable".to_owned())),
        Err(CoreError::Database(_) | CoreError::Internal(_)) => (500, None, Some("internal error".to_owned())),
    }
}

/// Where requests are logged from.
#[derive(Clone)]
pub struct ProvisioningLog {
    sender: mpsc::Sender<Entry>,
}

/// The background side: writes batches (and when each token was last used) and prunes.
pub struct LogWriter {
    store: Store,
    receiver: mpsc::Receiver<Entry>,
    retention: Duration,
    /// `PROVISIONING_LOG=off` stops writing entries (to measure what they cost); tokens' last
    /// use is still recorded.
    enabled: bool,
}

const CAPACITY: usize = 10_000;
const BATCH: usize = 500;

/// The most text (details and warnings) one batch writes: a batch is one transaction.
const BATCH_BYTES: usize = 2 * 1024 * 1024;

/// The bytes of text an entry adds to its batch.
fn text_bytes(entry: &Entry) -> usize {
    entry.detail.as_ref().map_or(0, String::len) + entry.warnings.as_ref().map_or(0, String::len) + entry.path.len()
}

impl ProvisioningLog {
    pub fn new(store: Store, retention: Duration, enabled: bool) -> (Self, LogWriter) {
        let (sender, receiver) = mpsc::channel(CAPACITY);
        (Self { sender }, LogWriter { store, receiver, retention, enabled })
    }

    /// Queues an entry; never waits.
    pub fn record(&self, entry: Entry) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.sender.try_send(entry) {
            tracing::warn!("provisioning log queue full: an entry was dropped");
        }
    }
}

impl LogWriter {
    /// Writes until `shutdown`, then what is still queued.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut prune = tokio::time::interval(Duration::from_secs(3600));
        let mut staleness = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = prune.tick() => self.prune().await,
                _ = staleness.tick() => self.observe_staleness().await,
                first = self.receiver.recv() => match first {
                    Some(first) => {
                        let mut bytes = text_bytes(&first);
                        let mut batch = vec![first];
                        while batch.len() < BATCH && bytes < BATCH_BYTES {
                            match self.receiver.try_recv() {
                                Ok(entry) => {
                                    bytes += text_bytes(&entry);
                                    batch.push(entry);
                                }
                                Err(_) => break,
                            }
                        }
                        self.write(batch).await;
                    }
                    None => break,
                },
            }
        }
        let mut rest = Vec::new();
        while let Ok(entry) = self.receiver.try_recv() {
            rest.push(entry);
            if rest.len() == BATCH {
                self.write(std::mem::take(&mut rest)).await;
            }
        }
        if !rest.is_empty() {
            self.write(rest).await;
        }
    }

    async fn write(&self, batch: Vec<Entry>) {
        // PostgreSQL text cannot hold NUL: one such entry must not lose its whole batch.
        let batch: Vec<Entry> = batch.into_iter().map(without_nul).collect();
        let mut used: Vec<(String, i64)> = Vec::new();
        for entry in &batch {
            let Some(token) = &entry.token_id else { continue };
            match used.iter_mut().find(|(id, _)| id == token) {
                Some((_, at)) => *at = (*at).max(entry.at),
                None => used.push((token.clone(), entry.at)),
            }
        }
        // One lock order across replicas' batches (no deadlock on token rows).
        used.sort();
        let activity = crate::store::activity::of_batch(&batch);
        let store = self.store.clone();
        let count = batch.len();
        let enabled = self.enabled;
        let written = tokio::task::spawn_blocking(move || {
            store.write(|conn| {
                // One statement per row (diesel's multi-backend connection has no batch insert),
                // in one transaction.
                for entry in batch.iter().filter(|_| enabled) {
                    diesel::insert_into(provisioning_log::table).values(entry).execute(conn)?;
                }
                crate::store::tenants::touch_tokens(conn, &used)?;
                crate::store::activity::record(conn, &activity)
            })
        })
        .await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(error = %error, count, "writing the provisioning log failed"),
            Err(error) => tracing::error!(error = %error, count, "provisioning log task failed"),
        }
    }

    /// Sets each tenant's `scimsvc_scim_tenant_seconds_since_last_request` and
    /// `scimsvc_scim_tenant_sync_overdue` (every core replica reads the same rows: alert on `max`).
    async fn observe_staleness(&self) {
        let store = self.store.clone();
        let read = tokio::task::spawn_blocking(move || {
            store.read(|conn| {
                let cadences: std::collections::HashMap<String, u32> = crate::store::tenants::list_tenants(conn)?
                    .into_iter()
                    .map(|tenant| (tenant.id.clone(), tenant.settings.cadence_minutes()))
                    .collect();
                Ok::<_, CoreError>((crate::store::activity::all(conn)?, cadences))
            })
        })
        .await;
        let Ok(Ok((activity, cadences))) = read else {
            tracing::warn!("reading the tenants' last requests failed");
            return;
        };
        let now = now_micros();
        for row in &activity {
            let cadence =
                cadences.get(&row.tenant_id).copied().unwrap_or(crate::store::tenants::DEFAULT_CADENCE_MINUTES);
            let status = crate::store::activity::sync_status(Some(row), cadence, now);
            crate::observe::TENANT_SILENT_SECONDS
                .with_label_values(&[row.tenant_id.as_str()])
                .set((now - row.last_request_at) / 1_000_000);
            crate::observe::TENANT_OVERDUE
                .with_label_values(&[row.tenant_id.as_str()])
                .set(i64::from(status == "overdue"));
        }
    }

    async fn prune(&self) {
        let store = self.store.clone();
        let cutoff = now_micros() - i64::try_from(self.retention.as_micros()).unwrap_or(i64::MAX);
        let pruned = tokio::task::spawn_blocking(move || {
            store.write(|conn| {
                Ok::<_, CoreError>(
                    diesel::delete(provisioning_log::table.filter(provisioning_log::at.lt(cutoff))).execute(conn)?,
                )
            })
        })
        .await;
        match pruned {
            Ok(Ok(0)) => {}
            Ok(Ok(count)) => tracing::info!(count, "pruned old provisioning log entries"),
            Ok(Err(error)) => tracing::error!(error = %error, "pruning the provisioning log failed"),
            Err(error) => tracing::error!(error = %error, "provisioning log task failed"),
        }
    }
}

fn without_nul(entry: Entry) -> Entry {
    let clean = |text: String| if text.contains('\0') { text.replace('\0', "\u{fffd}") } else { text };
    let clean_option = |text: Option<String>| text.map(clean);
    Entry {
        tenant_id: clean(entry.tenant_id),
        method: clean(entry.method),
        path: clean(entry.path),
        resource_type: clean_option(entry.resource_type),
        resource_id: clean_option(entry.resource_id),
        scim_type: clean_option(entry.scim_type),
        detail: clean_option(entry.detail),
        warnings: clean_option(entry.warnings),
        trace_id: clean_option(entry.trace_id),
        token_id: clean_option(entry.token_id),
        user_agent: clean_option(entry.user_agent),
        ..entry
    }
}

/// Which entries to read: all conditions must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// Entries at or after (microseconds since the epoch).
    pub since: Option<i64>,
    /// Entries before.
    pub until: Option<i64>,
    pub status: Option<StatusFilter>,
    /// `User` or `Group`.
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    /// At most this many (newest first).
    pub limit: i64,
    /// Only entries older than this entry id: the next page.
    pub before_id: Option<i64>,
}

/// An exact status (`404`), a class (`4xx`), or every error (`error`: 400 and above).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Exact(i32),
    Range(i32, i32),
}

impl StatusFilter {
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        match text.as_bytes() {
            b"error" | b"errors" => Some(Self::Range(400, 600)),
            b"success" => Some(Self::Range(200, 400)),
            [class @ b'1'..=b'5', b'x' | b'X', b'x' | b'X'] => {
                let low = i32::from(class - b'0') * 100;
                Some(Self::Range(low, low + 100))
            }
            _ => text.parse().ok().filter(|status| (100..600).contains(status)).map(Self::Exact),
        }
    }
}

/// The most entries one query returns.
pub const MAX_LIMIT: i64 = 1000;

/// A tenant's entries, newest first.
pub fn query(
    conn: &mut platform::db::DbConnection,
    tenant: &str,
    filter: &LogQuery,
) -> Result<Vec<StoredEntry>, CoreError> {
    let mut query = provisioning_log::table.filter(provisioning_log::tenant_id.eq(tenant)).into_boxed();
    if let Some(resource_type) = &filter.resource_type {
        query = query.filter(provisioning_log::resource_type.eq(resource_type.clone()));
    }
    if let Some(resource_id) = &filter.resource_id {
        query = query.filter(provisioning_log::resource_id.eq(resource_id.clone()));
    }
    if let Some(since) = filter.since {
        query = query.filter(provisioning_log::at.ge(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(provisioning_log::at.lt(until));
    }
    if let Some(before) = filter.before_id {
        query = query.filter(provisioning_log::id.lt(before));
    }
    query = match filter.status {
        Some(StatusFilter::Exact(status)) => query.filter(provisioning_log::status.eq(status)),
        Some(StatusFilter::Range(low, high)) => {
            query.filter(provisioning_log::status.ge(low)).filter(provisioning_log::status.lt(high))
        }
        None => query,
    };
    let limit = filter.limit.clamp(1, MAX_LIMIT);
    Ok(query.order(provisioning_log::id.desc()).limit(limit).select(StoredEntry::as_select()).load(conn)?)
}

/// Failed requests by (status, scimType), and how many.
pub type FailureCounts = Vec<((i32, Option<String>), i64)>;

/// A tenant's requests since `since` (microseconds): the failed ones by (status, scimType),
/// most frequent first — a 404 to a read is how an IdP learns a resource is gone, not a
/// failure — and how many succeeded with warnings. Counted in the database, whatever their
/// number.
pub fn summary_since(
    conn: &mut platform::db::DbConnection,
    tenant: &str,
    since: i64,
) -> Result<(FailureCounts, i64), CoreError> {
    use diesel::dsl::count_star;
    let recent = || {
        provisioning_log::table
            .filter(provisioning_log::tenant_id.eq(tenant.to_owned()))
            .filter(provisioning_log::at.ge(since))
    };
    let mut failures: Vec<(i32, Option<String>, i64)> = recent()
        .filter(provisioning_log::status.ge(400))
        .filter(diesel::dsl::not(provisioning_log::status.eq(404).and(provisioning_log::method.eq("GET"))))
        .group_by((provisioning_log::status, provisioning_log::scim_type))
        .select((provisioning_log::status, provisioning_log::scim_type, count_star()))
        .load(conn)?;
    failures.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    let warned: i64 = recent()
        .filter(provisioning_log::status.lt(400))
        .filter(provisioning_log::warnings.is_not_null())
        .count()
        .get_result(conn)?;
    Ok((failures.into_iter().map(|(status, kind, n)| ((status, kind), n)).collect(), warned))
}

/// The resource type and id a SCIM path names (`/Users/2819c223…` → User, the id).
pub fn resource_of(path: &str) -> (Option<String>, Option<String>) {
    let mut segments = path.trim_matches('/').split('/');
    let kind = match segments.next() {
        Some(first) if first.eq_ignore_ascii_case("Users") => Some(ResourceType::User),
        Some(first) if first.eq_ignore_ascii_case("Groups") => Some(ResourceType::Group),
        _ => None,
    };
    let Some(kind) = kind else { return (None, None) };
    let id =
        segments.next().filter(|id| !id.is_empty() && !id.starts_with('.')).map(|id| id.chars().take(200).collect());
    (Some(kind.name().to_owned()), id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_filters() {
        assert_eq!(StatusFilter::parse("404"), Some(StatusFilter::Exact(404)));
        assert_eq!(StatusFilter::parse("4xx"), Some(StatusFilter::Range(400, 500)));
        assert_eq!(StatusFilter::parse("error"), Some(StatusFilter::Range(400, 600)));
        for bad in ["", "abc", "99", "600", "6xx", "4x"] {
            assert_eq!(StatusFilter::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn paths_name_their_resources() {
        assert_eq!(resource_of("/Users/abc"), (Some("User".into()), Some("abc".into())));
        assert_eq!(resource_of("/groups"), (Some("Group".into()), None));
        assert_eq!(resource_of("/Users/.search"), (Some("User".into()), None));
        assert_eq!(resource_of("/Bulk"), (None, None));
    }

    #[test]
    fn outcomes_never_echo_input() {
        let filter = CoreError::Scim(ScimError::invalid_filter("unexpected 'jane@example.com'"));
        assert_eq!(outcome(Err(&filter)), (400, Some("invalidFilter".to_owned()), None));
        let value =
            CoreError::Scim(ScimError::invalid_value("'emails[value eq \"jane@x.com\"]' needs an object value"));
        assert_eq!(outcome(Err(&value)), (400, Some("invalidValue".to_owned()), None));
        let taken = CoreError::Scim(ScimError::uniqueness("userName is already taken in this tenant"));
        assert_eq!(
            outcome(Err(&taken)),
            (409, Some("uniqueness".to_owned()), Some("userName is already taken in this tenant".to_owned()))
        );
        assert_eq!(outcome(Ok(())), (200, None, None));
    }
}

#[cfg(test)]
mod bound_tests {
    use super::*;

    #[test]
    fn warnings_are_bounded_per_entry() {
        assert_eq!(bounded_warnings(Vec::new()), None);
        let long = "é".repeat(10 * MAX_WARNING_CHARS);
        let many: Vec<String> = (0..5_000).map(|_| long.clone()).collect();
        let json = bounded_warnings(many).expect("warnings");
        let kept: Vec<String> = serde_json::from_str(&json).expect("a JSON list");
        assert_eq!(kept.len(), MAX_WARNINGS + 1);
        assert_eq!(kept.last().map(String::as_str), Some("and 4980 more warnings"));
        assert!(kept[0].chars().count() <= MAX_WARNING_CHARS + 2, "{}", kept[0].chars().count());
        assert!(json.len() < 32 * 1024, "{} bytes", json.len());
    }
}
