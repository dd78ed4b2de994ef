//! `metav1.LabelSelector` matching (matchLabels and matchExpressions).

use std::collections::BTreeMap;

use portico_model::core::LabelSelector;

/// Whether `labels` match `selector`. An absent selector matches everything;
/// an unknown operator matches nothing.
pub fn matches(selector: Option<&LabelSelector>, labels: &BTreeMap<String, String>) -> bool {
    let Some(selector) = selector else {
        return true;
    };
    let labels_ok = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let expressions_ok = selector.match_expressions.iter().flatten().all(|e| {
        let value = labels.get(&e.key);
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    labels_ok && expressions_ok
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn labels_and_expressions() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("team", "a")])),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "env".into(),
                operator: "NotIn".into(),
                values: Some(vec!["prod".into()]),
            }]),
        };
        assert!(matches(Some(&sel), &labels(&[("team", "a")])));
        assert!(matches(
            Some(&sel),
            &labels(&[("team", "a"), ("env", "dev")])
        ));
        assert!(!matches(
            Some(&sel),
            &labels(&[("team", "a"), ("env", "prod")])
        ));
        assert!(!matches(Some(&sel), &labels(&[("team", "b")])));
        assert!(matches(None, &labels(&[])));
    }

    #[test]
    fn unknown_operator_matches_nothing() {
        let sel = LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "x".into(),
                operator: "Near".into(),
                values: None,
            }]),
        };
        assert!(!matches(Some(&sel), &labels(&[("x", "1")])));
    }
}
