//! What every service binary shares: configuration read through a trait, database pools over
//! PostgreSQL or SQLite with embedded migrations, telemetry, and the shutdown signal.
#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod db;
pub mod metrics;
pub mod shutdown;
pub mod telemetry;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod tls;
