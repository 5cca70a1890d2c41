//! Array-aware reads and writes of shell variables for parameter and
//! arithmetic expansion: `a[i]` of an indexed array (negative indexes count
//! from the end), `m[key]` of an associative one, a scalar seen as an array
//! of one element, and assignments that keep `declare -i` and `readonly`.

use crate::vars::{Value, Vars};

use super::ExpandError;

pub use crate::vars::Key;

/// Whether `name` is an associative array.
pub fn is_assoc(vars: &Vars, name: &str) -> bool {
    vars.is_assoc(name)
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

fn var_error(err: crate::vars::VarError) -> ExpandError {
    ExpandError::new(err.to_string())
}

/// Whether `name` has the integer attribute (`declare -i`).
pub fn is_integer(vars: &Vars, name: &str) -> bool {
    vars.lookup(name).is_some_and(|v| v.integer)
}

/// Assigns a scalar (element 0 of an array).
pub fn set_scalar(vars: &mut Vars, name: &str, value: String) -> Result<(), ExpandError> {
    vars.set(name, value).map_err(var_error)
}

/// Assigns one element, making the variable an array as needed (a scalar
/// becomes element 0 of the new indexed array).
pub fn set_element(
    vars: &mut Vars,
    name: &str,
    key: Key,
    value: String,
) -> Result<(), ExpandError> {
    let shown = key.clone();
    match vars.set_element(name, key, value) {
        Ok(true) => Ok(()),
        Ok(false) => Err(ExpandError::new(format!(
            "{name}[{}]: bad array subscript",
            match shown {
                Key::Index(i) => i.to_string(),
                Key::Name(k) => k,
            }
        ))),
        Err(e) => Err(var_error(e)),
    }
}
