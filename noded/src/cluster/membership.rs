//! Who votes in the store, as a pure function: [`plan`] takes what the
//! leader sees ([`Seen`]) and says the one membership change to make now
//! ([`Change`]); `Cluster::reconcile` makes it through openraft.
//!
//! The rules (docs/design/cluster.md):
//! - every member is a raft node (a learner first);
//! - members that left are removed (voters first, never the last one);
//! - the store keeps 3 voters, or 5 once there are 5 members, promoting
//!   caught-up learners that are up;
//! - a voter down for longer than the replacement threshold is replaced
//!   by a caught-up learner that is up, in one joint change, as long as a
//!   majority of the current voters is up (otherwise nothing can commit
//!   anyway). It becomes a learner again when it comes back.

use std::collections::{BTreeMap, BTreeSet};

use proto::Slot;

use super::state::Member;

/// What the leader sees of the cluster and the store's membership.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    /// Every member of the cluster state, by slot.
    pub members: BTreeMap<Slot, Member>,
    /// The store's voters.
    pub voters: BTreeSet<Slot>,
    /// The store's learners.
    pub learners: BTreeSet<Slot>,
    /// Members gossip sees up (the leader counts itself).
    pub up: BTreeSet<Slot>,
    /// Learners whose log is close enough to the leader's to vote.
    pub caught_up: BTreeSet<Slot>,
    /// Voters down for longer than the replacement threshold.
    pub down_long: BTreeSet<Slot>,
}

/// One membership change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Add members as learners: (slot, address).
    AddLearners(Vec<(Slot, String)>),
    /// Remove voters (members that left) before removing them as nodes.
    RemoveVoters(BTreeSet<Slot>),
    /// Remove nodes (members that left).
    RemoveNodes(BTreeSet<Slot>),
    /// Promote learners.
    AddVoters(BTreeSet<Slot>),
    /// Make these the voters (replacing voters down for long).
    ReplaceVoters(BTreeSet<Slot>),
}

/// How many voters the store wants with `active` members.
pub fn wanted_voters(active: usize) -> usize {
    if active >= 5 { 5 } else { active.min(3) }
}

