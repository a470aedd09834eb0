//! The Kafka consumer: a consumer-group member that applies each message in a database
//! transaction which also stores the partition's next offset. The database is where consumption
//! resumes: on every partition assignment the consumer starts at the stored offset, or at the
//! beginning of the partition when none is stored (a new or rebuilt directory replays the
//! topic). Offsets are also committed to Kafka after each transaction, for lag monitoring only.
//!
//! A message that fails to apply is retried, with backoff, and holds back its partition; a
//! poison one (see `dead_letter`) is set aside as a dead letter with its offset stored, in one
//! transaction, and the partition goes on. That part needs no broker: [`Applier`].

use std::collections::VecDeque;
use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rdkafka::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use scim_events::kafka::{Received, StartAtStoredOffsets, StoredOffsets};

use crate::Directory;
use crate::apply::{self, Applied};
use crate::config::ConsumerConfig;
use crate::dead_letter::{self, FailureStreak, Position, Verdict};
use crate::error::DirectoryError;

/// The most messages applied in one transaction.
const BATCH: usize = 500;

/// A message to apply, copied out of the consumer's buffer for the blocking pool.
pub struct Item {
    pub message: Received,
    pub span: tracing::Span,
}

impl Item {
    fn position(&self) -> Position {
        Position::new(&self.message.topic, self.message.partition, self.message.offset)
    }
}

/// The pause before a failed message is applied again: `first`, doubling up to `max`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { first: Duration::from_millis(100), max: Duration::from_secs(5) }
    }
}

/// Whether the database answers now (the poison rule's probe; a test's stand-in).
pub type Probe = Arc<dyn Fn(&Directory) -> bool + Send + Sync>;

/// Applies the messages received, in order, with the retry and dead-letter rules.
pub struct Applier {
    directory: Directory,
    backoff: Backoff,
    probe: Probe,
    streak: FailureStreak,
}

impl Applier {
    pub fn new(directory: Directory, backoff: Backoff) -> Self {
        Self::with_probe(directory, backoff, Arc::new(dead_letter::database_answers))
    }

    pub fn with_probe(directory: Directory, backoff: Backoff, probe: Probe) -> Self {
        Self { directory, backoff, probe, streak: FailureStreak::default() }
    }

    /// Applies `items` in order: `true` once each is applied, skipped or set aside, `false` when
    /// `shutdown` came first (what is not applied comes again after a restart). They go in one
    /// transaction with their offsets: one commit for many events, which is what lets the
    /// directory keep up with an initial sync (a commit per event waited for a WAL flush each
    /// time). A failing batch is split into one transaction per message, so that the messages
    /// before a failing one commit and the logs name the one that fails.
    pub async fn apply_all(&mut self, items: Vec<Item>, shutdown: &mut (impl Future<Output = ()> + Unpin)) -> bool {
        let items = Arc::new(items);
        let mut todo = VecDeque::new();
        todo.push_back(0..items.len());
        let mut pause = self.backoff.first;
        while let Some(range) = todo.pop_front() {
            let error = match self.apply(items.clone(), range.clone()).await {
                Ok(()) => {
                    // After a failure only that message is tried again first: it applied.
                    self.streak.clear();
                    pause = self.backoff.first;
                    continue;
                }
                Err(error) => error,
            };
            if range.len() > 1 {
                tracing::warn!(error = %error, events = range.len(), "applying a batch failed; one at a time");
                for index in range.rev() {
                    todo.push_front(index..index + 1);
                }
                continue;
            }
            let item = &items[range.start];
            let reason = error.to_string();
            if self.judge(item.position(), error).await == Verdict::SetAside {
                match self.set_aside(items.clone(), range.start, reason.clone()).await {
                    Ok(()) => {
                        self.streak.clear();
                        pause = self.backoff.first;
                        continue;
                    }
                    Err(error) => tracing::error!(
                        error = %error, partition = item.message.partition, offset = item.message.offset,
                        "setting a poison event aside failed; retrying"
                    ),
                }
            } else {
                tracing::error!(
                    error = %reason, partition = item.message.partition, offset = item.message.offset,
                    failures = self.streak.failures(), "applying an event failed; retrying"
                );
            }
            todo.push_front(range);
            tokio::select! {
                () = &mut *shutdown => return false,
                () = tokio::time::sleep(pause) => {},
            }
            pause = (pause * 2).min(self.backoff.max);
        }
        true
    }

