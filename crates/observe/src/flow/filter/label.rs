//! Label filters: Kubernetes label selectors over an endpoint's labels.
//!
//! Supported syntax (comma-separated requirements, all must hold): `k=v`,
//! `k==v`, `k!=v`, `k` (exists), `!k` (absent), `k in (a,b)`,
//! `k notin (a,b)`. Endpoint labels are `key=value` strings whose key may
//! carry a source prefix (`k8s:app`); a selector key without `:` ignores
//! that prefix, one with `:` must match it exactly (`any:` matches every
//! source).

use super::{Predicate, Side, invalid, when};
use crate::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Exists(String),
    NotExists(String),
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

/// A parsed label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// Parses a selector; `field` names the filter field in errors.
    pub fn parse(field: &'static str, value: &str) -> Result<LabelSelector, Error> {
        let mut requirements = Vec::new();
        for part in split_top_level(value) {
            let part = part.trim();
            if part.is_empty() {
                return Err(invalid(field, value, "empty requirement"));
            }
            requirements.push(parse_requirement(field, value, part)?);
        }
        Ok(LabelSelector { requirements })
    }

    /// True when every requirement holds for these `key=value` labels.
    pub fn matches<S: AsRef<str>>(&self, labels: &[S]) -> bool {
        self.requirements.iter().all(|req| match req {
            Requirement::Exists(k) => lookup(labels, k).next().is_some(),
            Requirement::NotExists(k) => lookup(labels, k).next().is_none(),
            Requirement::Equals(k, v) => lookup(labels, k).any(|x| x == v),
            Requirement::NotEquals(k, v) => !lookup(labels, k).any(|x| x == v),
            Requirement::In(k, vs) => lookup(labels, k).any(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => !lookup(labels, k).any(|x| vs.iter().any(|v| v == x)),
        })
    }
}

/// Values of the labels whose key matches `want`.
fn lookup<'a, S: AsRef<str>>(labels: &'a [S], want: &'a str) -> impl Iterator<Item = &'a str> {
    let (want_source, want_key) = match want.split_once(':') {
        Some(("any", k)) => (None, k),
        Some((src, k)) => (Some(src), k),
        None => (None, want),
    };
    labels.iter().filter_map(move |l| {
        let l = l.as_ref();
        let (key, value) = l.split_once('=').unwrap_or((l, ""));
        let (source, bare) = match key.split_once(':') {
            Some((s, k)) => (Some(s), k),
            None => (None, key),
        };
        let source_ok = want_source.is_none() || want_source == source;
        (source_ok && bare == want_key).then_some(value)
    })
}

fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn parse_requirement(field: &'static str, whole: &str, part: &str) -> Result<Requirement, Error> {
    if let Some(key) = part.strip_prefix('!') {
        return Ok(Requirement::NotExists(key_of(field, whole, key)?));
    }
    for (op, negate) in [(" notin ", true), (" in ", false)] {
        if let Some((key, set)) = part.split_once(op) {
            let key = key_of(field, whole, key)?;
            let set = set.trim();
            let inner = set
                .strip_prefix('(')
                .and_then(|s| s.strip_suffix(')'))
                .ok_or_else(|| invalid(field, whole, "expected a (v1,v2) value set"))?;
            let values: Vec<String> = inner.split(',').map(|v| v.trim().to_owned()).collect();
            for v in &values {
                value_of(field, whole, v)?;
            }
            return Ok(if negate {
                Requirement::NotIn(key, values)
            } else {
                Requirement::In(key, values)
            });
        }
    }
    if let Some((key, value)) = part.split_once("!=") {
        return Ok(Requirement::NotEquals(
            key_of(field, whole, key)?,
            value_of(field, whole, value)?,
        ));
    }
    if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
        return Ok(Requirement::Equals(
            key_of(field, whole, key)?,
            value_of(field, whole, value)?,
        ));
    }
    Ok(Requirement::Exists(key_of(field, whole, part)?))
}

fn key_of(field: &'static str, whole: &str, key: &str) -> Result<String, Error> {
    let key = key.trim();
    let valid = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | ':'));
    if valid {
        Ok(key.to_owned())
    } else {
        Err(invalid(field, whole, format!("invalid label key {key:?}")))
    }
}

fn value_of(field: &'static str, whole: &str, value: &str) -> Result<String, Error> {
    let value = value.trim();
    let valid = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if valid {
        Ok(value.to_owned())
    } else {
        Err(invalid(
            field,
            whole,
            format!("invalid label value {value:?}"),
        ))
    }
}

pub(super) fn compile(side: Side, values: &[String]) -> Result<Option<Predicate>, Error> {
    let field = match side {
        Side::Source => "source_label",
        Side::Destination => "destination_label",
    };
    let sels = values
        .iter()
        .map(|v| LabelSelector::parse(field, v))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(when(!sels.is_empty(), move |r| {
        let ep = match side {
            Side::Source => r.flow.source.as_deref(),
            Side::Destination => r.flow.destination.as_deref(),
        };
        ep.is_some_and(|ep| sels.iter().any(|s| s.matches(&ep.labels)))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(s: &str) -> LabelSelector {
        LabelSelector::parse("source_label", s).expect(s)
    }

    const LABELS: [&str; 3] = [
        "k8s:app=web",
        "tier=frontend",
        "k8s:io.kubernetes.pod.namespace=shop",
    ];

    #[test]
    fn equality_and_existence() {
        assert!(sel("app=web").matches(&LABELS));
        assert!(sel("app==web").matches(&LABELS));
        assert!(sel("k8s:app=web").matches(&LABELS));
        assert!(sel("any:app=web").matches(&LABELS));
        assert!(!sel("reserved:app=web").matches(&LABELS));
        assert!(!sel("app=db").matches(&LABELS));
        assert!(sel("tier").matches(&LABELS));
        assert!(!sel("missing").matches(&LABELS));
        assert!(sel("!missing").matches(&LABELS));
        assert!(!sel("!tier").matches(&LABELS));
        assert!(sel("app!=db").matches(&LABELS));
        assert!(!sel("app!=web").matches(&LABELS));
    }

    #[test]
    fn set_based_and_conjunction() {
        assert!(sel("tier in (backend, frontend)").matches(&LABELS));
        assert!(!sel("tier notin (frontend)").matches(&LABELS));
        assert!(sel("app=web,tier in (frontend),!db").matches(&LABELS));
        assert!(!sel("app=web,tier=backend").matches(&LABELS));
    }

    #[test]
    fn invalid_selectors_are_rejected() {
        for bad in [
            "",
            "app=web,",
            "a b=c",
            "tier in frontend",
            "app=we b",
            "=x",
        ] {
            assert!(
                LabelSelector::parse("source_label", bad).is_err(),
                "{bad:?}"
            );
        }
    }
}
