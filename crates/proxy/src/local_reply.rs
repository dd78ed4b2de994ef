//! Responses the gateway produces itself. gRPC requests get a trailers-only
//! gRPC status instead of an HTTP error page.

use http::{HeaderMap, HeaderValue, Response, StatusCode, header};

use crate::body::Body;

pub fn reply(status: StatusCode, grpc: bool) -> Response<Body> {
    if grpc {
        return grpc_reply(status);
    }
    let mut resp = Response::new(Body::full(status.canonical_reason().unwrap_or("error")));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    resp
}

/// Whether the client speaks gRPC (so errors must be gRPC statuses).
pub fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

fn grpc_reply(status: StatusCode) -> Response<Body> {
    // The usual HTTP-to-gRPC mapping (as Envoy and grpc-go do it).
    let code = match status.as_u16() {
        400 => "13",
        401 => "16",
        403 => "7",
        404 => "12",
        429 | 502 | 503 | 504 => "14",
        500 => "13",
        _ => "2",
    };
    let mut resp = Response::new(Body::Empty);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    h.insert("grpc-status", HeaderValue::from_static(code));
    if let Some(reason) = status.canonical_reason() {
        h.insert("grpc-message", HeaderValue::from_static(reason));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_and_grpc_replies() {
        let r = reply(StatusCode::NOT_FOUND, false);
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let g = reply(StatusCode::NOT_FOUND, true);
        assert_eq!(g.status(), StatusCode::OK);
        assert_eq!(g.headers()["grpc-status"], "12");
        assert_eq!(
            reply(StatusCode::SERVICE_UNAVAILABLE, true).headers()["grpc-status"],
            "14"
        );
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            "application/grpc+proto".parse().unwrap(),
        );
        assert!(is_grpc(&h));
    }
}