/// The change to make now, if any (one per round, in rule order).
pub fn plan(seen: &Seen) -> Option<Change> {
    let in_raft = |slot: &Slot| seen.voters.contains(slot) || seen.learners.contains(slot);
    let new: Vec<(Slot, String)> = seen
        .members
        .values()
        .filter(|m| !m.left && !in_raft(&m.slot))
        .map(|m| (m.slot, m.addr.clone()))
        .collect();
    if !new.is_empty() {
        return Some(Change::AddLearners(new));
    }
    let gone: BTreeSet<Slot> = seen
        .members
        .values()
        .filter(|m| m.left && in_raft(&m.slot))
        .map(|m| m.slot)
        .collect();
    if !gone.is_empty() {
        let leaving: BTreeSet<Slot> = gone.intersection(&seen.voters).copied().collect();
        if !leaving.is_empty() && leaving.len() < seen.voters.len() {
            return Some(Change::RemoveVoters(leaving));
        }
        if leaving.is_empty() {
            return Some(Change::RemoveNodes(gone));
        }
    }
    // Healthy learners, in slot order.
    let mut candidates = seen
        .learners
        .iter()
        .filter(|s| seen.up.contains(s) && seen.caught_up.contains(s))
        .filter(|s| seen.members.get(s).is_some_and(|m| !m.left));
    let active = seen.members.values().filter(|m| !m.left).count();
    let wanted = wanted_voters(active);
    if seen.voters.len() < wanted {
        let add: BTreeSet<Slot> = candidates
            .by_ref()
            .take(wanted - seen.voters.len())
            .copied()
            .collect();
        return (!add.is_empty()).then_some(Change::AddVoters(add));
    }
    let replaceable: Vec<Slot> = seen
        .voters
        .iter()
        .filter(|v| seen.down_long.contains(v) && !seen.up.contains(v))
        .copied()
        .collect();
    let voters_up = seen.voters.iter().filter(|v| seen.up.contains(v)).count();
    if replaceable.is_empty() || voters_up * 2 <= seen.voters.len() {
        return None;
    }
    let incoming: Vec<Slot> = candidates.take(replaceable.len()).copied().collect();
    if incoming.is_empty() {
        return None;
    }
    let mut next = seen.voters.clone();
    for (out, into) in replaceable.iter().zip(&incoming) {
        next.remove(out);
        next.insert(*into);
    }
    Some(Change::ReplaceVoters(next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sl(n: u64) -> Slot {
        Slot::new(n).unwrap()
    }

    fn member(slot: u64, left: bool) -> Member {
        Member {
            left,
            ..Member::for_test(slot, &[])
        }
    }

    fn set(slots: &[u64]) -> BTreeSet<Slot> {
        slots.iter().copied().map(sl).collect()
    }

    /// `n` members, voters and learners as given, all up and caught up.
    fn seen(n: u64, voters: &[u64], learners: &[u64]) -> Seen {
        Seen {
            members: (1..=n).map(|s| (sl(s), member(s, false))).collect(),
            voters: set(voters),
            learners: set(learners),
            up: (1..=n).map(sl).collect(),
            caught_up: set(learners),
            down_long: BTreeSet::new(),
        }
    }

    #[test]
    fn wanted_voters_are_three_then_five() {
        assert_eq!(
            [1, 2, 3, 4, 5, 7, 100].map(wanted_voters),
            [1, 2, 3, 3, 5, 5, 5]
        );
    }

    #[test]
    fn the_rules_in_order() {
        // New members become learners first.
        let mut s = seen(4, &[1, 2, 3], &[]);
        assert_eq!(
            plan(&s),
            Some(Change::AddLearners(vec![(sl(4), "127.0.0.1:7004".into())]))
        );
        // Three members: three voters from caught-up learners that are up.
        s = seen(3, &[1], &[2, 3]);
        assert_eq!(plan(&s), Some(Change::AddVoters(set(&[2, 3]))));
        s.up.remove(&sl(3));
        assert_eq!(plan(&s), Some(Change::AddVoters(set(&[2]))));
        s.caught_up.remove(&sl(2));
        assert_eq!(plan(&s), None);
        // Five members: five voters.
        s = seen(5, &[1, 2, 3], &[4, 5]);
        assert_eq!(plan(&s), Some(Change::AddVoters(set(&[4, 5]))));
        // Members that left: voters out first, then the nodes.
        s = seen(5, &[1, 2, 3, 4, 5], &[]);
        s.members.insert(sl(5), member(5, true));
        assert_eq!(plan(&s), Some(Change::RemoveVoters(set(&[5]))));
        s.voters.remove(&sl(5));
        s.learners.insert(sl(5));
        assert_eq!(plan(&s), Some(Change::RemoveNodes(set(&[5]))));
        // Settled: nothing.
        assert_eq!(plan(&seen(7, &[1, 2, 3, 4, 5], &[6, 7])), None);
    }

    #[test]
    fn a_voter_down_for_long_is_replaced_while_a_majority_is_up() {
        let mut s = seen(7, &[1, 2, 3, 4, 5], &[6, 7]);
        // Down, but not for long yet: wait (it may be restarting).
        s.up.remove(&sl(2));
        assert_eq!(plan(&s), None);
        // Down for long: a healthy learner takes its place in one change.
        s.down_long.insert(sl(2));
        assert_eq!(plan(&s), Some(Change::ReplaceVoters(set(&[1, 3, 4, 5, 6]))));
        // Two down for long: both replaced, as far as learners allow.
        s.up.remove(&sl(3));
        s.down_long.insert(sl(3));
        assert_eq!(plan(&s), Some(Change::ReplaceVoters(set(&[1, 4, 5, 6, 7]))));
        s.caught_up.remove(&sl(7));
        assert_eq!(plan(&s), Some(Change::ReplaceVoters(set(&[1, 3, 4, 5, 6]))));
        // No majority of voters up: nothing can commit, nothing is tried.
        s.up.remove(&sl(4));
        s.down_long.insert(sl(4));
        assert_eq!(plan(&s), None);
        // No healthy learner: nothing to replace with.
        let mut t = seen(5, &[1, 2, 3, 4, 5], &[]);
        t.up.remove(&sl(1));
        t.down_long.insert(sl(1));
        assert_eq!(plan(&t), None);
    }
}
