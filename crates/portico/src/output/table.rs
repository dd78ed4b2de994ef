//! kubectl-style tables: one row per object, columns padded with 3 spaces.

use std::time::SystemTime;

use serde_json::Value;

use super::age::age;
use crate::kinds::{Columns, KindInfo};

/// Renders `items` (objects of `kind`) as a table; `qualify` prints names as
/// `kind.group/name` (kubectl does when several kinds are listed).
pub fn render(
    kind: &KindInfo,
    items: &[Value],
    with_namespace: bool,
    qualify: bool,
    now: SystemTime,
) -> String {
    let mut header: Vec<&str> = vec![];
    if with_namespace {
        header.push("NAMESPACE");
    }
    header.push("NAME");
    header.extend(match kind.columns {
        Columns::Gateway => &["CLASS", "ADDRESS", "PROGRAMMED"][..],
        Columns::GatewayClass => &["CONTROLLER", "ACCEPTED"][..],
        Columns::Route => &["HOSTNAMES"][..],
        Columns::Plain => &[][..],
    });
    header.push("AGE");
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|item| row(kind, item, with_namespace, qualify, now))
        .collect();
    align(&header, &rows)
}

fn row(
    kind: &KindInfo,
    item: &Value,
    with_namespace: bool,
    qualify: bool,
    now: SystemTime,
) -> Vec<String> {
    let meta = &item["metadata"];
    let mut cells = vec![];
    if with_namespace {
        cells.push(str_at(meta, "namespace"));
    }
    let name = str_at(meta, "name");
    cells.push(if qualify {
        crate::kinds::qualified_name(kind, &name)
    } else {
        name
    });
    match kind.columns {
        Columns::Gateway => {
            cells.push(str_at(&item["spec"], "gatewayClassName"));
            cells.push(
                item["status"]["addresses"]
                    .get(0)
                    .map(|a| str_at(a, "value"))
                    .unwrap_or_default(),
            );
            cells.push(condition_status(item, "Programmed"));
        }
        Columns::GatewayClass => {
            cells.push(str_at(&item["spec"], "controllerName"));
            cells.push(condition_status(item, "Accepted"));
        }
        Columns::Route => cells.push(match &item["spec"]["hostnames"] {
            Value::Array(hosts) if !hosts.is_empty() => {
                serde_json::to_string(hosts).unwrap_or_default()
            }
            _ => String::new(),
        }),
        Columns::Plain => {}
    }
    cells.push(age(meta["creationTimestamp"].as_str(), now));
    cells
}

fn str_at(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// `True`/`False`/`Unknown` of a top-level condition, `Unknown` when absent.
fn condition_status(item: &Value, type_: &str) -> String {
    item["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .map(|c| str_at(c, "status"))
        .unwrap_or_else(|| "Unknown".to_string())
}

fn align(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            if i + 1 < widths.len() {
                let pad = widths[i] + 3 - cell.chars().count();
                text.push_str(cell);
                text.extend(std::iter::repeat_n(' ', pad));
            } else {
                text.push_str(cell);
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::kinds::resolve;

    fn now() -> SystemTime {
        humantime::parse_rfc3339("2026-01-01T00:10:00Z").unwrap()
    }

    #[test]
    fn gateway_table_has_class_address_and_programmed() {
        let gw = json!({
            "metadata": {"name": "gw", "namespace": "default", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"gatewayClassName": "portico"},
            "status": {
                "addresses": [{"type": "IPAddress", "value": "127.10.0.1"}],
                "conditions": [{"type": "Accepted", "status": "True"}, {"type": "Programmed", "status": "True"}]
            }
        });
        let table = render(resolve("gtw").unwrap(), &[gw], false, false, now());
        assert_eq!(
            table,
            "NAME   CLASS     ADDRESS      PROGRAMMED   AGE\n\
             gw     portico   127.10.0.1   True         10m\n"
        );
    }

    #[test]
    fn qualified_names_for_several_kinds() {
        let svc = json!({"metadata": {"name": "echo", "namespace": "default"}});
        let table = render(resolve("svc").unwrap(), &[svc], false, true, now());
        assert_eq!(table, "NAME           AGE\nservice/echo   <unknown>\n");
    }

    #[test]
    fn all_namespaces_adds_the_namespace_column_and_missing_status_is_unknown() {
        let gc = json!({"metadata": {"name": "portico"}, "spec": {"controllerName": "portico.dev/gateway-controller"}});
        let table = render(resolve("gc").unwrap(), &[gc], false, false, now());
        assert_eq!(
            table,
            "NAME      CONTROLLER                       ACCEPTED   AGE\n\
             portico   portico.dev/gateway-controller   Unknown    <unknown>\n"
        );
        let route = json!({"metadata": {"name": "r", "namespace": "apps"}, "spec": {"hostnames": ["a.example.com"]}});
        let table = render(resolve("httproutes").unwrap(), &[route], true, false, now());
        assert_eq!(
            table,
            "NAMESPACE   NAME   HOSTNAMES           AGE\n\
             apps        r      [\"a.example.com\"]   <unknown>\n"
        );
    }
}
