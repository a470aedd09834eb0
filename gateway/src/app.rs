//! Building and running the gateway. `Application::build` binds the listener (port 0 allowed)
//! and connects lazily to provisioning-core, so the gateway starts even while the core does not
//! answer yet; requests then get 503 until it does.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpResponse, HttpServer, get, web};
use anyhow::Context;
use proto::provisioning_client::ProvisioningClient;
use scim::ResourceType;
use tracing::Instrument;

use crate::config::GatewayConfig;
use crate::routes::{self, Gateway};

pub struct Application {
    server: actix_web::dev::Server,
    address: SocketAddr,
    management: Option<(actix_web::dev::Server, SocketAddr)>,
}

#[get("/metrics")]
async fn metrics() -> HttpResponse {
    HttpResponse::Ok().content_type(platform::metrics::CONTENT_TYPE).body(platform::metrics::render())
}

#[get("/livez")]
async fn livez() -> HttpResponse {
    HttpResponse::Ok().body("ok")
}

/// Ready when provisioning-core's gRPC health service says it is serving.
#[get("/readyz")]
async fn readyz(gateway: web::Data<Gateway>) -> HttpResponse {
    let mut health = tonic_health::pb::health_client::HealthClient::new(gateway.channel.clone());
    let request = tonic_health::pb::HealthCheckRequest { service: String::new() };
    match tokio::time::timeout(Duration::from_secs(2), health.check(request)).await {
        Ok(Ok(response))
            if response.get_ref().status == tonic_health::pb::health_check_response::ServingStatus::Serving as i32 =>
        {
            HttpResponse::Ok().body("ready")
        }
        _ => HttpResponse::ServiceUnavailable().body("provisioning-core is not reachable"),
    }
}

/// What the handlers share: the settings and a client of provisioning-core (`core_url`) that
/// connects on first use.
pub fn connect_lazily(config: GatewayConfig) -> anyhow::Result<web::Data<Gateway>> {
    // Each call carries the deadline CORE_TIMEOUT_MS; the endpoint's timeout only catches a core
    // that never answers at all.
    let call_timeout = config.core_timeout + Duration::from_secs(5);
    let targets = crate::balance::targets(&config.core_url)?;
    let channel = if crate::balance::balanced(&targets) {
        let tls = config.core_tls.clone();
        crate::balance::channel(
            targets,
            move |target, address| {
                Ok(tls
                    .endpoint_at(&target.scheme, &target.host, address, "CORE_GRPC_URL")?
                    .connect_timeout(Duration::from_secs(5))
                    .timeout(call_timeout))
            },
            config.core_discovery_interval,
        )?
    } else {
        config
            .core_tls
            .endpoint(&config.core_url, "CORE_GRPC_URL")?
            .connect_timeout(Duration::from_secs(5))
            .timeout(call_timeout)
            .connect_lazy()
    };
    // Messages are bounded by design (see proto::MAX_MESSAGE_BYTES), above tonic's 4 MiB default.
    let core = ProvisioningClient::new(channel.clone())
        .max_decoding_message_size(proto::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(proto::MAX_MESSAGE_BYTES);
    Ok(web::Data::new(Gateway { config, core, channel }))
}

/// The SCIM `App`: the routes under the base path, `/livez`, `/readyz`, and the middleware
/// around them. `Application::build` serves it; `gateway/fuzz` calls it in-process.
pub fn scim_app(
    gateway: web::Data<Gateway>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let base_path = gateway.config.base_path.clone();
    let routing_base = base_path.clone();
    let reporting_base = routing_base.clone();
    let tracing_base = routing_base.clone();
    App::new()
        // Inside the rewrite (registered first): sees canonical paths.
        .wrap_fn(move |request, service| {
            let started = std::time::Instant::now();
            let base = reporting_base.clone();
            let answered = service.call(request);
            async move {
                let response = answered.await?;
                crate::report::rejection(response.request(), &base, response.response(), started);
                Ok(response)
            }
        })
        .wrap_fn(move |mut request, service| {
            crate::normalize::rewrite(&routing_base, &mut request);
            service.call(request)
        })
        // Outermost: the request's server span, continuing the caller's trace.
        .wrap_fn(move |request, service| {
            let span = crate::observe::request_span(&request, &tracing_base);
            let started = std::time::Instant::now();
            let answered = service.call(request);
            let finished = span.clone();
            async move {
                let response = answered.await;
                crate::observe::finish(&finished, response.as_ref().ok(), started);
                response
            }
            .instrument(span)
        })
        .app_data(gateway)
        .service(livez)
        .service(readyz)
        .service(
            web::scope(&base_path)
                .service(
                    web::resource("/.search")
                        .route(web::post().to(routes::search_all))
                        .default_service(web::to(routes::method_not_allowed)),
                )
                .service(
                    web::resource("/Bulk")
                        .route(web::post().to(crate::bulk::bulk))
                        .default_service(web::to(routes::method_not_allowed)),
                )
                .configure(crate::discovery::routes)
                .service(web::resource(["/Me", "/Me/{rest:.*}"]).to(routes::me))
                .service(
                    web::scope("/Users")
                        .app_data(web::Data::new(ResourceType::User))
                        .configure(routes::resource_routes),
                )
                .service(
                    web::scope("/Groups")
                        .app_data(web::Data::new(ResourceType::Group))
                        .configure(routes::resource_routes),
                ),
        )
        .default_service(web::to(routes::not_found))
}

impl Application {
    pub fn build(config: GatewayConfig) -> anyhow::Result<Self> {
        let (http_addr, management_addr) = (config.http_addr, config.management_addr);
        let gateway = connect_lazily(config)?;
        let listener = std::net::TcpListener::bind(http_addr)
            .with_context(|| format!("binding the SCIM listener on {http_addr}"))?;
        let address = listener.local_addr()?;
        let management = match management_addr {
            Some(addr) => {
                let listener = std::net::TcpListener::bind(addr)
                    .with_context(|| format!("binding the management listener on {addr}"))?;
                let address = listener.local_addr()?;
                let data = gateway.clone();
                let server = HttpServer::new(move || {
                    App::new().app_data(data.clone()).service(metrics).service(livez).service(readyz)
                })
                .workers(1)
                .disable_signals()
                .shutdown_timeout(5)
                .listen(listener)?
                .run();
                Some((server, address))
            }
            None => None,
        };
        let server = HttpServer::new(move || scim_app(gateway.clone()))
            .disable_signals()
            .shutdown_timeout(10)
            .listen(listener)?
            .run();
        Ok(Self { server, address, management })
    }

    /// Where `/metrics` is served, when it is.
    pub fn management_address(&self) -> Option<SocketAddr> {
        self.management.as_ref().map(|(_, address)| *address)
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let handle = self.server.handle();
        let management = self.management.map(|(server, _)| server);
        let management_handle = management.as_ref().map(actix_web::dev::Server::handle);
        tokio::spawn(async move {
            shutdown.await;
            handle.stop(true).await;
            if let Some(handle) = management_handle {
                handle.stop(true).await;
            }
        });
        if let Some(management) = management {
            tokio::spawn(management);
        }
        tracing::info!(address = %self.address, "gateway serving SCIM");
        self.server.await.context("gateway HTTP server failed")
    }
}
