//! What compiling one route produces, independent of where it attaches.

use portico_ir::{BackendTarget, HttpAction, HttpRoute, WeightedBackend};

use super::backends::ClusterNeed;
use super::precedence::RuleKey;
use super::problem::{Problem, Scope};

#[derive(Debug, Default)]
pub struct Compiled<'s> {
    /// HTTPRoute / GRPCRoute: one entry per match, with its precedence key.
    pub http: Vec<(RuleKey, HttpRoute)>,
    /// TLSRoute / TCPRoute / UDPRoute: the weighted backends of all rules.
    pub backends: Vec<WeightedBackend>,
    /// The first reference that did not resolve (route `ResolvedRefs`).
    pub refs_problem: Option<Problem>,
    /// Invalid rules: (rule index, message). Reported as `PartiallyInvalid`.
    /// The message says whether the rule was dropped or answers with an error.
    pub invalid_rules: Vec<(usize, String)>,
    /// Number of rules in the route.
    pub rule_count: usize,
    /// Clusters to build when the route attaches.
    pub needs: Vec<ClusterNeed<'s>>,
}

impl Compiled<'_> {
    /// Records a problem of a rule that stays in the table (answering with
    /// an error): `ResolvedRefs` keeps the first, rule problems list the rule.
    pub fn record(&mut self, rule_index: usize, problem: &Problem) {
        self.record_as(rule_index, problem, "answers with an error");
    }

    /// Records a problem that removed the rule (no matcher could be built).
    pub fn record_dropped(&mut self, rule_index: usize, problem: &Problem) {
        self.record_as(rule_index, problem, "dropped");
    }

    fn record_as(&mut self, rule_index: usize, problem: &Problem, outcome: &str) {
        match problem.scope {
            Scope::ResolvedRefs | Scope::DroppedRef => {
                if self.refs_problem.is_none() {
                    self.refs_problem = Some(problem.clone());
                }
            }
            Scope::Rule => {
                if !self.invalid_rules.iter().any(|(i, _)| *i == rule_index) {
                    self.invalid_rules
                        .push((rule_index, format!("{outcome}: {}", problem.message)));
                }
            }
        }
    }

    /// A route whose every rule is invalid is not accepted at all.
    pub fn all_rules_invalid(&self) -> bool {
        self.rule_count > 0 && self.invalid_rules.len() >= self.rule_count
    }
}

/// The action of a rule that cannot be served as written: every request it
/// matches gets an error from the gateway (HTTP 500 / gRPC UNAVAILABLE).
pub fn error_action(reason: &str, grpc: bool) -> HttpAction {
    HttpAction {
        backends: vec![WeightedBackend {
            weight: 1,
            target: BackendTarget::Invalid {
                reason: reason.to_string(),
            },
            filters: Vec::new(),
        }],
        grpc,
        ..HttpAction::default()
    }
}