    /// Counts the failure of the message at `position` (asking the database, in the blocking
    /// pool, whether it answers) and decides.
    async fn judge(&mut self, position: Position, error: DirectoryError) -> Verdict {
        let mut streak = std::mem::take(&mut self.streak);
        let directory = self.directory.clone();
        let probe = self.probe.clone();
        let judged = tokio::task::spawn_blocking(move || {
            let verdict = streak.failed(&position, &error, || probe(&directory));
            (streak, verdict)
        })
        .await;
        match judged {
            Ok((streak, verdict)) => {
                self.streak = streak;
                verdict
            }
            // The streak is lost with the task: counting starts again.
            Err(_) => Verdict::Retry,
        }
    }

    /// Applies `items[range]` in one transaction with their offsets.
    async fn apply(&self, items: Arc<Vec<Item>>, range: Range<usize>) -> Result<(), DirectoryError> {
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
                    let applied = apply::apply_message(conn, &item.message)?;
                    tracing::debug!(item.message.partition, item.message.offset, outcome = ?applied, "event consumed");
                    outcomes.push(applied);
                }
                Ok::<_, DirectoryError>(outcomes)
            })
        })
        .await
        .map_err(|panicked| DirectoryError::Internal(format!("applying events panicked: {panicked}")))??;
        for applied in outcomes {
            crate::observe::record_applied(applied);
        }
        Ok(())
    }

    /// Records `items[index]` as a dead letter, with its offset, in one transaction.
    async fn set_aside(&self, items: Arc<Vec<Item>>, index: usize, reason: String) -> Result<(), DirectoryError> {
        let directory = self.directory.clone();
        tokio::task::spawn_blocking(move || {
            let item = &items[index];
            let _entered = item.span.enter();
            let applied = directory.write(|conn| apply::set_aside_message(conn, &item.message, &reason))?;
            if applied == Applied::DeadLettered {
                dead_letter::log_set_aside(&item.position(), &reason);
            }
            crate::observe::record_applied(applied);
            Ok(())
        })
        .await
        .map_err(|panicked| DirectoryError::Internal(format!("setting an event aside panicked: {panicked}")))?
    }
}

pub struct EventConsumer {
    consumer: Arc<StreamConsumer<StartFromDatabase>>,
    applier: Applier,
    topic: String,
    directory: Directory,
    /// Since when this member holds no partition while events wait that nobody applies, and
    /// the stored offsets then (see [`EventConsumer::watch_assignment`]).
    stalled: Option<(std::time::Instant, Vec<(i32, i64)>)>,
}

/// How often a member without partitions checks that someone applies the waiting events.
const ASSIGNMENT_CHECK: Duration = Duration::from_secs(5);
/// How long waiting events may go unapplied, with no partition assigned here, before this
/// member leaves the group and joins it again.
const REJOIN_AFTER: Duration = Duration::from_secs(20);

/// The directory database's stored offsets (where each assigned partition starts, see
/// `scim_events::kafka::StartAtStoredOffsets`), and librdkafka's statistics for the metrics.
pub struct DirectoryOffsets {
    directory: Directory,
    broker: crate::observe::BrokerState,
    topic: String,
}

type StartFromDatabase = StartAtStoredOffsets<DirectoryOffsets>;

impl StoredOffsets for DirectoryOffsets {
    fn stored_offsets(&self, topic: &str) -> Result<Vec<(i32, i64)>, String> {
        self.directory.read(|conn| apply::stored_offsets(conn, topic)).map_err(|error| error.to_string())
    }

