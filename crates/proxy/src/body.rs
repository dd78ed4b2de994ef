//! One body type for both directions, without boxing: requests stream from
//! the client to the upstream, responses stream back, local replies are a
//! single chunk.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;

use crate::upstream::InflightGuard;

#[derive(Debug, Default)]
pub enum Body {
    #[default]
    Empty,
    /// A complete body (local replies, mirrored copies).
    Full(Option<Bytes>),
    /// Streamed from the peer (client request or upstream response). The
    /// guard keeps the endpoint's in-flight count until the body is done.
    Incoming(Incoming, Option<InflightGuard>),
}

impl Body {
    pub fn full(bytes: impl Into<Bytes>) -> Body {
        let bytes = bytes.into();
        if bytes.is_empty() {
            Body::Empty
        } else {
            Body::Full(Some(bytes))
        }
    }

    pub fn incoming(body: Incoming) -> Body {
        Body::Incoming(body, None)
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            Body::Empty => Poll::Ready(None),
            Body::Full(chunk) => Poll::Ready(chunk.take().map(|b| Ok(Frame::data(b)))),
            Body::Incoming(body, guard) => {
                let polled = Pin::new(&mut *body).poll_frame(cx);
                // Done streaming: release the endpoint's in-flight slot and
                // its connection now. A length-delimited body is done with
                // its last frame (the server may never poll for the end).
                let done = match &polled {
                    Poll::Ready(None) => true,
                    Poll::Ready(Some(Ok(_))) => body.is_end_stream(),
                    _ => false,
                };
                if done && let Some(guard) = guard.take() {
                    guard.reuse();
                }
                polled
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Empty => true,
            Body::Full(chunk) => chunk.is_none(),
            Body::Incoming(body, _) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Empty => SizeHint::with_exact(0),
            Body::Full(chunk) => SizeHint::with_exact(chunk.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Incoming(body, _) => body.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn full_body_yields_once() {
        let body = Body::full("hello");
        assert_eq!(body.size_hint().exact(), Some(5));
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"hello");
        assert!(Body::full("").is_end_stream());
    }
}
