//! Per-tenant rate limits: a token bucket per tenant (GCRA, `governor`), so one tenant's burst
//! never slows another. A tenant's own limit (its settings) replaces the deployment's default;
//! a changed limit takes effect on the tenant's next request, on every replica, because the
//! settings are read with the token. Over the limit a request gets 429 with the bucket's real
//! wait (google.rpc.RetryInfo, which the gateway answers as `Retry-After`). Each core replica keeps its own buckets: N replicas admit up to N times the
//! rate.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use scim::ScimError;

use crate::config::RateLimit;
use crate::error::CoreError;
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

    /// Takes one request from the tenant's bucket, or says how long to wait.
    pub fn admit(&self, tenant: &str, own: Option<RateLimitSetting>) -> Result<(), CoreError> {
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
        bucket.check().map_err(|not_until| {
            crate::observe::RATE_LIMITED.with_label_values(&[tenant]).inc();
            let wait = not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
            CoreError::RateLimited { retry_after: wait }
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
        let CoreError::RateLimited { retry_after } = refused else { panic!("{refused:?}") };
        // One request a second: the next is due within the second, not later.
        assert!(retry_after > std::time::Duration::ZERO && retry_after <= std::time::Duration::from_secs(1));
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

/// Per tenant, how many of its requests may do database work at once on this replica. The
/// pool is shared: without this, one tenant's slow queries could hold every connection, and the
/// other tenants' token checks would wait behind them. A request waits its turn (not holding a
/// connection) up to the queue timeout, then gets 429.
#[derive(Clone)]
pub struct TenantSlots {
    per_tenant: usize,
    wait: std::time::Duration,
    slots: Arc<Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>>,
}

impl TenantSlots {
    pub fn new(per_tenant: usize, wait: std::time::Duration) -> Self {
        Self { per_tenant: per_tenant.max(1), wait, slots: Arc::default() }
    }

    /// A slot of `tenant`'s, held until the permit is dropped.
    pub async fn acquire(&self, tenant: &str) -> Result<tokio::sync::OwnedSemaphorePermit, ScimError> {
        let semaphore = {
            let mut slots = self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if slots.len() >= MAX_BUCKETS && !slots.contains_key(tenant) {
                // Forget the idle ones (all their permits back).
                slots.retain(|_, semaphore| semaphore.available_permits() < self.per_tenant);
            }
            slots
                .entry(tenant.to_owned())
                .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(self.per_tenant)))
                .clone()
        };
        match tokio::time::timeout(self.wait, semaphore.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => {
                crate::observe::TENANT_BUSY.with_label_values(&[tenant]).inc();
                Err(ScimError::new(
                    429,
                    None,
                    format!(
                        "this tenant has {} requests in progress already, the most it may have at once; retry shortly",
                        self.per_tenant
                    ),
                ))
            }
        }
    }
}

#[cfg(test)]
mod slot_tests {
    use super::*;

    #[tokio::test]
    async fn a_busy_tenant_waits_then_gets_429_while_another_is_served() {
        let slots = TenantSlots::new(2, std::time::Duration::from_millis(50));
        let held = (slots.acquire("noisy").await.unwrap(), slots.acquire("noisy").await.unwrap());
        let refused = slots.acquire("noisy").await.unwrap_err();
        assert_eq!(refused.status, 429);
        assert!(slots.acquire("quiet").await.is_ok(), "another tenant has its own slots");
        drop(held.0);
        assert!(slots.acquire("noisy").await.is_ok(), "a slot given back is taken again");
    }
}
