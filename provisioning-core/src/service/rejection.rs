//! What the gateway answered by itself (malformed JSON, a bad filter, 413, 404/405), reported
//! so that the tenant's provisioning log shows it.

use proto::{RecordRejectionRequest, RecordRejectionResponse};
use scim::ScimType;
use tonic::{Request, Response, Status};

use super::{ProvisioningService, trace_id};
use crate::provisioning_log;

pub(super) async fn record_rejection(
    service: &ProvisioningService,
    request: Request<RecordRejectionRequest>,
) -> Result<Response<RecordRejectionResponse>, Status> {
    let (metadata, _, RecordRejectionRequest { method, path, status, scim_type, latency_micros }) =
        request.into_parts();
    let caller = service.authenticate(&metadata).await?;
    tracing::Span::current().record("tenant.id", caller.tenant.as_str());
    // Rejections count against the tenant's rate limit; over it they are not logged.
    if service.limits.admit(caller.tenant.as_str(), caller.settings.rate_limit).is_err() {
        return Ok(Response::new(RecordRejectionResponse {}));
    }
    let bounded = |text: String, max: usize| text.chars().take(max).collect::<String>();
    let (resource_type, resource_id) = provisioning_log::resource_of(&path);
    service.log.record(provisioning_log::Entry {
        tenant_id: caller.tenant.0,
        at: platform::db::now_micros(),
        method: bounded(method, 16),
        path: bounded(path, 512),
        resource_type,
        resource_id,
        status: i32::try_from(status).unwrap_or(500),
        scim_type: scim_type.and_then(|t| ScimType::parse(&t)).map(|t| t.as_str().to_owned()),
        detail: Some("answered by the gateway".to_owned()),
        warnings: None,
        latency_micros: i64::try_from(latency_micros).unwrap_or(i64::MAX),
        trace_id: trace_id(&metadata),
        token_id: Some(caller.token_id),
        user_agent: super::user_agent(&metadata),
    });
    Ok(Response::new(RecordRejectionResponse {}))
}
