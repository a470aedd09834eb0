//! Per-tenant rate limits: a token bucket per tenant (GCRA, `governor`), so one tenant's burst
//! never slows another. Over the limit a request gets 429 (the gateway adds `Retry-After`).
//! Each core replica keeps its own buckets: N replicas admit up to N times the rate.

use std::sync::Arc;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use scim::ScimError;

use crate::config::RateLimit;

#[derive(Clone)]
pub struct TenantLimits {
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
}

impl TenantLimits {
    pub fn new(limit: RateLimit) -> Self {
        let quota = Quota::per_second(limit.per_second).allow_burst(limit.burst);
        Self { limiter: Arc::new(RateLimiter::keyed(quota)) }
    }

    /// Takes one request from the tenant's bucket, or says how long to wait.
    pub fn admit(&self, tenant: &str) -> Result<(), ScimError> {
        self.limiter.check_key(&tenant.to_owned()).map_err(|_| {
            ScimError::new(429, None, "this tenant sends more requests than its rate limit allows; retry shortly")
        })?;
        // Forget idle tenants now and then, so the map does not grow without end.
        if self.limiter.len() > 10_000 {
            self.limiter.retain_recent();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

    #[test]
    fn each_tenant_has_its_own_bucket() {
        let limits = TenantLimits::new(RateLimit {
            per_second: NonZeroU32::new(1).unwrap(),
            burst: NonZeroU32::new(3).unwrap(),
        });
        for _ in 0..3 {
            assert!(limits.admit("busy").is_ok());
        }
        let refused = limits.admit("busy").unwrap_err();
        assert_eq!(refused.status, 429);
        assert!(limits.admit("quiet").is_ok(), "another tenant is not affected");
    }
}
