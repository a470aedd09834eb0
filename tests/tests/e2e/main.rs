//! End-to-end suites: the real binaries (gateway, provisioning-core, directory-store, and
//! standalone) against a real PostgreSQL and a real Kafka-API broker, driven over HTTP as an IdP
//! drives them. `scripts/test.sh` starts PostgreSQL and tansu and exports TEST_DATABASE_URL,
//! KAFKA_BOOTSTRAP_SERVERS and TANSU_BIN.
// Test support code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod balancing;
mod broker_down;
mod browser;
mod conformance;
mod directory_api;
mod entra;
mod events;
mod events_api;
mod faults;
mod hostile;
mod isolation;
mod large_groups;
mod lifecycle;
mod mapping;
mod observability;
mod okta;
mod operators;
mod other_idps;
mod portal;
mod protocol;
mod provisioning_log;
mod receiver;
mod repair;
mod sso;
mod support;
mod tls;
mod webhooks;
