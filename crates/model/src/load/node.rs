//! A YAML document read as a tree of located nodes, turned into a JSON value
//! plus an index from JSON pointer to source position, so errors found later
//! (while deserializing typed objects from the JSON value) can still point at
//! the line and column of the offending field.

use std::collections::HashMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use serde_saphyr::Spanned;

/// One YAML node with its children located.
#[derive(Debug)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<Node>, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::UInt(v))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
        match i64::try_from(v) {
            Ok(v) => Ok(Node::Int(v)),
            Err(_) => Ok(Node::Float(v as f64)),
        }
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        match u64::try_from(v) {
            Ok(v) => Ok(Node::UInt(v)),
            Err(_) => Ok(Node::Float(v as f64)),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Node, E> {
        Ok(Node::Str(String::from_utf8_lossy(v).into_owned()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        Node::deserialize(deserializer)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        Node::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Node>>()? {
            let value = map.next_value::<Spanned<Node>>()?;
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

/// A (line, column) inside the parsed text, 1-based.
pub(crate) type Pos = (usize, usize);

pub(crate) fn pos_of<T>(spanned: &Spanned<T>) -> Pos {
    let loc = spanned.referenced;
    (
        usize::try_from(loc.line()).unwrap_or(usize::MAX).max(1),
        usize::try_from(loc.column()).unwrap_or(usize::MAX).max(1),
    )
}

/// JSON pointer (RFC 6901, `/a/0/b`) of every node to its position, and of
/// every mapping entry to the position of its key.
#[derive(Debug, Default)]
pub(crate) struct PosIndex {
    map: HashMap<String, Pos>,
    keys: HashMap<String, Pos>,
}

impl PosIndex {
    /// Position of `pointer`, or of its nearest ancestor that has one.
    pub(crate) fn lookup(&self, pointer: &str) -> Option<Pos> {
        let mut p = pointer;
        loop {
            if let Some(pos) = self.map.get(p) {
                return Some(*pos);
            }
            if p.is_empty() {
                return None;
            }
            p = match p.rfind('/') {
                Some(i) => &p[..i],
                None => "",
            };
        }
    }

    /// Position of the key of the entry at `pointer` (for errors about the
    /// field itself, such as an unknown field), else as [`PosIndex::lookup`].
    pub(crate) fn lookup_key(&self, pointer: &str) -> Option<Pos> {
        self.keys
            .get(pointer)
            .copied()
            .or_else(|| self.lookup(pointer))
    }

    /// The sub-index below `prefix`, re-rooted (used for `List` items).
    pub(crate) fn subtree(&self, prefix: &str) -> PosIndex {
        let reroot = |map: &HashMap<String, Pos>| -> HashMap<String, Pos> {
            map.iter()
                .filter_map(|(k, v)| {
                    if k == prefix {
                        Some((String::new(), *v))
                    } else {
                        k.strip_prefix(prefix)
                            .filter(|rest| rest.starts_with('/'))
                            .map(|rest| (rest.to_string(), *v))
                    }
                })
                .collect()
        };
        PosIndex {
            map: reroot(&self.map),
            keys: reroot(&self.keys),
        }
    }
}

/// Escapes one JSON pointer segment.
pub(crate) fn escape_segment(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

fn scalar_key(node: &Node) -> String {
    match node {
        Node::Null => "null".to_string(),
        Node::Bool(b) => b.to_string(),
        Node::Int(i) => i.to_string(),
        Node::UInt(u) => u.to_string(),
        Node::Float(f) => f.to_string(),
        Node::Str(s) => s.clone(),
        // Complex keys are not valid in Kubernetes objects; render them
        // compactly so the error that follows can name them.
        Node::Seq(_) => "[sequence]".to_string(),
        Node::Map(_) => "{mapping}".to_string(),
    }
}

/// Converts a located tree into JSON, recording every node's position.
pub(crate) fn to_json(root: Spanned<Node>) -> (Value, PosIndex) {
    let mut index = PosIndex::default();
    let mut pointer = String::new();
    let value = convert(root, &mut pointer, &mut index);
    (value, index)
}

fn convert(node: Spanned<Node>, pointer: &mut String, index: &mut PosIndex) -> Value {
    index.map.insert(pointer.clone(), pos_of(&node));
    match node.value {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(b),
        Node::Int(i) => Value::Number(i.into()),
        Node::UInt(u) => Value::Number(u.into()),
        Node::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        Node::Str(s) => Value::String(s),
        Node::Seq(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&i.to_string());
                out.push(convert(item, pointer, index));
                pointer.truncate(len);
            }
            Value::Array(out)
        }
        Node::Map(entries) => {
            let mut out = Map::new();
            for (key, value) in entries {
                let key_pos = pos_of(&key);
                let key = scalar_key(&key.value);
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&escape_segment(&key));
                index.keys.insert(pointer.clone(), key_pos);
                let v = convert(value, pointer, index);
                pointer.truncate(len);
                out.insert(key, v);
            }
            Value::Object(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Value, PosIndex) {
        let node: Spanned<Node> = serde_saphyr::from_str(text).expect("valid yaml");
        to_json(node)
    }

    #[test]
    fn converts_scalars_and_keeps_quoted_strings() {
        let (v, _) = parse("a: 1\nb: \"1\"\nc: true\nd: ~\ne: 1.5\nf: [x, 'y']\n");
        assert_eq!(
            v,
            serde_json::json!({"a": 1, "b": "1", "c": true, "d": null, "e": 1.5, "f": ["x", "y"]})
        );
    }

    #[test]
    fn records_positions_of_nested_fields() {
        let text = "spec:\n  listeners:\n  - name: http\n    port: 80\n";
        let (_, index) = parse(text);
        assert_eq!(index.lookup("/spec/listeners/0/port"), Some((4, 11)));
        assert_eq!(index.lookup("/spec/listeners/0/name"), Some((3, 11)));
        // Unknown children fall back to the nearest located ancestor.
        assert_eq!(index.lookup("/spec/listeners/0/port/x"), Some((4, 11)));
        assert_eq!(index.lookup_key("/spec/listeners/0/port"), Some((4, 5)));
    }

    #[test]
    fn subtree_reroots_pointers() {
        let text = "items:\n- kind: A\n  metadata:\n    name: a\n";
        let (_, index) = parse(text);
        let sub = index.subtree("/items/0");
        assert_eq!(sub.lookup("/metadata/name"), Some((4, 11)));
        assert_eq!(sub.lookup(""), Some((2, 3)));
    }

    #[test]
    fn escapes_pointer_segments() {
        let text = "labels:\n  app.kubernetes.io/name: x\n";
        let (_, index) = parse(text);
        assert_eq!(
            index.lookup("/labels/app.kubernetes.io~1name"),
            Some((2, 27))
        );
    }
}
