//! YAML loading with located errors.
//!
//! A file is split into documents at `---` lines; each document is parsed on
//! its own (so a syntax error costs only that document), read into a located
//! node tree, turned into JSON, dispatched on `apiVersion` + `kind`, defaulted
//! as the API server would, and deserialized into the storage-version type.
//! Errors from that last step carry the JSON path of the failing field, which
//! is mapped back to the field's line and column.
//!
//! Dispatch: every version the v1.6.1 experimental CRDs serve is accepted and
//! converted to the v1 type (TLSRoute v1alpha2 without `hostnames` gets an
//! empty list, meaning "any SNI"); core v1 Namespace/Service/Secret/ConfigMap,
//! discovery.k8s.io/v1 EndpointSlice, portico.dev/v1alpha1 LoadBalancerIPPool.
//! `kind: List` is expanded. A kind Portico does not read (or a known kind
//! name in a foreign group, e.g. Istio's Gateway) is skipped; a known kind
//! in its own group with an unserved version is an error naming the served
//! ones. Secret `stringData` is merged into `data`. Deprecated versions load
//! with a warning.
//!
//! Like the API server on create, the loader drops `status`, applies field
//! defaults (CRD schema defaults for Gateway API kinds, the core defaults
//! translation relies on), checks the CRDs' OpenAPI validations, rejects
//! unknown fields (kubectl's strict field validation) and invalid names, so
//! objects from files look like objects from a cluster. The CRDs' CEL rules
//! are evaluated too, but their violations are warnings: the object loads.
//!
//! Metadata defaults and determinism: translation must give the same result for the
//! same files, so the loader never reads the clock. A missing
//! `metadata.creationTimestamp` becomes [`DEFAULT_CREATION_TIMESTAMP`] (the
//! Unix epoch) and a missing `metadata.generation` becomes 1; [`Document::defaulted`]
//! says which were filled in, so a source that knows more (the directory
//! watcher: first-seen order, spec changes across reloads) can replace them.

mod cel_rules;
mod defaults;
mod kinds;
mod names;
mod node;
mod schema;
mod split;
mod strict;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

use k8s_openapi::ByteString;
use serde_json::{Map, Value};
use serde_saphyr::Spanned;

use crate::Object;
use kinds::{Lookup, TypedError};
use node::{Node, PosIndex};
use split::Chunk;

/// `metadata.creationTimestamp` given to objects whose YAML has none.
pub const DEFAULT_CREATION_TIMESTAMP: &str = "1970-01-01T00:00:00Z";

/// Where something is in a file (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// Which metadata fields the loader filled in because the YAML had none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Defaulted {
    /// `metadata.namespace` set to `default`.
    pub namespace: bool,
    /// `metadata.generation` set to 1.
    pub generation: bool,
    /// `metadata.creationTimestamp` set to [`DEFAULT_CREATION_TIMESTAMP`].
    pub creation_timestamp: bool,
}

/// A loaded object and the start of its document.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub object: Object,
    pub location: Location,
    pub defaulted: Defaulted,
}

/// What went wrong with a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The text is not valid YAML.
    Syntax,
    /// Valid YAML that is not a valid object (missing or wrong fields,
    /// unknown apiVersion, duplicate object, ...).
    Invalid,
}

/// A problem with one document; the others still load.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {}{message}", subject(.kind.as_deref(), .name.as_deref()))]
pub struct LoadError {
    pub location: Location,
    pub class: ErrorClass,
    /// Kind and `namespace/name` of the object when they could be read.
    pub kind: Option<String>,
    pub name: Option<String>,
    pub message: String,
}

fn subject(kind: Option<&str>, name: Option<&str>) -> String {
    match (kind, name) {
        (Some(k), Some(n)) => format!("{k} {n}: "),
        (Some(k), None) => format!("{k}: "),
        (None, Some(n)) => format!("{n}: "),
        (None, None) => String::new(),
    }
}

/// Something worth telling that does not stop a document from loading (the
/// API server's warnings, e.g. a deprecated apiVersion).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {}{message}", subject(.kind.as_deref(), .name.as_deref()))]
pub struct LoadWarning {
    pub location: Location,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub message: String,
}

