//! An operator follows a request through the three services: an OTLP receiver inside the test
//! (gRPC for the gateway, HTTP/protobuf for the others, so both transports are exercised) gets
//! the spans of one SCIM request and the test checks one trace with the expected parent/child
//! chain (caller → gateway → provisioning-core → database, outbox publish → directory-store
//! consumer → database), the semantic-convention attributes, and that no span attribute or log
//! line holds the userName or name that was sent. Then `/metrics` on each service after
//! traffic, and the readiness reports.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Cluster, ClusterOptions, eventually, required_env};

/// A span as received, with the service that sent it.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    name: String,
    kind: i32,
    attributes: HashMap<String, String>,
}

impl Received {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<Received>>>);

fn text(value: Option<&AnyValue>) -> String {
    match value {
        Some(AnyValue::StringValue(text)) => text.clone(),
        Some(AnyValue::IntValue(number)) => number.to_string(),
        Some(AnyValue::BoolValue(flag)) => flag.to_string(),
        Some(AnyValue::DoubleValue(number)) => number.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

impl Receiver {
    fn take(&self, request: ExportTraceServiceRequest) {
        let mut spans = self.0.lock().unwrap();
        for resource_spans in request.resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|resource| &resource.attributes)
                .find(|kv| kv.key == "service.name")
                .map(|kv| text(kv.value.as_ref().and_then(|v| v.value.as_ref())))
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    let attributes = span
                        .attributes
                        .iter()
                        .map(|kv| (kv.key.clone(), text(kv.value.as_ref().and_then(|v| v.value.as_ref()))))
                        .collect();
                    spans.push(Received {
                        service: service.clone(),
                        trace_id: hex(&span.trace_id),
                        span_id: hex(&span.span_id),
                        parent_span_id: hex(&span.parent_span_id),
                        name: span.name,
                        kind: span.kind,
                        attributes,
                    });
                }
            }
        }
    }

    fn spans(&self) -> Vec<Received> {
        self.0.lock().unwrap().clone()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.take(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

async fn http_export(receiver: actix_web::web::Data<Receiver>, body: actix_web::web::Bytes) -> actix_web::HttpResponse {
    match ExportTraceServiceRequest::decode(body.as_ref()) {
        Ok(request) => {
            receiver.take(request);
            actix_web::HttpResponse::Ok()
                .content_type("application/x-protobuf")
                .body(ExportTraceServiceResponse::default().encode_to_vec())
        }
        Err(error) => actix_web::HttpResponse::BadRequest().body(error.to_string()),
    }
}

/// Starts the receiver: (gRPC endpoint, HTTP endpoint).
async fn start_receiver(receiver: &Receiver) -> (String, String) {
    let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc_port = grpc.local_addr().unwrap().port();
    let service = TraceServiceServer::new(receiver.clone());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(grpc)),
    );
    let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let http_port = http.local_addr().unwrap().port();
    let data = actix_web::web::Data::new(receiver.clone());
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(data.clone())
            .app_data(actix_web::web::PayloadConfig::new(16 * 1024 * 1024))
            .route("/v1/traces", actix_web::web::post().to(http_export))
    })
    .workers(1)
    .disable_signals()
    .listen(http)
    .unwrap()
    .run();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{grpc_port}"), format!("http://127.0.0.1:{http_port}"))
}

fn otel_env(endpoint: &str, protocol: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.to_owned()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ("LOG_FORMAT", "json".to_owned()),
        ("RUST_LOG", "info,gateway=debug,provisioning_core=debug,directory_store=debug".to_owned()),
    ]
}

