//! Properties by name: the map every observation and graph change carries.
//!
//! A name-sorted list rather than a tree. An element has about a dozen
//! properties; at that size a list is built, searched and dropped several
//! times faster than a `BTreeMap` (whose node handling was a third of
//! decoding an observation), and it keeps the same order, so encodings and
//! generated Cypher stay stable. Lookups are binary searches.

use crate::value::Value;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Properties(Vec<(String, Value)>);

impl Properties {
    pub fn new() -> Self {
        Properties(Vec::new())
    }

    pub fn with_capacity(capacity: usize) -> Self {
        Properties(Vec::with_capacity(capacity))
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(name))
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.find(name).ok().map(|i| &self.0[i].1)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.find(name).is_ok()
    }

    /// Sets `name`, returning the value it replaced.
    pub fn insert(&mut self, name: String, value: Value) -> Option<Value> {
        // Names usually arrive in order (decoders, builders): try the end first.
        if self.0.last().is_none_or(|(last, _)| *last < name) {
            self.0.push((name, value));
            return None;
        }
        match self.find(&name) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (name, value));
                None
            }
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<Value> {
        self.find(name).ok().map(|i| self.0.remove(i).1)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// In name order.
    pub fn iter(&self) -> Iter<'_> {
        self.0
            .iter()
            .map(pair as fn(&(String, Value)) -> (&String, &Value))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &String> + ExactSizeIterator {
        self.0.iter().map(|(k, _)| k)
    }

    /// In name order, each value changeable (names are not: they keep the order).
    pub fn values_mut(&mut self) -> impl Iterator<Item = (&str, &mut Value)> {
        self.0.iter_mut().map(|(k, v)| (k.as_str(), v))
    }
}

fn pair((k, v): &(String, Value)) -> (&String, &Value) {
    (k, v)
}

/// Borrowing iterator, in name order, with the item shape of a map's.
pub type Iter<'a> = std::iter::Map<
    std::slice::Iter<'a, (String, Value)>,
    fn(&'a (String, Value)) -> (&'a String, &'a Value),
>;

impl<'a> IntoIterator for &'a Properties {
    type Item = (&'a String, &'a Value);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl IntoIterator for Properties {
    type Item = (String, Value);
    type IntoIter = std::vec::IntoIter<(String, Value)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// As for a map: sorted by name, and of repeated names the last one wins.
impl FromIterator<(String, Value)> for Properties {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        let mut all: Vec<(String, Value)> = iter.into_iter().collect();
        if all.is_sorted_by(|a, b| a.0 < b.0) {
            return Properties(all);
        }
        // Stable, so among equal names the later stays later.
        all.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(String, Value)> = Vec::with_capacity(all.len());
        for (k, v) in all {
            match out.last_mut() {
                Some(last) if last.0 == k => last.1 = v,
                _ => out.push((k, v)),
            }
        }
        Properties(out)
    }
}

impl<const N: usize> From<[(String, Value); N]> for Properties {
    fn from(pairs: [(String, Value); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl Extend<(String, Value)> for Properties {
    fn extend<I: IntoIterator<Item = (String, Value)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    fn ops() -> impl Strategy<Value = Vec<(String, i64, bool)>> {
        prop::collection::vec(("[a-e]{1,2}", any::<i64>(), any::<bool>()), 0..40)
    }

    proptest! {
        /// Any sequence of inserts and removes leaves the same contents, in
        /// the same order, as a `BTreeMap` given the same sequence.
        #[test]
        fn behaves_like_a_sorted_map(ops in ops()) {
            let (mut list, mut tree) = (Properties::new(), BTreeMap::new());
            for (name, n, remove) in ops {
                if remove {
                    prop_assert_eq!(list.remove(&name), tree.remove(&name));
                } else {
                    prop_assert_eq!(list.insert(name.clone(), Value::Long(n)), tree.insert(name, Value::Long(n)));
                }
            }
            prop_assert!(list.iter().eq(tree.iter()));
            for name in tree.keys() {
                prop_assert_eq!(list.get(name), tree.get(name));
            }
            prop_assert_eq!(list.get("zz"), None);
        }

        #[test]
        fn collects_like_a_sorted_map(pairs in prop::collection::vec(("[a-e]{1,2}", any::<i64>()), 0..40)) {
            let list: Properties = pairs.iter().map(|(k, v)| (k.clone(), Value::Long(*v))).collect();
            let tree: BTreeMap<String, Value> = pairs.into_iter().map(|(k, v)| (k, Value::Long(v))).collect();
            prop_assert!(list.iter().eq(tree.iter()));
        }
    }
}