/// The result of loading one file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Loaded {
    pub documents: Vec<Document>,
    pub errors: Vec<LoadError>,
    /// Documents that loaded with a warning (they are in `documents` too).
    pub warnings: Vec<LoadWarning>,
    /// Documents of kinds Portico does not use (kind, location).
    pub skipped: Vec<(String, Location)>,
}

impl Loaded {
    /// True when some document is not valid YAML (the file is probably half
    /// written; a watcher should keep the file's previous objects).
    pub fn has_syntax_errors(&self) -> bool {
        self.errors.iter().any(|e| e.class == ErrorClass::Syntax)
    }
}

/// Parses every document in `text` (the content of `file`).
pub fn load_str(file: &Path, text: &str) -> Loaded {
    let mut out = Loaded::default();
    for chunk in split::split_documents(text) {
        if chunk.is_blank() {
            continue;
        }
        let cx = Cx {
            file,
            chunk: &chunk,
        };
        match serde_saphyr::from_str::<Spanned<Node>>(chunk.text) {
            Ok(root) => {
                if matches!(root.value, Node::Null) {
                    continue;
                }
                let (value, index) = node::to_json(root);
                cx.load_value(value, &index, &mut out);
            }
            Err(err) => {
                let (line, column) = err
                    .location()
                    .map(|l| {
                        (
                            usize::try_from(l.line()).unwrap_or(1),
                            usize::try_from(l.column()).unwrap_or(1),
                        )
                    })
                    .unwrap_or((1, 1));
                out.errors.push(LoadError {
                    location: cx.at((line, column)),
                    class: ErrorClass::Syntax,
                    kind: None,
                    name: None,
                    message: syntax_message(&err),
                });
            }
        }
    }
    out
}

/// The parser's message without its own location prefix or source snippet
/// (the location is reported separately, in file coordinates).
fn syntax_message(err: &serde_saphyr::Error) -> String {
    let text = err.without_snippet().to_string();
    let first = text.lines().next().unwrap_or_default().trim();
    // Messages end with " at line N, column M"; drop it, ours is file-relative.
    let trimmed = match first.rfind(" at line ") {
        Some(i) => &first[..i],
        None => first,
    };
    // Drop advice meant for programmers using the parser.
    let trimmed = trimmed
        .split(", set DuplicateKeyPolicy")
        .next()
        .unwrap_or(trimmed);
    format!("YAML syntax error: {trimmed}")
}

struct Cx<'a> {
    file: &'a Path,
    chunk: &'a Chunk<'a>,
}

