//! Printing objects like kubectl: tables, YAML and JSON.

pub mod age;
pub mod table;

use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

/// Renders an object (or a `List`) in the given format.
pub fn render(value: &Value, format: Format) -> anyhow::Result<String> {
    Ok(match format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(value)?;
            s.push('\n');
            s
        }
        Format::Yaml => serde_saphyr::to_string(value)?,
    })
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
        let yaml = render(&v, Format::Yaml).unwrap();
        assert!(yaml.contains("kind: List"), "{yaml}");
        assert!(yaml.contains("type: Accepted"), "{yaml}");
        let back: Value = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(back, v);
        let json = render(&v, Format::Json).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), v);
    }
}
