//! Problems found while compiling a route, and how they map to conditions.

/// Which route condition a problem belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// `ResolvedRefs=False`: a reference (backend, mirror, extension) does not
    /// resolve. The rule still exists; requests that need the reference fail.
    ResolvedRefs,
    /// `ResolvedRefs=False` for a reference whose element is simply dropped
    /// (a RequestMirror to a missing backend: the spec says not to configure
    /// it). The rule keeps serving.
    DroppedRef,
    /// The rule is invalid (unsupported value). It is dropped or answers with
    /// an error; reported as `PartiallyInvalid` or, when no rule is valid,
    /// `Accepted=False`, both with reason `UnsupportedValue`.
    Rule,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub scope: Scope,
    /// Upstream reason name (`BackendNotFound`, `UnsupportedValue`, ...).
    pub reason: &'static str,
    pub message: String,
}

impl Problem {
    pub fn refs(reason: &'static str, message: impl Into<String>) -> Problem {
        Problem {
            scope: Scope::ResolvedRefs,
            reason,
            message: message.into(),
        }
    }

    pub fn unsupported(message: impl Into<String>) -> Problem {
        Problem {
            scope: Scope::Rule,
            reason: "UnsupportedValue",
            message: message.into(),
        }
    }
}