impl Cx<'_> {
    fn at(&self, (line, column): (usize, usize)) -> Location {
        let (line, column) = self.chunk.to_file(line, column);
        Location {
            file: self.file.to_path_buf(),
            line,
            column,
        }
    }

    fn locate(&self, index: &PosIndex, pointer: &str) -> Location {
        self.at(index.lookup(pointer).unwrap_or((1, 1)))
    }

    fn locate_key(&self, index: &PosIndex, pointer: &str) -> Location {
        self.at(index.lookup_key(pointer).unwrap_or((1, 1)))
    }

    fn invalid(
        &self,
        location: Location,
        kind: Option<&str>,
        name: Option<String>,
        message: String,
    ) -> LoadError {
        LoadError {
            location,
            class: ErrorClass::Invalid,
            kind: kind.map(str::to_string),
            name,
            message,
        }
    }

    fn load_value(&self, mut value: Value, index: &PosIndex, out: &mut Loaded) {
        let root = self.locate(index, "");
        let Value::Object(map) = &mut value else {
            out.errors.push(self.invalid(
                root,
                None,
                None,
                format!(
                    "a document must be a mapping with apiVersion and kind, found {}",
                    type_name(&value)
                ),
            ));
            return;
        };
        let kind = map.get("kind").and_then(Value::as_str).map(str::to_string);
        let api_version = map
            .get("apiVersion")
            .and_then(Value::as_str)
            .map(str::to_string);
        let (Some(kind), Some(api_version)) = (kind, api_version) else {
            let missing = match (map.get("kind"), map.get("apiVersion")) {
                (None, None) => "apiVersion and kind are missing",
                (None, _) => "kind is missing",
                (_, None) => "apiVersion is missing",
                _ => "apiVersion and kind must be strings",
            };
            let kind = map.get("kind").and_then(Value::as_str);
            out.errors
                .push(self.invalid(root, kind, None, missing.to_string()));
            return;
        };

        if kind == "List" {
            self.load_list(map, index, out);
            return;
        }

        let info = match kinds::lookup(&api_version, &kind) {
            Lookup::Known(info) => info,
            Lookup::Unknown => {
                let label = if kinds::KINDS.iter().any(|k| k.kind == kind) {
                    format!("{kind} ({api_version})")
                } else {
                    kind
                };
                out.skipped.push((label, root));
                return;
            }
            Lookup::BadVersion(info) => {
                let name = read_name(map, info.namespaced);
                out.errors.push(self.invalid(
                    self.locate(index, "/apiVersion"),
                    Some(&kind),
                    name,
                    format!(
                        "apiVersion {api_version} is not served for {kind}; accepted: {}",
                        info.accepted()
                    ),
                ));
                return;
            }
        };

        let metadata = match map.get_mut("metadata") {
            Some(Value::Object(m)) => m,
            Some(Value::Null) | None => {
                out.errors.push(self.invalid(
                    root,
                    Some(&kind),
                    None,
                    "metadata.name is required".to_string(),
                ));
                return;
            }
            Some(other) => {
                let msg = format!("metadata must be a mapping, found {}", type_name(other));
                out.errors.push(self.invalid(
                    self.locate(index, "/metadata"),
                    Some(&kind),
                    None,
                    msg,
                ));
                return;
            }
        };
        let defaulted = match apply_metadata_defaults(metadata, info.namespaced) {
            Ok(d) => d,
            Err(message) => {
                out.errors.push(self.invalid(
                    self.locate(index, "/metadata/name"),
                    Some(&kind),
                    None,
                    message,
                ));
                return;
            }
        };
        let name = read_name(map, info.namespaced);
        if let Err((pointer, message)) = check_names(map, &kind, info.namespaced) {
            out.errors
                .push(self.invalid(self.locate(index, pointer), Some(&kind), name, message));
            return;
        }

        let (_, version) = kinds::split_api_version(&api_version);
        // The API server ignores `status` on create; it is computed.
        if let Value::Object(map) = &mut value {
            map.remove("status");
        }
        defaults::apply(info.kind, &mut value);
        let violations = validate::validate(info.kind, &value);
        if !violations.is_empty() {
            for v in violations {
                let path = strict::display_path(&v.pointer);
                out.errors.push(self.invalid(
                    self.locate(index, &v.pointer),
                    Some(&kind),
                    name.clone(),
                    format!("{path}: {}", v.message),
                ));
            }
            return;
        }
        let input = value.clone();
        match info.build(value, version) {
            Ok(mut object) => {
                let unknown = strict::unknown_fields(&input, &object.to_json());
                if let Some(first) = unknown.first() {
                    let fields: Vec<_> = unknown
                        .iter()
                        .map(|p| format!("\"{}\"", strict::display_path(p)))
                        .collect();
                    let noun = if fields.len() == 1 { "field" } else { "fields" };
                    out.errors.push(self.invalid(
                        self.locate_key(index, first),
                        Some(&kind),
                        name,
                        format!("unknown {noun} {}", fields.join(", ")),
                    ));
                    return;
                }
                for v in cel_rules::check(info.kind, &input) {
                    out.warnings.push(LoadWarning {
                        location: self.locate(index, &v.pointer),
                        kind: Some(kind.clone()),
                        name: name.clone(),
                        message: format!("{}: {}", strict::display_path(&v.pointer), v.message),
                    });
                }
                merge_string_data(&mut object);
                if let Some(message) = info.deprecation(version) {
                    out.warnings.push(LoadWarning {
                        location: self.locate(index, "/apiVersion"),
                        kind: Some(kind.clone()),
                        name,
                        message,
                    });
                }
                out.documents.push(Document {
                    object,
                    location: root,
                    defaulted,
                });
            }
            Err(err) => {
                let (pointer, path) = error_path(&err);
                let message = if path.is_empty() {
                    err.inner().to_string()
                } else {
                    format!("{path}: {}", err.inner())
                };
                out.errors.push(self.invalid(
                    self.locate(index, &pointer),
                    Some(&kind),
                    name,
                    message,
                ));
            }
        }
    }

    fn load_list(&self, map: &mut Map<String, Value>, index: &PosIndex, out: &mut Loaded) {
        let items = match map.remove("items") {
            Some(Value::Array(items)) => items,
            Some(Value::Null) | None => return,
            Some(other) => {
                out.errors.push(self.invalid(
                    self.locate(index, "/items"),
                    Some("List"),
                    None,
                    format!("items must be a sequence, found {}", type_name(&other)),
                ));
                return;
            }
        };
        for (i, item) in items.into_iter().enumerate() {
            let sub = index.subtree(&format!("/items/{i}"));
            self.load_value(item, &sub, out);
        }
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a sequence",
        Value::Object(_) => "a mapping",
    }
}

