//! A group's membership change as the rows it adds and removes. A PATCH that adds or removes
//! members reads only the rows of the members it names, so adding one member to a group of
//! 100,000 reads one row; only a change that replaces or clears the whole list (and a PUT)
//! reads every member.

use std::collections::{HashMap, HashSet};

use platform::db::DbConnection;
use scim::patch::MemberChange;

use crate::error::CoreError;
use crate::store::groups;
use crate::store::tenants::TenantId;

/// The member rows a change adds and removes (SCIM user ids).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delta {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

impl Delta {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// The delta of a PATCH's membership changes on a group, reading as few member rows as the
/// changes allow.
pub fn resolve(
    conn: &mut DbConnection,
    tenant: &TenantId,
    group_id: &str,
    changes: Vec<MemberChange>,
) -> Result<Delta, CoreError> {
    if changes.is_empty() {
        return Ok(Delta::default());
    }
    let whole_list = changes.iter().any(|change| matches!(change, MemberChange::RemoveAll | MemberChange::Replace(_)));
    let current = if whole_list {
        groups::members(conn, tenant, group_id)?
    } else {
        let named = named(&changes);
        let present = groups::members_among(conn, tenant, group_id, &named)?;
        named.into_iter().filter(|id| present.contains(id)).collect()
    };
    Ok(net(&current, changes))
}

/// The ids the changes name, each once, in the order first named.
fn named(changes: &[MemberChange]) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut ids = Vec::new();
    for change in changes {
        let listed = match change {
            MemberChange::Add(ids) | MemberChange::Remove(ids) | MemberChange::Replace(ids) => ids.as_slice(),
            MemberChange::RemoveAll => &[],
        };
        for id in listed {
            if seen.insert(id.as_str()) {
                ids.push(id.clone());
            }
        }
    }
    ids
}

/// What `changes`, applied in order, add and remove, given the members they start from: every
/// member, or (for changes that neither replace nor clear the list) those among the ids they
/// name. Added ids come in the order first added, removed ones in the order given. Linear in
/// the ids involved.
pub fn net(current: &[String], changes: Vec<MemberChange>) -> Delta {
    let before: HashSet<&str> = current.iter().map(String::as_str).collect();
    // Whether each id seen is a member after the changes so far, and the order first seen.
    let mut member: HashMap<String, bool> = current.iter().map(|id| (id.clone(), true)).collect();
    let mut order: Vec<String> = current.to_vec();
    let add = |member: &mut HashMap<String, bool>, order: &mut Vec<String>, ids: Vec<String>| {
        for id in ids {
            match member.get_mut(&id) {
                Some(is_member) => *is_member = true,
                None => {
                    member.insert(id.clone(), true);
                    order.push(id);
                }
            }
        }
    };
    for change in changes {
        match change {
            MemberChange::Add(ids) => add(&mut member, &mut order, ids),
            MemberChange::Remove(ids) => {
                for id in ids {
                    if let Some(is_member) = member.get_mut(&id) {
                        *is_member = false;
                    }
                }
            }
            MemberChange::RemoveAll => member.values_mut().for_each(|is_member| *is_member = false),
            MemberChange::Replace(ids) => {
                member.values_mut().for_each(|is_member| *is_member = false);
                add(&mut member, &mut order, ids);
            }
        }
    }
    let mut delta = Delta::default();
    for id in order {
        match (member.get(&id).copied().unwrap_or(false), before.contains(id.as_str())) {
            (true, false) => delta.added.push(id),
            (false, true) => delta.removed.push(id),
            _ => {}
        }
    }
    delta
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|id| (*id).to_owned()).collect()
    }

    #[test]
    fn adds_and_removes_net_out() {
        let current = ids(&["a", "b"]);
        let changes = vec![
            MemberChange::Add(ids(&["c", "a", "d"])),
            MemberChange::Remove(ids(&["b", "d", "x"])),
            MemberChange::Add(ids(&["b"])),
        ];
        assert_eq!(net(&current, changes), Delta { added: ids(&["c"]), removed: vec![] });
    }

    #[test]
    fn replace_and_remove_all() {
        let current = ids(&["a", "b", "c"]);
        assert_eq!(
            net(&current, vec![MemberChange::Replace(ids(&["c", "d", "d"]))]),
            Delta { added: ids(&["d"]), removed: ids(&["a", "b"]) }
        );
        assert_eq!(
            net(&current, vec![MemberChange::RemoveAll, MemberChange::Add(ids(&["b"]))]),
            Delta { added: vec![], removed: ids(&["a", "c"]) }
        );
    }

    fn change() -> impl Strategy<Value = MemberChange> {
        let some_ids = proptest::collection::vec("[a-f]", 0..5);
        prop_oneof![
            some_ids.clone().prop_map(MemberChange::Add),
            some_ids.clone().prop_map(MemberChange::Remove),
            Just(MemberChange::RemoveAll),
            some_ids.prop_map(MemberChange::Replace),
        ]
    }

    proptest! {
        /// The delta, applied to the full list, gives what applying the changes one by one to
        /// the full list gives; and reading only the named members gives the same delta.
        #[test]
        fn agrees_with_applying_the_changes(
            start in proptest::collection::btree_set("[a-h]", 0..6),
            changes in proptest::collection::vec(change(), 0..6),
        ) {
            let current: Vec<String> = start.into_iter().collect();
            let mut expected = current.clone();
            for change in changes.clone() {
                change.apply(&mut expected);
            }
            let delta = net(&current, changes.clone());
            let mut result: Vec<String> = current.iter().filter(|id| !delta.removed.contains(id)).cloned().collect();
            result.extend(delta.added.iter().cloned());
            let sorted = |mut list: Vec<String>| { list.sort(); list.dedup(); list };
            prop_assert_eq!(sorted(result), sorted(expected));
            let whole = changes.iter().any(|c| matches!(c, MemberChange::RemoveAll | MemberChange::Replace(_)));
            if !whole {
                let named: HashSet<String> = named(&changes).into_iter().collect();
                let among: Vec<String> = current.iter().filter(|id| named.contains(*id)).cloned().collect();
                let partial = net(&among, changes);
                prop_assert_eq!(sorted(partial.added), sorted(delta.added));
                prop_assert_eq!(sorted(partial.removed), sorted(delta.removed));
            }
        }
    }
}
