//! A bounded map for the normalizer's per-element state.
//!
//! Two generations: lookups check the young one, then the old one (moving a
//! hit back to young); when young reaches half the capacity, old is dropped
//! and young becomes old. Memory stays under `capacity` entries with O(1)
//! work per lookup, and what was used recently survives. Forgetting an
//! element is always safe: its next observation becomes a full upsert.
//!
//! A generation that grows past an eighth of its bound takes a table of the
//! full bound at once: a large first sync otherwise spends a third of its
//! time rehashing every entry at each doubling.

use std::hash::{BuildHasher, Hash};

use hashbrown::HashTable;
// Keys are ids the normalizer itself hashes into a private map: a fast
// non-keyed hash is enough, and SipHash was a tenth of its CPU time.
use rustc_hash::FxBuildHasher;

pub struct Bounded<K, V> {
    young: HashTable<(K, V)>,
    old: HashTable<(K, V)>,
    half: usize,
    hasher: FxBuildHasher,
}

impl<K: Hash + Eq + Clone, V: Default> Bounded<K, V> {
    pub fn new(capacity: usize) -> Self {
        Bounded {
            young: HashTable::new(),
            old: HashTable::new(),
            half: (capacity / 2).max(1),
            hasher: FxBuildHasher,
        }
    }

    pub fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entry for `key`, created empty if it is not remembered. The key
    /// is hashed once, and cloned only when it is inserted.
    pub fn entry(&mut self, key: &K) -> &mut V {
        let Bounded {
            young,
            old,
            half,
            hasher,
        } = self;
        let hasher = *hasher;
        let hash = hasher.hash_one(key);
        let absent = match young.find_entry(hash, |(k, _)| k == key) {
            Ok(hit) => return &mut hit.into_mut().1,
            Err(absent) => absent,
        };
        let young = absent.into_table();
        let value = match old.find_entry(hash, |(k, _)| k == key) {
            Ok(found) => found.remove().0.1,
            Err(_) => V::default(),
        };
        let rehash = move |(k, _): &(K, V)| hasher.hash_one(k);
        if young.len() >= *half {
            // The state is at its bound: the next generation will fill too.
            *old = std::mem::replace(young, HashTable::with_capacity(*half));
        } else if young.len() == *half / 8 {
            young.reserve(*half - young.len(), rehash);
        }
        &mut young
            .insert_unique(hash, (key.clone(), value), rehash)
            .into_mut()
            .1
    }

    /// Drops what is remembered of `key`, if anything.
    pub fn forget(&mut self, key: &K) {
        let hash = self.hasher.hash_one(key);
        for table in [&mut self.young, &mut self.old] {
            if let Ok(found) = table.find_entry(hash, |(k, _)| k == key) {
                found.remove();
            }
        }
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
        assert_eq!(
            *c.entry(&1),
            0,
            "an old entry was forgotten and comes back empty"
        );
    }
}
