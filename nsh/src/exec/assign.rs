//! Assignments: `x=v`, `x+=v`, `a[i]=v`, `a=(..)`, `a+=(..)` and
//! `m=([k]=v ..)`, honouring the integer, readonly and array attributes.
//!
//! The simple-command code expands an AST assignment into an [`Assign`]
//! (values expanded, subscripts kept as written) and stores it with
//! [`Shell::store`]; `declare`, `local`, `export` and `readonly` get their
//! assignment arguments as [`Assign`]s too, so `local -a a=(x y)` and
//! `declare -A m=([k]=v)` store the same way, after the builtin has set the
//! attributes (a subscript means a key or an index only once the array's
//! kind is known).

use brush_parser::ast;

use crate::expand::{self, ExpandError, access};
use crate::shell::Shell;
use crate::vars::{Key, Scope, Shape, Value};

/// An assignment whose value is expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assign {
    pub name: String,
    /// `a[i]=v`: the subscript as written, expanded when stored.
    pub index: Option<String>,
    /// `+=`.
    pub append: bool,
    pub value: AssignValue,
}

/// The right-hand side of an assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssignValue {
    Scalar(String),
    /// `(..)`: the elements, each with its `[subscript]=` as written.
    List(Vec<(Option<String>, String)>),
}

impl Assign {
    /// Parses `NAME=VALUE`, `NAME+=VALUE` or `NAME[SUB]=VALUE` given as a
    /// plain string (`command export x=1`); `None` when `arg` is not an
    /// assignment.
    pub fn parse(arg: &str) -> Option<Assign> {
        let eq = arg.find('=')?;
        let (mut target, value) = (&arg[..eq], &arg[eq + 1..]);
        let append = target.ends_with('+');
        if append {
            target = &target[..target.len() - 1];
        }
        let (name, index) = split_subscript(target)?;
        valid_name(name).then(|| Assign {
            name: name.to_string(),
            index: index.map(str::to_string),
            append,
            value: AssignValue::Scalar(value.to_string()),
        })
    }

    /// How `set -x` shows it.
    pub fn traced(&self) -> String {
        let target = match &self.index {
            Some(index) => format!("{}[{index}]", self.name),
            None => self.name.clone(),
        };
        let op = if self.append { "+=" } else { "=" };
        match &self.value {
            // An empty value shows as nothing (`x=`), as bash shows it.
            AssignValue::Scalar(v) if v.is_empty() => format!("{target}{op}"),
            AssignValue::Scalar(v) => format!("{target}{op}{}", super::simple::xtrace_quote(v)),
            AssignValue::List(items) => {
                let items: Vec<String> = items
                    .iter()
                    .map(|(key, v)| match key {
                        Some(k) => format!("[{k}]={}", super::simple::xtrace_quote(v)),
                        None => super::simple::xtrace_quote(v).into_owned(),
                    })
                    .collect();
                format!("{target}{op}({})", items.join(" "))
            }
        }
    }
}

pub use crate::vars::valid_name;

/// `name[sub]` into the name and the subscript; a plain name has none.
/// `None` for a malformed subscript (`a[`, `a]`).
pub fn split_subscript(target: &str) -> Option<(&str, Option<&str>)> {
    match target.find('[') {
        None => (!target.contains(']')).then_some((target, None)),
        Some(open) => {
            let inner = target[open + 1..].strip_suffix(']')?;
            Some((&target[..open], Some(inner)))
        }
    }
}

impl Shell {
    /// Expands an assignment of the AST: a scalar as an assignment value
    /// (no splitting, tildes after `:`), the words of a list with
    /// splitting and globbing except those with a `[subscript]=`.
    pub(crate) fn expand_assign(
        &mut self,
        assignment: &ast::Assignment,
    ) -> Result<Assign, ExpandError> {
        let (name, index) = match &assignment.name {
            ast::AssignmentName::VariableName(n) => (n.clone(), None),
            ast::AssignmentName::ArrayElementName(n, index) => (n.clone(), Some(index.clone())),
        };
        let value = match &assignment.value {
            ast::AssignmentValue::Scalar(word) => {
                AssignValue::Scalar(expand::expand_assignment(self, &word.value)?)
            }
            ast::AssignmentValue::Array(items) => {
                let mut list = Vec::with_capacity(items.len());
                for (key, word) in items {
                    match key {
                        Some(key) => {
                            let value = expand::expand_assignment(self, &word.value)?;
                            list.push((Some(key.value.clone()), value));
                        }
                        None => {
                            for field in expand::expand_words(self, std::slice::from_ref(word))? {
                                list.push((None, field));
                            }
                        }
                    }
                }
                AssignValue::List(list)
            }
        };
        Ok(Assign {
            name,
            index,
            append: assignment.append,
            value,
        })
    }

