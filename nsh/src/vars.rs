//! Shell variables: scalars and arrays with bash's dynamic scoping.
//!
//! One [`Vars`] belongs to each shell state; subshells, pipeline elements
//! and `$(..)` work on a clone. `local` pushes the name into the innermost
//! function frame; lookups walk the frames from the innermost outwards and
//! end at the globals, as in bash.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

mod assoc;
pub use assoc::Assoc;
use std::sync::Arc;

/// The value of a variable. Arrays are here so bash's arrays fit without a
/// change of representation; POSIX code only sees `Str`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Str(String),
    /// Indexed array: sparse, ordered by index.
    Indexed(BTreeMap<i64, String>),
    /// Associative array, listed in bash's order.
    Assoc(Assoc),
}

impl Value {
    /// The scalar view: a string itself, element 0 of an indexed array,
    /// key "0" of an associative one (as bash does for `$a`).
    pub fn scalar(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            Value::Indexed(map) => map.get(&0).map(String::as_str),
            Value::Assoc(map) => map.get("0").map(String::as_str),
        }
    }
}

/// The kind of a variable's value: what `declare -a`/`-A` make a variable
/// before it has a value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Shape {
    #[default]
    Scalar,
    Indexed,
    Assoc,
}

/// The subscript of an array element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Index(i64),
    Name(String),
}

/// One variable with its attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Var {
    /// `None` for a declared but unset variable (`local x`, `export x`,
    /// `declare -A m`).
    pub value: Option<Value>,
    pub exported: bool,
    pub readonly: bool,
    /// `declare -i`: assignments are evaluated arithmetically.
    pub integer: bool,
    /// `declare -a`/`-A` on a variable without a value yet; once it has
    /// one, the value's own kind counts (see [`Var::shape`]).
    pub declared: Shape,
    /// `declare -n`: the value names the variable that reads and writes
    /// reach (see [`Vars::resolve`]).
    pub nameref: bool,
}

impl Var {
    pub fn new(value: impl Into<String>) -> Self {
        Var {
            value: Some(Value::Str(value.into())),
            ..Var::unset()
        }
    }

    /// A declared variable without a value or attributes.
    pub fn unset() -> Self {
        Var {
            value: None,
            exported: false,
            readonly: false,
            integer: false,
            declared: Shape::Scalar,
            nameref: false,
        }
    }

    /// The kind of the variable: its value's, or the declared one.
    pub fn shape(&self) -> Shape {
        match &self.value {
            Some(Value::Str(_)) => Shape::Scalar,
            Some(Value::Indexed(_)) => Shape::Indexed,
            Some(Value::Assoc(_)) => Shape::Assoc,
            None => self.declared,
        }
    }
}

/// Where `declare` and friends put a variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The visible one: a local if one is in scope, else a global.
    Visible,
    /// The innermost function frame (the globals outside functions).
    Local,
    /// The globals (`declare -g`).
    Global,
}

/// A variable that cannot be changed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VarError {
    #[error("{0}: readonly variable")]
    Readonly(String),
    /// Namerefs that lead back to themselves.
    #[error("{0}: circular name reference")]
    Circular(String),
}

/// How many namerefs a name may go through (bash: 8 levels of `-n`).
const NAMEREF_DEPTH: usize = 8;

/// Variables by name. Each is shared behind an `Arc` and copied on its
/// first change ([`Arc::make_mut`]): a subshell's clone of the variables
/// (`$(..)`, `( .. )`, every pipeline element) costs a pointer per
/// variable, not a copy of every array, and a variable is copied only by
/// the side that changes it while both hold it.
type Frame = HashMap<String, Arc<Var>>;

/// All variables of one shell state.
#[derive(Clone, Debug, Default)]
pub struct Vars {
    globals: Frame,
    /// Function frames, innermost last; each holds the names made `local`.
    frames: Vec<Frame>,
    /// A nameref was ever declared: until then no name needs resolving.
    namerefs: bool,
}

