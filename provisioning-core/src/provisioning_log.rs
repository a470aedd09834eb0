//! The provisioning log: one entry per SCIM request of a tenant (method, path, resource,
//! outcome, warnings, latency), never a body, userName, email or name. Entries go through a
//! bounded channel to a background writer that inserts them in batches, so the SCIM path never
//! waits for the log; a full channel drops entries (counted in a warning) rather than slowing
//! requests. The same task prunes entries older than the retention.

use std::cell::RefCell;
use std::future::Future;
use std::time::Duration;

use diesel::prelude::*;
use platform::db::now_micros;
use scim::ScimError;
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
pub fn outcome(result: Result<(), &CoreError>) -> (i32, Option<String>, Option<String>) {
    match result {
        Ok(()) => (200, None, None),
        Err(CoreError::Scim(error)) => {
            let ScimError { status, scim_type, detail } = error;
            let detail = matches!(status, 404 | 409 | 412).then(|| detail.clone());
            (i32::from(*status), scim_type.map(|t| t.as_str().to_owned()), detail)
        }
        Err(CoreError::Unauthenticated) => (401, None, None),
        Err(CoreError::Unavailable(_)) => (503, None, Some("the database is unavailable".to_owned())),
        Err(CoreError::Database(_) | CoreError::Internal(_)) => (500, None, Some("internal error".to_owned())),
    }
}

thread_local! {
    static WARNINGS: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

/// Notes a warning for the request being handled on this thread (a no-op outside one).
pub fn warn(message: impl Into<String>) {
    WARNINGS.with(|warnings| {
        if let Some(list) = warnings.borrow_mut().as_mut() {
            list.push(message.into());
        }
    });
}

/// Runs `work` (one request's store work, on one blocking thread) and returns what it warned.
pub fn collecting<T>(work: impl FnOnce() -> T) -> (T, Vec<String>) {
    WARNINGS.with(|warnings| *warnings.borrow_mut() = Some(Vec::new()));
    let result = work();
    let warnings = WARNINGS.with(|warnings| warnings.borrow_mut().take()).unwrap_or_default();
    (result, warnings)
}

/// Where requests are logged from.
#[derive(Clone)]
pub struct ProvisioningLog {
    sender: mpsc::Sender<Entry>,
    /// `PROVISIONING_LOG=off` turns it off (to measure what it costs).
    enabled: bool,
}

/// The background side: writes batches and prunes.
pub struct LogWriter {
    store: Store,
    receiver: mpsc::Receiver<Entry>,
    retention: Duration,
}

const CAPACITY: usize = 10_000;
const BATCH: usize = 500;

impl ProvisioningLog {
    pub fn new(store: Store, retention: Duration, enabled: bool) -> (Self, LogWriter) {
        let (sender, receiver) = mpsc::channel(CAPACITY);
        (Self { sender, enabled }, LogWriter { store, receiver, retention })
    }

    /// Queues an entry; never waits.
    pub fn record(&self, entry: Entry) {
        if !self.enabled {
            return;
        }
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
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = prune.tick() => self.prune().await,
                first = self.receiver.recv() => match first {
                    Some(first) => {
                        let mut batch = vec![first];
                        while batch.len() < BATCH {
                            match self.receiver.try_recv() {
                                Ok(entry) => batch.push(entry),
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
        }
        if !rest.is_empty() {
            self.write(rest).await;
        }
    }

    async fn write(&self, batch: Vec<Entry>) {
        // PostgreSQL text cannot hold NUL: one such entry must not lose its whole batch.
        let batch: Vec<Entry> = batch.into_iter().map(without_nul).collect();
        let store = self.store.clone();
        let count = batch.len();
        let written = tokio::task::spawn_blocking(move || {
            store.write(|conn| {
                for entry in &batch {
                    diesel::insert_into(provisioning_log::table).values(entry).execute(conn)?;
                }
                Ok(())
            })
        })
        .await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(error = %error, count, "writing the provisioning log failed"),
            Err(error) => tracing::error!(error = %error, count, "provisioning log task failed"),
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
        ..entry
    }
}

/// A tenant's entries, newest first.
pub fn recent(
    conn: &mut platform::db::DbConnection,
    tenant: &str,
    resource_id: Option<&str>,
    limit: i64,
) -> Result<Vec<StoredEntry>, CoreError> {
    let mut query = provisioning_log::table.filter(provisioning_log::tenant_id.eq(tenant)).into_boxed();
    if let Some(resource_id) = resource_id {
        query = query.filter(provisioning_log::resource_id.eq(resource_id.to_owned()));
    }
    Ok(query.order(provisioning_log::id.desc()).limit(limit).select(StoredEntry::as_select()).load(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_collected_per_request() {
        warn("outside any request: dropped");
        let (value, warnings) = collecting(|| {
            warn("first");
            warn(String::from("second"));
            7
        });
        assert_eq!(value, 7);
        assert_eq!(warnings, vec!["first", "second"]);
        let ((), none) = collecting(|| ());
        assert!(none.is_empty());
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
