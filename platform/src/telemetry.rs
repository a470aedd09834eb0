//! One telemetry set-up for every binary: `tracing` to stdout (JSON when `LOG_FORMAT=json`, with
//! the fields of the enclosing spans, among them `trace_id`), filtered by `RUST_LOG` (default
//! `info`), and OpenTelemetry traces exported over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, configured by the standard variables:
//! `OTEL_EXPORTER_OTLP_PROTOCOL` (`grpc` or `http/protobuf`, the default), `OTEL_SERVICE_NAME`
//! (default: the binary's component name), `OTEL_TRACES_SAMPLER` / `_ARG`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SDK_DISABLED`. Without an endpoint no OpenTelemetry layer
//! is installed at all: spans cost what `tracing` spans cost. W3C trace context is the
//! propagator either way, so a trace passes through a service that does not export.

use std::collections::HashMap;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::Source;

/// Keeps the exporter alive; dropping it flushes the spans still queued (on shutdown).
#[must_use = "dropping the guard shuts the exporter down"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            // The HTTP exporter's blocking client may not be dropped on an async thread.
            let flushed = std::thread::spawn(move || provider.shutdown()).join();
            if let Ok(Err(error)) = flushed {
                eprintln!("flushing spans at shutdown failed: {error}");
            }
        }
    }
}

/// Which OTLP transport the settings ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    HttpProtobuf,
}

/// The exporter settings, when traces are to be exported.
pub fn otlp_protocol(config: &impl Source) -> anyhow::Result<Option<Protocol>> {
    let set = |key: &str| config.get(key).filter(|v| !v.trim().is_empty());
    if set("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return Ok(None);
    }
    if set("OTEL_EXPORTER_OTLP_ENDPOINT").is_none() && set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_none() {
        return Ok(None);
    }
    let protocol = set("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").or_else(|| set("OTEL_EXPORTER_OTLP_PROTOCOL"));
    match protocol.as_deref().map(str::trim) {
        None | Some("http/protobuf") if otlp_https(config) => anyhow::bail!(
            "an https:// OTLP endpoint needs OTEL_EXPORTER_OTLP_PROTOCOL=grpc (TLS with the built-in roots or \
             OTEL_EXPORTER_OTLP_CERTIFICATE); http/protobuf is plaintext here"
        ),
        None | Some("http/protobuf") => Ok(Some(Protocol::HttpProtobuf)),
        Some("grpc") => Ok(Some(Protocol::Grpc)),
        Some(other) => {
            anyhow::bail!("OTEL_EXPORTER_OTLP_PROTOCOL={other:?} is not supported: use grpc or http/protobuf")
        }
    }
}

/// Whether the traces endpoint is `https://`.
fn otlp_https(config: &impl Source) -> bool {
    let set = |key: &str| config.get(key).filter(|v| !v.trim().is_empty());
    set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .or_else(|| set("OTEL_EXPORTER_OTLP_ENDPOINT"))
        .is_some_and(|endpoint| endpoint.trim().to_ascii_lowercase().starts_with("https://"))
}

/// The gRPC exporter's TLS for an `https://` endpoint: the CA of `OTEL_EXPORTER_OTLP_CERTIFICATE`
/// (the OpenTelemetry setting) when set, else the Mozilla roots built in.
fn otlp_tls(config: &impl Source) -> anyhow::Result<tonic::transport::ClientTlsConfig> {
    let tls = tonic::transport::ClientTlsConfig::new();
    match config.get("OTEL_EXPORTER_OTLP_CERTIFICATE").filter(|p| !p.trim().is_empty()) {
        Some(path) => {
            let pem = std::fs::read(path.trim())
                .map_err(|e| anyhow::anyhow!("OTEL_EXPORTER_OTLP_CERTIFICATE={path:?} cannot be read: {e}"))?;
            Ok(tls.ca_certificate(tonic::transport::Certificate::from_pem(pem)))
        }
        None => Ok(tls.with_webpki_roots()),
    }
}

fn provider(protocol: Protocol, component: &str, config: &impl Source) -> anyhow::Result<SdkTracerProvider> {
    use opentelemetry_otlp::WithTonicConfig as _;
    let exporter = match protocol {
        Protocol::Grpc if otlp_https(config) => {
            opentelemetry_otlp::SpanExporter::builder().with_tonic().with_tls_config(otlp_tls(config)?).build()?
        }
        Protocol::Grpc => opentelemetry_otlp::SpanExporter::builder().with_tonic().build()?,
        Protocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder().with_http().build()?,
    };
    let mut resource = opentelemetry_sdk::Resource::builder();
    if config.get("OTEL_SERVICE_NAME").is_none_or(|name| name.trim().is_empty()) {
        resource = resource.with_service_name(component.to_owned());
    }
    Ok(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource.build()).build())
}

