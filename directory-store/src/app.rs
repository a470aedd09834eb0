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
use crate::consumer::EventConsumer;
use crate::grpc::DirectoryService;

pub struct DirectoryApp {
    http: actix_web::dev::Server,
    http_address: SocketAddr,
    grpc_listener: TcpListener,
    grpc_address: SocketAddr,
    directory: Directory,
    consumer: Option<EventConsumer>,
}

impl DirectoryApp {
    pub async fn build(config: &DirectoryConfig, directory: Directory) -> anyhow::Result<Self> {
        let consumer = match &config.kafka {
            Some(kafka) => Some(EventConsumer::new(kafka, directory.clone())?),
            None => None,
        };
        let listener = std::net::TcpListener::bind(config.http_addr)
            .with_context(|| format!("binding the directory HTTP listener on {}", config.http_addr))?;
        let http_address = listener.local_addr()?;
        let data = actix_web::web::Data::new(directory.clone());
        let http = actix_web::HttpServer::new(move || {
            actix_web::App::new().app_data(data.clone()).configure(crate::http::routes)
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
        Ok(Self { http, http_address, grpc_listener, grpc_address, directory, consumer })
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
        let grpc = tonic::transport::Server::builder()
            .add_service(health_service)
            .add_service(DirectoryServer::new(DirectoryService::new(self.directory)))
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(self.grpc_listener),
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
