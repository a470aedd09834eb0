//! Skipping what was applied already. Delivery is at least once (a relay that takes over, a
//! consumer that restarts before its commit, a webhook replay), and each resource's events carry
//! increasing versions: an event whose version is at or below the one a consumer applied for
//! that resource changes nothing and is skipped. Apply the rule where the resource is stored
//! ([`is_newer`], as directory-store does in the row's transaction), or keep a [`Ledger`].

use std::collections::HashMap;

use crate::ChangeEvent;

/// Whether an event of `incoming` version is newer than the version `applied` (none: never
/// applied) and so is to be applied.
pub fn is_newer(applied: Option<i64>, incoming: i64) -> bool {
    applied.is_none_or(|applied| incoming > applied)
}

/// The last version applied per resource (tenant, resource id), in memory: for a consumer that
/// starts from the beginning of the topic on every start, or that loads the ledger from its store.
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    applied: HashMap<(String, String), i64>,
}

impl Ledger {
    /// Whether `event` is newer than what was applied of its resource (see [`is_newer`]).
    pub fn is_newer(&self, event: &ChangeEvent) -> bool {
        is_newer(self.version(&event.tenant_id, &event.resource_id), event.version)
    }

    /// Records `event` as applied, when newer: `true` then, `false` for one to skip.
    pub fn admit(&mut self, event: &ChangeEvent) -> bool {
        if !self.is_newer(event) {
            return false;
        }
        self.applied.insert((event.tenant_id.clone(), event.resource_id.clone()), event.version);
        true
    }

    /// The version applied of a resource.
    pub fn version(&self, tenant: &str, resource_id: &str) -> Option<i64> {
        self.applied.get(&(tenant.to_owned(), resource_id.to_owned())).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(resource: &str, version: i64) -> ChangeEvent {
        ChangeEvent { tenant_id: "acme".into(), resource_id: resource.into(), version, ..ChangeEvent::default() }
    }

    #[test]
    fn only_newer_versions_are_admitted() {
        assert!(is_newer(None, 1));
        assert!(is_newer(Some(1), 2));
        assert!(!is_newer(Some(2), 2));
        assert!(!is_newer(Some(3), 2));
        let mut ledger = Ledger::default();
        assert!(ledger.admit(&event("u-1", 1)));
        assert!(!ledger.admit(&event("u-1", 1)), "a redelivery");
        assert!(ledger.admit(&event("u-2", 1)), "another resource");
        assert!(ledger.admit(&event("u-1", 3)));
        assert!(!ledger.admit(&event("u-1", 2)), "a late, older one");
        assert_eq!(ledger.version("acme", "u-1"), Some(3));
    }
}
