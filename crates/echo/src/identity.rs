//! Who an echo backend claims to be: the namespace, Service and pod it reports
//! in every answer, exactly like a conformance `echo-basic` pod does.

use serde::Serialize;

/// The identity reported by an echo backend in every response.
///
/// Conformance checks compare `namespace` for equality and check that `pod`
/// starts with the Service/Deployment name; weight tests strip the last two
/// `-` separated parts of `pod` to find the Deployment. Leave `pod` empty to
/// get a deterministic Kubernetes-looking name from [`Identity::default_pod_name`]
/// when the server starts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// `NAMESPACE` of the pod.
    pub namespace: String,
    /// `INGRESS_NAME` (usually empty).
    pub ingress: String,
    /// `SERVICE_NAME` (the Service/Deployment the pod belongs to).
    pub service: String,
    /// `POD_NAME`; empty means "derive one from service and port".
    pub pod: String,
}

/// Alphabet Kubernetes uses for generated name suffixes (no vowels, no
/// look-alike digits), so derived names look like real pod names.
const SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

impl Identity {
    /// An identity for `service` in `namespace`, with the pod name left to be
    /// derived from the port the server binds.
    pub fn new(namespace: impl Into<String>, service: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            ingress: String::new(),
            service: service.into(),
            pod: String::new(),
        }
    }

    /// Sets an explicit pod name.
    #[must_use]
    pub fn with_pod(mut self, pod: impl Into<String>) -> Self {
        self.pod = pod.into();
        self
    }

    /// Sets the ingress name.
    #[must_use]
    pub fn with_ingress(mut self, ingress: impl Into<String>) -> Self {
        self.ingress = ingress.into();
        self
    }

    /// This identity with `pod` filled in for a server bound to `port` when it
    /// was left empty.
    #[must_use]
    pub fn resolved_for_port(&self, port: u16) -> Self {
        let mut out = self.clone();
        if out.pod.is_empty() {
            out.pod = Self::default_pod_name(&self.service, port);
        }
        out
    }

    /// `<service>-<5 chars>-<5 chars>`: the first group depends only on the
    /// Service (like a ReplicaSet hash, shared by all replicas), the second on
    /// Service and port (one per replica). Deterministic across runs and
    /// releases (FNV-1a, not std's hasher). An empty service gives `echo-…`.
    pub fn default_pod_name(service: &str, port: u16) -> String {
        let base = if service.is_empty() { "echo" } else { service };
        let rs = suffix(fnv1a(base.as_bytes()));
        let mut keyed = base.as_bytes().to_vec();
        keyed.push(b'/');
        keyed.extend_from_slice(&port.to_be_bytes());
        let pod = suffix(fnv1a(&keyed));
        format!("{base}-{rs}-{pod}")
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

fn suffix(mut hash: u64) -> String {
    let n = SUFFIX_ALPHABET.len() as u64;
    let mut out = String::with_capacity(5);
    for _ in 0..5 {
        let idx = usize::try_from(hash % n).unwrap_or(0);
        out.push(char::from(SUFFIX_ALPHABET[idx]));
        hash /= n;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_pod_name_has_two_five_char_groups_after_service() {
        let name = Identity::default_pod_name("infra-backend-v1", 3000);
        let rest = name.strip_prefix("infra-backend-v1-").expect("prefix");
        let parts: Vec<&str> = rest.split('-').collect();
        assert_eq!(parts.len(), 2, "{name}");
        assert!(parts.iter().all(|p| p.len() == 5), "{name}");
        assert!(
            rest.bytes()
                .all(|b| b == b'-' || SUFFIX_ALPHABET.contains(&b))
        );
    }

    #[test]
    fn default_pod_name_is_deterministic_and_per_port() {
        let a = Identity::default_pod_name("svc", 1000);
        assert_eq!(a, Identity::default_pod_name("svc", 1000));
        let b = Identity::default_pod_name("svc", 1001);
        assert_ne!(a, b);
        // Same "replica set" part for both replicas: weight tests strip the
        // last two parts and must land on the service name either way.
        let strip = |s: &str| s.rsplitn(3, '-').nth(2).map(str::to_owned);
        assert_eq!(strip(&a).as_deref(), Some("svc"));
        assert_eq!(strip(&b).as_deref(), Some("svc"));
        assert_eq!(a.rsplit('-').nth(1), b.rsplit('-').nth(1));
    }

    #[test]
    fn explicit_pod_is_kept() {
        let id = Identity::new("ns", "svc").with_pod("given");
        assert_eq!(id.resolved_for_port(1).pod, "given");
        let derived = Identity::new("ns", "svc").resolved_for_port(7);
        assert!(derived.pod.starts_with("svc-"));
    }
}
