//! The SCIM 2.0 protocol (RFC 7643, RFC 7644) as a pure library: no I/O. The gateway uses it to
//! parse and render; provisioning-core uses it to apply PATCH and validate what it stores.
#![forbid(unsafe_code)]

pub mod discovery;
pub mod error;
pub mod evaluate;
pub mod filter;
pub mod list;
pub mod patch;
pub mod projection;
pub mod resource;
pub mod schema;
pub mod validate;

pub use error::{ScimError, ScimType};
pub use filter::{AttrPath, CompareOp, Filter};
pub use patch::{PatchOp, PatchOperation, PatchRequest};
pub use resource::{GroupInput, UserInput};
pub use schema::ResourceType;
