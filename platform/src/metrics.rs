//! Prometheus metrics: each service registers its own in the process's default registry and
//! serves them as text on its management listener (`GET /metrics`).

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, TextEncoder};

fn register<T: prometheus::core::Collector + Clone + 'static>(metric: T) -> T {
    // Registered once per name (statics); a duplicate (two services in one process registering
    // the same name) keeps the first and still counts locally.
    let _ = prometheus::default_registry().register(Box::new(metric.clone()));
    metric
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help)
}

#[allow(clippy::expect_used)]
pub fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    // Names and labels are constants of the code: a bad one is a bug caught by the first test.
    register(IntCounterVec::new(opts(name, help), labels).expect("valid metric definition"))
}

#[allow(clippy::expect_used)]
pub fn gauge(name: &str, help: &str) -> IntGauge {
    register(IntGauge::with_opts(opts(name, help)).expect("valid metric definition"))
}

#[allow(clippy::expect_used)]
pub fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    register(IntGaugeVec::new(opts(name, help), labels).expect("valid metric definition"))
}

#[allow(clippy::expect_used)]
pub fn histogram_vec(name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let buckets = vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
    register(
        HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels).expect("valid metric definition"),
    )
}

/// The process's metrics in the Prometheus text format.
pub fn render() -> String {
    let mut buffer = Vec::new();
    if let Err(error) = TextEncoder::new().encode(&prometheus::default_registry().gather(), &mut buffer) {
        tracing::error!(error = %error, "encoding metrics failed");
    }
    String::from_utf8(buffer).unwrap_or_default()
}

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_metrics_are_rendered() {
        let counter = counter_vec("platform_test_total", "a test counter", &["kind"]);
        counter.with_label_values(&["a"]).inc_by(3);
        let text = render();
        assert!(text.contains("platform_test_total{kind=\"a\"} 3"), "{text}");
    }
}
