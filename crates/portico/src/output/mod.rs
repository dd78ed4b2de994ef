//! Printing objects like kubectl: tables, YAML and JSON.

pub mod age;
pub mod jsonpath;
pub mod table;

use serde_json::Value;

/// `-o` values: `yaml`, `json`, `name`, `jsonpath=TEMPLATE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
    /// `kind.group/name`, one per line.
    Name,
    JsonPath(jsonpath::Template),
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "yaml" => Ok(Format::Yaml),
            "json" => Ok(Format::Json),
            "name" => Ok(Format::Name),
            _ => match s.strip_prefix("jsonpath=") {
                Some(t) => jsonpath::Template::parse(t).map(Format::JsonPath),
                None => Err(format!(
                    "unknown output format {s:?} (yaml, json, name, jsonpath=TEMPLATE)"
                )),
            },
        }
    }
}

/// Renders an object (or a `List`) in the given format.
pub fn render(value: &Value, format: &Format) -> anyhow::Result<String> {
    Ok(match format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(value)?;
            s.push('\n');
            s
        }
        Format::Yaml => serde_saphyr::to_string(value)?,
        Format::Name => {
            let items = match value.get("items").and_then(Value::as_array) {
                Some(items) => items.iter().collect(),
                None => vec![value],
            };
            items
                .into_iter()
                .map(|item| format!("{}\n", name(item)))
                .collect()
        }
        Format::JsonPath(t) => t.render(value),
    })
}

/// kubectl's `-o name`: `gateway.gateway.networking.k8s.io/gw`, `service/echo`.
fn name(item: &Value) -> String {
    let kind = item["kind"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let group = item["apiVersion"]
        .as_str()
        .and_then(|v| v.rsplit_once('/'))
        .map(|(g, _)| g)
        .unwrap_or_default();
    let name = item["metadata"]["name"].as_str().unwrap_or_default();
    if group.is_empty() {
        format!("{kind}/{name}")
    } else {
        format!("{kind}.{group}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn yaml_and_json_round_trip_the_object() {
        let v = json!({"apiVersion": "v1", "kind": "List", "items": [
            {"kind": "Gateway", "metadata": {"name": "gw"}, "status": {"conditions": [{"type": "Accepted", "status": "True"}]}}
        ]});
        let yaml = render(&v, &Format::Yaml).unwrap();
        assert!(yaml.contains("kind: List"), "{yaml}");
        assert!(yaml.contains("type: Accepted"), "{yaml}");
        let back: Value = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(back, v);
        let json = render(&v, &Format::Json).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), v);
    }

    #[test]
    fn name_and_jsonpath_formats() {
        let list = json!({"kind": "List", "items": [
            {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "gw"}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "echo"}}
        ]});
        assert_eq!(
            render(&list, &Format::Name).unwrap(),
            "gateway.gateway.networking.k8s.io/gw\nservice/echo\n"
        );
        let f: Format = "jsonpath={.items[0].metadata.name}".parse().unwrap();
        assert_eq!(render(&list, &f).unwrap(), "gw");
        assert!("table".parse::<Format>().is_err());
    }
}
