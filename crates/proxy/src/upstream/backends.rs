//! Weighted choice among a rule's backendRefs.

use std::sync::Arc;

use rand::Rng;

use super::cluster::ClusterState;
use crate::filters::Filter;

#[derive(Debug)]
pub enum Target {
    Cluster(Arc<ClusterState>),
    /// Unresolvable reference: requests that pick it get 500.
    Invalid(Arc<str>),
}

#[derive(Debug)]
pub struct Backend {
    pub target: Target,
    /// `backendRefs[].filters`, applied after the rule's filters.
    pub filters: Vec<Filter>,
}

/// Backends with non-zero weight and their cumulative weights.
#[derive(Debug, Default)]
pub struct BackendSet {
    entries: Vec<(u64, Backend)>,
    total: u64,
}

impl BackendSet {
    /// `backends` as (weight, backend); weight 0 is never chosen.
    pub fn new(backends: impl IntoIterator<Item = (u32, Backend)>) -> BackendSet {
        let mut total = 0u64;
        let mut entries = Vec::new();
        for (weight, backend) in backends {
            if weight == 0 {
                continue;
            }
            total += u64::from(weight);
            entries.push((total, backend));
        }
        BackendSet { entries, total }
    }

    /// `None` when there is no backend with a positive weight (500).
    pub fn pick(&self) -> Option<&Backend> {
        match self.entries.len() {
            0 => None,
            1 => Some(&self.entries[0].1),
            _ => {
                let r = rand::rng().random_range(0..self.total);
                self.pick_at(r)
            }
        }
    }

    /// The backend owning point `r` in `[0, total)`.
    fn pick_at(&self, r: u64) -> Option<&Backend> {
        let i = self.entries.partition_point(|(cum, _)| *cum <= r);
        self.entries.get(i).map(|(_, b)| b)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Backends with a positive weight, in rule order.
    pub fn iter(&self) -> impl Iterator<Item = &Backend> {
        self.entries.iter().map(|(_, b)| b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(name: &str) -> Backend {
        Backend {
            target: Target::Invalid(name.into()),
            filters: Vec::new(),
        }
    }

    fn name(b: &Backend) -> &str {
        match &b.target {
            Target::Invalid(n) => n,
            Target::Cluster(_) => "cluster",
        }
    }

    #[test]
    fn cumulative_points() {
        let set = BackendSet::new([(1, invalid("a")), (0, invalid("zero")), (3, invalid("b"))]);
        assert_eq!(set.total, 4);
        assert_eq!(name(set.pick_at(0).unwrap()), "a");
        assert_eq!(name(set.pick_at(1).unwrap()), "b");
        assert_eq!(name(set.pick_at(3).unwrap()), "b");
        assert!(set.pick_at(4).is_none());
    }

    #[test]
    fn zero_weight_never_and_empty_none() {
        let set = BackendSet::new([(0, invalid("zero")), (5, invalid("only"))]);
        for _ in 0..100 {
            assert_eq!(name(set.pick().unwrap()), "only");
        }
        assert!(BackendSet::new([(0, invalid("zero"))]).pick().is_none());
        assert!(BackendSet::default().pick().is_none());
    }

    #[test]
    fn weights_are_respected_statistically() {
        let set = BackendSet::new([(1, invalid("a")), (3, invalid("b"))]);
        let b = (0..4000)
            .filter(|_| name(set.pick().unwrap()) == "b")
            .count();
        // Expected 3000; generous bounds.
        assert!((2600..3400).contains(&b), "{b}");
    }
}
