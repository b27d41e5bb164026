//! A serde `Deserializer` over the configuration tree, so typed configuration is plain
//! `#[derive(Deserialize)]` structs with `deny_unknown_fields` and `alias`.
//!
//! Every error leaving this module carries the position of the offending key or value and
//! its dotted path (`leafnodes.remotes[1].url`).
//!
//! Rules worth knowing:
//! - Struct keys match case-insensitively (nats-server lower-cases option names); map keys
//!   (account names, for instance) are kept exactly as written.
//! - A key that was referenced as `$key` is a variable definition: inside a struct it is
//!   skipped unless it is also a known field; inside a map it is skipped.
//! - Enums are read from strings, case-insensitively (`mode: LameDuck`).
//! - Datetimes are handed to visitors as strings (serde has no datetime type), so a string
//!   option accepts one; nats-server would refuse it.
//! - `Option` fields: an absent key is `None` (serde's default for `Option`); a present key
//!   is `Some`.

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use super::error::{ConfError, ConfErrorKind};
use super::tree::{Entry, Map, Node, Pos, Value};

/// Deserializes a `T` from a whole parsed file.
pub fn from_map<T: de::DeserializeOwned>(map: &Map) -> Result<T, ConfError> {
    let pos = map
        .iter()
        .next()
        .map(|e| Pos::new(&e.key_pos.file, 1, 1))
        .unwrap_or_else(|| Pos::new("", 1, 1));
    let root = Node::new(Value::Map(map.clone()), pos);
    from_node(&root)
}

/// Deserializes a `T` from one node (its errors' paths start at that node).
pub fn from_node<T: de::DeserializeOwned>(node: &Node) -> Result<T, ConfError> {
    T::deserialize(NodeDe {
        node,
        path: String::new(),
    })
    .map_err(|e| e.locate(&node.pos, ""))
}

struct NodeDe<'a> {
    node: &'a Node,
    path: String,
}

impl<'a> NodeDe<'a> {
    fn locate<T>(&self, r: Result<T, ConfError>) -> Result<T, ConfError> {
        r.map_err(|e| e.locate(&self.node.pos, &self.path))
    }

