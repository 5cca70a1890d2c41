//! Array-aware reads and writes of shell variables for parameter and
//! arithmetic expansion: `a[i]` of an indexed array (negative indexes count
//! from the end), `m[key]` of an associative one, a scalar seen as an array
//! of one element, and assignments that keep `declare -i` and `readonly`.

use crate::vars::{Value, Vars};

use super::ExpandError;

/// The subscript of an element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Index(i64),
    Name(String),
}

/// Whether `name` is an associative array.
pub fn is_assoc(vars: &Vars, name: &str) -> bool {
    matches!(vars.value(name), Some(Value::Assoc(_)))
}

/// Resolves a negative index against the indexed array `name`: `-1` is the
/// last element. `None` when it falls before the start.
pub fn resolve_index(vars: &Vars, name: &str, index: i64) -> Option<i64> {
    if index >= 0 {
        return Some(index);
    }
    let end = match vars.value(name) {
        Some(Value::Indexed(map)) => map.keys().next_back().map_or(0, |&k| k + 1),
        Some(Value::Str(_)) => 1,
        _ => 0,
    };
    let resolved = end + index;
    (resolved >= 0).then_some(resolved)
}

/// The element `key` of `name` (a scalar is element 0).
pub fn element<'v>(vars: &'v Vars, name: &str, key: &Key) -> Option<&'v str> {
    match (vars.value(name)?, key) {
        (Value::Str(s), Key::Index(0)) => Some(s),
        (Value::Str(s), Key::Name(k)) if k == "0" => Some(s),
        (Value::Str(_), _) => None,
        (Value::Indexed(map), Key::Index(i)) => map.get(i).map(String::as_str),
        (Value::Indexed(_), Key::Name(_)) => None,
        (Value::Assoc(map), Key::Name(k)) => map.get(k).map(String::as_str),
        (Value::Assoc(map), Key::Index(i)) => map.get(&i.to_string()).map(String::as_str),
    }
}

/// All element values of `name` in index or key order (a scalar is one
/// element, an unset variable none).
pub fn values(vars: &Vars, name: &str) -> Vec<String> {
    match vars.value(name) {
        None => Vec::new(),
        Some(Value::Str(s)) => vec![s.clone()],
        Some(Value::Indexed(map)) => map.values().cloned().collect(),
        Some(Value::Assoc(map)) => map.values().cloned().collect(),
    }
}

/// The subscripts of `name` (`${!a[@]}`).
pub fn keys(vars: &Vars, name: &str) -> Vec<String> {
    match vars.value(name) {
        None => Vec::new(),
        Some(Value::Str(_)) => vec!["0".to_string()],
        Some(Value::Indexed(map)) => map.keys().map(i64::to_string).collect(),
        Some(Value::Assoc(map)) => map.keys().cloned().collect(),
    }
}

fn readonly(err: crate::vars::ReadonlyError) -> ExpandError {
    ExpandError::new(err.to_string())
}

/// Whether `name` has the integer attribute (`declare -i`).
pub fn is_integer(vars: &Vars, name: &str) -> bool {
    vars.lookup(name).is_some_and(|v| v.integer)
}

/// Assigns a scalar (element 0 of an array).
pub fn set_scalar(vars: &mut Vars, name: &str, value: String) -> Result<(), ExpandError> {
    vars.set(name, value).map_err(readonly)
}

/// Assigns one element, making the variable an array as needed (a scalar
/// becomes element 0 of the new indexed array).
pub fn set_element(
    vars: &mut Vars,
    name: &str,
    key: Key,
    value: String,
) -> Result<(), ExpandError> {
    if vars.lookup(name).is_some_and(|v| v.readonly) {
        return Err(ExpandError::new(format!("{name}: readonly variable")));
    }
    let new = match (vars.value(name).cloned(), key) {
        (Some(Value::Assoc(mut map)), key) => {
            let key = match key {
                Key::Name(k) => k,
                Key::Index(i) => i.to_string(),
            };
            map.insert(key, value);
            Value::Assoc(map)
        }
        (old, Key::Index(i)) => {
            let mut map = match old {
                Some(Value::Indexed(map)) => map,
                Some(Value::Str(s)) => [(0, s)].into_iter().collect(),
                _ => Default::default(),
            };
            let Some(i) = resolve_index_in(&map, i) else {
                return Err(ExpandError::new(format!(
                    "{name}[{i}]: bad array subscript"
                )));
            };
            map.insert(i, value);
            Value::Indexed(map)
        }
        (_, Key::Name(k)) => {
            return Err(ExpandError::new(format!(
                "{name}[{k}]: not an associative array"
            )));
        }
    };
    vars.set_value(name, new).map_err(readonly)
}

fn resolve_index_in(map: &std::collections::BTreeMap<i64, String>, index: i64) -> Option<i64> {
    if index >= 0 {
        return Some(index);
    }
    let end = map.keys().next_back().map_or(0, |&k| k + 1);
    (end + index >= 0).then_some(end + index)
}
