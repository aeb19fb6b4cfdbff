//! Built views, kept until the graph changes: many pages open on one graph
//! that changes once a second ask for the same view many times in between.
//! An entry is valid while the [`ChangeFeed`](crate::ChangeFeed)'s sequence
//! number is the one it was built at; the number is read before building,
//! so a change landing during a build makes the next request build again.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Bytes;

/// Views kept at most; a full cache starts over.
const ENTRIES: usize = 64;

#[derive(Default)]
pub struct ViewCache {
    entries: Mutex<HashMap<String, (u64, Bytes)>>,
}

impl ViewCache {
    pub fn get(&self, key: &str, seq: u64) -> Option<Bytes> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(at, _)| *at == seq)
            .map(|(_, b)| b.clone())
    }

    pub fn put(&self, key: String, seq: u64, body: Bytes) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= ENTRIES && !entries.contains_key(&key) {
            entries.clear();
        }
        entries.insert(key, (seq, body));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_lives_until_the_sequence_moves() {
        let c = ViewCache::default();
        c.put("v".into(), 3, Bytes::from_static(b"x"));
        assert_eq!(c.get("v", 3).as_deref(), Some(&b"x"[..]));
        assert_eq!(c.get("v", 4), None);
        assert_eq!(c.get("w", 3), None);
    }
}
