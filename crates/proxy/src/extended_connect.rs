//! RFC 8441: WebSockets over HTTP/2 streams. An extended CONNECT with
//! `:protocol websocket` goes to an HTTP/1.1 backend as an RFC 6455
//! upgrade (GET with `Upgrade`, `Connection` and a fresh
//! `Sec-WebSocket-Key`); the backend's 101 becomes the stream's 200, and
//! the stream and the upgraded connection are then spliced byte for byte.

use http::request::Parts;
use http::{HeaderValue, Method, StatusCode, Version, header, response};

/// Whether the request is an extended CONNECT for a WebSocket.
pub fn is_websocket(parts: &Parts) -> bool {
    parts.method == Method::CONNECT
        && parts
            .extensions
            .get::<hyper::ext::Protocol>()
            .is_some_and(|p| p.as_str().eq_ignore_ascii_case("websocket"))
}

/// Turns the CONNECT head into an HTTP/1.1 WebSocket upgrade request.
pub fn to_upgrade_request(parts: &mut Parts) {
    parts.method = Method::GET;
    parts.version = Version::HTTP_11;
    parts.extensions.remove::<hyper::ext::Protocol>();
    let h = &mut parts.headers;
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::SEC_WEBSOCKET_KEY, websocket_key(rand::random()));
    h.entry(header::SEC_WEBSOCKET_VERSION)
        .or_insert(HeaderValue::from_static("13"));
}

/// Turns the backend's 101 into the stream's 200 (RFC 8441 section 5).
pub fn to_stream_response(parts: &mut response::Parts) {
    parts.status = StatusCode::OK;
    for name in [
        header::UPGRADE,
        header::CONNECTION,
        header::SEC_WEBSOCKET_ACCEPT,
    ] {
        parts.headers.remove(name);
    }
}

/// `Sec-WebSocket-Key`: 16 random bytes in base64 (RFC 6455 section 4.1).
fn websocket_key(nonce: [u8; 16]) -> HeaderValue {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(24);
    for chunk in nonce.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]);
            } else {
                out.push(b'=');
            }
        }
    }
    HeaderValue::from_bytes(&out).unwrap_or(HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_the_base64_of_the_nonce() {
        // RFC 6455 section 1.3's sample nonce.
        let nonce = *b"the sample nonce";
        assert_eq!(websocket_key(nonce), "dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(websocket_key([0xff; 16]), "/////////////////////w==");
    }

    #[test]
    fn connect_becomes_an_upgrade_and_101_becomes_200() {
        let mut req = http::Request::connect("http://h/ws").body(()).unwrap();
        req.extensions_mut()
            .insert(hyper::ext::Protocol::from_static("websocket"));
        let (mut parts, ()) = req.into_parts();
        assert!(is_websocket(&parts));
        to_upgrade_request(&mut parts);
        assert!(!is_websocket(&parts));
        assert_eq!(parts.method, Method::GET);
        assert_eq!(parts.headers[header::UPGRADE], "websocket");
        assert_eq!(parts.headers[header::SEC_WEBSOCKET_VERSION], "13");
        assert_eq!(parts.headers[header::SEC_WEBSOCKET_KEY].len(), 24);

        let resp = http::Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::UPGRADE, "websocket")
            .header(header::SEC_WEBSOCKET_ACCEPT, "x")
            .body(())
            .unwrap();
        let (mut rp, ()) = resp.into_parts();
        to_stream_response(&mut rp);
        assert_eq!(rp.status, StatusCode::OK);
        assert!(rp.headers.is_empty());
    }
}