    fn map_access(&self, map: &'a Map, fields: Option<&'static [&'static str]>) -> MapDe<'a> {
        MapDe {
            entries: map.iter(),
            fields,
            path: self.path.clone(),
            current: None,
        }
    }
}

fn child_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

impl<'de, 'a> de::Deserializer<'de> for NodeDe<'a> {
    type Error = ConfError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConfError> {
        let r = match &self.node.value {
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(i) => visitor.visit_i64(*i),
            Value::Float(f) => visitor.visit_f64(*f),
            Value::Str(s) | Value::DateTime(s) => visitor.visit_str(s),
            Value::Array(items) => visitor.visit_seq(SeqDe {
                items: items.iter().enumerate(),
                path: self.path.clone(),
            }),
            Value::Map(map) => {
                let mut access = self.map_access(map, None);
                let r = visitor.visit_map(&mut access);
                access.relocate_duplicate(r)
            }
        };
        self.locate(r)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConfError> {
        let pos = self.node.pos.clone();
        let path = self.path.clone();
        visitor.visit_some(self).map_err(|e| e.locate(&pos, &path))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ConfError> {
        let pos = self.node.pos.clone();
        let path = self.path.clone();
        visitor
            .visit_newtype_struct(self)
            .map_err(|e| e.locate(&pos, &path))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ConfError> {
        match &self.node.value {
            Value::Map(map) => {
                let mut access = self.map_access(map, Some(fields));
                let r = visitor.visit_map(&mut access);
                let r = access.relocate_duplicate(r);
                self.locate(r)
            }
            other => Err(self.invalid_type(other, &visitor)),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConfError> {
        match &self.node.value {
            Value::Map(_) => self.deserialize_any(visitor),
            other => Err(self.invalid_type(other, &visitor)),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConfError> {
        match &self.node.value {
            Value::Array(_) => self.deserialize_any(visitor),
            other => Err(self.invalid_type(other, &visitor)),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ConfError> {
        match &self.node.value {
            Value::Str(s) => {
                let lower = s.to_ascii_lowercase();
                let d: de::value::StringDeserializer<ConfError> = lower.into_deserializer();
                let r = visitor.visit_enum(d);
                self.locate(r)
            }
            other => Err(self.invalid_type(other, &visitor)),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConfError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct tuple tuple_struct identifier
    }
}

impl NodeDe<'_> {
    fn invalid_type(&self, value: &Value, exp: &dyn de::Expected) -> ConfError {
        let unexp = match value {
            Value::Bool(b) => de::Unexpected::Bool(*b),
            Value::Int(i) => de::Unexpected::Signed(*i),
            Value::Float(f) => de::Unexpected::Float(*f),
            Value::Str(s) => de::Unexpected::Str(s),
            Value::DateTime(_) => de::Unexpected::Other("datetime"),
            Value::Array(_) => de::Unexpected::Seq,
            Value::Map(_) => de::Unexpected::Map,
        };
        <ConfError as de::Error>::invalid_type(unexp, exp).locate(&self.node.pos, &self.path)
    }
}

struct SeqDe<'a> {
    items: std::iter::Enumerate<std::slice::Iter<'a, Node>>,
    path: String,
}

impl<'de> de::SeqAccess<'de> for SeqDe<'_> {
    type Error = ConfError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ConfError> {
        match self.items.next() {
            None => Ok(None),
            Some((i, node)) => {
                let path = format!("{}[{i}]", self.path);
                // Errors raised after the element's deserializer returned (a
                // `Deserialize` impl validating what it read) still belong to the element.
                let r = seed.deserialize(NodeDe {
                    node,
                    path: path.clone(),
                });
                r.map(Some).map_err(|e| e.locate(&node.pos, &path))
            }
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapDe<'a> {
    entries: std::slice::Iter<'a, Entry>,
    /// `Some` when deserializing a struct: its field names (aliases included).
    fields: Option<&'static [&'static str]>,
    path: String,
    current: Option<&'a Entry>,
}

impl MapDe<'_> {
    /// serde reports a duplicate field from the struct visitor, after the fact; the key
    /// that caused it is the one we handed out last.
    fn relocate_duplicate<T>(&self, r: Result<T, ConfError>) -> Result<T, ConfError> {
        r.map_err(|e| match (&e.kind, e.pos.is_none(), self.current) {
            (ConfErrorKind::DuplicateField(_), true, Some(entry)) => {
                e.locate(&entry.key_pos, &child_path(&self.path, &entry.key))
            }
            _ => e,
        })
    }

    fn skip(&self, entry: &Entry) -> bool {
        if !entry.used_as_variable {
            return false;
        }
        match self.fields {
            None => true,
            Some(fields) => !fields.contains(&entry.key.to_ascii_lowercase().as_str()),
        }
    }
}

impl<'de, 'a> de::MapAccess<'de> for MapDe<'a> {
    type Error = ConfError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ConfError> {
        let entry = loop {
            match self.entries.next() {
                None => return Ok(None),
                Some(e) if self.skip(e) => continue,
                Some(e) => break e,
            }
        };
        self.current = Some(entry);
        let key = if self.fields.is_some() {
            entry.key.to_ascii_lowercase()
        } else {
            entry.key.clone()
        };
        let d: de::value::StringDeserializer<ConfError> = key.into_deserializer();
        seed.deserialize(d).map(Some).map_err(|mut e| {
            if let ConfErrorKind::UnknownField(f) = &mut e.kind {
                // Report the key as written, not lower-cased.
                *f = entry.key.clone();
            }
            e.locate(&entry.key_pos, &child_path(&self.path, &entry.key))
        })
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, ConfError> {
        let entry = self
            .current
            .ok_or_else(|| <ConfError as de::Error>::custom("value requested before key"))?;
        let path = child_path(&self.path, &entry.key);
        seed.deserialize(NodeDe {
            node: &entry.node,
            path: path.clone(),
        })
        .map_err(|e| e.locate(&entry.node.pos, &path))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}
