//! What operators see of each SCIM request at the gateway: a server span named by the OpenTelemetry
//! HTTP conventions (`POST /Users/{id}`, `http.*` attributes, the SCIM resource type and id),
//! continuing an incoming `traceparent`; the trace context the core receives (the span's own
//! when spans are exported, else the caller's or a new one, so the provisioning log always
//! names a trace); and the request metrics. Never a query string (filters hold userNames and
//! emails), a body or a token.

use std::sync::LazyLock;
use std::time::Instant;

use actix_web::HttpMessage;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use prometheus::{HistogramVec, IntCounterVec};
use rand::RngCore;
use tracing::field::Empty;

/// The W3C `traceparent` to hand to provisioning-core with this request.
#[derive(Debug, Clone)]
pub struct TraceParent(pub String);

static REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    platform::metrics::counter_vec(
        "gateway_http_requests_total",
        "SCIM HTTP requests answered by the gateway, by method, route and status",
        &["method", "route", "status"],
    )
});

static DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    platform::metrics::histogram_vec(
        "gateway_http_request_duration_seconds",
        "Time to answer a SCIM HTTP request at the gateway, by method and route",
        &["method", "route"],
    )
});

/// `Users`/`Groups` and the id a SCIM path names, for span attributes.
fn resource_of(path: &str) -> (Option<&'static str>, Option<&str>) {
    let mut segments = path.trim_matches('/').split('/');
    let kind = match segments.next() {
        Some("Users") => Some("User"),
        Some("Groups") => Some("Group"),
        _ => None,
    };
    let id = kind.and(segments.next()).filter(|id| !id.is_empty() && !id.starts_with('.'));
    (kind, id)
}

/// The caller's `traceparent` when valid, else a new trace (random ids, sampled flag off).
pub(crate) fn caller_or_new_traceparent(incoming: Option<&str>) -> String {
    incoming
        .map(str::trim)
        .filter(|t| proto::trace_context::trace_id(t).is_some())
        .map_or_else(new_traceparent, str::to_owned)
}

fn new_traceparent() -> String {
    let mut ids = [0u8; 24];
    rand::rng().fill_bytes(&mut ids);
    ids[15] |= 1;
    ids[23] |= 1;
    format!("00-{}-{}-00", hex::encode(&ids[..16]), hex::encode(&ids[16..]))
}

/// A method as a bounded label (OpenTelemetry's `_OTHER` for extension methods).
fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "_OTHER",
    }
}

/// The SCIM endpoints a route can name; anything else is `{unknown}`, so that clients cannot
/// grow span names or metric series without end.
const ENDPOINTS: &[&str] =
    &["Users", "Groups", "Bulk", "Schemas", "ResourceTypes", "ServiceProviderConfig", "Me", ".search"];

/// The route template of a SCIM path (ids replaced by `{id}`), known before routing so that
/// it can name the span: `/scim/v2/Users/{id}`.
fn route_of(base_path: &str, below_base: &str) -> String {
    let segments: Vec<&str> = below_base.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    if segments.first().is_some_and(|endpoint| !ENDPOINTS.contains(endpoint)) {
        return format!("{base_path}/{{unknown}}");
    }
    let template = match segments.as_slice() {
        [] => String::new(),
        [endpoint] => format!("/{endpoint}"),
        [endpoint, special] if special.starts_with('.') => format!("/{endpoint}/{special}"),
        [endpoint, _] => format!("/{endpoint}/{{id}}"),
        [endpoint, ..] => format!("/{endpoint}/{{id}}/…"),
    };
    format!("{base_path}{template}")
}

pub fn request_span(request: &ServiceRequest, base_path: &str) -> tracing::Span {
    let method = method_label(request.method().as_str());
    let canonical = crate::normalize::canonical_path(base_path, request.path()).unwrap_or(request.path().to_owned());
    let below_base = canonical.strip_prefix(base_path).unwrap_or(&canonical).to_owned();
    let (kind, id) = resource_of(&below_base);
    let route = route_of(base_path, &below_base);
    let span = tracing::info_span!(
        "HTTP request",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = Empty,
        component = "gateway",
        http.request.method = %method,
        url.path = %request.path(),
        // Tells Entra ("Azure Active Directory SCIM Client") from Okta ("Okta SCIM Client …").
        user_agent.original = request.headers().get("user-agent").and_then(|v| v.to_str().ok()).map(|ua| ua.chars().take(256).collect::<String>()),
        http.route = %route,
        http.response.status_code = Empty,
        scim.resource_type = kind,
        scim.resource_id = id,
        trace_id = Empty,
    );
    let incoming = request.headers().get("traceparent").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let continued =
        platform::telemetry::continue_trace(&span, |key| if key == "traceparent" { incoming.as_deref() } else { None });
    let exported = platform::telemetry::context_of(&span).remove("traceparent");
    let traceparent = exported.unwrap_or_else(|| caller_or_new_traceparent(incoming.as_deref()));
    let trace_id = platform::telemetry::trace_id_of(&span)
        .or(continued)
        .or_else(|| proto::trace_context::trace_id(&traceparent).map(str::to_owned));
    if let Some(trace_id) = trace_id {
        span.record("trace_id", trace_id);
    }
    request.extensions_mut().insert(TraceParent(traceparent));
    span
}

pub fn finish(span: &tracing::Span, response: Option<&ServiceResponse>, started: Instant) {
    let method = response.map_or("_OTHER", |r| method_label(r.request().method().as_str()));
    let route = response.and_then(|r| r.request().match_pattern()).unwrap_or_else(|| "unmatched".to_owned());
    let status = response.map_or(500, |r| r.status().as_u16());
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    tracing::info!(
        http.request.method = method,
        http.route = %route,
        http.response.status_code = status,
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request answered"
    );
    let status_text = status.to_string();
    REQUESTS.with_label_values(&[method, route.as_str(), status_text.as_str()]).inc();
    DURATION.with_label_values(&[method, route.as_str()]).observe(started.elapsed().as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_resources() {
        assert_eq!(resource_of("/Users/abc"), (Some("User"), Some("abc")));
        assert_eq!(resource_of("/Groups"), (Some("Group"), None));
        assert_eq!(resource_of("/Users/.search"), (Some("User"), None));
        assert_eq!(resource_of("/Schemas"), (None, None));
        assert!(proto::trace_context::trace_id(&new_traceparent()).is_some());
        assert_eq!(route_of("/scim/v2", "/Users/abc"), "/scim/v2/Users/{id}");
        assert_eq!(route_of("/scim/v2", "/Users"), "/scim/v2/Users");
        assert_eq!(route_of("/scim/v2", "/Groups/.search"), "/scim/v2/Groups/.search");
        assert_eq!(route_of("", "/"), "");
        assert_eq!(route_of("/scim/v2", "/aaaa/bbb"), "/scim/v2/{unknown}");
        assert_eq!(method_label("BREW"), "_OTHER");
    }
}
