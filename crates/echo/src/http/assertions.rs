//! The JSON body of an echo answer (the upstream `RequestAssertions`).

use std::collections::BTreeMap;

use http::{HeaderMap, Request, Uri, Version, header};
use serde::Serialize;

use crate::Identity;
use crate::tls::TlsInfo;

/// What the backend saw, in the exact field names conformance parses.
#[derive(Debug, Serialize)]
pub(crate) struct RequestAssertions<'a> {
    pub(crate) path: String,
    pub(crate) host: String,
    pub(crate) method: &'a str,
    pub(crate) proto: &'static str,
    pub(crate) headers: BTreeMap<String, Vec<String>>,
    pub(crate) namespace: &'a str,
    pub(crate) ingress: &'a str,
    pub(crate) service: &'a str,
    pub(crate) pod: &'a str,
    #[serde(rename = "httpPort")]
    pub(crate) http_port: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tls: Option<&'a TlsInfo>,
}

impl RequestAssertions<'_> {
    /// Pretty JSON with a one-space indent (the upstream server's layout).
    pub(crate) fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b" ");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
        match self.serialize(&mut ser) {
            Ok(()) => out,
            // Serialising strings and string maps cannot fail; keep a valid
            // body anyway.
            Err(_) => b"{}".to_vec(),
        }
    }
}

impl<'a> RequestAssertions<'a> {
    /// What `req` looks like to the backend.
    pub(crate) fn from_request<B>(
        req: &'a Request<B>,
        identity: &'a Identity,
        http_port: &'a str,
        tls: Option<&'a TlsInfo>,
    ) -> Self {
        RequestAssertions {
            path: request_uri(req.uri(), req.version()),
            host: request_host(req.uri(), req.headers(), req.version()),
            method: req.method().as_str(),
            proto: proto_name(req.version()),
            headers: canonical_headers(req.headers()),
            namespace: &identity.namespace,
            ingress: &identity.ingress,
            service: &identity.service,
            pod: &identity.pod,
            http_port,
            tls,
        }
    }
}

/// `HTTP/1.1`, `HTTP/2.0`, … as Go's `Request.Proto` spells them.
pub(crate) fn proto_name(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// The request target as Go's `Request.RequestURI` holds it: the origin-form
/// path and query (HTTP/1 absolute-form targets keep their full form).
pub(crate) fn request_uri(uri: &Uri, version: Version) -> String {
    if version != Version::HTTP_2 && uri.scheme().is_some() {
        return uri.to_string();
    }
    uri.path_and_query()
        .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned())
}

/// The request's host: `:authority` for HTTP/2, the `Host` header for
/// HTTP/1 (each falling back to the other).
pub(crate) fn request_host(uri: &Uri, headers: &HeaderMap, version: Version) -> String {
    let from_header = || {
        headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
    };
    let from_uri = || uri.authority().map(|a| a.as_str().to_owned());
    if version == Version::HTTP_2 {
        from_uri().or_else(from_header).unwrap_or_default()
    } else {
        from_header().or_else(from_uri).unwrap_or_default()
    }
}

/// Headers keyed by Go's canonical MIME names (`x-foo-bar` → `X-Foo-Bar`),
/// without `Host` (Go moves it to `Request.Host`). Values that are not UTF-8
/// are decoded lossily.
pub(crate) fn canonical_headers(headers: &HeaderMap) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        if name == header::HOST {
            continue;
        }
        out.entry(canonical_name(name.as_str()))
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    out
}

/// Go's `textproto.CanonicalMIMEHeaderKey`: upper-case the first letter and
/// every letter after `-`, lower-case the rest; names with bytes outside the
/// token set are returned unchanged.
pub(crate) fn canonical_name(name: &str) -> String {
    let is_token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if !name.bytes().all(is_token) {
        return name.to_owned();
    }
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_names_follow_go() {
        assert_eq!(canonical_name("x-echo-set-header"), "X-Echo-Set-Header");
        assert_eq!(canonical_name("content-type"), "Content-Type");
        assert_eq!(canonical_name("x--y"), "X--Y");
        assert_eq!(canonical_name("www-authenticate"), "Www-Authenticate");
        assert_eq!(canonical_name("a b"), "a b");
    }

    #[test]
    fn headers_grouped_without_host() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "example.com".parse().expect("value"));
        h.append("x-multi", "1".parse().expect("value"));
        h.append("x-multi", "2".parse().expect("value"));
        let map = canonical_headers(&h);
        assert_eq!(
            map.get("X-Multi"),
            Some(&vec!["1".to_owned(), "2".to_owned()])
        );
        assert!(!map.contains_key("Host"));
    }

    #[test]
    fn request_uri_and_host_per_version() {
        let uri: Uri = "http://gw.example/a/b?c=d".parse().expect("uri");
        assert_eq!(request_uri(&uri, Version::HTTP_2), "/a/b?c=d");
        assert_eq!(
            request_uri(&uri, Version::HTTP_11),
            "http://gw.example/a/b?c=d"
        );
        let origin: Uri = "/x?y".parse().expect("uri");
        assert_eq!(request_uri(&origin, Version::HTTP_11), "/x?y");
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "from-header".parse().expect("value"));
        assert_eq!(request_host(&uri, &h, Version::HTTP_2), "gw.example");
        assert_eq!(request_host(&origin, &h, Version::HTTP_11), "from-header");
    }

    #[test]
    fn json_has_contract_field_names() {
        let id = Identity::new("ns", "svc").with_pod("svc-a-b");
        let req = Request::get("/p?q")
            .header("host", "h")
            .body(())
            .expect("request");
        let a = RequestAssertions::from_request(&req, &id, "3000", None);
        let v: serde_json::Value = serde_json::from_slice(&a.to_json()).expect("json");
        assert_eq!(v["path"], "/p?q");
        assert_eq!(v["proto"], "HTTP/1.1");
        assert_eq!(v["httpPort"], "3000");
        assert_eq!(v["pod"], "svc-a-b");
        assert_eq!(v["host"], "h");
        assert_eq!(v["method"], "GET");
        assert_eq!(v["namespace"], "ns");
        assert!(v["headers"].is_object());
        assert!(
            v.get("tls").is_none(),
            "plaintext answers carry no tls block"
        );
        let tls = TlsInfo {
            version: "TLSv1.3".into(),
            server_name: "abc.example.com".into(),
            ..TlsInfo::default()
        };
        let a = RequestAssertions::from_request(&req, &id, "3000", Some(&tls));
        let v: serde_json::Value = serde_json::from_slice(&a.to_json()).expect("json");
        assert_eq!(v["tls"]["version"], "TLSv1.3");
        assert_eq!(v["tls"]["serverName"], "abc.example.com");
    }
}
