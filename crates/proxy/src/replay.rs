//! Request bodies that must be sent more than once (to mirrors, and again
//! on a retry) are buffered when they are small; larger ones stream once
//! to the backend, without mirrors and without retries.

use bytes::Bytes;
use http::HeaderMap;
use http_body::Body as _;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::Error;
use crate::body::Body;

/// Largest request body kept in memory for mirrors and retries.
pub const MAX_REPLAY_BODY: usize = 64 * 1024;

/// A request body, buffered (replayable) or streaming (once only).
#[derive(Debug)]
pub enum RequestBody {
    /// The whole body (empty for bodiless requests).
    Buffered(Bytes),
    /// Too large or of unknown length: goes to the backend as it arrives.
    Streaming(Incoming),
}

impl RequestBody {
    /// Buffers `body` when `replay` is wanted and its length is known to be
    /// at most [`MAX_REPLAY_BODY`]; bodiless requests are always
    /// "buffered". A body longer than announced, or a client that stops
    /// sending, is an error.
    pub async fn prepare(body: Incoming, replay: bool) -> Result<RequestBody, Error> {
        if body.is_end_stream() {
            return Ok(RequestBody::Buffered(Bytes::new()));
        }
        let small = body
            .size_hint()
            .upper()
            .is_some_and(|n| n <= MAX_REPLAY_BODY as u64);
        if !(replay && small) {
            return Ok(RequestBody::Streaming(body));
        }
        Limited::new(body, MAX_REPLAY_BODY)
            .collect()
            .await
            .map(|c| RequestBody::Buffered(c.to_bytes()))
            .map_err(|e| Error::RequestBody(e.to_string()))
    }

    /// The bytes, when they can be sent again.
    pub fn replayable(&self) -> Option<&Bytes> {
        match self {
            RequestBody::Buffered(b) => Some(b),
            RequestBody::Streaming(_) => None,
        }
    }

    /// The body for the (last) upstream request.
    pub fn into_body(self) -> Body {
        match self {
            RequestBody::Buffered(b) => Body::full(b),
            RequestBody::Streaming(i) => Body::incoming(i),
        }
    }
}

/// Headers for a copy carrying `body`: its exact length, no chunking.
pub fn set_length(headers: &mut HeaderMap, body: &Bytes) {
    headers.remove(http::header::TRANSFER_ENCODING);
    if body.is_empty() {
        headers.remove(http::header::CONTENT_LENGTH);
    } else {
        headers.insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from(body.len()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_carry_the_exact_length() {
        let mut h = HeaderMap::new();
        h.insert(http::header::TRANSFER_ENCODING, "chunked".parse().unwrap());
        set_length(&mut h, &Bytes::from_static(b"hello"));
        assert_eq!(h.get(http::header::CONTENT_LENGTH).unwrap(), "5");
        assert!(h.get(http::header::TRANSFER_ENCODING).is_none());
        set_length(&mut h, &Bytes::new());
        assert!(h.get(http::header::CONTENT_LENGTH).is_none());
    }
}
