//! The subset of kubectl's JSONPath templates scripts use most:
//! `{.status.addresses[0].value}`, `{.items[*].metadata.name}`, literal
//! text between expressions. Several results print space-separated; strings
//! print bare, other values as JSON.

use serde_json::Value;

/// One step of a path.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Field(String),
    Index(usize),
    All,
}

/// A parsed template: literal text and paths, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    Path(Vec<Step>),
}

impl Template {
    pub fn parse(template: &str) -> Result<Template, String> {
        let mut parts = vec![];
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| format!("unclosed '{{' in {template:?}"))?;
            parts.push(Part::Path(parse_path(&after[..close])?));
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { parts })
    }

    pub fn render(&self, value: &Value) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(&unescape(t)),
                Part::Path(steps) => {
                    let found: Vec<String> = eval(value, steps).iter().map(|v| show(v)).collect();
                    out.push_str(&found.join(" "));
                }
            }
        }
        out
    }
}

fn parse_path(expr: &str) -> Result<Vec<Step>, String> {
    let expr = expr.trim();
    let mut steps = vec![];
    let mut rest = expr.strip_prefix('$').unwrap_or(expr);
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end > 0 {
                steps.push(Step::Field(r[..end].to_string()));
            }
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let close = r
                .find(']')
                .ok_or_else(|| format!("unclosed '[' in {expr:?}"))?;
            let inner = r[..close].trim();
            steps.push(match inner {
                "*" => Step::All,
                n => Step::Index(
                    n.parse()
                        .map_err(|_| format!("unsupported index {n:?} in {expr:?}"))?,
                ),
            });
            rest = &r[close + 1..];
        } else {
            return Err(format!("unsupported JSONPath {expr:?}"));
        }
    }
    Ok(steps)
}

fn eval<'a>(value: &'a Value, steps: &[Step]) -> Vec<&'a Value> {
    let Some((step, rest)) = steps.split_first() else {
        return vec![value];
    };
    let next: Vec<&Value> = match step {
        Step::Field(name) => value.get(name.as_str()).into_iter().collect(),
        Step::Index(i) => value.get(*i).into_iter().collect(),
        Step::All => match value {
            Value::Array(items) => items.iter().collect(),
            Value::Object(map) => map.values().collect(),
            _ => vec![],
        },
    };
    next.into_iter().flat_map(|v| eval(v, rest)).collect()
}

fn show(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn unescape(text: &str) -> String {
    text.replace("\\n", "\n").replace("\\t", "\t")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn render(template: &str, value: &Value) -> String {
        Template::parse(template).unwrap().render(value)
    }

    #[test]
    fn fields_indexes_and_wildcards() {
        let gw = json!({"status": {"addresses": [{"value": "127.10.0.1"}, {"value": "127.10.0.2"}]},
                        "metadata": {"generation": 2}});
        assert_eq!(render("{.status.addresses[0].value}", &gw), "127.10.0.1");
        assert_eq!(
            render("{.status.addresses[*].value}", &gw),
            "127.10.0.1 127.10.0.2"
        );
        assert_eq!(render("gen={.metadata.generation}\\n", &gw), "gen=2\n");
        assert_eq!(render("{$.missing.field}", &gw), "");
        assert_eq!(render("{.status.addresses[5].value}", &gw), "");
    }

    #[test]
    fn lists_and_objects_print_as_json() {
        let list = json!({"items": [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}]});
        assert_eq!(render("{.items[*].metadata.name}", &list), "a b");
        assert_eq!(render("{.items[1].metadata}", &list), "{\"name\":\"b\"}");
    }

    #[test]
    fn malformed_templates_are_errors() {
        assert!(Template::parse("{.a").is_err());
        assert!(Template::parse("{.a[x]}").is_err());
        assert!(Template::parse("{a.b}").is_err());
    }
}
