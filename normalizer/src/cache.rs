//! A bounded map for the normalizer's per-element state.
//!
//! Two generations: lookups check the young one, then the old one (moving a
//! hit back to young); when young reaches half the capacity, old is dropped
//! and young becomes old. Memory stays under `capacity` entries with O(1)
//! work per lookup, and what was used recently survives. Forgetting an
//! element is always safe: its next observation becomes a full upsert.

use std::hash::Hash;

// Keys are ids the normalizer itself hashes into a private map: a fast
// non-keyed hash is enough, and SipHash was a tenth of its CPU time.
use rustc_hash::FxHashMap as HashMap;

pub struct Bounded<K, V> {
    young: HashMap<K, V>,
    old: HashMap<K, V>,
    half: usize,
}

impl<K: Hash + Eq + Clone, V: Default> Bounded<K, V> {
    pub fn new(capacity: usize) -> Self {
        Bounded { young: HashMap::default(), old: HashMap::default(), half: (capacity / 2).max(1) }
    }

    pub fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entry for `key`, created empty if it is not remembered.
    pub fn entry(&mut self, key: &K) -> &mut V {
        if self.young.contains_key(key) {
            // A hit costs a second lookup but no clone of the key.
            return self.young.get_mut(key).expect("present: checked just above");
        }
        if self.young.len() >= self.half {
            self.old = std::mem::take(&mut self.young);
        }
        let value = self.old.remove(key).unwrap_or_default();
        self.young.entry(key.clone()).or_insert(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_within_capacity_and_keeps_recent_entries() {
        let mut c: Bounded<u32, u32> = Bounded::new(100);
        for i in 0..1000 {
            *c.entry(&i) = i;
            *c.entry(&0) += 0; // keep 0 warm
            assert!(c.len() <= 100, "len {} at {i}", c.len());
        }
        assert_eq!(*c.entry(&0), 0);
        assert_eq!(*c.entry(&999), 999, "the newest entry survives");
        assert_eq!(*c.entry(&1), 0, "an old entry was forgotten and comes back empty");
    }
}