    /// Stores an assignment in `scope`: arithmetic for integer variables,
    /// element 0 for an array assigned a scalar, keys or indexes for the
    /// elements of a list, appending for `+=`.
    pub(crate) fn store(&mut self, mut assign: Assign, scope: Scope) -> Result<(), ExpandError> {
        // A nameref to an element (`declare -n r='a[2]'; r=x`) stores there.
        if scope == Scope::Visible {
            let target = self
                .vars
                .resolve(&assign.name)
                .map_err(|e| ExpandError::new(e.to_string()))?;
            if assign.index.is_some() && target.contains('[') {
                return Err(ExpandError::new(format!(
                    "`{target}': not a valid identifier"
                )));
            }
            if let Some((name, Some(index))) = split_subscript(&target) {
                if index == "@" || index == "*" {
                    return Err(ExpandError::new(format!("{target}: bad array subscript")));
                }
                let (name, index) = (name.to_string(), index.to_string());
                assign.name = name;
                assign.index = Some(index);
            }
        }
        let name = assign.name.as_str();
        if self.vars.lookup(name).is_some_and(|v| v.readonly) {
            return Err(ExpandError::new(format!("{name}: readonly variable")));
        }
        let var = self.vars.entry(name, scope);
        let (shape, integer) = (var.shape(), var.integer);
        match (assign.index, assign.value) {
            (Some(index), AssignValue::Scalar(value)) => {
                let key = match self.subscript(name, shape, &index)? {
                    Key::Index(i) => match access::resolve_index(&self.vars, name, i) {
                        Some(i) => Key::Index(i),
                        None => {
                            return Err(ExpandError::new(format!(
                                "{name}[{index}]: bad array subscript"
                            )));
                        }
                    },
                    key => key,
                };
                let old = match assign.append {
                    true => access::element(&self.vars, name, &key).map(str::to_string),
                    false => None,
                };
                let value = self.combine(old.as_deref(), value, assign.append, integer)?;
                access::set_element(&mut self.vars, name, key, value)
            }
            (Some(index), AssignValue::List(_)) => Err(ExpandError::new(format!(
                "{name}[{index}]: cannot assign list to array member"
            ))),
            // `s+=text`: in place, so a loop of appends stays linear.
            (None, AssignValue::Scalar(value)) if assign.append && !integer => self
                .vars
                .append(name, &value)
                .map_err(|e| ExpandError::new(e.to_string())),
            (None, AssignValue::Scalar(value)) => {
                let old = match assign.append {
                    true => self.vars.get(name).map(str::to_string),
                    false => None,
                };
                let value = self.combine(old.as_deref(), value, assign.append, integer)?;
                self.vars
                    .set(name, value)
                    .map_err(|e| ExpandError::new(e.to_string()))
            }
            // `a+=(x y)` on an indexed array: appended in place, so a loop
            // of appends stays linear. (Keys and integer arrays evaluate
            // arithmetic that may read the array: the general path.)
            (None, AssignValue::List(items))
                if assign.append
                    && !integer
                    && scope == Scope::Visible
                    && shape != Shape::Assoc
                    && items.iter().all(|(key, _)| key.is_none()) =>
            {
                let var = self.vars.entry(name, scope);
                let mut map = match var.value.take() {
                    Some(Value::Indexed(map)) => map,
                    Some(Value::Str(s)) => [(0, s)].into_iter().collect(),
                    _ => Default::default(),
                };
                let next = map.keys().next_back().map_or(0, |&k| k + 1);
                map.extend((next..).zip(items.into_iter().map(|(_, value)| value)));
                var.value = Some(Value::Indexed(map));
                Ok(())
            }
            (None, AssignValue::List(items)) => {
                let value = self.build_list(name, shape, integer, assign.append, items)?;
                self.vars.entry(name, scope).value = Some(value);
                Ok(())
            }
        }
    }

