//! The pruned CRD schemas of the Gateway API kinds (`generated/schema.json`,
//! produced by `scripts/gen-model.sh`): defaults and validations only.
//!
//! A node may hold `default`, `pattern`, `maxLength`, `minLength`,
//! `maxItems`, `minItems`, `minimum`, `maximum`, `enum`, `maxProperties`,
//! `x-kubernetes-list-type` (`map` or `set`), `x-kubernetes-list-map-keys`,
//! and children under `properties`, `items` and `additionalProperties`.

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::{Map, Value};

static SCHEMA_JSON: &str = include_str!("../generated/schema.json");

struct Schemas {
    kinds: Map<String, Value>,
    /// Every `pattern`, compiled once; None if it does not compile.
    patterns: HashMap<String, Option<Regex>>,
}

fn collect_patterns(node: &Value, out: &mut HashMap<String, Option<Regex>>) {
    match node {
        Value::Object(map) => {
            if let Some(Value::String(p)) = map.get("pattern")
                && !out.contains_key(p)
            {
                let compiled = match Regex::new(p) {
                    Ok(re) => Some(re),
                    Err(e) => {
                        tracing::warn!(pattern = %p, error = %e, "CRD pattern does not compile; not checked");
                        None
                    }
                };
                out.insert(p.clone(), compiled);
            }
            for (key, child) in map {
                // `default` and `enum` hold data, not schema.
                if key != "default" && key != "enum" {
                    collect_patterns(child, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_patterns(i, out)),
        _ => {}
    }
}

fn schemas() -> &'static Schemas {
    static PARSED: OnceLock<Schemas> = OnceLock::new();
    PARSED.get_or_init(|| {
        let kinds = match serde_json::from_str(SCHEMA_JSON) {
            Ok(Value::Object(map)) => map,
            // Generated and checked in; a unit test keeps it parseable.
            _ => {
                tracing::error!("generated/schema.json is not a JSON object; CRD defaults and validation are off");
                Map::new()
            }
        };
        let mut patterns = HashMap::new();
        for schema in kinds.values() {
            collect_patterns(schema, &mut patterns);
        }
        Schemas { kinds, patterns }
    })
}

/// The pruned schema of `kind`, for the Gateway API kinds.
pub(crate) fn for_kind(kind: &str) -> Option<&'static Value> {
    schemas().kinds.get(kind)
}

/// The compiled form of a `pattern` found in the schemas.
pub(crate) fn pattern(pattern: &str) -> Option<&'static Regex> {
    schemas().patterns.get(pattern).and_then(Option::as_ref)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_parse_and_every_pattern_compiles() {
        let s = schemas();
        for kind in [
            "Gateway",
            "GatewayClass",
            "HTTPRoute",
            "GRPCRoute",
            "TLSRoute",
            "TCPRoute",
            "UDPRoute",
            "ListenerSet",
            "BackendTLSPolicy",
            "ReferenceGrant",
        ] {
            assert!(s.kinds.contains_key(kind), "{kind} has a schema");
        }
        assert!(s.patterns.len() > 10);
        let broken: Vec<_> = s.patterns.iter().filter(|(_, re)| re.is_none()).collect();
        assert!(
            broken.is_empty(),
            "patterns that do not compile: {broken:?}"
        );
    }

    #[test]
    fn status_is_not_part_of_the_schema() {
        let gw = for_kind("Gateway").expect("gateway");
        assert!(gw["properties"].get("status").is_none());
        assert!(gw["properties"].get("spec").is_some());
    }
}
