//! Prometheus metrics: each service registers its own in the process's default registry and
//! serves them as text on its management listener (`GET /metrics`). Every metric of ours is
//! named under one prefix, [`NAMESPACE`] (`scimsvc_…`), with its unit in the name; beside them
//! the standard `process_*` metrics and `scimsvc_build_info`.

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, TextEncoder};

fn register<T: prometheus::core::Collector + Clone + 'static>(metric: T) -> T {
    // Registered once per name (statics); a duplicate (two services in one process registering
    // the same name) keeps the first and still counts locally.
    let _ = prometheus::default_registry().register(Box::new(metric.clone()));
    metric
}

/// The prefix of every metric of ours.
pub const NAMESPACE: &str = "scimsvc";

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help).namespace(NAMESPACE)
}

#[allow(clippy::expect_used)]
pub fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    // Names and labels are constants of the code: a bad one is a bug caught by the first test.
    register(IntCounterVec::new(opts(name, help), labels).expect("valid metric definition"))
}

#[allow(clippy::expect_used)]
pub fn gauge(name: &str, help: &str) -> IntGauge {
    register(IntGauge::with_opts(opts(name, help)).expect("valid metric definition"))
}

#[allow(clippy::expect_used)]
pub fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    register(IntGaugeVec::new(opts(name, help), labels).expect("valid metric definition"))
}

#[allow(clippy::expect_used)]
pub fn histogram_vec(name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let buckets = vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
    register(
        HistogramVec::new(HistogramOpts::new(name, help).namespace(NAMESPACE).buckets(buckets), labels)
            .expect("valid metric definition"),
    )
}

static BUILD_INFO: std::sync::LazyLock<IntGaugeVec> = std::sync::LazyLock::new(|| {
    gauge_vec("build_info", "1, labelled with the service and its version", &["service", "version"])
});

static POOL: std::sync::LazyLock<IntGaugeVec> = std::sync::LazyLock::new(|| {
    gauge_vec("db_pool_connections", "Database pool connections in use and idle", &["service", "state"])
});

static POOL_MAX: std::sync::LazyLock<IntGaugeVec> = std::sync::LazyLock::new(|| {
    gauge_vec("db_pool_max_connections", "The database pool's capacity (DATABASE_MAX_CONNECTIONS)", &["service"])
});

static STATEMENTS: std::sync::LazyLock<IntCounterVec> = std::sync::LazyLock::new(|| {
    counter_vec(
        "db_statements_total",
        "SQL statements run on the pool's connections (transaction control included)",
        &["service"],
    )
});

/// At start: `scimsvc_build_info{service, version}` and the process collector.
pub fn register_process(service: &str) {
    BUILD_INFO.with_label_values(&[service, env!("CARGO_PKG_VERSION")]).set(1);
    #[cfg(target_os = "linux")]
    {
        static PROCESS: std::sync::Once = std::sync::Once::new();
        PROCESS.call_once(|| {
            let _ = prometheus::default_registry()
                .register(Box::new(prometheus::process_collector::ProcessCollector::for_self()));
        });
    }
}

/// Records a pool's usage and capacity under `service`.
pub fn record_pool(service: &str, database: &crate::db::Database) {
    let statements = STATEMENTS.with_label_values(&[service]);
    statements.inc_by(database.statements().saturating_sub(statements.get()));
    let (open, idle) = database.pool_state();
    POOL.with_label_values(&[service, "in_use"]).set(i64::from(open.saturating_sub(idle)));
    POOL.with_label_values(&[service, "idle"]).set(i64::from(idle));
    POOL_MAX.with_label_values(&[service]).set(i64::from(database.pool_size()));
}

/// The process's metrics in the Prometheus text format.
pub fn render() -> String {
    let mut buffer = Vec::new();
    if let Err(error) = TextEncoder::new().encode(&prometheus::default_registry().gather(), &mut buffer) {
        tracing::error!(error = %error, "encoding metrics failed");
    }
    String::from_utf8(buffer).unwrap_or_default()
}

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_metrics_are_rendered() {
        let counter = counter_vec("platform_test_total", "a test counter", &["kind"]);
        counter.with_label_values(&["a"]).inc_by(3);
        register_process("platform-test");
        let text = render();
        assert!(text.contains("scimsvc_platform_test_total{kind=\"a\"} 3"), "{text}");
        assert!(text.contains("scimsvc_build_info{service=\"platform-test\",version=\""), "{text}");
        assert!(text.contains("process_resident_memory_bytes"), "{text}");
    }
}