    /// Consumer lag per partition and whether a broker is up.
    fn statistics(&self, statistics: rdkafka::Statistics) {
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
        let offsets = DirectoryOffsets { directory: directory.clone(), broker, topic: config.topic.clone() };
        let context = StartAtStoredOffsets::new(offsets, config.topic.clone());
        let consumer: StreamConsumer<StartFromDatabase> =
            client.create_with_context(context).context("creating the Kafka consumer")?;
        consumer.subscribe(&[config.topic.as_str()]).context("subscribing to the change topic")?;
        Ok(Self {
            consumer: Arc::new(consumer),
            applier: Applier::new(directory.clone(), Backoff::default()),
            topic: config.topic.clone(),
            directory,
            stalled: None,
        })
    }

    /// The guard against an assignment that never comes. A member replacing one that was
    /// killed (SIGKILL, OOM) can be handed an empty assignment when the dead member led the
    /// group: seen with tansu 0.6, whose coordinator drops the missing leader during the sync
    /// and then answers every heartbeat as if the group were complete, so that no one consumes
    /// and the directory falls behind for good (tests/e2e/faults.rs). So a member without
    /// partitions checks, every [`ASSIGNMENT_CHECK`], whether events wait (the broker's high
    /// watermark past the offsets stored in the directory database, which every replica
    /// shares) and whether the stored offsets move; waiting events that no one applies for
    /// [`REJOIN_AFTER`] make it leave the group and join again, which starts a rebalance. A
    /// member idle beside busy ones (more replicas than partitions) sees the offsets move, and
    /// stays put.
    async fn watch_assignment(&mut self) {
        let unassigned = self.consumer.assignment().is_ok_and(|assignment| assignment.count() == 0);
        if !unassigned {
            self.stalled = None;
            return;
        }
        let (consumer, directory, topic) = (self.consumer.clone(), self.directory.clone(), self.topic.clone());
        let waiting = tokio::task::spawn_blocking(move || waiting_events(&consumer, &directory, &topic)).await;
        let Ok(Some(waiting)) = waiting else {
            // The broker or the database did not answer: nothing to judge by.
            return;
        };
        if waiting.is_empty() {
            self.stalled = None;
            return;
        }
        match &self.stalled {
            Some((since, offsets)) if *offsets == waiting => {
                if since.elapsed() < REJOIN_AFTER {
                    return;
                }
                tracing::warn!(
                    partitions = waiting.len(),
                    "events wait that no member applies, and this one holds no partition: rejoining the group"
                );
                self.consumer.unsubscribe();
                if let Err(error) = self.consumer.subscribe(&[self.topic.as_str()]) {
                    tracing::error!(error = %error, "subscribing to the change topic again failed");
                }
                self.stalled = None;
            }
            _ => self.stalled = Some((std::time::Instant::now(), waiting)),
        }
    }

    /// Consumes until `shutdown` resolves, the messages already waiting (up to [`BATCH`]) at a
    /// time.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut check = tokio::time::interval(ASSIGNMENT_CHECK);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let first = tokio::select! {
                () = &mut shutdown => break,
                _ = check.tick() => {
                    self.watch_assignment().await;
                    continue;
                }
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
                .map(|message| Item { message: Received::of(message), span: crate::observe::process_span(message) })
                .collect();
            if !self.applier.apply_all(items, &mut shutdown).await {
                return;
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
}

/// The partitions of `topic` whose events wait (the broker holds offsets past the one stored in
/// the directory database), with the stored offset; None when the broker or the database did
/// not answer.
fn waiting_events(
    consumer: &StreamConsumer<StartFromDatabase>,
    directory: &Directory,
    topic: &str,
) -> Option<Vec<(i32, i64)>> {
    let timeout = Duration::from_secs(2);
    let metadata = consumer.fetch_metadata(Some(topic), timeout).ok()?;
    let partitions: Vec<i32> = metadata.topics().first()?.partitions().iter().map(|p| p.id()).collect();
    let stored = directory.read(|conn| apply::stored_offsets(conn, topic)).ok()?;
    let mut waiting = Vec::new();
    for partition in partitions {
        let (low, high) = consumer.fetch_watermarks(topic, partition, timeout).ok()?;
        let next = stored.iter().find(|(p, _)| *p == partition).map_or(low, |(_, next)| *next);
        if high > next {
            waiting.push((partition, next));
        }
    }
    waiting.sort_unstable();
    Some(waiting)
}
