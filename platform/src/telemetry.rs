//! One telemetry set-up for every binary: `tracing` to stdout, JSON when `LOG_FORMAT=json`,
//! filtered by `RUST_LOG` (default `info`).

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::Source;

pub fn init(config: &impl Source) {
    let filter = EnvFilter::try_new(config.get("RUST_LOG").unwrap_or_else(|| "info".to_owned()))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let json = config.get("LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = if json {
        registry.with(tracing_subscriber::fmt::layer().json().with_current_span(true)).try_init()
    } else {
        registry.with(tracing_subscriber::fmt::layer()).try_init()
    };
    // A second init (tests, standalone) keeps the first subscriber.
    drop(result);
}