/// Follows parents from `span` up; true when `ancestor` is on the way.
fn descends_from(spans: &[Received], span: &Received, ancestor: &Received) -> bool {
    let mut current = span.clone();
    for _ in 0..32 {
        if current.parent_span_id == ancestor.span_id {
            return true;
        }
        match spans.iter().find(|s| s.span_id == current.parent_span_id) {
            Some(parent) => current = parent.clone(),
            None => return false,
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_follows_a_request_through_the_three_services() {
    let receiver = Receiver::default();
    let (grpc_endpoint, http_endpoint) = start_receiver(&receiver).await;
    let cluster = Cluster::start_with(ClusterOptions {
        gateway_env: otel_env(&grpc_endpoint, "grpc"),
        core_env: otel_env(&http_endpoint, "http/protobuf"),
        directory_env: otel_env(&http_endpoint, "http/protobuf"),
        ..ClusterOptions::new(required_env("KAFKA_BOOTSTRAP_SERVERS"))
    })
    .await;

    let trace_id = format!("{:032x}", uuid::Uuid::new_v4().as_u128());
    let caller_span = "00f067aa0ba902b7";
    let user_name = format!("traced.{}@example.com", uuid::Uuid::new_v4().simple());
    let given = "Zenobiatracename";
    let body = json!({"userName": user_name, "name": {"givenName": given, "familyName": "Q"}}).to_string();
    let traceparent = format!("00-{trace_id}-{caller_span}-01");
    let reply = cluster
        .client
        .send(
            Method::POST,
            "/Users",
            &[
                ("Content-Type", "application/scim+json"),
                ("traceparent", &traceparent),
                ("User-Agent", "Azure Active Directory SCIM Client"),
            ],
            Some(&body),
        )
        .await;
    let id = reply.expect(StatusCode::CREATED)["id"].as_str().unwrap().to_owned();
    cluster.client.directory_until("accounts", &id, "the account", |status, _| status == StatusCode::OK).await;

    let spans = eventually("the spans of all three services", || async {
        let spans: Vec<Received> = receiver.spans().into_iter().filter(|s| s.trace_id == trace_id).collect();
        let consumed = spans.iter().any(|s| s.kind == SpanKind::Consumer as i32 && s.service == "directory-store");
        let directory_db = spans.iter().any(|s| s.service == "directory-store" && s.name.contains("transaction"));
        (consumed && directory_db).then_some(spans)
    })
    .await;
    let find = |what: &str, predicate: &dyn Fn(&Received) -> bool| -> Received {
        spans.iter().find(|s| predicate(s)).cloned().unwrap_or_else(|| panic!("no {what} span in {spans:#?}"))
    };

    let gateway = find("gateway server", &|s| s.service == "gateway" && s.kind == SpanKind::Server as i32);
    assert_eq!(gateway.parent_span_id, caller_span, "the gateway continues the caller's traceparent");
    assert_eq!(gateway.attribute("http.request.method"), Some("POST"));
    assert_eq!(gateway.attribute("http.response.status_code"), Some("201"));
    assert_eq!(gateway.attribute("scim.resource_type"), Some("User"));
    assert_eq!(gateway.attribute("user_agent.original"), Some("Azure Active Directory SCIM Client"), "Entra, not Okta");
    assert!(gateway.name.starts_with("POST ") && gateway.name.ends_with("/Users"), "{}", gateway.name);

    let core = find("core RPC server", &|s| s.service == "provisioning-core" && s.kind == SpanKind::Server as i32);
    assert_eq!(core.parent_span_id, gateway.span_id, "the core's RPC span is the gateway's child");
    assert_eq!(core.attribute("rpc.system.name"), Some("grpc"));
    assert_eq!(core.attribute("rpc.method"), Some("CreateUser"));
    assert!(
        spans.iter().any(|s| s.service == "provisioning-core" && s.attribute("tenant.id") == Some("acme")),
        "a core span names the tenant"
    );
    let core_db = find("core transaction", &|s| {
        s.service == "provisioning-core" && s.attribute("db.system.name") == Some("postgresql")
    });
    assert!(descends_from(&spans, &core_db, &core), "the transaction is inside the RPC");

    let publish = find("outbox publish", &|s| s.kind == SpanKind::Producer as i32);
    assert_eq!(publish.service, "provisioning-core");
    assert_eq!(publish.attribute("messaging.system"), Some("kafka"));
    assert_eq!(publish.attribute("messaging.destination.name"), Some(cluster.topic.as_str()));
    assert_eq!(publish.attribute("messaging.operation.type"), Some("send"), "the current name (not publish)");
    assert!(descends_from(&spans, &publish, &core), "the publish continues the request's trace");

    let process = find("directory consumer", &|s| s.kind == SpanKind::Consumer as i32);
    assert_eq!(process.service, "directory-store");
    assert_eq!(process.parent_span_id, publish.span_id, "the consumer continues the trace from the headers");
    assert_eq!(process.attribute("messaging.operation.type"), Some("process"));
    let directory_db =
        find("directory transaction", &|s| s.service == "directory-store" && s.name.contains("transaction"));
    assert!(descends_from(&spans, &directory_db, &process));

    // Nothing personal in any span or log line.
    for span in receiver.spans() {
        for (key, value) in &span.attributes {
            assert!(
                !value.contains(&user_name) && !value.contains(given),
                "span {} attribute {key} holds personal data: {value}",
                span.name
            );
        }
    }
    for service in ["gateway", "provisioning-core", "directory-store"] {
        let log = cluster.log(service);
        assert!(!log.contains(&user_name) && !log.contains(given), "{service}'s log holds personal data");
        let traced: Vec<&str> = log.lines().filter(|line| line.contains(&trace_id)).collect();
        assert!(!traced.is_empty(), "{service} logged nothing with the trace id:\n{log}");
        for line in traced {
            let parsed: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{service}: not JSON ({e}): {line}"));
            assert!(parsed["timestamp"].is_string(), "{line}");
        }
    }
}

/// The value of the first sample of `name` whose labels include every pair in `labels`.
fn sample(metrics: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    metrics.lines().filter(|line| !line.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
        let wanted = labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
        (metric == name && wanted).then(|| value.parse().ok()).flatten()
    })
}

async fn scrape(url: &str) -> String {
    let response = reqwest::get(url).await.unwrap_or_else(|e| panic!("{url}: {e}"));
    assert_eq!(response.status(), StatusCode::OK, "{url}");
    response.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_readiness_after_traffic() {
    let cluster = Cluster::start().await;
    let client = &cluster.client;
    let (status, user) = client.scim(Method::POST, "/Users", Some(json!({"userName": "metered@example.com"}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = user["id"].as_str().unwrap().to_owned();
    let (status, _) = client.scim(Method::GET, "/Users/no-such-user", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let limit = json!({"rate_limit": {"requests_per_second": 1, "burst": 1}});
    let (status, _) = cluster.admin.call(Method::PATCH, "/admin/v1/tenants/acme/settings", Some(limit)).await;
    assert_eq!(status, StatusCode::OK);
    let mut limited = false;
    for _ in 0..4 {
        limited |= client.scim(Method::GET, "/Users?count=1", None).await.0 == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(limited, "the tenant's limit of 1/s refused one of four quick requests");
    client.directory_until("accounts", &id, "the account", |status, _| status == StatusCode::OK).await;

    let gateway = scrape(&format!("{}/metrics", cluster.gateway_management[0])).await;
    let created = sample(&gateway, "scimsvc_gateway_http_requests_total", &[("method", "POST"), ("status", "201")]);
    assert_eq!(created, Some(1.0), "{gateway}");
    assert!(sample(&gateway, "scimsvc_gateway_http_requests_total", &[("status", "429")]).is_some_and(|n| n >= 1.0));
    assert!(
        sample(&gateway, "scimsvc_gateway_http_request_duration_seconds_count", &[("method", "POST")]) == Some(1.0)
    );

    let core = scrape(&format!("{}/metrics", cluster.admin.url)).await;
    let by_tenant = [("tenant", "acme"), ("resource", "User"), ("operation", "create"), ("status", "201")];
    assert_eq!(sample(&core, "scimsvc_scim_requests_total", &by_tenant), Some(1.0), "{core}");
    let missing = [("tenant", "acme"), ("operation", "get"), ("status", "404")];
    assert_eq!(sample(&core, "scimsvc_scim_requests_total", &missing), Some(1.0), "{core}");
    assert!(sample(&core, "scimsvc_scim_request_duration_seconds_count", &[("operation", "create")]) == Some(1.0));
    assert!(
        sample(&core, "scimsvc_grpc_server_handled_total", &[("grpc_method", "CreateUser"), ("grpc_code", "Ok")])
            == Some(1.0)
    );
    assert!(sample(&core, "scimsvc_scim_rate_limit_rejections_total", &[("tenant", "acme")]).is_some_and(|n| n >= 1.0));
    assert!(sample(&core, "scimsvc_outbox_backlog_events", &[]).is_some(), "{core}");
    assert!(sample(&core, "scimsvc_outbox_oldest_unpublished_age_seconds", &[]).is_some());
    assert_eq!(sample(&core, "scimsvc_db_pool_max_connections", &[("service", "provisioning-core")]), Some(10.0));
    assert!(
        sample(&core, "scimsvc_db_pool_connections", &[("service", "provisioning-core"), ("state", "in_use")])
            .is_some()
    );
    assert_eq!(sample(&core, "scimsvc_outbox_relay_publisher", &[]), Some(1.0), "one core: it publishes");
    assert_eq!(sample(&core, "scimsvc_build_info", &[("service", "provisioning-core")]), Some(1.0), "{core}");
    assert!(sample(&core, "process_resident_memory_bytes", &[]).is_some_and(|bytes| bytes > 0.0));

    let directory_url = &client.endpoints.directory;
    let directory = eventually("the consumer's lag and applied events", || async {
        let text = scrape(&format!("{directory_url}/metrics")).await;
        let applied =
            sample(&text, "scimsvc_directory_events_total", &[("result", "applied")]).is_some_and(|n| n >= 1.0);
        let lag = sample(&text, "scimsvc_kafka_consumer_lag_messages", &[("topic", cluster.topic.as_str())]).is_some();
        (applied && lag).then_some(text)
    })
    .await;
    assert!(
        sample(&directory, "scimsvc_db_pool_max_connections", &[("service", "directory-store")]).is_some(),
        "{directory}"
    );

    let core_ready: Value = reqwest::get(format!("{}/readyz", cluster.admin.url)).await.unwrap().json().await.unwrap();
    assert_eq!(core_ready["database"], "ok", "{core_ready}");
    let directory_ready = eventually("the broker reported up", || async {
        let body: Value = reqwest::get(format!("{directory_url}/readyz")).await.ok()?.json().await.ok()?;
        (body["broker"] == "up").then_some(body)
    })
    .await;
    assert_eq!(directory_ready["database"], "ok");
    let live = reqwest::get(format!("{}/livez", cluster.gateway_management[0])).await.unwrap();
    assert_eq!(live.status(), StatusCode::OK);
}

/// OTLP to an `https://` collector (gRPC): TLS checked against `OTEL_EXPORTER_OTLP_CERTIFICATE`,
/// the CA made in the test; an http/protobuf exporter is refused an https endpoint at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_https_collector_over_tls() {
    let pki = crate::support::TestPki::generate();
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let identity = tonic::transport::Identity::from_pem(
        std::fs::read(pki.path("server.pem")).unwrap(),
        std::fs::read(pki.path("server-key.pem")).unwrap(),
    );
    tokio::spawn(
        tonic::transport::Server::builder()
            .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
            .unwrap()
            .add_service(TraceServiceServer::new(receiver.clone()))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let mut env = otel_env(&format!("https://127.0.0.1:{port}"), "grpc");
    env.push(("OTEL_EXPORTER_OTLP_CERTIFICATE", pki.path("ca.pem")));
    let standalone = crate::support::Standalone::start_with(env).await;
    let (status, _) = standalone.client.scim(Method::GET, "/Users?count=1", None).await;
    assert_eq!(status, StatusCode::OK);
    eventually("spans at the https collector", || async {
        // Any span at all: it came over the TLS connection, checked against the test's CA.
        (!receiver.spans().is_empty()).then_some(())
    })
    .await;

    let refused = platform_refuses_plain_http_to_https();
    assert!(refused.contains("OTEL_EXPORTER_OTLP_PROTOCOL=grpc"), "{refused}");
}

/// The error an http/protobuf exporter with an https endpoint gets (it starts without export).
fn platform_refuses_plain_http_to_https() -> String {
    let settings = HashMap::from([("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318")]);
    platform::telemetry::otlp_protocol(&settings).unwrap_err().to_string()
}
