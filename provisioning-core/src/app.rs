//! Building and running provisioning-core: the gRPC server (provisioning + health) and the
//! outbox relay. `build` binds the listener (port 0 allowed) so tests and standalone learn the
//! port before anything runs.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use futures::FutureExt;
use proto::provisioning_server::ProvisioningServer;
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::admin::AdminServer;
use crate::config::CoreConfig;
use crate::error::CoreError;
use crate::provisioning_log::{LogWriter, ProvisioningLog};
use crate::relay::{EventSink, Relay};
use crate::service::ProvisioningService;
use crate::store::cursor::CursorKey;
use crate::store::{Store, tenants};
use crate::token;

pub struct Core {
    listener: TcpListener,
    address: SocketAddr,
    admin: AdminServer,
    service: ProvisioningService,
    relay: Option<Relay>,
    log_writer: LogWriter,
    purge: Purge,
    republisher: crate::republish::Republisher,
    webhooks: crate::webhooks::Dispatcher,
    tls: Option<platform::tls::ServerTls>,
    drain: std::time::Duration,
}

/// The background job that purges due tombstones of soft-deleted accounts (`user.purged`).
struct Purge {
    store: Store,
    wake: Arc<Notify>,
    every: std::time::Duration,
    /// Published events older than this leave the outbox (`OUTBOX_RETENTION_DAYS`).
    outbox_retention: std::time::Duration,
    /// Admin audit entries older than this are deleted (`ADMIN_AUDIT_RETENTION_DAYS`; `None`:
    /// kept for ever).
    audit_retention: Option<std::time::Duration>,
}

impl Purge {
    async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(self.every);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = tick.tick() => {
                    let store = self.store.clone();
                    let purged = tokio::task::spawn_blocking(move || {
                        store.write(|conn| crate::write::users::purge_due(conn, platform::db::now_micros()))
                    })
                    .await;
                    match purged {
                        Ok(Ok(0)) => {}
                        Ok(Ok(count)) => {
                            tracing::info!(count, "purged tombstones of deleted accounts");
                            self.wake.notify_one();
                        }
                        Ok(Err(error)) => tracing::error!(error = %error, "purging tombstones failed"),
                        Err(error) => tracing::error!(error = %error, "purge task failed"),
                    }
                    self.prune_outbox().await;
                    self.prune_audit().await;
                }
            }
        }
    }
}

impl Purge {
    /// Deletes published events past the retention, in bounded transactions.
    async fn prune_outbox(&self) {
        let cutoff = platform::db::now_micros() - i64::try_from(self.outbox_retention.as_micros()).unwrap_or(i64::MAX);
        self.prune_in_batches("published events past the outbox retention", move |conn| {
            crate::store::outbox::prune_published(conn, cutoff, PRUNE_BATCH)
        })
        .await;
    }

    /// Deletes admin audit entries past their retention, in bounded transactions.
    async fn prune_audit(&self) {
        let Some(retention) = self.audit_retention else { return };
        let cutoff = platform::db::now_micros() - i64::try_from(retention.as_micros()).unwrap_or(i64::MAX);
        self.prune_in_batches("admin audit entries past their retention", move |conn| {
            crate::store::operators::prune_audit(conn, cutoff, PRUNE_BATCH)
        })
        .await;
    }

    /// Runs `batch` (which deletes at most [`PRUNE_BATCH`] rows) in a transaction of its own
    /// until it deletes fewer, and logs what it deleted.
    async fn prune_in_batches(
        &self,
        what: &'static str,
        batch: impl Fn(&mut platform::db::DbConnection) -> Result<usize, crate::error::CoreError> + Send + 'static,
    ) {
        let store = self.store.clone();
        let pruned = tokio::task::spawn_blocking(move || {
            let mut total = 0;
            loop {
                let pruned = store.write(&batch)?;
                total += pruned;
                if pruned < PRUNE_BATCH as usize {
                    return Ok::<_, crate::error::CoreError>(total);
                }
            }
        })
        .await;
        match pruned {
            Ok(Ok(0)) => {}
            Ok(Ok(count)) => tracing::info!(count, "deleted {what}"),
            Ok(Err(error)) => tracing::error!(error = %error, "deleting {what} failed"),
            Err(error) => tracing::error!(error = %error, "the task deleting {what} failed"),
        }
    }
}

