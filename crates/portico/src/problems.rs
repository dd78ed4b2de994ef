//! Problems of a configuration: load errors, skipped kinds and failing
//! conditions, each with the location of its document. `portico check`
//! prints them; the admin API serves them at `/api/problems`.

use portico_model::{LoadError, LoadWarning, Location};
use portico_translate::{Condition, Statuses};
use serde::Serialize;

use crate::objects::ObjectId;
use crate::stamp::for_each_condition;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem, printable as `file:line[:col]: Kind ns/name: message`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub severity: Severity,
    pub file: Option<String>,
    pub line: Option<usize>,
    /// Only load errors point at a column.
    pub column: Option<usize>,
    pub kind: Option<String>,
    /// `namespace/name` or `name`.
    pub name: Option<String>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}:")?;
            if let Some(line) = self.line {
                write!(f, "{line}:")?;
            }
            if let Some(column) = self.column {
                write!(f, "{column}:")?;
            }
            f.write_str(" ")?;
        }
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        match (&self.kind, &self.name) {
            (Some(kind), Some(name)) => write!(f, "{kind} {name}: ")?,
            (Some(kind), None) => write!(f, "{kind}: ")?,
            (None, Some(name)) => write!(f, "{name}: ")?,
            (None, None) => {}
        }
        f.write_str(&self.message)
    }
}

/// A load error as a problem.
pub fn load_error(e: &LoadError) -> Problem {
    Problem {
        severity: Severity::Error,
        file: Some(e.location.file.display().to_string()),
        line: Some(e.location.line),
        column: Some(e.location.column),
        kind: e.kind.clone(),
        name: e.name.clone(),
        message: e.message.clone(),
    }
}

/// A problem reported by the directory source.
pub fn source_error(e: &portico_file::Error) -> Problem {
    if let portico_file::Error::Load(e) = e {
        return load_error(e);
    }
    let text = e.to_string();
    let location = e.location();
    let file = location.map(|l| l.file.as_path()).or(e.file());
    // The message repeats where it is; the Problem prints that itself.
    let prefix = match (location, file) {
        (Some(l), _) => Some(format!("{l}: ")),
        (None, Some(f)) => Some(format!("{}: ", f.display())),
        (None, None) => None,
    };
    let message = prefix
        .and_then(|p| text.strip_prefix(&p).map(str::to_string))
        .unwrap_or_else(|| text.clone());
    Problem {
        severity: Severity::Error,
        file: file.map(|f| f.display().to_string()),
        line: location.map(|l| l.line),
        column: location.map(|l| l.column),
        kind: None,
        name: None,
        message,
    }
}

/// A document that loaded with a warning (e.g. a deprecated apiVersion).
pub fn load_warning(w: &LoadWarning) -> Problem {
    Problem {
        severity: Severity::Warning,
        file: Some(w.location.file.display().to_string()),
        line: Some(w.location.line),
        column: Some(w.location.column),
        kind: w.kind.clone(),
        name: w.name.clone(),
        message: w.message.clone(),
    }
}

/// A document of a kind Portico does not use.
pub fn skipped(kind: &str, location: &Location) -> Problem {
    Problem {
        severity: Severity::Warning,
        file: Some(location.file.display().to_string()),
        line: Some(location.line),
        column: Some(location.column),
        kind: Some(kind.to_string()),
        name: None,
        message: "kind not used by Portico, skipped".to_string(),
    }
}

/// Condition types whose good state is `False`.
const NEGATIVE_POLARITY: &[&str] = &["Conflicted", "PartiallyInvalid"];

/// Whether a condition reports something wrong.
fn failing(c: &Condition) -> bool {
    if NEGATIVE_POLARITY.contains(&c.type_.as_str()) {
        c.status == "True"
    } else {
        c.status == "False"
    }
}

/// Failing conditions of one object.
pub fn conditions(id: &ObjectId, location: Option<&Location>, statuses: &Statuses) -> Vec<Problem> {
    let Some(status) = statuses.get(id.kind, &id.namespace, &id.name) else {
        return vec![];
    };
    let mut out = vec![];
    for_each_condition(status, &mut |scope, c| {
        if !failing(c) {
            return;
        }
        let scope = describe_scope(scope);
        let reason = if c.message.is_empty() {
            c.reason.clone()
        } else {
            format!("{}: {}", c.reason, c.message)
        };
        out.push(Problem {
            severity: Severity::Error,
            file: location.map(|l| l.file.display().to_string()),
            line: location.map(|l| l.line),
            column: None,
            kind: Some(id.kind.to_string()),
            name: Some(id.namespaced_name()),
            message: format!("{scope}condition {}={} {reason}", c.type_, c.status),
        });
    });
    out
}

/// `listener/http` → `listener http: `; route parents → `parent Gateway ns/name: `.
fn describe_scope(scope: &str) -> String {
    if scope.is_empty() {
        return String::new();
    }
    if let Some(listener) = scope.strip_prefix("listener/") {
        return format!("listener {listener}: ");
    }
    // parent/<controller...>/<group>/<kind>/<namespace>/<name>/<section>/<port>;
    // the controller name contains a '/', so read the fields from the end.
    let parts: Vec<&str> = scope.rsplitn(7, '/').collect();
    if let [port, section, name, namespace, kind, _group, head] = parts.as_slice() {
        let what = head.split('/').next().unwrap_or("parent");
        let kind = if kind.is_empty() { "Gateway" } else { kind };
        let mut s = format!("{what} {kind} ");
        if !namespace.is_empty() {
            s.push_str(namespace);
            s.push('/');
        }
        s.push_str(name);
        if !section.is_empty() {
            s.push('/');
            s.push_str(section);
        }
        if !port.is_empty() {
            s.push(':');
            s.push_str(port);
        }
        s.push_str(": ");
        return s;
    }
    format!("{scope}: ")
}

