//! What operators see of directory-store: a consumer span per message (OpenTelemetry messaging
//! conventions, continuing the trace the relay put in the message's `traceparent` header), and
//! metrics on the HTTP listener's `/metrics`: events applied by result, consumer lag per
//! partition (from librdkafka's statistics), database pool usage.

use std::sync::Arc;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU8, Ordering};

use prometheus::{IntCounterVec, IntGaugeVec};
use rdkafka::Message;
use rdkafka::message::Headers;

use crate::apply::Applied;

static APPLIED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    platform::metrics::counter_vec(
        "directory_events_total",
        "Change events consumed by the directory, by result (applied, stale, already_consumed, undecodable)",
        &["result"],
    )
});

static LAG: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    platform::metrics::gauge_vec(
        "kafka_consumer_lag_messages",
        "Messages behind the partition's end, per topic and partition",
        &["topic", "partition"],
    )
});

static POOL: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    platform::metrics::gauge_vec(
        "directory_db_pool_connections",
        "Directory database pool connections by state (in_use, idle, max)",
        &["state"],
    )
});

pub fn record_applied(applied: Applied) {
    let result = match applied {
        Applied::Applied => "applied",
        Applied::Stale => "stale",
        Applied::AlreadyConsumed => "already_consumed",
        Applied::Undecodable => "undecodable",
    };
    APPLIED.with_label_values(&[result]).inc();
}

pub fn record_lag(topic: &str, partition: i32, lag: i64) {
    LAG.with_label_values(&[topic, &partition.to_string()]).set(lag);
}

/// The metrics, with the pool's usage as of now.
pub fn scrape(database: &platform::db::Database) -> String {
    let (open, idle) = database.pool_state();
    POOL.with_label_values(&["in_use"]).set(i64::from(open.saturating_sub(idle)));
    POOL.with_label_values(&["idle"]).set(i64::from(idle));
    POOL.with_label_values(&["max"]).set(i64::from(database.pool_size()));
    platform::metrics::render()
}

/// The consumer span of one message.
pub fn process_span<M: Message>(message: &M) -> tracing::Span {
    let topic = message.topic().to_owned();
    let span = tracing::info_span!(
        "process",
        otel.name = format!("process {topic}"),
        otel.kind = "consumer",
        component = "directory-store",
        messaging.system = "kafka",
        messaging.operation.type = "process",
        messaging.destination.name = %topic,
        messaging.destination.partition.id = message.partition(),
        messaging.kafka.offset = message.offset(),
        trace_id = tracing::field::Empty,
    );
    let header = |key: &str| {
        message.headers().and_then(|headers| {
            headers.iter().find(|h| h.key == key).and_then(|h| h.value).and_then(|v| std::str::from_utf8(v).ok())
        })
    };
    if let Some(trace_id) = platform::telemetry::continue_trace(&span, header) {
        span.record("trace_id", trace_id);
    }
    span
}

/// Whether the consumer reaches a broker, as its statistics last said.
#[derive(Clone, Default)]
pub struct BrokerState(Arc<AtomicU8>);

impl BrokerState {
    // 0: no statistics yet.
    const UP: u8 = 1;
    const DOWN: u8 = 2;

    pub fn set_up(&self, up: bool) {
        self.0.store(if up { Self::UP } else { Self::DOWN }, Ordering::Relaxed);
    }

    pub fn describe(&self) -> &'static str {
        match self.0.load(Ordering::Relaxed) {
            Self::UP => "up",
            Self::DOWN => "down",
            _ => "unknown",
        }
    }
}
