//! Associative arrays that list their keys in bash's order.
//!
//! bash keeps an associative array in a hash table of 1024 buckets keyed
//! by the FNV-1 hash of the key; it lists the buckets in order, and a
//! bucket's entries newest first. Scripts print `${!m[@]}` and
//! `declare -p m`, so nsh lists them the same way: each entry remembers
//! when it was added, and listing sorts by (bucket, newest first).
//! (bash grows the table past 2,048 keys, which reorders it; nsh keeps the
//! 1024-bucket order at any size.)

use std::collections::HashMap;

/// bash's bucket count for an associative array.
const BUCKETS: u32 = 1024;

/// An associative array: keys to values, listed in bash's order.
#[derive(Clone, Debug, Default)]
pub struct Assoc {
    entries: HashMap<String, Entry>,
    added: u64,
}

#[derive(Clone, Debug)]
struct Entry {
    value: String,
    /// When the key was added (a later change of its value keeps it).
    added: u64,
}

/// bash's `hash_string`: 32-bit FNV-1.
fn bucket(key: &str) -> u32 {
    let mut hash: u32 = 2_166_136_261;
    for byte in key.bytes() {
        hash = hash.wrapping_mul(16_777_619);
        hash ^= u32::from(byte);
    }
    hash & (BUCKETS - 1)
}

impl Assoc {
    pub fn get(&self, key: &str) -> Option<&String> {
        self.entries.get(key).map(|e| &e.value)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    /// Sets `key`; a key already there keeps its place.
    pub fn insert(&mut self, key: String, value: String) -> Option<String> {
        if let Some(entry) = self.entries.get_mut(&key) {
            return Some(std::mem::replace(&mut entry.value, value));
        }
        self.added += 1;
        let added = self.added;
        self.entries.insert(key, Entry { value, added });
        None
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.entries.remove(key).map(|e| e.value)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keys and values in bash's order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        let mut listed: Vec<(&String, &Entry)> = self.entries.iter().collect();
        listed.sort_by_key(|(key, entry)| (bucket(key), std::cmp::Reverse(entry.added)));
        listed.into_iter().map(|(key, entry)| (key, &entry.value))
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.iter().map(|(key, _)| key)
    }

    pub fn values(&self) -> impl Iterator<Item = &String> {
        self.iter().map(|(_, value)| value)
    }
}

/// Equal when they hold the same keys and values (whatever the order).
impl PartialEq for Assoc {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .entries
                .iter()
                .all(|(k, e)| other.get(k) == Some(&e.value))
    }
}

impl Eq for Assoc {}

impl FromIterator<(String, String)> for Assoc {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(items: I) -> Self {
        let mut assoc = Assoc::default();
        for (key, value) in items {
            assoc.insert(key, value);
        }
        assoc
    }
}

impl<const N: usize> From<[(String, String); N]> for Assoc {
    fn from(items: [(String, String); N]) -> Self {
        items.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(pairs: &[&str]) -> Vec<String> {
        let assoc: Assoc = pairs
            .iter()
            .map(|k| (k.to_string(), String::new()))
            .collect();
        assoc.keys().cloned().collect()
    }

    #[test]
    fn keys_come_in_bashs_order() {
        // What bash 5.2 prints for these (`declare -p`, `${!m[@]}`).
        assert_eq!(keys(&["a", "b", "c"]), ["c", "b", "a"]);
        assert_eq!(keys(&["mon", "sun", "1"]), ["sun", "1", "mon"]);
        assert_eq!(keys(&["a", "b", "0"]), ["0", "b", "a"]);
        assert_eq!(keys(&["foo", "\x1f"]), ["\x1f", "foo"]);
    }
}