/// Sets up logging and tracing for the binary named `component` (the default service name).
/// Must run inside the Tokio runtime (the gRPC exporter needs it).
pub fn init(config: &impl Source, component: &'static str) -> Telemetry {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let filter = EnvFilter::try_new(config.get("RUST_LOG").unwrap_or_else(|| "info".to_owned()))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let json = config.get("LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json"));
    let (provider, problem) =
        match otlp_protocol(config).and_then(|p| p.map(|p| provider(p, component, config)).transpose()) {
            Ok(provider) => (provider, None),
            Err(error) => (None, Some(error)),
        };
    let otel = provider.as_ref().map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer(component)));
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    let result = if json {
        registry.with(tracing_subscriber::fmt::layer().json().with_current_span(true).with_span_list(true)).try_init()
    } else {
        registry.with(tracing_subscriber::fmt::layer()).try_init()
    };
    // A second init (tests, standalone) keeps the first subscriber.
    drop(result);
    if let Some(error) = problem {
        tracing::error!(error = %error, "OpenTelemetry export is off: its settings are invalid");
    }
    crate::metrics::register_process(component);
    Telemetry { provider }
}

struct Headers<'a>(&'a mut HashMap<String, String>);

impl Injector for Headers<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

struct Lookup<'a, F: Fn(&str) -> Option<&'a str>>(F, &'a [&'a str]);

impl<'a, F: Fn(&str) -> Option<&'a str>> Extractor for Lookup<'a, F> {
    fn get(&self, key: &str) -> Option<&str> {
        (self.0)(key)
    }

    fn keys(&self) -> Vec<&str> {
        self.1.to_vec()
    }
}

/// The W3C trace context of `span` (`traceparent`, maybe `tracestate`), when it has a valid one
/// (only when spans are exported).
pub fn context_of(span: &tracing::Span) -> HashMap<String, String> {
    let mut headers = HashMap::new();
    let context = span.context();
    if context.span().span_context().is_valid() {
        opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&context, &mut Headers(&mut headers)));
    }
    headers
}

/// Makes `span` a child of the remote span whose W3C trace context `get` finds (e.g. in HTTP,
/// gRPC or Kafka headers). Returns the trace id it continues, if any.
pub fn continue_trace<'a>(span: &tracing::Span, get: impl Fn(&str) -> Option<&'a str>) -> Option<String> {
    let extractor = Lookup(get, &["traceparent", "tracestate"]);
    let context = TraceContextPropagator::new().extract(&extractor);
    let remote = context.span().span_context().clone();
    if !remote.is_valid() {
        return None;
    }
    let _ = span.set_parent(context);
    Some(remote.trace_id().to_string())
}

/// The trace id of `span` when spans are exported (a new root gets a fresh one).
pub fn trace_id_of(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then(|| span_context.trace_id().to_string())
}

/// The server span of one gRPC call: `rpc.system.name=grpc`, the service and method from the path.
pub fn rpc_span(component: &'static str, request: &http::Request<()>) -> tracing::Span {
    let path = request.uri().path();
    let (service, method) = path.trim_start_matches('/').split_once('/').unwrap_or((path, ""));
    let span = tracing::info_span!(
        "grpc",
        otel.name = path.trim_start_matches('/'),
        otel.kind = "server",
        component,
        rpc.system.name = "grpc",
        rpc.service = service,
        rpc.method = method,
        trace_id = tracing::field::Empty,
    );
    let headers = request.headers();
    let continued = continue_trace(&span, |key| headers.get(key).and_then(|v| v.to_str().ok()));
    if let Some(trace_id) = trace_id_of(&span).or(continued) {
        span.record("trace_id", trace_id);
    }
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_is_off_without_an_endpoint_and_checks_the_protocol() {
        let none: HashMap<&str, &str> = HashMap::new();
        assert_eq!(otlp_protocol(&none).unwrap(), None);
        let http = HashMap::from([("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")]);
        assert_eq!(otlp_protocol(&http).unwrap(), Some(Protocol::HttpProtobuf));
        let grpc = HashMap::from([
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ]);
        assert_eq!(otlp_protocol(&grpc).unwrap(), Some(Protocol::Grpc));
        let json =
            HashMap::from([("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]);
        assert!(otlp_protocol(&json).is_err());
        let disabled = HashMap::from([("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"), ("OTEL_SDK_DISABLED", "true")]);
        assert_eq!(otlp_protocol(&disabled).unwrap(), None);
    }
}
