//! The outbox relay: reads unpublished events in commit order, hands them to a sink (Kafka in
//! production, the directory store in-process in standalone), and marks published only what
//! the sink acknowledged. A sink that is down delays events; they stay in the outbox until it
//! comes back. An event the sink refuses for good (larger than the broker accepts, say) is set
//! aside in the outbox with the reason, loudly, so that it cannot hold back every later event.
//!
//! Several core replicas each run a relay, but only one publishes at a time, so that events
//! leave in commit order (per-resource order holds across replicas): on PostgreSQL the relay
//! that holds a session advisory lock, on a connection it keeps for that, is the publisher;
//! the others stand by and try again every few seconds, taking over when the holder's
//! connection ends (shutdown, crash, lost network). If the holder is cut off from the database
//! while its publish is in flight, the successor may publish some of the same events again:
//! delivery is at least once, and consumers skip versions they have applied.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::Notify;

use crate::leadership::Leadership;
use crate::store::Store;
use crate::store::outbox::{self, OutboxEvent};

/// What became of a batch.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Delivery {
    /// The `seq` of each event the sink acknowledged.
    pub acknowledged: Vec<i64>,
    /// Events the sink will never accept, with the reason; retrying cannot help.
    pub rejected: Vec<(i64, String)>,
}

/// Where the relay delivers events.
pub trait EventSink: Send + Sync + 'static {
    /// Delivers `events` (in order). Events neither acknowledged nor rejected are retried.
    fn publish<'a>(&'a self, events: &'a [OutboxEvent]) -> BoxFuture<'a, Delivery>;
}

pub struct Relay {
    store: Store,
    sink: Arc<dyn EventSink>,
    wake: Arc<Notify>,
    batch_size: i64,
    idle_poll: Duration,
    /// How often a standby relay tries to become the publisher.
    standby_poll: Duration,
    /// Who publishes (see `crate::leadership`).
    leadership: Leadership,
}

/// The advisory lock key of the outbox publisher (any constant shared by all replicas).
const PUBLISHER_LOCK: i64 = 0x5C1D_0B0C;

impl Relay {
    pub fn new(store: Store, sink: Arc<dyn EventSink>, wake: Arc<Notify>) -> Self {
        Self {
            leadership: Leadership::new(store.clone(), PUBLISHER_LOCK, "outbox relay"),
            store,
            sink,
            wake,
            batch_size: 256,
            idle_poll: Duration::from_secs(1),
            standby_poll: Duration::from_secs(2),
        }
    }

    /// A relay that checks for the publisher's role more often (tests).
    pub fn with_standby_poll(mut self, poll: Duration) -> Self {
        self.standby_poll = poll;
        self
    }

    async fn is_publisher(&self) -> bool {
        self.leadership.is_leader().await
    }

    /// Publishes until `shutdown` resolves.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut backoff = Duration::from_millis(100);
        loop {
            let publisher = self.is_publisher().await;
            crate::observe::RELAY_PUBLISHER.set(i64::from(publisher));
            if !publisher {
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(self.standby_poll) => continue,
                }
            }
            let pause = match self.publish_batch().await {
                Ok(Progress::Idle) => {
                    backoff = Duration::from_millis(100);
                    Some(self.idle_poll)
                }
                Ok(Progress::Published) => {
                    backoff = Duration::from_millis(100);
                    None
                }
                Ok(Progress::Stalled { pending, acknowledged }) => {
                    tracing::warn!(pending, acknowledged, "event sink did not acknowledge every event; retrying");
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    Some(backoff)
                }
                Err(error) => {
                    tracing::error!(error = %error, "outbox relay failed to read or mark events");
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    Some(backoff)
                }
            };
            if let Some(pause) = pause {
                tokio::select! {
                    () = &mut shutdown => break,
                    () = self.wake.notified() => {},
                    () = tokio::time::sleep(pause) => {},
                }
            } else if futures::FutureExt::now_or_never(&mut shutdown).is_some() {
                break;
            }
        }
        // Closing the lock connection releases the lock at once for a standby.
        self.leadership.release();
        crate::observe::RELAY_PUBLISHER.set(0);
        tracing::info!("outbox relay stopped");
    }

    async fn publish_batch(&self) -> anyhow::Result<Progress> {
        let store = self.store.clone();
        let limit = self.batch_size;
        let mut events = tokio::task::spawn_blocking(move || store.read(|conn| outbox::pending(conn, limit))).await??;
        if events.is_empty() {
            return Ok(Progress::Idle);
        }
        // At most BATCH_BYTES of payloads in memory and in flight (256 events of up to 512 KiB
        // would be 128 MiB); the rest, in order, is the next batch.
        let mut bytes = 0;
        let fitting = events
            .iter()
            .take_while(|event| {
                bytes += event.payload.len();
                bytes <= BATCH_BYTES
            })
            .count();
        events.truncate(fitting.max(1));
        let Delivery { acknowledged, rejected } = self.sink.publish(&events).await;
        let marked = acknowledged.len() + rejected.len();
        for (seq, reason) in &rejected {
            tracing::error!(seq, reason = %reason, "the event sink refused an event for good; it is set aside in the outbox");
        }
        if marked > 0 {
            let store = self.store.clone();
            tokio::task::spawn_blocking(move || {
                store.write(|conn| {
                    outbox::mark_published(conn, &acknowledged)?;
                    for (seq, reason) in &rejected {
                        outbox::mark_failed(conn, *seq, reason)?;
                    }
                    Ok(())
                })
            })
            .await??;
        }
        if marked < events.len() {
            return Ok(Progress::Stalled { pending: events.len(), acknowledged: marked });
        }
        Ok(Progress::Published)
    }
}

/// The most payload bytes one relay batch holds (past its first event).
const BATCH_BYTES: usize = 8 * 1024 * 1024;

enum Progress {
    Idle,
    Published,
    Stalled { pending: usize, acknowledged: usize },
}
