//! What operators see of directory-store: a consumer span per message (OpenTelemetry messaging
//! conventions, continuing the trace the relay put in the message's `traceparent` header), and
//! metrics on the HTTP listener's `/metrics`: events applied by result, dead letters recorded and
//! stored, consumer lag per partition (from librdkafka's statistics), database pool usage.

use std::sync::Arc;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU8, Ordering};

use prometheus::{IntCounterVec, IntGauge, IntGaugeVec};
#[cfg(feature = "kafka")]
use rdkafka::Message;
#[cfg(feature = "kafka")]
use rdkafka::message::Headers;

use crate::Directory;
use crate::apply::Applied;

static APPLIED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    platform::metrics::counter_vec(
        "directory_events_total",
        "Change events consumed by the directory, by result (applied, stale, already_consumed, undecodable, \
         dead_lettered)",
        &["result"],
    )
});

static DEAD_LETTERS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    platform::metrics::counter_vec(
        "directory_dead_letters_total",
        "Events set aside as dead letters by this process, by cause (undecodable, apply_failed)",
        &["cause"],
    )
});

static DEAD_LETTERS_STORED: LazyLock<IntGauge> = LazyLock::new(|| {
    platform::metrics::gauge(
        "directory_dead_letters_stored",
        "Dead letters in the directory database, of every tenant (as of the last /metrics or /readyz)",
    )
});

static LAG: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    platform::metrics::gauge_vec(
        "kafka_consumer_lag_messages",
        "Messages behind the partition's end, per topic and partition",
        &["topic", "partition"],
    )
});

/// An event consumed, after its transaction committed (a dead letter among them is counted as
/// one too).
pub fn record_applied(applied: Applied) {
    let result = match applied {
        Applied::Applied => "applied",
        Applied::Stale => "stale",
        Applied::AlreadyConsumed => "already_consumed",
        Applied::Undecodable => "undecodable",
        Applied::DeadLettered => "dead_lettered",
    };
    APPLIED.with_label_values(&[result]).inc();
    let dead_letter = match applied {
        Applied::Undecodable => Some("undecodable"),
        Applied::DeadLettered => Some("apply_failed"),
        Applied::Applied | Applied::Stale | Applied::AlreadyConsumed => None,
    };
    if let Some(cause) = dead_letter {
        DEAD_LETTERS.with_label_values(&[cause]).inc();
        DEAD_LETTERS_STORED.inc();
    }
}

/// The dead letters stored, as just counted.
pub fn record_dead_letters_stored(stored: i64) {
    DEAD_LETTERS_STORED.set(stored);
}

pub fn record_lag(topic: &str, partition: i32, lag: i64) {
    LAG.with_label_values(&[topic, &partition.to_string()]).set(lag);
}

/// The metrics, with the pool's usage and the dead letters stored as of now.
pub fn scrape(directory: &Directory) -> String {
    match directory.read(crate::dead_letter::count) {
        Ok(stored) => record_dead_letters_stored(stored),
        Err(error) => tracing::warn!(error = %error, "counting the dead letters for /metrics failed"),
    }
    platform::metrics::record_pool("directory-store", directory.database());
    platform::metrics::render()
}

/// The consumer span of one message.
#[cfg(feature = "kafka")]
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
