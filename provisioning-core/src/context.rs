//! What one request works with, loaded once at its start: the caller's tenant, its lifecycle
//! policy, its compiled rules (mapping and group permissions) and its schema registry.
//!
//! Compiling rules and registries on every write was a large part of the write path, so they
//! are cached per tenant and *config revision*. The revision is a column of the tenant's row
//! that every change to its mapping, group permissions, settings or declared schemas moves
//! (in the transaction of the change), and the token check reads it with the tenant: each
//! replica sees a change on its next request, with no extra query and no time-based expiry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use platform::db::DbConnection;
use scim::schema::SchemaRegistry;

use crate::error::CoreError;
use crate::mapping::Rules;
use crate::store::Store;
use crate::store::tenants::{self, Caller, Lifecycle, TenantId};

/// A tenant's rules and registry, as compiled from one config revision.
#[derive(Debug)]
pub struct Compiled {
    pub rules: Rules,
    pub registry: SchemaRegistry,
}

/// The tenant a request works for, with everything its rules say.
#[derive(Debug, Clone)]
pub struct TenantContext {
    pub tenant: TenantId,
    pub lifecycle: Lifecycle,
    /// The config revision the rules were compiled from.
    pub revision: i64,
    compiled: Arc<Compiled>,
    /// When the request's caller stops waiting (less a margin): a write not committed by then
    /// is rolled back (see [`TenantContext::write`]).
    pub deadline: Option<std::time::Instant>,
}

impl TenantContext {
    /// The context with the request's commit deadline.
    pub fn until(self, deadline: Option<std::time::Instant>) -> Self {
        Self { deadline, ..self }
    }

    pub fn rules(&self) -> &Rules {
        &self.compiled.rules
    }

    pub fn registry(&self) -> &SchemaRegistry {
        &self.compiled.registry
    }

    /// Reads and compiles a tenant's context without the cache (operators' work, tests, and a
    /// write that found the revision moved since its request started).
    pub fn load(conn: &mut DbConnection, tenant: &TenantId) -> Result<Self, CoreError> {
        let revision = tenants::config_revision(conn, tenant.as_str())?;
        let (rules, lifecycle) = tenants::rules(conn, tenant.as_str())?;
        let registry = crate::store::schemas::registry(conn, tenant)?;
        Ok(Self {
            tenant: tenant.clone(),
            lifecycle,
            revision,
            compiled: Arc::new(Compiled { rules, registry }),
            deadline: None,
        })
    }

    /// Runs a write with the rules in force: the tenant's config revision is read in the
    /// write's transaction, under a share lock on PostgreSQL (an operator's rule change waits
    /// for the writes in flight, and the writes after it wait for it), and when it moved since
    /// the request started the context is compiled again there. Without this, a write that
    /// waited on a row lock held by a rule change would publish with the rules before it.
    pub fn write<T>(
        &self,
        conn: &mut DbConnection,
        work: impl FnOnce(&mut DbConnection, &TenantContext) -> Result<T, CoreError>,
    ) -> Result<T, CoreError> {
        let current = tenants::lock_config_revision(conn, self.tenant.as_str())?;
        let done = if current == self.revision {
            work(conn, self)?
        } else {
            let fresh = Self { deadline: self.deadline, ..Self::load(conn, &self.tenant)? };
            work(conn, &fresh)?
        };
        // The last moment before the commit: an IdP that gave up on this request (and will
        // retry it) must not find it applied. Past its deadline the write is rolled back.
        if self.deadline.is_some_and(|deadline| std::time::Instant::now() > deadline) {
            tracing::warn!(tenant.id = self.tenant.as_str(), "a write passed its request's deadline; rolled back");
            return Err(CoreError::deadline_passed());
        }
        Ok(done)
    }
}

/// Compiled contexts by tenant, each with the config revision it was compiled from.
type Entries = HashMap<String, (i64, Arc<Compiled>)>;

/// Compiled tenant contexts, shared by the requests of every tenant.
#[derive(Clone, Default)]
pub struct ContextCache {
    entries: Arc<Mutex<Entries>>,
}

/// More tenants than this are not kept: the cache starts over (each entry is small, but a
/// deployment with many tenants should not grow without bound).
const MAX_TENANTS: usize = 10_000;

impl ContextCache {
    /// The context of an authenticated caller: compiled again only when its tenant's config
    /// revision moved since it was cached.
    pub fn context(&self, store: &Store, caller: &Caller) -> Result<TenantContext, CoreError> {
        let tenant = caller.tenant.as_str();
        let lifecycle = caller.settings.lifecycle.unwrap_or_default();
        let cached = self.lock().get(tenant).filter(|(revision, _)| *revision == caller.config_revision).cloned();
        let compiled = match cached {
            Some((_, compiled)) => compiled,
            None => {
                let compiled = Arc::new(store.read(|conn| {
                    let (rules, _) = tenants::rules(conn, tenant)?;
                    let registry = crate::store::schemas::registry(conn, &caller.tenant)?;
                    Ok::<_, CoreError>(Compiled { rules, registry })
                })?);
                let mut entries = self.lock();
                if entries.len() >= MAX_TENANTS {
                    entries.clear();
                }
                entries.insert(tenant.to_owned(), (caller.config_revision, compiled.clone()));
                compiled
            }
        };
        Ok(TenantContext {
            tenant: caller.tenant.clone(),
            lifecycle,
            revision: caller.config_revision,
            compiled,
            deadline: None,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
