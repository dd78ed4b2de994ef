//! GatewayClass acceptance.
//!
//! A class is ours when `spec.controllerName` equals
//! [`crate::Options::controller_name`]; classes of other controllers get no
//! status at all. Portico has no parameters resource yet, so any
//! `parametersRef` is reported as `Accepted=False/InvalidParameters`.

use std::collections::BTreeSet;

use portico_model::Snapshot;
use portico_model::gateway::GatewayClass;

use crate::{Condition, GatewayClassStatus, ObjectStatus, Options, Statuses, SupportedFeature};

/// Names of the GatewayClasses this controller owns and accepted.
#[derive(Clone, Debug, Default)]
pub struct AcceptedClasses {
    pub names: BTreeSet<String>,
}

impl AcceptedClasses {
    pub fn contains(&self, name: &str) -> bool {
        self.names.contains(name)
    }
}

/// Writes the status of every GatewayClass of ours and returns the accepted ones.
pub fn evaluate(
    snapshot: &Snapshot,
    options: &Options,
    statuses: &mut Statuses,
) -> AcceptedClasses {
    let mut accepted = AcceptedClasses::default();
    for class in &snapshot.gateway_classes {
        if class.spec.controller_name != options.controller_name {
            continue;
        }
        let Some(name) = class.metadata.name.as_deref() else {
            continue;
        };
        let status = class_status(class);
        if status.conditions.first().is_some_and(Condition::is_true) {
            accepted.names.insert(name.to_string());
        }
        statuses.insert("GatewayClass", "", name, ObjectStatus::GatewayClass(status));
    }
    accepted
}

fn class_status(class: &GatewayClass) -> GatewayClassStatus {
    let generation = class.metadata.generation.unwrap_or(0);
    let accepted = match &class.spec.parameters_ref {
        Some(p) => Condition::new(
            "Accepted",
            false,
            "InvalidParameters",
            format!(
                "parametersRef {}/{} {} is not supported by this controller",
                p.group, p.kind, p.name
            ),
            generation,
        ),
        None => Condition::new(
            "Accepted",
            true,
            "Accepted",
            "Accepted by Portico",
            generation,
        ),
    };
    let supported_version = Condition::new(
        "SupportedVersion",
        true,
        "SupportedVersion",
        "Gateway API v1.6.1",
        generation,
    );
    GatewayClassStatus {
        conditions: vec![accepted, supported_version],
        supported_features: crate::features::SUPPORTED
            .iter()
            .map(|name| SupportedFeature {
                name: (*name).to_string(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use portico_model::core::ObjectMeta;
    use portico_model::gateway::{GatewayClassParametersRef, GatewayClassSpec};

    use super::*;
    use crate::condition;

    fn class(name: &str, controller: &str, generation: i64) -> GatewayClass {
        GatewayClass {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                generation: Some(generation),
                ..ObjectMeta::default()
            },
            spec: GatewayClassSpec {
                controller_name: controller.to_string(),
                ..GatewayClassSpec::default()
            },
            status: None,
        }
    }

    fn class_of(statuses: &Statuses, name: &str) -> GatewayClassStatus {
        match statuses.get("GatewayClass", "", name) {
            Some(ObjectStatus::GatewayClass(s)) => s.clone(),
            other => panic!("no GatewayClass status for {name}: {other:?}"),
        }
    }

    #[test]
    fn accepts_own_classes_and_ignores_others() {
        let snapshot = Snapshot {
            gateway_classes: vec![
                class("portico", crate::CONTROLLER_NAME, 3),
                class("other", "example.com/other", 1),
            ],
            ..Snapshot::default()
        };
        let mut statuses = Statuses::default();
        let accepted = evaluate(&snapshot, &Options::default(), &mut statuses);
        assert!(accepted.contains("portico"));
        assert!(!accepted.contains("other"));
        assert!(statuses.get("GatewayClass", "", "other").is_none());
        let status = class_of(&statuses, "portico");
        let cond = condition(&status.conditions, "Accepted").expect("Accepted");
        assert!(cond.is_true());
        assert_eq!(cond.reason, "Accepted");
        assert!(status.conditions.iter().all(|c| c.observed_generation == 3));
        let names: Vec<_> = status
            .supported_features
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(names, crate::features::SUPPORTED);
    }

    #[test]
    fn parameters_ref_is_invalid_parameters() {
        let mut c = class("portico", crate::CONTROLLER_NAME, 2);
        c.spec.parameters_ref = Some(GatewayClassParametersRef {
            group: "example.com".into(),
            kind: "Config".into(),
            name: "x".into(),
            namespace: None,
        });
        let snapshot = Snapshot {
            gateway_classes: vec![c],
            ..Snapshot::default()
        };
        let mut statuses = Statuses::default();
        let accepted = evaluate(&snapshot, &Options::default(), &mut statuses);
        assert!(!accepted.contains("portico"));
        let status = class_of(&statuses, "portico");
        let cond = condition(&status.conditions, "Accepted").expect("Accepted");
        assert!(!cond.is_true());
        assert_eq!(cond.reason, "InvalidParameters");
        assert_eq!(cond.observed_generation, 2);
    }
}
