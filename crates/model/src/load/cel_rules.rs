//! The CEL rules (`x-kubernetes-validations`) of the Gateway API CRDs,
//! evaluated as the API server would on create, with `self` bound to the
//! value the rule sits on.
//!
//! Violations are reported as warnings, not errors: the object still loads
//! and translation reports what matters to it as status conditions. The
//! environment is CEL's standard library, the strings extension and
//! Kubernetes' `isIP` and `duration`; a rule using anything else fails to
//! evaluate and is skipped. Transition rules (`oldSelf`) are left out by the
//! generator.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::Arc;

use cel::{Context, Env, ExecutionError, Program};
use serde_json::{Map, Value};

use super::node::escape_segment;
use super::schema;

/// A rule that evaluated to false.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Violation {
    /// JSON pointer of the value the message is about.
    pub(crate) pointer: String,
    pub(crate) message: String,
}

/// Every violated rule in `object` (a whole object) of `kind`.
pub(crate) fn check(kind: &str, object: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    if let Some(schema) = schema::for_kind(kind) {
        let mut pointer = String::new();
        ROOT.with(|root| walk(root, object, schema, &mut pointer, &mut out));
    }
    out
}

thread_local! {
    /// The CEL standard library plus the strings extension (`split`,
    /// `substring`, ...), as in the Kubernetes environment.
    static ENV: Arc<Env> = {
        let mut env = Env::stdlib();
        if let Err(e) = env.add_extension(cel::extensions::strings) {
            tracing::debug!(error = %e, "CEL strings extension not available");
        }
        Arc::new(env)
    };
    /// The environment plus Kubernetes' `isIP` and `duration`, built once per
    /// thread; each value gets an inner scope binding `self`.
    static ROOT: Context<'static, 'static> = {
        let mut root = Context::with_env(ENV.with(Arc::clone));
        let declared = root
            .add_function("isIP", |s: Arc<String>| s.parse::<IpAddr>().is_ok())
            .and_then(|()| root.add_function("duration", duration));
        if let Err(e) = declared {
            tracing::debug!(error = %e, "CEL functions not declared");
        }
        root
    };
}

/// Kubernetes' `duration(string)` for the Gateway API duration format
/// (`1h30m`, `500ms`), as nanoseconds: enough for comparisons.
fn duration(s: Arc<String>) -> Result<i64, ExecutionError> {
    let bad = || ExecutionError::function_error("duration", format!("invalid duration {s:?}"));
    let mut total: i64 = 0;
    let mut rest = s.as_str();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (1_000_000, 2)
        } else if rest.starts_with('h') {
            (3_600_000_000_000, 1)
        } else if rest.starts_with('m') {
            (60_000_000_000, 1)
        } else if rest.starts_with('s') {
            (1_000_000_000, 1)
        } else {
            return Err(bad());
        };
        rest = &rest[len..];
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    Ok(total)
}

fn walk(
    root: &Context<'_, '_>,
    value: &Value,
    schema: &Value,
    pointer: &mut String,
    out: &mut Vec<Violation>,
) {
    if let Some(Value::Array(rules)) = schema.get("x-kubernetes-validations")
        && !value.is_null()
    {
        // Convert once per value; every rule on it sees the same `self`.
        if let Ok(this) = cel::to_value(escaped(value)) {
            let mut context = root.new_inner_scope();
            context.add_variable_from_value("self", this);
            for rule in rules {
                evaluate(&context, rule, pointer, out);
            }
        }
    }
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            for (name, child) in map {
                let Some(child_schema) = properties.and_then(|p| p.get(name)).or(additional) else {
                    continue;
                };
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&escape_segment(name));
                walk(root, child, child_schema, pointer, out);
                pointer.truncate(len);
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&i.to_string());
                    walk(root, item, item_schema, pointer, out);
                    pointer.truncate(len);
                }
            }
        }
        _ => {}
    }
}

thread_local! {
    /// Compiled rules; None for a rule that does not compile.
    static PROGRAMS: RefCell<HashMap<String, Option<Rc<Program>>>> = RefCell::new(HashMap::new());
}

fn program(rule: &str) -> Option<Rc<Program>> {
    PROGRAMS.with(|cache| {
        cache
            .borrow_mut()
            .entry(rule.to_string())
            .or_insert_with(|| match ENV.with(|env| env.compile(rule)) {
                Ok(p) => Some(Rc::new(p)),
                Err(e) => {
                    tracing::debug!(rule, error = %e, "CEL rule does not compile; skipped");
                    None
                }
            })
            .clone()
    })
}

/// Names the Kubernetes CEL environment escapes as `__name__`.
const RESERVED: &[&str] = &[
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

/// The value as CEL sees it: reserved property names escaped.
fn escaped(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let key = if RESERVED.contains(&k.as_str()) {
                        format!("__{k}__")
                    } else {
                        k.clone()
                    };
                    (key, escaped(v))
                })
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(escaped).collect()),
        other => other.clone(),
    }
}

