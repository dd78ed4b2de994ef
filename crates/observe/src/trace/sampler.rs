//! Sampling: a caller's decision (the `traceparent` sampled flag) is
//! followed; a new trace is sampled with a fixed probability decided from
//! its trace id, so every service using the same ratio agrees (the
//! OpenTelemetry "parent-based, trace-id ratio" sampler).

use super::context::{TraceId, TraceParent};

#[derive(Clone, Copy, Debug)]
pub struct Sampler {
    /// Trace ids whose low 63 bits fall under this bound are sampled.
    bound: u64,
    always: bool,
}

impl Sampler {
    /// `ratio` is clamped to 0..=1 (NaN counts as 0).
    pub fn ratio(ratio: f64) -> Sampler {
        let ratio = if ratio.is_nan() {
            0.0
        } else {
            ratio.clamp(0.0, 1.0)
        };
        Sampler {
            // The float-to-int conversion saturates; 1.0 is handled apart.
            bound: (ratio * (1u64 << 63) as f64) as u64,
            always: ratio >= 1.0,
        }
    }

    /// Whether the span of a request with `parent` (if any) and `trace_id`
    /// is recorded.
    pub fn sample(&self, parent: Option<&TraceParent>, trace_id: TraceId) -> bool {
        match parent {
            Some(p) => p.sampled(),
            None => self.always || self.root(trace_id),
        }
    }

    fn root(&self, trace_id: TraceId) -> bool {
        let mut low = [0u8; 8];
        low.copy_from_slice(&trace_id.0[8..]);
        (u64::from_be_bytes(low) >> 1) < self.bound
    }
}

#[cfg(test)]
mod tests {
    use super::super::context::SpanId;
    use super::*;

    #[test]
    fn ratio_bounds_and_parent_decision() {
        let ids: Vec<TraceId> = (0..2000).map(|_| TraceId::random()).collect();
        let count = |s: Sampler| ids.iter().filter(|id| s.sample(None, **id)).count();
        assert_eq!(count(Sampler::ratio(1.0)), ids.len());
        assert_eq!(count(Sampler::ratio(0.0)), 0);
        assert_eq!(count(Sampler::ratio(f64::NAN)), 0);
        let half = count(Sampler::ratio(0.5));
        assert!((700..1300).contains(&half), "{half} of 2000 at 0.5");

        let parent = |flags| TraceParent {
            trace_id: ids[0],
            parent_id: SpanId::random(),
            flags,
        };
        assert!(Sampler::ratio(0.0).sample(Some(&parent(1)), ids[0]));
        assert!(!Sampler::ratio(1.0).sample(Some(&parent(0)), ids[0]));
    }

    #[test]
    fn the_decision_depends_only_on_the_trace_id() {
        let s = Sampler::ratio(0.3);
        for _ in 0..100 {
            let id = TraceId::random();
            assert_eq!(s.sample(None, id), s.sample(None, id));
        }
    }
}
