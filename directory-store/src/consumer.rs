//! The Kafka consumer: a consumer-group member that applies each message in a database
//! transaction which also stores the partition's next offset. The database is where consumption
//! resumes: on every partition assignment the consumer starts at the stored offset, or at the
//! beginning of the partition when none is stored (a new or rebuilt directory replays the
//! topic). Offsets are also committed to Kafka after each transaction, for lag monitoring only.

use std::future::Future;
use std::time::Duration;

use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientConfig, ClientContext, Message, Offset, TopicPartitionList};

use crate::Directory;
use crate::apply;
use crate::config::ConsumerConfig;

/// The most messages applied in one transaction.
const BATCH: usize = 500;

/// A message to apply, copied out of the consumer's buffer for the blocking pool.
struct Item {
    topic: String,
    partition: i32,
    offset: i64,
    payload: Vec<u8>,
    span: tracing::Span,
}

pub struct EventConsumer {
    consumer: StreamConsumer<StartFromDatabase>,
    directory: Directory,
}

/// Assigns partitions at the offsets stored in the directory database.
pub struct StartFromDatabase {
    directory: Directory,
    topic: String,
    broker: crate::observe::BrokerState,
}

impl ClientContext for StartFromDatabase {
    /// librdkafka's statistics (every `statistics.interval.ms`): consumer lag per partition and
    /// whether a broker is up.
    fn stats(&self, statistics: rdkafka::Statistics) {
        self.broker.set_up(statistics.brokers.values().any(|broker| broker.state == "UP"));
        if let Some(topic) = statistics.topics.get(&self.topic) {
            for (partition, stats) in &topic.partitions {
                if *partition >= 0 && stats.consumer_lag >= 0 {
                    crate::observe::record_lag(&self.topic, *partition, stats.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for StartFromDatabase {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, partitions: &mut TopicPartitionList) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let stored = self.directory.read(|conn| apply::stored_offsets(conn, &self.topic));
                let stored = stored.unwrap_or_else(|error| {
                    // Without the stored offsets, start from the beginning: already consumed
                    // offsets are recognised and skipped when they come again.
                    tracing::error!(error = %error, "reading stored offsets failed; replaying from the beginning");
                    Vec::new()
                });
                let assigned: Vec<(String, i32)> =
                    partitions.elements().iter().map(|e| (e.topic().to_owned(), e.partition())).collect();
                for (topic, partition) in assigned {
                    let offset = stored
                        .iter()
                        .find(|(p, _)| *p == partition && topic == self.topic)
                        .map_or(Offset::Beginning, |(_, next)| Offset::Offset(*next));
                    if let Err(error) = partitions.set_partition_offset(&topic, partition, offset) {
                        tracing::error!(error = %error, partition, "setting the start offset failed");
                    }
                }
                tracing::info!(partitions = partitions.count(), "partitions assigned");
                if let Err(error) = consumer.assign(partitions) {
                    tracing::error!(error = %error, "assigning partitions failed");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                tracing::info!(partitions = partitions.count(), "partitions revoked");
                if let Err(error) = consumer.unassign() {
                    tracing::error!(error = %error, "unassigning partitions failed");
                }
            }
            other => {
                tracing::error!(error = ?other, "rebalance error");
                if let Err(error) = consumer.unassign() {
                    tracing::error!(error = %error, "unassigning partitions failed");
                }
            }
        }
    }
}

impl EventConsumer {
    pub fn new(
        config: &ConsumerConfig,
        directory: Directory,
        broker: crate::observe::BrokerState,
    ) -> anyhow::Result<Self> {
        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", &config.bootstrap_servers)
            .set("group.id", &config.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            // librdkafka's re-bootstrap (2.12's default) was seen to leave the group waiting
            // forever for its first assignment when the broker was down at start for more than a
            // few seconds (tests/e2e/broker_down.rs). Without it, the consumer joins as soon as
            // the broker is back. KAFKA_PROPERTIES can set it again.
            .set("metadata.recovery.strategy", "none")
            .set("client.id", "directory-store")
            // Some brokers (tansu, measured) answer a fetch only when its wait runs out, not when
            // a record arrives: the default 500 ms wait was most of the directory's lag (p50 616
            // ms at 475 creates/s; 124 ms with 20 ms). 50 ms bounds it, for at most 20 empty
            // fetches a second per broker when idle. KAFKA_PROPERTIES can set another.
            .set("fetch.wait.max.ms", "50")
            // Consumer lag and broker state for /metrics and /readyz.
            .set("statistics.interval.ms", "1000");
        for (key, value) in &config.properties {
            client.set(key, value);
        }
        let context = StartFromDatabase { directory: directory.clone(), topic: config.topic.clone(), broker };
        let consumer: StreamConsumer<StartFromDatabase> =
            client.create_with_context(context).context("creating the Kafka consumer")?;
        consumer.subscribe(&[config.topic.as_str()]).context("subscribing to the change topic")?;
        Ok(Self { consumer, directory })
    }

    /// Consumes until `shutdown` resolves. The messages already waiting (up to [`BATCH`]) are
    /// applied in one transaction with their offsets: one commit for many events, which is what
    /// lets the directory keep up with an initial sync (a commit per event waited for a WAL
    /// flush each time).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let first = tokio::select! {
                () = &mut shutdown => break,
                message = self.consumer.recv() => message,
            };
            let mut batch = match first {
                Ok(message) => vec![message],
                Err(error) => {
                    tracing::warn!(error = %error, "Kafka consumer error");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            while batch.len() < BATCH {
                match futures::FutureExt::now_or_never(self.consumer.recv()) {
                    Some(Ok(message)) => batch.push(message),
                    Some(Err(error)) => {
                        tracing::warn!(error = %error, "Kafka consumer error");
                        break;
                    }
                    None => break,
                }
            }
            let items: Vec<Item> = batch
                .iter()
                .map(|message| Item {
                    topic: message.topic().to_owned(),
                    partition: message.partition(),
                    offset: message.offset(),
                    payload: message.payload().unwrap_or_default().to_vec(),
                    span: crate::observe::process_span(message),
                })
                .collect();
            let items = std::sync::Arc::new(items);
            // A database failure must not skip a message: what fails is retried until it applies.
            // A failing batch is split into one transaction per message, so that the messages
            // before a poison one commit and the logs name the one that keeps failing.
            let mut todo = std::collections::VecDeque::new();
            todo.push_back(0..items.len());
            let mut backoff = Duration::from_millis(100);
            while let Some(range) = todo.pop_front() {
                match self.apply(items.clone(), range.clone()).await {
                    Ok(()) => backoff = Duration::from_millis(100),
                    Err(error) if range.len() > 1 => {
                        tracing::warn!(error = %error, events = range.len(), "applying a batch failed; one at a time");
                        for index in range.rev() {
                            todo.push_front(index..index + 1);
                        }
                    }
                    Err(error) => {
                        let item = &items[range.start];
                        tracing::error!(
                            error = %error, partition = item.partition, offset = item.offset,
                            "applying an event failed; retrying"
                        );
                        todo.push_front(range);
                        tokio::select! {
                            () = &mut shutdown => return,
                            () = tokio::time::sleep(backoff) => {},
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            }
            for message in &batch {
                if let Err(error) = self.consumer.commit_message(message, CommitMode::Async) {
                    // The offset is in the database already; Kafka's copy only saves a replay.
                    tracing::warn!(error = %error, "committing the offset to Kafka failed");
                }
            }
        }
        tracing::info!("event consumer stopped");
    }

    /// Applies `items[range]` in one transaction with their offsets.
    async fn apply(&self, items: std::sync::Arc<Vec<Item>>, range: std::ops::Range<usize>) -> anyhow::Result<()> {
        let directory = self.directory.clone();
        let outcomes = tokio::task::spawn_blocking(move || {
            let batch = &items[range];
            // The transaction is traced under its first message's span (a span has one parent);
            // each message's own span covers its apply inside it.
            let _first = batch.first().map(|item| item.span.enter());
            directory.write(|conn| {
                let mut outcomes = Vec::with_capacity(batch.len());
                for item in batch {
                    let _entered = item.span.enter();
                    let applied = apply::apply_message(conn, &item.topic, item.partition, item.offset, &item.payload)?;
                    tracing::debug!(item.partition, item.offset, outcome = ?applied, "event consumed");
                    outcomes.push(applied);
                }
                Ok::<_, crate::error::DirectoryError>(outcomes)
            })
        })
        .await??;
        for applied in outcomes {
            crate::observe::record_applied(applied);
        }
        Ok(())
    }
}