/// `namespace/name` (or `name`) for messages, when readable.
fn read_name(map: &Map<String, Value>, namespaced: bool) -> Option<String> {
    let meta = map.get("metadata")?;
    let name = meta.get("name")?.as_str()?;
    let ns = meta.get("namespace").and_then(Value::as_str);
    match (namespaced, ns) {
        (true, Some(ns)) => Some(format!("{ns}/{name}")),
        (true, None) => Some(format!("default/{name}")),
        (false, _) => Some(name.to_string()),
    }
}

/// Name and namespace follow the API server's rules.
fn check_names(
    map: &Map<String, Value>,
    kind: &str,
    namespaced: bool,
) -> Result<(), (&'static str, String)> {
    let meta = map.get("metadata");
    let field = |f: &str| meta.and_then(|m| m.get(f)).and_then(Value::as_str);
    if let Some(name) = field("name") {
        names::check(names::name_rule(kind), name)
            .map_err(|e| ("/metadata/name", format!("metadata.name: {e}")))?;
    }
    if namespaced && let Some(ns) = field("namespace") {
        names::check(names::NameRule::Label, ns)
            .map_err(|e| ("/metadata/namespace", format!("metadata.namespace: {e}")))?;
    }
    Ok(())
}

/// Checks the name and fills in what the API server would.
fn apply_metadata_defaults(
    meta: &mut Map<String, Value>,
    namespaced: bool,
) -> Result<Defaulted, String> {
    match meta.get("name") {
        Some(Value::String(s)) if !s.is_empty() => {}
        Some(Value::String(_)) => return Err("metadata.name must not be empty".to_string()),
        Some(Value::Null) | None => {
            return Err(if meta.contains_key("generateName") {
                "metadata.name is required (generateName is not supported from files)".to_string()
            } else {
                "metadata.name is required".to_string()
            });
        }
        Some(other) => {
            return Err(format!(
                "metadata.name must be a string, found {}",
                type_name(other)
            ));
        }
    }
    let mut defaulted = Defaulted::default();
    if namespaced {
        let has_ns = matches!(meta.get("namespace"), Some(Value::String(s)) if !s.is_empty());
        if !has_ns {
            meta.insert(
                "namespace".to_string(),
                Value::String("default".to_string()),
            );
            defaulted.namespace = true;
        }
    } else {
        // The API server drops the namespace of cluster-scoped objects.
        meta.remove("namespace");
    }
    if matches!(meta.get("generation"), Some(Value::Null) | None) {
        meta.insert("generation".to_string(), Value::from(1));
        defaulted.generation = true;
    }
    if matches!(meta.get("creationTimestamp"), Some(Value::Null) | None) {
        meta.insert(
            "creationTimestamp".to_string(),
            Value::String(DEFAULT_CREATION_TIMESTAMP.to_string()),
        );
        defaulted.creation_timestamp = true;
    }
    Ok(defaulted)
}

/// The API server merges a Secret's `stringData` into `data` (stringData wins).
fn merge_string_data(object: &mut Object) {
    if let Object::Secret(secret) = object
        && let Some(string_data) = secret.string_data.take()
    {
        let data = secret.data.get_or_insert_with(Default::default);
        for (k, v) in string_data {
            data.insert(k, ByteString(v.into_bytes()));
        }
    }
}

/// JSON pointer and dotted display path of a typed deserialization error.
fn error_path(err: &TypedError) -> (String, String) {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for seg in err.path().iter() {
        match seg {
            Segment::Seq { index } => {
                pointer.push('/');
                pointer.push_str(&index.to_string());
            }
            Segment::Map { key } => {
                pointer.push('/');
                pointer.push_str(&node::escape_segment(key));
            }
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    let display = err.path().to_string();
    let display = if display == "." {
        String::new()
    } else {
        display
    };
    (pointer, display)
}

#[cfg(test)]
mod tests;
