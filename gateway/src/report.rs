//! Requests the gateway answers itself with an error (malformed JSON, a bad filter, a body too
//! large, an unknown endpoint or method) never reach provisioning-core, which keeps the
//! provisioning log; they are reported to it after the answer, in the background, so they
//! appear in the tenant's log too. Only requests with a bearer token can name a tenant; a 401
//! has none that works, so it is not reported.

use std::sync::{Arc, LazyLock};
use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, web};
use proto::RecordRejectionRequest;

use crate::auth::Credential;
use crate::error::Rejection;
use crate::routes::Gateway;

/// Reports in flight at most; beyond, a report is dropped rather than queued.
static IN_FLIGHT: LazyLock<Arc<tokio::sync::Semaphore>> = LazyLock::new(|| Arc::new(tokio::sync::Semaphore::new(256)));

pub fn rejection(request: &HttpRequest, base_path: &str, response: &HttpResponse, started: Instant) {
    let Some(rejection) = response.extensions().get::<Rejection>().cloned() else { return };
    let status = response.status().as_u16();
    if status == 401 {
        return;
    }
    let Some(path) = request.path().strip_prefix(base_path).filter(|p| p.is_empty() || p.starts_with('/')) else {
        return;
    };
    let Some(gateway) = request.app_data::<web::Data<Gateway>>().cloned() else { return };
    let Ok(credential) = Credential::from_request(request, &gateway.config) else { return };
    let message = RecordRejectionRequest {
        method: request.method().as_str().to_owned(),
        path: if path.is_empty() { "/".to_owned() } else { path.to_owned() },
        status: u32::from(status),
        scim_type: rejection.scim_type.map(|t| t.as_str().to_owned()),
        latency_micros: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
    };
    let Ok(permit) = IN_FLIGHT.clone().try_acquire_owned() else { return };
    actix_web::rt::spawn(async move {
        let _permit = permit;
        if let Err(status) = gateway.core.clone().record_rejection(credential.request(message)).await
            && status.code() != tonic::Code::Unauthenticated
        {
            tracing::warn!(error = %status, "reporting a rejected request to the provisioning log failed");
        }
    });
}
