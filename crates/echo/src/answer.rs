//! The client side of the HTTP contract: an echo answer parsed back, for
//! tests and the conformance runner.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The `tls` block of an answer.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "camelCase")]
pub struct EchoTls {
    /// `TLSv1.3`, `TLSv1.2`, …
    pub version: String,
    /// Client certificates the backend saw (PEM).
    pub peer_certificates: Vec<String>,
    /// The SNI the backend saw.
    pub server_name: String,
    /// ALPN result.
    pub negotiated_protocol: String,
    /// IANA cipher-suite name.
    pub cipher_suite: String,
}

/// An HTTP echo answer (the JSON body), from this crate's servers or the
/// upstream `echo-basic`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct EchoAnswer {
    /// Request target as received (path and query).
    pub path: String,
    /// Host / `:authority` as received.
    pub host: String,
    /// Method.
    pub method: String,
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub proto: String,
    /// Request headers, canonical names → values.
    pub headers: BTreeMap<String, Vec<String>>,
    /// Backend namespace.
    pub namespace: String,
    /// Backend ingress name.
    pub ingress: String,
    /// Backend Service name.
    pub service: String,
    /// Backend pod name.
    pub pod: String,
    /// The backend's `HTTP_PORT` setting.
    #[serde(rename = "httpPort")]
    pub http_port: String,
    /// Present when the backend was reached over TLS.
    pub tls: Option<EchoTls>,
}

impl EchoAnswer {
    /// Parses an answer body.
    pub fn from_json(body: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body)
    }

    /// The values of request header `name` (any case) as the backend saw them.
    pub fn header_values(&self, name: &str) -> &[String] {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map_or(&[], |(_, v)| v.as_slice())
    }

    /// The first value of request header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).first().map(String::as_str)
    }

    /// The Deployment a Kubernetes-style pod name belongs to (the pod name
    /// without its last two `-` parts), as conformance weight tests count.
    pub fn deployment(&self) -> &str {
        let mut parts = self.pod.rsplitn(3, '-');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(_), Some(_), Some(base)) => base,
            _ => &self.pod,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_answer_and_finds_headers() {
        let a = EchoAnswer::from_json(
            br#"{"path":"/a?b","host":"h","method":"GET","proto":"HTTP/1.1",
                "headers":{"X-Foo":["1","2"]},"namespace":"ns","ingress":"",
                "service":"","pod":"infra-backend-v1-bcdfg-hjklm","httpPort":"3000",
                "tls":{"version":"TLSv1.3","serverName":"s","cipherSuite":"c"}}"#,
        )
        .expect("parse");
        assert_eq!(a.header("x-foo"), Some("1"));
        assert_eq!(a.header_values("X-FOO").len(), 2);
        assert_eq!(a.header("missing"), None);
        assert_eq!(a.deployment(), "infra-backend-v1");
        assert_eq!(a.tls.expect("tls").server_name, "s");
    }

    #[test]
    fn short_pod_names_are_their_own_deployment() {
        let a = EchoAnswer {
            pod: "given".into(),
            ..EchoAnswer::default()
        };
        assert_eq!(a.deployment(), "given");
    }
}
