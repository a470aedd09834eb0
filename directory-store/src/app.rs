//! Building and running directory-store: the HTTP read API, the gRPC read service (with health)
//! and, when configured, the Kafka consumer. `build` binds both listeners (port 0 allowed).

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use futures::FutureExt;
use proto::directory_server::DirectoryServer;
use tokio::net::TcpListener;

use crate::Directory;
use crate::config::DirectoryConfig;
#[cfg(feature = "kafka")]
use crate::consumer::EventConsumer;
use crate::grpc::DirectoryService;

/// Built without the `kafka` feature: there is never a consumer.
#[cfg(not(feature = "kafka"))]
enum EventConsumer {}

#[cfg(not(feature = "kafka"))]
impl EventConsumer {
    async fn run(self, _shutdown: impl Future<Output = ()>) {
        match self {}
    }
}

/// What readiness reports besides the database.
struct Health {
    broker: crate::observe::BrokerState,
    uses_broker: bool,
}

async fn metrics(directory: actix_web::web::Data<Directory>) -> actix_web::HttpResponse {
    let directory = directory.get_ref().clone();
    let text = tokio::task::spawn_blocking(move || crate::observe::scrape(&directory)).await.unwrap_or_default();
    actix_web::HttpResponse::Ok().content_type(platform::metrics::CONTENT_TYPE).body(text)
}

/// Ready when the database answers. The broker is reported, not required: reads are served
/// from the database, and the consumer catches up by itself when the broker returns. So are the
/// dead letters stored: events set aside want an operator's look, but the directory serves.
async fn readyz(
    directory: actix_web::web::Data<Directory>,
    health: actix_web::web::Data<Health>,
) -> actix_web::HttpResponse {
    let directory = directory.get_ref().clone();
    let checked = tokio::task::spawn_blocking(move || {
        if !crate::dead_letter::database_answers(&directory) {
            return (false, None);
        }
        // Counted apart: a failing count is reported, and does not make the directory unready.
        let stored = directory.read(crate::dead_letter::count).ok();
        if let Some(stored) = stored {
            crate::observe::record_dead_letters_stored(stored);
        }
        (true, stored)
    })
    .await;
    let (ok, dead_letters) = checked.unwrap_or((false, None));
    let body = serde_json::json!({
        "database": if ok { "ok" } else { "unavailable" },
        "broker": if health.uses_broker { health.broker.describe() } else { "not used" },
        "dead_letters": dead_letters,
    });
    if ok { actix_web::HttpResponse::Ok().json(body) } else { actix_web::HttpResponse::ServiceUnavailable().json(body) }
}

pub struct DirectoryApp {
    http: actix_web::dev::Server,
    http_address: SocketAddr,
    grpc_listener: TcpListener,
    grpc_address: SocketAddr,
    directory: Directory,
    consumer: Option<EventConsumer>,
    tls: Option<platform::tls::ServerTls>,
}

impl DirectoryApp {
    pub async fn build(config: &DirectoryConfig, directory: Directory) -> anyhow::Result<Self> {
        if let Some(token) = &config.internal_token {
            use secrecy::ExposeSecret as _;
            let token = token.expose_secret().to_owned();
            directory
                .write(|conn| crate::credentials::ensure_internal(conn, &token))
                .context("DIRECTORY_INTERNAL_TOKEN")?;
        }
        let broker = crate::observe::BrokerState::default();
        let consumer = match &config.kafka {
            #[cfg(feature = "kafka")]
            Some(kafka) => Some(EventConsumer::new(kafka, directory.clone(), broker.clone())?),
            #[cfg(not(feature = "kafka"))]
            Some(_) => anyhow::bail!(
                "KAFKA_BOOTSTRAP_SERVERS is set, but this build of directory-store has no Kafka support \
                 (build it with the `kafka` cargo feature, the default)"
            ),
            None => None,
        };
        let health = actix_web::web::Data::new(Health { broker, uses_broker: config.kafka.is_some() });
        let listener = std::net::TcpListener::bind(config.http_addr)
            .with_context(|| format!("binding the directory HTTP listener on {}", config.http_addr))?;
        let http_address = listener.local_addr()?;
        let data = actix_web::web::Data::new(directory.clone());
        let http = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .app_data(data.clone())
                .app_data(health.clone())
                .route("/metrics", actix_web::web::get().to(metrics))
                .route("/readyz", actix_web::web::get().to(readyz))
                .configure(crate::http::routes)
        })
        .workers(2)
        .disable_signals()
        .shutdown_timeout(10)
        .listen(listener)?
        .run();
        let grpc_listener = TcpListener::bind(config.grpc_addr)
            .await
            .with_context(|| format!("binding the directory gRPC listener on {}", config.grpc_addr))?;
        let grpc_address = grpc_listener.local_addr()?;
        let tls = config.grpc_tls.clone();
        Ok(Self { http, http_address, grpc_listener, grpc_address, directory, consumer, tls })
    }

    pub fn http_address(&self) -> SocketAddr {
        self.http_address
    }

    pub fn grpc_address(&self) -> SocketAddr {
        self.grpc_address
    }

    /// Serves until `shutdown` resolves, then drains.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let shutdown = shutdown.shared();
        let consumer = self.consumer.map(|consumer| tokio::spawn(consumer.run(shutdown.clone())));
        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<DirectoryServer<DirectoryService>>().await;
        let grpc = platform::tls::server_builder(self.tls.as_ref())?
            .trace_fn(|request| platform::telemetry::rpc_span("directory-store", request))
            .add_service(health_service)
            .add_service(DirectoryServer::new(DirectoryService::new(self.directory)))
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(self.grpc_listener).with_nodelay(Some(true)),
                shutdown.clone(),
            );
        let http_handle = self.http.handle();
        let stop_http = async move {
            shutdown.await;
            http_handle.stop(true).await;
        };
        tracing::info!(http = %self.http_address, grpc = %self.grpc_address, "directory-store serving");
        let (http, grpc, ()) = tokio::join!(self.http, grpc, stop_http);
        http.context("directory HTTP server failed")?;
        grpc.context("directory gRPC server failed")?;
        if let Some(consumer) = consumer {
            consumer.await.context("event consumer panicked")?;
        }
        Ok(())
    }
}
