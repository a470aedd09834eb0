//! Latency histograms, error counts and the JSON summary every scenario prints.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};

/// The first failed request's status and body is printed to stderr (once per process).
static ERROR_SHOWN: AtomicBool = AtomicBool::new(false);

pub fn show_first_error(what: &str, detail: &str) {
    if !ERROR_SHOWN.swap(true, Ordering::Relaxed) {
        let detail: String = detail.chars().take(2000).collect();
        eprintln!("scim-bench: first error: {what}: {detail}");
    }
}

#[derive(Debug, Clone)]
pub struct Stats {
    /// Latencies in microseconds, 1 µs to 10 min at 3 significant digits.
    pub histogram: Histogram<u64>,
    pub requests: u64,
    pub errors: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl Stats {
    pub fn new() -> Self {
        #[allow(clippy::expect_used)] // constant, valid bounds
        let histogram = Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds");
        Self { histogram, requests: 0, errors: 0 }
    }

    pub fn record(&mut self, latency: Duration, ok: bool) {
        self.requests += 1;
        if !ok {
            self.errors += 1;
        }
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).max(1);
        self.histogram.saturating_record(micros);
    }

    pub fn merge(&mut self, other: &Stats) {
        self.requests += other.requests;
        self.errors += other.errors;
        // Same bounds everywhere: adding cannot fail.
        let _ = self.histogram.add(&other.histogram);
    }

    fn ms(&self, quantile: f64) -> f64 {
        if self.histogram.is_empty() {
            return 0.0;
        }
        round3(self.histogram.value_at_quantile(quantile) as f64 / 1000.0)
    }

    /// `{"requests","errors","seconds","rps","p50_ms","p90_ms","p99_ms","p999_ms","max_ms","mean_ms"}`.
    pub fn summary(&self, seconds: f64) -> Map<String, Value> {
        let rps = if seconds > 0.0 { self.requests as f64 / seconds } else { 0.0 };
        let mean = if self.histogram.is_empty() { 0.0 } else { round3(self.histogram.mean() / 1000.0) };
        let max = if self.histogram.is_empty() { 0.0 } else { round3(self.histogram.max() as f64 / 1000.0) };
        let value = json!({
            "requests": self.requests,
            "errors": self.errors,
            "seconds": round3(seconds),
            "rps": round3(rps),
            "p50_ms": self.ms(0.50),
            "p90_ms": self.ms(0.90),
            "p99_ms": self.ms(0.99),
            "p999_ms": self.ms(0.999),
            "max_ms": max,
            "mean_ms": mean,
        });
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    /// A summary with the scenario's name first.
    pub fn report(&self, scenario: &str, seconds: f64) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("scenario".to_owned(), json!(scenario));
        map.extend(self.summary(seconds));
        map
    }
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// When a load stops: at a deadline, after a number of requests, or both (whichever first).
#[derive(Debug)]
pub struct Budget {
    deadline: Option<Instant>,
    limit: Option<u64>,
    taken: std::sync::atomic::AtomicU64,
}

impl Budget {
    pub fn new(seconds: Option<f64>, requests: Option<u64>) -> Self {
        Self {
            deadline: seconds.map(|s| Instant::now() + Duration::from_secs_f64(s)),
            limit: requests,
            taken: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The index of the next request, or None when the budget is spent.
    pub fn take(&self) -> Option<u64> {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        let n = self.taken.fetch_add(1, Ordering::Relaxed);
        match self.limit {
            Some(limit) if n >= limit => None,
            _ => Some(n),
        }
    }
}
