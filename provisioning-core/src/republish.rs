//! Re-publishing records in the background: after a tenant's rules change (mapping, group
//! permissions), or a group change that moves the permissions of more users than a request
//! re-publishes itself (a rename or a deletion of a large team that grants permissions, a large
//! membership change of one).
//!
//! A job (`store::jobs`) goes through its items in id order, [`BATCH`] per transaction: each
//! batch re-maps its groups or users with the tenant's current rules, publishes those whose
//! record changed, and commits its cursor with them, so a job stopped by a crash or a restart
//! resumes after its last committed batch, and re-doing a batch publishes nothing twice (a
//! record equal to the one published is not published again). Jobs take turns batch by batch
//! (the least recently advanced first); on PostgreSQL each core replica takes the next job no
//! other replica holds (`FOR UPDATE SKIP LOCKED`). Progress is in the admin API
//! (`GET /admin/v1/tenants/{slug}/jobs`), the CLI (`jobs`) and the metrics
//! (`scimsvc_republish_jobs_open`, `scimsvc_republish_job_remaining_items`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::context::TenantContext;
use crate::error::CoreError;
use crate::store::jobs::{self, JobRow, PHASE_DONE, PHASE_GROUPS, PHASE_USERS, SCOPE_CURRENT, SCOPE_TENANT};
use crate::store::tenants::TenantId;
use crate::store::{Store, groups, users};
use crate::write::publish;

/// Items (groups or users) per transaction.
pub const BATCH: i64 = 200;

/// Batches one wake-up runs before it looks at the shutdown signal again.
const BATCHES_PER_TURN: usize = 25;

/// What one batch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub job_id: String,
    pub handled: i64,
    pub published: i64,
    pub finished: bool,
}

/// What one item of a batch came to.
#[derive(Default)]
struct Tally {
    published: i64,
    skipped: i64,
    note: Option<String>,
}

impl Tally {
    /// A missing row (deleted since the job was made) is nothing to do; a record too large for
    /// an event (stored before events were bounded) is left as it was, counted and noted, and
    /// the job goes on (nothing of it was written: the size is checked before the row).
    fn count(&mut self, what: &str, id: &str, outcome: Result<bool, CoreError>) -> Result<(), CoreError> {
        match outcome {
            Ok(published) => self.published += i64::from(published),
            Err(CoreError::Scim(error)) if error.status == 404 => {}
            Err(CoreError::Scim(error)) if error.status == 413 => {
                tracing::warn!(resource.id = id, error = %error.detail, "a record too large to publish was skipped");
                self.skipped += 1;
                self.note = Some(format!("{what} {id} skipped: {}", error.detail));
            }
            Err(error) => return Err(error),
        }
        Ok(())
    }
}

/// Runs one batch of the next job; `None` when no job is open.
pub fn run_batch(store: &Store) -> Result<Option<Progress>, CoreError> {
    let mut claimed: Option<String> = None;
    let outcome = store.write(|conn| {
        let Some(job) = jobs::claim_next(conn)? else { return Ok(None) };
        claimed = Some(job.id.clone());
        let ctx = TenantContext::load(conn, &TenantId(job.tenant_id.clone()))?;
        let (phase, cursor, handled, tally) = batch(conn, &ctx, &job)?;
        let counts = (handled, tally.published, tally.skipped);
        jobs::advance(conn, &job, phase, cursor.as_deref(), counts, tally.note.as_deref())?;
        Ok(Some(Progress { job_id: job.id, handled, published: tally.published, finished: phase == PHASE_DONE }))
    });
    if let (Err(error), Some(job_id)) = (&outcome, &claimed) {
        let text = error.to_string();
        if let Err(noted) = store.write(|conn| jobs::note_error(conn, job_id, &text)) {
            tracing::warn!(error = %noted, "noting a re-publishing job's error failed");
        }
    }
    outcome
}

/// One batch of `job`: its next phase and cursor, how many items it handled, what came of them.
fn batch(
    conn: &mut platform::db::DbConnection,
    ctx: &TenantContext,
    job: &JobRow,
) -> Result<(&'static str, Option<String>, i64, Tally), CoreError> {
    let after = job.cursor.as_deref();
    let mut tally = Tally::default();
    let current = job.scope == SCOPE_CURRENT;
    if job.phase == PHASE_GROUPS {
        let ids = groups::ids_after(conn, &ctx.tenant, after, BATCH)?;
        for id in &ids {
            let published =
                if current { publish::team_current(conn, ctx, id) } else { publish::team_derived(conn, ctx, id) };
            tally.count("group", id, published)?;
        }
        let handled = ids.len() as i64;
        return Ok(match ids.last() {
            Some(last) if handled == BATCH => (PHASE_GROUPS, Some(last.clone()), handled, tally),
            _ => (PHASE_USERS, None, handled, tally),
        });
    }
    let ids = if job.scope == SCOPE_TENANT || current {
        users::ids_after(conn, &ctx.tenant, after, BATCH)?
    } else {
        jobs::listed_after(conn, &job.id, after, BATCH)?
    };
    for id in &ids {
        let published =
            if current { publish::user_current(conn, ctx, id) } else { publish::user_derived(conn, ctx, id) };
        tally.count("user", id, published)?;
    }
    let handled = ids.len() as i64;
    Ok(match ids.last() {
        Some(last) if handled == BATCH => (PHASE_USERS, Some(last.clone()), handled, tally),
        _ => (PHASE_DONE, None, handled, tally),
    })
}

/// The background worker of a core: runs open jobs' batches, waking the relay after each.
pub struct Republisher {
    pub store: Store,
    pub relay_wake: Arc<Notify>,
    pub every: Duration,
}

impl Republisher {
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = tick.tick() => self.turn().await,
            }
        }
    }

    /// Up to [`BATCHES_PER_TURN`] batches, until no job is open.
    async fn turn(&self) {
        for _ in 0..BATCHES_PER_TURN {
            let store = self.store.clone();
            match tokio::task::spawn_blocking(move || run_batch(&store)).await {
                Ok(Ok(Some(progress))) => {
                    if progress.published > 0 {
                        self.relay_wake.notify_one();
                    }
                    if progress.finished {
                        tracing::info!(job.id = %progress.job_id, "re-publishing job finished");
                    }
                }
                Ok(Ok(None)) => break,
                Ok(Err(error)) => {
                    tracing::error!(error = %error, "a re-publishing batch failed; it is tried again");
                    break;
                }
                Err(error) => {
                    tracing::error!(error = %error, "re-publishing task failed");
                    break;
                }
            }
        }
    }
}