fn evaluate(context: &Context<'_, '_>, rule: &Value, pointer: &str, out: &mut Vec<Violation>) {
    let Some(source) = rule.get("rule").and_then(Value::as_str) else {
        return;
    };
    let Some(program) = program(source) else {
        return;
    };
    match program.execute(context) {
        Ok(cel::Value::Bool(false)) => {
            let message = rule
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| format!("failed rule: {source}"), str::to_string);
            let pointer = match rule.get("fieldPath").and_then(Value::as_str) {
                Some(path) => field_pointer(pointer, path),
                None => pointer.to_string(),
            };
            out.push(Violation { pointer, message });
        }
        Ok(_) => {}
        Err(e) => tracing::trace!(rule = source, error = %e, "CEL rule not evaluated"),
    }
}

/// `fieldPath` (`.a.b`, relative to the rule's value) as a JSON pointer;
/// forms with brackets stay at the rule's value.
fn field_pointer(base: &str, path: &str) -> String {
    if path.contains('[') || !path.starts_with('.') {
        return base.to_string();
    }
    let mut out = base.to_string();
    for segment in path.split('.').skip(1) {
        out.push('/');
        out.push_str(&escape_segment(segment));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn gateway(listeners: Value) -> Value {
        json!({"spec": {"gatewayClassName": "portico", "listeners": listeners}})
    }

    #[test]
    fn valid_objects_pass() {
        let gw = gateway(json!([{"name": "http", "port": 80, "protocol": "HTTP"}]));
        assert_eq!(check("Gateway", &gw), []);
    }

    #[test]
    fn violated_rules_are_reported_with_their_message() {
        let gw = gateway(json!([
            {"name": "a", "port": 443, "protocol": "HTTPS", "tls": {"mode": "Passthrough"}},
            {"name": "b", "port": 80, "protocol": "HTTP", "tls": {"mode": "Terminate"}}
        ]));
        let messages: Vec<_> = check("Gateway", &gw)
            .into_iter()
            .map(|v| v.message)
            .collect();
        assert!(
            messages
                .iter()
                .any(|m| m.contains("tls mode must be Terminate for protocol HTTPS")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("tls must not be specified")),
            "{messages:?}"
        );
    }

    #[test]
    fn rules_see_escaped_reserved_names() {
        // parentRefs rules compare `p1.__namespace__`: two refs to the same
        // Gateway without sectionName are rejected.
        let route = json!({"spec": {"parentRefs": [
            {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw", "namespace": "a"},
            {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw", "namespace": "a"}
        ]}});
        let v = check("HTTPRoute", &route);
        assert!(!v.is_empty(), "duplicate parentRefs must violate a rule");
        assert!(v.iter().all(|v| v.pointer == "/spec/parentRefs"), "{v:?}");
    }

    #[test]
    fn path_rules() {
        let route = json!({"spec": {"rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "no-slash"}}]}]}});
        let v = check("HTTPRoute", &route);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].pointer, "/spec/rules/0/matches/0/path");
        assert!(v[0].message.contains("absolute path"), "{}", v[0].message);
    }

    #[test]
    fn service_backend_needs_a_port() {
        let mut route = json!({"spec": {"rules": [{"backendRefs": [{"name": "svc"}]}]}});
        super::super::defaults::apply("HTTPRoute", &mut route);
        let v = check("HTTPRoute", &route);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].pointer, "/spec/rules/0/backendRefs/0");
        assert_eq!(v[0].message, "Must have port for Service reference");
    }

    #[test]
    fn kubernetes_functions() {
        let route = json!({"spec": {"hostnames": ["10.0.0.1"], "rules": []}});
        let v = check("TLSRoute", &route);
        assert_eq!(v.len(), 1, "{v:?}");
        let route =
            json!({"spec": {"rules": [{"timeouts": {"request": "1s", "backendRequest": "2s"}}]}});
        let v = check("HTTPRoute", &route);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].message
                .starts_with("backendRequest timeout cannot be longer")
        );
        let route = json!({"spec": {"rules": [{"timeouts": {"request": "1h", "backendRequest": "500ms"}}]}});
        assert_eq!(check("HTTPRoute", &route), []);
        let gw = json!({"spec": {"listeners": [], "infrastructure": {"labels": {"a/b": "c"}}}});
        assert_eq!(check("Gateway", &gw), []);
        assert_eq!(
            duration(Arc::new("1h30m".to_string())),
            Ok(5_400_000_000_000)
        );
        assert!(duration(Arc::new("1x".to_string())).is_err());
    }

    #[test]
    fn field_paths() {
        assert_eq!(field_pointer("/spec", ".a.b"), "/spec/a/b");
        assert_eq!(field_pointer("/spec", ".a[0]"), "/spec");
    }
}
