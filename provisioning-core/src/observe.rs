//! What operators see of provisioning-core: a server span per gRPC call (OpenTelemetry RPC
//! conventions, continuing the caller's W3C trace context from the metadata), and the metrics
//! served on the admin listener's `/metrics`: SCIM requests by tenant, resource, operation and
//! status with their latency, gRPC calls by method and code, rate-limit rejections, the outbox
//! backlog and the age of its oldest event, and database pool usage.

use std::sync::LazyLock;

use prometheus::{HistogramVec, IntCounterVec, IntGauge, IntGaugeVec};

use crate::store::Store;

pub static SCIM_REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    platform::metrics::counter_vec(
        "scim_requests_total",
        "SCIM requests of tenants, by tenant, resource type, operation and status",
        &["tenant", "resource", "operation", "status"],
    )
});

pub static SCIM_DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    platform::metrics::histogram_vec(
        "scim_request_duration_seconds",
        "Time provisioning-core took for a SCIM request, by tenant, resource type and operation",
        &["tenant", "resource", "operation"],
    )
});

pub static GRPC_HANDLED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    platform::metrics::counter_vec(
        "grpc_server_handled_total",
        "gRPC calls handled by provisioning-core, by method and gRPC status code",
        &["grpc_method", "grpc_code"],
    )
});

pub static RECONCILE_DIFFERENCES: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    platform::metrics::gauge_vec(
        "scim_reconcile_differences",
        "Differences between the core's records and the directory's found by the last reconciliation, by tenant",
        &["tenant"],
    )
});

pub static TENANT_SILENT_SECONDS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    platform::metrics::gauge_vec(
        "scim_tenant_seconds_since_last_request",
        "Seconds since the tenant's last SCIM request (refreshed every minute), by tenant",
        &["tenant"],
    )
});

pub static TENANT_OVERDUE: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    platform::metrics::gauge_vec(
        "scim_tenant_sync_overdue",
        "1 when the tenant sent no SCIM request for more than three of its expected cycles, by tenant",
        &["tenant"],
    )
});

pub static TENANT_BUSY: LazyLock<IntCounterVec> = LazyLock::new(|| {
    platform::metrics::counter_vec(
        "scim_tenant_concurrency_rejections_total",
        "SCIM requests refused with 429 because their tenant had its most requests in progress at once",
        &["tenant"],
    )
});

pub static RATE_LIMITED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    platform::metrics::counter_vec(
        "scim_rate_limit_rejections_total",
        "SCIM requests refused with 429 by a tenant's rate limit",
        &["tenant"],
    )
});

static OUTBOX_BACKLOG: LazyLock<IntGauge> =
    LazyLock::new(|| platform::metrics::gauge("outbox_backlog_events", "Events committed but not yet published"));

static OUTBOX_OLDEST: LazyLock<IntGauge> = LazyLock::new(|| {
    platform::metrics::gauge(
        "outbox_oldest_unpublished_age_seconds",
        "Age of the oldest event not yet published (0 when none)",
    )
});

static OUTBOX_FAILED: LazyLock<IntGauge> = LazyLock::new(|| {
    platform::metrics::gauge("outbox_set_aside_events", "Events the broker refused for good, kept aside in the outbox")
});

static JOBS_OPEN: LazyLock<IntGauge> =
    LazyLock::new(|| platform::metrics::gauge("republish_jobs_open", "Background re-publishing jobs not finished yet"));

static JOBS_REMAINING: LazyLock<IntGauge> = LazyLock::new(|| {
    platform::metrics::gauge(
        "republish_job_remaining_items",
        "Groups and users the open re-publishing jobs have still to go through",
    )
});

static UNAUTHENTICATED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    platform::metrics::counter_vec(
        "scim_unauthenticated_total",
        "Requests refused 401: with a revoked or expired token of the tenant, or (tenant=\"unknown\") an unknown one",
        &["tenant"],
    )
});

/// A request refused 401; `tenant` when its token was the tenant's (revoked, expired).
pub fn unauthenticated(tenant: Option<&str>) {
    UNAUTHENTICATED.with_label_values(&[tenant.unwrap_or("unknown")]).inc();
}

/// 1 on the replica whose relay publishes the outbox (it holds the lock), 0 on a standby.
pub static RELAY_PUBLISHER: LazyLock<IntGauge> = LazyLock::new(|| {
    platform::metrics::gauge("outbox_relay_publisher", "1 when this replica's relay publishes the outbox, 0 on standby")
});

/// Records a pool's usage under `service`.
pub fn record_pool(service: &str, database: &platform::db::Database) {
    platform::metrics::record_pool(service, database);
}

/// Refreshes the gauges read from the database (at each scrape), then renders all metrics.
pub fn scrape(store: &Store) -> String {
    match store.read(crate::store::outbox::backlog) {
        Ok(backlog) => {
            OUTBOX_BACKLOG.set(backlog.pending);
            let age = backlog.oldest_created_at.map_or(0, |at| (platform::db::now_micros() - at) / 1_000_000);
            OUTBOX_OLDEST.set(age.max(0));
            OUTBOX_FAILED.set(backlog.set_aside);
        }
        Err(error) => tracing::warn!(error = %error, "reading the outbox backlog for metrics failed"),
    }
    match store.read(crate::store::jobs::backlog) {
        Ok((open, remaining)) => {
            JOBS_OPEN.set(open);
            JOBS_REMAINING.set(remaining);
        }
        Err(error) => tracing::warn!(error = %error, "reading the re-publishing jobs for metrics failed"),
    }
    record_pool("provisioning-core", store.database());
    platform::metrics::render()
}
