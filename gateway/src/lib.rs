//! gateway: the SCIM 2.0 HTTP front. It authenticates bearer tokens (through provisioning-core,
//! which holds the token hashes), parses and normalizes requests, forwards them as commands over gRPC, and
//! renders SCIM responses and errors. It keeps no state of its own.
#![forbid(unsafe_code)]

pub mod app;
pub mod auth;
pub mod balance;
pub mod bulk;
pub mod config;
pub mod discovery;
pub mod error;
pub mod normalize;
pub mod observe;
pub mod render;
pub mod report;
pub mod routes;
