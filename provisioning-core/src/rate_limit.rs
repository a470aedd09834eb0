//! Per-tenant rate limits: a token bucket per tenant (GCRA, `governor`), so one tenant's burst
//! never slows another. A tenant's own limit (its settings) replaces the deployment's default;
//! a changed limit takes effect on the tenant's next request, on every replica, because the
//! settings are read with the token. Over the limit a request gets 429 (the gateway adds
//! `Retry-After`). Each core replica keeps its own buckets: N replicas admit up to N times the
//! rate.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use scim::ScimError;

use crate::config::RateLimit;
use crate::store::tenants::RateLimitSetting;

/// A tenant's bucket, with the limit it was made for.
type Bucket = (RateLimit, Arc<DefaultDirectRateLimiter>);

#[derive(Clone)]
pub struct TenantLimits {
    default: RateLimit,
    buckets: Arc<Mutex<HashMap<String, Bucket>>>,
}

/// Buckets kept before all are forgotten (a forgotten bucket starts full again: at worst one
/// extra burst per tenant).
const MAX_BUCKETS: usize = 10_000;

impl TenantLimits {
    pub fn new(default: RateLimit) -> Self {
        Self { default, buckets: Arc::default() }
    }

    /// The limit that applies to a tenant with these settings.
    pub fn effective(&self, own: Option<RateLimitSetting>) -> RateLimit {
        own.and_then(|RateLimitSetting { requests_per_second, burst }| {
            Some(RateLimit { per_second: NonZeroU32::new(requests_per_second)?, burst: NonZeroU32::new(burst)? })
        })
        .unwrap_or(self.default)
    }

    /// Takes one request from the tenant's bucket, or says to wait.
    pub fn admit(&self, tenant: &str, own: Option<RateLimitSetting>) -> Result<(), ScimError> {
        let limit = self.effective(own);
        let bucket = {
            let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(tenant) {
                buckets.clear();
            }
            match buckets.get(tenant) {
                Some((current, bucket)) if *current == limit => bucket.clone(),
                _ => {
                    let quota = Quota::per_second(limit.per_second).allow_burst(limit.burst);
                    let bucket = Arc::new(RateLimiter::direct(quota));
                    buckets.insert(tenant.to_owned(), (limit, bucket.clone()));
                    bucket
                }
            }
        };
        bucket.check().map_err(|_| {
            crate::observe::RATE_LIMITED.with_label_values(&[tenant]).inc();
            ScimError::new(429, None, "this tenant sends more requests than its rate limit allows; retry shortly")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(per_second: u32, burst: u32) -> RateLimit {
        RateLimit { per_second: NonZeroU32::new(per_second).unwrap(), burst: NonZeroU32::new(burst).unwrap() }
    }

    #[test]
    fn each_tenant_has_its_own_bucket() {
        let limits = TenantLimits::new(limit(1, 3));
        for _ in 0..3 {
            assert!(limits.admit("busy", None).is_ok());
        }
        let refused = limits.admit("busy", None).unwrap_err();
        assert_eq!(refused.status, 429);
        assert!(limits.admit("quiet", None).is_ok(), "another tenant is not affected");
    }

    #[test]
    fn a_tenants_own_limit_replaces_the_default() {
        let limits = TenantLimits::new(limit(1, 2));
        let own = Some(RateLimitSetting { requests_per_second: 1, burst: 5 });
        for _ in 0..5 {
            assert!(limits.admit("big", own).is_ok());
        }
        assert!(limits.admit("big", own).is_err());
        assert!(limits.admit("small", None).is_ok());
        assert!(limits.admit("small", None).is_ok());
        assert!(limits.admit("small", None).is_err());
        // Raising the limit takes effect at once.
        assert!(limits.admit("small", Some(RateLimitSetting { requests_per_second: 1, burst: 3 })).is_ok());
    }
}
