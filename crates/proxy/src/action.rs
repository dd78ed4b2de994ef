//! What a matched route does: filters, weighted backends, timeouts.

use std::sync::Arc;
use std::time::Duration;

use portico_ir::{BackendTarget, HttpAction};

use crate::Error;
use crate::filters::Filter;
use crate::retry::Retry;
use crate::session::Session;
use crate::upstream::{Backend, BackendSet, Target, Upstreams};

#[derive(Debug)]
pub struct Action {
    pub filters: Vec<Filter>,
    pub backends: BackendSet,
    /// Whole request until response headers; `None`: no limit.
    pub request_timeout: Option<Duration>,
    /// One upstream attempt; `None`: no limit.
    pub backend_timeout: Option<Duration>,
    pub retry: Option<Retry>,
    pub session: Option<Session>,
    pub grpc: bool,
}

impl Action {
    /// Compiles `action`. Bad filter input (which translation should have
    /// rejected) turns the whole rule into a 500 rather than half-applying it.
    pub fn compile(
        action: &HttpAction,
        matched_prefix: Option<&str>,
        upstreams: &Upstreams,
    ) -> Action {
        match Action::try_compile(action, matched_prefix, upstreams) {
            Ok(a) => a,
            Err(error) => {
                tracing::warn!(%error, "route action rejected; the rule answers 500");
                Action::invalid(action.grpc, error.to_string())
            }
        }
    }

    fn try_compile(
        action: &HttpAction,
        matched_prefix: Option<&str>,
        upstreams: &Upstreams,
    ) -> Result<Action, Error> {
        let filters = Filter::compile_all(&action.filters, matched_prefix, upstreams)?;
        let mut backends = Vec::with_capacity(action.backends.len());
        for b in &action.backends {
            let target = match &b.target {
                BackendTarget::Cluster(id) => match upstreams.get(id) {
                    Some(c) => Target::Cluster(Arc::clone(c)),
                    None => Target::Invalid(format!("cluster {id} is not in the IR").into()),
                },
                BackendTarget::Invalid { reason } => Target::Invalid(reason.as_str().into()),
            };
            let filters = Filter::compile_all(&b.filters, matched_prefix, upstreams)?;
            backends.push((b.weight, Backend { target, filters }));
        }
        Ok(Action {
            filters,
            backends: BackendSet::new(backends),
            request_timeout: action.timeouts.request.filter(|d| !d.is_zero()),
            backend_timeout: action.timeouts.backend_request.filter(|d| !d.is_zero()),
            retry: action.retry.as_ref().map(Retry::compile),
            session: action
                .session_persistence
                .as_ref()
                .and_then(Session::compile),
            grpc: action.grpc,
        })
    }

    fn invalid(grpc: bool, reason: String) -> Action {
        Action {
            filters: Vec::new(),
            backends: BackendSet::new([(
                1,
                Backend {
                    target: Target::Invalid(reason.into()),
                    filters: Vec::new(),
                },
            )]),
            request_timeout: None,
            backend_timeout: None,
            retry: None,
            session: None,
            grpc,
        }
    }

    /// Whether the request body may be sent more than once: to a mirror,
    /// or again on a retry.
    pub fn replays_body(&self) -> bool {
        let mirrors = |filters: &[Filter]| filters.iter().any(|f| matches!(f, Filter::Mirror(_)));
        self.retry.is_some()
            || mirrors(&self.filters)
            || self.backends.iter().any(|b| mirrors(&b.filters))
    }

    /// Whether the rule answers by itself (a redirect) without a backend.
    pub fn redirects(&self) -> bool {
        self.filters
            .iter()
            .any(|f| matches!(f, Filter::Redirect(_)))
    }
}