/// Sorts problems by file, line and column; problems without a file last.
pub fn sort(problems: &mut [Problem]) {
    problems.sort_by(|a, b| {
        (a.file.is_none(), &a.file, a.line, a.column, &a.message).cmp(&(
            b.file.is_none(),
            &b.file,
            b.line,
            b.column,
            &b.message,
        ))
    });
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use portico_model::ErrorClass;
    use portico_translate::{
        GatewayStatus, ListenerStatus, ObjectStatus, ParentReference, RouteParentStatus,
        RouteStatus,
    };

    use super::*;

    fn loc(line: usize) -> Location {
        Location {
            file: PathBuf::from("dir/gw.yaml"),
            line,
            column: 1,
        }
    }

    #[test]
    fn load_errors_print_file_line_column_kind_and_name() {
        let e = LoadError {
            location: Location {
                file: PathBuf::from("dir/a.yaml"),
                line: 12,
                column: 5,
            },
            class: ErrorClass::Invalid,
            kind: Some("Gateway".into()),
            name: Some("default/gw".into()),
            message: "spec.listeners[0].port: invalid type".into(),
        };
        assert_eq!(
            load_error(&e).to_string(),
            "dir/a.yaml:12:5: Gateway default/gw: spec.listeners[0].port: invalid type"
        );
        let bare = LoadError {
            kind: None,
            name: None,
            ..e
        };
        assert_eq!(
            load_error(&bare).to_string(),
            "dir/a.yaml:12:5: spec.listeners[0].port: invalid type"
        );
    }

    #[test]
    fn load_warnings_are_warnings() {
        let w = LoadWarning {
            location: loc(4),
            kind: Some("ReferenceGrant".into()),
            name: Some("default/g".into()),
            message: "v1beta1 is deprecated".into(),
        };
        let p = load_warning(&w);
        assert_eq!(p.severity, Severity::Warning);
        assert_eq!(
            p.to_string(),
            "dir/gw.yaml:4:1: warning: ReferenceGrant default/g: v1beta1 is deprecated"
        );
    }

    #[test]
    fn skipped_kinds_are_warnings() {
        let p = skipped("Deployment", &loc(3));
        assert_eq!(p.severity, Severity::Warning);
        assert_eq!(
            p.to_string(),
            "dir/gw.yaml:3:1: warning: Deployment: kind not used by Portico, skipped"
        );
    }

    #[test]
    fn failing_conditions_are_listed_with_their_scope() {
        let mut statuses = Statuses::default();
        statuses.insert(
            "Gateway",
            "default",
            "gw",
            ObjectStatus::Gateway(GatewayStatus {
                conditions: vec![
                    Condition::new("Accepted", true, "Accepted", "", 1),
                    Condition::new("Programmed", false, "Invalid", "no valid listener", 1),
                ],
                listeners: vec![ListenerStatus {
                    name: "https".into(),
                    conditions: vec![
                        Condition::new("ResolvedRefs", false, "InvalidCertificateRef", "", 1),
                        Condition::new("Conflicted", false, "NoConflicts", "", 1),
                    ],
                    ..ListenerStatus::default()
                }],
                ..GatewayStatus::default()
            }),
        );
        let id = ObjectId {
            kind: "Gateway",
            namespace: "default".into(),
            name: "gw".into(),
        };
        let lines: Vec<String> = conditions(&id, Some(&loc(7)), &statuses)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            vec![
                "dir/gw.yaml:7: Gateway default/gw: condition Programmed=False Invalid: no valid listener",
                "dir/gw.yaml:7: Gateway default/gw: listener https: condition ResolvedRefs=False InvalidCertificateRef",
            ]
        );
    }

    #[test]
    fn route_parents_are_named_and_conflicted_true_is_a_problem() {
        let mut statuses = Statuses::default();
        statuses.insert(
            "HTTPRoute",
            "apps",
            "r",
            ObjectStatus::Route(RouteStatus {
                parents: vec![RouteParentStatus {
                    parent_ref: ParentReference {
                        namespace: Some("infra".into()),
                        name: "gw".into(),
                        section_name: Some("http".into()),
                        ..ParentReference::default()
                    },
                    controller_name: "portico.dev/gateway-controller".into(),
                    conditions: vec![
                        Condition::new("ResolvedRefs", false, "BackendNotFound", "svc missing", 3),
                        Condition::new("Conflicted", true, "HostnameConflict", "", 3),
                    ],
                }],
            }),
        );
        let id = ObjectId {
            kind: "HTTPRoute",
            namespace: "apps".into(),
            name: "r".into(),
        };
        let lines: Vec<String> = conditions(&id, None, &statuses)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            vec![
                "HTTPRoute apps/r: parent Gateway infra/gw/http: condition ResolvedRefs=False BackendNotFound: svc missing",
                "HTTPRoute apps/r: parent Gateway infra/gw/http: condition Conflicted=True HostnameConflict",
            ]
        );
    }
}