impl Vars {
    /// Starts from the process environment, every variable exported.
    pub fn from_env() -> Self {
        let mut vars = Vars::default();
        for (name, value) in std::env::vars_os() {
            if let (Some(name), Some(value)) = (name.to_str(), value.to_str()) {
                let mut var = Var::new(value);
                var.exported = true;
                vars.globals.insert(name.to_string(), Arc::new(var));
            }
        }
        vars
    }

    /// The name `name` leads to through namerefs (`declare -n ref=x`:
    /// `ref` leads to `x`); `name` itself when it is no nameref, or one
    /// without a valid target (unset, empty, `1`). The target may carry a
    /// subscript (`a[2]`), which the expansion code evaluates.
    pub fn resolve<'n>(&self, name: &'n str) -> Result<Cow<'n, str>, VarError> {
        if !self.namerefs {
            return Ok(Cow::Borrowed(name));
        }
        let mut current = Cow::Borrowed(name);
        for _ in 0..=NAMEREF_DEPTH {
            match self.lookup_ref(&current) {
                Some(Var {
                    nameref: true,
                    value: Some(Value::Str(target)),
                    ..
                }) if is_ref_target(target) => current = Cow::Owned(target.clone()),
                _ => return Ok(current),
            }
        }
        Err(VarError::Circular(name.to_string()))
    }

    /// The variable `name` itself as seen from the current scope, not
    /// what a nameref leads to (`declare -p ref`, `unset -n`).
    pub fn lookup_ref(&self, name: &str) -> Option<&Var> {
        for frame in self.frames.iter().rev() {
            if let Some(var) = frame.get(name) {
                return Some(var);
            }
        }
        self.globals.get(name).map(|v| &**v)
    }

    /// The variable as seen from the current scope, through namerefs.
    pub fn lookup(&self, name: &str) -> Option<&Var> {
        if !self.namerefs {
            return self.lookup_ref(name);
        }
        self.lookup_ref(&self.resolve(name).ok()?)
    }

    fn lookup_mut(&mut self, name: &str) -> Option<&mut Var> {
        for frame in self.frames.iter_mut().rev() {
            if let Some(var) = frame.get_mut(name) {
                return Some(Arc::make_mut(var));
            }
        }
        self.globals.get_mut(name).map(Arc::make_mut)
    }

    /// Notes that namerefs exist from now on (`declare -n`).
    pub fn enable_namerefs(&mut self) {
        self.namerefs = true;
    }

    /// The scalar value of a set variable.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.lookup(name)?.value.as_ref()?.scalar()
    }

    /// The value of a set variable.
    pub fn value(&self, name: &str) -> Option<&Value> {
        self.lookup(name)?.value.as_ref()
    }

    /// Whether the variable is set (declared-only variables are not).
    pub fn is_set(&self, name: &str) -> bool {
        self.value(name).is_some()
    }

    /// Sets a scalar in the scope where the name lives (a local if one is
    /// visible, else a global). Setting a scalar on an indexed array sets
    /// element 0, as bash does.
    pub fn set(&mut self, name: &str, value: impl Into<String>) -> Result<(), VarError> {
        let value = value.into();
        let name = &*self.resolve(name)?;
        match self.lookup_mut(name) {
            Some(var) if var.readonly => Err(VarError::Readonly(name.to_string())),
            Some(var) => {
                match (&mut var.value, var.declared) {
                    (Some(Value::Indexed(map)), _) => {
                        map.insert(0, value);
                    }
                    (Some(Value::Assoc(map)), _) => {
                        map.insert("0".to_string(), value);
                    }
                    (slot @ None, Shape::Indexed) => {
                        *slot = Some(Value::Indexed([(0, value)].into_iter().collect()));
                    }
                    (slot @ None, Shape::Assoc) => {
                        *slot = Some(Value::Assoc(
                            [("0".to_string(), value)].into_iter().collect(),
                        ));
                    }
                    (slot, _) => *slot = Some(Value::Str(value)),
                }
                Ok(())
            }
            None => {
                self.globals
                    .insert(name.to_string(), Arc::new(Var::new(value)));
                Ok(())
            }
        }
    }

    /// `name+=tail` on a scalar, in place (bash's `+=`): a string grows
    /// without being copied; an array's element 0 or an unset variable
    /// take the general path of [`Vars::set`].
    pub fn append(&mut self, name: &str, tail: &str) -> Result<(), VarError> {
        let name = &*self.resolve(name)?;
        if let Some(var) = self.lookup_mut(name) {
            if var.readonly {
                return Err(VarError::Readonly(name.to_string()));
            }
            if let Some(Value::Str(s)) = &mut var.value {
                s.push_str(tail);
                return Ok(());
            }
        }
        let joined = format!("{}{tail}", self.get(name).unwrap_or_default());
        self.set(name, joined)
    }

    /// Replaces the whole value (arrays included) in the visible scope.
    pub fn set_value(&mut self, name: &str, value: Value) -> Result<(), VarError> {
        let name = &*self.resolve(name)?;
        match self.lookup_mut(name) {
            Some(var) if var.readonly => Err(VarError::Readonly(name.to_string())),
            Some(var) => {
                var.value = Some(value);
                Ok(())
            }
            None => {
                self.globals.insert(
                    name.to_string(),
                    Arc::new(Var {
                        value: Some(value),
                        ..Var::unset()
                    }),
                );
                Ok(())
            }
        }
    }

    /// The variable `name` in `scope`, created unset when missing there (a
    /// new local keeps the export attribute of the variable it shadows).
    /// In the visible scope a nameref leads to its target (a circular one
    /// stays itself); `local` and `declare -g` name the variable itself.
    pub fn entry(&mut self, name: &str, scope: Scope) -> &mut Var {
        if scope == Scope::Visible
            && let Ok(Cow::Owned(target)) = self.resolve(name)
        {
            return self.entry_ref(&target, scope);
        }
        self.entry_ref(name, scope)
    }

    /// The variable `name` itself in `scope` (namerefs not followed).
    pub fn entry_ref(&mut self, name: &str, scope: Scope) -> &mut Var {
        let frame = match scope {
            Scope::Visible => self.frames.iter().rposition(|f| f.contains_key(name)),
            Scope::Local if !self.frames.is_empty() => Some(self.frames.len() - 1),
            _ => None,
        };
        // Looked up before inserting, so an existing name costs no
        // allocation (this runs for every assignment).
        let present = match frame {
            Some(i) => self.frames[i].contains_key(name),
            None => self.globals.contains_key(name),
        };
        if !present {
            let var = Var {
                exported: frame.is_some() && self.lookup(name).is_some_and(|v| v.exported),
                ..Var::unset()
            };
            match frame {
                Some(i) => self.frames[i].insert(name.to_string(), Arc::new(var)),
                None => self.globals.insert(name.to_string(), Arc::new(var)),
            };
        }
        let map = match frame {
            Some(i) => &mut self.frames[i],
            None => &mut self.globals,
        };
        #[allow(clippy::expect_used)]
        Arc::make_mut(map.get_mut(name).expect("present or inserted above"))
    }

    /// Whether `name` is (or was declared) an associative array.
    pub fn is_assoc(&self, name: &str) -> bool {
        self.lookup(name).is_some_and(|v| v.shape() == Shape::Assoc)
    }

    /// Sets one element of an array, making a scalar or unset variable an
    /// indexed array (a scalar becomes its element 0). A negative index
    /// counts from the end; `Ok(false)` when it falls before the start.
    pub fn set_element(&mut self, name: &str, key: Key, value: String) -> Result<bool, VarError> {
        let name = &*self.resolve(name)?;
        if self.lookup(name).is_some_and(|v| v.readonly) {
            return Err(VarError::Readonly(name.to_string()));
        }
        let var = self.entry(name, Scope::Visible);
        let shape = var.shape();
        let slot = &mut var.value;
        if shape == Shape::Assoc {
            let key = match key {
                Key::Name(k) => k,
                Key::Index(i) => i.to_string(),
            };
            match slot {
                Some(Value::Assoc(map)) => {
                    map.insert(key, value);
                }
                _ => *slot = Some(Value::Assoc([(key, value)].into_iter().collect())),
            }
            return Ok(true);
        }
        let index = match key {
            Key::Index(i) => i,
            // The caller evaluates subscripts of indexed arrays.
            Key::Name(k) => k.parse().unwrap_or(0),
        };
        if !matches!(slot, Some(Value::Indexed(_))) {
            let map = match slot.take() {
                Some(Value::Str(s)) => [(0, s)].into_iter().collect(),
                _ => BTreeMap::new(),
            };
            *slot = Some(Value::Indexed(map));
        }
        let Some(Value::Indexed(map)) = slot else {
            return Ok(false);
        };
        let index = if index < 0 {
            let end = map.keys().next_back().map_or(0, |&k| k + 1);
            if end + index < 0 {
                return Ok(false);
            }
            end + index
        } else {
            index
        };
        map.insert(index, value);
        Ok(true)
    }

    /// `unset 'a[i]'`: removes one element (`Ok(false)` when the index is
    /// out of range of an indexed array).
    pub fn unset_element(&mut self, name: &str, key: &Key) -> Result<bool, VarError> {
        let name = &*self.resolve(name)?;
        let Some(var) = self.lookup_mut(name) else {
            return Ok(true);
        };
        if var.readonly {
            return Err(VarError::Readonly(name.to_string()));
        }
        match (&mut var.value, key) {
            (Some(Value::Assoc(map)), Key::Name(k)) => {
                map.remove(k);
            }
            (Some(Value::Assoc(map)), Key::Index(i)) => {
                map.remove(&i.to_string());
            }
            (Some(Value::Indexed(map)), Key::Index(i)) => {
                let end = map.keys().next_back().map_or(0, |&k| k + 1);
                let i = if *i < 0 { end + i } else { *i };
                if i < 0 {
                    return Ok(false);
                }
                map.remove(&i);
            }
            (slot @ Some(Value::Str(_)), Key::Index(0)) => *slot = None,
            _ => {}
        }
        Ok(true)
    }

    /// Changes attributes of the visible variable, creating an unset global
    /// one when the name is new (`export x`, `readonly x`).
    pub fn modify(&mut self, name: &str, change: impl FnOnce(&mut Var)) {
        let resolved = self.resolve(name).unwrap_or(Cow::Borrowed(name));
        let name = &*resolved;
        if self.lookup(name).is_none() {
            self.globals
                .insert(name.to_string(), Arc::new(Var::unset()));
        }
        if let Some(var) = self.lookup_mut(name) {
            change(var);
        }
    }

    /// `unset NAME`: removes the visible variable (a local shadows, so only
    /// the local goes, as in bash's default); a nameref's target.
    pub fn unset(&mut self, name: &str) -> Result<(), VarError> {
        let name = &*self.resolve(name)?.into_owned();
        self.unset_ref(name)
    }

    /// `unset -n NAME`: removes the variable itself, a nameref too.
    pub fn unset_ref(&mut self, name: &str) -> Result<(), VarError> {
        let innermost = self.frames.len().saturating_sub(1);
        for (depth, frame) in self.frames.iter_mut().enumerate().rev() {
            if let Some(var) = frame.get_mut(name) {
                if var.readonly {
                    return Err(VarError::Readonly(name.to_string()));
                }
                // A caller's local goes away, showing the value under it
                // (bash); the function's own stays declared, unset.
                if depth != innermost {
                    frame.remove(name);
                    return Ok(());
                }
                let var = Arc::make_mut(var);
                var.value = None;
                var.declared = Shape::Scalar;
                var.nameref = false;
                return Ok(());
            }
        }
        match self.globals.get(name) {
            Some(var) if var.readonly => Err(VarError::Readonly(name.to_string())),
            _ => {
                self.globals.remove(name);
                Ok(())
            }
        }
    }

    /// Enters a function call.
    pub fn push_frame(&mut self) {
        self.frames.push(HashMap::new());
    }

    /// Leaves a function call, dropping its locals.
    pub fn pop_frame(&mut self) {
        self.frames.pop();
    }

    /// Whether a function is running (where `local` is allowed).
    pub fn in_function(&self) -> bool {
        !self.frames.is_empty()
    }

    /// `local NAME[=VALUE]`: declares NAME in the innermost frame. Without a
    /// value the local starts unset (bash keeps the outer value for arrays
    /// only with `declare -g`; plain `local x` is unset).
    pub fn declare_local(&mut self, name: &str, value: Option<Value>) -> Result<(), VarError> {
        if let Some(var) = self.lookup(name)
            && var.readonly
        {
            return Err(VarError::Readonly(name.to_string()));
        }
        let exported = self.lookup(name).is_some_and(|v| v.exported);
        if let Some(frame) = self.frames.last_mut() {
            let var = Arc::make_mut(frame.entry(name.to_string()).or_insert_with(|| {
                Arc::new(Var {
                    exported,
                    ..Var::unset()
                })
            }));
            if value.is_some() {
                var.value = value;
            }
        }
        Ok(())
    }

    /// The environment handed to commands: every exported variable with a
    /// scalar value, innermost scope winning.
    pub fn exported(&self) -> Vec<(String, String)> {
        let mut seen: HashMap<&str, Option<&str>> = HashMap::new();
        for frame in self.frames.iter().rev() {
            for (name, var) in frame {
                seen.entry(name).or_insert_with(|| exported_scalar(var));
            }
        }
        for (name, var) in &self.globals {
            seen.entry(name).or_insert_with(|| exported_scalar(var));
        }
        let mut env: Vec<(String, String)> = seen
            .into_iter()
            .filter_map(|(name, value)| Some((name.to_string(), value?.to_string())))
            .collect();
        env.sort();
        env
    }

    /// Every visible variable name, declared-only ones too, sorted (for
    /// `declare -p`).
    pub fn declared_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .globals
            .keys()
            .chain(self.frames.iter().flat_map(|f| f.keys()))
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The names made local in the innermost function call.
    pub fn local_names(&self) -> Vec<String> {
        self.frames
            .last()
            .map(|frame| frame.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Every visible variable name, sorted (for `set`, `${!prefix*}`).
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .globals
            .keys()
            .chain(self.frames.iter().flat_map(|f| f.keys()))
            .filter(|name| self.is_set(name))
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// Whether a nameref's value names a variable: `name` or `name[sub]`
/// (bash leaves other values, like `1` or `#`, as plain strings).
pub fn is_ref_target(target: &str) -> bool {
    let name = target.split_once('[').map_or(
        target,
        |(name, rest)| {
            if rest.ends_with(']') { name } else { "" }
        },
    );
    valid_name(name)
}

/// Whether `name` can name a variable.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

fn exported_scalar(var: &Var) -> Option<&str> {
    if !var.exported {
        return None;
    }
    match var.value.as_ref()? {
        Value::Str(s) => Some(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locals_shadow_and_vanish() {
        let mut vars = Vars::default();
        vars.set("x", "global").unwrap();
        vars.push_frame();
        vars.declare_local("x", Some(Value::Str("local".into())))
            .unwrap();
        assert_eq!(vars.get("x"), Some("local"));
        vars.set("x", "changed").unwrap();
        vars.set("y", "new global").unwrap();
        vars.pop_frame();
        assert_eq!(vars.get("x"), Some("global"));
        assert_eq!(vars.get("y"), Some("new global"));
    }

    #[test]
    fn readonly_refuses_assignment_and_unset() {
        let mut vars = Vars::default();
        vars.set("r", "1").unwrap();
        vars.modify("r", |v| v.readonly = true);
        assert_eq!(vars.set("r", "2"), Err(VarError::Readonly("r".into())));
        assert!(vars.unset("r").is_err());
        assert_eq!(vars.get("r"), Some("1"));
    }

    #[test]
    fn only_exported_scalars_reach_the_environment() {
        let mut vars = Vars::default();
        vars.set("a", "1").unwrap();
        vars.set("b", "2").unwrap();
        vars.modify("b", |v| v.exported = true);
        vars.modify("c", |v| v.exported = true);
        assert_eq!(vars.exported(), vec![("b".to_string(), "2".to_string())]);
    }

    #[test]
    fn elements_make_and_grow_arrays() {
        let mut vars = Vars::default();
        vars.set("s", "scalar").unwrap();
        assert_eq!(vars.set_element("s", Key::Index(2), "two".into()), Ok(true));
        assert_eq!(
            vars.value("s"),
            Some(&Value::Indexed(
                [(0, "scalar".to_string()), (2, "two".to_string())].into()
            ))
        );
        // -1 is the last element; before the start is refused.
        assert_eq!(
            vars.set_element("s", Key::Index(-1), "last".into()),
            Ok(true)
        );
        assert_eq!(vars.set_element("s", Key::Index(-9), "x".into()), Ok(false));
        assert_eq!(vars.unset_element("s", &Key::Index(0)), Ok(true));
        assert_eq!(
            vars.value("s"),
            Some(&Value::Indexed([(2, "last".to_string())].into()))
        );
    }

    #[test]
    fn declared_shape_holds_until_a_value_comes() {
        let mut vars = Vars::default();
        vars.entry("m", Scope::Visible).declared = Shape::Assoc;
        assert!(vars.is_assoc("m"));
        assert!(!vars.is_set("m"));
        vars.set_element("m", Key::Name("k".into()), "v".into())
            .unwrap();
        assert_eq!(
            vars.value("m"),
            Some(&Value::Assoc([("k".to_string(), "v".to_string())].into()))
        );
        // A scalar assignment to an array sets element (key) 0.
        vars.set("m", "zero").unwrap();
        assert_eq!(vars.get("m"), Some("zero"));
    }

    #[test]
    fn entry_scopes() {
        let mut vars = Vars::default();
        vars.set("x", "global").unwrap();
        vars.modify("x", |v| v.exported = true);
        vars.push_frame();
        // A new local shadows and keeps the export attribute.
        let local = vars.entry("x", Scope::Local);
        assert!(local.exported && local.value.is_none());
        local.value = Some(Value::Str("local".into()));
        vars.entry("g", Scope::Global).value = Some(Value::Str("g".into()));
        vars.pop_frame();
        assert_eq!(vars.get("x"), Some("global"));
        assert_eq!(vars.get("g"), Some("g"));
    }

    #[test]
    fn namerefs_lead_to_their_target() {
        let mut vars = Vars::default();
        vars.set("x", "X").unwrap();
        vars.enable_namerefs();
        let r = vars.entry_ref("r", Scope::Visible);
        r.nameref = true;
        r.value = Some(Value::Str("x".into()));
        assert_eq!(vars.get("r"), Some("X"));
        vars.set("r", "through").unwrap();
        assert_eq!(vars.get("x"), Some("through"));
        assert_eq!(vars.resolve("r").unwrap(), "x");
        // A value that is no name is not followed.
        vars.entry_ref("r", Scope::Visible).value = Some(Value::Str("1".into()));
        assert_eq!(vars.get("r"), Some("1"));
        // A cycle reads as unset and refuses writes.
        for (a, b) in [("p", "q"), ("q", "p")] {
            let var = vars.entry_ref(a, Scope::Visible);
            var.nameref = true;
            var.value = Some(Value::Str(b.into()));
        }
        assert_eq!(vars.get("p"), None);
        assert_eq!(vars.set("p", "v"), Err(VarError::Circular("p".into())));
    }
}