    /// The new value of a scalar or element: the old one and the new
    /// text, added for integers, concatenated for `+=`.
    fn combine(
        &mut self,
        old: Option<&str>,
        value: String,
        append: bool,
        integer: bool,
    ) -> Result<String, ExpandError> {
        if integer {
            let n = expand::eval_arith(self, &value)?;
            let base = match (append, old) {
                (true, Some(old)) if !old.is_empty() => expand::eval_arith(self, old)?,
                _ => 0,
            };
            return Ok(base.wrapping_add(n).to_string());
        }
        Ok(match (append, old) {
            (true, Some(old)) => format!("{old}{value}"),
            _ => value,
        })
    }

    /// The subscript `index` of `name`: an expanded key for an associative
    /// array, an arithmetic index otherwise.
    fn subscript(&mut self, name: &str, shape: Shape, index: &str) -> Result<Key, ExpandError> {
        if shape == Shape::Assoc {
            let key = expand::expand_word(self, index)?;
            if key.is_empty() {
                return Err(ExpandError::new(format!(
                    "{name}[{index}]: bad array subscript"
                )));
            }
            return Ok(Key::Name(key));
        }
        if index.trim().is_empty() {
            return Err(ExpandError::new(format!(
                "{name}[{index}]: bad array subscript"
            )));
        }
        Ok(Key::Index(expand::eval_arith(self, index)?))
    }

    /// The array value of `name=(..)` or `name+=(..)`.
    fn build_list(
        &mut self,
        name: &str,
        shape: Shape,
        integer: bool,
        append: bool,
        items: Vec<(Option<String>, String)>,
    ) -> Result<Value, ExpandError> {
        let old = if append {
            self.vars.value(name).cloned()
        } else {
            None
        };
        if shape == Shape::Assoc {
            let mut map = match old {
                Some(Value::Assoc(map)) => map,
                _ => Default::default(),
            };
            if items.iter().all(|(key, _)| key.is_none()) {
                // `declare -A m=(k1 v1 k2 v2)`: keys and values in turn.
                let mut it = items.into_iter().map(|(_, v)| v);
                while let Some(key) = it.next() {
                    let value = it.next().unwrap_or_default();
                    let value = self.element_value(value, integer)?;
                    map.insert(key, value);
                }
                return Ok(Value::Assoc(map));
            }
            for (key, value) in items {
                let Some(key) = key else {
                    self.error(format!(
                        "{name}: {value}: must use subscript when assigning associative array"
                    ));
                    continue;
                };
                let Key::Name(key) = self.subscript(name, shape, &key)? else {
                    continue;
                };
                let value = self.element_value(value, integer)?;
                map.insert(key, value);
            }
            return Ok(Value::Assoc(map));
        }
        let mut map = match old {
            Some(Value::Indexed(map)) => map,
            Some(Value::Str(s)) => [(0, s)].into_iter().collect(),
            _ => Default::default(),
        };
        let mut next = map.keys().next_back().map_or(0, |&k| k + 1);
        for (key, value) in items {
            let index = match key {
                Some(key) => {
                    let Key::Index(i) = self.subscript(name, shape, &key)? else {
                        continue;
                    };
                    if i < 0 {
                        let end = map.keys().next_back().map_or(0, |&k| k + 1);
                        if end + i < 0 {
                            return Err(ExpandError::new(format!(
                                "{name}[{key}]: bad array subscript"
                            )));
                        }
                        end + i
                    } else {
                        i
                    }
                }
                None => next,
            };
            let value = self.element_value(value, integer)?;
            map.insert(index, value);
            next = index + 1;
        }
        Ok(Value::Indexed(map))
    }

    fn element_value(&mut self, value: String, integer: bool) -> Result<String, ExpandError> {
        if integer {
            return Ok(expand::eval_arith(self, &value)?.to_string());
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_assignment_strings() {
        assert_eq!(
            Assign::parse("a[i+1]+=x=y"),
            Some(Assign {
                name: "a".into(),
                index: Some("i+1".into()),
                append: true,
                value: AssignValue::Scalar("x=y".into()),
            })
        );
        assert_eq!(Assign::parse("1x=2"), None);
        assert_eq!(Assign::parse("novalue"), None);
        assert_eq!(split_subscript("a[1"), None);
        assert_eq!(split_subscript("m[a b]"), Some(("m", Some("a b"))));
    }

    #[test]
    fn traces_like_bash() {
        let list = Assign {
            name: "a".into(),
            index: None,
            append: false,
            value: AssignValue::List(vec![(None, "x y".into()), (Some("k".into()), "v".into())]),
        };
        assert_eq!(list.traced(), "a=('x y' [k]=v)");
    }
}