/// Rows one pruning transaction deletes at most.
const PRUNE_BATCH: i64 = 5_000;

impl Core {
    /// Binds the gRPC listener and prepares the relay: to `sink` when given (standalone),
    /// else to Kafka when configured.
    pub async fn build(config: &CoreConfig, store: Store, sink: Option<Arc<dyn EventSink>>) -> anyhow::Result<Self> {
        let sink: Option<Arc<dyn EventSink>> = match (sink, &config.kafka) {
            (Some(sink), _) => Some(sink),
            #[cfg(feature = "kafka")]
            (None, Some(kafka)) => Some(Arc::new(crate::kafka::KafkaSink::new(kafka)?)),
            #[cfg(not(feature = "kafka"))]
            (None, Some(_)) => anyhow::bail!(
                "KAFKA_BOOTSTRAP_SERVERS is set, but this build of provisioning-core has no Kafka support \
                 (build it with the `kafka` cargo feature, the default)"
            ),
            (None, None) => {
                tracing::warn!("no KAFKA_BOOTSTRAP_SERVERS: events stay in the outbox until a relay runs");
                None
            }
        };
        let wake = Arc::new(Notify::new());
        let relay = sink.map(|sink| Relay::new(store.clone(), sink, wake.clone()));
        let listener = TcpListener::bind(config.grpc_addr)
            .await
            .with_context(|| format!("binding the gRPC listener on {}", config.grpc_addr))?;
        let address = listener.local_addr()?;
        let cursor_key = CursorKey::load_or_create(&store).context("loading the cursor signing key")?;
        let retention = std::time::Duration::from_secs(u64::from(config.log_retention_days) * 24 * 3600);
        let (log, log_writer) = ProvisioningLog::new(store.clone(), retention, config.log_enabled);
        let limits = crate::rate_limit::TenantLimits::new(config.rate_limit);
        let admin = AdminServer::build(config, store.clone(), limits.clone(), wake.clone())?;
        let linker = match config.directory_url.as_deref() {
            Some(url) => Some(crate::linking::Linker::new(
                &config.directory_tls,
                url,
                crate::linking::directory_credential(config)?,
            )?),
            None => None,
        };
        let purge = Purge {
            store: store.clone(),
            wake: wake.clone(),
            every: std::time::Duration::from_secs(config.purge_interval_seconds.max(1)),
            outbox_retention: std::time::Duration::from_secs(
                u64::from(config.safeguards.outbox_retention_days) * 86_400,
            ),
            audit_retention: (config.admin.audit_retention_days > 0)
                .then(|| std::time::Duration::from_secs(u64::from(config.admin.audit_retention_days) * 86_400)),
        };
        let republisher = crate::republish::Republisher {
            store: store.clone(),
            relay_wake: wake.clone(),
            every: std::time::Duration::from_millis(200),
        };
        let slots = crate::rate_limit::TenantSlots::new(
            config.safeguards.tenant_concurrency,
            config.safeguards.tenant_queue_timeout,
        );
        let webhooks =
            crate::webhooks::Dispatcher::new(store.clone(), config.webhooks.clone(), Arc::new(Notify::new()))?;
        let service = ProvisioningService::new(store, wake, cursor_key, log, limits, slots, linker);
        let tls = config.grpc_tls.clone();
        let drain = config.shutdown_drain;
        Ok(Self { listener, address, admin, service, relay, log_writer, purge, republisher, webhooks, tls, drain })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Where the admin API listens.
    pub fn admin_address(&self) -> SocketAddr {
        self.admin.address()
    }

    /// The self-serve portal page's address, when `PORTAL_HTTP_ADDR` is set.
    pub fn portal_url(&self) -> Option<&str> {
        self.admin.portal_url()
    }

    /// Serves until `shutdown` resolves; then the relay finishes its batch and stops.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let shutdown = shutdown.shared();
        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<ProvisioningServer<ProvisioningService>>().await;
        // Asked to stop: NOT_SERVING first, for the drain, while requests are still served (and
        // logged, published, their webhooks sent); then everything stops.
        let drained = {
            let (shutdown, health, drain) = (shutdown.clone(), health.clone(), self.drain);
            async move {
                shutdown.await;
                if !drain.is_zero() {
                    health.set_service_status("", tonic_health::ServingStatus::NotServing).await;
                    health.set_not_serving::<ProvisioningServer<ProvisioningService>>().await;
                    tracing::info!(drain_ms = drain.as_millis() as u64, "draining: gRPC health says NOT_SERVING");
                    tokio::time::sleep(drain).await;
                }
            }
        }
        .shared();
        let relay = self.relay.map(|relay| tokio::spawn(relay.run(drained.clone())));
        let log_writer = tokio::spawn(self.log_writer.run(drained.clone()));
        let admin = tokio::spawn(self.admin.run(drained.clone()));
        let purge = tokio::spawn(self.purge.run(drained.clone()));
        let republisher = tokio::spawn(self.republisher.run(drained.clone()));
        let webhooks = tokio::spawn(self.webhooks.run(drained.clone()));
        tracing::info!(address = %self.address, tls = self.tls.is_some(), "provisioning-core serving gRPC");
        let served = platform::tls::server_builder(self.tls.as_ref())?
            .trace_fn(|request| platform::telemetry::rpc_span("provisioning-core", request))
            .add_service(health_service)
            .add_service(
                ProvisioningServer::new(self.service)
                    .max_decoding_message_size(proto::MAX_MESSAGE_BYTES)
                    .max_encoding_message_size(proto::MAX_MESSAGE_BYTES),
            )
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(self.listener).with_nodelay(Some(true)),
                drained,
            )
            .await
            .context("gRPC server failed");
        if let Some(relay) = relay {
            relay.await.context("outbox relay panicked")?;
        }
        log_writer.await.context("provisioning log writer panicked")?;
        admin.await.context("admin API panicked")??;
        purge.await.context("purge job panicked")?;
        republisher.await.context("re-publishing worker panicked")?;
        webhooks.await.context("webhook dispatcher panicked")?;
        served
    }
}

