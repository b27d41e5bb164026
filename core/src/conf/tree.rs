//! The parsed configuration tree: values with the position they were written at.
//!
//! Maps keep their keys in the order the file wrote them, so everything derived from a tree
//! (error order, diffs, traces) is deterministic. A key written twice keeps its first slot
//! and takes the last value, which is what nats-server's last-write-wins Go map does.

use std::fmt;
use std::sync::Arc;

/// Where something was written: file name as given to the parser (or as resolved for an
/// include), 1-based line and 1-based column (counted in characters).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub file: Arc<str>,
    pub line: u32,
    pub col: u32,
}

impl Pos {
    pub fn new(file: &str, line: u32, col: u32) -> Self {
        Pos {
            file: Arc::from(file),
            line,
            col,
        }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

impl fmt::Debug for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A configuration value. Integers already have their unit suffix applied (`1k` is 1000).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// An ISO8601 Zulu timestamp exactly as written (`2026-01-02T03:04:05Z`).
    DateTime(String),
    Array(Vec<Node>),
    Map(Map),
}

impl Value {
    /// A short name of the value's type, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::DateTime(_) => "datetime",
            Value::Array(_) => "array",
            Value::Map(_) => "map",
        }
    }
}

/// A value and where it was written. For a value produced by a `$VARIABLE` reference, the
/// position is the reference's, since that is the line an operator has to look at.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
}

impl Node {
    pub fn new(value: Value, pos: Pos) -> Self {
        Node { value, pos }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self.value {
            Value::Int(i) => Some(i),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.value {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&Map> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// One `key: value` of a map.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub node: Node,
    /// The key was referenced as `$key` somewhere later in its scope. Such keys are
    /// variable definitions: the typed layer ignores them where they are not a known
    /// option instead of reporting an unknown field (as nats-server does).
    pub used_as_variable: bool,
}

/// An ordered map from keys to nodes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Map {
    entries: Vec<Entry>,
}

impl Map {
    pub fn new() -> Self {
        Map::default()
    }

    /// Sets `key`. A key that is already present keeps its slot (and so its order) but
    /// takes the new position and value, and forgets that it was used as a variable: the
    /// new definition has not been referenced yet.
    pub fn insert(&mut self, key: impl Into<String>, key_pos: Pos, node: Node) {
        let key = key.into();
        if let Some(e) = self.entries.iter_mut().find(|e| e.key == key) {
            e.key_pos = key_pos;
            e.node = node;
            e.used_as_variable = false;
        } else {
            self.entries.push(Entry {
                key,
                key_pos,
                node,
                used_as_variable: false,
            });
        }
    }

    /// Adds an entry as is (used to merge included files, whose variable marks survive).
    pub(crate) fn insert_entry(&mut self, entry: Entry) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.key == entry.key) {
            *e = entry;
        } else {
            self.entries.push(entry);
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| &e.node)
    }

    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    pub(crate) fn entry_mut(&mut self, key: &str) -> Option<&mut Entry> {
        self.entries.iter_mut().find(|e| e.key == key)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Entry> {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.key.as_str())
    }

    pub(crate) fn into_entries(self) -> Vec<Entry> {
        self.entries
    }
}

impl<'a> IntoIterator for &'a Map {
    type Item = &'a Entry;
    type IntoIter = std::slice::Iter<'a, Entry>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(i: i64, line: u32) -> Node {
        Node::new(Value::Int(i), Pos::new("f", line, 1))
    }

    #[test]
    fn insert_keeps_first_slot_and_last_value() {
        let mut m = Map::new();
        m.insert("a", Pos::new("f", 1, 1), n(1, 1));
        m.insert("b", Pos::new("f", 2, 1), n(2, 2));
        m.entry_mut("a").unwrap().used_as_variable = true;
        m.insert("a", Pos::new("f", 3, 1), n(3, 3));
        assert_eq!(m.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(m.get("a").unwrap().as_int(), Some(3));
        assert_eq!(m.entry("a").unwrap().key_pos.line, 3);
        assert!(!m.entry("a").unwrap().used_as_variable);
    }

    #[test]
    fn pos_displays_file_line_col() {
        assert_eq!(Pos::new("a.conf", 3, 7).to_string(), "a.conf:3:7");
    }
}