/// Creates the bootstrap tenant and token when configured. Returns a token generated here,
/// which the caller shows once: it is stored only as a hash.
pub fn bootstrap(store: &Store, config: &CoreConfig) -> anyhow::Result<Option<SecretString>> {
    let Some(bootstrap) = &config.bootstrap else { return Ok(None) };
    // Replicas starting together race to make the tenant and its token: the one whose insert
    // conflicts tries again, and then finds them made.
    let mut attempt = 0;
    loop {
        attempt += 1;
        let outcome = store.write(|conn| {
            tenants::ensure_tenant(conn, &bootstrap.tenant, &bootstrap.tenant, &config.region)?;
            match &bootstrap.token {
                Some(token) => {
                    // A configured token value is applied once: when it is new, it becomes the
                    // tenant's token instead of those issued before. A value already known is
                    // left as it is, so a token an operator revoked stays revoked across restarts
                    // and tokens issued through the admin API survive them.
                    if !tenants::token_known(conn, token.expose_secret())? {
                        tenants::add_token(conn, &bootstrap.tenant, token.expose_secret())?;
                        tenants::revoke_other_tokens(conn, &bootstrap.tenant, token.expose_secret())?;
                    }
                    Ok(None)
                }
                None if tenants::live_token_count(conn, &bootstrap.tenant)? == 0 => {
                    let token = token::generate(&config.token_prefix, &config.region);
                    tenants::add_token(conn, &bootstrap.tenant, token.expose_secret())?;
                    Ok(Some(token))
                }
                None => Ok(None),
            }
        });
        match outcome {
            Err(CoreError::Database(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ))) if attempt < 3 => continue,
            other => return other.context("bootstrapping the default tenant"),
        }
    }
}
